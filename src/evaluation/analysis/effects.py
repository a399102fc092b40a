"""Did it work, and by how much? The effect estimates of page 03, on any shape of data.

Every estimate takes its rows, weights, clusters and covariates from
:mod:`evaluation.analysis.sample`. The headline is chosen from what the data can support:

1. Hà Nam ballots from before and after the start in pilot and non-pilot communes: the
   household-level two-way fixed-effects (TWFE) DiD of ``analysis.headline_outcome``.
2. Otherwise (a generic panel, ballots only after the start or only in pilot communes): the
   unit-period TWFE DiD of the headline outcome, or, on Hà Nam data whose ballots cannot give a
   DiD, of the first administrative indicator that can; the reason the ballots could not is
   kept so the page says so.
3. Nothing observed before and after the start in both groups: :class:`NotApplicable`.

With ballots only after the start, :func:`adjusted_comparison` compares pilot with non-pilot
communes after the start, adjusted for baseline covariates: weaker evidence than a DiD, and
labelled so.

How sure each estimate is (which interval may be shown) is :mod:`evaluation.analysis.how_sure`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaluation.analysis import sample
from evaluation.analysis.base import NotApplicable, analysis, applies, first_unmet
from evaluation.analysis.requirements import (
    BALLOTS_BEFORE_AND_AFTER,
    BALLOTS_BOTH_GROUPS,
    COVARIATES,
    DID_DESIGN,
    Requirement,
    comparison_units,
    pre_periods,
    treated_units,
)
from evaluation.config import Params
from evaluation.estimators.did_table import DidTable, did_2x2_table
from evaluation.estimators.doubly_robust import drdid
from evaluation.estimators.event_study import event_study
from evaluation.estimators.ordinal import OrdinalDidResult, ordinal_did
from evaluation.estimators.result import EffectEstimate
from evaluation.estimators.twfe import fit_within, twfe
from evaluation.inference.pretrend_power import PretrendPower, pretrend_power
from evaluation.prepare import Prepared

PAGE = "03_effects"
#: Row levels an estimate is fitted at.
BALLOT = "ballot"
UNIT_PERIOD = "unit_period"
#: Hà Nam's administrative indicators, in the order they stand in for the ballots.
ADMIN_INDICATORS = ("pct_dossiers_on_time", "pct_condolence_on_time", "complaints_per_1000")

#: Household ballots of the Hà Nam contract (a generic panel's respondents are not ballots).
HANAM_BALLOTS = Requirement(
    "ballots", lambda f: None if f.has_ballots and f.contract == "hanam" else {}
)
#: Ballots only after the start: the case for the adjusted comparison.
ENDLINE_ONLY = Requirement(
    "effects_endline_only",
    lambda f: (
        None
        if f.ballot_waves_before == 0 and f.ballot_waves_after >= 1
        else {"before": f.ballot_waves_before}
    ),
)
#: What a ballot-level DiD needs.
BALLOT_DID = (HANAM_BALLOTS, BALLOTS_BEFORE_AND_AFTER, BALLOTS_BOTH_GROUPS)


@dataclass(frozen=True)
class EstimationDesign:
    """The rows, weights and clusters one estimate is fitted on (defined by ``sample``).

    Attributes
    ----------
    outcome : str
        Outcome column.
    level : {"ballot", "unit_period"}
        Household ballots or unit-period rows.
    weights : str or None
        Weight column (``sample.ballot_weight`` / ``sample.panel_weight``).
    cluster : str
        Cluster column (``sample.cluster_column``).
    strata : str or None
        Column pilots are re-assigned within (``sample.strata_column``), present in ``frame``.
    weight_key : str
        Message key saying how rows are weighted (``sample.weights.*``).
    estimator : str
        Machine name of the TWFE estimate on this design (``twfe_household``,
        ``twfe_commune_wave`` on Hà Nam data, ``twfe_unit_period`` on a generic panel).
    frame : pandas.DataFrame
        The rows in the comparison window with a value of ``outcome`` (not serialised).
    """

    outcome: str
    level: str
    weights: str | None
    cluster: str
    strata: str | None
    weight_key: str
    estimator: str
    frame: pd.DataFrame = field(repr=False, compare=False, metadata={"serialise": False})

    def spec(self, alpha: float) -> dict[str, Any]:
        """Keyword arguments of :mod:`evaluation.inference.trust` functions for this design."""
        return {
            "outcome": self.outcome,
            "treatment": "treated",
            "unit": "commune_code",
            "time": "wave_index",
            "cluster": self.cluster,
            "strata": self.strata,
            "weights": self.weights,
            "alpha": alpha,
        }


def headline_outcome(prepared: Prepared, params: Params) -> str:
    """The outcome asked for first: ``analysis.headline_outcome``; on a generic panel whose
    columns do not include it, the panel's first outcome."""
    requested = params.analysis.headline_outcome
    if sample.is_panel(prepared):
        outcomes = list(prepared.meta.get("outcomes") or [])
        if requested not in outcomes and outcomes:
            return outcomes[0]
    return requested


