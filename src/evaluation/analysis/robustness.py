"""Does the answer hold? The robustness checks of page 04, on any data shape.

Every check re-estimates the headline effect (``analysis.headline_outcome``) on unit-period
rows of the comparison window, with the sample, weights, clusters and strata of
:mod:`evaluation.analysis.sample`. The checks:

* the event study's pre-start coefficients and their joint test (:func:`pretrends`), with as
  many leads and lags as the data fill without a gap (at most ``analysis.event_leads`` /
  ``event_lags``; the window used is reported);
* Rambachan and Roth (2023) sensitivity of the average post-start effect to violations of
  parallel trends (:func:`honest_did`): relative magnitudes (:data:`MBAR_GRID`) and smoothness
  (:data:`M_GRID_SE` times the SE of the average), with breakdown values;
* placebos: a fake start :data:`FAKE_SHIFT` periods early on pre-start periods only
  (:func:`fake_start`), and outcomes the programme cannot move (:func:`placebo_outcomes`);
* leave one stratum (district) out (:func:`leave_one_out`) and, on Hà Nam's map, leave out the
  communes touched by the 2020 map change (:func:`unchanged_map`);
* mean score against share satisfied (:func:`functional_form`, Roth and Sant'Anna 2023);
* Holm and Romano-Wolf adjusted p-values across an outcome family (:func:`multiple_outcomes`);
* the headline effect across all these choices (:func:`specifications`).

The trust rule. Two-way fixed-effects checks are judged by CR2 (Bell-McCaffrey) and the size of
CR2 is *measured on each check's own design* (:func:`checked_fit`: placebo re-assignments of the
treated units within strata, ``inference.size_sims`` of them). An estimate's
``diagnostics["size_checked"]`` is 1 only when that rejection rate lies in
``inference.size_band``; pages show intervals only then. Event-study, HonestDiD, doubly robust
and outcome-family intervals have no size measured here (``size_checked`` 0).

Every analysis returns a frozen result or a :class:`~evaluation.analysis.base.NotApplicable`
naming what the data lack (sentences in ``messages/*/robustness_page.yaml`` under
``requirements``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.analysis import sample
from evaluation.analysis.base import NotApplicable, analysis, applies
from evaluation.analysis.effects import (
    before_after_drdid,
    chosen_outcome,
    event_study_power,
    window_event_study,
)
from evaluation.analysis.requirements import (
    BALLOTS,
    BALLOTS_BEFORE_AND_AFTER,
    BALLOTS_BOTH_GROUPS,
    DID_DESIGN,
    HANAM_CONTRACT,
    Requirement,
    outcome_present,
)
from evaluation.config import Params
from evaluation.estimators.event_study import contiguous_event_window, event_average
from evaluation.estimators.fixed_effects import absorb
from evaluation.estimators.result import TIDY_COLUMNS, EffectEstimate, term_frame
from evaluation.estimators.synthetic_did import synthetic_did
from evaluation.inference.cluster_robust import cr2
from evaluation.inference.honest_did import (
    EventStudyCoefficients,
    breakdown_value,
    event_study_coefficients,
    sensitivity_rm,
    sensitivity_sd,
)
from evaluation.inference.multiple_testing import demeaned_bootstrap_t, multiple_testing_frame
from evaluation.inference.pretrend_power import PretrendPower
from evaluation.inference.trust import measure_size
from evaluation.prepare import Prepared

PAGE = "04_robustness"
#: Relative-magnitude bounds Mbar tried (1 = post-start violations as large as the largest
#: pre-start one).
MBAR_GRID: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
#: Smoothness bounds M tried, in multiples of the standard error of the target ``theta``.
M_GRID_SE: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0)
#: Periods by which the placebo start precedes the real one (a year of Hà Nam's quarters);
#: fewer when the data have fewer periods before the start (the shift used is reported).
FAKE_SHIFT = 4
#: Household characteristics the model cannot change (placebo outcomes), where present.
PLACEBO_OUTCOMES: tuple[str, ...] = ("respondent_female",)
#: Administrative outcomes in Hà Nam's multiple-testing family, where present.
ADMIN_FAMILY: tuple[str, ...] = (
    "pct_dossiers_on_time",
    "pct_condolence_on_time",
    "complaints_per_1000",
    "apology_per_100_dossiers",
)
#: Outcomes compared for the functional form (mean score against share satisfied).
FORM_OUTCOMES: tuple[str, ...] = ("satisfaction_index", "pct_satisfied")
#: Columns of :attr:`Specifications.frame`.
SPECIFICATION_COLUMNS = [
    "specification",
    "estimate",
    "conf_low",
    "conf_high",
    "p_value",
    "size_checked",
    "estimator",
    "outcome",
]

#: A trend needs two points: the pre-start test and HonestDiD need two periods before the start.
TREND_PERIODS = Requirement(
    "robustness_trend_periods",
    lambda f: None if f.n_pre_periods >= 2 else {"need": 2, "have": f.n_pre_periods},
)
#: A fake start needs a period before it and one after it, both before the real start.
FAKE_PERIODS = Requirement(
    "robustness_fake_periods",
    lambda f: None if f.n_pre_periods >= 2 else {"need": 2, "have": f.n_pre_periods},
)


def headline(prepared: Prepared, params: Params) -> str:
    """The outcome every check re-estimates: the one page 03's headline is estimated on."""
    return chosen_outcome(prepared, params)


def _requires(*more: Requirement) -> tuple[Requirement, ...]:
    return (*DID_DESIGN, *more)


def _not_applicable(name: str, prepared: Prepared, reason: str, **facts: object) -> NotApplicable:
    contract = "panel" if sample.is_panel(prepared) else "hanam"
    return NotApplicable(name, reason, {"contract": contract, **facts})


# -- one checked fit ------------------------------------------------------------------------


