"""Wording, tables and figures of the staggered-rollout page (``07_rollout_waves``).

The statistics live in :mod:`evaluation.analysis.rollout`; this module turns its results into
what a reader sees. Nouns (communes or the panel's units, quarters or years ...) come from
:mod:`evaluation.report.wording`, so no Hà Nam word appears on a generic panel's page.
Intervals and p-values of the Callaway-Sant'Anna estimates are printed only when the size
check of :func:`evaluation.analysis.rollout.size_check` passed (each then says its method and
measured rate); Sun-Abraham's only when its own check
(:func:`evaluation.analysis.rollout.sun_abraham_size_check`) passed; the plain regression's
never (its size was not measured).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.analysis.rollout import (
    SA_SIZE_METHOD,
    BaconResult,
    CohortComparison,
    RolloutDesign,
    RolloutEffects,
    RolloutPage,
    SizeCheck,
)
from evaluation.config import Params
from evaluation.estimators.result import EffectEstimate
from evaluation.i18n import Language, format_number, format_p_value, format_percent, t
from evaluation.measures import period_label as measures_period_label
from evaluation.report.effects import (
    covariate_label,
    format_effect,
    outcome_label,
    trend_power_text,
)
from evaluation.report.figures_rollout import (
    bacon_figure,
    dynamic_effects_figure,
    group_time_figure,
)
from evaluation.report.wording import noun_values as nouns
from evaluation.report.wording import period_noun, unit_noun

__all__ = [
    "aggregations_table",
    "bacon_chart",
    "bacon_reading",
    "bacon_table",
    "cohort_reading",
    "cohort_table",
    "design_reading",
    "dynamic_charts",
    "dynamic_reading",
    "event_time_table",
    "first_waves",
    "group_time_chart",
    "household_reading",
    "interval_method_text",
    "level_text",
    "unchecked_rows",
    "method_reading",
    "nouns",
    "period_label",
    "rollout_summary",
    "sa_size_reading",
    "size_reading",
    "term_label",
    "terms_table",
    "text",
]

_TERM = re.compile(r"^(?P<kind>[gte])(?P<sign>[=+-])(?P<value>\d+)$")


# ---------------------------------------------------------------------------------------------
# Words
# ---------------------------------------------------------------------------------------------


def text(key: str, params: Params, language: Language, **values: object) -> str:
    """``rollout_page.<key>`` with the data's nouns and ``level`` filled in."""
    return t(
        f"rollout_page.{key}",
        language,
        **{**nouns(params, language), "level": level_text(params, language), **values},
    )


def _overall_text(
    key: str, effects: RolloutEffects, params: Params, language: Language, **values: object
) -> str:
    """``<key>_ci`` with the overall effect's interval when its size check passed, else
    ``<key>`` (the interval withheld)."""
    if not effects.size.passed:
        return text(key, params, language, **values)
    outcome = effects.design.outcome
    low, high = effects.simple.conf_int
    return text(
        f"{key}_ci",
        params,
        language,
        low=format_effect(outcome, low, language),
        high=format_effect(outcome, high, language),
        **values,
    )


def level_text(params: Params, language: Language) -> str:
    """The confidence level from ``analysis.alpha`` (``95%``)."""
    return format_percent(1 - params.analysis.alpha, language, 0)


def period_label(
    value: float | int, design: RolloutDesign, language: Language | None = None
) -> str:
    """A period as readers know it: a quarter for Hà Nam ballots, the panel's own label."""
    if design.source != "panel":
        return measures_period_label(value, design.source, language)
    return design.period_labels.get(str(int(value)), str(int(value)))


def term_label(term: str, design: RolloutDesign, language: Language | None = None) -> str:
    """``g=199`` / ``t=199`` -> ``2019Q4`` (``Q4/2019`` in Vietnamese); ``e+2`` -> ``+2``;
    other terms unchanged."""
    match = _TERM.match(str(term))
    if match is None:
        return str(term)
    if match["kind"] == "e":
        value = int(match["value"]) * (-1 if match["sign"] == "-" else 1)
        return f"{value:+d}".replace("-", "−")
    return period_label(int(match["value"]), design, language)


def first_waves(n: int, params: Params, language: Language) -> str:
    """``quarter`` / ``3 quarters`` (the first ... after adoption)."""
    if n == 1:
        return period_noun(params, language)
    return f"{n} {period_noun(params, language, plural=True)}"