def _unit_map(prepared: Prepared, column: str) -> pd.Series:
    for table in (prepared.baseline, prepared.communes):
        if column in table and "commune_code" in table:
            keyed = table.assign(commune_code=table["commune_code"].astype(str))
            return keyed.drop_duplicates("commune_code").set_index("commune_code")[column]
    raise KeyError(column)


def design(prepared: Prepared, params: Params, outcome: str, level: str) -> EstimationDesign:
    """The estimation design of ``outcome`` at ``level`` (rows, weights, clusters, strata).

    Raises
    ------
    ValueError
        ``level="ballot"`` on data without ballots (check :data:`BALLOT_DID` first).
    """
    if level == BALLOT:
        frame = sample.window_ballots(prepared)
        weights = sample.ballot_weight(params)
    else:
        frame = sample.window_panel(prepared)
        weights = sample.panel_weight(prepared, params, outcome)
    cluster = sample.cluster_column(prepared, params)
    if cluster not in frame:
        cluster = "commune_code"
    strata = sample.strata_column(prepared, params)
    if strata is not None and strata not in frame:
        try:
            frame[strata] = frame["commune_code"].map(_unit_map(prepared, strata))
        except KeyError:
            strata = None
    needed = [outcome, "treated", cluster] + ([weights] if weights else [])
    if outcome in frame:
        frame = frame.dropna(subset=[c for c in needed if c in frame])
        if weights is not None and weights in frame:
            frame = frame[frame[weights] > 0]
    return EstimationDesign(
        outcome=outcome,
        level=level,
        weights=weights,
        cluster=cluster,
        strata=strata,
        weight_key=sample.weight_label_key(
            prepared, params, outcome, "ballot" if level == BALLOT else "unit_period"
        ),
        estimator=(
            "twfe_household"
            if level == BALLOT
            else ("twfe_unit_period" if sample.is_panel(prepared) else "twfe_commune_wave")
        ),
        frame=frame,
    )


def ballot_did_unmet(prepared: Prepared, params: Params) -> tuple[str, dict] | None:
    """Why household ballots cannot give a DiD here (reason key, facts); None when they can."""
    return first_unmet(BALLOT_DID, prepared, params)


# --------------------------------------------------------------------------------------------
# The headline


@dataclass(frozen=True)
class Headline:
    """The first answer: the TWFE DiD of the headline outcome on the best design available.

    Attributes
    ----------
    outcome : str
        The outcome estimated (the requested one, or the admin indicator standing in for it).
    requested_outcome : str
        ``analysis.headline_outcome`` (a panel's first outcome when that is not a column).
    level : {"ballot", "unit_period"}
    estimate : EffectEstimate
        Point estimate (its interval is CRV1 and is not shown: see ``how_sure``).
    design : EstimationDesign
    ballot_reason : str or None
        Requirement key saying why Hà Nam ballots could not give the DiD (None when they did,
        or on a generic panel).
    ballot_facts : dict
        The facts behind ``ballot_reason`` (for its sentence).
    """

    outcome: str
    requested_outcome: str
    level: str
    estimate: EffectEstimate
    design: EstimationDesign
    ballot_reason: str | None = None
    ballot_facts: dict = field(default_factory=dict)


