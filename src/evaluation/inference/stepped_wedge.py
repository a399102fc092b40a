"""Fisher randomisation test of a stepped-wedge rollout, re-drawn exactly as it was drawn.

When the start order of the next units was drawn by lot (page 06's stepped wedge, written to
``tables/stepped_wedge.csv`` with its seed), the lot itself is the basis for inference: under
the sharp null that the model changes no unit's outcome in any period, the outcomes observed
would have been the same whatever order the lot had produced, so the statistic computed under
every other order the lot *could* have produced is its null distribution. No assumption on
trends, on the outcome's distribution or on the number of units is needed.

The test is only valid if the re-draws follow the real lot exactly: same strata, same step
sizes, same dealing of units to steps. It therefore never re-implements the lot: each re-draw
calls the generator itself, :func:`evaluation.scaling.rollout_design.stepped_wedge`, with the
recorded arguments and a seed from a stream indexed by the draw number
(:func:`draw_seed`), and the test first checks that the generator, given the recorded seed,
reproduces the recorded order unit for unit.

The statistic is a difference-in-differences contrast of the outcome: by default the simple
average of the not-yet-started comparisons (each step against the steps still waiting, in each
period from its start until the last step starts, minus the same contrast the period before
its start; Callaway and Sant'Anna's estimator with not-yet-treated comparisons), or its value
``e`` periods after the start (``event_time``), or the studentized efficient estimator of Roth
and Sant'Anna (2023) (``statistic="efficient_t"``, as the R package ``staggered`` does).

The p-value counts re-draws at least as extreme as the observed value,
``p = (1 + #{|T_b| >= |T_obs|}) / (1 + B)``, and reports its Monte Carlo standard error
``sqrt(p (1 - p) / B)``: the part of the p-value due to using ``B`` draws rather than every
possible order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from evaluation.estimators.efficient_staggered import (
    cohort_codes,
    cohort_summaries,
    estimand_matrices,
    plug_in,
)
from evaluation.scaling.rollout_design import lot_groups, lot_steps, stepped_wedge

__all__ = [
    "STATISTICS",
    "SteppedWedgeTest",
    "WedgeDraws",
    "WedgeRandomisation",
    "draw_orders",
    "draw_seed",
    "stepped_wedge_test",
    "wedge_statistic",
]

Statistic = Literal["did", "efficient_t"]
#: The statistics the test can use.
STATISTICS: tuple[str, ...] = ("did", "efficient_t")
#: Re-draws within this relative distance of |T_obs| count as ties (as extreme).
_TIE_TOLERANCE = 1e-9
#: Stratum given to every unit when the lot was not stratified (as page 06 does).
ONE_STRATUM = "all"


def draw_seed(stream: int, draw: int) -> int:
    """The seed of re-draw ``draw`` (1, 2, ...) of stream ``stream``: a 32-bit integer.

    Derived with :class:`numpy.random.SeedSequence` from ``(stream, draw)``, so draws of one
    stream are independent of each other and of any seed a person would pick for the lot.
    """
    return int(np.random.SeedSequence([int(stream), int(draw)]).generate_state(1)[0])


@dataclass(frozen=True)
class WedgeRandomisation:
    """How a recorded start order was drawn: the generator's arguments.

    Attributes
    ----------
    units : pandas.DataFrame
        ``unit, stratum``: one row per unit, exactly what the generator was given.
    recorded : pandas.Series
        Recorded start period of each unit (index: unit codes as text).
    n_steps, seed, start_period, periods_per_step : int
        The generator's arguments (``seed`` the recorded one).
    unit : str
        Unit column name.
    """

    units: pd.DataFrame
    recorded: pd.Series
    n_steps: int
    seed: int
    start_period: int
    periods_per_step: int = 1
    unit: str = "commune_code"

    @classmethod
    def from_design(
        cls,
        design: pd.DataFrame,
        strata: str | None,
        n_steps: int,
        unit: str = "commune_code",
        periods_per_step: int = 1,
    ) -> WedgeRandomisation:
        """Read the generator's arguments back from a recorded order.

        Parameters
        ----------
        design : pandas.DataFrame
            The recorded order: ``unit``, ``step``, ``start_period``, ``seed`` and the strata
            column (``tables/stepped_wedge.csv`` has ``district_name``).
        strata : str or None
            Column the lot was stratified on (None: one stratum, as page 06 without strata).
        n_steps : int
            Steps of the lot (``scaling.rollout_steps``; the last steps may be empty).
        unit : str
            Unit column.
        periods_per_step : int
            Periods between consecutive steps.

        Raises
        ------
        ValueError
            When a column is missing, the seed is not one number, or start periods do not
            follow the steps.
        """
        need = [unit, "step", "start_period", "seed"] + ([strata] if strata else [])
        missing = [c for c in need if c not in design.columns]
        if missing:
            raise ValueError(f"the recorded order lacks the columns {missing}")
        if len(design) == 0:
            raise ValueError("the recorded order has no units")
        seeds = pd.unique(design["seed"])
        if len(seeds) != 1:
            raise ValueError(f"the recorded order carries {len(seeds)} seeds; it needs one")
        steps = design["step"].astype(int).to_numpy()
        starts = design["start_period"].astype(int).to_numpy()
        first = np.unique(starts - (steps - 1) * int(periods_per_step))
        if first.size != 1:
            raise ValueError("start periods do not follow the steps in the recorded order")
        codes = design[unit].astype(str)
        stratum = design[strata].astype(str) if strata else pd.Series(ONE_STRATUM, design.index)
        return cls(
            units=pd.DataFrame({unit: codes.to_numpy(), "stratum": stratum.to_numpy()}),
            recorded=pd.Series(starts, index=pd.Index(codes.to_numpy(), name=unit)).sort_index(),
            n_steps=int(n_steps),
            seed=int(seeds[0]),
            start_period=int(first[0]),
            periods_per_step=int(periods_per_step),
            unit=unit,
        )

    def draw(self, seed: int) -> pd.Series:
        """Start period of each unit under the lot drawn with ``seed`` (the generator itself)."""
        order = stepped_wedge(
            self.units,
            strata="stratum",
            n_steps=self.n_steps,
            seed=int(seed),
            start_period=self.start_period,
            unit=self.unit,
            periods_per_step=self.periods_per_step,
        )
        return order.set_index(self.unit)["start_period"].astype(int).sort_index()

    def reproduces(self) -> bool:
        """Whether the generator, given the recorded seed, yields the recorded order exactly."""
        again = self.draw(self.seed)
        return bool(again.index.equals(self.recorded.index) and (again == self.recorded).all())

    @property
    def n_units(self) -> int:
        return int(len(self.units))

    @property
    def n_strata(self) -> int:
        return int(self.units["stratum"].nunique())


@dataclass(frozen=True)
class WedgeDraws:
    """Re-drawn orders: one row per draw, one column per unit (``units``, sorted codes)."""

    units: pd.Index
    seeds: np.ndarray
    starts: np.ndarray
    stream: int


def draw_orders(randomisation: WedgeRandomisation, n_draws: int, stream: int) -> WedgeDraws:
    """``n_draws`` orders from the generator, seeds ``draw_seed(stream, 1..n_draws)``.

    The draws do not depend on any outcome: draw once, test many outcomes or statistics.
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be at least 1, got {n_draws}")
    seeds = np.array([draw_seed(stream, b) for b in range(1, n_draws + 1)], dtype=np.int64)
    units = randomisation.recorded.index
    frame = randomisation.units
    # the generator's own core (lot_steps), called on the strata it would build, once per draw
    groups = lot_groups(frame[randomisation.unit].to_numpy(), frame["stratum"].to_numpy())
    position = {code: i for i, code in enumerate(units)}
    starts = np.empty((n_draws, units.size), dtype=np.int64)
    for b, seed in enumerate(seeds):
        for shuffled, steps in lot_steps(groups, randomisation.n_steps, int(seed)):
            slots = np.fromiter((position[code] for code in shuffled), np.int64, shuffled.size)
            starts[b, slots] = (
                randomisation.start_period + (steps - 1) * randomisation.periods_per_step
            )
    return WedgeDraws(units=units, seeds=seeds, starts=starts, stream=int(stream))


