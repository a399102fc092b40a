"""Where, at what cost and in what order to scale (page ``06_scaling``).

Six questions, each an analysis returning a typed result or :class:`NotApplicable`:

* :func:`headline_effects`: the average effect of the first treated units (two-way fixed effects
  on unit-period rows of the comparison window, the analysis sample of :mod:`.sample`), for the
  headline outcome and the two outcomes the costs are priced in.
* :func:`candidate_predictions`: a predicted effect for every unit not treated by the end of
  the data (page 05's saved predictions when they exist, else the average effect). The
  intervals of these predictions are model-based extrapolations whose size was never measured
  on this design: ``size_checked`` is False and pages do not show them.
* :func:`conditions_screen`: the province's criteria (``scaling.conditions``) on each
  candidate's recent values; criteria the data cannot check are listed, never counted as met.
* :func:`cost_effectiveness_analysis` and :func:`budget_plan`: cost per additional satisfied
  household (cost file x households x predicted effects) and the 0/1 knapsack within
  ``scaling.budget_vnd``.
* :func:`power_analysis`: power and minimum detectable effect of the next phase as a
  unit-randomised DiD, from variance components of the untreated rows.
* :func:`stepped_wedge_analysis`: a randomised, stratified start order for the next units.

:func:`scaling_analysis` runs them in order and returns a :class:`ScalingResult`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaluation.analysis import sample
from evaluation.analysis.base import NotApplicable, analysis, applies
from evaluation.analysis.requirements import DID_DESIGN, Requirement
from evaluation.config import Params
from evaluation.estimators.result import EffectEstimate
from evaluation.estimators.twfe import twfe
from evaluation.measures import period_label
from evaluation.prepare import Prepared
from evaluation.scaling.budget import RolloutPlan, gain_cost_curve, plan_rollout
from evaluation.scaling.cost_effectiveness import (
    CostEffectiveness,
    cost_effectiveness,
    cost_effectiveness_table,
    sensitivity_grid,
    unit_costs,
)
from evaluation.scaling.power import (
    VarianceComponents,
    estimate_variance_components,
    panel_variance_components,
    power_curves,
    smallest_design,
)
from evaluation.scaling.prediction import check_conditions
from evaluation.scaling.rollout_design import step_balance, stepped_wedge

PAGE = "06_scaling"
SCORE = "satisfaction_index"
SHARE = "pct_satisfied"
#: Periods averaged to describe a unit's current situation for the conditions screen.
RECENT_PERIODS = 4
#: Numbers of new treated units in the power grid.
N_TREATED_GRID = (2, 3, 4, 6, 8, 10, 14, 20, 30, 40)
#: The next phase is powered for this share of the predicted effect: outside hand-picked pilots
#: the effect is often smaller, and a design powered for the pilot's effect would miss that.
TARGET_SHARE = 0.5
#: Power the next phase is designed for.
TARGET_POWER = 0.8
#: Lowest share of returned ballots used in the power design.
MIN_COVERAGE = 0.05
#: Columns page 05's ``tables/commune_predictions.csv`` must have to be used here.
SAVED_PREDICTION_COLUMNS = (
    "commune_code",
    "outcome",
    "model",
    "predicted_effect",
    "std_error",
    "conf_low",
    "conf_high",
    "extrapolated",
)
#: Columns of ``tables/rollout_plan.csv`` (the plan the board signs).
PLAN_COLUMNS = [
    "order",
    "commune_code",
    "commune_name",
    "district_name",
    "setup_vnd",
    "yearly_vnd",
    "cost_vnd",
    "expected_gain",
    "expected_gain_low",
    "expected_gain_high",
    "cumulative_cost_vnd",
    "cumulative_gain",
    "has_conditions",
    "failed_criteria",
    "pool",
    "horizon_years",
    "discount_rate",
]
#: Criteria on a unit's category rather than a number: key -> column of ``prepared.communes``.
LIST_CRITERIA = {"commune_types": "commune_type", "districts": "district_name"}

#: The cost file, worded for the Hà Nam contract or a generic panel (which never has one).
SCALING_COSTS = Requirement("scaling_costs", lambda f: None if f.has_costs else {})


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class HeadlineEffects:
    """The average effect of the first treated units, per outcome.

    Attributes
    ----------
    estimates : dict of str to EffectEstimate
        Two-way fixed effects on unit-period rows of the comparison window (weights and
        clusters of :mod:`evaluation.analysis.sample`), by outcome.
    outcome : str
        The headline outcome (``analysis.headline_outcome``).
    skipped : dict of str to str
        Outcomes that could not be estimated and why (``"design"``: no treated or comparison
        rows before and after).
    """

    estimates: dict[str, EffectEstimate]
    outcome: str
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CandidatePredictions:
    """A predicted effect for each unit not treated by the end of the data.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate: ``commune_code, commune_name, district_name, commune_type,
        households, model, extrapolated`` and per outcome ``o`` ``effect_<o>, se_<o>, low_<o>,
        high_<o>``.
    outcomes : tuple of str
        Outcomes predicted (the headline first).
    model : str
        ``average_effect`` or page 05's ``twfe_by_<moderator>``.
    source : str
        ``saved`` (page 05's table) or ``average`` (the average effect for every unit).
    n_units, n_treated_by_end, n_candidates : int
        Units in the data, units treated by the last period, units not yet treated.
    last_period : int
        The last period of the data (``wave_index``).
    alpha : float
        ``analysis.alpha`` of the intervals ``low_<o>``/``high_<o>``.
    size_checked : bool
        Always False: the prediction intervals are model-based extrapolations whose false-alarm
        rate was not measured on this design; they are saved for staff, not shown to readers.
    """

    table: pd.DataFrame
    outcomes: tuple[str, ...]
    model: str
    source: str
    n_units: int
    n_treated_by_end: int
    n_candidates: int
    last_period: int
    alpha: float
    size_checked: bool = False


@dataclass(frozen=True)
class ConditionsScreen:
    """The province's criteria applied to each candidate.

    Attributes
    ----------
    table : pandas.DataFrame
        ``commune_code, commune_name, district_name``, the tested value columns, ``met_<key>``
        per checked criterion, ``meets_checked``, ``failed_criteria`` and, only when every
        criterion could be checked, ``has_conditions``.
    checked, unchecked : tuple of str
        Criterion keys tested, and those the data cannot test (unknown key, missing column,
        or no candidate with a value).
    columns : dict of str to str
        Column tested by each checked criterion.
    n_meet_checked : int
        Candidates meeting every checked criterion.
    n_have_conditions : int or None
        Candidates that have the conditions; None when a criterion could not be checked (then
        nobody can be said to have all of them).
    n_candidates : int
    recent_periods : int
        Periods averaged for the values.
    """

    table: pd.DataFrame
    checked: tuple[str, ...]
    unchecked: tuple[str, ...]
    columns: dict[str, str]
    n_meet_checked: int
    n_have_conditions: int | None
    n_candidates: int
    recent_periods: int


@dataclass(frozen=True)
class CostEffectivenessResult:
    """Cost per additional satisfied household in each candidate and the typical one.

    Attributes
    ----------
    table : pandas.DataFrame
        :func:`evaluation.scaling.cost_effectiveness.cost_effectiveness_table` plus
        ``se_pct_satisfied`` and ``effect_pct_satisfied``/``effect_mean_score``.
    typical : CostEffectiveness
        The average candidate (mean costs, households and effects).
    sensitivity : pandas.DataFrame
        :func:`~evaluation.scaling.cost_effectiveness.sensitivity_grid` of the typical one.
    horizon_years, discount_rate, setup_multiplier, running_multiplier :
        ``scaling.*`` used.
    n_candidates : int
        Candidates; ``len(table)`` of them have costs and households.
    """

    table: pd.DataFrame
    typical: CostEffectiveness
    sensitivity: pd.DataFrame
    horizon_years: int
    discount_rate: float
    setup_multiplier: float
    running_multiplier: float
    n_candidates: int


@dataclass(frozen=True)
class BudgetPlan:
    """The units that maximise the expected gain within the budget.

    Attributes
    ----------
    plan : RolloutPlan
        The knapsack's choice (:func:`evaluation.scaling.budget.plan_rollout`).
    table : pandas.DataFrame
        The plan as the board signs it (:data:`PLAN_COLUMNS`), in starting order.
    pool_label : str
        ``has_conditions`` (units with the conditions), ``none_has_conditions`` (every criterion
        checked, nobody meets them: all candidates), ``unscreened`` (no criteria, or some could
        not be checked: all candidates).
    n_pool : int
    alternative : RolloutPlan or None
        The plan without the screen (only when the screen removed candidates).
    curve : pandas.DataFrame
        Cumulative gain against cumulative cost over the pool.
    budget : float
    alpha : float
    size_checked : bool
        Always False: the gain bands come from model-based prediction errors.
    """

    plan: RolloutPlan
    table: pd.DataFrame
    pool_label: str
    n_pool: int
    alternative: RolloutPlan | None
    curve: pd.DataFrame
    budget: float
    alpha: float
    size_checked: bool = False


@dataclass(frozen=True)
class PowerPlan:
    """Power and minimum detectable effect of the next phase as a unit-randomised DiD.

    Attributes
    ----------
    components : VarianceComponents
        From untreated ballots (``level="ballots"``) or untreated unit-period rows
        (``level="panel"``, one value per cell).
    curves : pandas.DataFrame
        :func:`evaluation.scaling.power.power_curves` over :data:`N_TREATED_GRID` and ballots.
    outcome : str
    predicted_effect, target_effect : float
        The effect expected (mean prediction over candidates, else the average effect) and the
        :data:`TARGET_SHARE` of it the design is powered for.
    effect_source : str
        ``candidates`` or ``headline``.
    n_needed : int or None
        Fewest new treated units reaching :data:`TARGET_POWER` (None: not within the grid).
    target_power, alpha : float
    n_sims : int
        Simulations per grid point (read from ``inference.power_sims``).
    sims_key : str
        The parameter the number of simulations was read from.
    level : str
        ``ballots`` or ``panel``.
    coverage : float
        Share of ballots returned used in the design (1 for a panel, or when the data have no
        roster: then ``coverage_known`` is False).
    ballots_now : float
        Ballots handed out per unit and period now (1 for a panel).
    n_pre, n_post : int
        Periods with the outcome before and from the start in the comparison window.
    n_candidates : int or None
    """

    components: VarianceComponents
    curves: pd.DataFrame
    outcome: str
    predicted_effect: float
    target_effect: float
    effect_source: str
    n_needed: int | None
    target_power: float
    alpha: float
    n_sims: int
    sims_key: str
    level: str
    coverage: float
    coverage_known: bool
    ballots_now: float
    n_pre: int
    n_post: int
    n_candidates: int | None


@dataclass(frozen=True)
class SteppedWedgeDesign:
    """A randomised, stratified start order for the next units.

    Attributes
    ----------
    design : pandas.DataFrame
        ``commune_code, commune_name, district_name, step, start_period, start_wave,
        [start_date], seed, pool``.
    balance : pandas.DataFrame
        ``step, covariate, mean, n_communes`` (empty when no covariate is known).
    pool_label : str
        ``plan``, ``has_conditions`` or ``all_candidates``.
    n_steps, seed : int
    strata : str or None
        Column the order is stratified on (None: one stratum).
    n_strata : int
    first_period : str
        Label of the first step's period.
    """

    design: pd.DataFrame
    balance: pd.DataFrame
    pool_label: str
    n_steps: int
    seed: int
    strata: str | None
    n_strata: int
    first_period: str


@dataclass(frozen=True)
class ScalingResult:
    """Everything page 06 computed (each part a result or a :class:`NotApplicable`)."""

    headline: HeadlineEffects | NotApplicable
    candidates: CandidatePredictions | NotApplicable
    conditions: ConditionsScreen | NotApplicable
    cost: CostEffectivenessResult | NotApplicable
    plan: BudgetPlan | NotApplicable
    power: PowerPlan | NotApplicable
    wedge: SteppedWedgeDesign | NotApplicable


def _passed_on(name: str, upstream: NotApplicable) -> NotApplicable:
    """``upstream``'s reason, under this analysis' name."""
    return NotApplicable(name, upstream.reason, dict(upstream.facts))


def _contract(prepared: Prepared) -> str:
    return "panel" if sample.is_panel(prepared) else "hanam"


# --------------------------------------------------------------------------------------------
# Headline and candidates


def prediction_outcomes(prepared: Prepared, params: Params) -> list[str]:
    """The headline outcome, then (Hà Nam) the two outcomes costs are priced in, if present."""
    wanted = [params.analysis.headline_outcome]
    if not sample.is_panel(prepared):
        wanted += [SCORE, SHARE]
    return [o for o in dict.fromkeys(wanted) if o in prepared.panel]


def _did_rows(frame: pd.DataFrame, outcome: str) -> bool:
    """Whether ``outcome`` has treated and comparison rows both before and from the start."""
    rows = frame.dropna(subset=[outcome])
    cells = rows.groupby([rows["pilot"] > 0, rows["post"] > 0]).size()
    return len(cells) == 4


@analysis("scaling.headline", PAGE, requires=DID_DESIGN)
def headline_effects(prepared: Prepared, params: Params) -> HeadlineEffects | NotApplicable:
    """Average effect of the first treated units on each prediction outcome.

    Two-way fixed effects (unit and period) on the unit-period rows of the comparison window,
    weighted and clustered as :mod:`evaluation.analysis.sample` says. Outcomes without treated
    and comparison rows before and after are skipped; when the headline outcome is one of them
    the analysis does not apply.
    """
    frame = sample.window_panel(prepared)
    cluster = sample.cluster_column(prepared, params)
    headline = params.analysis.headline_outcome
    estimates: dict[str, EffectEstimate] = {}
    skipped: dict[str, str] = {}
    for outcome in prediction_outcomes(prepared, params):
        if not _did_rows(frame, outcome):
            skipped[outcome] = "design"
            continue
        rows = frame.dropna(subset=[outcome])
        try:
            estimates[outcome] = twfe(
                rows,
                outcome,
                "treated",
                unit="commune_code",
                time="wave_index",
                cluster=cluster if cluster in rows else "commune_code",
                weights=sample.panel_weight(prepared, params, outcome),
                ssc=params.analysis.ssc,
                alpha=params.analysis.alpha,
                estimator="twfe_commune_wave",
            )
        except ValueError:
            # e.g. treatment collinear with the fixed effects, or a single cluster
            skipped[outcome] = "estimate"
    if headline not in estimates:
        return NotApplicable(
            "scaling.headline",
            "scaling_headline",
            {"contract": _contract(prepared), "outcome": headline},
        )
    return HeadlineEffects(estimates=estimates, outcome=headline, skipped=skipped)


def last_period(prepared: Prepared) -> int:
    """The last period (``wave_index``) of the data."""
    return int(prepared.panel["wave_index"].max())


def not_treated_by_end(prepared: Prepared) -> pd.Series:
    """Codes of the units not treated by the last period of the data (the candidates)."""
    c = prepared.communes
    first = c["first_treated_wave"].astype(float)
    keep = first.isna() | (first > last_period(prepared))
    if "drop_mixed" in c:
        keep &= ~c["drop_mixed"].fillna(False).astype(bool)
    return c.loc[keep, "commune_code"].astype(str)


def households(prepared: Prepared) -> pd.Series:
    """Households per unit (latest period with a count), indexed by unit code."""
    panel = prepared.panel
    if "households_total" not in panel:
        return pd.Series(dtype=float, name="households")
    known = panel.dropna(subset=["households_total"]).sort_values("wave_index")
    out = known.groupby(known["commune_code"].astype(str))["households_total"].last()
    return out.astype(float).rename("households")


def unit_info(prepared: Prepared) -> pd.DataFrame:
    """One row per unit: code, name (the code when the data have none), district, type."""
    c = prepared.communes
    out = pd.DataFrame({"commune_code": c["commune_code"].astype(str).to_numpy()})
    for column, default in (("commune_name", None), ("district_name", "all"), ("commune_type", "")):
        if column in c:
            out[column] = c[column].astype(object).to_numpy()
        else:
            out[column] = out["commune_code"] if default is None else default
    if "full_name" in c:  # "Xã Liêm Tuyền": the name with its kind, as the province writes it
        full = pd.Series(c["full_name"].astype(object).to_numpy())
        out["commune_name"] = full.where(full.notna(), out["commune_name"])
    out["commune_name"] = out["commune_name"].where(
        out["commune_name"].notna(), out["commune_code"]
    )
    out["district_name"] = out["district_name"].fillna("all")
    return out


def usable_saved_predictions(saved: pd.DataFrame | None, outcomes: Sequence[str]) -> bool:
    """Whether page 05's saved predictions can be used (right columns, every outcome)."""
    if saved is None or not len(saved):
        return False
    if any(c not in saved.columns for c in SAVED_PREDICTION_COLUMNS):
        return False
    return set(outcomes) <= set(saved["outcome"].astype(str))


def _flag(values: pd.Series) -> pd.Series:
    return values.astype(str).str.lower().isin(["true", "1", "1.0"])


@analysis("scaling.candidates", PAGE, requires=DID_DESIGN)
def candidate_predictions(
    prepared: Prepared,
    params: Params,
    headline: HeadlineEffects | NotApplicable,
    saved: pd.DataFrame | None = None,
) -> CandidatePredictions | NotApplicable:
    """A predicted effect for each unit not treated by the end of the data.

    Page 05's predictions (``saved``, ``tables/commune_predictions.csv``) are used when they
    cover the estimated outcomes; otherwise every candidate gets the average effect of
    :func:`headline_effects`. Candidates are counted from the data: units whose first treated
    period is missing or after the last period.
    """
    name = "scaling.candidates"
    if not applies(headline):
        return _passed_on(name, headline)
    codes = not_treated_by_end(prepared)
    n_units = int(len(prepared.communes))
    if not len(codes):
        return NotApplicable(
            name, "scaling_no_candidates", {"contract": _contract(prepared), "n": n_units}
        )
    outcomes = tuple(headline.estimates)
    info = unit_info(prepared).set_index("commune_code").loc[list(codes)].reset_index()
    if usable_saved_predictions(saved, outcomes):
        pred = saved.assign(commune_code=saved["commune_code"].astype(str))
        pred = pred[pred["commune_code"].isin(set(codes)) & pred["outcome"].isin(outcomes)]
        model = str(pred["model"].iloc[0]) if len(pred) else "average_effect"
        source = "saved"
        extrapolated = pred.groupby("commune_code")["extrapolated"].agg(lambda v: _flag(v).any())
        wide = pred.pivot_table(
            index="commune_code",
            columns="outcome",
            values=["predicted_effect", "std_error", "conf_low", "conf_high"],
            aggfunc="first",
        )
        names = {"predicted_effect": "effect", "std_error": "se", "conf_low": "low"}
        wide.columns = [f"{names.get(a, 'high')}_{o}" for a, o in wide.columns]
        table = info.merge(wide.reset_index(), on="commune_code", how="inner")
        table.insert(5, "extrapolated", table["commune_code"].map(extrapolated).astype(bool))
    else:
        model, source = "average_effect", "average"
        table = info.copy()
        table["extrapolated"] = False
        for outcome, est in headline.estimates.items():
            low, high = est.conf_int
            table[f"effect_{outcome}"] = est.estimate
            table[f"se_{outcome}"] = est.std_error
            table[f"low_{outcome}"] = low
            table[f"high_{outcome}"] = high
    table.insert(4, "households", table["commune_code"].map(households(prepared)).astype(float))
    table.insert(5, "model", model)
    table = table.sort_values(["district_name", "commune_code"], key=lambda s: s.astype(str))
    return CandidatePredictions(
        table=table.reset_index(drop=True),
        outcomes=outcomes,
        model=model,
        source=source,
        n_units=n_units,
        n_treated_by_end=n_units - len(codes),
        n_candidates=int(len(table)),
        last_period=last_period(prepared),
        alpha=float(params.analysis.alpha),
    )


# --------------------------------------------------------------------------------------------
# Conditions


def criterion_column(key: str, available: Sequence[str]) -> str | None:
    """The data column a ``min_<x>``/``max_<x>``/``<x>_in`` criterion refers to.

    ``pct_<x>`` is preferred to ``<x>``: the admin file's ``condolence_on_time`` is a count, the
    criterion ``min_condolence_on_time: 0.6`` means the share ``pct_condolence_on_time``.
    """
    if key in LIST_CRITERIA:
        return LIST_CRITERIA[key] if LIST_CRITERIA[key] in available else None
    if key.endswith("_in"):
        return key[:-3] if key[:-3] in available else None
    if not key.startswith(("min_", "max_")):
        return None
    name = key[4:]
    for candidate in (f"pct_{name}", name):
        if candidate in available:
            return candidate
    return None


def current_values(prepared: Prepared, columns: Sequence[str]) -> pd.DataFrame:
    """Each unit's mean of numeric ``columns`` over the last :data:`RECENT_PERIODS` periods."""
    panel = prepared.panel
    recent = panel[panel["wave_index"] > last_period(prepared) - RECENT_PERIODS]
    numeric = recent[list(columns)].apply(pd.to_numeric, errors="coerce")
    return numeric.groupby(recent["commune_code"].astype(str)).mean()


@analysis("scaling.conditions", PAGE)
def conditions_screen(
    prepared: Prepared, params: Params, candidates: CandidatePredictions | NotApplicable
) -> ConditionsScreen | NotApplicable:
    """The criteria of ``scaling.conditions`` applied to each candidate.

    ``min_<x>``/``max_<x>`` test the mean of column ``pct_<x>`` (else ``<x>``) over the last
    :data:`RECENT_PERIODS` periods; ``commune_types``/``districts``/``<column>_in`` test
    membership. A criterion the data cannot test (unknown form, no such column, no candidate
    with a value) is listed in ``unchecked``; then no candidate is said to have the conditions.
    """
    name = "scaling.conditions"
    if not applies(candidates):
        return _passed_on(name, candidates)
    contract = _contract(prepared)
    criteria = dict(params.scaling.conditions)
    if not criteria:
        return NotApplicable(name, "scaling_no_conditions", {"contract": contract})
    frame = candidates.table
    info = unit_info(prepared).set_index("commune_code")
    available = list(dict.fromkeys([*prepared.panel.columns, *info.columns]))
    columns = {k: criterion_column(k, available) for k in criteria}
    base = frame[["commune_code", "commune_name", "district_name"]].copy()
    numeric = sorted({c for k, c in columns.items() if c and k.startswith(("min_", "max_"))})
    values = current_values(prepared, numeric) if numeric else pd.DataFrame()
    for column in numeric:
        base[column] = base["commune_code"].map(values[column]).to_numpy(float)
    for key, column in columns.items():
        if column is not None and (key in LIST_CRITERIA or key.endswith("_in")):
            source = (
                info[column]
                if column in info
                else prepared.panel.groupby(prepared.panel["commune_code"].astype(str))[
                    column
                ].last()
            )
            base[column] = base["commune_code"].map(source).to_numpy()
    checked = [k for k, c in columns.items() if c is not None and base[c].notna().any()]
    unchecked = [k for k in criteria if k not in checked]
    if not checked:
        reason = "admin" if contract == "hanam" and not prepared.has_admin else None
        return NotApplicable(
            name,
            reason or "scaling_conditions_unchecked",
            {"contract": contract, "criteria": ", ".join(unchecked)},
        )
    usable = {k: criteria[k] for k in checked}
    try:
        met = check_conditions(base, usable, {k: columns[k] for k in checked})
    except ValueError as err:  # e.g. a threshold that is not a number
        return NotApplicable(
            name, "scaling_conditions_invalid", {"contract": contract, "error": str(err)}
        )
    table = pd.concat(
        [base, met.drop(columns="has_conditions").rename(columns={k: f"met_{k}" for k in usable})],
        axis=1,
    )
    table.insert(table.columns.get_loc("failed_criteria"), "meets_checked", met["has_conditions"])
    n_meet = int(met["has_conditions"].sum())
    if not unchecked:
        table["has_conditions"] = met["has_conditions"].to_numpy(bool)
    return ConditionsScreen(
        table=table,
        checked=tuple(checked),
        unchecked=tuple(unchecked),
        columns={k: str(columns[k]) for k in checked},
        n_meet_checked=n_meet,
        n_have_conditions=None if unchecked else n_meet,
        n_candidates=int(len(table)),
        recent_periods=RECENT_PERIODS,
    )


def failure_counts(screen: ConditionsScreen) -> dict[str, int]:
    """How many candidates fail each checked criterion."""
    return {k: int((~screen.table[f"met_{k}"].astype(bool)).sum()) for k in screen.checked}


# --------------------------------------------------------------------------------------------
# Costs and the budget plan


@analysis("scaling.cost_effectiveness", PAGE, requires=(SCALING_COSTS,))
def cost_effectiveness_analysis(
    prepared: Prepared, params: Params, candidates: CandidatePredictions | NotApplicable
) -> CostEffectivenessResult | NotApplicable:
    """Cost per additional satisfied household of each candidate, the typical one, sensitivity.

    Costs are the cost file's items per unit times ``scaling.setup_cost_multiplier`` /
    ``running_cost_multiplier``; set-up at year 0, yearly costs discounted over
    ``horizon_years`` at ``discount_rate``. The gain is the predicted effect on the share
    satisfied times the unit's households.
    """
    name = "scaling.cost_effectiveness"
    if not applies(candidates):
        return _passed_on(name, candidates)
    contract = _contract(prepared)
    frame = candidates.table
    if not {f"effect_{SHARE}", f"effect_{SCORE}"} <= set(frame.columns):
        return NotApplicable(name, "scaling_cost_outcomes", {"contract": contract})
    if not frame["households"].notna().any():
        return NotApplicable(name, "scaling_households", {"contract": contract})
    s = params.scaling
    costs = unit_costs(
        prepared.costs,
        setup_multiplier=s.setup_cost_multiplier,
        running_multiplier=s.running_cost_multiplier,
        horizon_years=s.horizon_years,
        discount_rate=s.discount_rate,
    )
    table = cost_effectiveness_table(
        frame,
        costs,
        share_effect=f"effect_{SHARE}",
        score_effect=f"effect_{SCORE}",
        horizon_years=s.horizon_years,
        discount_rate=s.discount_rate,
    )
    if not len(table):
        return NotApplicable(
            name, "scaling_costs_candidates", {"contract": contract, "n": len(frame)}
        )
    table = table.rename(
        columns={f"effect_{SHARE}": "effect_pct_satisfied", f"effect_{SCORE}": "effect_mean_score"}
    )
    table["se_pct_satisfied"] = table[f"se_{SHARE}"].astype(float)
    keep = [
        "commune_code",
        "commune_name",
        "district_name",
        "setup_vnd",
        "yearly_vnd",
        "households",
        "effect_pct_satisfied",
        "effect_mean_score",
        "se_pct_satisfied",
        "pv_cost",
        "additional_satisfied_households",
        "satisfied_household_years",
        "vnd_per_satisfied_household",
        "vnd_per_satisfied_household_year",
        "vnd_per_tenth_point",
        "vnd_per_tenth_point_household",
        "gain_positive",
    ]
    table = table[keep]
    typical = cost_effectiveness(
        float(table["setup_vnd"].mean()),
        float(table["yearly_vnd"].mean()),
        float(table["households"].mean()),
        float(table["effect_pct_satisfied"].mean()),
        float(table["effect_mean_score"].mean()),
        s.horizon_years,
        s.discount_rate,
    )
    grid = sensitivity_grid(
        typical.setup_cost,
        typical.annual_cost,
        typical.households,
        typical.effect_pct_satisfied,
        typical.effect_mean_score,
        typical.horizon_years,
        typical.discount_rate,
    )
    return CostEffectivenessResult(
        table=table,
        typical=typical,
        sensitivity=grid,
        horizon_years=int(s.horizon_years),
        discount_rate=float(s.discount_rate),
        setup_multiplier=float(s.setup_cost_multiplier),
        running_multiplier=float(s.running_cost_multiplier),
        n_candidates=int(len(frame)),
    )


def plan_pool(
    ce: CostEffectivenessResult, screen: ConditionsScreen | NotApplicable
) -> pd.DataFrame:
    """Candidates for the plan: present-value cost, expected gain and its SE, conditions.

    ``has_conditions`` is True only where every criterion was checked and met.
    """
    t = ce.table
    pool = t[["commune_code", "commune_name", "district_name", "setup_vnd", "yearly_vnd"]].copy()
    pool["cost_vnd"] = t["pv_cost"].to_numpy(float)
    pool["expected_gain"] = t["additional_satisfied_households"].to_numpy(float)
    pool["expected_gain_se"] = (t["se_pct_satisfied"] * t["households"]).to_numpy(float)
    if applies(screen):
        table = screen.table.set_index("commune_code")
        has = pd.Series(table.get("has_conditions", False), index=table.index, dtype=bool)
        pool["has_conditions"] = pool["commune_code"].map(has).fillna(False).astype(bool)
        pool["failed_criteria"] = pool["commune_code"].map(table["failed_criteria"]).fillna("")
    else:
        pool["has_conditions"] = False
        pool["failed_criteria"] = ""
    return pool.reset_index(drop=True)


def choose_pool(
    pool: pd.DataFrame, screen: ConditionsScreen | NotApplicable
) -> tuple[pd.DataFrame, str]:
    """The units with the conditions when some have them, else every candidate (and which)."""
    if applies(screen) and screen.n_have_conditions is not None:
        screened = pool[pool["has_conditions"]]
        if len(screened):
            return screened.reset_index(drop=True), "has_conditions"
        return pool, "none_has_conditions"
    return pool, "unscreened"


def _plan(pool: pd.DataFrame, budget: float, alpha: float) -> RolloutPlan:
    return plan_rollout(
        pool,
        budget,
        value_col="expected_gain",
        cost_col="cost_vnd",
        unit="commune_code",
        name_col="commune_name",
        se_col="expected_gain_se",
        alpha=alpha,
    )


def plan_table(plan: RolloutPlan, pool: pd.DataFrame, label: str, params: Params) -> pd.DataFrame:
    """The plan as the board signs it (columns :data:`PLAN_COLUMNS`), in starting order.

    ``cost_vnd`` is the present-value cost over the horizon; the rows sum to
    ``plan.total_cost``. ``expected_gain_low``/``high`` are the model-based band at
    ``analysis.alpha`` (not size-checked).
    """
    from scipy import stats

    z = float(stats.norm.ppf(1 - params.analysis.alpha / 2))
    p = plan.plan
    info = pool.set_index("commune_code")
    codes = p["commune_code"].astype(str)
    out = pd.DataFrame(
        {
            "order": p["order"].to_numpy(int),
            "commune_code": codes.to_numpy(),
            "commune_name": p["commune_name"].to_numpy(),
            "district_name": codes.map(info["district_name"]).to_numpy(),
            "setup_vnd": codes.map(info["setup_vnd"]).to_numpy(float),
            "yearly_vnd": codes.map(info["yearly_vnd"]).to_numpy(float),
            "cost_vnd": p["cost"].to_numpy(float),
            "expected_gain": p["expected_gain"].to_numpy(float),
            "expected_gain_low": (p["expected_gain"] - z * p["expected_gain_se"]).to_numpy(float),
            "expected_gain_high": (p["expected_gain"] + z * p["expected_gain_se"]).to_numpy(float),
            "cumulative_cost_vnd": p["cumulative_cost"].to_numpy(float),
            "cumulative_gain": p["cumulative_gain"].to_numpy(float),
            "has_conditions": codes.map(info["has_conditions"]).astype(bool).to_numpy(),
            "failed_criteria": codes.map(info["failed_criteria"]).to_numpy(),
        }
    )
    out["pool"] = label
    out["horizon_years"] = params.scaling.horizon_years
    out["discount_rate"] = params.scaling.discount_rate
    return out[PLAN_COLUMNS]


@analysis("scaling.budget_plan", PAGE, requires=(SCALING_COSTS,))
def budget_plan(
    prepared: Prepared,
    params: Params,
    ce: CostEffectivenessResult | NotApplicable,
    screen: ConditionsScreen | NotApplicable,
) -> BudgetPlan | NotApplicable:
    """The units maximising the expected gain within ``scaling.budget_vnd`` (present value).

    Drawn from the units that have the conditions when some do (every criterion checked);
    otherwise from every costed candidate, and the label says why.
    """
    if not applies(ce):
        return _passed_on("scaling.budget_plan", ce)
    alpha = float(params.analysis.alpha)
    budget = float(params.scaling.budget_vnd)
    pool = plan_pool(ce, screen)
    chosen, label = choose_pool(pool, screen)
    plan = _plan(chosen, budget, alpha)
    alternative = _plan(pool, budget, alpha) if len(chosen) < len(pool) else None
    positive = chosen[chosen["expected_gain"] > 0]
    curve = gain_cost_curve(
        positive,
        value_col="expected_gain",
        cost_col="cost_vnd",
        unit="commune_code",
        name_col="commune_name",
        se_col="expected_gain_se",
        alpha=alpha,
    )
    return BudgetPlan(
        plan=plan,
        table=plan_table(plan, chosen, label, params),
        pool_label=label,
        n_pool=int(len(chosen)),
        alternative=alternative,
        curve=curve,
        budget=budget,
        alpha=alpha,
    )


# --------------------------------------------------------------------------------------------
# Power of the next phase


def coverage_known(prepared: Prepared) -> bool:
    """Whether the data say what share of households returned a ballot (a roster)."""
    panel = prepared.panel
    return "coverage" in panel and bool(panel["coverage"].notna().any())


def mean_coverage(prepared: Prepared) -> float:
    """Share of ballots returned (1 when the data have no roster)."""
    panel = prepared.panel
    if "coverage" not in panel or panel["coverage"].isna().all():
        return 1.0
    return float(np.clip(panel["coverage"].mean(), MIN_COVERAGE, 1.0))


def ballots_sent(prepared: Prepared) -> float:
    """Ballots handed out per unit and period now (roster, else ballots returned / coverage)."""
    panel = prepared.panel
    if "ballot_roster" in panel and panel["ballot_roster"].notna().any():
        return float(panel["ballot_roster"].mean())
    return float(panel["n_ballots"].mean() / mean_coverage(prepared))


def ballots_grid(prepared: Prepared) -> tuple[float, ...]:
    """A quarter, half and all of today's ballots per unit (rounded to 5): staff are
    overloaded, so the question is how few ballots suffice, not how many more to add."""
    now = max(5.0, 5 * round(ballots_sent(prepared) / 5))
    return tuple(sorted({max(5.0, 5 * round(now / k / 5)) for k in (4, 2, 1)}))


def design_periods(prepared: Prepared, outcome: str) -> tuple[int, int]:
    """Periods with ``outcome`` before and from the start in the comparison window."""
    frame = sample.window_panel(prepared).dropna(subset=[outcome])
    periods = pd.Series(frame["wave_index"].unique())
    pilot = prepared.meta["pilot_wave"]
    return int((periods < pilot).sum()), int((periods >= pilot).sum())


def variance_components(prepared: Prepared, outcome: str) -> tuple[VarianceComponents, str]:
    """Variance components of ``outcome`` where the treatment was not running, and the level.

    Hà Nam ballots carrying the outcome give the commune / commune-wave / ballot split;
    otherwise (a generic panel, or no ballots) the untreated unit-period rows give the unit /
    unit-period split (:func:`~evaluation.scaling.power.panel_variance_components`).

    Raises
    ------
    ValueError
        When the untreated rows cannot separate the components (fewer than two units, or one
        period per unit).
    """
    if not sample.is_panel(prepared) and prepared.has_ballots and outcome in prepared.ballots:
        ballots = prepared.ballots
        if "treated" in ballots:
            ballots = ballots[ballots["treated"].astype(float) == 0]
        try:
            return (
                estimate_variance_components(
                    ballots, outcome, unit="commune_code", time="wave_index", method="anova"
                ),
                "ballots",
            )
        except ValueError:
            pass  # one wave of ballots per commune: fall back on the commune-wave rows
    panel = prepared.panel
    rows = panel[panel["treated"].astype(float) == 0]
    if "drop_mixed" in rows:
        rows = rows[~rows["drop_mixed"].fillna(False).astype(bool)]
    return (
        panel_variance_components(
            rows.assign(commune_code=rows["commune_code"].astype(str)),
            outcome,
            unit="commune_code",
            time="wave_index",
        ),
        "panel",
    )


@analysis("scaling.power", PAGE, requires=DID_DESIGN)
def power_analysis(
    prepared: Prepared,
    params: Params,
    headline: HeadlineEffects | NotApplicable,
    candidates: CandidatePredictions | NotApplicable,
) -> PowerPlan | NotApplicable:
    """Power and MDE of the next phase over new treated units x ballots per unit.

    Powered for :data:`TARGET_SHARE` of the predicted effect (the candidates' mean prediction,
    else the average effect). Closed form plus ``inference.power_sims`` seeded simulations per
    grid point; periods before/after as in the pilot comparison.
    """
    name = "scaling.power"
    if not applies(headline):
        return _passed_on(name, headline)
    outcome = headline.outcome
    try:
        components, level = variance_components(prepared, outcome)
    except ValueError:
        return NotApplicable(
            name, "scaling_power_periods", {"contract": _contract(prepared), "outcome": outcome}
        )
    if not components.total_var > 0:
        return NotApplicable(
            name, "scaling_power_periods", {"contract": _contract(prepared), "outcome": outcome}
        )
    n_pre, n_post = design_periods(prepared, outcome)
    if applies(candidates) and f"effect_{outcome}" in candidates.table:
        predicted = float(candidates.table[f"effect_{outcome}"].mean())
        source = "candidates"
    else:
        predicted, source = float(headline.estimates[outcome].estimate), "headline"
    target = TARGET_SHARE * predicted
    if level == "ballots":
        coverage, grid, now = (
            mean_coverage(prepared),
            ballots_grid(prepared),
            ballots_sent(prepared),
        )
    else:
        coverage, grid, now = 1.0, (1.0,), 1.0
    n_sims = int(params.inference.power_sims)
    curves = power_curves(
        components,
        list(N_TREATED_GRID),
        list(grid),
        target,
        control_ratio=1.0,
        coverage=coverage,
        n_pre=max(n_pre, 1),
        n_post=max(n_post, 1),
        alpha=params.analysis.alpha,
        target_power=TARGET_POWER,
        n_sims=n_sims,
        seed=params.inference.seed,
    )
    return PowerPlan(
        components=components,
        curves=curves,
        outcome=outcome,
        predicted_effect=predicted,
        target_effect=target,
        effect_source=source,
        n_needed=smallest_design(curves, TARGET_POWER),
        target_power=TARGET_POWER,
        alpha=float(params.analysis.alpha),
        n_sims=n_sims,
        sims_key="inference.power_sims",
        level=level,
        coverage=coverage,
        coverage_known=level == "ballots" and coverage_known(prepared),
        ballots_now=now,
        n_pre=n_pre,
        n_post=n_post,
        n_candidates=candidates.n_candidates if applies(candidates) else None,
    )


# --------------------------------------------------------------------------------------------
# Stepped wedge


def wedge_pool(
    candidates: CandidatePredictions,
    plan: BudgetPlan | NotApplicable,
    screen: ConditionsScreen | NotApplicable,
) -> tuple[pd.DataFrame, str]:
    """Units to phase in: the plan's, else those with the conditions, else every candidate."""
    cols = ["commune_code", "commune_name", "district_name"]
    if applies(plan) and len(plan.table):
        return plan.table[cols].copy(), "plan"
    if applies(screen) and screen.n_have_conditions:
        table = screen.table
        return table.loc[table["has_conditions"].astype(bool), cols].copy(), "has_conditions"
    return candidates.table[cols].copy(), "all_candidates"


def next_quarter_start(wave: int) -> str:
    """ISO date of the first day of the quarter after ``wave``."""
    return pd.Period(ordinal=int(wave) + 1, freq="Q").start_time.date().isoformat()


def stepped_wedge_design(
    units: pd.DataFrame, prepared: Prepared, params: Params, label: str
) -> pd.DataFrame:
    """A randomised, stratified stepped-wedge start order (seed ``scaling.rollout_seed``).

    Strata are :func:`evaluation.analysis.sample.strata_column` (Hà Nam's districts), one
    stratum when the data have none. Step 1 starts the period after the last period of data;
    one period between steps (quarters carry calendar dates).

    Returns
    -------
    pandas.DataFrame
        ``commune_code, commune_name, district_name, step, start_period, start_wave,
        [start_date], seed, pool``.
    """
    s = params.scaling
    start = last_period(prepared) + 1
    strata = sample.strata_column(prepared, params)
    frame = units[["commune_code", "district_name"]].copy()
    frame["stratum"] = frame["district_name"].astype(str) if strata else "all"
    panel = sample.is_panel(prepared)
    design = stepped_wedge(
        frame[["commune_code", "stratum"]],
        strata="stratum",
        n_steps=s.rollout_steps,
        seed=s.rollout_seed,
        start_period=start,
        unit="commune_code",
        # quarters have calendar dates; a generic panel's periods may not
        first_date=None if panel else next_quarter_start(start - 1),
    )
    names = units.set_index("commune_code")["commune_name"]
    districts = units.set_index("commune_code")["district_name"]
    design.insert(1, "commune_name", design["commune_code"].map(names).to_numpy())
    design.insert(2, "district_name", design["commune_code"].map(districts).to_numpy())
    design = design.drop(columns="stratum")
    design.insert(
        design.columns.get_loc("start_period") + 1,
        "start_wave",
        [period_label(w, prepared.meta.get("source", "")) for w in design["start_period"]],
    )
    design["pool"] = label
    return design


def wedge_balance(
    design: pd.DataFrame, candidates: CandidatePredictions, prepared: Prepared, params: Params
) -> pd.DataFrame:
    """Mean households and baseline outcome by step (a randomisation check)."""
    units = candidates.table[["commune_code", "households"]].copy()
    base = prepared.baseline
    baseline = "baseline_index" if not sample.is_panel(prepared) else None
    if baseline is None:
        baseline = f"baseline_{params.analysis.headline_outcome}"
    if baseline in base and "commune_code" in base:
        values = base.assign(commune_code=base["commune_code"].astype(str)).set_index(
            "commune_code"
        )[baseline]
        units[baseline] = units["commune_code"].map(values).astype(float)
    covariates = [c for c in ("households", baseline) if c in units and units[c].notna().any()]
    if not covariates:
        return pd.DataFrame(columns=["step", "covariate", "mean", "n_communes"])
    return step_balance(design, units, covariates)


@analysis("scaling.stepped_wedge", PAGE)
def stepped_wedge_analysis(
    prepared: Prepared,
    params: Params,
    candidates: CandidatePredictions | NotApplicable,
    plan: BudgetPlan | NotApplicable,
    screen: ConditionsScreen | NotApplicable,
) -> SteppedWedgeDesign | NotApplicable:
    """The next units in ``scaling.rollout_steps`` randomised steps within strata."""
    if not applies(candidates):
        return _passed_on("scaling.stepped_wedge", candidates)
    units, label = wedge_pool(candidates, plan, screen)
    design = stepped_wedge_design(units, prepared, params, label)
    strata = sample.strata_column(prepared, params)
    return SteppedWedgeDesign(
        design=design,
        balance=wedge_balance(design, candidates, prepared, params),
        pool_label=label,
        n_steps=int(params.scaling.rollout_steps),
        seed=int(params.scaling.rollout_seed),
        strata=strata,
        n_strata=int(design["district_name"].nunique()) if strata else 1,
        first_period=(
            str(design.loc[design["start_period"].idxmin(), "start_wave"]) if len(design) else ""
        ),
    )


# --------------------------------------------------------------------------------------------
# The page's result


def scaling_analysis(
    prepared: Prepared, params: Params, saved: pd.DataFrame | None = None
) -> ScalingResult:
    """Every section of page 06, in order (each a result or :class:`NotApplicable`)."""
    headline = headline_effects(prepared, params)
    candidates = candidate_predictions(prepared, params, headline, saved)
    screen = conditions_screen(prepared, params, candidates)
    ce = cost_effectiveness_analysis(prepared, params, candidates)
    plan = budget_plan(prepared, params, ce, screen)
    power = power_analysis(prepared, params, headline, candidates)
    wedge = stepped_wedge_analysis(prepared, params, candidates, plan, screen)
    return ScalingResult(headline, candidates, screen, ce, plan, power, wedge)


def _reason(result: object) -> str | None:
    return None if applies(result) else result.reason  # type: ignore[union-attr]


def _alternative_entry(
    plan: BudgetPlan | NotApplicable, screen: ConditionsScreen | NotApplicable
) -> dict[str, Any]:
    """The plan without the conditions (the trade-off the board weighs) and why it differs:
    how many of its units fail each condition."""
    alt = plan.alternative if applies(plan) else None
    failures = failure_counts(screen) if applies(screen) else {}
    if alt is None:
        return {
            "alternative_n_communes": None,
            "alternative_total_cost_vnd": None,
            "alternative_total_gain": None,
            "alternative_communes": [],
            "alternative_failures": {},
            "conditions_failures": failures,
        }
    chosen = set(alt.plan["commune_code"].astype(str))
    table = screen.table[screen.table["commune_code"].astype(str).isin(chosen)]
    return {
        "alternative_n_communes": len(alt.plan),
        "alternative_total_cost_vnd": alt.total_cost,
        "alternative_total_gain": alt.total_gain,
        "alternative_communes": list(alt.plan["commune_name"].astype(str)),
        "alternative_failures": {
            k: int((~table[f"met_{k}"].astype(bool)).sum()) for k in screen.checked
        },
        "conditions_failures": failures,
    }


def results_entry(result: ScalingResult, params: Params) -> dict[str, Any]:
    """What page 06 writes under ``scaling`` in ``results.json`` (the summary reads it).

    A section that does not apply writes None for its numbers and its reason key under
    ``<section>_reason``.
    """
    c, screen, ce, plan, power, wedge = (
        result.candidates,
        result.conditions,
        result.cost,
        result.plan,
        result.power,
        result.wedge,
    )
    s = params.scaling
    return {
        "n_candidates": c.n_candidates
        if applies(c)
        else 0
        if c.reason == "scaling_no_candidates"
        else None,
        "n_treated_by_end": c.n_treated_by_end if applies(c) else None,
        "candidates_reason": _reason(c),
        "prediction_model": c.model if applies(c) else None,
        "prediction_intervals_size_checked": False,
        "n_have_conditions": screen.n_have_conditions if applies(screen) else None,
        "n_meet_checked_conditions": screen.n_meet_checked if applies(screen) else None,
        "conditions_checked": list(screen.checked) if applies(screen) else [],
        "conditions_unchecked": (list(screen.unchecked) if applies(screen) else list(s.conditions)),
        "conditions_reason": _reason(screen),
        "budget_vnd": s.budget_vnd,
        "plan_n_communes": len(plan.table) if applies(plan) else None,
        "plan_total_cost_vnd": plan.plan.total_cost if applies(plan) else None,
        "plan_total_gain": plan.plan.total_gain if applies(plan) else None,
        "plan_method": plan.plan.method if applies(plan) else None,
        "plan_pool": plan.pool_label if applies(plan) else None,
        "plan_gain_band_size_checked": False,
        "plan_reason": _reason(plan),
        "plan_communes": list(plan.table["commune_name"].astype(str)) if applies(plan) else [],
        **_alternative_entry(plan, screen),
        "vnd_per_satisfied_household": (
            ce.typical.vnd_per_satisfied_household if applies(ce) else None
        ),
        "vnd_per_tenth_point": ce.typical.vnd_per_tenth_point if applies(ce) else None,
        "cost_reason": _reason(ce),
        "new_communes_needed_80pct": power.n_needed if applies(power) else None,
        "power_target_effect": power.target_effect if applies(power) else None,
        "power_n_sims": power.n_sims if applies(power) else None,
        "power_sims_key": power.sims_key if applies(power) else None,
        "power_level": power.level if applies(power) else None,
        "power_reason": _reason(power),
        "wedge_n_units": len(wedge.design) if applies(wedge) else None,
        "wedge_pool": wedge.pool_label if applies(wedge) else None,
        "wedge_reason": _reason(wedge),
        "rollout_seed": s.rollout_seed,
        "rollout_steps": s.rollout_steps,
    }