def fit_twfe(params: Params, on: EstimationDesign) -> EffectEstimate:
    """The TWFE DiD (unit and period effects, clustered) on a design."""
    return twfe(
        on.frame,
        on.outcome,
        "treated",
        unit="commune_code",
        time="wave_index",
        cluster=on.cluster,
        weights=on.weights,
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
        estimator=on.estimator,
    )


@analysis("effects.headline", PAGE, requires=DID_DESIGN)
def _choose(
    prepared: Prepared, params: Params
) -> tuple[str, str, EstimationDesign, str | None, dict] | NotApplicable:
    """(outcome, level, design, ballot reason, facts) of the best headline design, unfitted."""
    requested = headline_outcome(prepared, params)
    unmet = None if sample.is_panel(prepared) else ballot_did_unmet(prepared, params)
    if not sample.is_panel(prepared) and unmet is None and sample.is_ballot_outcome(requested):
        chosen = design(prepared, params, requested, BALLOT)
        if sample.did_possible(chosen.frame, requested):
            return requested, BALLOT, chosen, None, {}
    candidates = [requested]
    if not sample.is_panel(prepared):
        candidates += [o for o in ADMIN_INDICATORS if o != requested]
    for outcome in candidates:
        chosen = design(prepared, params, outcome, UNIT_PERIOD)
        if sample.did_possible(chosen.frame, outcome):
            reason, facts = (
                unmet if unmet is not None and sample.is_ballot_outcome(requested) else (None, {})
            )
            return outcome, UNIT_PERIOD, chosen, reason, facts
    if unmet is not None:
        return NotApplicable("effects.headline", unmet[0], unmet[1])
    return NotApplicable(
        "effects.headline",
        "effects_outcome_did",
        {"contract": "panel" if sample.is_panel(prepared) else "hanam", "outcome": requested},
    )


def headline(prepared: Prepared, params: Params) -> Headline | NotApplicable:
    """The headline TWFE DiD on the best design the data support (see the module docstring)."""
    choice = _choose(prepared, params)
    if not applies(choice):
        return choice
    outcome, level, chosen, reason, facts = choice
    requested = headline_outcome(prepared, params)
    return Headline(outcome, requested, level, fit_twfe(params, chosen), chosen, reason, facts)


def chosen_outcome(prepared: Prepared, params: Params) -> str:
    """The outcome the headline is estimated on (what every other page re-examines): the
    requested one, or the indicator page 03 fell back to when ballots cannot give a DiD."""
    choice = _choose(prepared, params)
    return choice[0] if applies(choice) else headline_outcome(prepared, params)


# --------------------------------------------------------------------------------------------
# Every outcome


@dataclass(frozen=True)
class OutcomeEffects:
    """The TWFE DiD of every outcome the data support, and the outcomes left out.

    Attributes
    ----------
    estimates : list of EffectEstimate
        Point estimates (one per design, ballot-level designs first).
    designs : list of EstimationDesign
        The design of each estimate, same order.
    skipped : pandas.DataFrame
        ``outcome, level`` of outcomes asked for that no DiD can be fitted on.
    """

    estimates: list[EffectEstimate]
    designs: list[EstimationDesign]
    skipped: pd.DataFrame


def requested_outcomes(prepared: Prepared, params: Params) -> list[str]:
    """The outcomes of the every-outcome table: a panel's outcomes, or ``analysis.outcomes``
    plus Hà Nam's administrative indicators present in the data."""
    if sample.is_panel(prepared):
        return list(prepared.meta.get("outcomes") or [])
    out = list(params.analysis.outcomes)
    out += [o for o in ("coverage", *ADMIN_INDICATORS) if o in prepared.panel and o not in out]
    return out


