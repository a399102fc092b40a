"""Which communes to add within a budget: a 0/1 knapsack on predicted gains.

Each candidate commune has a cost (VND, e.g. the present-value cost from
:mod:`evaluation.scaling.cost_effectiveness`) and an expected gain (e.g. predicted additional
satisfied households from :func:`evaluation.scaling.prediction.predict_effects`). We choose the set
of communes with the largest total expected gain whose total cost fits the budget.

Methods (``method="auto"`` picks the first that applies):

``brute_force``
    Up to 20 candidates: every subset is enumerated; exact on the costs as given.
``dynamic_programming``
    Exact 0/1 knapsack on costs rounded **up** to ``cost_unit`` VND (default 1 million) and the
    budget rounded down: the plan never exceeds the true budget, and it is optimal for the rounded
    costs (exactly optimal when costs are multiples of ``cost_unit``). Used when
    ``n_candidates * budget / cost_unit <= max_dp_cells``.
``greedy``
    Candidates by gain per VND, each added if it still fits; the result is the better of that and
    the single best affordable commune. This is at least half the optimum; the report also gives
    the linear-relaxation (Dantzig) upper bound on the optimum, usually far tighter.

Only candidates with positive expected gain are considered. The plan lists the chosen communes
by gain per VND (the order to start them in if money comes in tranches) with cumulative cost and
gain. Uncertainty of the cumulative gain: predicted gains come from the same few estimated
coefficients, so their errors are close to perfectly correlated; by default the cumulative
standard error is the sum of the communes' standard errors (``gain_correlation="perfect"``,
conservative); ``"independent"`` uses the root sum of squares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

Method = Literal["auto", "brute_force", "dynamic_programming", "greedy"]

#: Largest number of candidates enumerated exhaustively.
BRUTE_FORCE_MAX = 20


def _z(alpha: float) -> float:
    """Two-sided normal critical value for ``1 - alpha`` coverage."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(stats.norm.ppf(1 - alpha / 2))


@dataclass(frozen=True)
class RolloutPlan:
    """A budget-constrained choice of communes.

    Attributes
    ----------
    plan : pandas.DataFrame
        Chosen communes in order: ``order, <unit>, [name], cost, expected_gain,
        gain_per_million_vnd, cumulative_cost, cumulative_gain, expected_gain_se,
        cumulative_gain_se, cumulative_gain_low, cumulative_gain_high``.
    method : str
        ``brute_force``, ``dynamic_programming`` or ``greedy``.
    budget, total_cost, total_gain : float
    upper_bound : float
        An upper bound on the best achievable gain (equal to ``total_gain`` for exact methods on
        unrounded costs; the linear-relaxation bound otherwise).
    cost_unit : float or None
        Rounding unit of the dynamic programme.
    notes : tuple of str
    """

    plan: pd.DataFrame
    method: str
    budget: float
    total_cost: float
    total_gain: float
    upper_bound: float
    cost_unit: float | None
    notes: tuple[str, ...] = ()


def _brute_force(cost: np.ndarray, value: np.ndarray, budget: float) -> np.ndarray:
    n = cost.size
    if n == 0:
        return np.zeros(0, bool)
    masks = np.arange(2**n, dtype=np.int64)
    bits = ((masks[:, None] >> np.arange(n)) & 1).astype(bool)
    total_cost = bits @ cost
    total_value = np.where(total_cost <= budget * (1 + 1e-12), bits @ value, -np.inf)
    best = np.flatnonzero(total_value == total_value.max())
    # ties: the cheapest of the best subsets
    return bits[best[np.argmin(total_cost[best])]]


def _dynamic_programming(weights: np.ndarray, value: np.ndarray, capacity: int) -> np.ndarray:
    n = weights.size
    best = np.zeros(capacity + 1)
    take = np.zeros((n, capacity + 1), bool)
    for i in range(n):
        w = int(weights[i])
        if w > capacity:
            continue
        candidate = np.full(capacity + 1, -np.inf)
        candidate[w:] = best[: capacity + 1 - w] + value[i]
        take[i] = candidate > best
        best = np.maximum(best, candidate)
    chosen = np.zeros(n, bool)
    c = capacity
    for i in range(n - 1, -1, -1):
        if take[i, c]:
            chosen[i] = True
            c -= int(weights[i])
    return chosen