def _effect_ci(outcome: str, row: pd.Series, language: Language, show: bool) -> tuple[str, str]:
    effect = format_effect(outcome, row["estimate"], language)
    if not show or not (np.isfinite(row["conf_low"]) and np.isfinite(row["conf_high"])):
        return effect, "–"
    low = format_effect(outcome, row["conf_low"], language)
    high = format_effect(outcome, row["conf_high"], language)
    return effect, f"{low} – {high}"


def _p_text(p: float, language: Language) -> str:
    value = format_p_value(p, language)
    return value if value.startswith("<") else f"= {value}"


# ---------------------------------------------------------------------------------------------
# Who adopted when
# ---------------------------------------------------------------------------------------------


def design_reading(design: RolloutDesign, params: Params, language: Language) -> str:
    """Who adopted when: cohorts, never-adopting units, units left out."""
    cohorts = ", ".join(
        text(
            "cohort_count",
            params,
            language,
            wave=period_label(g, design, language),
            n=format_number(n, language, 0),
            units=unit_noun(params, language, plural=n != 1),
        )
        for g, n in zip(design.cohorts, design.units_by_cohort, strict=True)
    )
    out = text(
        "design",
        params,
        language,
        cohorts=cohorts or "–",
        never=format_number(design.n_never, language, 0),
        first=period_label(design.first_period, design, language),
        last=period_label(design.last_period, design, language),
    )
    if design.n_excluded:
        out += " " + text("design_excluded", params, language, n=design.n_excluded)
    if design.estimable and not design.has_later_waves:
        out += " " + text("single_cohort", params, language)
    return out


# ---------------------------------------------------------------------------------------------
# Why plain TWFE can mislead
# ---------------------------------------------------------------------------------------------


def bacon_chart(bacon: BaconResult, params: Params, language: Language) -> Figure:
    """Scatter of the 2x2 comparisons (weight vs estimate) with the TWFE line."""
    return bacon_figure(
        bacon.comparisons, language, nouns(params, language), twfe_estimate=bacon.twfe_estimate
    )


def bacon_table(bacon: BaconResult, params: Params, language: Language) -> pd.DataFrame:
    """Weight and average 2x2 estimate of each kind of comparison, for reading."""
    by_type = bacon.by_type
    words = nouns(params, language)
    return pd.DataFrame(
        {
            t("rollout_page.col_comparison", language): [
                t(f"rollout.bacon.types.{kind}", language, **words) for kind in by_type["type"]
            ],
            t("rollout_page.col_weight", language): [
                format_percent(w, language, 1) for w in by_type["weight"]
            ],
            t("rollout_page.col_average", language): [
                format_number(e, language, 3) for e in by_type["estimate"]
            ],
        }
    )


def bacon_reading(
    bacon: BaconResult,
    effects: RolloutEffects | None,
    params: Params,
    language: Language,
) -> str:
    """What the decomposition says about the plain TWFE number, in one paragraph."""
    outcome = bacon.outcome
    out = text(
        "twfe_number", params, language, twfe=format_effect(outcome, bacon.plain.estimate, language)
    )
    weight = bacon.forbidden_weight
    if weight <= 0:
        out += " " + text("bacon_clean", params, language)
    else:
        out += " " + text(
            "bacon_forbidden",
            params,
            language,
            share=format_percent(weight, language, 0),
            average=format_effect(outcome, bacon.forbidden_average, language),
        )
    if effects is not None:
        out += " " + text(
            "bacon_versus_cs",
            params,
            language,
            cs=format_effect(outcome, effects.simple.estimate, language),
        )
    return out


# ---------------------------------------------------------------------------------------------
# Callaway & Sant'Anna
# ---------------------------------------------------------------------------------------------


