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
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pandas.io.formats.style import Styler

from evaluation.config import Params, load_params
from evaluation.i18n import (
    LANGUAGES,
    Language,
    format_billion_vnd,
    format_number,
    format_p_value,
    format_percent,
    messages,
    t,
)
from evaluation.report.effects import (
    PERCENT_OUTCOMES,
    format_effect,
    inference_label,
    outcome_label,
)
from evaluation.report.style import table_styler
from evaluation.report.wording import noun_values

#: The two figures of the effects page shown first, in this order.
MAIN_FIGURES = ("headline_effect", "event_study")
#: Third figure: the first saved figure whose name starts with one of these (the scaling and
#: where-it-works pages), in this order of preference.
THIRD_FIGURE_PREFIXES = ("gain_cost", "gain_curve", "dose_response", "where_", "cost_heatmap")
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
OPTIONS = ("stop", "conditions", "budget", "phased")
#: Tables of the scaling page (06) that price the options.
SCALING_TABLES = ("cost_effectiveness", "scaling_conditions", "rollout_plan", "stepped_wedge")
#: This page's own name (its finding is not listed among the others').
PAGE = "00_summary"


@dataclass(frozen=True)
class RunOutputs:
    """What the other pages of one run wrote, as the summary page reads it.

    Attributes
    ----------
    results : dict
        ``results.json`` (key numbers each page wrote with ``ctx.update_results``).
    effects : DataFrame or None
        ``tables/effects.csv`` (every estimate, tidy columns), None if absent.
    coverage : DataFrame or None
        ``tables/coverage_by_commune_wave.csv`` (data-quality page), None if absent.
    figures : dict
        Figure name -> (PNG path, alt text) for every figure saved under ``figures/``.
    findings : dict
        Page name -> its one-line finding (``findings/<page>.txt``), this page excluded.
    tables : dict
        The scaling page's tables (:data:`SCALING_TABLES`) that exist, by name.
    """

    results: dict = field(default_factory=dict)
    effects: pd.DataFrame | None = None
    coverage: pd.DataFrame | None = None
    figures: dict[str, tuple[Path, str]] = field(default_factory=dict)
    findings: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    alpha: float = 0.05
    #: A generic panel's run: sentences come from ``summary_panel.*`` with the data's nouns.
    panel: bool = False
    nouns: dict[str, str] = field(default_factory=dict)

    @property
    def level(self) -> str:
        """The confidence level of every interval in the run (``95`` for ``analysis.alpha`` 0.05)."""
        return f"{100 * (1 - self.alpha):g}"

    @property
    def headline(self) -> dict:
        """The effects page's headline numbers (empty when that page did not run)."""
        value = self.results.get("headline")
        return value if isinstance(value, dict) and "estimate" in value else {}

    def section(self, key: str) -> dict | None:
        """``results[key]`` when it is a non-empty dict, else None (its page did not run)."""
        value = self.results.get(key)
        return value if isinstance(value, dict) and value else None


def collect(run_dir: str | Path) -> RunOutputs:
    """Read what the other pages of the run in ``run_dir`` wrote (missing files are None/empty)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run_dir {str(run_dir)!r} is not a folder; pass the run folder")
    results_path = run_dir / "results.json"
    results = json.loads(results_path.read_text("utf-8")) if results_path.is_file() else {}
    tables = run_dir / "tables"
    effects_path = tables / "effects.csv"
    effects = pd.read_csv(effects_path, dtype={"term": str}) if effects_path.is_file() else None
    coverage_path = tables / "coverage_by_commune_wave.csv"
    coverage = (
        pd.read_csv(coverage_path, dtype={"commune_code": str}) if coverage_path.is_file() else None
    )
    folder = run_dir / "figures"
    alts_path = folder / "alt_text.json"
    alts = json.loads(alts_path.read_text("utf-8")) if alts_path.is_file() else {}
    figures = {
        name: (folder / f"{name}.png", str(alt))
        for name, alt in alts.items()
        if (folder / f"{name}.png").is_file()
    }
    findings = {
        path.stem: path.read_text("utf-8").strip()
        for path in sorted((run_dir / "findings").glob("*.txt"))
        if path.stem != PAGE
    }
    scaling_tables = {
        name: pd.read_csv(tables / f"{name}.csv", dtype={"commune_code": str})
        for name in SCALING_TABLES
        if (tables / f"{name}.csv").is_file()
    }
    params_path = run_dir / "params.yaml"
    tree = yaml.safe_load(params_path.read_text("utf-8")) if params_path.is_file() else {}
    alpha = float(((tree or {}).get("analysis") or {}).get("alpha", 0.05))
    panel = ((tree or {}).get("data") or {}).get("source") == "panel"
    nouns = {}
    if panel:
        run_params = load_params(params_path)
        nouns = {lang: noun_values(run_params, lang) for lang in ("vi", "en")}
    return RunOutputs(
        alpha=alpha,
        panel=panel,
        nouns=nouns,
        results=results,
        effects=effects,
        coverage=coverage,
        figures=figures,
        findings=findings,
        tables=scaling_tables,
    )


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


def question(outputs: RunOutputs, params: Params, language: Language) -> str:
    """The question the evaluation answers, with the pilot's size when it is known."""
    pilots = _pilots(outputs)
    communes = outputs.headline.get("n_communes")
    if pilots is not None and _finite(communes):
        return say(outputs, "summary.question", language, pilots=pilots, communes=int(communes))
    return say(outputs, "summary.question_generic", language)


