"""What happened as more units adopted? The staggered-rollout analyses of page 07.

Every period of the unit x period panel is used, with each unit's first treated period
(NaN = never treated within the data):

* :func:`rollout_design` -- who adopted when (cohorts, never-treated units, units left out);
* :func:`twfe_decomposition` -- why a plain two-way fixed effects (TWFE) regression can
  mislead with staggered timing (Goodman-Bacon decomposition; needs timing variation);
* :func:`rollout_effects` -- Callaway & Sant'Anna ATT(g, t) under
  ``analysis.staggered.control_group`` / ``base_period`` / ``method`` with the covariates of
  :func:`evaluation.analysis.sample.covariates`, their simple, event-time (multiplier-bootstrap
  uniform band), cohort and calendar aggregations, the Sun & Abraham event study beside them,
  and a **size check** of the interval of the simple aggregate on this design
  (:func:`size_check`: the analytic interval, else the delete-one-cluster jackknife of
  :mod:`evaluation.inference.cs_jackknife`, else the studentised wild cluster bootstrap of
  :mod:`evaluation.inference.cs_wild_bootstrap`): intervals are shown only when a method
  passes; Sun-Abraham's interval has its own size check on the same placebo draws
  (:func:`sun_abraham_size_check`);
* :func:`cohort_comparison` -- did later cohorts gain as much as the first one, at equal
  time since adoption (needs later cohorts);
* :func:`household_check` -- the simple ATT from individual ballots (needs ballots).

Sample and weights come from :mod:`evaluation.analysis.sample` (all periods; units whose merged
parts differed in treatment status are left out, because the estimators need one adoption
period per unit). The Goodman-Bacon decomposition and the plain TWFE number beside it are
unweighted on the balanced panel, so the two agree exactly (as in the theorem).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.analysis import sample
from evaluation.analysis.base import NotApplicable, analysis
from evaluation.analysis.effects import chosen_outcome
from evaluation.analysis.requirements import BALLOTS, DID_DESIGN, LATER_COHORTS
from evaluation.config import Params
from evaluation.estimators.bacon import bacon_decomposition
from evaluation.estimators.imputation import imputation_did
from evaluation.estimators.result import EffectEstimate
from evaluation.estimators.staggered import (
    GroupTimeResult,
    aggregate,
    group_time_att,
    simple_att_draws,
)
from evaluation.estimators.sun_abraham import sun_abraham
from evaluation.estimators.twfe import twfe
from evaluation.inference.cs_jackknife import (
    jackknife_aggregate,
    leave_one_cluster_out,
    simple_att_jackknife_draws,
)
from evaluation.inference.cs_wild_bootstrap import (
    simple_att_wild_bootstrap_draws,
    wild_bootstrap_aggregate,
)
from evaluation.inference.pretrend_power import PretrendPower, pretrend_power
from evaluation.prepare import Prepared

__all__ = [
    "BaconResult",
    "CohortComparison",
    "RolloutDesign",
    "RolloutEffects",
    "RolloutPage",
    "SizeCheck",
    "cohort_comparison",
    "headline_outcome",
    "household_check",
    "rollout_design",
    "rollout_effects",
    "size_check",
    "staggered_panel",
    "sun_abraham_size_check",
    "twfe_decomposition",
]

PAGE = "07_rollout_waves"
#: Interval methods of the Callaway-Sant'Anna aggregates, in the order the size check tries
#: them (message keys ``inference.method.cs_<method>``).
SIZE_METHODS: tuple[str, ...] = ("analytic", "jackknife", "wild_bootstrap")
#: Method key of the Sun-Abraham size check (message key ``inference.method.sa_<method>``).
SA_SIZE_METHOD = "cluster_robust_t"
UNIT = "commune_code"
TIME = "wave_index"
FIRST_TREATED = "first_treated_wave"
#: Column of :func:`staggered_panel` holding each unit's (time-invariant) cluster.
CLUSTER = "cluster_id"


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RolloutDesign:
    """Who adopted when, in the data the page estimates on.

    Attributes
    ----------
    outcome : str
        The outcome column analysed.
    weights : str or None
        Weight column of the unit x period rows (:func:`sample.panel_weight`), None = unweighted.
    weight_label_key : str
        Message key saying in words how rows are weighted (``sample.weights.*``).
    cohorts : tuple of int
        First treated periods of the adopting units, ascending (the first is the pilot cohort).
    units_by_cohort : tuple of int
        Units in each cohort (same order).
    n_never : int
        Units never treated within the data.
    n_excluded : int
        Units left out because their merged parts differed in treatment status.
    covariates : tuple of str
        Covariates of :func:`sample.covariates` known for every unit (complete, varying).
    source : str
        ``prepared.meta["source"]`` (``demo``, ``files`` or ``panel``).
    first_period, last_period : int
        First and last period of the panel.
    control_group, base_period, method : str
        ``analysis.staggered`` options used by the Callaway-Sant'Anna estimates.
    period_labels : dict
        Each period (as text of its integer) -> the data's own label (``2019Q4``, ``1988``).
    """

    outcome: str
    weights: str | None
    weight_label_key: str
    cohorts: tuple[int, ...]
    units_by_cohort: tuple[int, ...]
    n_never: int
    n_excluded: int
    covariates: tuple[str, ...]
    source: str
    first_period: int
    last_period: int
    control_group: str
    base_period: str
    method: str
    period_labels: dict[str, str] = field(default_factory=dict)

    @property
    def n_cohorts(self) -> int:
        return len(self.cohorts)

    @property
    def has_later_waves(self) -> bool:
        """Whether any unit adopted after the first cohort."""
        return self.n_cohorts >= 2

    @property
    def estimable(self) -> bool:
        """Whether a comparison exists under the control group chosen."""
        if self.n_cohorts == 0:
            return False
        if self.control_group == "never_treated":
            return self.n_never > 0
        return self.n_never > 0 or self.n_cohorts >= 2

    @property
    def n_units(self) -> int:
        return int(sum(self.units_by_cohort) + self.n_never)


@dataclass(frozen=True)
class BaconResult:
    """The Goodman-Bacon decomposition of the plain TWFE coefficient, and that coefficient.

    Attributes
    ----------
    comparisons : pandas.DataFrame
        One row per 2x2 comparison (``treated_cohort, control_cohort, type, estimate, weight``).
    by_type : pandas.DataFrame
        Columns ``type, weight, estimate``: total weight and weighted mean by comparison kind.
    twfe_estimate : float
        The TWFE coefficient computed by the decomposition (equals ``plain.estimate``).
    plain : EffectEstimate
        The plain TWFE regression over all periods (estimator ``twfe_all_waves``); its interval
        was not size-checked and is never shown.
    """

    outcome: str
    comparisons: pd.DataFrame
    by_type: pd.DataFrame
    twfe_estimate: float
    plain: EffectEstimate
    n_units: int
    n_periods: int

    @property
    def forbidden_weight(self) -> float:
        """Weight of comparisons that use already-treated units as controls."""
        rows = self.by_type.set_index("type").reindex(
            ["later_vs_earlier", "later_vs_always_treated"]
        )
        return float(rows["weight"].fillna(0).sum())

    @property
    def forbidden_average(self) -> float:
        """Weighted mean estimate of those comparisons (NaN when they carry no weight)."""
        rows = (
            self.by_type.set_index("type")
            .reindex(["later_vs_earlier", "later_vs_always_treated"])
            .dropna()
        )
        if rows.empty or rows["weight"].sum() <= 0:
            return float("nan")
        return float(np.sum(rows["weight"] * rows["estimate"]) / rows["weight"].sum())


@dataclass(frozen=True)
class SizeCheck:
    """How often the interval of the simple Callaway-Sant'Anna ATT excludes zero under no effect.

    Placebo adoption timings (same cohort sizes and dates as the real cohorts) are drawn among
    units untreated throughout the placebo window; their real outcomes are kept, so the true
    effect is zero. The simple ATT and its interval are recomputed for each draw, by each
    candidate method in turn (:data:`SIZE_METHODS`): the analytic influence-function interval
    first, then the delete-one-cluster jackknife, then the studentised wild cluster bootstrap
    of the influence functions; the first whose rate lies in the band is the one the page
    shows. The same class reports the size check of Sun-Abraham's interval
    (:func:`sun_abraham_size_check`, ``method`` = :data:`SA_SIZE_METHOD`).

    Attributes
    ----------
    status : str
        ``passed`` (rate inside ``band``: intervals shown), ``failed`` (outside: withheld),
        ``too_few_units`` (no placebo design could be drawn: withheld) or ``not_measured`` (the
        estimator failed on every placebo draw: withheld).
    rejection_rate : float
        Share of valid draws whose interval excluded zero, by ``method`` (NaN when not
        measured).
    n_sims, n_valid : int
        Draws asked for (``inference.size_sims``) and draws with an estimate.
    alpha : float
        ``analysis.alpha``.
    band : tuple of float
        ``inference.size_band``.
    n_pool : int
        Untreated units the placebos were drawn among.
    n_placebo_treated : int
        Placebo-treated units per draw.
    n_cohorts_used, n_cohorts : int
        Real cohorts mirrored by the placebo design, of all real cohorts (fewer when the
        window had to end before a later cohort adopted, so that enough units stay untreated).
    window_end : int
        Last period of the placebo window.
    placebo_p_value : float
        Share of draws (plus one, over draws plus one) whose simple ATT was at least as large
        in absolute value as the real one; NaN unless every real cohort was mirrored.
    method : str
        The method the verdict is about (a key of :data:`SIZE_METHODS`): the first that
        passed, else the first candidate.
    rates : dict
        Measured rejection rate of each candidate method tried (in the order tried).
    """

    status: str
    rejection_rate: float
    n_sims: int
    n_valid: int
    alpha: float
    band: tuple[float, float]
    n_pool: int
    n_placebo_treated: int
    n_cohorts_used: int
    n_cohorts: int
    window_end: int
    placebo_p_value: float = float("nan")
    method: str = "analytic"
    rates: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether the intervals may be shown."""
        return self.status == "passed"


