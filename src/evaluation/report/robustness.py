"""The robustness page (``04_robustness``): words, tables and readings of the checks.

The statistics live in :mod:`evaluation.analysis.robustness`; this module turns its results
into what a reader sees, in the run's language and with the data's own nouns
(:mod:`evaluation.report.wording`: no Hà Nam word on a generic panel). Intervals are shown only
for estimates whose method's size was measured on their design inside ``inference.size_band``
(:func:`~evaluation.analysis.robustness.is_checked`); otherwise the cell says why not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from evaluation.analysis import robustness as ar
from evaluation.analysis.base import applies
from evaluation.config import Params
from evaluation.estimators.event_study import parse_event_term
from evaluation.estimators.result import EffectEstimate
from evaluation.i18n import Language, format_number, format_p_value, format_percent, t
from evaluation.report import wording
from evaluation.report.effects import format_effect, outcome_label, trend_power_text
from evaluation.report.wording import noun_values as nouns


def level(params: Params, language: Language) -> str:
    """The interval level from ``analysis.alpha`` (``95%``)."""
    return f"{format_number(100 * (1 - params.analysis.alpha), language, 0)}%"


def alpha_text(params: Params, language: Language) -> str:
    """``analysis.alpha`` as a percentage (``5%``)."""
    return format_percent(params.analysis.alpha, language, 0)


def msg(key: str, params: Params, language: Language, **values: object) -> str:
    """``robustness_page.<key>`` with the data's nouns, level and alpha filled in."""
    low, high = params.inference.size_band
    base = {
        **nouns(params, language),
        "level": level(params, language),
        "alpha": alpha_text(params, language),
        "low": format_percent(low, language, 0),
        "high": format_percent(high, language, 0),
    }
    return t(f"robustness_page.{key}", language, **{**base, **values})


def contract_key(key: str, params: Params) -> str:
    """``key.hanam`` or ``key.panel``."""
    return f"{key}.{'hanam' if wording.is_hanam(params) else 'panel'}"


def outcome_name(outcome: str, language: Language) -> str:
    """Reader label of an outcome: effects page, else data-quality factor names, else this page."""
    label = outcome_label(outcome, language)
    if label != outcome:
        return label
    for key in (f"dq.{outcome}", f"robustness_page.outcome_labels.{outcome}"):
        try:
            return t(key, language)
        except KeyError:
            continue
    return outcome


def p_text(p: float, language: Language) -> str:
    """``= 0,023`` or ``< 0,001``, to follow a ``p`` (no sentence reads ``p = < 0,001``)."""
    text = format_p_value(p, language)
    return text if text.startswith("<") else f"= {text}"


def _ci_text(outcome: str, low: float, high: float, language: Language) -> str:
    return f"{format_effect(outcome, low, language)} – {format_effect(outcome, high, language)}"


def interval_cell(estimate: EffectEstimate, params: Params, language: Language) -> str:
    """The estimate's interval when its method's size was checked, else why it is not shown."""
    if ar.is_checked(estimate):
        low, high = estimate.conf_int
        return _ci_text(estimate.outcome, low, high, language)
    rate = estimate.diagnostics.get("cr2_size", math.nan)
    key = "ci_hidden" if math.isfinite(rate) else "ci_unmeasured"
    return msg(key, params, language)


def intro(base: EffectEstimate, params: Params, language: Language) -> str:
    outcome = base.outcome
    return msg(
        "intro",
        params,
        language,
        outcome=outcome_label(outcome, language),
        effect=format_effect(outcome, base.estimate, language),
        p=p_text(base.p_value, language),
    )


def trust_note(params: Params, language: Language) -> str:
    return msg("trust_note", params, language, sims=params.inference.size_sims)


# -- pre-trends and HonestDiD ----------------------------------------------------------------


def cluster_label(params: Params, language: Language) -> str:
    """What standard errors cluster on, in words (the unit noun unless a cluster column is set)."""
    cluster = params.analysis.cluster if wording.is_hanam(params) else None
    spec = params.data.panel
    if not wording.is_hanam(params) and spec is not None and spec.cluster:
        return spec.cluster
    if cluster in (None, "commune_code"):
        return wording.unit_noun(params, language, plural=False)
    return str(cluster)


