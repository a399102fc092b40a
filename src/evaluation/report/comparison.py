"""The comparison page (``02_comparison``): who the pilot communes are, and a weighted comparison.

The pilot communes were chosen, not drawn by lot. This module answers, from the prepared data:

* how pilot and non-pilot communes differed at baseline (means, standardised differences,
  variance ratios, p-values, a joint test: :func:`~evaluation.estimators.balance.balance_table`);
* how likely each commune was to be chosen given its baseline characteristics (a logit
  propensity score), which communes have comparable counterparts (overlap trimming), and
  inverse-probability (ATT) weights that make the non-pilot communes resemble the pilots;
* the pilot effect re-estimated with those weights (``twfe_commune_wave_ipw``).

Defaults (documented here because ``params`` has no keys for them yet):

* propensity covariates: every baseline characteristic of the balance table, so the weights
  target exactly the differences the table shows. With 14 pilots that is about two pilots per
  coefficient: the fit is checked (convergence, no score at 0 or 1) and, if it fails, the
  smaller set ``params.analysis.baseline_covariates`` (the doubly robust estimator's) is used
  and named on the page. The effective number of comparison communes is reported because an
  over-fitted model concentrates the weights on few communes.
* trimming: ``analysis.trim_rule`` (default Crump, Hotz, Imbens & Mitnik 2009), with
  ``analysis.trim_bounds`` used only by the ``"fixed"`` rule; ``analysis.propensity_covariates``
  (null = every measured baseline characteristic).
* balance p-values: one row per commune, so each commune is its own cluster (a
  heteroskedasticity-robust test with a t reference on G - 1 degrees of freedom); household
  characteristics (one row per ballot) are clustered by commune.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from evaluation.config import Params
from evaluation.estimators.balance import balance_table
from evaluation.estimators.propensity import (
    PropensityResult,
    ipw_weights,
    overlap_trim,
    propensity_scores,
)
from evaluation.estimators.result import EffectEstimate
from evaluation.estimators.twfe import twfe
from evaluation.i18n import Language, format_number, format_p_value, format_percent, t
from evaluation.prepare import Prepared
from evaluation.report.effects import BALLOT_LEVEL, format_effect, outcome_label, window_panel

#: Baseline commune characteristics compared on the page (those present are used).
BASELINE_CHARACTERISTICS: tuple[str, ...] = (
    "baseline_index",
    "baseline_pct_satisfied",
    "one_stop_staff_per_1000",
    "pct_condolence_on_time",
    "pct_dossiers_on_time",
    "baseline_coverage",
    "urban",
    "baseline_ballots",
)
#: Household characteristics compared on baseline ballots (those present are used).
HOUSEHOLD_CHARACTERISTICS: tuple[str, ...] = ("respondent_female",)
#: Characteristics shown as percentages.
SHARE_CHARACTERISTICS: frozenset[str] = frozenset(
    {
        "baseline_pct_satisfied",
        "pct_condolence_on_time",
        "pct_dossiers_on_time",
        "baseline_coverage",
        "urban",
        "respondent_female",
    }
)
#: |SMD| above which a difference is worth naming (Stuart 2010; cobalt's default threshold).
SMD_THRESHOLD = 0.1
#: |SMD| above which a difference is large (Rubin 2001; What Works Clearinghouse 0.25).
SMD_LARGE = 0.25
#: Column names of the saved commune weights table (``tables/comparison_weights.csv``).
WEIGHTS_COLUMNS = ["commune_code", "pilot", "propensity", "keep", "ipw_weight"]


# -- the baseline frame ----------------------------------------------------------------------


def baseline_frame(prepared: Prepared) -> pd.DataFrame:
    """One row per commune at baseline with a 0/1 ``pilot`` column (mixed merged units dropped).

    Communes the comparison window leaves out (``drop_mixed``) are left out here too.
    """
    base = prepared.baseline.copy()
    base["commune_code"] = base["commune_code"].astype(str)
    if "drop_mixed" in prepared.communes:
        dropped = prepared.communes.loc[
            prepared.communes["drop_mixed"].fillna(False).astype(bool), "commune_code"
        ].astype(str)
        base = base[~base["commune_code"].isin(set(dropped))]
    base["pilot"] = base["pilot"].astype(bool).astype(int)
    for col in base.columns:
        if col in BASELINE_CHARACTERISTICS:
            base[col] = pd.to_numeric(base[col], errors="coerce").astype(float)
    return base.reset_index(drop=True)


def characteristics(prepared: Prepared) -> list[str]:
    """The baseline characteristics present, numeric and not constant across communes."""
    base = baseline_frame(prepared)
    return [
        c
        for c in BASELINE_CHARACTERISTICS
        if c in base and base[c].notna().sum() > 2 and base[c].nunique(dropna=True) > 1
    ]


def balance(prepared: Prepared, weights: pd.DataFrame | None = None) -> pd.DataFrame:
    """Baseline balance of pilot vs non-pilot communes (before weighting, or with ``weights``).

    Parameters
    ----------
    prepared : Prepared
    weights : pandas.DataFrame, optional
        The commune weights table of :func:`comparison_weights` (``commune_code``,
        ``ipw_weight``); trimmed communes (weight 0) are left out.

    Returns
    -------
    pandas.DataFrame
        :func:`~evaluation.estimators.balance.balance_table` output (``attrs`` hold the joint test).
    """
    base = baseline_frame(prepared)
    column = None
    if weights is not None:
        base = with_comparison_weights(base, weights)
        column = "ipw_weight"
    return balance_table(
        base, "pilot", characteristics(prepared), cluster="commune_code", weights=column
    )


def household_balance(prepared: Prepared) -> pd.DataFrame | None:
    """Balance of household characteristics on baseline ballots, clustered by commune.

    Returns None when the ballots carry none of :data:`HOUSEHOLD_CHARACTERISTICS`.
    """
    if not prepared.has_ballots:
        return None
    ballots = prepared.in_window(prepared.ballots)
    ballots = ballots[ballots["wave_index"] < prepared.meta["pilot_wave"]]
    present = [
        c for c in HOUSEHOLD_CHARACTERISTICS if c in ballots and ballots[c].notna().sum() > 2
    ]
    if not present:
        return None
    frame = pd.DataFrame(
        {
            "pilot": ballots["pilot"].astype(bool).astype(int).to_numpy(),
            "commune_code": ballots["commune_code"].astype(str).to_numpy(),
            **{c: pd.to_numeric(ballots[c], errors="coerce").to_numpy(float) for c in present},
        }
    )
    return balance_table(frame, "pilot", present, cluster="commune_code")


# -- propensity scores and weights -----------------------------------------------------------


def propensity_covariates(params: Params, prepared: Prepared) -> list[str]:
    """Covariates of the selection model: params key if present, else every characteristic."""
    wanted = params.analysis.propensity_covariates or characteristics(prepared)
    base = baseline_frame(prepared)
    chosen = [c for c in wanted if c in base and base[c].nunique(dropna=True) > 1]
    if not chosen:
        raise ValueError(
            f"propensity covariates {wanted} name no usable baseline column; "
            f"choose among {characteristics(prepared)}"
        )
    return chosen


def _fallback_covariates(params: Params, prepared: Prepared) -> list[str]:
    base = baseline_frame(prepared)
    return [
        c
        for c in params.analysis.baseline_covariates
        if c in base and base[c].nunique(dropna=True) > 1
    ]


def trim_settings(params: Params) -> tuple[str, tuple[float, float]]:
    """The trimming rule and bounds from params (``analysis.trim_rule``, ``analysis.trim_bounds``)."""
    low, high = params.analysis.trim_bounds
    return params.analysis.trim_rule, (float(low), float(high))


def _usable(fitted: PropensityResult) -> bool:
    scores = fitted.scores.to_numpy(float)
    return fitted.converged and bool(np.all((scores > 1e-6) & (scores < 1 - 1e-6)))


def propensity(prepared: Prepared, params: Params) -> PropensityResult:
    """Logit of pilot status on baseline characteristics (one row per commune).

    Falls back to ``params.analysis.baseline_covariates`` when the full model does not converge
    or separates the groups (a score at 0 or 1); ``PropensityResult.covariates`` says which.
    """
    base = baseline_frame(prepared).set_index("commune_code")
    try:
        fitted = propensity_scores(base, "pilot", propensity_covariates(params, prepared))
        if _usable(fitted):
            return fitted
    except (np.linalg.LinAlgError, PerfectSeparationError):  # singular design or separation
        pass
    fallback = _fallback_covariates(params, prepared)
    if not fallback:
        raise ValueError(
            "the propensity model on every baseline characteristic failed and "
            "analysis.baseline_covariates names no usable column; list fewer covariates there"
        )
    return propensity_scores(base, "pilot", fallback)


def comparison_weights(prepared: Prepared, params: Params) -> pd.DataFrame:
    """The commune-level weights table saved as ``tables/comparison_weights.csv``.

    Columns :data:`WEIGHTS_COLUMNS`: the propensity score, whether the commune is inside the
    common support (``keep``) and its ATT inverse-probability weight (pilots 1, non-pilots
    ``e / (1 - e)`` rescaled to sum to the number of pilots kept; 0 when trimmed). Join it to
    any commune-wave or ballot frame with :func:`with_comparison_weights`. ``attrs`` hold the
    rule, bounds, covariates and counts.
    """
    fitted = propensity(prepared, params)
    rule, bounds = trim_settings(params)
    keep = overlap_trim(fitted.scores, rule=rule, bounds=bounds)  # type: ignore[arg-type]
    kept = fitted.scores[keep]
    weights = ipw_weights(kept, fitted.group.loc[kept.index], estimand="ATT")
    table = pd.DataFrame(
        {
            "commune_code": fitted.scores.index.astype(str),
            "pilot": fitted.group.to_numpy(int),
            "propensity": fitted.scores.to_numpy(float),
            "keep": keep.to_numpy(bool),
            "ipw_weight": weights.reindex(fitted.scores.index).fillna(0.0).to_numpy(float),
        },
        columns=WEIGHTS_COLUMNS,
    )
    comparison = table[(table["pilot"] == 0) & table["keep"]]["ipw_weight"]
    table.attrs.update(
        {
            "rule": rule,
            "lower": keep.attrs["lower"],
            "upper": keep.attrs["upper"],
            "n_dropped": keep.attrs["n_dropped"],
            "n_pilot_dropped": int(((~table["keep"]) & (table["pilot"] == 1)).sum()),
            "covariates": list(fitted.covariates),
            "converged": fitted.converged,
            "effective_comparison": effective_sample_size(comparison),
            "n_comparison_kept": int(len(comparison)),
        }
    )
    return table


def overlap_inputs(weights: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Scores, pilot indicator and keep mask (with its bounds in ``attrs``) for the overlap plot."""
    table = weights.set_index("commune_code")
    keep = table["keep"].astype(bool)
    keep.attrs.update({k: weights.attrs[k] for k in ("rule", "lower", "upper", "n_dropped")})
    return table["propensity"], table["pilot"], keep


