"""A randomised, district-stratified stepped-wedge rollout for the next phase.

The province cannot start every commune at once (money, staff). Starting them in randomly
ordered steps turns that constraint into a design: communes waiting for their step are a
randomised comparison group, and within each district the steps are balanced.

Algorithm (reproducible from ``seed`` alone, whatever the input row order):

1. ``rng = numpy.random.default_rng(seed)``; a random starting step ``offset``.
2. For each stratum in sorted order: its communes (sorted by code) are randomly permuted and dealt
   to steps ``offset, offset + 1, ...`` (mod ``n_steps``); the next stratum continues where this
   one stopped. Within a stratum the step sizes therefore differ by at most one, and so do the
   step sizes over the whole province.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd


def lot_groups(units: np.ndarray, strata: np.ndarray) -> list[tuple[object, np.ndarray]]:
    """The lot's strata in the order they are drawn (sorted as text), each with its units
    sorted: what :func:`lot_steps` deals."""
    return [
        (stratum, np.sort(units[strata == stratum]))
        for stratum in sorted(pd.unique(strata), key=str)
    ]


def lot_steps(
    groups: list[tuple[object, np.ndarray]], n_steps: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The lot itself: each stratum's units in the order drawn, and their steps.

    One generator seeded with ``seed`` draws a starting step, then shuffles each stratum in
    turn; units are dealt to steps 1..``n_steps`` in that order, each stratum continuing where
    the last one stopped, so steps stay balanced within and across strata. :func:`stepped_wedge`
    and the randomisation test's re-draws (:mod:`evaluation.inference.stepped_wedge`) both call
    this one function: a re-draw is the lot, never a copy of it.
    """
    rng = np.random.default_rng(seed)
    offset = int(rng.integers(n_steps))
    out = []
    for _, codes in groups:
        shuffled = rng.permutation(codes)
        steps = (offset + np.arange(shuffled.size)) % n_steps + 1
        offset = (offset + shuffled.size) % n_steps
        out.append((shuffled, steps))
    return out


def stepped_wedge(
    communes: pd.DataFrame,
    strata: str = "district_name",
    n_steps: int = 4,
    seed: int = 0,
    start_period: int = 0,
    unit: str = "commune_code",
    periods_per_step: int = 1,
    first_date: date | str | None = None,
    months_per_period: int = 3,
) -> pd.DataFrame:
    """Assign communes to the steps of a stratified stepped-wedge rollout.

    Parameters
    ----------
    communes : pandas.DataFrame
        One row per commune to roll out to (leave out communes already under the model).
    strata : str
        Column to stratify on (district).
    n_steps : int
        Number of steps (start dates).
    seed : int
        Seed of the randomisation; recorded in the ``seed`` column and ``attrs["seed"]``.
    start_period : int
        Integer wave index at which step 1 starts.
    unit : str
        Commune code column.
    periods_per_step : int
        Waves between consecutive steps.
    first_date : date or ISO string, optional
        Calendar start of step 1; adds ``start_date``.
    months_per_period : int
        Months per wave (3 for quarterly ballots), to compute ``start_date``.

    Returns
    -------
    pandas.DataFrame
        ``unit, stratum, step, start_period, [start_date], seed``, sorted by stratum, step, unit.
    """
    for argument, column in {"unit": unit, "strata": strata}.items():
        if column not in communes.columns:
            raise ValueError(
                f"{argument}={column!r} is not a column of communes ({list(communes.columns)})"
            )
    if not isinstance(n_steps, int | np.integer) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    if not isinstance(periods_per_step, int | np.integer) or periods_per_step < 1:
        raise ValueError(f"periods_per_step must be a positive integer, got {periods_per_step!r}")
    if communes[unit].duplicated().any():
        raise ValueError(f"unit={unit!r} has duplicated communes; pass one row per commune")
    if communes[[unit, strata]].isna().any().any():
        raise ValueError(f"{unit!r} and {strata!r} must have no missing values")
    groups = lot_groups(communes[unit].to_numpy(), communes[strata].to_numpy())
    parts = [
        pd.DataFrame({unit: shuffled, "stratum": stratum, "step": steps})
        for (stratum, _), (shuffled, steps) in zip(
            groups, lot_steps(groups, n_steps, seed), strict=True
        )
    ]
    out = pd.concat(parts, ignore_index=True)
    out["start_period"] = start_period + (out["step"] - 1) * periods_per_step
    if first_date is not None:
        first = pd.Timestamp(first_date)
        offsets = (out["step"] - 1) * periods_per_step * months_per_period
        out["start_date"] = [
            (first + pd.DateOffset(months=int(k))).date().isoformat() for k in offsets
        ]
    out["seed"] = int(seed)
    out = (
        out.assign(_stratum=out["stratum"].astype(str))
        .sort_values(["_stratum", "step", unit])
        .drop(columns="_stratum")
        .reset_index(drop=True)
    )
    out.attrs["seed"] = int(seed)
    out.attrs["n_steps"] = int(n_steps)
    return out


def step_balance(
    design: pd.DataFrame,
    communes: pd.DataFrame,
    covariates: Sequence[str],
    unit: str = "commune_code",
) -> pd.DataFrame:
    """Mean of each commune covariate by step, and the count: a randomisation check.

    Returns
    -------
    pandas.DataFrame
        Tidy: ``step, covariate, mean, n_communes``.
    """
    missing = [c for c in [unit, *covariates] if c not in communes.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in communes")
    merged = design[[unit, "step"]].merge(communes[[unit, *covariates]], on=unit, how="left")
    long = merged.melt(id_vars=[unit, "step"], value_vars=list(covariates), var_name="covariate")
    out = long.groupby(["step", "covariate"], as_index=False).agg(
        mean=("value", "mean"), n_communes=(unit, "nunique")
    )
    return out