@analysis("effects.every_outcome", PAGE, requires=DID_DESIGN)
def every_outcome(prepared: Prepared, params: Params) -> OutcomeEffects | NotApplicable:
    """The TWFE DiD of every outcome: household level for ballot measures (when ballots give a
    DiD), unit-period level for every outcome observed before and after in both groups."""
    outcomes = requested_outcomes(prepared, params)
    ballots_ok = not sample.is_panel(prepared) and ballot_did_unmet(prepared, params) is None
    wanted = [(o, BALLOT) for o in outcomes if ballots_ok and sample.is_ballot_outcome(o)]
    wanted += [(o, UNIT_PERIOD) for o in outcomes]
    estimates, designs, skipped = [], [], []
    for outcome, level in wanted:
        on = design(prepared, params, outcome, level)
        if sample.did_possible(on.frame, outcome):
            estimates.append(fit_twfe(params, on))
            designs.append(on)
        else:
            skipped.append({"outcome": outcome, "level": level})
    if not estimates:
        return NotApplicable(
            "effects.every_outcome",
            "effects_outcome_did",
            {
                "contract": "panel" if sample.is_panel(prepared) else "hanam",
                "outcome": ", ".join(outcomes),
            },
        )
    return OutcomeEffects(estimates, designs, pd.DataFrame(skipped, columns=["outcome", "level"]))


# --------------------------------------------------------------------------------------------
# Estimates of one outcome (names kept from report/effects.py)


def twfe_ballots(prepared: Prepared, params: Params, outcome: str) -> EffectEstimate:
    """Household-level TWFE DiD of ``outcome`` (ballot weights and clusters from ``sample``).

    Raises
    ------
    ValueError
        Without ballots (check :data:`BALLOT_DID` first).
    """
    return fit_twfe(params, design(prepared, params, outcome, BALLOT))


def twfe_communes(prepared: Prepared, params: Params, outcome: str) -> EffectEstimate:
    """Unit-period TWFE DiD of ``outcome`` (weights and clusters from ``sample``)."""
    return fit_twfe(params, design(prepared, params, outcome, UNIT_PERIOD))