def effective_sample_size(weights: pd.Series | np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``."""
    w = np.asarray(weights, float)
    return float(w.sum() ** 2 / np.sum(w**2)) if np.sum(w**2) > 0 else float("nan")


def with_comparison_weights(frame: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with an ``ipw_weight`` column joined by ``commune_code`` (0 = not compared).

    Works for the commune table, the commune-wave panel and the ballots alike, so any effects
    estimator can take ``weights="ipw_weight"`` (times ballots, for commune-wave means).
    """
    for name, table in (("frame", frame), ("weights", weights)):
        if "commune_code" not in table:
            raise ValueError(f"{name} needs a commune_code column to join the comparison weights.")
    if "ipw_weight" not in weights:
        raise ValueError("weights needs an ipw_weight column (see comparison_weights).")
    lookup = weights.assign(commune_code=weights["commune_code"].astype(str)).set_index(
        "commune_code"
    )["ipw_weight"]
    out = frame.copy()
    out["ipw_weight"] = out["commune_code"].astype(str).map(lookup).fillna(0.0).astype(float)
    return out


def ipw_twfe(
    prepared: Prepared, params: Params, weights: pd.DataFrame, outcome: str
) -> EffectEstimate:
    """TWFE on commune-wave means weighted by ballots x ATT weights, trimmed communes left out.

    Estimator name ``twfe_commune_wave_ipw``. The standard errors treat the weights as known
    (the propensity model's own uncertainty is not propagated), as is usual for weighted TWFE.
    """
    frame = with_comparison_weights(window_panel(prepared), weights)
    frame = frame[frame["ipw_weight"] > 0].copy()
    ballots = (outcome in BALLOT_LEVEL or outcome.startswith("factor_")) and "n_ballots" in frame
    frame["_w"] = frame["ipw_weight"] * (frame["n_ballots"] if ballots else 1.0)
    estimate = twfe(
        frame,
        outcome,
        "treated",
        unit="commune_code",
        time="wave_index",
        cluster="commune_code",
        weights="_w",
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
        estimator="twfe_commune_wave_ipw",
    )
    note = (
        "weights: ATT inverse-probability weights of the baseline propensity score"
        + (" x ballots returned" if ballots else "")
        + "; communes outside the common support left out; weights treated as known"
    )
    return replace(estimate, inference=f"{estimate.inference}; {note}")


# -- what the reader sees --------------------------------------------------------------------


def characteristic_label(name: str, language: Language) -> str:
    """The reader's name of a baseline characteristic."""
    try:
        return t(f"comparison.characteristics.{name}", language)
    except KeyError:
        return name


def _value(name: str, value: float, language: Language) -> str:
    if name in SHARE_CHARACTERISTICS:
        return format_percent(value, language)
    return format_number(value, language, 2)


def balance_display(table: pd.DataFrame, language: Language) -> pd.DataFrame:
    """A balance table laid out for reading (labels, formatted numbers, translated headers)."""
    rows = []
    for r in table.itertuples(index=False):
        rows.append(
            {
                t("comparison.col_characteristic", language): characteristic_label(
                    r.covariate, language
                ),
                t("comparison.col_pilot", language): _value(r.covariate, r.mean_pilot, language),
                t("comparison.col_comparison", language): _value(
                    r.covariate, r.mean_comparison, language
                ),
                t("comparison.col_smd", language): format_number(r.smd, language, 2),
                t("comparison.col_variance_ratio", language): format_number(
                    r.variance_ratio, language, 2
                ),
                t("comparison.col_p", language): format_p_value(r.p_value, language),
            }
        )
    return pd.DataFrame(rows)


def differences(table: pd.DataFrame, threshold: float = SMD_THRESHOLD) -> pd.DataFrame:
    """Rows of a balance table whose |SMD| exceeds ``threshold``, largest first."""
    big = table[table["smd"].abs() > threshold]
    return big.assign(_a=big["smd"].abs()).sort_values("_a", ascending=False).drop(columns="_a")


def p_text(p: float, language: Language) -> str:
    """``= 0,023`` or ``< 0,001``, to follow a ``p`` (no sentence reads ``p = < 0,001``)."""
    text = format_p_value(p, language)
    return text if text.startswith("<") else f"= {text}"


def mid_sentence(label: str) -> str:
    """A label placed inside a sentence: first letter lower-cased unless it starts an acronym."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


#: How many differences the verdict names (the table shows them all).
MAX_NAMED = 4


def _difference_list(table: pd.DataFrame, language: Language) -> str:
    parts = []
    found = differences(table)
    for r in found.head(MAX_NAMED).itertuples(index=False):
        key = "comparison.higher" if r.smd > 0 else "comparison.lower"
        parts.append(
            t(
                key,
                language,
                characteristic=mid_sentence(characteristic_label(r.covariate, language)),
                pilot=_value(r.covariate, r.mean_pilot, language),
                comparison=_value(r.covariate, r.mean_comparison, language),
                smd=format_number(r.smd, language, 2),
            )
        )
    if len(found) > MAX_NAMED:
        parts.append(t("comparison.and_more", language, n=len(found) - MAX_NAMED))
    return "; ".join(parts)


def verdict(before: pd.DataFrame, language: Language) -> str:
    """The plain answer first: how the pilots differed and what that means for the comparison."""
    n_pilot = int(before["n_pilot"].max())
    n_comparison = int(before["n_comparison"].max())
    joint_p = before.attrs.get("joint_p_value", float("nan"))
    found = differences(before)
    if found.empty:
        text = t("comparison.verdict_similar", language, pilots=n_pilot, others=n_comparison)
    else:
        large = bool((found["smd"].abs() > SMD_LARGE).any())
        text = t(
            "comparison.verdict_different_large" if large else "comparison.verdict_different",
            language,
            pilots=n_pilot,
            others=n_comparison,
            differences=_difference_list(before, language),
        )
    joint = t(
        "comparison.verdict_joint_reject" if joint_p < 0.05 else "comparison.verdict_joint_ok",
        language,
        p=p_text(joint_p, language),
    )
    return f"{text} {joint} {t('comparison.verdict_meaning', language)}"


def conventions(table: pd.DataFrame, language: Language) -> str:
    """The note printed under a balance table: SMD convention, p-values, joint test."""
    joint = t(
        "robustness.balance.joint_test",
        language,
        f=format_number(table.attrs.get("joint_f", float("nan")), language, 2),
        p=format_p_value(table.attrs.get("joint_p_value", float("nan")), language),
    )
    return " ".join(
        [
            t("robustness.balance.smd_convention", language),
            t("comparison.p_value_note", language),
            joint,
        ]
    )


def overlap_reading(weights: pd.DataFrame, language: Language) -> str:
    """What the propensity scores and the trimming rule did."""
    attrs = weights.attrs
    pilots = weights[weights["pilot"] == 1]["propensity"]
    others = weights[weights["pilot"] == 0]["propensity"]
    return t(
        "comparison.overlap_reading",
        language,
        covariates=", ".join(characteristic_label(c, language) for c in attrs["covariates"]),
        pilot_median=format_percent(float(pilots.median()), language),
        other_median=format_percent(float(others.median()), language),
        rule=t(f"comparison.trim_rule_{attrs['rule']}", language),
        lower=format_number(attrs["lower"], language, 3),
        upper=format_number(attrs["upper"], language, 3),
        dropped=attrs["n_dropped"],
        pilots_dropped=attrs["n_pilot_dropped"],
    )


def weighting_reading(
    before: pd.DataFrame, after: pd.DataFrame, weights: pd.DataFrame, language: Language
) -> str:
    """How far the weights closed the gaps (largest |SMD| before and after, effective size)."""
    worst_before = before.loc[before["smd"].abs().idxmax()]
    worst_after = after.loc[after["smd"].abs().idxmax()]
    key = (
        "comparison.weighting_balanced"
        if abs(worst_after["smd"]) <= SMD_THRESHOLD
        else "comparison.weighting_unbalanced"
    )
    return t(
        key,
        language,
        before=format_number(abs(worst_before["smd"]), language, 2),
        before_name=characteristic_label(worst_before["covariate"], language),
        after=format_number(abs(worst_after["smd"]), language, 2),
        after_name=characteristic_label(worst_after["covariate"], language),
        ess=format_number(weights.attrs["effective_comparison"], language, 1),
        kept=weights.attrs["n_comparison_kept"],
        threshold=format_number(SMD_THRESHOLD, language, 1),
    )


def effect_reading(
    plain: EffectEstimate, weighted: EffectEstimate, robust: EffectEstimate, language: Language
) -> str:
    """Does weighting (or the doubly robust estimator) change the answer?"""
    gap = abs(weighted.estimate - plain.estimate)
    key = "comparison.effect_same" if gap <= plain.std_error else "comparison.effect_moved"
    return t(
        key,
        language,
        outcome=outcome_label(plain.outcome, language),
        plain=format_effect(plain.outcome, plain.estimate, language),
        weighted=format_effect(plain.outcome, weighted.estimate, language),
        robust=format_effect(plain.outcome, robust.estimate, language),
        se=format_effect(plain.outcome, plain.std_error, language),
    )


def page_results(
    before: pd.DataFrame,
    after: pd.DataFrame,
    weights: pd.DataFrame,
    plain: EffectEstimate,
    weighted: EffectEstimate,
) -> dict:
    """The page's key numbers for ``results.json`` (JSON-serialisable)."""
    return {
        "joint_p_value": float(before.attrs.get("joint_p_value", float("nan"))),
        "joint_p_value_weighted": float(after.attrs.get("joint_p_value", float("nan"))),
        "max_abs_smd": float(before["smd"].abs().max()),
        "max_abs_smd_weighted": float(after["smd"].abs().max()),
        "imbalanced": differences(before)["covariate"].tolist(),
        "smd": {r.covariate: float(r.smd) for r in before.itertuples(index=False)},
        "trim_rule": weights.attrs["rule"],
        "trim_bounds": [float(weights.attrs["lower"]), float(weights.attrs["upper"])],
        "n_trimmed": int(weights.attrs["n_dropped"]),
        "n_pilot_trimmed": int(weights.attrs["n_pilot_dropped"]),
        "effective_comparison": float(weights.attrs["effective_comparison"]),
        "propensity_covariates": list(weights.attrs["covariates"]),
        "outcome": plain.outcome,
        "twfe_commune_wave": plain.estimate,
        "twfe_commune_wave_ipw": weighted.estimate,
        "twfe_commune_wave_ipw_conf_int": list(weighted.conf_int),
    }


def love_labels(names: Sequence[str], language: Language) -> dict[str, str]:
    """Reader labels of characteristics for the love plot."""
    return {n: characteristic_label(n, language) for n in names}


def finding(
    before: pd.DataFrame, plain: EffectEstimate, weighted: EffectEstimate, language: Language
) -> str:
    """The page's one-line finding for the run's index page."""
    worst = before.loc[before["smd"].abs().idxmax()]
    values = {
        "smd": format_number(float(worst["smd"]), language, 2),
        "name": characteristic_label(str(worst["covariate"]), language),
        "weighted": format_effect(plain.outcome, weighted.estimate, language),
        "plain": format_effect(plain.outcome, plain.estimate, language),
    }
    similar = abs(float(worst["smd"])) <= SMD_THRESHOLD
    return t("comparison.finding_similar" if similar else "comparison.finding", language, **values)