def _greedy(cost: np.ndarray, value: np.ndarray, budget: float) -> tuple[np.ndarray, float]:
    """Greedy by ratio (best single item as fallback) and the Dantzig upper bound."""
    with np.errstate(divide="ignore"):
        ratio = np.where(cost > 0, value / np.where(cost > 0, cost, 1), np.inf)
    order = np.argsort(-ratio, kind="stable")
    chosen = np.zeros(cost.size, bool)
    spent = 0.0
    for i in order:
        if spent + cost[i] <= budget:
            chosen[i] = True
            spent += cost[i]
    # Dantzig bound: fill by ratio, taking a fraction of the first item that does not fit
    bound, left = 0.0, budget
    for i in order:
        if cost[i] <= left:
            bound += value[i]
            left -= cost[i]
        else:
            bound += value[i] * left / cost[i]
            break
    affordable = np.flatnonzero(cost <= budget)
    if affordable.size:
        single = affordable[np.argmax(value[affordable])]
        if value[single] > value[chosen].sum():
            chosen = np.zeros(cost.size, bool)
            chosen[single] = True
    return chosen, bound


def gain_cost_curve(
    candidates: pd.DataFrame,
    value_col: str = "expected_gain",
    cost_col: str = "cost",
    unit: str = "commune_code",
    name_col: str | None = None,
    se_col: str | None = None,
    gain_correlation: Literal["perfect", "independent"] = "perfect",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Candidates by gain per VND with cumulative cost and gain (the columns of a plan).

    ``cumulative_gain_low``/``high`` are the gain plus or minus the two-sided normal critical
    value for ``1 - alpha`` times its standard error (model-based: they inherit whatever the
    standard errors of the predictions assume).
    """
    for argument, column in {
        "value_col": value_col,
        "cost_col": cost_col,
        "unit": unit,
        "name_col": name_col,
        "se_col": se_col,
    }.items():
        if column is not None and column not in candidates.columns:
            raise ValueError(
                f"{argument}={column!r} is not a column of candidates "
                f"({list(candidates.columns)}); pass the right column name"
            )
    if gain_correlation not in ("perfect", "independent"):
        raise ValueError(
            f"gain_correlation must be 'perfect' or 'independent', got {gain_correlation!r}"
        )
    keep = [unit] + ([name_col] if name_col else [])
    out = candidates[keep].copy()
    out["cost"] = candidates[cost_col].to_numpy(float)
    out["expected_gain"] = candidates[value_col].to_numpy(float)
    if out[["cost", "expected_gain"]].isna().any().any():
        raise ValueError(f"{cost_col!r} and {value_col!r} must have no missing values")
    if (out["cost"] < 0).any():
        raise ValueError(f"cost_col={cost_col!r} has negative costs")
    with np.errstate(divide="ignore"):
        out["gain_per_million_vnd"] = out["expected_gain"] / out["cost"] * 1e6
    out["expected_gain_se"] = candidates[se_col].to_numpy(float) if se_col else np.nan
    out = out.sort_values(
        ["gain_per_million_vnd", "expected_gain"], ascending=False, kind="stable"
    ).reset_index(drop=True)
    out.insert(0, "order", np.arange(1, len(out) + 1))
    out["cumulative_cost"] = out["cost"].cumsum()
    out["cumulative_gain"] = out["expected_gain"].cumsum()
    se = out["expected_gain_se"]
    out["cumulative_gain_se"] = (
        se.cumsum() if gain_correlation == "perfect" else np.sqrt((se**2).cumsum())
    )
    z = _z(alpha)
    out["cumulative_gain_low"] = out["cumulative_gain"] - z * out["cumulative_gain_se"]
    out["cumulative_gain_high"] = out["cumulative_gain"] + z * out["cumulative_gain_se"]
    return out


def plan_rollout(
    candidates: pd.DataFrame,
    budget: float,
    value_col: str = "expected_gain",
    cost_col: str = "cost",
    unit: str = "commune_code",
    name_col: str | None = None,
    se_col: str | None = None,
    method: Method = "auto",
    cost_unit: float = 1e6,
    max_dp_cells: int = 20_000_000,
    gain_correlation: Literal["perfect", "independent"] = "perfect",
    alpha: float = 0.05,
) -> RolloutPlan:
    """Choose communes maximising total expected gain within ``budget`` VND.

    Parameters
    ----------
    candidates : pandas.DataFrame
        One row per candidate commune.
    budget : float
        VND available (same units and horizon as ``cost_col``).
    value_col, cost_col, unit, name_col, se_col : str
        Columns of expected gain, cost (VND), commune code, commune name and the gain's
        standard error.
    method : {"auto", "brute_force", "dynamic_programming", "greedy"}
        See the module docstring.
    cost_unit : float
        Rounding unit (VND) of the dynamic programme.
    max_dp_cells : int
        Largest ``n_candidates * (budget / cost_unit + 1)`` solved by dynamic programming in
        ``auto`` mode.
    gain_correlation : {"perfect", "independent"}
        How the communes' gain errors combine in the cumulative standard error.
    alpha : float
        One minus the coverage of the cumulative gain's band.

    Returns
    -------
    RolloutPlan
    """
    if not np.isfinite(budget) or budget < 0:
        raise ValueError(f"budget must be a non-negative amount of VND, got {budget!r}")
    if method not in ("auto", "brute_force", "dynamic_programming", "greedy"):
        raise ValueError(
            f"method must be auto, brute_force, dynamic_programming or greedy: {method!r}"
        )
    if cost_unit <= 0:
        raise ValueError(f"cost_unit must be a positive amount of VND, got {cost_unit!r}")
    curve = gain_cost_curve(
        candidates, value_col, cost_col, unit, name_col, se_col, gain_correlation, alpha
    )
    notes: list[str] = []
    positive = curve["expected_gain"].to_numpy() > 0
    if (~positive).any():
        notes.append(
            f"{int((~positive).sum())} candidate(s) with no positive expected gain left out"
        )
    pool = curve.loc[positive].reset_index(drop=True)
    cost = pool["cost"].to_numpy()
    value = pool["expected_gain"].to_numpy()
    n = len(pool)
    capacity = int(np.floor(budget / cost_unit + 1e-9))
    if method == "auto":
        if n <= BRUTE_FORCE_MAX:
            method = "brute_force"
        elif n * (capacity + 1) <= max_dp_cells:
            method = "dynamic_programming"
        else:
            method = "greedy"
    if method == "brute_force" and n > 25:
        raise ValueError(f"brute_force enumerates 2^n subsets; {n} candidates is too many")
    used_unit: float | None = None
    if method == "brute_force":
        chosen = _brute_force(cost, value, budget)
        bound = float(value[chosen].sum())
    elif method == "dynamic_programming":
        used_unit = float(cost_unit)
        weights = np.ceil(cost / cost_unit - 1e-9).astype(np.int64)
        chosen = _dynamic_programming(weights, value, capacity)
        _, bound = _greedy(cost, value, budget)
        if np.any(np.abs(weights * cost_unit - cost) > 1e-6 * cost_unit):
            notes.append(
                f"costs rounded up to {cost_unit:,.0f} VND for the exact programme; the plan "
                "fits the budget and is optimal for the rounded costs"
            )
        else:
            bound = float(value[chosen].sum())
    else:
        chosen, bound = _greedy(cost, value, budget)
        notes.append(
            "greedy by gain per VND: total gain is at least half the optimum and at most "
            f"{bound:,.1f} (linear-relaxation bound)"
        )
    plan = pool.loc[chosen].copy()
    # recompute order and cumulative columns over the chosen communes only
    plan = plan.drop(
        columns=[
            "order",
            "cumulative_cost",
            "cumulative_gain",
            "cumulative_gain_se",
            "cumulative_gain_low",
            "cumulative_gain_high",
        ]
    )
    rebuilt = gain_cost_curve(
        plan.assign(_value=plan["expected_gain"], _cost=plan["cost"]),
        "_value",
        "_cost",
        unit,
        name_col,
        "expected_gain_se" if se_col else None,
        gain_correlation,
        alpha,
    )
    return RolloutPlan(
        plan=rebuilt,
        method=method,
        budget=float(budget),
        total_cost=float(cost[chosen].sum()),
        total_gain=float(value[chosen].sum()),
        upper_bound=float(bound),
        cost_unit=used_unit,
        notes=tuple(notes),
    )