@analysis("effects.did_table", PAGE, requires=DID_DESIGN)
def did_table(prepared: Prepared, params: Params, on: EstimationDesign) -> DidTable:
    """The 2x2 table of a design: pilot / other x before / after, first differences, DiD.

    With one treated cluster the treated group's standard errors are undefined (NaN, shown
    as a dash) rather than a warning printed into the page.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return did_2x2_table(
            on.frame,
            on.outcome,
            pilot="pilot",
            post="post",
            cluster=on.cluster,
            weights=on.weights,
            alpha=params.analysis.alpha,
        )


@analysis("effects.event_study", PAGE, requires=(*DID_DESIGN, pre_periods(2)))
def event_study_estimate(prepared: Prepared, params: Params, outcome: str) -> EffectEstimate:
    """Leads and lags around the start on unit-period rows (weights from ``sample``)."""
    on = design(prepared, params, outcome, UNIT_PERIOD)
    frame = on.frame.copy()
    frame["first_treated_window"] = np.where(
        frame["pilot"] > 0, prepared.meta["pilot_wave"], np.nan
    )
    leads, lags = params.analysis.event_leads, params.analysis.event_lags
    study = event_study(
        frame,
        outcome,
        unit="commune_code",
        time="wave_index",
        first_treated="first_treated_window",
        cluster=on.cluster,
        weights=on.weights,
        leads=leads,
        lags=lags,
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
    )
    # How strong the pre-start test is (Roth 2022), so "no pre-trend" is read with its power.
    power = event_study_power(frame, study, outcome, on.weights, leads, lags, prepared, params)
    return dataclasses.replace(study, diagnostics={**study.diagnostics, "_power": power})


def window_event_study(
    frame: pd.DataFrame,
    outcome: str,
    weights: str | None,
    leads: int,
    lags: int,
    prepared: Prepared,
    params: Params,
) -> EffectEstimate:
    """The event study of the comparison window (``first_treated_window``) with the run's
    clusters, small-sample convention and level: pages 03 and 04 and the trend-power check."""
    return event_study(
        frame,
        outcome,
        unit="commune_code",
        time="wave_index",
        first_treated="first_treated_window",
        cluster=sample.cluster_column(prepared, params),
        weights=weights,
        leads=leads,
        lags=lags,
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
    )


def event_study_power(
    frame: pd.DataFrame,
    study: EffectEstimate,
    outcome: str,
    weights: str | None,
    leads: int,
    lags: int,
    prepared: Prepared,
    params: Params,
) -> PretrendPower | None:
    """Power of the study's joint lead test against a linear differential trend.

    What each coefficient estimates under a trend of one unit per period (``d``) comes from the
    same event-study regression applied to that trend alone (treated units' outcome replaced by
    ``event time + 1``, others by 0, on the rows with the outcome): exact with binned end points
    and unbalanced rows, and ``e + 1`` for every lead the window does not bin. The test is the
    study's F test on ``G - 1`` denominator degrees of freedom.
    """
    pilot_wave = prepared.meta["pilot_wave"]
    signal = np.where(frame["pilot"] > 0, frame["wave_index"] - pilot_wave + 1.0, 0.0)
    trend = frame.assign(_trend=np.where(frame[outcome].notna(), signal, np.nan))
    try:
        direction = window_event_study(
            trend, "_trend", weights, leads, lags, prepared, params
        ).terms["estimate"]
    except (ValueError, np.linalg.LinAlgError):
        return None
    names = [str(n) for n in study.terms.index]
    leads_named = [n for n in names if n.startswith("e-")]
    post = [n for n in names if not n.startswith("e-")]
    cov = study.model.cov_params().loc[leads_named, leads_named].to_numpy(float)
    d = direction.reindex(leads_named).to_numpy(float)
    bias = float(direction.reindex(post).mean()) if post else math.nan
    theta = float(study.terms.loc[post, "estimate"].mean()) if post else math.nan
    slope = abs(theta / bias) if math.isfinite(bias) and bias != 0 else None
    try:
        return pretrend_power(
            d,
            cov,
            alpha=params.analysis.alpha,
            slope=slope,
            df_denom=float(study.diagnostics["pretrend_df_denom"]),
        )
    except ValueError:
        return None


def _with_covariates(prepared: Prepared, frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    frame = frame.copy()
    for name in names:
        if name not in frame:
            frame[name] = frame["commune_code"].map(_unit_map(prepared, name))
    return frame


@dataclass(frozen=True)
class DoublyRobust:
    """Sant'Anna-Zhao DiD adjusted for baseline covariates: doubly robust, IPW, regression.

    Attributes
    ----------
    estimates : list of EffectEstimate
        ``drdid_dr_panel``, ``drdid_ipw_panel``, ``drdid_reg_panel``.
    covariates : list of str
        The covariates adjusted for (``sample.covariates``: only those the data have).
    """

    estimates: list[EffectEstimate]
    covariates: list[str]


@analysis(
    "effects.doubly_robust",
    PAGE,
    requires=(*DID_DESIGN, treated_units(2), comparison_units(2), COVARIATES),
)
def doubly_robust(prepared: Prepared, params: Params, outcome: str) -> DoublyRobust | NotApplicable:
    """Sant'Anna-Zhao DiD of ``outcome`` on unit-period rows with ``sample.covariates``
    (NotApplicable ``effects_dr_singular`` when the covariates cannot separate the groups)."""
    on = design(prepared, params, outcome, UNIT_PERIOD)
    covariates = sample.covariates(prepared, params)
    frame = _with_covariates(prepared, on.frame, covariates)
    two = sample.before_after_panel(prepared, frame, outcome, covariates, on.weights)
    try:
        estimates = _drdid_all(two, outcome, covariates, params)
    except (ValueError, np.linalg.LinAlgError):
        return NotApplicable(
            "effects.doubly_robust",
            "effects_dr_singular",
            {"contract": "panel" if sample.is_panel(prepared) else "hanam"},
        )
    return DoublyRobust(estimates, covariates)


def _drdid_all(
    two: pd.DataFrame, outcome: str, covariates: list[str], params: Params
) -> list[EffectEstimate]:
    return [before_after_drdid(two, outcome, covariates, params, m) for m in ("dr", "ipw", "reg")]


def before_after_drdid(
    two: pd.DataFrame, outcome: str, covariates: list[str], params: Params, method: str = "dr"
) -> EffectEstimate:
    """Sant'Anna-Zhao DiD (``method`` dr, ipw or reg) on a before/after unit panel
    (:func:`evaluation.analysis.sample.before_after_panel`); every page's doubly robust fit."""
    return drdid(
        two,
        outcome,
        unit="commune_code",
        post="post",
        pilot="pilot",
        covariates=covariates,
        method=method,
        panel=True,
        alpha=params.analysis.alpha,
    )


