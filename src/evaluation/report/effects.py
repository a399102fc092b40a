"""The effects page (``03_effects``): every estimate of the pilot's effect, from the prepared data.

Each function answers one question of the page with one call and returns an
:class:`~evaluation.estimators.result.EffectEstimate`, a table or a figure. The comparison
window (``analysis.window_*``) keeps later adopters as not-yet-treated controls: inside it only
the pilot communes are ever treated.
"""

from __future__ import annotations

import math

import pandas as pd

from evaluation.analysis.base import NotApplicable
from evaluation.analysis.effects import AdjustedComparison, Headline
from evaluation.analysis.how_sure import HowSure, OutcomeIntervals, TrustedInterval
from evaluation.config import Params
from evaluation.estimators.did_table import DidTable
from evaluation.estimators.ordinal import OrdinalDidResult
from evaluation.estimators.result import EffectEstimate
from evaluation.i18n import NBSP, Language, format_number, format_p_value, format_percent, t
from evaluation.prepare import Prepared
from evaluation.report import wording
from evaluation.report.wording import noun_values as nouns

BALLOT_LEVEL = ("satisfaction_index", "pct_satisfied", "pct_dissatisfied", "model_index")
PERCENT_OUTCOMES = (
    "pct_satisfied",
    "pct_dissatisfied",
    "coverage",
    "pct_dossiers_on_time",
    "pct_condolence_on_time",
    "respondent_female",  # a placebo outcome on page 04
)
#: Scores on the 1-5 ballot scale (with ``factor_*``): effects are in points.
SCORE_OUTCOMES = ("satisfaction_index", "model_index")
#: Counts per households or dossiers: effects are in the rate's own unit.
RATE_UNITS = {
    "complaints_per_1000": "units.per_1000_households",
    "apology_per_100_dossiers": "units.per_100_dossiers",
}


def outcome_label(outcome: str, language: Language) -> str:
    """The reader's name of an outcome column."""
    key = f"outcomes.{outcome}"
    try:
        return t(key, language)
    except KeyError:
        return outcome


def format_effect(outcome: str, value: float, language: Language) -> str:
    """An effect in the outcome's unit.

    Percentage points for shares, points for the 1-5 scores, the rate's own unit for counts per
    households or dossiers, and a bare number for any other outcome (a generic panel's).
    """
    if outcome in PERCENT_OUTCOMES:
        return f"{format_number(100 * value, language, 1)}{NBSP}{t('units.percentage_points', language)}"
    if outcome in RATE_UNITS:
        return f"{format_number(value, language, 2)}{NBSP}{t(RATE_UNITS[outcome], language)}"
    if outcome in SCORE_OUTCOMES or outcome.startswith("factor_"):
        return f"{format_number(value, language, 2)}{NBSP}{t('units.points', language)}"
    return format_number(value, language, 2)


def did_table_display(
    table: DidTable, outcome: str, language: Language, params: Params | None = None
) -> pd.DataFrame:
    """The 2x2 table laid out for reading: rows pilot / non-pilot / difference, columns before /
    after / change. Means carry their standard errors; the DiD's interval is the size-checked
    one of the headline, so none is printed here."""
    rows = table.table
    fmt = (
        (lambda v: format_number(100 * v, language, 1))
        if outcome in PERCENT_OUTCOMES
        else (lambda v: format_number(v, language, 3))
    )

    def cell(quantity: str, group: str, period: str) -> str:
        hit = rows[
            (rows["quantity"] == quantity) & (rows["group"] == group) & (rows["period"] == period)
        ]
        if hit.empty:
            return ""
        r = hit.iloc[0]
        return f"{fmt(r['estimate'])} ({fmt(r['std_error'])})"

    groups = sorted(set(rows["group"]) - {"difference"})
    out = []
    for group in ["pilot", "comparison"]:
        if group not in groups:
            continue
        out.append(
            {
                "": _group_label(group, params, language),
                t("effects_page.before", language): cell("mean", group, "before"),
                t("effects_page.after", language): cell("mean", group, "after"),
                t("effects_page.change", language): cell("first_difference", group, "change"),
            }
        )
    did = rows[rows["quantity"] == "difference_in_differences"].iloc[0]
    out.append(
        {
            "": t("effects_page.did_row", language),
            t("effects_page.before", language): "",
            t("effects_page.after", language): "",
            t("effects_page.change", language): fmt(did["estimate"]),
        }
    )
    return pd.DataFrame(out)