@dataclass(frozen=True)
class RolloutEffects:
    """Callaway-Sant'Anna effects of every cohort, their aggregations and Sun-Abraham beside them.

    Attributes
    ----------
    design : RolloutDesign
    att_gt : pandas.DataFrame
        ATT(g, t) table of :func:`evaluation.estimators.staggered.group_time_att`.
    covariates : tuple of str
        Covariates actually adjusted for (empty when none, or when some cell could not be
        estimated with them: then ``fell_back``).
    fell_back : bool
    simple, dynamic, group, calendar : EffectEstimate
        The four aggregations (``dynamic`` with a multiplier-bootstrap uniform band).
    sun_abraham : EffectEstimate or NotApplicable
    exposure : EffectEstimate or None
        Each cohort over the same number of periods since adoption (None with one cohort).
    size : SizeCheck
        Whether the intervals of these estimates may be shown.
    pretrend : dict
        ``{"n": pre-adoption event-time terms with a band, "outside": those excluding zero}``
        (empty when there are none).
    result : GroupTimeResult
        The full estimator output (not saved).
    imputation : EffectEstimate or NotApplicable or None
        Borusyak-Jaravel-Spiess imputation estimates (overall ATT and event times 0 ..
        ``analysis.event_lags``) on the same rows, weights and clusters; its conservative
        standard errors are not size-checked on this design (intervals never shown).
    pretrend_power : PretrendPower or None
        Power of the joint pre-adoption test (``pretrend_p_value``) against a linear
        differential trend (Roth 2022); None when that test could not be computed.
    sa_size : SizeCheck or None
        Size check of Sun-Abraham's overall-effect interval on the same placebo draws
        (:func:`sun_abraham_size_check`); its intervals are shown only when it passed. None
        when Sun-Abraham could not be estimated.
    """

    design: RolloutDesign
    att_gt: pd.DataFrame
    covariates: tuple[str, ...]
    fell_back: bool
    simple: EffectEstimate
    dynamic: EffectEstimate
    group: EffectEstimate
    calendar: EffectEstimate
    sun_abraham: EffectEstimate | NotApplicable
    exposure: EffectEstimate | None
    size: SizeCheck
    pretrend: dict
    pretrend_p_value: float
    pretrend_df: int
    n_clusters: int
    result: GroupTimeResult = field(repr=False, metadata={"serialise": False})
    imputation: EffectEstimate | NotApplicable | None = None
    pretrend_power: PretrendPower | None = None
    sa_size: SizeCheck | None = None

    @property
    def intervals_shown(self) -> bool:
        return self.size.passed

    @property
    def sa_intervals_shown(self) -> bool:
        """Whether Sun-Abraham's intervals passed their own size check."""
        return self.sa_size is not None and self.sa_size.passed

    def aggregations(self) -> dict[str, EffectEstimate]:
        return {
            "simple": self.simple,
            "dynamic": self.dynamic,
            "group": self.group,
            "calendar": self.calendar,
        }

    def effects_rows(self) -> pd.DataFrame:
        """Rows for ``tables/effects.csv``: CS rows carry the size verdict, Sun-Abraham's rows
        their own (:attr:`sa_size`); the imputation estimator's interval is not size-checked."""
        cs_rate = self.size.rates.get(self.size.method, float("nan"))
        sa_rate = float("nan") if self.sa_size is None else self.sa_size.rejection_rate
        cs = pd.concat([e.tidy() for e in self.aggregations().values()], ignore_index=True)
        cs["size_checked"] = self.size.passed
        cs["size_rate"] = cs_rate
        frames = [cs]
        if self.exposure is not None:
            frames.append(
                self.exposure.tidy().assign(size_checked=self.size.passed, size_rate=cs_rate)
            )
        if isinstance(self.sun_abraham, EffectEstimate):
            frames.append(
                self.sun_abraham.tidy().assign(
                    size_checked=self.sa_intervals_shown, size_rate=sa_rate
                )
            )
        if isinstance(self.imputation, EffectEstimate):
            frames.append(self.imputation.tidy().assign(size_checked=False))
        return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class CohortComparison:
    """First cohort against the later cohorts (size-weighted) over the same periods since adoption.

    Attributes
    ----------
    pilot, later : float
        First cohort's and later cohorts' average effect in their first ``waves`` periods.
    ratio : float
        ``later / pilot`` (NaN when the first cohort's effect is zero).
    verdict : str
        ``as_much`` (later >= 80% of a positive pilot effect), ``less``, ``none`` or
        ``pilot_none`` (no positive pilot effect to compare with).
    later_terms : tuple of str
        Terms (``g=<period>``) of the later cohorts compared.
    waves : int
        Periods since adoption averaged (0 .. waves - 1).
    """

    pilot: float
    later: float
    ratio: float
    verdict: str
    later_terms: tuple[str, ...]
    waves: int