def effect_sentence(outputs: RunOutputs, language: Language) -> str:
    """Sentence 1: how large the effect is (and on the share of satisfied households)."""
    h = outputs.headline
    if not h:
        return _missing("headline", language)
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
    return say(
        outputs,
        "summary.effect_up" if estimate >= 0 else "summary.effect_down",
        language,
        pilots=h.get("n_pilot", "–"),
        outcome=outcome_label(outcome, language),
        effect=format_effect(outcome, abs(estimate), language),
        extra=extra,
    )


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
    """Sentence 2: how sure we are (few-cluster interval, pre-trend test)."""
    h = outputs.headline
    if not h:
        return _missing("headline", language)
    outcome = str(h.get("outcome", "satisfaction_index"))
    interval = _few_cluster(h)
    if interval is None:
        withheld = h.get("interval_withheld_sentence") or {}
        if withheld.get(language):  # the effects page withheld the interval: its own words
            return str(withheld[language])
        return say(outputs, "summary.sure_none", language)
    low, high, p, method = interval
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
        method=mid_sentence(inference_label(method, language)),
        pretrend=p_text(pretrend, language) if trend else "",
    )


def _moderator_label(moderator: str, language: Language) -> str:
    # The where-it-works page names its moderators; fall back to the column name.
    try:
        return t(f"where_it_works.moderators.{moderator}", language)
    except KeyError:
        return moderator


def where_sentence(outputs: RunOutputs, language: Language) -> str:
    """Sentence 3: where the model works (from the where-it-works page)."""
    ww = outputs.section("where_it_works")
    if ww is None:
        return _missing("where_it_works", language)
    pilots = ww.get("n_pilot", _pilots(outputs) or "–")
    chosen = ww.get("chosen_moderator")
    if not chosen:
        return say(outputs, "summary.where_average", language, pilots=pilots)
    outcome = outputs.headline.get("outcome")
    rows = [r for r in ww.get("interactions", []) if r.get("moderator") == chosen]
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
    )


def answer(outputs: RunOutputs, language: Language, markdown: bool = True) -> list[str]:
    """The answer in three sentences (effect, how sure, where it works), each with its label.

    ``markdown=False`` gives plain text (the index page escapes HTML and shows no Markdown).
    """
    sentences = (
        ("effect", effect_sentence(outputs, language)),
        ("sure", certainty_sentence(outputs, language)),
        ("where", where_sentence(outputs, language)),
    )
    mark = "**" if markdown else ""
    return [f"{mark}{t(f'summary.label_{key}', language)}:{mark} {text}" for key, text in sentences]


# -- the three figures -----------------------------------------------------------------------