def wedge_statistic(
    outcomes: np.ndarray,
    codes: np.ndarray,
    statistic: Statistic = "did",
    event_time: int | None = None,
) -> float:
    """The test statistic for one assignment (start codes on the period positions).

    ``did``: the not-yet-started DiD contrast (``beta = 1``), simple aggregate or at
    ``event_time``; ``efficient_t``: the plug-in efficient estimate over its refined standard
    error. NaN when the assignment identifies no contrast.
    """
    estimand = "simple" if event_time is None else "eventstudy"
    if statistic == "did":
        summaries = cohort_summaries(outcomes, codes, with_covariances=False)
    elif statistic == "efficient_t":
        summaries = cohort_summaries(outcomes, codes)
    else:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    try:
        a_theta, a_zero = estimand_matrices(summaries, estimand, event_time or 0)
    except ValueError:
        return float("nan")
    if statistic == "did":
        return float(np.sum((a_theta - a_zero) * summaries.means))
    fit = plug_in(summaries, a_theta, a_zero)
    return fit.estimate / fit.std_error if fit.std_error > 0 else float("nan")


@dataclass(frozen=True)
class SteppedWedgeTest:
    """Fisher randomisation test of the sharp null of no effect under the recorded lot.

    Attributes
    ----------
    outcome, statistic : str
    event_time : int or None
    observed : float
        The statistic under the recorded order.
    p_value : float
        Two-sided: ``(1 + #{|T_b| >= |T_obs|}) / (1 + B)``.
    mc_std_error : float
        Monte Carlo standard error of ``p_value`` (``sqrt(p (1 - p) / B)``).
    n_draws : int
        Re-draws ``B`` whose statistic was defined (those that were not are left out).
    n_undefined : int
        Re-draws whose statistic was not defined.
    recorded_seed, stream : int
        The lot's seed and the seed stream of the re-draws.
    n_units, n_strata, n_steps, n_periods : int
    draws : numpy.ndarray
        The statistic under each re-draw (not saved with results).
    """

    outcome: str
    statistic: str
    event_time: int | None
    observed: float
    p_value: float
    mc_std_error: float
    n_draws: int
    n_undefined: int
    recorded_seed: int
    stream: int
    n_units: int
    n_strata: int
    n_steps: int
    n_periods: int
    draws: np.ndarray = field(repr=False, compare=False, metadata={"serialise": False})

    def tidy(self) -> pd.DataFrame:
        """One row: the statistic, its p-value and the p-value's Monte Carlo error."""
        return pd.DataFrame(
            [
                {
                    "outcome": self.outcome,
                    "statistic": self.statistic,
                    "event_time": self.event_time,
                    "observed": self.observed,
                    "p_value": self.p_value,
                    "mc_std_error": self.mc_std_error,
                    "n_draws": self.n_draws,
                    "n_units": self.n_units,
                    "n_strata": self.n_strata,
                    "n_steps": self.n_steps,
                    "inference": self.label(),
                }
            ]
        )

    def label(self) -> str:
        """How the test was computed (printed beside tables)."""
        return (
            f"Fisher randomisation test: {self.n_draws:,} re-draws of the stepped-wedge lot "
            f"(recorded seed {self.recorded_seed}, {self.n_units} units in {self.n_strata} "
            f"strata, {self.n_steps} steps) by its own generator; Monte Carlo error of p "
            f"{self.mc_std_error:.3f}"
        )