def pretrend_intro(params: Params, language: Language) -> str:
    return msg("pretrend_intro", params, language, cluster=cluster_label(params, language))


def pretrend_window(trends: ar.PreTrends, params: Params, language: Language) -> str:
    """The sentence saying the event window was narrowed to what the data fill ('' if not)."""
    if not trends.narrowed:
        return ""
    return msg(
        "pretrend_window",
        params,
        language,
        leads=trends.leads,
        lags=trends.lags + 1,
        leads_asked=trends.leads_asked,
        lags_asked=trends.lags_asked,
    )


def pretrend_table(trends: ar.PreTrends, params: Params, language: Language) -> pd.DataFrame:
    """The pre-start coefficients: periods before the start, estimate, p (no unchecked interval)."""
    rows = []
    study = trends.study
    for term, r in study.terms.iterrows():
        e = parse_event_term(str(term))
        if e >= 0:
            continue
        rows.append(
            {
                msg("col_period", params, language): format_number(e, language, 0),
                msg("col_estimate", params, language): format_effect(
                    study.outcome, r["estimate"], language
                ),
                msg("col_p", params, language): format_p_value(r["p_value"], language),
            }
        )
    return pd.DataFrame(rows)


def pretrend_reading(trends: ar.PreTrends, params: Params, language: Language) -> str:
    bad = trends.p_value < params.analysis.alpha
    return msg(
        "pretrend_bad" if bad else "pretrend_ok",
        params,
        language,
        p=p_text(trends.p_value, language),
        f=format_number(trends.wald, language, 2),
        q=trends.df,
    )


def honest_intro(sensitivity: ar.Sensitivity, params: Params, language: Language) -> str:
    return msg("honest_intro", params, language, lags=sensitivity.num_post - 1)


def sensitivity_display(
    sensitivity: ar.Sensitivity, outcome: str, params: Params, language: Language
) -> pd.DataFrame:
    """Both sensitivity tables side by side for reading (intervals labelled unchecked above)."""
    rows = []
    for frame in (sensitivity.relative_magnitudes, sensitivity.smoothness):
        for r in frame.itertuples(index=False):
            restriction = "none" if r.method == "original" else r.restriction
            decimals = 2 if restriction == "relative_magnitudes" else 4
            rows.append(
                {
                    msg("col_restriction", params, language): msg(
                        f"restriction_{restriction}", params, language
                    ),
                    msg("col_bound", params, language): (
                        "–" if restriction == "none" else format_number(r.m, language, decimals)
                    ),
                    msg("col_ci", params, language): _ci_text(
                        outcome, r.conf_low, r.conf_high, language
                    ),
                    msg("col_zero", params, language): msg(
                        "yes" if r.includes_zero else "no", params, language
                    ),
                }
            )
    return pd.DataFrame(rows).drop_duplicates().reset_index(drop=True)


def _bound_text(value: float, language: Language, decimals: int) -> str:
    return "∞" if not math.isfinite(value) else format_number(value, language, decimals)


def sensitivity_reading(
    sensitivity: ar.Sensitivity, outcome: str, params: Params, language: Language
) -> str:
    """What the breakdown values mean, in words."""
    rm = sensitivity.breakdown_rm
    key = "honest_zero" if rm == 0 else ("honest_strong" if rm >= 1 else "honest_fragile")
    return msg(
        key,
        params,
        language,
        theta=format_effect(outcome, sensitivity.theta, language),
        mbar=_bound_text(rm, language, 2),
        m=(
            format_effect(outcome, sensitivity.breakdown_sd, language)
            if math.isfinite(sensitivity.breakdown_sd)
            else "∞"
        ),
    )


# -- checks tables and readings --------------------------------------------------------------