def checked_fit(
    frame: pd.DataFrame,
    prepared: Prepared,
    params: Params,
    outcome: str,
    estimator: str,
    treatment: str = "treated",
    weights: str | None = None,
) -> EffectEstimate:
    """Two-way fixed effects (unit, period) judged by CR2, with CR2's size measured on this design.

    The estimate, CR2 standard error, Bell-McCaffrey degrees of freedom, interval and p-value come
    from :func:`~evaluation.inference.cluster_robust.cr2` (clusters and strata from
    :mod:`~evaluation.analysis.sample`). CR2's rejection rate at ``analysis.alpha`` is then
    measured by :func:`~evaluation.inference.trust.measure_size` on the same rows (placebo
    re-assignments of the treated units within strata, ``inference.size_sims`` of them):
    ``diagnostics["cr2_size"]`` holds it and ``diagnostics["size_checked"]`` is 1 when it lies
    in ``inference.size_band`` (0 when outside or when it could not be measured).

    Raises
    ------
    ValueError
        When the rows cannot identify the effect (no treated or no comparison row with the
        outcome, no variation left after the fixed effects).
    """
    cluster = sample.cluster_column(prepared, params)
    strata = sample.strata_column(prepared, params)
    used = [outcome, treatment, "commune_code", "wave_index", cluster]
    if weights is not None:
        used.append(weights)
    data = frame.dropna(subset=list(dict.fromkeys(used)))
    if weights is not None:
        data = data[data[weights] > 0]
    if strata is not None and strata in data:
        data = data[data[strata].notna()]
    else:
        strata = None
    if data.empty or data[treatment].nunique() < 2:
        raise ValueError(f"no variation in {treatment!r} among rows with {outcome!r}")
    alpha = params.analysis.alpha
    result = cr2(
        data, outcome, treatment, "commune_code", "wave_index", cluster, weights, alpha=alpha
    )
    if not (math.isfinite(result.estimate) and math.isfinite(result.std_error)):
        raise ValueError(f"CR2 could not estimate the effect on {outcome!r}")
    rate = math.nan
    try:
        size = measure_size(
            data,
            outcome,
            treatment,
            "commune_code",
            "wave_index",
            cluster=cluster,
            strata=strata,
            weights=weights,
            methods=("cr2_bm",),
            nulls=("placebo",),
            n_sims=params.inference.size_sims,
            seed=params.inference.seed,
            alpha=alpha,
        )
        rate = float(size["rejection_rate"].iloc[0])
    except (ValueError, np.linalg.LinAlgError):
        rate = math.nan  # size not measurable on this design: the interval stays unchecked
    low, high = params.inference.size_band
    checked = math.isfinite(rate) and low <= rate <= high
    measured = (
        f"CR2 size at alpha {alpha:g} measured on this design: {rate:.3f} "
        f"({params.inference.size_sims} placebo re-assignments"
        f"{' within ' + strata if strata else ''})"
        if math.isfinite(rate)
        else "CR2 size not measurable on this design"
    )
    return EffectEstimate(
        outcome=outcome,
        estimand="ATT",
        estimator=estimator,
        terms=term_frame(
            [treatment],
            [result.estimate],
            [result.std_error],
            [result.conf_low],
            [result.conf_high],
            [result.p_value],
        ),
        n_obs=int(result.n_obs),
        n_clusters=int(result.n_clusters),
        n_treated_clusters=int(result.n_treated_clusters),
        inference=f"{result.label()}; {measured}",
        diagnostics={"cr2_df": float(result.df), "cr2_size": rate, "size_checked": float(checked)},
    )


def is_checked(estimate: EffectEstimate) -> bool:
    """Whether the estimate's interval came from a method whose size was measured in the band."""
    return bool(estimate.diagnostics.get("size_checked", 0.0) == 1.0)


def effect_rows(estimates: Sequence[EffectEstimate]) -> pd.DataFrame:
    """``tables/effects.csv`` rows of several estimates with their ``size_checked`` flag."""
    frames = [
        e.tidy().assign(
            size_checked=is_checked(e), size_rate=e.diagnostics.get("cr2_size", float("nan"))
        )
        for e in estimates
    ]
    if not frames:
        return pd.DataFrame(columns=[*TIDY_COLUMNS, "size_checked"])
    return pd.concat(frames, ignore_index=True)


def _unit_period_fit(
    frame: pd.DataFrame, prepared: Prepared, params: Params, outcome: str, estimator: str
) -> EffectEstimate:
    return checked_fit(
        frame,
        prepared,
        params,
        outcome,
        estimator,
        weights=sample.panel_weight(prepared, params, outcome),
    )


@analysis("robustness.base", PAGE, requires=_requires())
def base_effect(prepared: Prepared, params: Params) -> EffectEstimate | NotApplicable:
    """The headline two-way fixed-effects estimate every check is compared with (CR2, size checked)."""
    outcome = headline(prepared, params)
    if outcome not in prepared.panel:
        return _not_applicable("robustness.base", prepared, "outcome_present", outcome=outcome)
    try:
        return _unit_period_fit(
            sample.window_panel(prepared), prepared, params, outcome, "twfe_commune_wave"
        )
    except ValueError:
        return _not_applicable("robustness.base", prepared, "robustness_fit_failed")


# -- pre-trends and HonestDiD ----------------------------------------------------------------


@dataclass(frozen=True)
class PreTrends:
    """The event study of the headline outcome and its joint pre-start test.

    Attributes
    ----------
    study : EffectEstimate
        Terms ``e-leads .. e-2, e+0 .. e+lags`` (reference ``e-1``), CRV1 by the cluster column.
    covariance : pandas.DataFrame
        Covariance of the terms (rows and columns in term order).
    leads, lags : int
        Event window used (``-leads .. lags``); ``leads_asked``/``lags_asked``: the window asked
        for (``analysis.event_leads``/``event_lags``). Fewer when the data have fewer periods.
    p_value, wald : float
        Joint Wald test that every lead is zero: p-value and F statistic on ``df`` leads.
    power : PretrendPower or None
        The power of that test against a linear differential trend (Roth 2022): the slopes
        (outcome units per period) it detects with 50% and 80% probability, and its power
        against the slope that would by itself produce the whole post-start average effect.
        None when it cannot be computed (a lead without variance).
    """

    study: EffectEstimate
    covariance: pd.DataFrame
    leads: int
    lags: int
    leads_asked: int
    lags_asked: int
    p_value: float
    wald: float
    df: int
    power: PretrendPower | None = None

    @property
    def narrowed(self) -> bool:
        """Whether fewer leads or lags were used than asked for."""
        return self.leads < self.leads_asked or self.lags < self.lags_asked


