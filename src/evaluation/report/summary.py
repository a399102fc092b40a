"""The board's summary page (``00_summary``): what the other pages found, on one page.

The page computes nothing new. It reads what the other pages of the run wrote —
``results.json`` (through :func:`collect`), ``tables/effects.csv``,
``tables/coverage_by_commune_wave.csv``, the saved figures with their alt text and each page's
one-line finding — and turns it into the question, a three-sentence answer, three figures, the
caveats and the decision with its options. Every part reads its source defensively: when the
page that writes it did not run, the part says so in one sentence instead of failing.

:func:`collect` is the page's only reader of files; every other function is pure and takes a
:class:`RunOutputs`, so tests build one by hand.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from evaluation.analysis import board
from evaluation.analysis.board import RunOutputs
from evaluation.config import Params, load_params
from evaluation.i18n import (
    LANGUAGES,
    Language,
    format_billion_vnd,
    format_number,
    format_p_value,
    format_percent,
    format_quarter,
    messages,
    t,
)
from evaluation.prepare import Prepared
from evaluation.report.effects import (
    PERCENT_OUTCOMES,
    format_effect,
    outcome_label,
)
from evaluation.report.style import table_styler
from evaluation.report.wording import noun_values

#: The two figures of the effects page shown first, in this order.
MAIN_FIGURES = ("event_study",)
#: Third figure: the first saved figure whose name starts with one of these (the scaling and
#: where-it-works pages), in this order of preference.
THIRD_FIGURE_PREFIXES = ("gain_cost", "gain_curve", "dose_response", "where_", "cost_heatmap")
#: The second figure (what the money buys) and the third (where it works): the first saved
#: figure whose name starts with one of these. The by-method chart stays on page 3 (its labels
#: are method names, which the board's page does not carry).
MONEY_FIGURES = ("gain_cost", "gain_curve", "cost_heatmap")
WHERE_FIGURES = ("dose_response_baseline_one_stop_staff", "dose_response", "where_")
#: Keys other pages write into results.json, and the page that writes each.
SOURCES = {
    "headline": "03_effects",
    "comparison": "02_comparison",
    "robustness": "04_robustness",
    "where_it_works": "05_where_it_works",
    "scaling": "06_scaling",
    "rollout_waves": "07_rollout_waves",
}
#: Options of the scaling decision, in the order they are shown.
OPTIONS = ("stop", "conditions_all", "conditions_budget", "no_conditions_budget")
#: This page's own name (its finding is not listed among the others').
PAGE = board.PAGE


def collect(run_dir: str | Path, prepared: Prepared | None = None) -> RunOutputs:
    """What the other pages of the run in ``run_dir`` wrote
    (:func:`evaluation.analysis.board.collect`), with a generic panel's nouns."""
    outputs = board.collect(run_dir, prepared)
    if not outputs.panel:
        return outputs
    run_params = load_params(Path(run_dir) / "params.yaml")
    nouns = {lang: noun_values(run_params, lang) for lang in LANGUAGES}
    return dataclasses.replace(outputs, nouns=nouns)


# -- small helpers ---------------------------------------------------------------------------


def say(outputs: RunOutputs, key: str, language: Language, **values: object) -> str:
    """The summary's sentence ``key`` (``summary.*``); on a generic panel its
    ``summary_panel.*`` variant, with the data's nouns (units, treated units, periods)."""
    if outputs.panel:
        panel_key = key.replace("summary.", "summary_panel.", 1)
        nouns = dict(outputs.nouns.get(language, {})) if isinstance(outputs.nouns, dict) else {}
        if values.get("pilots") == 1 and "treated_one" in nouns:  # "the 1 treated state"
            nouns["treated"] = nouns["treated_one"]
        try:
            return t(panel_key, language, **{**nouns, **values})
        except KeyError as err:
            if panel_key not in str(err):  # a placeholder is missing, not the key
                raise
    return t(key, language, **values)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def p_text(p: float | None, language: Language) -> str:
    """``= 0,023`` or ``< 0,001`` (to follow a ``p``), so no sentence reads ``p = < 0,001``."""
    text = format_p_value(p, language)
    # A no-break space keeps "= 0,003" on one line.
    return text.replace(" ", "\u00a0") if text.startswith("<") else f"=\u00a0{text}"