def key_figures(outputs: RunOutputs) -> list[str]:
    """Names of the (up to) three figures to show: headline, event study, one from pages 5-6."""
    chosen = [name for name in MAIN_FIGURES if name in outputs.figures]
    for prefix in THIRD_FIGURE_PREFIXES:
        third = sorted(n for n in outputs.figures if n.startswith(prefix))
        if third:
            chosen.append(third[0])
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
    if not any(n in shown for n in MAIN_FIGURES):
        return _missing("headline", language)
    if len(shown) < len(MAIN_FIGURES) + 1:
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
        shown = (
            format_percent(float(value), language, 0)
            if "condolence" in key or "pct" in key or "share" in key
            else format_number(float(value), language, 1)
            if isinstance(value, int | float)
            else str(value)
        )
        try:
            parts.append(t(f"summary.conditions.{key}", language, value=shown))
        except KeyError:
            parts.append(f"{key} = {shown}")
    return "; ".join(parts) if parts else t("summary.conditions_none", language)


def decision_text(outputs: RunOutputs, params: Params, language: Language) -> str:
    """What there is to decide, with the budget and horizon of the parameters."""
    return say(
        outputs,
        "summary.decision",
        language,
        pilots=_pilots(outputs) or "–",
        budget=format_billion_vnd(params.scaling.budget_vnd, language),
        years=params.scaling.horizon_years,
    )


def _option_label(
    outputs: RunOutputs, entry: dict, params: Params, n_pilot: int | str, language: Language
) -> str:
    key = str(entry.get("option", ""))
    if key in OPTIONS:
        return say(
            outputs,
            f"summary.option_{key}",
            language,
            pilots=n_pilot,
            conditions=conditions_text(params, language),
            budget=format_billion_vnd(params.scaling.budget_vnd, language),
            steps=params.scaling.rollout_steps,
        )
    label = entry.get("label", key)
    if isinstance(label, dict):
        label = label.get(language) or next(iter(label.values()), key)
    return str(label)


def _sum(frame: pd.DataFrame | None, column: str) -> float | None:
    """Total of a column of a saved table (None when the table or column is absent)."""
    if frame is None or column not in frame:
        return None
    return float(pd.to_numeric(frame[column], errors="coerce").sum())


def scaling_options(outputs: RunOutputs) -> list[dict] | None:
    """The options priced from what the scaling page wrote (None when it did not run).

    ``results["scaling"]["options"]`` is used as is when the scaling page writes it (a list of
    dicts: ``option``, ``n_communes``, ``cost_vnd``, ``gain``, ``gain_low``, ``gain_high``).
    Otherwise the options are read off the page's key numbers and saved tables: keep the
    pilots (no new cost), every commune that meets the conditions (``scaling_conditions`` x
    ``cost_effectiveness``), the plan within the budget (``plan_*`` and ``rollout_plan``), and
    the same communes in randomised steps (``stepped_wedge``). Totals of saved per-commune
    numbers, nothing re-estimated.
    """
    scaling = outputs.section("scaling")
    if scaling is None:
        return None
    if isinstance(scaling.get("options"), list) and scaling["options"]:
        return list(scaling["options"])
    tables = outputs.tables
    options: list[dict] = [
        {"option": "stop", "n_communes": _pilots(outputs), "cost_vnd": 0.0, "gain": 0.0}
    ]
    conditions = {"option": "conditions", "n_communes": scaling.get("n_have_conditions")}
    ce, screen = tables.get("cost_effectiveness"), tables.get("scaling_conditions")
    if ce is not None and screen is not None and "has_conditions" in screen:
        ready = set(screen.loc[screen["has_conditions"].astype(bool), "commune_code"])
        chosen = ce[ce["commune_code"].isin(ready)]
        conditions.update(
            cost_vnd=_sum(chosen, "pv_cost"), gain=_sum(chosen, "additional_satisfied_households")
        )
    options.append(conditions)
    plan = tables.get("rollout_plan")
    band_checked = scaling.get("plan_gain_band_size_checked") is True
    budget = {
        "option": "budget",
        "n_communes": scaling.get("plan_n_communes"),
        "cost_vnd": scaling.get("plan_total_cost_vnd"),
        "gain": scaling.get("plan_total_gain"),
        # The plan's gain band is model-based: shown only if its method was size-checked.
        "gain_low": _sum(plan, "expected_gain_low") if band_checked else None,
        "gain_high": _sum(plan, "expected_gain_high") if band_checked else None,
    }
    options.append(budget)
    wedge = tables.get("stepped_wedge")
    phased = {"option": "phased", "n_communes": None if wedge is None else len(wedge)}
    if wedge is not None and plan is not None and "commune_code" in plan:
        # The steps cover the plan's communes: same money and gain, spread over the steps.
        if set(wedge["commune_code"]) == set(plan["commune_code"]):
            phased.update({k: budget[k] for k in ("cost_vnd", "gain", "gain_low", "gain_high")})
        elif ce is not None:
            chosen = ce[ce["commune_code"].isin(set(wedge["commune_code"]))]
            phased.update(
                cost_vnd=_sum(chosen, "pv_cost"),
                gain=_sum(chosen, "additional_satisfied_households"),
            )
    options.append(phased)
    return options