def _event_study(
    prepared: Prepared, params: Params, outcome: str, name: str
) -> tuple[EffectEstimate, int, int] | NotApplicable:
    frame = sample.window_panel(prepared)
    if outcome not in frame:
        return _not_applicable(name, prepared, "outcome_present", outcome=outcome)
    pilot_wave = prepared.meta["pilot_wave"]
    frame["first_treated_window"] = np.where(frame["pilot"] > 0, pilot_wave, np.nan)
    observed = frame[(frame["pilot"] > 0) & frame[outcome].notna()]
    # The data may hold periods (admin records) where this outcome was not measured: a trend
    # needs two periods *with the outcome* before the start.
    before = int(
        frame.loc[
            frame[outcome].notna() & (frame["wave_index"] < pilot_wave), "wave_index"
        ].nunique()
    )
    if before < 2:
        contract = "panel" if sample.is_panel(prepared) else "hanam"
        return NotApplicable(
            name, "robustness_trend_periods", {"contract": contract, "need": 2, "have": before}
        )
    leads, lags = contiguous_event_window(
        observed["wave_index"] - pilot_wave,
        params.analysis.event_leads,
        params.analysis.event_lags,
    )
    if leads < 2 or lags < 0:
        return _not_applicable(
            name, prepared, "robustness_event_gap", leads=max(leads, 0), lags=max(lags + 1, 0)
        )
    weights = sample.panel_weight(prepared, params, outcome)
    try:
        study = window_event_study(frame, outcome, weights, leads, lags, prepared, params)
    except (ValueError, np.linalg.LinAlgError):
        return _not_applicable(name, prepared, "robustness_fit_failed")
    if not math.isfinite(float(study.diagnostics.get("pretrend_p_value", math.nan))):
        return _not_applicable(name, prepared, "robustness_fit_failed")
    if name == "robustness.pretrends":
        power = event_study_power(frame, study, outcome, weights, leads, lags, prepared, params)
        study = replace(study, diagnostics={**study.diagnostics, "_power": power})
    return study, leads, lags


@analysis("robustness.pretrends", PAGE, requires=_requires(TREND_PERIODS))
def pretrends(prepared: Prepared, params: Params) -> PreTrends | NotApplicable:
    """Event study of the headline outcome with leads and lags the data fill; joint lead test."""
    found = _event_study(prepared, params, headline(prepared, params), "robustness.pretrends")
    if not applies(found):
        return found
    study, leads, lags = found
    names = [str(n) for n in study.terms.index]
    cov = study.model.cov_params().loc[names, names]
    diagnostics = dict(study.diagnostics)
    power = diagnostics.pop("_power", None)
    study = replace(study, diagnostics=diagnostics)
    return PreTrends(
        study=study,
        covariance=pd.DataFrame(np.asarray(cov, float), columns=names),
        leads=leads,
        lags=lags,
        leads_asked=params.analysis.event_leads,
        lags_asked=params.analysis.event_lags,
        p_value=float(study.diagnostics["pretrend_p_value"]),
        wald=float(study.diagnostics["pretrend_wald"]),
        df=int(study.diagnostics["pretrend_df"]),
        power=power,
    )


@dataclass(frozen=True)
class Sensitivity:
    """HonestDiD results for the average post-start effect ``theta``.

    Attributes
    ----------
    relative_magnitudes, smoothness : pandas.DataFrame
        :func:`~evaluation.inference.honest_did.sensitivity_rm` / ``sensitivity_sd`` frames
        (the first row is the original interval).
    breakdown_rm, breakdown_sd : float
        Smallest Mbar (M) at which the robust interval includes 0 (``inf``: none up to the cap).
    theta, theta_se : float
        The average of the post-start event-time coefficients and its standard error.
    num_pre, num_post : int
        Pre- and post-start coefficients used.
    average : EffectEstimate
        ``theta`` as an estimate (Wald interval, normal reference).
    """

    relative_magnitudes: pd.DataFrame
    smoothness: pd.DataFrame
    breakdown_rm: float
    breakdown_sd: float
    theta: float
    theta_se: float
    num_pre: int
    num_post: int
    average: EffectEstimate
    coefficients: EventStudyCoefficients | None = field(
        default=None, compare=False, metadata={"serialise": False}
    )


def coefficients(trends: PreTrends) -> EventStudyCoefficients:
    """HonestDiD input of the event study: ``betahat``, ``sigma``; target the post-start mean."""
    names = list(trends.covariance.columns)
    return event_study_coefficients(
        names,
        trends.study.terms.loc[names, "estimate"].to_numpy(float),
        trends.covariance.to_numpy(float),
    )


@analysis("robustness.honest_did", PAGE, requires=_requires(TREND_PERIODS))
def honest_did(
    prepared: Prepared, params: Params, trends: PreTrends | NotApplicable
) -> Sensitivity | NotApplicable:
    """Relative-magnitudes (C-LF) and smoothness (FLCI) sensitivity with breakdown values."""
    if not applies(trends):
        return NotApplicable("robustness.honest_did", trends.reason, trends.facts)
    es = coefficients(trends)
    args = (es.betahat, es.sigma, es.num_pre, es.num_post)
    alpha, seed = params.analysis.alpha, params.inference.seed
    rm = sensitivity_rm(*args, list(MBAR_GRID), l_vec=es.l_vec, alpha=alpha, seed=seed)
    sd = sensitivity_sd(*args, [m * es.theta_se for m in M_GRID_SE], l_vec=es.l_vec, alpha=alpha)
    return Sensitivity(
        relative_magnitudes=rm,
        smoothness=sd,
        breakdown_rm=breakdown_value(
            *args, "relative_magnitudes", l_vec=es.l_vec, alpha=alpha, seed=seed
        ),
        breakdown_sd=breakdown_value(*args, "smoothness", l_vec=es.l_vec, alpha=alpha),
        theta=es.theta_hat,
        theta_se=es.theta_se,
        num_pre=es.num_pre,
        num_post=es.num_post,
        average=event_average(trends.study, alpha),
        coefficients=es,
    )


def sensitivity_effects(trends: PreTrends, sensitivity: Sensitivity) -> pd.DataFrame:
    """HonestDiD robust intervals as effects.csv rows (one per bound; no p-value; not size-checked)."""
    study = trends.study
    rows = []
    for frame, name, bound in (
        (sensitivity.relative_magnitudes, "honest_did_relative_magnitudes", "Mbar"),
        (sensitivity.smoothness, "honest_did_smoothness", "M"),
    ):
        for r in frame[frame["method"] != "original"].itertuples(index=False):
            rows.append(
                {
                    "outcome": study.outcome,
                    "estimand": "ATT (mean of post-start event times)",
                    "estimator": name,
                    "term": f"{bound}={r.m:.6g}",
                    "estimate": sensitivity.theta,
                    "std_error": sensitivity.theta_se,
                    "conf_low": r.conf_low,
                    "conf_high": r.conf_high,
                    "p_value": float("nan"),
                    "n_obs": study.n_obs,
                    "n_clusters": study.n_clusters,
                    "n_treated_clusters": study.n_treated_clusters,
                    "inference": (
                        f"Rambachan-Roth {r.method} robust confidence set, {bound} = {r.m:.6g}, "
                        f"level {1 - r.alpha:.2f}; size not measured on this design"
                    ),
                    "size_checked": False,
                }
            )
    return pd.DataFrame(rows, columns=[*TIDY_COLUMNS, "size_checked"])