@dataclass(frozen=True)
class RolloutPage:
    """Everything page 07 found (saved as ``results/rollout.json``)."""

    design: RolloutDesign | NotApplicable
    bacon: BaconResult | NotApplicable
    effects: RolloutEffects | NotApplicable
    cohorts: CohortComparison | NotApplicable
    household: EffectEstimate | NotApplicable

    def summary(self) -> dict:
        """The page's key numbers for ``results.json`` (read by the summary page)."""
        design, effects = self.design, self.effects
        if not isinstance(effects, RolloutEffects):
            return {
                "outcome": getattr(design, "outcome", None),
                "estimable": False,
                "size_checked": False,
                "reason": effects.reason,
            }
        shown = effects.size.passed
        cohorts = self.cohorts if isinstance(self.cohorts, CohortComparison) else None
        return {
            "outcome": effects.design.outcome,
            "estimable": True,
            "cohorts": list(effects.design.cohorts),
            "units_by_cohort": list(effects.design.units_by_cohort),
            "n_never": effects.design.n_never,
            "control_group": effects.design.control_group,
            "base_period": effects.design.base_period,
            "method": effects.design.method,
            "cs_simple": effects.simple.estimate,
            "cs_simple_conf_int": list(effects.simple.conf_int) if shown else None,
            "size_checked": shown,
            "size_status": effects.size.status,
            "size_rejection_rate": _finite_or_none(effects.size.rejection_rate),
            "size_method": effects.size.method,
            "size_rates": {m: _finite_or_none(r) for m, r in effects.size.rates.items()},
            "placebo_p_value": _finite_or_none(effects.size.placebo_p_value),
            "sa_size_checked": effects.sa_intervals_shown,
            "sa_size_status": None if effects.sa_size is None else effects.sa_size.status,
            "sa_size_rejection_rate": None
            if effects.sa_size is None
            else _finite_or_none(effects.sa_size.rejection_rate),
            "cs_group": {str(k): float(v) for k, v in effects.group.terms["estimate"].items()},
            "pilot_equal_exposure": None if cohorts is None else cohorts.pilot,
            "later_equal_exposure": None if cohorts is None else cohorts.later,
            "later_share_of_pilot": None if cohorts is None else _finite_or_none(cohorts.ratio),
            "equal_exposure_waves": None if cohorts is None else cohorts.waves,
            "verdict": None if cohorts is None else cohorts.verdict,
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


# ---------------------------------------------------------------------------------------------
# Sample
# ---------------------------------------------------------------------------------------------


def headline_outcome(prepared: Prepared, params: Params) -> str:
    """The page's outcome: the one page 03's headline is estimated on
    (:func:`evaluation.analysis.effects.chosen_outcome`)."""
    return chosen_outcome(prepared, params)


def _mixed_units(frame: pd.DataFrame) -> pd.Series:
    """Rows of units with a treated share strictly between 0 and 1 (no single adoption date)."""
    bad = pd.Series(False, index=frame.index)
    if "pilot_share" in frame:
        share = pd.to_numeric(frame["pilot_share"], errors="coerce")
        bad |= (share > 0) & (share < 1)
    return bad.groupby(frame[UNIT].astype(str)).transform("any")


def staggered_panel(prepared: Prepared, params: Params) -> pd.DataFrame:
    """All periods of :func:`sample.all_waves_panel`, ready for the staggered estimators.

    Units of mixed treatment status are left out; adds ``adopted`` (0/1: at or after the unit's
    first treated period), ``cluster_id`` (:func:`sample.cluster_column`) and the covariates of
    :func:`sample.covariates` as each unit's baseline value (time-invariant).
    """
    frame = sample.all_waves_panel(prepared)
    frame = frame.loc[~_mixed_units(frame)].copy()
    frame[FIRST_TREATED] = pd.to_numeric(frame[FIRST_TREATED], errors="coerce").astype(float)
    frame["adopted"] = (frame[TIME] >= frame[FIRST_TREATED]).fillna(False).astype(float)
    frame[CLUSTER] = frame[sample.cluster_column(prepared, params)].astype(str)
    base = prepared.baseline
    if base is not None and UNIT in base:
        base = base.assign(**{UNIT: base[UNIT].astype(str)}).set_index(UNIT)
        for name in sample.covariates(prepared, params):
            frame[name] = frame[UNIT].map(pd.to_numeric(base[name], errors="coerce"))
    return frame.sort_values([UNIT, TIME]).reset_index(drop=True)


def _period_labels(prepared: Prepared) -> dict[str, str]:
    panel = prepared.panel
    if "wave" not in panel:
        return {}
    pairs = panel[[TIME, "wave"]].dropna().drop_duplicates(TIME)
    return {str(int(i)): str(w) for i, w in zip(pairs[TIME], pairs["wave"], strict=True)}


def _design(prepared: Prepared, params: Params, outcome: str) -> RolloutDesign:
    frame = staggered_panel(prepared, params)
    units = frame.groupby(UNIT)[FIRST_TREATED].first()
    first, last = int(frame[TIME].min()), int(frame[TIME].max())
    # As the estimators do: adoption after the last period = never treated within the data;
    # adoption in the first period leaves no period before it to compare with.
    adopting = units[(units > first) & (units <= last)]
    counts = adopting.value_counts().sort_index()
    covariates = []
    for name in sample.covariates(prepared, params):
        if name in frame and name not in (outcome, FIRST_TREATED, TIME):
            values = pd.to_numeric(frame[name], errors="coerce")
            if values.notna().all() and values.nunique() > 1:
                covariates.append(name)
    options = params.analysis.staggered
    return RolloutDesign(
        outcome=outcome,
        weights=sample.panel_weight(prepared, params, outcome),
        weight_label_key=sample.weight_label_key(prepared, params, outcome, "panel"),
        cohorts=tuple(int(g) for g in counts.index),
        units_by_cohort=tuple(int(n) for n in counts.to_numpy()),
        n_never=int((units.isna() | (units > last)).sum()),
        n_excluded=int(prepared.panel[UNIT].astype(str).nunique() - len(units)),
        covariates=tuple(covariates),
        source=str(prepared.meta.get("source", "")),
        first_period=first,
        last_period=last,
        control_group=options.control_group,
        base_period=options.base_period,
        method=options.method,
        period_labels=_period_labels(prepared),
    )


def _contract(prepared: Prepared) -> str:
    return "panel" if sample.is_panel(prepared) else "hanam"


@analysis("rollout.design", PAGE)
def rollout_design(
    prepared: Prepared, params: Params, outcome: str | None = None
) -> RolloutDesign | NotApplicable:
    """Adoption cohorts, never-treated units, weights and usable covariates of the page.

    Parameters
    ----------
    prepared, params
        The run's prepared data and parameters.
    outcome : str, optional
        Default: :func:`headline_outcome`.

    Returns
    -------
    RolloutDesign, or NotApplicable (``outcome_present``) when the outcome is not in the panel.
    """
    outcome = outcome or headline_outcome(prepared, params)
    if outcome not in prepared.panel:
        return NotApplicable(
            "rollout.design",
            "outcome_present",
            {"contract": _contract(prepared), "outcome": outcome},
        )
    return _design(prepared, params, outcome)


# ---------------------------------------------------------------------------------------------
# Why plain TWFE can mislead
# ---------------------------------------------------------------------------------------------


def _balanced(frame: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Units observed with an outcome in every period (what the decomposition needs)."""
    complete = frame.dropna(subset=[outcome])
    n_periods = frame[TIME].nunique()
    full = complete.groupby(UNIT)[TIME].transform("nunique") == n_periods
    return complete.loc[full]


@analysis("rollout.bacon", PAGE, requires=(*DID_DESIGN, LATER_COHORTS))
def twfe_decomposition(prepared: Prepared, params: Params) -> BaconResult | NotApplicable:
    """Goodman-Bacon decomposition of the unweighted TWFE coefficient on the balanced panel,
    and that plain TWFE regression (clustered as everywhere on the page, ``analysis.ssc``).

    NotApplicable: ``later_cohorts`` (no timing variation), ``rollout_balanced`` (no timing
    variation left among units observed in every period).
    """
    outcome = headline_outcome(prepared, params)
    if outcome not in prepared.panel:
        return NotApplicable(
            "rollout.bacon",
            "outcome_present",
            {"contract": _contract(prepared), "outcome": outcome},
        )
    frame = _balanced(staggered_panel(prepared, params), outcome)
    first = frame.groupby(UNIT)[FIRST_TREATED].first()
    start, end = frame[TIME].min(), frame[TIME].max()
    adopting = first[(first > start) & (first <= end)]
    others = first.isna() | (first > end) | (first <= start)
    if adopting.empty or (adopting.nunique() < 2 and not others.any()):
        return NotApplicable(
            "rollout.bacon",
            "rollout_balanced",
            {"contract": _contract(prepared), "n": int(len(first))},
        )
    decomposition = bacon_decomposition(frame, outcome, UNIT, TIME, FIRST_TREATED)
    plain = twfe(
        frame,
        outcome,
        "adopted",
        unit=UNIT,
        time=TIME,
        cluster=CLUSTER,
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
        estimator="twfe_all_waves",
    )
    return BaconResult(
        outcome=outcome,
        comparisons=decomposition.comparisons,
        by_type=decomposition.by_type.rename_axis("type").reset_index(),
        twfe_estimate=decomposition.twfe_estimate,
        plain=plain,
        n_units=decomposition.n_units,
        n_periods=decomposition.n_periods,
    )


# ---------------------------------------------------------------------------------------------
# Callaway & Sant'Anna, Sun & Abraham, and the size check of their intervals
# ---------------------------------------------------------------------------------------------


def _group_time(
    frame: pd.DataFrame, design: RolloutDesign, covariates: tuple[str, ...], alpha: float
) -> GroupTimeResult:
    return group_time_att(
        frame,
        design.outcome,
        UNIT,
        TIME,
        FIRST_TREATED,
        covariates=covariates,
        weights=design.weights,
        control_group=design.control_group,  # type: ignore[arg-type]
        method=design.method,  # type: ignore[arg-type]
        base_period=design.base_period,  # type: ignore[arg-type]
        panel=True,
        cluster=CLUSTER,
        alpha=alpha,
    )


def _equal_exposure(result: GroupTimeResult) -> EffectEstimate | None:
    """Each cohort's average effect over event times ``0 .. k``, ``k`` the longest exposure all
    cohorts reach (estimator ``cs_group_equal_exposure``); None with fewer than two cohorts."""
    table = result.att_gt.dropna(subset=["estimate"])
    post = table.loc[table["event_time"] >= 0]
    if post["group"].nunique() < 2:
        return None
    k = int(post.groupby("group")["event_time"].max().min())
    estimate = aggregate(result, "group", min_e=0, max_e=k)
    return dataclasses.replace(
        estimate,
        estimator="cs_group_equal_exposure",
        estimand=f"ATT(g; e=0..{k})",
        diagnostics={**estimate.diagnostics, "max_event_time": float(k)},
    )


def _pretrend(dynamic: EffectEstimate) -> dict:
    """Pre-adoption event-time effects with a band, and how many of those bands exclude zero."""
    terms = dynamic.terms
    names = [
        n
        for n in terms.index
        if str(n).startswith("e-")
        and np.isfinite(terms.loc[n, "conf_low"])
        and np.isfinite(terms.loc[n, "conf_high"])
    ]
    if not names:
        return {}
    rows = terms.loc[names]
    outside = int(((rows["conf_low"] > 0) | (rows["conf_high"] < 0)).sum())
    return {"n": len(names), "outside": outside}


def _sun_abraham(
    frame: pd.DataFrame, design: RolloutDesign, params: Params, contract: str
) -> EffectEstimate | NotApplicable:
    """Sun & Abraham on the same panel, window and weights. Controls: never-treated units,
    or (with not-yet-treated controls and no never-treated unit) the last cohort before it
    adopts."""
    if design.n_never > 0:
        control = "never_treated"
    elif design.control_group == "not_yet_treated" and design.n_cohorts >= 2:
        control = "last_treated"
    else:
        return NotApplicable(
            "rollout.sun_abraham", "never_treated", {"contract": contract, "have": 0}
        )
    return sun_abraham(
        frame,
        design.outcome,
        UNIT,
        TIME,
        FIRST_TREATED,
        cluster=CLUSTER,
        weights=design.weights,
        control=control,  # type: ignore[arg-type]
        leads=params.analysis.event_leads,
        lags=params.analysis.event_lags,
        alpha=params.analysis.alpha,
    )


@analysis("rollout.effects", PAGE, requires=DID_DESIGN)
def rollout_effects(prepared: Prepared, params: Params) -> RolloutEffects | NotApplicable:
    """Callaway-Sant'Anna ATT(g, t), their aggregations, Sun-Abraham, and the size check.

    Control group, base period and estimator are ``analysis.staggered``'s; covariates those of
    :func:`sample.covariates` (dropped, with ``fell_back``, when some ATT(g, t) cannot be
    estimated with them). The event-time effects cover ``-analysis.event_leads ..
    analysis.event_lags`` periods with a multiplier-bootstrap uniform band (``inference.n_boot``
    draws, ``inference.seed``); the others use analytic influence-function standard errors.

    NotApplicable: ``never_treated`` (control group ``never_treated`` and none in the data),
    ``comparison_units`` (every unit adopted at once).
    """
    design = rollout_design(prepared, params)
    if isinstance(design, NotApplicable):
        return dataclasses.replace(design, analysis="rollout.effects")
    contract = _contract(prepared)
    if design.control_group == "never_treated" and design.n_never == 0:
        return NotApplicable("rollout.effects", "never_treated", {"contract": contract, "have": 0})
    if not design.estimable:
        return NotApplicable(
            "rollout.effects", "comparison_units", {"contract": contract, "need": 1, "have": 0}
        )
    frame = staggered_panel(prepared, params)
    alpha = params.analysis.alpha
    covariates = design.covariates
    try:
        result = _group_time(frame, design, covariates, alpha)
    except ValueError:  # no cohort with a period before its start and its outcome observed
        return NotApplicable(
            "rollout.effects",
            "effects_outcome_did",
            {"contract": contract, "outcome": design.outcome},
        )
    fell_back = False
    if covariates and result.att_gt["estimate"].isna().any():
        result, covariates, fell_back = _group_time(frame, design, (), alpha), (), True
    simple = aggregate(result, "simple")
    dynamic = aggregate(
        result,
        "dynamic",
        min_e=-params.analysis.event_leads,
        max_e=params.analysis.event_lags,
        bootstrap=True,
        n_boot=params.inference.n_boot,
        seed=params.inference.seed,
    )
    pretrend_p = result.diagnostics.get("pretrend_p_value", float("nan"))
    size = size_check(frame, design, tuple(covariates), simple, params)
    shown = {
        "simple": simple,
        "dynamic": dynamic,
        "group": aggregate(result, "group"),
        "calendar": aggregate(result, "calendar"),
        "exposure": _equal_exposure(result),
    }
    if size.passed and size.method == "jackknife":
        shown, size = _jackknife_intervals(
            frame, design, tuple(covariates), result, shown, size, params
        )
    elif size.passed and size.method == "wild_bootstrap":
        shown = _wild_bootstrap_intervals(result, shown, params)
    simple, dynamic = shown["simple"], shown["dynamic"]
    sun_abraham_estimate = _sun_abraham(frame, design, params, contract)
    return RolloutEffects(
        design=design,
        att_gt=result.att_gt,
        covariates=tuple(covariates),
        fell_back=fell_back,
        simple=simple,
        dynamic=dynamic,
        group=shown["group"],
        calendar=shown["calendar"],
        sun_abraham=sun_abraham_estimate,
        exposure=shown["exposure"],
        size=size,
        pretrend=_pretrend(dynamic),
        pretrend_p_value=float(pretrend_p),
        pretrend_df=int(result.diagnostics.get("pretrend_df", 0)),
        n_clusters=int(result.n_clusters),
        result=result,
        imputation=_imputation(frame, design, params, contract),
        pretrend_power=cs_pretrend_power(result, params.analysis.alpha),
        sa_size=sun_abraham_size_check(frame, design, params)
        if isinstance(sun_abraham_estimate, EffectEstimate)
        else None,
    )


def _jackknife_intervals(
    frame: pd.DataFrame,
    design: RolloutDesign,
    covariates: tuple[str, ...],
    result: GroupTimeResult,
    shown: dict[str, EffectEstimate | None],
    size: SizeCheck,
    params: Params,
) -> tuple[dict[str, EffectEstimate | None], SizeCheck]:
    """The aggregates with delete-one-cluster jackknife intervals (the method the size check
    chose), every cluster's refit batched on the group-time estimator's own panel. If the
    jackknife cannot run on these rows the check is reported as failed (no interval shown)."""
    try:
        replicates = leave_one_cluster_out(
            result, frame, design.outcome, UNIT, TIME, covariates, design.weights
        )
    except ValueError:
        return shown, dataclasses.replace(size, status="failed")
    windows = _aggregate_windows(shown, params)
    out: dict[str, EffectEstimate | None] = dict(shown)
    for name, (kind, window) in windows.items():
        # The event-time terms keep a simultaneous band, as the bootstrap's (page 07 says so).
        band = {"uniform": True, "n_draws": params.inference.n_boot, "seed": params.inference.seed}
        out[name] = jackknife_aggregate(
            result,
            replicates,
            kind,  # type: ignore[arg-type]
            estimate=shown[name],
            **window,
            **(band if name == "dynamic" else {}),
        )
    return out, size


def _aggregate_windows(
    shown: dict[str, EffectEstimate | None], params: Params
) -> dict[str, tuple[str, dict]]:
    """Each aggregate shown -> its aggregation kind and event-time window (the exposure-equal
    effect is the group aggregate over event times 0..k)."""
    windows: dict[str, tuple[str, dict]] = {
        "simple": ("simple", {}),
        "dynamic": (
            "dynamic",
            {"min_e": -params.analysis.event_leads, "max_e": params.analysis.event_lags},
        ),
        "group": ("group", {}),
        "calendar": ("calendar", {}),
    }
    exposure = shown.get("exposure")
    if exposure is not None:
        k = int(exposure.diagnostics["max_event_time"])
        windows["exposure"] = ("group", {"min_e": 0, "max_e": k})
    return windows


def _wild_bootstrap_intervals(
    result: GroupTimeResult, shown: dict[str, EffectEstimate | None], params: Params
) -> dict[str, EffectEstimate | None]:
    """The aggregates with studentised wild cluster bootstrap intervals (the method the size
    check chose): ``inference.n_boot`` cluster weights, seed ``inference.seed``; the
    event-time terms keep a simultaneous band."""
    windows = _aggregate_windows(shown, params)
    out: dict[str, EffectEstimate | None] = dict(shown)
    for name, (kind, window) in windows.items():
        out[name] = wild_bootstrap_aggregate(
            result,
            kind,  # type: ignore[arg-type]
            estimate=shown[name],
            n_boot=int(params.inference.n_boot),
            seed=int(params.inference.seed),
            uniform=name == "dynamic",
            **window,
        )
    return out


def _imputation(
    frame: pd.DataFrame, design: RolloutDesign, params: Params, contract: str
) -> EffectEstimate | NotApplicable:
    """Borusyak-Jaravel-Spiess imputation on the page's rows, weights and clusters.

    NotApplicable (``rollout_imputation``) when no treated row can be imputed (no untreated row
    of its unit or period)."""
    try:
        return imputation_did(
            frame,
            design.outcome,
            UNIT,
            TIME,
            FIRST_TREATED,
            cluster=CLUSTER,
            weights=design.weights,
            max_event_time=params.analysis.event_lags,
            alpha=params.analysis.alpha,
        )
    except (ValueError, np.linalg.LinAlgError):
        return NotApplicable("rollout.imputation", "rollout_imputation", {"contract": contract})


def cs_pretrend_power(result: GroupTimeResult, alpha: float) -> PretrendPower | None:
    """Power of the Callaway-Sant'Anna pre-adoption Wald test against a linear trend.

    The test covers every pre-adoption ATT(g, t) with a standard error (chi-squared reference,
    covariance from the clustered influence functions, as ``pretrend_p_value``). Under a
    differential trend of one unit per period a cell comparing period ``t`` with base period
    ``b`` estimates ``t - b``: ``b`` is the period before ``t`` with ``base_period="varying"``
    and the cohort's last period before adoption with ``"universal"``. The slope evaluated is
    the one that would by itself produce the simple ATT (the cohort-size weighted mean of
    ``t - (last period before adoption)`` over post-adoption cells).
    """
    table = result.att_gt
    periods = np.sort(table["time"].unique())
    ant = result.anticipation
    group, time = table["group"].to_numpy(float), table["time"].to_numpy(float)
    se = table["std_error"].to_numpy(float)
    pre = np.flatnonzero((group - ant > time) & np.isfinite(se))
    if len(pre) == 0:
        return None

    def last_before(value: float) -> float:
        earlier = periods[periods < value]
        return float(earlier[-1]) if len(earlier) else np.nan

    if result.base_period == "universal":
        base = np.array([last_before(g - ant) for g in group[pre]])
    else:
        base = np.array([last_before(t) for t in time[pre]])
    direction = time[pre] - base
    sums = np.zeros((int(result.unit_cluster.max()) + 1, len(pre)))
    np.add.at(sums, result.unit_cluster, result.influence[:, pre])
    cov = sums.T @ sums / len(result.influence) ** 2
    post = np.flatnonzero((time >= group) & np.isfinite(table["estimate"].to_numpy(float)))
    slope = None
    if len(post):
        sizes = pd.Series(result.unit_weight).groupby(result.unit_group).sum()
        weight = sizes.reindex(group[post]).to_numpy(float)
        bias = np.sum(weight * (time[post] - np.array([last_before(g) for g in group[post]])))
        bias /= weight.sum()
        simple = float(np.sum(weight * table["estimate"].to_numpy(float)[post]) / weight.sum())
        slope = abs(simple / bias) if np.isfinite(bias) and bias > 0 else None
    try:
        return pretrend_power(direction, cov, alpha=alpha, slope=slope)
    except ValueError:
        return None


def _estimated_cohorts(
    frame: pd.DataFrame, design: RolloutDesign, columns: list[str]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Cohorts and their sizes among the units the estimator keeps (complete in ``columns`` in
    every period: :func:`group_time_att` balances the panel)."""
    complete = frame.dropna(subset=columns)
    counts = complete.groupby(UNIT)[TIME].nunique()
    kept = complete.loc[complete[UNIT].isin(counts.index[counts == frame[TIME].nunique()])]
    first = kept.groupby(UNIT)[FIRST_TREATED].first()
    sizes = [(g, int((first == g).sum())) for g in design.cohorts]
    sizes = [(g, n) for g, n in sizes if n > 0]
    return tuple(g for g, _ in sizes), tuple(n for _, n in sizes)


def _placebo_window(
    frame: pd.DataFrame,
    cohorts: tuple[int, ...],
    sizes: tuple[int, ...],
    last_period: int,
    columns: list[str],
) -> tuple[pd.DataFrame, int, int] | None:
    """The largest placebo design the data allow: (balanced rows of the pool, cohorts mirrored,
    last period). Cohorts 1..k are mirrored in the periods before cohort k+1 adopts, among the
    units untreated throughout those periods; at least one of them must stay untreated."""
    adoption = frame.groupby(UNIT)[FIRST_TREATED].first().fillna(np.inf)
    complete = frame.dropna(subset=columns)
    for k in range(len(cohorts), 0, -1):
        end = cohorts[k] if k < len(cohorts) else last_period + 1
        pool = adoption.index[adoption >= end]
        rows = complete.loc[complete[UNIT].isin(pool) & (complete[TIME] < end)]
        n_periods = frame.loc[frame[TIME] < end, TIME].nunique()
        counts = rows.groupby(UNIT)[TIME].nunique()
        rows = rows.loc[rows[UNIT].isin(counts.index[counts == n_periods])]
        if rows[UNIT].nunique() >= sum(sizes[:k]) + 1:
            return rows, k, int(rows[TIME].max())
    return None


@dataclass(frozen=True)
class _PlaceboDraws:
    """Placebo adoption timings among units untreated throughout the placebo window.

    ``rows`` are the pool's balanced rows (sorted by unit, period), ``units`` and ``periods``
    their order in the wide arrays, ``clusters`` the units' integer cluster codes and
    ``groups`` (``S x n``) the placebo first treated period of every unit in each draw (0 =
    untreated). ``k`` real cohorts are mirrored (``sizes`` units each), up to period ``end``.
    """

    rows: pd.DataFrame
    units: np.ndarray
    periods: np.ndarray
    clusters: np.ndarray
    groups: np.ndarray
    k: int
    end: int
    n_cohorts: int
    sizes: tuple[int, ...]

    def wide(self, column: str | None) -> np.ndarray:
        """``n x T`` values of ``column`` (ones for None)."""
        shape = (len(self.units), len(self.periods))
        return (
            np.ones(shape) if column is None else self.rows[column].to_numpy(float).reshape(shape)
        )

    def frame(self, draw: int) -> pd.DataFrame:
        """The pool's rows with draw ``draw``'s placebo first treated periods (NaN: never)."""
        first = pd.Series(self.groups[draw], index=self.units).replace(0.0, np.nan)
        rows = self.rows.reset_index(drop=True)
        return rows.assign(**{FIRST_TREATED: rows[UNIT].map(first).to_numpy(float)})


def _placebo_draws(
    frame: pd.DataFrame, design: RolloutDesign, columns: list[str], params: Params
) -> _PlaceboDraws | int:
    """``inference.size_sims`` placebo timings (seed ``inference.seed``) mirroring the real
    cohorts (same sizes and dates) among units untreated in the window; the number of real
    cohorts instead when no placebo design can be drawn."""
    n_sims = int(params.inference.size_sims)
    cohorts, cohort_sizes = _estimated_cohorts(frame, design, columns)
    found = _placebo_window(frame, cohorts, cohort_sizes, design.last_period, columns)
    if found is None:
        return len(cohorts)
    rows, k, end = found
    rows = rows.sort_values([UNIT, TIME])
    units = rows[UNIT].drop_duplicates().to_numpy()
    periods = np.sort(rows[TIME].unique()).astype(float)
    n = len(units)
    clusters = pd.factorize(rows.groupby(UNIT, sort=False)[CLUSTER].first().loc[units])[0]
    labels = np.zeros(n)
    sizes = cohort_sizes[:k]
    labels[: sum(sizes)] = np.repeat(np.array(cohorts[:k], float), sizes)
    rng = np.random.default_rng(params.inference.seed)
    order = np.argsort(rng.random((n_sims, n)), axis=1)
    groups = np.zeros((n_sims, n))
    np.put_along_axis(groups, order, np.broadcast_to(labels, (n_sims, n)), axis=1)
    return _PlaceboDraws(rows, units, periods, clusters, groups, k, end, len(cohorts), sizes)


def _verdict(rate: float, n_valid: int, band: tuple[float, float]) -> str:
    if n_valid == 0:
        return "not_measured"
    return "passed" if band[0] <= rate <= band[1] else "failed"


def size_check(
    frame: pd.DataFrame,
    design: RolloutDesign,
    covariates: tuple[str, ...],
    simple: EffectEstimate,
    params: Params,
) -> SizeCheck:
    """Rejection rate of the simple ATT's interval under placebo adoption (no true effect).

    Keeps the real outcomes of units untreated throughout the placebo window and draws
    ``inference.size_sims`` placebo timings among them (seed ``inference.seed``): the same
    number of units adopting at the same dates as the real cohorts. Each draw is estimated with
    the page's estimator (control group, method, weights, covariates, clusters) by
    :func:`evaluation.estimators.staggered.simple_att_draws`, all draws at once.

    Candidates (:data:`SIZE_METHODS`) are tried in order and the check stops at the first
    whose rate lies in ``inference.size_band``: the analytic normal interval, then the
    delete-one-cluster jackknife with t(G-1) (:func:`~evaluation.inference.cs_jackknife.
    simple_att_jackknife_draws`), then the studentised wild cluster bootstrap
    (:func:`~evaluation.inference.cs_wild_bootstrap.simple_att_wild_bootstrap_draws`,
    ``inference.n_boot`` cluster weights, seed ``inference.seed``), all on the same draws.
    """
    alpha = params.analysis.alpha
    band = tuple(float(b) for b in params.inference.size_band)
    n_sims = int(params.inference.size_sims)
    weight = design.weights
    columns = [design.outcome, *covariates, *([weight] if weight else [])]
    placebo = _placebo_draws(frame, design, columns, params)
    if isinstance(placebo, int):
        return SizeCheck(
            "too_few_units", float("nan"), n_sims, 0, alpha, band, 0, 0, 0, placebo,
            design.last_period,
        )  # fmt: skip
    periods, groups, clusters = placebo.periods, placebo.groups, placebo.clusters
    x = np.stack([placebo.wide(None), *[placebo.wide(c) for c in covariates]], axis=2)
    y, w = placebo.wide(design.outcome), placebo.wide(weight)
    options = {
        "control_group": design.control_group,
        "method": design.method,
    }
    n_clusters = int(clusters.max()) + 1
    z = stats.norm.ppf(1 - alpha / 2)
    t_crit = stats.t.ppf(1 - alpha / 2, max(n_clusters - 1, 1))

    def analytic(x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, ...]:
        estimate, std_error = simple_att_draws(y, w, x, periods, groups, clusters, **options)
        return estimate, std_error, np.full(len(estimate), z)

    def jackknife(x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, ...]:
        estimate, std_error = simple_att_jackknife_draws(
            y, w, x, periods, groups, clusters, **options
        )
        return estimate, std_error, np.full(len(estimate), t_crit)

    def wild_bootstrap(x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, ...]:
        return simple_att_wild_bootstrap_draws(
            y, w, x, periods, groups, clusters, **options,
            n_boot=int(params.inference.n_boot), seed=int(params.inference.seed), alpha=alpha,
        )  # fmt: skip

    runs = {"analytic": analytic, "jackknife": jackknife, "wild_bootstrap": wild_bootstrap}
    rates: dict[str, float] = {}
    first: tuple | None = None
    for method in SIZE_METHODS:
        estimate, std_error, crit = runs[method](x, groups)
        failed = ~(np.isfinite(estimate) & np.isfinite(std_error) & np.isfinite(crit))
        if covariates and failed.any():
            # As the page does: a draw some cell of which cannot be estimated with the
            # covariates is estimated without them.
            estimate[failed], std_error[failed], crit[failed] = runs[method](
                x[:, :, :1], groups[failed]
            )
        valid = np.isfinite(estimate) & np.isfinite(std_error) & ~np.isnan(crit)
        n_valid = int(valid.sum())
        rate = (
            float(np.mean(np.abs(estimate[valid] / std_error[valid]) > crit[valid]))
            if n_valid
            else np.nan
        )
        rates[method] = rate
        status = _verdict(rate, n_valid, band)  # type: ignore[arg-type]
        if first is None:
            first = (method, status, rate, n_valid, estimate, valid)
        if status == "passed":
            break
    else:
        method, status, rate, n_valid, estimate, valid = first  # type: ignore[misc]
    p_value = float("nan")
    if placebo.k == placebo.n_cohorts and n_valid:
        larger = np.sum(np.abs(estimate[valid]) >= abs(simple.estimate))
        p_value = float((larger + 1) / (n_valid + 1))
    return _measured_size(placebo, params, method, rates, n_valid, p_value)


def _measured_size(
    placebo: _PlaceboDraws,
    params: Params,
    method: str,
    rates: dict[str, float],
    n_valid: int,
    p_value: float = float("nan"),
) -> SizeCheck:
    """The verdict on ``method``'s measured rate (``rates[method]``) over ``placebo``'s draws."""
    band = tuple(float(b) for b in params.inference.size_band)
    rate = rates[method]
    return SizeCheck(
        status=_verdict(rate, n_valid, band),  # type: ignore[arg-type]
        rejection_rate=rate,
        n_sims=int(params.inference.size_sims),
        n_valid=n_valid,
        alpha=params.analysis.alpha,
        band=band,  # type: ignore[arg-type]
        n_pool=len(placebo.units),
        n_placebo_treated=int(sum(placebo.sizes)),
        n_cohorts_used=placebo.k,
        n_cohorts=placebo.n_cohorts,
        window_end=placebo.end,
        placebo_p_value=p_value,
        method=method,
        rates=rates,
    )


def sun_abraham_size_check(frame: pd.DataFrame, design: RolloutDesign, params: Params) -> SizeCheck:
    """Rejection rate of Sun-Abraham's overall-effect interval under placebo adoption.

    The placebo design of :func:`size_check` (same pool, window, cohort sizes and dates, the
    same ``inference.size_sims`` draws with seed ``inference.seed``; covariates play no part,
    Sun-Abraham does not adjust for them): each draw's pool rows are estimated by
    :func:`evaluation.estimators.sun_abraham.sun_abraham` with the pool's untreated units as
    controls, the page's weights, clusters and event window, and the rate is the share of
    draws whose ``1 - analysis.alpha`` interval of the overall ``ATT`` (cluster-robust, fixest
    small-sample factor, t(G-1)) excludes zero. Passed when it lies in
    ``inference.size_band`` (method :data:`SA_SIZE_METHOD`).
    """
    alpha = params.analysis.alpha
    band = tuple(float(b) for b in params.inference.size_band)
    n_sims = int(params.inference.size_sims)
    weight = design.weights
    placebo = _placebo_draws(frame, design, [design.outcome, *([weight] if weight else [])], params)
    if isinstance(placebo, int):
        return SizeCheck(
            "too_few_units", float("nan"), n_sims, 0, alpha, band, 0, 0, 0, placebo,
            design.last_period, method=SA_SIZE_METHOD,
        )  # fmt: skip
    rejected = []
    for draw in range(len(placebo.groups)):
        try:
            estimate = sun_abraham(
                placebo.frame(draw), design.outcome, UNIT, TIME, FIRST_TREATED,
                cluster=CLUSTER, weights=weight, control="never_treated",
                leads=params.analysis.event_leads, lags=params.analysis.event_lags, alpha=alpha,
            )  # fmt: skip
        except (ValueError, np.linalg.LinAlgError):
            continue
        low, high = estimate.conf_int
        if np.isfinite(low) and np.isfinite(high):
            rejected.append(low > 0 or high < 0)
    n_valid = len(rejected)
    rate = float(np.mean(rejected)) if n_valid else float("nan")
    return _measured_size(placebo, params, SA_SIZE_METHOD, {SA_SIZE_METHOD: rate}, n_valid)


# ---------------------------------------------------------------------------------------------
# Later cohorts against the first, household check
# ---------------------------------------------------------------------------------------------


@analysis("rollout.cohorts", PAGE, requires=(LATER_COHORTS,))
def cohort_comparison(
    prepared: Prepared, params: Params, effects: RolloutEffects
) -> CohortComparison | NotApplicable:
    """First cohort vs the later cohorts (size-weighted) at equal time since adoption.

    NotApplicable: ``later_cohorts``; ``rollout_last_cohort_only`` when the only later cohort
    serves as the comparison group (every unit adopted, no never-treated unit).
    """
    exposure, design = effects.exposure, effects.design
    contract = _contract(prepared)
    if not design.has_later_waves:
        return NotApplicable("rollout.cohorts", "later_cohorts", {"contract": contract, "have": 0})
    terms = None if exposure is None else exposure.terms
    pilot_name = f"g={design.cohorts[0]:g}"
    later = [
        (f"g={g:g}", n)
        for g, n in zip(design.cohorts[1:], design.units_by_cohort[1:], strict=True)
        if terms is not None
        and f"g={g:g}" in terms.index
        and np.isfinite(terms.loc[f"g={g:g}", "estimate"])
    ]
    if terms is None or pilot_name not in terms.index or not later:
        return NotApplicable("rollout.cohorts", "rollout_last_cohort_only", {"contract": contract})
    pilot = float(terms.loc[pilot_name, "estimate"])
    sizes = np.array([n for _, n in later], float)
    values = terms.loc[[name for name, _ in later], "estimate"].to_numpy(float)
    later_mean = float(np.sum(sizes * values) / sizes.sum())
    if pilot > 0 and later_mean >= 0.8 * pilot:
        verdict = "as_much"
    elif pilot > 0 and later_mean > 0:
        verdict = "less"
    elif pilot > 0:
        verdict = "none"
    else:
        verdict = "pilot_none"
    return CohortComparison(
        pilot=pilot,
        later=later_mean,
        ratio=later_mean / pilot if pilot != 0 else float("nan"),
        verdict=verdict,
        later_terms=tuple(name for name, _ in later),
        waves=int(exposure.diagnostics["max_event_time"]) + 1,  # type: ignore[union-attr]
    )


@analysis("rollout.household", PAGE, requires=(BALLOTS,))
def household_check(
    prepared: Prepared, params: Params, effects: RolloutEffects
) -> EffectEstimate | NotApplicable:
    """The simple ATT re-estimated on individual ballots (repeated cross-sections).

    Same control group, base period, method and covariates as the unit-level estimate; each
    ballot is a sampling unit weighted as :func:`sample.ballot_weight` says, clustered like the
    unit-level estimate (estimator ``cs_simple_household``). Its interval follows the size
    verdict of the unit-level simple ATT.

    NotApplicable: ``ballots``; ``rollout_household_outcome`` (outcome not on ballots).
    """
    design = effects.design
    if design.outcome not in prepared.ballots:  # type: ignore[operator]
        return NotApplicable(
            "rollout.household",
            "rollout_household_outcome",
            {"contract": _contract(prepared), "outcome": design.outcome},
        )
    everything = {**prepared.meta, "window_start": -np.inf, "window_end": np.inf}
    ballots = sample.window_ballots(dataclasses.replace(prepared, meta=everything))
    ballots = ballots.loc[~_mixed_units(ballots)].copy()
    units = staggered_panel(prepared, params).groupby(UNIT).first()
    ballots = ballots.loc[ballots[UNIT].isin(units.index)]
    for name in (CLUSTER, *effects.covariates):
        ballots[name] = ballots[UNIT].map(units[name])
    ballots[FIRST_TREATED] = ballots[UNIT].map(units[FIRST_TREATED])
    weight = sample.ballot_weight(params)
    result = group_time_att(
        ballots.reset_index(drop=True),
        design.outcome,
        None,
        TIME,
        FIRST_TREATED,
        covariates=effects.covariates,
        weights=weight if weight in ballots else None,
        control_group=design.control_group,  # type: ignore[arg-type]
        method=design.method,  # type: ignore[arg-type]
        base_period=design.base_period,  # type: ignore[arg-type]
        panel=False,
        cluster=CLUSTER,
        alpha=params.analysis.alpha,
    )
    return dataclasses.replace(aggregate(result, "simple"), estimator="cs_simple_household")