def checks_display(
    rows: Sequence[tuple[str, EffectEstimate]], params: Params, language: Language
) -> pd.DataFrame:
    """Estimates with reader labels: check, outcome, effect, interval (if checked), p, size, clusters."""
    out = []
    for label, est in rows:
        rate = est.diagnostics.get("cr2_size", math.nan)
        out.append(
            {
                msg("col_check", params, language): label,
                msg("col_outcome", params, language): outcome_name(est.outcome, language),
                msg("col_estimate", params, language): format_effect(
                    est.outcome, est.estimate, language
                ),
                msg("col_ci", params, language): interval_cell(est, params, language),
                msg("col_p", params, language): format_p_value(est.p_value, language),
                msg("col_size", params, language): (
                    format_percent(rate, language)
                    if math.isfinite(rate)
                    else msg("size_unmeasured", params, language)
                ),
                msg(
                    "col_clusters", params, language
                ): f"{est.n_treated_clusters} / {est.n_clusters}",
            }
        )
    return pd.DataFrame(out)


def placebo_rows(
    fake: ar.FakeStart | object,
    placebos: ar.PlaceboOutcomes | object,
    params: Params,
    language: Language,
) -> list[tuple[str, EffectEstimate]]:
    """The placebo table's rows (only the checks that ran)."""
    rows = []
    if applies(fake):
        rows.append((msg("check_placebo_fake", params, language, shift=fake.shift), fake.estimate))
    if applies(placebos):
        rows += [(msg("check_placebo_outcome", params, language), e) for e in placebos.estimates]
    return rows


def p_caution(estimate: EffectEstimate, params: Params, language: Language) -> str:
    """A sentence when the estimate's CR2 p-value is not size-checked on its design ('' if it is)."""
    if ar.is_checked(estimate):
        return ""
    rate = estimate.diagnostics.get("cr2_size", math.nan)
    if not math.isfinite(rate):
        return " " + msg("p_unmeasured", params, language)
    return " " + msg("p_unchecked", params, language, rate=format_percent(rate, language))


def placebo_reading(fake: ar.FakeStart, params: Params, language: Language) -> str:
    est = fake.estimate
    bad = est.p_value < params.analysis.alpha
    return msg(
        "placebo_fake_bad" if bad else "placebo_fake_ok",
        params,
        language,
        shift=fake.shift,
        effect=format_effect(est.outcome, est.estimate, language),
        p=p_text(est.p_value, language),
    ) + p_caution(est, params, language)


def placebo_outcome_reading(
    placebos: ar.PlaceboOutcomes, params: Params, language: Language
) -> str:
    moved = [e for e in placebos.estimates if e.p_value < params.analysis.alpha]
    items = "; ".join(
        msg(
            "placebo_outcome_item",
            params,
            language,
            outcome=outcome_name(e.outcome, language),
            effect=format_effect(e.outcome, e.estimate, language),
            p=p_text(e.p_value, language),
        )
        for e in placebos.estimates
    )
    return msg(
        "placebo_outcome_bad" if moved else "placebo_outcome_ok", params, language, items=items
    )


def strata_label(params: Params, language: Language) -> str:
    """The strata in words: Hà Nam's districts, or a panel's own strata column name."""
    if wording.is_hanam(params):
        return msg("strata_hanam", params, language)
    spec = params.data.panel
    return str(spec.strata) if spec is not None and spec.strata else "–"


def samples_intro(params: Params, language: Language) -> str:
    return t(
        f"robustness_page.{contract_key('samples_intro', params)}",
        language,
        strata=strata_label(params, language),
    )


def sample_rows(
    base: EffectEstimate,
    leave_out: ar.LeaveOneOut | object,
    unchanged: ar.MapChange | object,
    params: Params,
    language: Language,
) -> list[tuple[str, EffectEstimate]]:
    rows = [(msg("check_base", params, language), base)]
    if applies(leave_out):
        rows += [
            (msg("check_without", params, language, district=g), e)
            for g, e in zip(leave_out.dropped, leave_out.estimates, strict=True)
        ]
    if applies(unchanged):
        rows.append(
            (
                msg("check_unchanged_map", params, language, n=len(unchanged.touched)),
                unchanged.estimate,
            )
        )
    return rows


def districts_reading(
    base: EffectEstimate, leave_out: ar.LeaveOneOut, params: Params, language: Language
) -> str:
    low, high = leave_out.range
    clear = all(e.p_value < params.analysis.alpha for e in leave_out.estimates)
    text = msg(
        "districts_stable" if clear else "districts_fragile",
        params,
        language,
        n=len(leave_out.estimates),
        strata=strata_label(params, language),
        low=format_effect(base.outcome, low, language),
        high=format_effect(base.outcome, high, language),
        base=format_effect(base.outcome, base.estimate, language),
    )
    if leave_out.skipped:
        text += " " + msg("districts_skipped", params, language, items=", ".join(leave_out.skipped))
    return text