# -- placebos --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeStart:
    """The same design shifted earlier: treated units 'start' ``shift`` periods before the real
    start, on pre-start periods only (the true effect is zero by construction)."""

    estimate: EffectEstimate
    shift: int
    fake_start: int
    n_pre_periods: int


@analysis("robustness.fake_start", PAGE, requires=_requires(FAKE_PERIODS))
def fake_start(prepared: Prepared, params: Params) -> FakeStart | NotApplicable:
    """Pretend the start came :data:`FAKE_SHIFT` periods early (fewer if the data have fewer).

    The fake start is the ``shift``-th last period before the real start that has the outcome,
    so at least one period lies before it. Estimator ``placebo_fake_start_twfe_commune_wave``,
    judged by CR2 with its size measured on this shifted design (:func:`checked_fit`).
    """
    outcome = headline(prepared, params)
    pilot_wave = prepared.meta["pilot_wave"]
    frame = sample.window_panel(prepared)
    if outcome not in frame:
        return _not_applicable(
            "robustness.fake_start", prepared, "outcome_present", outcome=outcome
        )
    frame = frame[(frame["wave_index"] < pilot_wave) & frame[outcome].notna()].copy()
    waves = sorted(frame.loc[frame["pilot"] > 0, "wave_index"].unique())
    if len(waves) < 2:
        return _not_applicable(
            "robustness.fake_start", prepared, "robustness_fake_periods", need=2, have=len(waves)
        )
    used = int(min(FAKE_SHIFT, len(waves) - 1))
    fake = int(waves[len(waves) - used])
    frame["fake_treated"] = ((frame["pilot"] > 0) & (frame["wave_index"] >= fake)).astype(float)
    try:
        estimate = checked_fit(
            frame,
            prepared,
            params,
            outcome,
            "placebo_fake_start_twfe_commune_wave",
            treatment="fake_treated",
            weights=sample.panel_weight(prepared, params, outcome),
        )
    except (ValueError, np.linalg.LinAlgError):
        return _not_applicable("robustness.fake_start", prepared, "robustness_fit_failed")
    shift = int(pilot_wave - fake)
    estimate = replace(
        estimate,
        notes=(*estimate.notes, f"fake start {shift} periods before the real one, pre-start only"),
        diagnostics={**estimate.diagnostics, "fake_shift": float(shift), "fake_start": float(fake)},
    )
    return FakeStart(estimate=estimate, shift=shift, fake_start=fake, n_pre_periods=len(waves))


@dataclass(frozen=True)
class PlaceboOutcomes:
    """Characteristics the programme cannot change, each estimated like the headline."""

    estimates: tuple[EffectEstimate, ...]


def placebo_outcome_names(prepared: Prepared) -> list[str]:
    """Household characteristics on the ballots usable as placebo outcomes."""
    if prepared.ballots is None or not len(prepared.ballots):
        return []
    ballots = prepared.ballots
    return [
        c
        for c in PLACEBO_OUTCOMES
        if c in ballots and pd.to_numeric(ballots[c], errors="coerce").notna().sum() > 2
    ]


@analysis(
    "robustness.placebo_outcomes",
    PAGE,
    requires=_requires(BALLOTS, BALLOTS_BEFORE_AND_AFTER, BALLOTS_BOTH_GROUPS),
)
def placebo_outcomes(prepared: Prepared, params: Params) -> PlaceboOutcomes | NotApplicable:
    """Two-way fixed effects on unit-period shares of each placebo characteristic (weighted by
    the ballots answering it), judged by CR2 with its size measured (:func:`checked_fit`)."""
    names = placebo_outcome_names(prepared)
    if not names:
        return _not_applicable("robustness.placebo_outcomes", prepared, "robustness_placebo_none")
    ballots = sample.window_ballots(prepared)
    panel = sample.window_panel(prepared)
    out = []
    for name in names:
        values = ballots[["commune_code", "wave_index"]].assign(
            _v=pd.to_numeric(ballots[name], errors="coerce").astype(float)
        )
        cells = (
            values.dropna()
            .groupby(["commune_code", "wave_index"])["_v"]
            .agg(["mean", "size"])
            .rename(columns={"mean": name, "size": f"{name}_n"})
            .reset_index()
        )
        frame = panel.drop(columns=[name, f"{name}_n"], errors="ignore").merge(
            cells, on=["commune_code", "wave_index"], how="inner"
        )
        try:
            out.append(
                checked_fit(
                    frame,
                    prepared,
                    params,
                    name,
                    "placebo_outcome_twfe_commune_wave",
                    weights=f"{name}_n",
                )
            )
        except (ValueError, np.linalg.LinAlgError):
            continue
    if not out:
        return _not_applicable("robustness.placebo_outcomes", prepared, "robustness_fit_failed")
    return PlaceboOutcomes(estimates=tuple(out))


# -- other samples ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaveOneOut:
    """The headline estimate without each stratum (district) in turn.

    Attributes
    ----------
    strata : str
        The strata column (``inference.strata`` / ``data.panel.strata``).
    dropped : tuple of str
        The stratum left out of each estimate, in order.
    estimates : tuple of EffectEstimate
        ``twfe_commune_wave_without_district[X]``, CR2 with size measured.
    skipped : tuple of str
        Strata whose removal leaves no treated or no comparison unit (not estimated).
    """

    strata: str
    dropped: tuple[str, ...]
    estimates: tuple[EffectEstimate, ...]
    skipped: tuple[str, ...]

    @property
    def range(self) -> tuple[float, float]:
        values = [e.estimate for e in self.estimates]
        return float(min(values)), float(max(values))