def method_reading(effects: RolloutEffects, params: Params, language: Language) -> str:
    """What the Callaway-Sant'Anna estimates compare, weight and adjust for."""
    design = effects.design
    if effects.covariates:
        names = ", ".join(covariate_label(c, language) for c in effects.covariates)
        adjust = text("covariates_used", params, language, covariates=names)
    elif effects.fell_back:
        names = ", ".join(covariate_label(c, language) for c in design.covariates)
        adjust = text("covariates_fell_back", params, language, covariates=names)
    else:
        adjust = text("covariates_none", params, language)
    out = text(
        "cs_method",
        params,
        language,
        control=text(f"control.{design.control_group}", params, language),
        base=text(f"base.{design.base_period}", params, language),
        method=text(f"method.{design.method}", params, language),
        weights=t(design.weight_label_key, language),
        adjust=adjust,
    )
    if np.isfinite(effects.pretrend_p_value) and effects.size.passed:
        out += " " + text(
            "pretrend_reference",
            params,
            language,
            df=effects.pretrend_df,
            p=_p_text(effects.pretrend_p_value, language),
            clusters=effects.n_clusters,
        )
    return out


def size_reading(effects: RolloutEffects, params: Params, language: Language) -> str:
    """Whether the intervals are shown, and why (the size check on this design)."""
    size, design = effects.size, effects.design
    band_low, band_high = size.band
    values = {
        "treated_n": format_number(size.n_placebo_treated, language, 0),
        "sims": format_number(size.n_valid, language, 0),
        "pool": format_number(size.n_pool, language, 0),
        "rate": format_percent(size.rejection_rate, language, 1),
        "low": format_percent(band_low, language, 0),
        "high": format_percent(band_high, language, 0),
    }
    key = {
        "passed": "size_passed",
        "failed": "size_failed",
        "not_measured": "size_not_measured",
    }.get(size.status, "size_too_few")
    out = text(key, params, language, **values)
    rates = {m: r for m, r in (getattr(size, "rates", None) or {}).items() if np.isfinite(r)}
    if size.status in ("passed", "failed") and rates:
        # Which method the verdict is about, and each candidate's measured rate.
        tried = "; ".join(
            f"{t(f'inference.method.cs_{m}', language)}: {format_percent(r, language, 1)}"
            for m, r in rates.items()
        )
        out += " " + text(
            "size_methods",
            params,
            language,
            method=t(f"inference.method.cs_{size.method}", language),
            tried=tried,
        )
    if size.status in ("passed", "failed") and size.n_cohorts_used < size.n_cohorts:
        out += " " + text(
            "size_partial",
            params,
            language,
            used=size.n_cohorts_used,
            all=size.n_cohorts,
            end=period_label(size.window_end, design, language),
        )
    if size.passed:
        out += " " + interval_method_text(size, language)
    if np.isfinite(size.placebo_p_value):
        larger = size.placebo_p_value * (size.n_valid + 1) - 1
        out += " " + text(
            "placebo_p",
            params,
            language,
            share=format_percent(larger / size.n_valid, language, 1),
            p=format_p_value(size.placebo_p_value, language),
        )
    sa_size = getattr(effects, "sa_size", None)
    if sa_size is None:
        return out + " " + text("not_shown_other", params, language)
    return f"{out} {sa_size_reading(sa_size, params, language)} " + text(
        "not_shown_plain", params, language
    )


def interval_method_text(size: SizeCheck, language: Language) -> str:
    """``Intervals shown: <method>, measured false-alarm rate <rate> on this design.``"""
    prefix = "sa" if size.method == SA_SIZE_METHOD else "cs"
    return t(
        "rollout_page.interval_method",
        language,
        method=t(f"inference.method.{prefix}_{size.method}", language),
        rate=format_percent(size.rejection_rate, language, 1),
    )


def sa_size_reading(size: SizeCheck, params: Params, language: Language) -> str:
    """Whether Sun-Abraham's intervals are shown: its method and measured rate on the placebo
    draws of the Callaway-Sant'Anna size check."""
    key = {"passed": "sa_size_passed", "failed": "sa_size_failed"}.get(
        size.status, "sa_size_not_measured"
    )
    band_low, band_high = size.band
    return text(
        key,
        params,
        language,
        sims=format_number(size.n_valid, language, 0),
        method=t(f"inference.method.sa_{size.method}", language),
        rate=format_percent(size.rejection_rate, language, 1),
        low=format_percent(band_low, language, 0),
        high=format_percent(band_high, language, 0),
    )