def item_label(params: Params, item: str, language: Language) -> str:
    """The reader's wording of a ballot question (from params ballot.item_labels)."""
    return params.ballot.item_labels.get(item, {}).get(language, item)


_INFERENCE_KINDS = (
    # Most specific first: the randomisation label mentions CRV1, the bootstrap labels Webb.
    ("ferman-pinto", "ferman_pinto"),
    ("delete-one-cluster jackknife", "cs_jackknife"),
    ("randomisation", "ri"),
    ("wcr-rademacher", "wcr_rademacher"),
    ("wild cluster restricted bootstrap, rademacher", "wcr_rademacher"),
    ("wcr-webb", "wcr_webb"),
    ("wild cluster restricted bootstrap, webb", "wcr_webb"),
    ("wcu-rademacher", "wcu_rademacher"),
    ("wcu-webb", "wcu_webb"),
    ("welch", "aggregated"),
    ("cr2", "cr2"),
    ("cv3", "cv3"),
    ("uniform band", "uniform_band"),
    ("influence function", "influence_function"),
    ("crv1", "crv1"),
)


def inference_label(inference: str, language: Language) -> str:
    """A short name of an inference method in the reader's language (full text stays in effects.csv)."""
    for prefix, key in _INFERENCE_KINDS:
        if prefix.lower() in str(inference).lower():
            return t(f"inference_kinds.{key}", language)
    return str(inference)