@analysis("robustness.leave_one_out", PAGE, requires=_requires())
def leave_one_out(prepared: Prepared, params: Params) -> LeaveOneOut | NotApplicable:
    """The headline estimate without each stratum in turn (strata from :mod:`~.sample`).

    NotApplicable when the data have no strata column or fewer than two strata, or when
    leaving out any stratum leaves no treated or no comparison unit.
    """
    name = "robustness.leave_one_out"
    outcome = headline(prepared, params)
    strata = sample.strata_column(prepared, params)
    frame = sample.window_panel(prepared)
    if strata is None or strata not in frame:
        return _not_applicable(name, prepared, "robustness_strata_none")
    frame = frame[frame[strata].notna() & frame[outcome].notna()]
    groups = sorted(frame[strata].astype(str).unique())
    if len(groups) < 2:
        return _not_applicable(name, prepared, "robustness_strata_one", have=len(groups))
    dropped, estimates, skipped = [], [], []
    for group in groups:
        rest = frame[frame[strata].astype(str) != group]
        if not ((rest["treated"] > 0).any() and (rest["pilot"] == 0).any()):
            skipped.append(group)
            continue
        try:
            est = _unit_period_fit(
                rest, prepared, params, outcome, f"twfe_commune_wave_without_district[{group}]"
            )
        except (ValueError, np.linalg.LinAlgError):
            skipped.append(group)
            continue
        dropped.append(group)
        estimates.append(est)
    if not estimates:
        return _not_applicable(name, prepared, "robustness_strata_pilots", have=len(groups))
    return LeaveOneOut(strata, tuple(dropped), tuple(estimates), tuple(skipped))


def dropped_district(estimate: EffectEstimate) -> str:
    """The stratum named in a leave-one-out estimator name."""
    name = estimate.estimator
    return name[name.index("[") + 1 : name.rindex("]")]


def map_change_communes(prepared: Prepared) -> list[str]:
    """Communes of the target map touched by the map change: merged parts or re-coded sources."""
    communes = prepared.communes
    touched: set[str] = set()
    if "parts" in communes:
        parts = communes["parts"].astype(str).str.split(r"[,;|\s]+", regex=True)
        touched |= set(communes.loc[parts.str.len() > 1, "commune_code"].astype(str))
    report = prepared.harmonisation
    if {"how", "target_code"} <= set(report.columns):
        moved = report[(report["how"].astype(str) != "same") & report["target_code"].notna()]
        touched |= set(moved["target_code"].astype(str))
    return sorted(touched)


@dataclass(frozen=True)
class MapChange:
    """The headline estimate without the communes touched by the 2020 map change."""

    touched: tuple[str, ...]
    estimate: EffectEstimate


@analysis("robustness.unchanged_map", PAGE, requires=(HANAM_CONTRACT, *DID_DESIGN))
def unchanged_map(prepared: Prepared, params: Params) -> MapChange | NotApplicable:
    """Leave out the communes merged or re-coded in the map change (Hà Nam's map only)."""
    name = "robustness.unchanged_map"
    touched = map_change_communes(prepared)
    if not touched:
        return _not_applicable(name, prepared, "robustness_map_none")
    frame = sample.window_panel(prepared)
    rest = frame[~frame["commune_code"].astype(str).isin(set(touched))]
    try:
        estimate = _unit_period_fit(
            rest, prepared, params, headline(prepared, params), "twfe_commune_wave_unchanged_map"
        )
    except (ValueError, np.linalg.LinAlgError):
        return _not_applicable(name, prepared, "robustness_fit_failed")
    estimate = replace(
        estimate, notes=(*estimate.notes, f"{len(touched)} communes touched by the map change out")
    )
    return MapChange(touched=tuple(touched), estimate=estimate)


# -- functional form -------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionalForm:
    """Mean score and share satisfied: each estimate with its pre-start test p-value
    (NaN when the event study cannot run: fewer than two periods before the start)."""

    estimates: tuple[EffectEstimate, ...]
    trend_p_values: tuple[float, ...]


@analysis(
    "robustness.functional_form",
    PAGE,
    requires=(HANAM_CONTRACT, *DID_DESIGN, *(outcome_present(o) for o in FORM_OUTCOMES)),
)
def functional_form(prepared: Prepared, params: Params) -> FunctionalForm | NotApplicable:
    """Two-way fixed effects of both scales (CR2, size measured) and their pre-start tests."""
    frame = sample.window_panel(prepared)
    estimates, trends = [], []
    for outcome in FORM_OUTCOMES:
        try:
            estimates.append(
                _unit_period_fit(frame, prepared, params, outcome, "twfe_commune_wave")
            )
        except (ValueError, np.linalg.LinAlgError):
            return _not_applicable("robustness.functional_form", prepared, "robustness_fit_failed")
        found = _event_study(prepared, params, outcome, "robustness.functional_form")
        trends.append(
            float(found[0].diagnostics["pretrend_p_value"]) if applies(found) else math.nan
        )
    return FunctionalForm(tuple(estimates), tuple(trends))


# -- multiple outcomes -----------------------------------------------------------------------


def outcome_family(prepared: Prepared, params: Params) -> list[str]:
    """The outcomes tested together: Hà Nam's ballot factors, the model's own index and the
    administrative indicators present; a generic panel's ``data.panel.outcomes``."""
    panel = prepared.panel
    numeric = [c for c in panel.columns if pd.api.types.is_numeric_dtype(panel[c])]
    spec = params.data.panel
    if sample.is_panel(prepared):
        names = [o for o in (spec.outcomes if spec is not None else []) if o in numeric]
    else:
        names = [c for c in numeric if c.startswith("factor_")]
        names += [c for c in ("model_index", *ADMIN_FAMILY) if c in numeric]
    return [c for c in names if panel[c].notna().any()]


@dataclass(frozen=True)
class Family:
    """Holm and Romano-Wolf adjusted p-values across the outcome family.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``outcome, estimate, t_stat, p_value, p_holm, p_romano_wolf, std_error, conf_low,
        conf_high, n_obs, n_clusters``.
    left_out : tuple of str
        Outcomes of the family that could not be estimated (no treated variation or no
        outcome in the window), left out of the correction.
    n_boot, seed : int
        Bootstrap draws (``inference.n_boot``, used as given) and seed.
    n_treated_clusters : int
        Clusters holding a treated row.
    """

    frame: pd.DataFrame
    left_out: tuple[str, ...]
    n_boot: int
    seed: int
    n_treated_clusters: int