def group_time_chart(effects: RolloutEffects, params: Params, language: Language) -> Figure:
    """The ATT(g, t) figure with periods labelled as readers know them."""
    design = effects.design
    fig = group_time_figure(
        effects.att_gt,
        language,
        1 - params.analysis.alpha,
        nouns(params, language),
        show_intervals=effects.size.passed,
    )
    groups = sorted(effects.att_gt["group"].unique())
    times = sorted(effects.att_gt["time"].unique())
    step = 1 if len(times) <= 10 else 2  # every other period when many, so labels stay legible
    axes = [ax for ax in fig.axes if ax.get_title()]
    for i, (ax, g) in enumerate(zip(axes, groups, strict=False)):
        ax.set_title(
            t(
                "rollout.group_time.cohort",
                language,
                group=period_label(g, design, language),
                **nouns(params, language),
            ),
            fontsize=12,
        )
        ax.set_xticks(times[::step])
        ax.set_xticklabels([period_label(v, design, language) for v in times[::step]])
        ax.tick_params(axis="x", labelbottom=i == len(axes) - 1)
    return fig


def aggregations_table(
    effects: RolloutEffects, bacon: BaconResult | None, params: Params, language: Language
) -> pd.DataFrame:
    """The headline number of each aggregation, Sun-Abraham and the plain regression.

    Intervals and p-values only for the Callaway-Sant'Anna rows, and only when size-checked.
    """
    lags = params.analysis.event_lags
    rows = []
    estimates: list[tuple[EffectEstimate, bool]] = [
        (e, effects.size.passed) for e in effects.aggregations().values()
    ]
    if isinstance(effects.sun_abraham, EffectEstimate):
        estimates.append((effects.sun_abraham, effects.sa_intervals_shown))
    if isinstance(effects.imputation, EffectEstimate):
        estimates.append((effects.imputation, False))  # conservative SE, size not measured
    if bacon is not None:
        estimates.append((bacon.plain, False))
    for est, show in estimates:
        effect, ci = _effect_ci(est.outcome, est.terms.iloc[0], language, show)
        rows.append(
            {
                t("rollout_page.col_summary", language): text(
                    f"estimators.{est.estimator}", params, language, lags=lags
                ),
                t("rollout_page.col_effect", language): effect,
                text("col_ci", params, language): ci,
                t("rollout_page.col_p", language): format_p_value(est.p_value, language)
                if show
                else "–",
            }
        )
    return pd.DataFrame(rows)


def aggregation_reading(
    effects: RolloutEffects, bacon: BaconResult | None, params: Params, language: Language
) -> str:
    """The overall effect (with its interval when checked) and the plain regression's."""
    simple, outcome = effects.simple, effects.design.outcome
    values = {
        "outcome": outcome_label(outcome, language),
        "cs": format_effect(outcome, simple.estimate, language),
    }
    out = _overall_text("agg_reading", effects, params, language, **values)
    if bacon is not None:
        twfe = format_effect(outcome, bacon.plain.estimate, language)
        out += " " + text("agg_twfe", params, language, twfe=twfe)
    return out