@analysis("effects.likert_shift", PAGE, requires=BALLOT_DID)
def likert_shift(prepared: Prepared, params: Params) -> OrdinalDidResult | NotApplicable:
    """Ordered-logit DiD of ``analysis.likert_item``: how the probability of each answer moved."""
    item = params.analysis.likert_item
    frame = sample.window_ballots(prepared)
    if item not in frame or frame[item].notna().sum() == 0:
        return NotApplicable(
            "effects.likert_shift", "effects_likert_item", {"contract": "hanam", "item": item}
        )
    weights = sample.ballot_weight(params)
    cluster = sample.cluster_column(prepared, params)
    levels = tuple(range(params.ballot.likert_min, params.ballot.likert_max + 1))
    return ordinal_did(
        frame.dropna(subset=[item]).astype({item: int}),
        item,
        pilot="pilot",
        post="post",
        unit="commune_code",
        cluster=cluster if cluster in frame else "commune_code",
        weights=weights if weights in frame else None,
        levels=levels,
        satisfied=tuple(v for v in levels if v >= params.ballot.satisfied_from),
        alpha=params.analysis.alpha,
    )


# --------------------------------------------------------------------------------------------
# Ballots only after the start: a weaker, adjusted comparison


@dataclass(frozen=True)
class AdjustedComparison:
    """Pilot minus non-pilot ballots after the start, adjusted for baseline covariates.

    Not a difference-in-differences: without ballots from before the start, differences the
    pilots already had are only removed as far as the covariates capture them.

    Attributes
    ----------
    estimate : EffectEstimate
        ``adjusted_endline``: the pilot coefficient of a regression of ballot answers on pilot,
        wave effects and the covariates (its interval is CRV1 and is not shown).
    covariates : list of str
        Covariates adjusted for (empty: only wave effects).
    """

    estimate: EffectEstimate
    covariates: list[str]


@analysis("effects.adjusted_endline", PAGE, requires=(HANAM_BALLOTS, BALLOTS_BOTH_GROUPS))
def adjusted_comparison(prepared: Prepared, params: Params) -> AdjustedComparison | NotApplicable:
    """Pilot vs non-pilot ballots after the start, adjusted for ``sample.covariates``.

    Only when the ballots give no DiD because none precede the start (:data:`ENDLINE_ONLY`,
    checked here rather than declared, so ``validate`` does not list it on data with a DiD).
    """
    unmet = first_unmet((ENDLINE_ONLY,), prepared, params)
    if unmet is not None:
        return NotApplicable("effects.adjusted_endline", *unmet)
    outcome = headline_outcome(prepared, params)
    on = design(prepared, params, outcome, BALLOT)
    after = on.frame[on.frame["post"] > 0]
    if outcome not in after or after[outcome].notna().sum() == 0:
        return NotApplicable(
            "effects.adjusted_endline", "outcome_present", {"contract": "hanam", "outcome": outcome}
        )
    covariates = sample.covariates(prepared, params)
    frame = _with_covariates(prepared, after, covariates).dropna(subset=covariates)
    fit = fit_within(
        frame,
        outcome,
        ["pilot", *covariates],
        ["wave_index"],
        on.cluster,
        weights=on.weights,
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
    )
    pilots = fit.frame["pilot"].to_numpy(float) > 0
    estimate = EffectEstimate(
        outcome=outcome,
        estimand="difference after the start",
        estimator="adjusted_endline",
        terms=fit.terms.loc[["pilot"]],
        n_obs=fit.n_obs,
        n_clusters=fit.n_clusters,
        n_treated_clusters=int(np.unique(fit.cluster_codes[pilots]).size),
        inference=fit.inference,
        notes=fit.notes,
        diagnostics=fit.diagnostics,
    )
    return AdjustedComparison(estimate, covariates)