@analysis("robustness.multiple_outcomes", PAGE, requires=_requires())
def multiple_outcomes(prepared: Prepared, params: Params) -> Family | NotApplicable:
    """Holm and Romano-Wolf adjusted p-values of the effect across the outcome family.

    Unweighted two-way fixed effects on unit-period rows; each outcome uses its own rows (the
    outcome and the treatment demeaned by unit and period on them). The estimate and CR1
    t-statistic (by the cluster column) come from the demeaned data (Frisch-Waugh-Lovell); p-values
    use t with G - 1 degrees of freedom; Romano-Wolf resamples clusters of the demeaned data
    (:func:`~evaluation.inference.multiple_testing.demeaned_bootstrap_t`, ``inference.n_boot``
    draws). Outcomes that cannot be estimated are left out and listed.
    """
    name = "robustness.multiple_outcomes"
    frame = sample.window_panel(prepared)
    cluster = sample.cluster_column(prepared, params)
    frame = frame.assign(_cluster=frame[cluster].astype(str))
    codes, _ = pd.factorize(frame["_cluster"])
    frame["_code"] = codes
    ys, xs, kept, left_out, n_obs = [], [], [], [], []
    for outcome in outcome_family(prepared, params):
        rows = frame[["commune_code", "wave_index", "_code", outcome, "treated"]].dropna()
        rows = rows.astype({outcome: float, "treated": float})
        if rows.empty or rows["treated"].nunique() < 2:
            left_out.append(outcome)
            continue
        absorbed = absorb(rows, [outcome, "treated"], ["commune_code", "wave_index"])
        values = pd.DataFrame(absorbed.values, columns=list(absorbed.columns))
        x = values["treated"].to_numpy(float)
        y = values[outcome].to_numpy(float)
        if not np.any(np.abs(x) > 1e-12) or np.allclose(y, 0):
            left_out.append(outcome)
            continue
        y_full = np.full(len(frame), np.nan)
        x_full = np.full(len(frame), np.nan)
        positions = frame.index.get_indexer(rows.index[np.asarray(absorbed.keep, bool)])
        y_full[positions], x_full[positions] = y, x
        ys.append(y_full)
        xs.append(x_full)
        kept.append(outcome)
        n_obs.append(len(y))
    if len(kept) < 2:
        return _not_applicable(name, prepared, "robustness_family", need=2, have=len(kept))
    y_mat, x_mat = np.column_stack(ys), np.column_stack(xs)
    n_boot, seed = int(params.inference.n_boot), int(params.inference.seed)
    try:
        est, se, t_boot = demeaned_bootstrap_t(y_mat, x_mat, codes, n_boot, seed)
    except ValueError:
        return _not_applicable(name, prepared, "robustness_fit_failed")
    t_stats = est / se
    present = np.isfinite(y_mat) & np.isfinite(x_mat)
    n_clusters = np.array([np.unique(codes[present[:, k]]).size for k in range(len(kept))])
    df = n_clusters - 1
    p_values = 2 * stats.t.sf(np.abs(t_stats), df)
    out = multiple_testing_frame(kept, est, t_stats, p_values, t_boot)
    crit = stats.t.ppf(1 - params.analysis.alpha / 2, df)
    out["std_error"] = se
    out["conf_low"] = est - crit * se
    out["conf_high"] = est + crit * se
    out["n_obs"] = n_obs
    out["n_clusters"] = n_clusters
    treated = frame.loc[frame["treated"] > 0, "_code"].nunique()
    return Family(out, tuple(left_out), n_boot, seed, int(treated))


def family_effects(family: Family) -> pd.DataFrame:
    """effects.csv rows: each outcome with its raw, Holm and Romano-Wolf p-values (3 rows)."""
    frame = family.frame
    rows = []
    for r in frame.itertuples(index=False):
        base = (
            f"unweighted TWFE by demeaning on the outcome's own rows; CR1 by cluster, "
            f"G = {r.n_clusters}, t with G-1 df; size not measured on this design"
        )
        kinds = (
            ("p_value", base),
            ("p_holm", f"{base}; Holm-adjusted across {len(frame)} outcomes"),
            (
                "p_romano_wolf",
                f"{base}; Romano-Wolf adjusted across {len(frame)} outcomes, pairs cluster "
                f"bootstrap B = {family.n_boot}, seed {family.seed}",
            ),
        )
        for column, inference in kinds:
            rows.append(
                {
                    "outcome": r.outcome,
                    "estimand": "ATT",
                    "estimator": "twfe_commune_wave_unweighted_family",
                    "term": "treated",
                    "estimate": r.estimate,
                    "std_error": r.std_error,
                    "conf_low": r.conf_low,
                    "conf_high": r.conf_high,
                    "p_value": getattr(r, column),
                    "n_obs": r.n_obs,
                    "n_clusters": r.n_clusters,
                    "n_treated_clusters": family.n_treated_clusters,
                    "inference": inference,
                    "size_checked": False,
                }
            )
    return pd.DataFrame(rows, columns=[*TIDY_COLUMNS, "size_checked"])


# -- synthetic difference-in-differences -----------------------------------------------------

#: Placebo draws of the synthetic DiD standard error (the R package's default).
SDID_DRAWS = 200


@analysis("robustness.synthetic_did", PAGE, requires=_requires(TREND_PERIODS))
def synthetic_did_pilot(
    prepared: Prepared, params: Params, n_draws: int = SDID_DRAWS
) -> EffectEstimate | NotApplicable:
    """Synthetic DiD (Arkhangelsky et al. 2021) of the first cohort against the comparison units.

    Block design on the comparison window: units treated from the first start (``pilot``)
    against units untreated throughout the window (never or not yet treated), periods before and
    from the start; units without the headline outcome in every period of the window are left
    out (the estimator needs a balanced panel) and counted in ``notes``. Unweighted. Placebo
    standard error with ``n_draws`` draws and ``inference.seed``; its size is not measured on
    this design (``size_checked`` 0), so pages show the estimate and p-value only.

    NotApplicable: ``robustness_sdid_balanced`` when the balanced panel keeps no treated unit,
    no comparison unit or fewer than two periods before the start.
    """
    name = "robustness.synthetic_did"
    outcome = headline(prepared, params)
    frame = sample.window_panel(prepared)
    if outcome not in frame:
        return _not_applicable(name, prepared, "outcome_present", outcome=outcome)
    pilot_wave = prepared.meta["pilot_wave"]
    frame = frame.assign(_pilot=(frame["pilot"] > 0).astype(int))
    observed = frame.dropna(subset=[outcome])
    periods = observed["wave_index"].nunique()
    counts = observed.groupby("commune_code")["wave_index"].nunique()
    complete = counts.index[counts == periods]
    rows = observed[observed["commune_code"].isin(complete)]
    status = rows.groupby("commune_code")["_pilot"].max()
    n_pre = int((np.sort(rows["wave_index"].unique()) < pilot_wave).sum())
    n_treated, n_comparison = int((status > 0).sum()), int((status == 0).sum())
    if n_treated == 0 or n_comparison == 0 or n_pre < 2 or n_pre == periods:
        return _not_applicable(
            name, prepared, "robustness_sdid_balanced", treated=n_treated,
            comparison=n_comparison, pre=n_pre,
        )  # fmt: skip
    try:
        estimate = synthetic_did(
            rows, outcome, "commune_code", "wave_index", "_pilot", pilot_wave,
            n_draws=n_draws, seed=int(params.inference.seed), alpha=params.analysis.alpha,
        )  # fmt: skip
    except (ValueError, np.linalg.LinAlgError):
        return _not_applicable(name, prepared, "robustness_fit_failed")
    dropped = int(frame["commune_code"].nunique() - len(complete))
    notes = (f"{dropped} units without the outcome in every period left out",) if dropped else ()
    return replace(
        estimate,
        inference=f"{estimate.inference}; size not measured on this design",
        notes=(*estimate.notes, *notes),
    )