def _outcome_matrix(
    data: pd.DataFrame, outcome: str, unit: str, time: str, units: pd.Index
) -> pd.DataFrame:
    """``units x periods`` outcomes of the lot's units (every unit in every period)."""
    missing = [c for c in (outcome, unit, time) if c not in data.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the data")
    rows = data.assign(**{unit: data[unit].astype(str)})
    rows = rows[rows[unit].isin(set(units))]
    if rows.duplicated([unit, time]).any():
        raise ValueError(f"the data have more than one row per {unit!r} and {time!r}")
    wide = rows.pivot(index=unit, columns=time, values=outcome).reindex(units).sort_index(axis=1)
    absent = int(wide.isna().all(axis=1).sum())
    if wide.isna().any().any():
        raise ValueError(
            f"the randomisation test needs the outcome of every unit of the lot in every period; "
            f"{int(wide.isna().any(axis=1).sum())} unit(s) lack some ({absent} lack all)"
        )
    return wide


def stepped_wedge_test(
    data: pd.DataFrame,
    outcome: str,
    *,
    time: str,
    randomisation: WedgeRandomisation,
    statistic: Statistic = "did",
    event_time: int | None = None,
    n_draws: int = 999,
    stream: int = 0,
    draws: WedgeDraws | None = None,
) -> SteppedWedgeTest:
    """Fisher randomisation test of no effect, re-drawing the lot with its own generator.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel: one row per unit and period, for every unit of the lot (other units are
        ignored); ``time`` on the scale of the recorded ``start_period``.
    outcome, time : str
        Column names (the unit column is ``randomisation.unit``).
    randomisation : WedgeRandomisation
        The recorded lot (:meth:`WedgeRandomisation.from_design`).
    statistic : {"did", "efficient_t"}
    event_time : int, optional
        Test the contrast ``event_time`` periods after the start instead of the simple average.
    n_draws : int
        Re-draws of the lot (ignored when ``draws`` is given).
    stream : int
        Seed stream of the re-draws (:func:`draw_seed`).
    draws : WedgeDraws, optional
        Re-draws made beforehand with :func:`draw_orders` (to test several outcomes at once).

    Raises
    ------
    ValueError
        When the generator does not reproduce the recorded order from its seed (the order was
        edited, or drawn by another version of the generator: then it is not this lot's draw and
        the test would be invalid), or the data miss a unit or period.
    """
    if not randomisation.reproduces():
        raise ValueError(
            f"the stepped-wedge generator does not reproduce the recorded order from its seed "
            f"{randomisation.seed}: the order was changed after the lot, so re-drawing the lot "
            "cannot give its randomisation distribution"
        )
    units = randomisation.recorded.index
    wide = _outcome_matrix(data, outcome, randomisation.unit, time, units)
    periods = wide.columns.to_numpy(dtype=float)
    y = wide.to_numpy(dtype=float)
    if draws is None:
        draws = draw_orders(randomisation, n_draws, stream)
    elif not draws.units.equals(units):
        raise ValueError("the re-draws were made for other units than this lot's")
    observed = wedge_statistic(
        y, cohort_codes(randomisation.recorded.to_numpy(), periods), statistic, event_time
    )
    if not np.isfinite(observed):
        raise ValueError(
            "the recorded order identifies no contrast in these periods: the data need a period "
            "before the first step and the steps must not all start together"
        )
    values = np.array(
        [
            wedge_statistic(y, cohort_codes(row, periods), statistic, event_time)
            for row in draws.starts
        ]
    )
    defined = values[np.isfinite(values)]
    b = int(defined.size)
    extreme = int(np.sum(np.abs(defined) >= np.abs(observed) * (1 - _TIE_TOLERANCE)))
    p = (1 + extreme) / (1 + b)
    return SteppedWedgeTest(
        outcome=outcome,
        statistic=statistic,
        event_time=event_time,
        observed=float(observed),
        p_value=float(p),
        mc_std_error=float(np.sqrt(p * (1 - p) / b)) if b else float("nan"),
        n_draws=b,
        n_undefined=int(values.size - b),
        recorded_seed=randomisation.seed,
        stream=draws.stream,
        n_units=randomisation.n_units,
        n_strata=randomisation.n_strata,
        n_steps=randomisation.n_steps,
        n_periods=int(periods.size),
        draws=values,
    )
