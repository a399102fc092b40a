"""The next phase analysed by its design: a rehearsal on simulated outcomes (page ``06_scaling``).

Page 06 recommends starting the next units in steps drawn by lot (:func:`.scaling.
stepped_wedge_analysis`). Because the order is random and its seed recorded, once the phase has
run its effect can be judged by the design alone:

* a Fisher randomisation test (:mod:`evaluation.inference.stepped_wedge`) that re-draws the lot
  with its own generator and asks how often a lot would produce a contrast as large as the one
  observed if the model changed nothing;
* the efficient estimator for randomly timed staggered adoption of Roth and Sant'Anna (2023)
  (:mod:`evaluation.estimators.efficient_staggered`) with its design-based standard error.

The outcomes of the phase do not exist yet. :func:`phase_in_check` rehearses the analysis on
outcomes simulated for the recorded order (:func:`evaluation.demo.simulate_phase_in`) with the
noise of the data in hand (the variance components of the power section) and two true effects:
the one the phase is powered for, and none. Its numbers are a simulation of the future phase,
never a result; pages say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evaluation.analysis import sample
from evaluation.analysis.base import NotApplicable, analysis, applies
from evaluation.analysis.requirements import DID_DESIGN
from evaluation.analysis.scaling import PowerPlan, SteppedWedgeDesign
from evaluation.config import Params
from evaluation.demo import simulate_phase_in
from evaluation.estimators.efficient_staggered import efficient_staggered
from evaluation.inference.stepped_wedge import (
    WedgeRandomisation,
    draw_orders,
    stepped_wedge_test,
)
from evaluation.prepare import Prepared

NAME = "scaling.phase_in"
#: Columns of the efficient estimator in :attr:`PhaseInCheck.table`.
ESTIMATE_COLUMNS = ("estimate", "std_error", "se_neyman", "conf_low", "conf_high")
PAGE = "06_scaling"
#: Periods simulated before the first step (the province's regular ballots cover them).
PRE_PERIODS = 2
#: Most re-draws of the lot on the page (each calls the generator; the Monte Carlo error of the
#: p-value is shown beside it). ``inference.ri_draws`` lowers it.
MAX_DRAWS = 999
#: Spread of the simulated unit effects, as a share of the average effect.
EFFECT_SPREAD = 0.5
#: Fewest units in every step for the efficient estimator (its variance needs two per step);
#: the randomisation test runs with any step sizes.
MIN_PER_STEP = 2


@dataclass(frozen=True)
class PhaseInCheck:
    """The design-based analysis of the next phase, rehearsed on simulated outcomes.

    Attributes
    ----------
    simulated : bool
        Always True: the outcomes are simulated, the numbers are not results.
    outcome : str
        The outcome whose noise the simulation copies.
    table : pandas.DataFrame
        One row per scenario (``powered``: the effect the phase is powered for; ``none``: no
        effect): ``scenario, true_effect, estimate, std_error, se_neyman, conf_low, conf_high``
        (the efficient estimator, NaN when it does not apply), ``did_estimate`` (the test's
        statistic), ``p_value, p_mc_error, n_draws`` (the randomisation test).
    n_units, n_steps, n_strata, seed : int
        The recorded lot.
    smallest_step : int
        Units in the smallest step.
    estimator_applies : bool
        Whether every step has :data:`MIN_PER_STEP` units (else the estimator's columns are
        NaN and only the randomisation test runs).
    pre_periods, n_periods : int
        Periods simulated before the first step, and in all.
    between_sd, noise_sd : float
        Standard deviations the simulation used (from the power section's variance components).
    alpha : float
    stream : int
        Seed stream of the re-draws.
    """

    simulated: bool
    outcome: str
    table: pd.DataFrame
    n_units: int
    n_steps: int
    n_strata: int
    seed: int
    smallest_step: int
    estimator_applies: bool
    pre_periods: int
    n_periods: int
    between_sd: float
    noise_sd: float
    alpha: float
    stream: int
    efficient: dict[str, pd.DataFrame] = field(
        default_factory=dict, repr=False, compare=False, metadata={"serialise": False}
    )


def _facts(prepared: Prepared, **more: object) -> dict[str, object]:
    return {"contract": "panel" if sample.is_panel(prepared) else "hanam", **more}


def noise_levels(power: PowerPlan) -> tuple[float, float]:
    """Between-unit and unit-period standard deviations of a unit's mean outcome per period."""
    c = power.components
    per_cell = max(float(c.ballots_per_commune_wave), 1.0) if power.level == "ballots" else 1.0
    noise = np.nan_to_num(c.commune_wave_var) + c.residual_var / per_cell
    return float(np.sqrt(max(c.between_commune_var, 0.0))), float(np.sqrt(max(noise, 0.0)))


def recorded_lot(wedge: SteppedWedgeDesign) -> WedgeRandomisation:
    """The generator's arguments behind page 06's recorded order."""
    return WedgeRandomisation.from_design(
        wedge.design,
        strata="district_name" if wedge.strata else None,
        n_steps=wedge.n_steps,
        unit="commune_code",
    )


@analysis(NAME, PAGE, requires=DID_DESIGN)
def phase_in_check(
    prepared: Prepared,
    params: Params,
    wedge: SteppedWedgeDesign | NotApplicable,
    power: PowerPlan | NotApplicable,
) -> PhaseInCheck | NotApplicable:
    """Rehearse the randomisation test and the efficient estimator on a simulated phase.

    Needs page 06's recorded random order (``wedge``) and the variance components of its power
    section (``power``). Simulation seed ``inference.seed``, re-draw stream ``inference.seed +
    1``, ``min(inference.ri_draws, MAX_DRAWS)`` re-draws shared by both scenarios.
    """
    if not applies(wedge):
        return NotApplicable(NAME, "phase_in_no_order", _facts(prepared))
    if not applies(power):
        return NotApplicable(NAME, "phase_in_no_noise", _facts(prepared))
    sizes = wedge.design.groupby("step").size()
    if len(sizes) < 2:
        return NotApplicable(NAME, "phase_in_steps", _facts(prepared, steps=int(len(sizes))))
    estimator_applies = bool(sizes.min() >= MIN_PER_STEP)
    lot = recorded_lot(wedge)
    if not lot.reproduces():
        return NotApplicable(NAME, "phase_in_not_reproducible", _facts(prepared, seed=lot.seed))
    between_sd, noise_sd = noise_levels(power)
    seed = int(params.inference.seed)
    draws = draw_orders(lot, min(int(params.inference.ri_draws), MAX_DRAWS), stream=seed + 1)
    rows, efficient = [], {}
    for scenario, effect in (("powered", float(power.target_effect)), ("none", 0.0)):
        panel = simulate_phase_in(
            lot.recorded.rename("start_period").reset_index(),
            effect=effect,
            between_sd=between_sd,
            noise_sd=noise_sd,
            pre_periods=PRE_PERIODS,
            effect_spread=EFFECT_SPREAD,
            seed=seed,
        )
        test = stepped_wedge_test(
            panel, "outcome", time="period", randomisation=lot, draws=draws, statistic="did"
        )
        row = {
            "scenario": scenario,
            "true_effect": float(panel.attrs["effect"]),
            **dict.fromkeys(ESTIMATE_COLUMNS, float("nan")),
            "did_estimate": test.observed,
            "p_value": test.p_value,
            "p_mc_error": test.mc_std_error,
            "n_draws": test.n_draws,
        }
        if estimator_applies:
            fit = efficient_staggered(
                panel,
                "outcome",
                unit="commune_code",
                time="period",
                first_treated="start_period",
                estimands=("simple",),
                alpha=params.analysis.alpha,
            )
            row.update(fit.table.iloc[0][list(ESTIMATE_COLUMNS)].astype(float).to_dict())
            efficient[scenario] = fit.tidy()
        rows.append(row)
    return PhaseInCheck(
        simulated=True,
        outcome=power.outcome,
        table=pd.DataFrame(rows),
        n_units=lot.n_units,
        n_steps=lot.n_steps,
        n_strata=lot.n_strata,
        seed=lot.seed,
        smallest_step=int(sizes.min()),
        estimator_applies=estimator_applies,
        pre_periods=PRE_PERIODS,
        n_periods=int(PRE_PERIODS + lot.recorded.max() - lot.recorded.min() + 1),
        between_sd=between_sd,
        noise_sd=noise_sd,
        alpha=float(params.analysis.alpha),
        stream=draws.stream,
        efficient=efficient,
    )