# -- the headline across specifications ------------------------------------------------------


@dataclass(frozen=True)
class Specifications:
    """The headline effect across estimators, levels, weights and samples.

    Attributes
    ----------
    choices : tuple of dict
        Machine values of each specification (``estimator``, ``level``, ``weights``, ``sample``).
    estimates : tuple of EffectEstimate
        One per specification, in the same order.
    """

    choices: tuple[dict[str, str], ...]
    estimates: tuple[EffectEstimate, ...]

    def frame(self) -> pd.DataFrame:
        """One row per specification (:data:`SPECIFICATION_COLUMNS`; ``specification`` holds
        the machine choices ``key=value; ...``)."""
        rows = []
        for choices, est in zip(self.choices, self.estimates, strict=True):
            low, high = est.conf_int
            rows.append(
                {
                    "specification": "; ".join(f"{k}={v}" for k, v in choices.items()),
                    "estimate": est.estimate,
                    "conf_low": low,
                    "conf_high": high,
                    "p_value": est.p_value,
                    "size_checked": is_checked(est),
                    "estimator": est.estimator,
                    "outcome": est.outcome,
                }
            )
        return pd.DataFrame(rows, columns=SPECIFICATION_COLUMNS)


def _doubly_robust(prepared: Prepared, params: Params, outcome: str) -> EffectEstimate | None:
    covariates = sample.covariates(prepared, params)
    if not covariates:
        return None
    frame = sample.window_panel(prepared)
    base = [
        f"baseline_{c}" if f"baseline_{c}" in frame and c not in frame else c for c in covariates
    ]
    base = [c for c in base if c in frame and frame[c].notna().any()]
    if not base:
        return None
    try:
        two = sample.before_after_panel(
            prepared, frame, outcome, base, sample.panel_weight(prepared, params, outcome)
        )
        estimate = before_after_drdid(two, outcome, base, params)
    except (ValueError, np.linalg.LinAlgError):
        return None
    return estimate if math.isfinite(estimate.estimate) else None


@analysis("robustness.specifications", PAGE, requires=_requires())
def specifications(
    prepared: Prepared,
    params: Params,
    base: EffectEstimate | NotApplicable,
    sensitivity: Sensitivity | NotApplicable,
    leave_out: LeaveOneOut | NotApplicable,
    unchanged: MapChange | NotApplicable,
    ipw_weights: pd.DataFrame | None = None,
) -> Specifications | NotApplicable:
    """Every specification of the headline effect the data support.

    Two-way fixed effects on households (Hà Nam ballots, CR2 with size measured), on unit-period
    rows weighted as :mod:`~.sample` says and unweighted, with the comparison page's ATT weights
    (``ipw_weights``: columns ``commune_code``, ``ipw_weight``; left out when None), the doubly
    robust estimator with the covariates the data have, the event-study average, each
    leave-one-stratum-out sample and the unchanged map.
    """
    if not applies(base):
        return NotApplicable("robustness.specifications", base.reason, base.facts)
    outcome = headline(prepared, params)
    panel_weight = sample.panel_weight(prepared, params, outcome)
    weights = "ballots" if panel_weight else "none"
    level = "commune_wave"
    choices: list[dict[str, str]] = []
    estimates: list[EffectEstimate] = []

    def add(
        estimator: str, est: EffectEstimate, lvl: str = level, w: str = weights, s: str = "all"
    ) -> None:
        choices.append({"estimator": estimator, "level": lvl, "weights": w, "sample": s})
        estimates.append(est)

    facts_ok = (
        not sample.is_panel(prepared)
        and sample.is_ballot_outcome(outcome)
        and prepared.ballots is not None
        and outcome in prepared.ballots
    )
    if facts_ok:
        ballots = sample.window_ballots(prepared)
        ballot_weight = sample.ballot_weight(params)
        with contextlib.suppress(ValueError, np.linalg.LinAlgError):
            add(
                "twfe",
                checked_fit(
                    ballots, prepared, params, outcome, "twfe_household", weights=ballot_weight
                ),
                lvl="household",
                w=params.analysis.weighting if ballot_weight else "none",
            )
    add("twfe", base)
    frame = sample.window_panel(prepared)
    if panel_weight is not None:
        with contextlib.suppress(ValueError, np.linalg.LinAlgError):
            add(
                "twfe",
                checked_fit(frame, prepared, params, outcome, "twfe_commune_wave_unweighted"),
                w="none",
            )
    if ipw_weights is not None and {"commune_code", "ipw_weight"} <= set(ipw_weights.columns):
        lookup = ipw_weights.assign(commune_code=ipw_weights["commune_code"].astype(str))
        lookup = lookup.set_index("commune_code")["ipw_weight"]
        weighted = frame.assign(
            _ipw=frame["commune_code"].map(lookup).fillna(0.0).astype(float)
            * (frame[panel_weight] if panel_weight else 1.0)
        )
        weighted = weighted[weighted["_ipw"] > 0]
        with contextlib.suppress(ValueError, np.linalg.LinAlgError):
            add(
                "twfe",
                checked_fit(
                    weighted, prepared, params, outcome, "twfe_commune_wave_ipw", weights="_ipw"
                ),
                w="ipw",
                s="overlap",
            )
    dr = _doubly_robust(prepared, params, outcome)
    if dr is not None:
        add("dr", dr)
    if applies(sensitivity):
        add("event", sensitivity.average)
    if applies(leave_out):
        for group, est in zip(leave_out.dropped, leave_out.estimates, strict=True):
            add("twfe", est, s=f"without:{group}")
    if applies(unchanged):
        add("twfe", unchanged.estimate, s="unchanged_map")
    return Specifications(tuple(choices), tuple(estimates))