def mid_sentence(label: str) -> str:
    """A label placed inside a sentence: first letter lower-cased unless it starts an acronym."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def page_label(page: str, language: Language, panel: bool = False) -> str:
    """The reader's name of a page (``Trang 3 – Tác động``; a generic panel's own names with
    ``panel``), or its file name if unknown."""
    for key in ([f"summary_panel.pages.p{page}"] if panel else []) + [f"summary.pages.p{page}"]:
        try:
            return t(key, language)
        except KeyError:
            continue
    return page


def _missing(key: str, language: Language) -> str:
    return t("summary.missing", language, page=page_label(SOURCES.get(key, key), language))


def _pilots(outputs: RunOutputs) -> int | None:
    n = outputs.headline.get("n_pilot")
    if n is None and outputs.section("where_it_works"):
        n = outputs.results["where_it_works"].get("n_pilot")
    return int(n) if _finite(n) else None


def _effect_row(outputs: RunOutputs, outcome: str, estimator: str) -> pd.Series | None:
    """One estimate from effects.csv (the ``treated`` term; the first inference listed)."""
    fx = outputs.effects
    if fx is None or fx.empty:
        return None
    hit = fx[
        (fx["outcome"] == outcome) & (fx["estimator"] == estimator) & (fx["term"] == "treated")
    ]
    return hit.iloc[0] if len(hit) else None


# -- the question and the three-sentence answer ----------------------------------------------


def _period(outputs: RunOutputs, label: str, language: Language) -> str:
    """A period as readers know it (``Q1/2021`` in Vietnamese; a panel's own label as given)."""
    return label if outputs.panel else format_quarter(label, language)


def question(outputs: RunOutputs, params: Params, language: Language) -> str:
    """The question the evaluation answers, with the pilot's size and the later waves."""
    pilots = _pilots(outputs)
    communes = outputs.headline.get("n_communes")
    if pilots is not None and _finite(communes):
        later = board.later_waves(outputs)
        clause = (
            say(
                outputs,
                "summary.later_question",
                language,
                n_later=later.n_later,
                first=_period(outputs, later.first_period, language),
                last=_period(outputs, later.last_period, language),
            )
            if later is not None
            else ""
        )
        return say(
            outputs,
            "summary.question",
            language,
            pilots=pilots,
            communes=int(communes),
            later=clause,
        )
    return say(outputs, "summary.question_generic", language)


def _later_clause(outputs: RunOutputs, language: Language) -> str:
    """``, and the 81 communes that adopted it later gained about 58% of that`` (or nothing)."""
    later = board.later_waves(outputs)
    if later is None or later.share_of_pilot is None or later.verdict not in ("as_much", "less"):
        return ""
    return say(
        outputs,
        "summary.later_clause",
        language,
        n_later=later.n_later,
        share=format_percent(later.share_of_pilot, language, 0),
    )


def _suppressed(outputs: RunOutputs, language: Language) -> str:
    """In place of a number resting on too few ballots (privacy of the households)."""
    return t(
        "summary.suppressed",
        language,
        n=outputs.smallest_ballot_cell,
        min=outputs.min_cell_ballots,
        page=page_label("03_effects", language, outputs.panel),
    )


def effect_sentence(outputs: RunOutputs, language: Language) -> str:
    """Sentence 1: how large the effect is (and on the share of satisfied households), and how
    much of it the later waves gained."""
    h = outputs.headline
    if not h:
        return _missing("headline", language)
    if outputs.suppressed:
        return _suppressed(outputs, language)
    outcome = str(h.get("outcome", "satisfaction_index"))
    estimate = float(h["estimate"])
    extra = ""
    if outcome != "pct_satisfied":
        row = _effect_row(outputs, "pct_satisfied", "twfe_household")
        if row is not None and _finite(row["estimate"]):
            extra = say(
                outputs,
                "summary.effect_extra",
                language,
                effect=format_effect("pct_satisfied", abs(float(row["estimate"])), language),
                direction=say(
                    outputs, "summary.rose" if row["estimate"] >= 0 else "summary.fell", language
                ),
            )
    text = say(
        outputs,
        "summary.effect_up" if estimate >= 0 else "summary.effect_down",
        language,
        pilots=h.get("n_pilot", "–"),
        outcome=outcome_label(outcome, language),
        effect=format_effect(outcome, abs(estimate), language),
        extra=extra,
    )
    later = _later_clause(outputs, language)
    return text[:-1] + later + "." if later and text.endswith(".") else text


def _few_cluster(h: dict) -> tuple[float, float, float, str] | None:
    """(low, high, p, method label source) of the headline interval, only when its method's
    size was checked on this design and lay in the band (the trust rule); else None."""
    if h.get("size_checked") is not True:
        return None
    ci = h.get("few_cluster_conf_int")
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(_finite(v) for v in ci):
        method = h.get("few_cluster_label") or h.get("few_cluster_method")
        return (
            float(ci[0]),
            float(ci[1]),
            float(h.get("few_cluster_p_value", float("nan"))),
            str(method),
        )
    return None


def certainty_sentence(outputs: RunOutputs, language: Language) -> str:
    """Sentence 2: how sure we are, in words (the method's name is on page 3, not here)."""
    h = outputs.headline
    if not h:
        return _missing("headline", language)
    if outputs.suppressed:
        return _suppressed(outputs, language)
    outcome = str(h.get("outcome", "satisfaction_index"))
    interval = _few_cluster(h)
    if interval is None:
        withheld = h.get("interval_withheld_sentence") or {}
        if withheld.get(language):  # the effects page withheld the interval: its own words
            return str(withheld[language])
        return say(outputs, "summary.sure_none", language)
    low, high, p, _method = interval
    clear = low > 0 or high < 0
    pretrend = h.get("pretrend_p_value")
    trend = "" if not _finite(pretrend) else ("_parallel" if pretrend >= 0.05 else "_not_parallel")
    return say(
        outputs,
        f"summary.sure_{'clear' if clear else 'unclear'}{trend}",
        language,
        low=format_effect(outcome, low, language),
        high=format_effect(outcome, high, language),
        p=p_text(p, language),
        level=outputs.level,
    )


def _moderator_label(moderator: str, language: Language) -> str:
    # The where-it-works page names its moderators; fall back to the column name.
    try:
        return t(f"where_it_works.moderators.{moderator}", language)
    except KeyError:
        return moderator


def _n_tested(outputs: RunOutputs) -> int:
    ww = outputs.section("where_it_works") or {}
    return len({r.get("moderator") for r in ww.get("interactions") or [] if isinstance(r, dict)})


def where_sentence(outputs: RunOutputs, language: Language) -> str:
    """Where the model works (from the where-it-works page)."""
    ww = outputs.section("where_it_works")
    if ww is None:
        return _missing("where_it_works", language)
    pilots = ww.get("n_pilot", _pilots(outputs) or "–")
    chosen = ww.get("chosen_moderator")
    if not chosen:
        return say(outputs, "summary.where_average", language, pilots=pilots)
    outcome = outputs.headline.get("outcome")
    rows = [r for r in ww.get("interactions") or [] if r.get("moderator") == chosen]
    row = next((r for r in rows if r.get("outcome") == outcome), rows[0] if rows else {})
    slope = row.get("slope")
    direction = say(
        outputs,
        "summary.larger" if not _finite(slope) or slope >= 0 else "summary.smaller",
        language,
    )
    return say(
        outputs,
        "summary.where_moderator",
        language,
        moderator=_moderator_label(str(chosen), language),
        direction=direction,
        p=p_text(row.get("p_holm"), language),
        pilots=pilots,
        n_tested=_n_tested(outputs),
    )


def where_text(outputs: RunOutputs, language: Language) -> str:
    """:func:`where_sentence` as a sentence of its own (capital first letter)."""
    text = where_sentence(outputs, language)
    return text[:1].upper() + text[1:]


def proposal_lines(outputs: RunOutputs, language: Language) -> list[str]:
    """What page 05 found for each of the review's proposals (none on a generic panel)."""
    if outputs.panel:
        return []
    lines = []
    for finding in board.review_proposals(outputs):
        head = t(f"summary.proposal_{finding.proposal}", language)
        if not finding.tested:
            lines.append(f"{head} {t('summary.proposal_untested', language)}")
            continue
        body = t(
            "summary.proposal_clear" if finding.clear else "summary.proposal_unclear",
            language,
            moderator=_moderator_label(finding.moderator, language),
            direction=t(f"summary.{finding.direction}", language),
            p=p_text(finding.p_adjusted, language),
            n_tested=_n_tested(outputs),
            pilots=_pilots(outputs) or "–",
        )
        lines.append(f"{head} {body}")
    return lines


def later_text(outputs: RunOutputs, language: Language) -> str:
    """What happened as more communes adopted (page 07), in two sentences."""
    if outputs.section("rollout_waves") is None:
        return _missing("rollout_waves", language)
    later = board.later_waves(outputs)
    if later is None:
        return say(outputs, "summary.later_missing", language)
    text = say(
        outputs,
        "summary.later_sentence",
        language,
        n_later=later.n_later,
        n_waves=later.n_waves,
        first=_period(outputs, later.first_period, language),
        last=_period(outputs, later.last_period, language),
    )
    if later.verdict in ("as_much", "less") and later.share_of_pilot is not None:
        more = say(
            outputs,
            "summary.later_share",
            language,
            n_periods=later.periods_compared or "–",
            share=format_percent(later.share_of_pilot, language, 0),
        )
    elif later.verdict == "none":
        more = say(outputs, "summary.later_none", language, n_periods=later.periods_compared or "–")
    else:
        more = say(outputs, "summary.later_not_compared", language)
    return f"{text} {more}"


def next_sentence(outputs: RunOutputs, params: Params, language: Language) -> str:
    """Sentence 3: what the budget buys with the conditions, and without them."""
    step = board.next_step(outputs, params.scaling.horizon_years)
    if step is None:
        return _missing("scaling", language)
    if outputs.panel and not any(_finite(o.cost_vnd) for o in step.options if o.option != "stop"):
        return say(outputs, "summary.next_no_costs", language)
    plan = step.option("conditions_budget") or step.option("no_conditions_budget")
    if plan is None or not plan.n_units:
        return say(outputs, "summary.next_none", language)
    values = {
        "budget": format_billion_vnd(step.budget_vnd, language),
        "n": plan.n_units,
        "gain": format_number(plan.gain_per_year, language, 0),
        "cost": format_billion_vnd(plan.cost_vnd, language),
        "unspent": format_billion_vnd(max(plan.unspent_vnd or 0.0, 0.0), language),
    }
    if plan.option == "no_conditions_budget":
        return say(outputs, "summary.next_sentence", language, **values)
    alt = step.option("no_conditions_budget")
    tradeoff = (
        say(
            outputs,
            "summary.next_tradeoff",
            language,
            n=alt.n_units,
            gain=format_number(alt.gain_per_year, language, 0),
        )
        if alt is not None and _finite(alt.gain_per_year)
        else ""
    )
    return say(outputs, "summary.next_sentence_screened", language, tradeoff=tradeoff, **values)


def answer(
    outputs: RunOutputs, language: Language, params: Params | None = None, markdown: bool = True
) -> list[str]:
    """The answer in three sentences (did it work, how sure, what next), each with its label.

    Without ``params`` the third sentence is where the model works (the index's short form).
    ``markdown=False`` gives plain text (the index page escapes HTML and shows no Markdown).
    """
    third = (
        ("next", next_sentence(outputs, params, language))
        if params is not None
        else ("where", where_sentence(outputs, language))
    )
    sentences = (
        ("effect", effect_sentence(outputs, language)),
        ("sure", certainty_sentence(outputs, language)),
        third,
    )
    mark = "**" if markdown else ""
    return [f"{mark}{t(f'summary.label_{key}', language)}:{mark} {text}" for key, text in sentences]


# -- the three figures -----------------------------------------------------------------------


def key_figures(outputs: RunOutputs) -> list[str]:
    """Names of the (up to) three figures to show: the effect over time, what the money buys
    (page 6), where it works (page 5)."""
    chosen = [name for name in MAIN_FIGURES if name in outputs.figures and not outputs.suppressed]
    for group in (MONEY_FIGURES, WHERE_FIGURES):  # the review's proposal (staffing) first
        for prefix in group:
            found = sorted(n for n in outputs.figures if n.startswith(prefix))
            if found:
                chosen.append(found[0])
                break
    return chosen


def figure_caption(name: str, number: int, language: Language, panel: bool = False) -> str:
    """``Hình 1. …``: the figure's caption from this page's messages (generic if unknown;
    a generic panel's own wording with ``panel``)."""
    stem = next((p for p in (*MAIN_FIGURES, *THIRD_FIGURE_PREFIXES) if name.startswith(p)), "")
    prefixes = ["summary_panel", "summary"] if panel else ["summary"]
    keys = [f"{p}.figure_captions.{stem.rstrip('_')}" for p in prefixes]
    keys += [f"{p}.figure_captions.other" for p in prefixes]
    text = next(t(k, language) for k in keys if k in messages(language))
    return t("summary.figure_number", language, number=number, caption=text)


def figure_html(png: bytes, alt: str, caption: str) -> str:
    """An embedded PNG with its alt text and caption (no file link: the page opens offline)."""
    data = base64.b64encode(png).decode()
    return (
        '<figure class="summary-figure" style="margin:12px 0 18px 0">'
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" style="max-width:100%">'
        f'<figcaption style="font-weight:bold;margin-top:4px">{html.escape(caption)}</figcaption>'
        "</figure>"
    )


def missing_figures_sentence(outputs: RunOutputs, language: Language) -> str | None:
    """One sentence for the figures that could not be shown (None when all three are there)."""
    shown = key_figures(outputs)
    if outputs.suppressed:
        return _suppressed(outputs, language)
    if not any(n in shown for n in MAIN_FIGURES):
        return _missing("headline", language)
    if len(shown) < len(MAIN_FIGURES) + 2:
        return say(outputs, "summary.figure_third_missing", language)
    return None


# -- caveats ---------------------------------------------------------------------------------


def caveats(outputs: RunOutputs, params: Params, language: Language) -> list[str]:
    """What the board should keep in mind: simulated data, few pilots, ballot coverage."""
    out: list[str] = []
    if params.simulated:
        out.append(say(outputs, "summary.caveat_simulated", language))
    h = outputs.headline
    pilots = _pilots(outputs)
    if pilots is not None:
        size = h.get("size_of_method")
        checked = h.get("size_checked") is True
        out.append(
            say(
                outputs,
                "summary.caveat_few_pilots" if checked else "summary.caveat_few_pilots_unchecked",
                language,
                pilots=pilots,
                communes=h.get("n_communes", "–"),
            )
            + (
                " "
                + say(
                    outputs,
                    "summary.caveat_size",
                    language,
                    size=format_percent(float(size), language),
                )
                if checked and _finite(size)
                else ""
            )
        )
    else:
        out.append(say(outputs, "summary.caveat_few_pilots_unknown", language))
    if not outputs.panel:  # ballot coverage is a Hà Nam measure
        out.append(coverage_caveat(outputs, language))
    robust = robustness_caveat(outputs, language)
    if robust:
        out.append(robust)
    return out


def robustness_caveat(outputs: RunOutputs, language: Language) -> str:
    """How far the conclusion bends (HonestDiD breakdown, leave-one-district-out), from page 04."""
    rb = outputs.section("robustness")
    if rb is None:
        return say(
            outputs,
            "summary.caveat_robustness_unknown",
            language,
            page=page_label("04_robustness", language),
        )
    outcome = str(rb.get("outcome") or outputs.headline.get("outcome") or "satisfaction_index")
    parts = []
    mbar = rb.get("breakdown_mbar")
    if _finite(mbar) and mbar > 0:
        parts.append(
            say(
                outputs,
                "summary.caveat_breakdown",
                language,
                mbar=format_number(float(mbar), language, 1),
            )
        )
    districts = [v for v in (rb.get("leave_one_district_out") or {}).values() if _finite(v)]
    if districts:
        parts.append(
            say(
                outputs,
                "summary.caveat_districts",
                language,
                low=format_effect(outcome, min(districts), language),
                high=format_effect(outcome, max(districts), language),
            )
        )
    if not parts:
        return ""
    return say(outputs, "summary.caveat_robustness", language) + " " + " ".join(parts)


def coverage_caveat(outputs: RunOutputs, language: Language) -> str:
    """Ballot coverage (data-quality table) and whether the model changed it (effects table)."""
    cov = outputs.coverage
    parts: list[str] = []
    if cov is not None and "coverage" in cov and cov["coverage"].notna().any():
        values = cov["coverage"].astype(float)
        parts.append(
            say(
                outputs,
                "summary.caveat_coverage",
                language,
                mean=format_percent(values.mean(), language),
                low=format_number(int((values < 0.5).sum()), language, 0),
                cells=format_number(int(values.notna().sum()), language, 0),
            )
        )
    else:
        parts.append(
            say(
                outputs,
                "summary.caveat_coverage_unknown",
                language,
                page=page_label("01_data_quality", language),
            )
        )
    row = _effect_row(outputs, "coverage", "twfe_commune_wave")
    if row is not None and _finite(row["conf_low"]) and _finite(row["conf_high"]):
        kind = "rose" if row["conf_low"] > 0 else ("fell" if row["conf_high"] < 0 else "same")
        parts.append(
            say(
                outputs,
                f"summary.caveat_coverage_{kind}",
                language,
                effect=format_effect("coverage", abs(float(row["estimate"])), language),
                low=format_effect("coverage", float(row["conf_low"]), language),
                high=format_effect("coverage", float(row["conf_high"]), language),
            )
        )
    return " ".join(parts)


# -- the decision ----------------------------------------------------------------------------


def conditions_text(params: Params, language: Language) -> str:
    """The conditions a commune must meet to be offered the model, in words."""
    parts = []
    for key, value in params.scaling.conditions.items():
        parts.append(condition_text(key, value, language))
    return "; ".join(parts) if parts else t("summary.conditions_none", language)


def condition_text(key: str, value: object, language: Language) -> str:
    """One condition in words (``at least 35% of condolence letters sent on time``)."""
    shown = (
        format_percent(float(value), language, 0)  # type: ignore[arg-type]
        if "condolence" in key or "pct" in key or "share" in key
        else format_number(float(value), language, 1)  # type: ignore[arg-type]
        if isinstance(value, int | float)
        else str(value)
    )
    try:
        return t(f"summary.conditions.{key}", language, value=shown)
    except KeyError:
        return f"{key} = {shown}"


def decision_text(outputs: RunOutputs, params: Params, language: Language) -> str:
    """The budget and horizon the options are priced with."""
    return say(
        outputs,
        "summary.decision",
        language,
        pilots=_pilots(outputs) or "–",
        budget=format_billion_vnd(params.scaling.budget_vnd, language),
        years=params.scaling.horizon_years,
    )


def _option_label(
    outputs: RunOutputs, option: board.PlanOption, params: Params, language: Language
) -> str:
    return say(
        outputs,
        f"summary.option_{option.option}",
        language,
        pilots=_pilots(outputs) or "–",
        conditions=conditions_text(params, language),
        budget=format_billion_vnd(params.scaling.budget_vnd, language),
    )


def options_table(outputs: RunOutputs, params: Params, language: Language) -> pd.DataFrame:
    """The options with their cost, satisfied households gained per year and budget left.

    Priced by :func:`evaluation.analysis.board.next_step`; without page 06 only keeping the
    pilots is listed (no cost, no gain), and :func:`options_note` says why.
    """
    step = board.next_step(outputs, params.scaling.horizon_years)
    options = step.options if step is not None else [board.PlanOption("stop", _pilots(outputs))]
    priced = not outputs.panel
    rows = []
    for option in options:
        rows.append(
            {
                say(outputs, "summary.col_option", language): _option_label(
                    outputs, option, params, language
                ),
                say(outputs, "summary.col_communes", language): (
                    format_number(option.n_units, language, 0) if _finite(option.n_units) else "–"
                ),
                say(outputs, "summary.col_cost", language, years=params.scaling.horizon_years): (
                    format_billion_vnd(option.cost_vnd, language)
                    if priced and _finite(option.cost_vnd)
                    else "–"
                ),
                say(outputs, "summary.col_gain", language): (
                    format_number(option.gain_per_year, language, 0)
                    if _finite(option.gain_per_year)
                    else "–"
                ),
                say(outputs, "summary.col_unspent", language): (
                    format_billion_vnd(option.unspent_vnd, language)
                    if priced and _finite(option.unspent_vnd)
                    else "–"
                ),
                say(outputs, "summary.col_gives", language): say(
                    outputs, f"summary.option_{option.option}_gives", language
                ),
            }
        )
    return pd.DataFrame(rows)


def plan_names_sentence(outputs: RunOutputs, params: Params, language: Language) -> str | None:
    """The named communes of the plan within the budget, in starting order (None: no plan)."""
    step = board.next_step(outputs, params.scaling.horizon_years)
    if step is None:
        return None
    plan = step.option("conditions_budget") or step.option("no_conditions_budget")
    if plan is None or not plan.names:
        return None
    return say(outputs, "summary.next_named", language, names=", ".join(plan.names))


def tradeoff_sentence(outputs: RunOutputs, params: Params, language: Language) -> str | None:
    """Why the conditions cost households: how many of the best-value communes fail each one."""
    step = board.next_step(outputs, params.scaling.horizon_years)
    scaling = outputs.section("scaling") or {}
    if step is None or step.option("conditions_budget") is None:
        return None
    alt = step.option("no_conditions_budget")
    if alt is None:
        return say(outputs, "summary.tradeoff_same", language)
    failures = {k: n for k, n in (scaling.get("alternative_failures") or {}).items() if n}
    if not failures:
        return None
    reasons = [
        t(
            "summary.tradeoff_fails",
            language,
            n=n,
            condition=condition_text(key, params.scaling.conditions.get(key), language),
        )
        for key, n in failures.items()
    ]
    return say(outputs, "summary.tradeoff_why", language, n=alt.n_units, reasons="; ".join(reasons))


def phased_sentence(outputs: RunOutputs, params: Params, language: Language) -> str | None:
    """The recommended randomised start order (None when page 06 drew none)."""
    step = board.next_step(outputs, params.scaling.horizon_years)
    if step is None or step.wedge_steps is None or outputs.panel:
        return None
    return say(outputs, "summary.phased", language, steps=step.wedge_steps)


def options_note(outputs: RunOutputs, language: Language) -> str:
    """Where the costs come from, or one sentence saying they are not available."""
    scaling = outputs.section("scaling")
    if scaling is None:
        return _missing("scaling", language)
    if not _finite(scaling.get("plan_total_cost_vnd")):
        return say(outputs, "summary.options_no_costs", language)
    text = say(outputs, "summary.options_source", language)
    needed = scaling.get("new_communes_needed_80pct")
    if _finite(needed):
        text += " " + say(outputs, "summary.options_power", language, n=int(needed))
    return text


def options_display(table: pd.DataFrame) -> Styler:
    """The options table for reading: text left, the number columns right."""
    return table_styler(table, numeric=table.columns[1:5])


# -- what the data cannot tell ----------------------------------------------------------------


def topic_lines(prepared: Prepared | None, outputs: RunOutputs, language: Language) -> list[str]:
    """Officials' awareness and rewards: measured or not, and which fields would measure them
    (none on a generic panel)."""
    if outputs.panel or prepared is None:
        return []
    lines = []
    for topic in board.review_topics(prepared):
        head = t(f"summary.topic_{topic.topic}", language)
        if not topic.measured:
            fields = t("summary.or", language).join(
                t(f"summary.fields.{column}", language) for _, column in topic.fields
            )
            lines.append(f"{head} {t('summary.topic_not_measured', language, fields=fields)}")
            continue
        ballot_items = {column for source, column in topic.fields if source == "ballots"}
        small = topic.smallest_group is not None and topic.smallest_group < outputs.min_cell_ballots
        if small and topic.column in ballot_items:
            text = t(
                "summary.topic_suppressed",
                language,
                field=t(f"summary.fields.{topic.column}", language),
                min=outputs.min_cell_ballots,
            )
            lines.append(f"{head} {text}")
            continue
        lines.append(
            head
            + " "
            + t(
                "summary.topic_measured",
                language,
                field=t(f"summary.fields.{topic.column}", language),
                pilot=format_number(topic.pilot_mean, language, 1),
                other=format_number(topic.other_mean, language, 1),
            )
        )
    return lines


# -- the other pages -------------------------------------------------------------------------


def findings_table(outputs: RunOutputs, language: Language) -> pd.DataFrame:
    """Each other page's one-line finding, to read further."""
    rows = [
        {
            t("summary.col_page", language): page_label(page, language, outputs.panel),
            t("summary.col_finding", language): text,
        }
        for page, text in sorted(outputs.findings.items())
    ]
    return pd.DataFrame(
        rows, columns=[t("summary.col_page", language), t("summary.col_finding", language)]
    )


def other_pages_sentence(outputs: RunOutputs, language: Language) -> str | None:
    """One sentence naming the pages whose results this run does not have (None if all ran)."""
    missing = [
        SOURCES[k]
        for k in SOURCES
        if k not in outputs.results and SOURCES[k] not in outputs.findings
    ]
    if not missing:
        return None
    return t(
        "summary.pages_missing",
        language,
        pages=", ".join(page_label(p, language, outputs.panel) for p in missing),
    )


# -- what the page writes --------------------------------------------------------------------


def finding(outputs: RunOutputs, language: Language) -> str:
    """The page's one-line finding for the index: the first sentence of the answer (plain text)."""
    return answer(outputs, language, markdown=False)[0]


def headline_lines(outputs: RunOutputs, params: Params) -> dict[str, list[str]]:
    """The three-sentence answer in every language, for the run's index page (the same
    sentences as on this page)."""
    return {language: answer(outputs, language, params, markdown=False) for language in LANGUAGES}


def results_entry(outputs: RunOutputs, params: Params) -> dict:
    """What this page adds to ``results.json`` (JSON-serialisable): its key numbers, each the
    value of its source (so a test can compare them), and the answer in both languages."""
    h = outputs.headline
    outcome = h.get("outcome")
    interval = _few_cluster(h) if h else None
    later = board.later_waves(outputs)
    step = board.next_step(outputs, params.scaling.horizon_years)
    return {
        "figures": key_figures(outputs),
        "sections_missing": sorted(k for k in SOURCES if k not in outputs.results),
        "simulated": bool(params.simulated),
        "effect_clear": bool(interval and (interval[0] > 0 or interval[1] < 0)),
        "effect_unit": ("percentage_points" if outcome in PERCENT_OUTCOMES else "points")
        if outcome
        else None,
        "estimate": h.get("estimate"),
        "interval": list(interval[:2]) if interval else None,
        "later_share_of_pilot": None if later is None else later.share_of_pilot,
        "n_later": None if later is None else later.n_later,
        "proposals": [dataclasses.asdict(f) for f in board.review_proposals(outputs)],
        "options": []
        if step is None
        else [{**dataclasses.asdict(o), "names": list(o.names)} for o in step.options],
        "answer": {language: answer(outputs, language, params) for language in LANGUAGES},
    }