def estimates_table(
    estimates: list[EffectEstimate],
    language: Language,
    intervals: bool = True,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Several estimates as one readable table (outcome, method, estimate, CI, p, clusters).

    ``intervals=False`` leaves the interval column out (intervals whose method was not
    size-checked on this design are not shown); ``alpha`` sets the level in its heading.
    """
    rows = []
    for est in estimates:
        low, high = est.conf_int
        row = {
            t("effects_page.col_outcome", language): outcome_label(est.outcome, language),
            t("effects_page.col_estimator", language): estimator_label(est.estimator, language),
            t("effects_page.col_estimate", language): format_effect(
                est.outcome, est.estimate, language
            ),
        }
        if intervals:
            row[ci_heading(alpha, language)] = (
                f"{format_effect(est.outcome, low, language)} – "
                f"{format_effect(est.outcome, high, language)}"
            )
        row[t("effects_page.col_p", language)] = format_p_value(est.p_value, language)
        row[t("effects_page.col_clusters_treated", language)] = (
            f"{est.n_treated_clusters} / {est.n_clusters}"
        )
        rows.append(row)
    return pd.DataFrame(rows)


def ci_heading(alpha: float, language: Language) -> str:
    """``95% confidence interval`` at the level ``1 - alpha``."""
    return t("effects_page.col_ci_level", language, level=confidence_level(alpha))


def confidence_level(alpha: float) -> str:
    """``1 - alpha`` as a percentage without needless decimals (95, 90, 99.5)."""
    level = 100 * (1 - alpha)
    return f"{level:.0f}" if abs(level - round(level)) < 1e-9 else f"{level:.1f}"


def covariate_label(name: str, language: Language) -> str:
    """The reader's name of a baseline covariate (its column name when none is written)."""
    try:
        return t(f"covariates.{name}", language)
    except KeyError:
        return name


def estimator_label(estimator: str, language: Language) -> str:
    """The reader's name of an estimator (its machine name when none is written)."""
    try:
        return t(f"estimators.{estimator}", language)
    except KeyError:
        return estimator


def percent(value: float, language: Language) -> str:
    return format_percent(value, language)


# --------------------------------------------------------------------------------------------
# Page 03's sentences and tables (wording only: the numbers come from analysis.effects/how_sure)


def _group_label(group: str, params: Params | None, language: Language) -> str:
    if params is None or wording.is_hanam(params):
        return t(f"effects_page.group_{group}", language)
    noun = wording.treated_noun if group == "pilot" else wording.comparison_noun
    return noun(params, language).capitalize()


def interval_text(outcome: str, low: float, high: float, language: Language) -> str:
    """``low – high`` in the outcome's unit (infinite ends as ``−∞`` / ``+∞``)."""

    def end(value: float) -> str:
        if math.isinf(value):
            return "−∞" if value < 0 else "+∞"
        return format_effect(outcome, value, language)

    return f"{end(low)} – {end(high)}"


def withheld_sentence(trusted: TrustedInterval, params: Params, language: Language) -> str:
    """Why the interval of ``trusted`` is not shown (empty when it is)."""
    if trusted.withheld_reason is None:
        return ""
    return t(
        trusted.withheld_reason,
        language,
        rank=trusted.ri_rank if trusted.ri_rank is not None else "–",
        total=trusted.ri_assignments if trusted.ri_assignments is not None else "–",
        p=format_p_value(trusted.p_value, language),
        method=method_name(trusted.method, language),
        rate=format_percent(trusted.rate, language),
        low=format_percent(params.inference.size_band[0], language, 0),
        high=format_percent(params.inference.size_band[1], language, 0),
        **nouns(params, language),
    )


def method_name(method: str | None, language: Language) -> str:
    """The reader's short name of a few-cluster method (``inference.method.*``)."""
    if method is None:
        return "–"
    try:
        return t(f"inference.method.{method}", language)
    except KeyError:
        return method


def headline_summary(
    headline: Headline, trusted: TrustedInterval, params: Params, language: Language
) -> dict:
    """The headline sentence (one language) for this page, the summary page and the index:
    the effect, and the size-checked interval or the reason it is withheld."""
    outcome = headline.outcome
    label = outcome_label(outcome, language)
    values = {
        "outcome": label,
        "effect": format_effect(outcome, headline.estimate.estimate, language),
        "p": format_p_value(trusted.p_value, language),
        "method": method_name(trusted.method, language),
        "level": confidence_level(params.analysis.alpha),
        "n_treated": headline.estimate.n_treated_clusters,
        "n_units": headline.estimate.n_clusters,
        **nouns(params, language, headline.estimate.n_treated_clusters),
    }
    if trusted.shows_interval:
        values["low"] = format_effect(outcome, trusted.conf_low, language)
        values["high"] = format_effect(outcome, trusted.conf_high, language)
        sentence = t("effects_page.headline_interval", language, **values)
    else:
        sentence = t("effects_page.headline_no_interval", language, **values)
        sentence += " " + withheld_sentence(trusted, params, language)
    lines = [sentence]
    if headline.ballot_reason is not None:
        lines.insert(0, fallback_sentence(headline, language))
    return {"sentence": " ".join(lines), "outcome_label": label}


def fallback_sentence(headline: Headline, language: Language) -> str:
    """Why the headline is not the household-ballot DiD, and what stands in for it."""
    reason = NotApplicable("effects.headline", headline.ballot_reason or "", headline.ballot_facts)
    key = (
        "effects_page.fallback_same"
        if headline.outcome == headline.requested_outcome
        else "effects_page.fallback_admin"
    )
    return t(
        key,
        language,
        reason=reason.message(language),
        outcome=outcome_label(headline.outcome, language),
    )


def outcome_table(intervals: OutcomeIntervals, params: Params, language: Language) -> pd.DataFrame:
    """Every outcome's effect with the interval of its size-checked method, or why none."""
    rows = []
    for trusted, est in zip(intervals.rows, intervals.estimates, strict=True):
        shown = trusted.shows_interval
        rows.append(
            {
                t("effects_page.col_outcome", language): outcome_label(est.outcome, language),
                t("effects_page.col_estimator", language): estimator_label(est.estimator, language),
                t("effects_page.col_estimate", language): format_effect(
                    est.outcome, est.estimate, language
                ),
                ci_heading(params.analysis.alpha, language): (
                    interval_text(est.outcome, trusted.conf_low, trusted.conf_high, language)
                    if shown
                    else t("effects_page.interval_withheld", language)
                ),
                t("effects_page.col_p", language): format_p_value(trusted.p_value, language),
                t("effects_page.col_method", language): method_name(trusted.method, language),
                t("effects_page.col_clusters_treated", language): (
                    f"{est.n_treated_clusters} / {est.n_clusters}"
                ),
            }
        )
    return pd.DataFrame(rows)


def outcome_notes(intervals: OutcomeIntervals, params: Params, language: Language) -> str:
    """One line per distinct reason an interval in the table is withheld."""
    seen: dict[str, str] = {}
    for trusted in intervals.rows:
        if trusted.withheld_reason and trusted.withheld_reason not in seen:
            seen[trusted.withheld_reason] = outcome_label(trusted.outcome, language)
    lines = [
        t("effects_page.withheld_for", language, outcome=outcome)
        + " "
        + withheld_sentence(
            next(r for r in intervals.rows if r.withheld_reason == key), params, language
        )
        for key, outcome in seen.items()
    ]
    return "\n".join(f"- {line}" for line in lines)


def points_only(estimates: list[EffectEstimate], language: Language) -> pd.DataFrame:
    """Estimates with p-values and no intervals (their methods were not size-checked here)."""
    return estimates_table(estimates, language, intervals=False)


def likert_table(result: OrdinalDidResult, language: Language) -> pd.DataFrame:
    """How the probability of each answer moved in pilot ballots after the start (points)."""
    from evaluation.report.figures_likert import answer_label

    rows = []
    for level in result.levels:
        row = result.shifts.loc[f"P(answer={level})"]
        rows.append(
            {
                t("effects_page.col_answer", language): answer_label(level, language),
                t("effects_page.col_without", language): format_percent(
                    float(row["probability_without"]), language
                ),
                t("effects_page.col_with", language): format_percent(
                    float(row["probability_with"]), language
                ),
                t("effects_page.col_shift", language): format_effect(
                    "pct_satisfied", float(row["estimate"]), language
                ),
                t("effects_page.col_p", language): format_p_value(float(row["p_value"]), language),
            }
        )
    return pd.DataFrame(rows)


def adjusted_sentence(result: AdjustedComparison, params: Params, language: Language) -> str:
    """The endline-only comparison, labelled as weaker evidence than a DiD."""
    est = result.estimate
    covariates = ", ".join(covariate_label(c, language) for c in result.covariates)
    return t(
        "effects_page.adjusted_reading",
        language,
        outcome=outcome_label(est.outcome, language),
        effect=format_effect(est.outcome, est.estimate, language),
        p=format_p_value(est.p_value, language),
        covariates=covariates or t("effects_page.no_covariates", language),
        n_treated=est.n_treated_clusters,
        n_units=est.n_clusters,
        **nouns(params, language),
    )


def event_reading(estimate: EffectEstimate, params: Params, language: Language) -> str:
    """Whether the periods before the start moved alike (the pre-trend test)."""
    p = float(estimate.diagnostics.get("pretrend_p_value", math.nan))
    if estimate.n_treated_clusters < 2:
        return t("effects_page.event_reading_one", language, p=format_p_value(p, language))
    if not math.isfinite(p):
        return t("effects_page.event_reading_none", language)
    key = (
        "effects_page.event_reading_ok"
        if p >= params.analysis.alpha
        else "effects_page.event_reading_bad"
    )
    text = t(key, language, p=format_p_value(p, language))
    power = trend_power_sentence(estimate, params, language)
    return f"{text} {power}" if power else text


def trend_power_sentence(estimate: EffectEstimate, params: Params, language: Language) -> str:
    """How large a steady drift page 3's pre-start test would notice (Roth 2022), in plain
    words; empty when the event study carries no power (too few leads)."""
    return trend_power_text(
        estimate.diagnostics.get("_power"),
        estimate.outcome,
        params,
        language,
        key="effects_page.pretrend_power",
    )


def trend_power_text(
    power: object,
    outcome: str,
    params: Params,
    language: Language,
    key: str,
    effect_key: str = "robustness_page.pretrend_power_effect",
) -> str:
    """The pre-trend test's power in plain words (pages 3, 4 and 7 share it): the drift it
    would notice with 80% and 50% chance (message ``key``) and, when known, its chance of
    noticing a drift that alone would make the whole effect (``effect_key``); '' when the power
    could not be computed."""
    slope_80 = getattr(power, "slope_80", math.nan)
    if power is None or not math.isfinite(slope_80):
        return ""
    words = nouns(params, language)
    text = t(
        key,
        language,
        **words,
        slope80=format_effect(outcome, slope_80, language),
        slope50=format_effect(outcome, power.slope_50, language),
    )
    if math.isfinite(power.slope) and math.isfinite(power.power):
        text += " " + t(
            effect_key,
            language,
            **words,
            slope=format_effect(outcome, power.slope, language),
            power=format_percent(power.power, language, 0),
        )
    return text


def results_entry(
    headline: Headline,
    check: HowSure | NotApplicable,
    trusted: TrustedInterval,
    pretrend: float,
    params: Params,
) -> dict:
    """The ``headline`` entry of ``results.json`` (read by the summary page). A withheld
    interval's sentence is written in both languages, so the summary says what this page says."""
    est = headline.estimate
    frame = headline.design.frame
    frame = frame[frame[headline.outcome].notna()]
    shown = trusted.shows_interval
    return {
        "outcome": headline.outcome,
        "requested_outcome": headline.requested_outcome,
        "level": headline.level,
        "estimate": est.estimate,
        "crv1_conf_int": list(est.conf_int),
        "crv1_p_value": est.p_value,
        "few_cluster_method": trusted.method,
        "few_cluster_label": trusted.label,
        "size_of_method": trusted.rate,
        "size_checked": bool(trusted.size_checked),
        "few_cluster_conf_int": [trusted.conf_low, trusted.conf_high] if shown else [None, None],
        "interval_withheld_reason": trusted.withheld_reason,
        "interval_withheld_sentence": {
            lang: withheld_sentence(trusted, params, lang) for lang in ("vi", "en")
        }
        if trusted.withheld_reason
        else None,
        "few_cluster_p_value": trusted.p_value,
        "ri_rank": trusted.ri_rank,
        "ri_assignments": trusted.ri_assignments,
        # units (communes), not clusters: a panel may cluster several units together
        "n_pilot": int(frame.loc[frame["pilot"] > 0, "commune_code"].nunique()),
        "n_communes": int(frame["commune_code"].nunique()),
        "pretrend_p_value": pretrend,
        "ballot_reason": headline.ballot_reason,
    }


def page_title(params: Params, language: Language) -> str:
    """The page's title: about citizens' satisfaction (Hà Nam) or the outcomes (a panel)."""
    key = "effects_page.title" if wording.is_hanam(params) else "effects_page.title_panel"
    return t(key, language)


def coverage_sentence(trusted: TrustedInterval, params: Params, language: Language) -> str:
    """The effect on ballot coverage with its size-checked interval, or why none is shown."""
    values = {
        "effect": format_effect("coverage", trusted.estimate, language),
        "p": format_p_value(trusted.p_value, language),
        "method": method_name(trusted.method, language),
        "level": confidence_level(params.analysis.alpha),
    }
    if trusted.shows_interval:
        return t(
            "effects_page.coverage_interval",
            language,
            low=format_effect("coverage", trusted.conf_low, language),
            high=format_effect("coverage", trusted.conf_high, language),
            **values,
        )
    text = t("effects_page.coverage_no_interval", language, **values)
    return f"{text} {withheld_sentence(trusted, params, language)}"


def finding(
    headline: Headline, trusted: TrustedInterval, params: Params, language: Language
) -> str:
    """The page's one-line finding for the run's index."""
    outcome = headline.outcome
    values = {
        "outcome": outcome_label(outcome, language),
        "effect": format_effect(outcome, headline.estimate.estimate, language),
        "p": format_p_value(trusted.p_value, language),
        "method": method_name(trusted.method, language),
        "level": confidence_level(params.analysis.alpha),
    }
    if trusted.shows_interval:
        return t(
            "effects_page.finding_interval",
            language,
            low=format_effect(outcome, trusted.conf_low, language),
            high=format_effect(outcome, trusted.conf_high, language),
            **values,
        )
    return t("effects_page.finding_no_interval", language, **values)


def twfe_intro(outcomes: object, params: Params, prepared: Prepared, language: Language) -> str:
    """What the every-outcome table shows: the fixed effects, the weights, the trust rule."""
    designs = getattr(outcomes, "designs", [])
    keys = list(dict.fromkeys(d.weight_key for d in designs))
    low, high = params.inference.size_band
    return t(
        "effects_page.twfe_intro",
        language,
        units=wording.unit_noun(params, language),
        periods=wording.period_noun(params, language, plural=True),
        weights="; ".join(t(k, language) for k in keys) or t("sample.weights.none", language),
        low=format_percent(low, language, 0),
        high=format_percent(high, language, 0),
    )


def skipped_line(outcomes: object, language: Language) -> str:
    """The outcomes asked for that no DiD could be fitted on (empty when none)."""
    skipped = getattr(outcomes, "skipped", None)
    if skipped is None or skipped.empty:
        return ""
    names = ", ".join(dict.fromkeys(outcome_label(o, language) for o in skipped["outcome"]))
    return t("effects_page.skipped_outcomes", language, outcomes=names)


def headline_figure_rows(
    headline: Headline, trusted: TrustedInterval, others: list[EffectEstimate]
) -> pd.DataFrame:
    """Tidy rows of the headline-outcome figure: the headline with its size-checked interval
    (or none), the other estimates as points (their methods were not size-checked here)."""
    first = headline.estimate.tidy().iloc[[0]].copy()
    first[["conf_low", "conf_high"]] = (
        [trusted.conf_low, trusted.conf_high] if trusted.shows_interval else [math.nan, math.nan]
    )
    rest = [e.tidy().iloc[[0]].assign(conf_low=math.nan, conf_high=math.nan) for e in others]
    return pd.concat([first, *rest], ignore_index=True)