# -- the whole page --------------------------------------------------------------------------


@dataclass(frozen=True)
class Robustness:
    """Every check of page 04 (each a result or a NotApplicable), saved as ``results/robustness.json``."""

    outcome: str
    alpha: float
    base: EffectEstimate | NotApplicable
    pretrends: PreTrends | NotApplicable
    sensitivity: Sensitivity | NotApplicable
    fake_start: FakeStart | NotApplicable
    placebo_outcomes: PlaceboOutcomes | NotApplicable
    leave_one_out: LeaveOneOut | NotApplicable
    unchanged_map: MapChange | NotApplicable
    functional_form: FunctionalForm | NotApplicable
    family: Family | NotApplicable
    specifications: Specifications | NotApplicable
    synthetic_did: EffectEstimate | NotApplicable | None = None

    def warnings(self) -> list[str]:
        """The checks that raise a warning at ``alpha`` (names)."""
        out = []
        if applies(self.pretrends) and self.pretrends.p_value < self.alpha:
            out.append("pretrend")
        if applies(self.fake_start) and self.fake_start.estimate.p_value < self.alpha:
            out.append("fake_start")
        if applies(self.placebo_outcomes) and any(
            e.p_value < self.alpha for e in self.placebo_outcomes.estimates
        ):
            out.append("placebo_outcomes")
        if applies(self.sensitivity) and self.sensitivity.breakdown_rm < 1:
            out.append("honest_did")
        return out

    def n_checks(self) -> int:
        """How many of the checks above could run on these data."""
        return sum(
            applies(x)
            for x in (self.pretrends, self.fake_start, self.placebo_outcomes, self.sensitivity)
        )

    def verdict(self) -> str:
        """``holds``, ``holds_with_caveats``, ``fragile`` or ``unchecked`` (no check could run)."""
        if not applies(self.base) or not applies(self.specifications):
            return "unchecked"
        spec = self.specifications.frame()
        same_sign = bool((np.sign(spec["estimate"]) == np.sign(self.base.estimate)).all())
        clear_all = bool((spec["p_value"] < self.alpha).all())
        n_warnings = len(self.warnings())
        if self.n_checks() == 0:
            return "unchecked"
        if not same_sign or n_warnings >= 2:
            return "fragile"
        if not clear_all or n_warnings == 1:
            return "holds_with_caveats"
        return "holds"


def results_json(checks: Robustness) -> dict:
    """The page's key numbers for ``results.json`` (read by the summary page).

    A check the data cannot support gets ``None`` values and its reason under ``<key>_reason``.
    """

    def finite(x: float | None) -> float | None:
        return float(x) if x is not None and math.isfinite(float(x)) else None

    def reason(result: object) -> str | None:
        return None if applies(result) else result.reason

    out: dict = {
        "verdict": checks.verdict(),
        "outcome": checks.outcome,
        "base_estimate": finite(checks.base.estimate) if applies(checks.base) else None,
        "base_reason": reason(checks.base),
        "pretrend_p_value": finite(checks.pretrends.p_value) if applies(checks.pretrends) else None,
        "pretrend_reason": reason(checks.pretrends),
    }
    power = checks.pretrends.power if applies(checks.pretrends) else None
    out["pretrend_power"] = (
        {
            "slope_50": finite(power.slope_50),
            "slope_80": finite(power.slope_80),
            "slope_explaining_effect": finite(power.slope),
            "power_at_that_slope": finite(power.power),
        }
        if power is not None
        else None
    )
    sdid = checks.synthetic_did
    out["synthetic_did"] = (
        {"estimate": finite(sdid.estimate), "p_value": finite(sdid.p_value), "size_checked": False}
        if isinstance(sdid, EffectEstimate)
        else None
    )
    sens = checks.sensitivity
    out.update(
        {
            "post_average": finite(sens.theta) if applies(sens) else None,
            "breakdown_mbar": finite(sens.breakdown_rm) if applies(sens) else None,
            "breakdown_m": finite(sens.breakdown_sd) if applies(sens) else None,
            "honest_did_reason": reason(sens),
        }
    )
    fake = checks.fake_start
    out["placebo_fake_start"] = (
        {
            "estimate": fake.estimate.estimate,
            "p_value": fake.estimate.p_value,
            "shift_periods": fake.shift,
            "shift_quarters": fake.shift,
            "size_checked": is_checked(fake.estimate),
        }
        if applies(fake)
        else None
    )
    out["placebo_fake_start_reason"] = reason(fake)
    placebo = checks.placebo_outcomes
    out["placebo_outcomes"] = (
        {e.outcome: {"estimate": e.estimate, "p_value": e.p_value} for e in placebo.estimates}
        if applies(placebo)
        else {}
    )
    loo = checks.leave_one_out
    out["leave_one_district_out"] = (
        {g: e.estimate for g, e in zip(loo.dropped, loo.estimates, strict=True)}
        if applies(loo)
        else None
    )
    out["leave_one_district_out_reason"] = reason(loo)
    out["unchanged_map"] = (
        checks.unchanged_map.estimate.estimate if applies(checks.unchanged_map) else None
    )
    family = checks.family
    out["family"] = (
        {
            r.outcome: {
                "p": r.p_value,
                "p_holm": r.p_holm,
                "p_romano_wolf": r.p_romano_wolf,
            }
            for r in family.frame.itertuples(index=False)
        }
        if applies(family)
        else {}
    )
    spec = checks.specifications
    if applies(spec):
        frame = spec.frame()
        out["n_specifications"] = int(len(frame))
        out["specification_range"] = [
            float(frame["estimate"].min()),
            float(frame["estimate"].max()),
        ]
        out["specifications_clear"] = int((frame["p_value"] < checks.alpha).sum())
    else:
        out["n_specifications"] = 0
        out["specification_range"] = None
        out["specifications_clear"] = None
    return out