def map_reading(
    base: EffectEstimate, unchanged: ar.MapChange, params: Params, language: Language
) -> str:
    est = unchanged.estimate
    return msg(
        "map_result",
        params,
        language,
        n=len(unchanged.touched),
        effect=format_effect(base.outcome, est.estimate, language),
        base=format_effect(base.outcome, base.estimate, language),
        p=p_text(est.p_value, language),
    )


def functional_form_reading(form: ar.FunctionalForm, params: Params, language: Language) -> str:
    """Do the two scales agree (sign and verdict at alpha)?"""
    a, b = form.estimates[:2]
    pa, pb = form.trend_p_values[:2]
    alpha = params.analysis.alpha
    agree = np.sign(a.estimate) == np.sign(b.estimate) and (a.p_value < alpha) == (
        b.p_value < alpha
    )

    def trend(p: float) -> str:
        return p_text(p, language) if math.isfinite(p) else msg("form_no_trend", params, language)

    return msg(
        "form_agree" if agree else "form_disagree",
        params,
        language,
        score=format_effect(a.outcome, a.estimate, language),
        score_p=p_text(a.p_value, language),
        share=format_effect(b.outcome, b.estimate, language),
        share_p=p_text(b.p_value, language),
        score_trend=trend(pa),
        share_trend=trend(pb),
    )


def multiple_outcomes_display(
    family: ar.Family, params: Params, language: Language
) -> pd.DataFrame:
    """The family table for reading (estimates and p-values; intervals not size-checked)."""
    frame = family.frame
    return pd.DataFrame(
        {
            msg("col_outcome", params, language): [
                outcome_name(o, language) for o in frame["outcome"]
            ],
            msg("col_estimate", params, language): [
                format_effect(o, v, language)
                for o, v in zip(frame["outcome"], frame["estimate"], strict=True)
            ],
            msg("col_p", params, language): [format_p_value(p, language) for p in frame["p_value"]],
            msg("col_p_holm", params, language): [
                format_p_value(p, language) for p in frame["p_holm"]
            ],
            msg("col_p_rw", params, language): [
                format_p_value(p, language) for p in frame["p_romano_wolf"]
            ],
        }
    )


def multiple_reading(family: ar.Family, params: Params, language: Language) -> str:
    frame, alpha = family.frame, params.analysis.alpha
    text = msg(
        "multiple_result",
        params,
        language,
        n=len(frame),
        raw=int((frame["p_value"] < alpha).sum()),
        holm=int((frame["p_holm"] < alpha).sum()),
        rw=int((frame["p_romano_wolf"] < alpha).sum()),
        boot=family.n_boot,
    )
    if family.left_out:
        items = ", ".join(outcome_name(o, language) for o in family.left_out)
        text += " " + msg("multiple_left_out", params, language, items=items)
    return text


# -- specification chart ---------------------------------------------------------------------


def _choice_text(key: str, value: str, params: Params, language: Language) -> str:
    label = msg(f"spec.{key}", params, language)
    if value.startswith("without:"):
        text = msg("spec.without", params, language, district=value.split(":", 1)[1])
    else:
        text = msg(f"spec.{key}_{value}", params, language)
    return f"{label}={text}"


def specification_frame(
    specs: ar.Specifications, params: Params, language: Language
) -> pd.DataFrame:
    """One row per specification for the chart: choices in words, ``group`` the method."""
    frame = specs.frame()
    frame["specification"] = [
        "; ".join(_choice_text(k, v, params, language) for k, v in choices.items())
        for choices in specs.choices
    ]
    frame["group"] = [
        msg(f"spec.estimator_{choices['estimator']}", params, language) for choices in specs.choices
    ]
    return frame


def spec_intro(specs: ar.Specifications, outcome: str, params: Params, language: Language) -> str:
    frame = specs.frame()
    return msg(
        "spec_intro",
        params,
        language,
        outcome=outcome_label(outcome, language),
        checked=int(frame["size_checked"].sum()),
        n=len(frame),
    )