def terms_table(
    estimate: EffectEstimate,
    effects: RolloutEffects,
    params: Params,
    language: Language,
) -> pd.DataFrame:
    """The per-period terms of an aggregation (``t=...`` or ``g=...``), for reading."""
    show = effects.size.passed
    rows = []
    for name, row in estimate.terms.iloc[1:].iterrows():
        effect, ci = _effect_ci(estimate.outcome, row, language, show)
        rows.append(
            {
                text("col_wave", params, language): term_label(str(name), effects.design, language),
                t("rollout_page.col_effect", language): effect,
                text("col_ci", params, language): ci,
                t("rollout_page.col_p", language): format_p_value(row["p_value"], language)
                if show
                else "–",
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# By time since adoption
# ---------------------------------------------------------------------------------------------


def dynamic_charts(
    effects: RolloutEffects, params: Params, language: Language
) -> list[tuple[Figure, str, str]]:
    """(figure, file name, alt text) of the event-time effects: CS, and Sun-Abraham if any."""
    level = 1 - params.analysis.alpha
    words = nouns(params, language)
    out = [
        (
            dynamic_effects_figure(effects.dynamic, language, level, words, effects.size.passed),
            "dynamic_cs",
            text("dynamic_cs_alt", params, language),
        )
    ]
    if isinstance(effects.sun_abraham, EffectEstimate):
        out.append(
            (
                dynamic_effects_figure(
                    effects.sun_abraham, language, level, words, effects.sa_intervals_shown
                ),
                "dynamic_sun_abraham",
                text("dynamic_sa_alt", params, language),
            )
        )
    return out


def dynamic_intro(effects: RolloutEffects, params: Params, language: Language) -> str:
    """How to read event time (and the uniform band, when shown)."""
    out = text("dynamic_intro", params, language)
    if effects.size.passed:
        out += " " + text(
            "dynamic_band",
            params,
            language,
            n_boot=params.inference.n_boot,
            seed=params.inference.seed,
        )
    return out


def event_time_table(effects: RolloutEffects, params: Params, language: Language) -> pd.DataFrame:
    """Effects by periods since adoption: Callaway-Sant'Anna (uniform band when checked) beside
    Sun-Abraham (point estimates)."""
    cs, sa = effects.dynamic, effects.sun_abraham
    terms = [n for n in cs.terms.index if str(n).startswith("e")]
    if isinstance(sa, EffectEstimate):
        terms += [n for n in sa.terms.index if str(n).startswith("e") and n not in terms]
    terms = sorted(terms, key=lambda n: int(str(n)[1:]))
    show = effects.size.passed
    rows = []
    for name in terms:
        row = {text("col_event", params, language): term_label(name, effects.design, language)}
        if name in cs.terms.index and np.isfinite(cs.terms.loc[name, "estimate"]):
            effect, ci = _effect_ci(cs.outcome, cs.terms.loc[name], language, show)
        else:
            effect, ci = "–", "–"
        row[t("rollout_page.col_cs", language)] = effect
        if show:
            row[text("col_cs_ci", params, language)] = ci
        if isinstance(sa, EffectEstimate):
            value = sa.terms.loc[name, "estimate"] if name in sa.terms.index else np.nan
            row[t("rollout_page.col_sa", language)] = (
                format_effect(cs.outcome, value, language) if np.isfinite(value) else "–"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def dynamic_reading(effects: RolloutEffects, params: Params, language: Language) -> str:
    """First and last post-adoption effect, how far Sun-Abraham is, and the pre-adoption band."""
    cs, sa = effects.dynamic, effects.sun_abraham
    outcome = cs.outcome
    post = [
        n
        for n in cs.terms.index
        if _TERM.match(str(n))
        and str(n).startswith("e+")
        and np.isfinite(cs.terms.loc[n, "estimate"])
    ]
    if not post:
        return ""
    post = sorted(post, key=lambda n: int(str(n)[1:]))
    out = text(
        "dynamic_reading",
        params,
        language,
        first=format_effect(outcome, cs.terms.loc[post[0], "estimate"], language),
        last=format_effect(outcome, cs.terms.loc[post[-1], "estimate"], language),
        later=f"{int(str(post[-1])[1:])} {period_noun(params, language, int(str(post[-1])[1:]) != 1)}",
    )
    if isinstance(sa, EffectEstimate):
        common = [n for n in post if n in sa.terms.index]
        if common:
            gap = float(
                np.nanmax(
                    np.abs(
                        cs.terms.loc[common, "estimate"].to_numpy()
                        - sa.terms.loc[common, "estimate"].to_numpy()
                    )
                )
            )
            out += " " + text(
                "dynamic_gap", params, language, gap=format_effect(outcome, gap, language)
            )
    if effects.size.passed and effects.pretrend:
        key = "pretrend_band_bad" if effects.pretrend["outside"] else "pretrend_band_ok"
        out += " " + text(
            key, params, language, n=effects.pretrend["n"], outside=effects.pretrend["outside"]
        )
    return out


# ---------------------------------------------------------------------------------------------
# Later cohorts against the first
# ---------------------------------------------------------------------------------------------


def cohort_intro(cohorts: CohortComparison, params: Params, language: Language) -> str:
    return text(
        "cohort_intro", params, language, waves=first_waves(cohorts.waves, params, language)
    )


def cohort_table(effects: RolloutEffects, params: Params, language: Language) -> pd.DataFrame:
    """One row per adoption date: units, periods observed since, ATT(g), equal-exposure ATT(g)."""
    design, group, exposure = effects.design, effects.group, effects.exposure
    show = effects.size.passed
    k = int(exposure.diagnostics["max_event_time"]) if exposure is not None else 0
    outcome = group.outcome
    rows = []
    for g, n in zip(design.cohorts, design.units_by_cohort, strict=True):
        name = f"g={g:g}"
        if name not in group.terms.index:
            continue
        full, full_ci = _effect_ci(outcome, group.terms.loc[name], language, show)
        row = {
            t("rollout_page.col_cohort", language): period_label(g, design, language)
            + (f" ({t('rollout_page.pilot', language)})" if g == design.cohorts[0] else ""),
            text("col_units", params, language): format_number(n, language, 0),
            text("col_waves_since", params, language): format_number(
                design.last_period - g + 1, language, 0
            ),
            t("rollout_page.col_group_att", language): full,
        }
        if show:
            row[text("col_ci", params, language)] = full_ci
        if exposure is not None and name in exposure.terms.index:
            same, same_ci = _effect_ci(outcome, exposure.terms.loc[name], language, show)
            row[text("col_equal", params, language, waves=first_waves(k + 1, params, language))] = (
                same
            )
            if show:
                row[text("col_equal_ci", params, language)] = same_ci
        rows.append(row)
    return pd.DataFrame(rows)


def cohort_reading(
    cohorts: CohortComparison, effects: RolloutEffects, params: Params, language: Language
) -> str:
    """Did later cohorts gain as much as the first? Plain words, at equal time since adoption."""
    outcome = effects.design.outcome
    ratio = cohorts.ratio
    out = text(
        f"cohorts_{cohorts.verdict}",
        params,
        language,
        waves=first_waves(cohorts.waves, params, language),
        pilot=format_effect(outcome, cohorts.pilot, language),
        later=format_effect(outcome, cohorts.later, language),
        ratio=format_percent(ratio, language, 0) if np.isfinite(ratio) else "–",
    )
    show = effects.size.passed
    items = []
    for name in cohorts.later_terms:
        effect, ci = _effect_ci(outcome, effects.exposure.terms.loc[name], language, show)  # type: ignore[union-attr]
        wave = term_label(name, effects.design, language)
        items.append(
            text("cohort_item_ci", params, language, wave=wave, effect=effect, ci=ci)
            if show
            else text("cohort_item", params, language, wave=wave, effect=effect)
        )
    return f"{out} {text('cohorts_detail', params, language, details='; '.join(items))}"


# ---------------------------------------------------------------------------------------------
# Household check, summary
# ---------------------------------------------------------------------------------------------


def household_reading(
    household: EffectEstimate, effects: RolloutEffects, params: Params, language: Language
) -> str:
    """The ballot-level overall effect beside the unit-level one (point estimates: the
    ballot-level interval was not size-checked)."""
    outcome = effects.design.outcome
    return text(
        "household_reading",
        params,
        language,
        household=format_effect(outcome, household.estimate, language),
        commune=format_effect(outcome, effects.simple.estimate, language),
    )


def rollout_summary(page: RolloutPage, params: Params, language: Language) -> str:
    """The page's one-line finding: the overall ATT (interval only when checked) and, with later
    cohorts, first vs later at equal exposure."""
    effects = page.effects
    if not isinstance(effects, RolloutEffects):
        return text("finding_not_estimable", params, language)
    simple, outcome = effects.simple, effects.design.outcome
    values = {
        "outcome": outcome_label(outcome, language),
        "effect": format_effect(outcome, simple.estimate, language),
        "cohorts": effects.design.n_cohorts,
    }
    out = _overall_text("finding", effects, params, language, **values)
    if isinstance(page.cohorts, CohortComparison):
        out += " " + text(
            "finding_cohorts",
            params,
            language,
            waves=first_waves(page.cohorts.waves, params, language),
            pilot=format_effect(outcome, page.cohorts.pilot, language),
            later=format_effect(outcome, page.cohorts.later, language),
            # The share the summary reports, printed on its source page too.
            share=format_percent(page.cohorts.ratio, language, 0),
        )
    return out


def unchecked_rows(estimate: EffectEstimate) -> pd.DataFrame:
    """Effects rows of an estimate whose interval was not size-checked (never shown)."""
    return estimate.tidy().assign(size_checked=False)


def pretrend_power_reading(effects: RolloutEffects, params: Params, language: Language) -> str:
    """How large a trend the pre-adoption test would notice (Roth 2022); '' without that test."""
    return trend_power_text(
        effects.pretrend_power,
        effects.design.outcome,
        params,
        language,
        key="rollout_page.pretrend_power",
        effect_key="rollout_page.pretrend_power_effect",
    )