def options_table(outputs: RunOutputs, params: Params, language: Language) -> pd.DataFrame:
    """The options with their cost and expected gain (priced by :func:`scaling_options`).

    Without the scaling page the four options of :data:`OPTIONS` are listed with unknown
    costs. An option key outside :data:`OPTIONS` is shown with its ``label`` ({vi, en} or text).
    """
    entries = scaling_options(outputs) or [{"option": key} for key in OPTIONS]
    n_pilot = _pilots(outputs) or "–"
    rows = []
    for entry in entries:
        gain = entry.get("gain")
        low, high = entry.get("gain_low"), entry.get("gain_high")
        gain_text = "–"
        if _finite(gain):
            gain_text = format_number(gain, language, 0)
            if _finite(low) and _finite(high) and high > low:
                gain_text += (
                    f" ({format_number(low, language, 0)} – {format_number(high, language, 0)})"
                )
        key = str(entry.get("option", ""))
        try:
            gives = say(outputs, f"summary.option_{key}_gives", language)
        except KeyError:
            gives = str(entry.get("note", ""))
        rows.append(
            {
                say(outputs, "summary.col_option", language): _option_label(
                    outputs, entry, params, n_pilot, language
                ),
                say(outputs, "summary.col_communes", language): (
                    format_number(entry["n_communes"], language, 0)
                    if _finite(entry.get("n_communes"))
                    else "–"
                ),
                say(outputs, "summary.col_cost", language, years=params.scaling.horizon_years): (
                    "–"  # a generic panel has no cost file: no money is priced
                    if outputs.panel
                    else format_billion_vnd(entry.get("cost_vnd"), language)
                ),
                say(outputs, "summary.col_gain", language, level=outputs.level): gain_text,
                say(outputs, "summary.col_gives", language): gives,
            }
        )
    return pd.DataFrame(rows)


def options_note(outputs: RunOutputs, language: Language) -> str:
    """Where the costs come from, or one sentence saying they are not available."""
    options = scaling_options(outputs)
    if options is None:
        return _missing("scaling", language)
    if not any(_finite(o.get("cost_vnd")) for o in options if o.get("option") != "stop"):
        return say(outputs, "summary.options_no_costs", language)
    text = say(outputs, "summary.options_source", language)
    needed = outputs.results["scaling"].get("new_communes_needed_80pct")
    if _finite(needed):
        text += " " + say(outputs, "summary.options_power", language, n=int(needed))
    return text


def options_display(table: pd.DataFrame) -> Styler:
    """The options table for reading: text left, the three number columns right."""
    return table_styler(table, numeric=table.columns[1:4])


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


def headline_lines(outputs: RunOutputs) -> dict[str, list[str]]:
    """The three-sentence answer in every language, for the run's index page."""
    return {language: answer(outputs, language, markdown=False) for language in LANGUAGES}


def results_entry(outputs: RunOutputs, params: Params) -> dict:
    """What this page adds to ``results.json`` (JSON-serialisable)."""
    h = outputs.headline
    outcome = h.get("outcome")
    interval = _few_cluster(h) if h else None
    return {
        "figures": key_figures(outputs),
        "sections_missing": sorted(k for k in SOURCES if k not in outputs.results),
        "simulated": bool(params.simulated),
        "effect_clear": bool(interval and (interval[0] > 0 or interval[1] < 0)),
        "effect_unit": ("percentage_points" if outcome in PERCENT_OUTCOMES else "points")
        if outcome
        else None,
        "answer": {language: answer(outputs, language) for language in LANGUAGES},
    }