def specification_reading(
    spec: pd.DataFrame, outcome: str, params: Params, language: Language
) -> str:
    clear = int((spec["p_value"] < params.analysis.alpha).sum())
    same_sign = int((np.sign(spec["estimate"]) == np.sign(spec["estimate"].median())).sum())
    return msg(
        "spec_result",
        params,
        language,
        n=len(spec),
        low=format_effect(outcome, float(spec["estimate"].min()), language),
        high=format_effect(outcome, float(spec["estimate"].max()), language),
        clear=clear,
        same_sign=same_sign,
    )


# -- the whole page --------------------------------------------------------------------------


def final_reading(checks: ar.Robustness, params: Params, language: Language) -> str:
    """The plain-language reading of the whole page (only the checks that ran)."""
    base = checks.base
    outcome = checks.outcome
    parts = [
        msg(
            f"final_{checks.verdict()}",
            params,
            language,
            outcome=outcome_label(outcome, language),
            effect=format_effect(outcome, base.estimate, language),
        )
    ]
    if applies(checks.pretrends):
        parts.append(pretrend_reading(checks.pretrends, params, language))
    if applies(checks.sensitivity):
        parts.append(sensitivity_reading(checks.sensitivity, outcome, params, language))
    if applies(checks.fake_start):
        parts.append(placebo_reading(checks.fake_start, params, language))
    if applies(checks.specifications):
        frame = checks.specifications.frame()
        parts.append(specification_reading(frame, outcome, params, language))
    return " ".join(parts)


def finding(checks: ar.Robustness, params: Params, language: Language) -> str:
    """The page's one-line finding for the index."""
    verdict = checks.verdict()
    if verdict == "unchecked" or not applies(checks.specifications):
        return msg("finding_unchecked", params, language)
    frame = checks.specifications.frame()
    text = msg(
        f"finding_{verdict}",
        params,
        language,
        n=len(frame),
        low=format_effect(checks.outcome, float(frame["estimate"].min()), language),
        high=format_effect(checks.outcome, float(frame["estimate"].max()), language),
    )
    if applies(checks.sensitivity):
        mbar = _bound_text(checks.sensitivity.breakdown_rm, language, 2)
        text += " " + msg("finding_breakdown", params, language, mbar=mbar)
    return text


def relevant(result: object) -> bool:
    """Whether a section belongs on this page: False for Hà Nam-only checks on a generic panel
    (their NotApplicable would only say the data are not Hà Nam's)."""
    return applies(result) or getattr(result, "reason", "") != "hanam_contract"


# -- pre-trend power and synthetic DiD -------------------------------------------------------


def pretrend_power_reading(trends: ar.PreTrends, params: Params, language: Language) -> str:
    """How large a trend the pre-start test would notice (Roth 2022), in one plain sentence."""
    text = trend_power_text(
        trends.power, trends.study.outcome, params, language, key="robustness_page.pretrend_power"
    )
    return text or msg("pretrend_power_none", params, language)


def synthetic_did_rows(
    estimate: EffectEstimate, params: Params, language: Language
) -> pd.DataFrame:
    """The synthetic DiD row (its interval is withheld: the placebo SE is not size-checked)."""
    return checks_display([(msg("check_sdid", params, language), estimate)], params, language)


def synthetic_did_reading(
    estimate: EffectEstimate, base: EffectEstimate | object, params: Params, language: Language
) -> str:
    """The synthetic DiD estimate beside the headline, with its placebo p-value labelled unchecked."""
    outcome = estimate.outcome
    out = msg(
        "sdid_reading",
        params,
        language,
        effect=format_effect(outcome, estimate.estimate, language),
        p=p_text(estimate.p_value, language),
        controls=format_number(
            estimate.diagnostics.get("effective_controls", math.nan), language, 1
        ),
        draws=int(estimate.diagnostics.get("placebo_draws", 0)),
    )
    if applies(base):
        out += " " + msg(
            "sdid_base", params, language, base=format_effect(outcome, base.estimate, language)
        )
    return out + " " + msg("sdid_unchecked", params, language)
