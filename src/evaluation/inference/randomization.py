"""Randomisation inference on the studentized (CRV1 t) statistic of the TWFE DiD coefficient.

Which communes became pilots is re-assigned many times -- keeping the number of pilots (per
start wave) in each stratum, the district by default -- and the cluster-robust t statistic of
each re-assignment is compared with the observed one. The p-value is the share of assignments
whose ``|t|`` is at least the observed ``|t|``: exact (every assignment) when there are at most
``budget`` of them, otherwise ``budget`` draws with a seed and ``p = (1 + #) / (1 + budget)``.
Studentizing keeps the test valid-ish beyond the sharp null and makes it robust to a few large
treated communes (MacKinnon & Webb 2020; Young 2019). The interval inverts the test of the sharp
null ``y(1) - y(0) = tau0``: the outcome becomes ``y - tau0 * D`` and the same assignments are
re-used for every ``tau0``.

Why 10,000 re-assignments take well under a second
--------------------------------------------------
A re-assignment only changes which units carry which treatment path. By Frisch-Waugh-Lovell the
coefficient and its cluster score need, per unit ``i`` and possible start wave ``k``, only a
few numbers computed once from the demeaned (and ``sqrt(w)``-scaled) cell-level data: the
cross-products of the unit's demeaned treatment path with the residualised outcome (``d``),
with itself (``q``) and with the demeaned wave dummies/covariates (``c``), plus per-cluster
Gram matrices of the latter. An assignment then costs O(units x K + clusters x K^2) with K the
number of wave dummies and covariates, done for thousands of assignments at once with numpy.
The statistic is linear over the square root of a quadratic in ``tau0``, so the test-inversion
interval re-uses five numbers per assignment.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

from evaluation.inference.cluster_robust import PanelDesign, panel_design

__all__ = [
    "InteractionTest",
    "RIEngine",
    "RandomizationResult",
    "count_assignments",
    "group_randomization_inference",
    "interaction_randomization",
    "randomization_inference",
]

#: Draws within this relative distance of |t| count as ties (as extreme as the observed).
_TIE_TOLERANCE = 1e-9

#: Assignments processed per numpy block (memory ~ block x units x K floats).
_BLOCK = 2048


@dataclass(frozen=True)
class RandomizationResult:
    """Randomisation-inference test and test-inversion interval.

    Attributes
    ----------
    estimate : float
        TWFE coefficient on the treatment.
    t_stat : float
        Observed CRV1 t statistic of ``estimate - null_value`` (fixest small-sample factor).
    p_value : float
        Two-sided randomisation p-value of the sharp null ``effect = null_value``.
    conf_low, conf_high : float
        Interval by test inversion (NaN when not requested; +-inf when unbounded).
    n_assignments : int
        Assignments compared (all of them when ``enumerated``).
    enumerated : bool
        Whether every possible assignment was used (exact, no seed dependence).
    strata : str or None
        Column whose levels keep their number of pilots.
    n_treated_units, n_units : int
        Pilot units and all units.
    alpha, null_value : float
        Settings used.
    """

    estimate: float
    t_stat: float
    p_value: float
    conf_low: float
    conf_high: float
    n_assignments: int
    enumerated: bool
    strata: str | None
    n_treated_units: int
    n_units: int
    alpha: float = 0.05
    null_value: float = 0.0

    def label(self) -> str:
        """One line saying how the test was computed (printed beside tables)."""
        how = "all" if self.enumerated else "random"
        within = f"within {self.strata}" if self.strata else "without strata"
        return (
            f"randomisation inference on the CRV1 t statistic: {how} {self.n_assignments:,} "
            f"re-assignments of {self.n_treated_units} pilot units among {self.n_units} {within}"
        )


# --------------------------------------------------------------------------- assignments


def _unit_cohorts(design: PanelDesign) -> tuple[np.ndarray, np.ndarray]:
    """Start-wave code of each unit's treatment (``-1`` never) and the distinct start waves.

    Raises if a unit's treatment switches off again (re-assigning paths needs absorbing
    treatment) -- the pilot model is not withdrawn once introduced.
    """
    n_units = design.n_units
    big = np.iinfo(np.int64).max
    first = np.full(n_units, big, dtype=np.int64)
    treated = design.d != 0
    np.minimum.at(first, design.unit[treated], design.time[treated])
    expected = design.time >= first[design.unit]
    if not np.array_equal(expected, treated):
        raise ValueError(
            "treatment must be absorbing (0 before a unit's start wave, 1 from then on) for "
            "randomisation inference; a commune's treatment switches off or has gaps."
        )
    first[first == big] = -1
    starts = np.unique(first[first >= 0])
    return first, starts


def _strata_codes(
    data: pd.DataFrame | None, unit: str | None, strata: str | None, design: PanelDesign
) -> np.ndarray:
    """Stratum code of each unit (all zeros without strata)."""
    if strata is None:
        return np.zeros(design.n_units, dtype=np.int64)
    if data is None or unit is None:
        raise ValueError("strata needs the data frame and the unit column.")
    if strata not in data.columns:
        raise ValueError(
            f"strata column {strata!r} not found in the data; pass the district column name or "
            "strata=None to re-assign pilots among all communes."
        )
    table = data[[unit, strata]].dropna().drop_duplicates()
    if table[unit].duplicated().any():
        bad = table.loc[table[unit].duplicated(), unit].iloc[0]
        raise ValueError(f"unit {bad!r} lies in more than one {strata!r}; each unit needs one.")
    mapping = table.set_index(unit)[strata]
    missing = [u for u in design.unit_values if u not in mapping.index]
    if missing:
        raise ValueError(f"units {missing[:5]} have no {strata!r} value; fill it or drop them.")
    codes, _ = pd.factorize(mapping.loc[design.unit_values], sort=True)
    return codes.astype(np.int64)


def count_assignments(labels: np.ndarray, strata: np.ndarray) -> int:
    """Number of distinct re-assignments of ``labels`` keeping their counts within strata."""
    total = 1
    for s in np.unique(strata):
        values = labels[strata == s]
        n = len(values)
        ways = math.factorial(n)
        for count in np.unique(values, return_counts=True)[1]:
            ways //= math.factorial(int(count))
        total *= ways
    return total


def _stratum_arrangements(values: np.ndarray) -> list[np.ndarray]:
    """All distinct arrangements of the multiset ``values`` (positions choose labels)."""
    n = len(values)
    labels, counts = np.unique(values, return_counts=True)
    results: list[np.ndarray] = []

    def place(free: list[int], k: int, current: np.ndarray) -> None:
        if k == len(labels) - 1:
            out = current.copy()
            out[free] = labels[k]
            results.append(out)
            return
        for chosen in itertools.combinations(free, int(counts[k])):
            nxt = current.copy()
            nxt[list(chosen)] = labels[k]
            rest = [p for p in free if p not in chosen]
            place(rest, k + 1, nxt)

    place(list(range(n)), 0, np.empty(n, dtype=values.dtype))
    return results


def enumerate_assignments(labels: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Every distinct re-assignment, shape ``(count, units)``; the observed one is included."""
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    per_stratum = [_stratum_arrangements(labels[idx]) for idx in groups]
    out = np.empty((math.prod(len(p) for p in per_stratum), len(labels)), dtype=labels.dtype)
    for row, combo in enumerate(itertools.product(*per_stratum)):
        for idx, arrangement in zip(groups, combo, strict=True):
            out[row, idx] = arrangement
    return out


def draw_assignments(
    labels: np.ndarray, strata: np.ndarray, n_draws: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_draws`` random re-assignments (permutations of labels within each stratum)."""
    out = np.empty((n_draws, len(labels)), dtype=labels.dtype)
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        out[:, idx] = rng.permuted(np.tile(labels[idx], (n_draws, 1)), axis=1)
    return out


# --------------------------------------------------------------------------- engine


class RIEngine:
    """Pre-computed pieces for the CRV1 t statistic under any re-assignment of start waves.

    Parameters
    ----------
    design : PanelDesign
        Cell-level design (its ``d`` is the observed treatment used for test inversion).
    starts : numpy.ndarray
        Time codes of the possible start waves; label ``k`` (1-based) of an assignment means
        "treated from ``starts[k-1]`` on", label 0 means never treated.
    """

    def __init__(self, design: PanelDesign, starts: np.ndarray) -> None:
        self.design = design
        self.starts = np.asarray(starts, dtype=np.int64)
        n_units, n_cells = design.n_units, design.n_cells
        to_unit = sparse.csr_matrix(
            (np.ones(n_cells), (design.unit, np.arange(n_cells))), shape=(n_units, n_cells)
        )
        zt, sw = design.zt, design.sw
        k_z = zt.shape[1]
        gram = zt.T @ zt
        self._q_inv = np.linalg.pinv(gram) if k_z else np.zeros((0, 0))
        yres = design.yt - zt @ (self._q_inv @ (zt.T @ design.yt))
        paths = (design.time[:, None] >= self.starts[None, :]).astype(np.float64)
        dt = sw[:, None] * design.within(paths)  # (cells, C)
        d_obs = sw * design.within(design.d)
        dres_obs = d_obs - zt @ (self._q_inv @ (zt.T @ d_obs))
        zero = np.zeros((n_units, 1))
        # Per unit and label (column 0 = never treated): cross-products of the path.
        self.d0 = np.hstack([zero, to_unit @ (dt * yres[:, None])])
        self.d1 = np.hstack([zero, to_unit @ (dt * dres_obs[:, None])])
        self.q = np.hstack([zero, to_unit @ dt**2])
        c = np.stack([to_unit @ (zt * dt[:, [j]]) for j in range(dt.shape[1])], axis=1)
        self.c = np.concatenate([np.zeros((n_units, 1, k_z)), c.reshape(n_units, -1, k_z)], 1)
        self.zy0 = to_unit @ (zt * yres[:, None])
        self.zy1 = to_unit @ (zt * dres_obs[:, None])
        cl = design.unit_cluster
        self._to_cluster = sparse.csr_matrix(
            (np.ones(n_units), (cl, np.arange(n_units))), shape=(design.n_clusters, n_units)
        ).toarray()
        self.zz = np.zeros((design.n_clusters, k_z, k_z))
        np.add.at(self.zz, design.cluster, zt[:, :, None] * zt[:, None, :])
        g, n, k = design.n_clusters, design.n_obs, design.n_params
        self.ssc = g / (g - 1) * (n - 1) / (n - k)

    def moments(self, assignments: np.ndarray) -> np.ndarray:
        """Five numbers per assignment giving its t statistic at any ``tau0``.

        Returns
        -------
        numpy.ndarray
            Shape ``(R, 5)``: ``num0, num1, s_aa, s_ab, s_bb`` with
            ``t(tau0) = (num0 - tau0 num1) / sqrt(ssc (s_aa - 2 tau0 s_ab + tau0^2 s_bb))``.
        """
        assignments = np.asarray(assignments, dtype=np.int64)
        out = np.empty((assignments.shape[0], 5))
        for start in range(0, assignments.shape[0], _BLOCK):
            block = assignments[start : start + _BLOCK]
            out[start : start + _BLOCK] = self._moments_block(block)
        return out

    def _moments_block(self, a: np.ndarray) -> np.ndarray:
        rows = np.arange(a.shape[1])[None, :]
        d0, d1, q = self.d0[rows, a], self.d1[rows, a], self.q[rows, a]  # (R, n)
        c = self.c[rows, a]  # (R, n, K)
        c_sum = c.sum(axis=1)
        gamma = c_sum @ self._q_inv
        num0 = d0.sum(axis=1)
        num1 = d1.sum(axis=1)
        den = q.sum(axis=1) - np.einsum("rk,rk->r", gamma, c_sum)
        # Per-unit pieces of the cluster scores, then summed within clusters.
        dy0 = d0 - gamma @ self.zy0.T
        dy1 = d1 - gamma @ self.zy1.T
        dd_unit = q - 2 * np.einsum("rk,rik->ri", gamma, c)
        to_cl = self._to_cluster.T
        dd = dd_unit @ to_cl + np.einsum("rk,gkl,rl->rg", gamma, self.zz, gamma)
        with np.errstate(divide="ignore", invalid="ignore"):
            score_a = dy0 @ to_cl - (num0 / den)[:, None] * dd
            score_b = dy1 @ to_cl - (num1 / den)[:, None] * dd
        return np.column_stack(
            [
                num0,
                num1,
                np.einsum("rg,rg->r", score_a, score_a),
                np.einsum("rg,rg->r", score_a, score_b),
                np.einsum("rg,rg->r", score_b, score_b),
            ]
        )

    def t_stats(self, moments: np.ndarray, tau0: float = 0.0) -> np.ndarray:
        """CRV1 t statistics at the sharp null ``tau0`` (NaN where undefined)."""
        num0, num1, saa, sab, sbb = moments.T
        quad = np.maximum(saa - 2 * tau0 * sab + tau0**2 * sbb, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (num0 - tau0 * num1) / np.sqrt(self.ssc * quad)


def ri_p_value(t_observed: float, t_reference: np.ndarray, includes_observed: bool) -> float:
    """Two-sided p-value: share of ``|t_reference| >= |t_observed|`` (ties count as extreme).

    With sampled assignments (``includes_observed=False``) the observed assignment is added:
    ``(1 + #) / (1 + R)``, which keeps the test exact at levels that are multiples of 1/(R+1).
    """
    extreme = np.abs(t_reference) >= abs(t_observed) * (1 - _TIE_TOLERANCE)
    count = int(np.sum(extreme))
    if includes_observed:
        return count / len(t_reference)
    return (1 + count) / (1 + len(t_reference))


# --------------------------------------------------------------------------- public API


def randomization_inference(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    cluster: str | None = None,
    strata: str | None = "district",
    weights: str | None = None,
    covariates: Sequence[str] = (),
    budget: int = 9_999,
    seed: int = 0,
    alpha: float = 0.05,
    null_value: float = 0.0,
    confint: bool = True,
) -> RandomizationResult:
    """Randomisation test of the TWFE DiD coefficient, studentized by CRV1.

    Parameters
    ----------
    data : pandas.DataFrame
        Ballot- or cell-level panel.
    outcome, treatment, unit, time : str
        Columns; ``treatment`` is 0/1 and absorbing (pilot x post; staggered starts allowed:
        the start waves are re-assigned with the pilots).
    cluster : str, optional
        Cluster of the CRV1 t (default ``unit``).
    strata : str or None
        Column constant within units whose levels keep their number of pilots (per start
        wave); ``None`` re-assigns among all units.
    weights : str, optional
        Positive weights.
    covariates : sequence of str
        Numeric controls (held fixed across re-assignments).
    budget : int
        Enumerate every assignment when there are at most ``budget``; otherwise draw
        ``budget`` of them.
    seed : int
        Seed of the draws (unused under enumeration).
    alpha : float
        1 - confidence level of the interval.
    null_value : float
        Effect under the sharp null tested.
    confint : bool
        Compute the test-inversion interval.

    Returns
    -------
    RandomizationResult

    Raises
    ------
    ValueError
        Bad columns (see :func:`evaluation.inference.cluster_robust.panel_design`), treatment
        that is not absorbing, a missing strata column, or bad ``budget``/``alpha``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}.")
    if budget < 1:
        raise ValueError(f"budget must be a positive number of assignments, got {budget!r}.")
    design = panel_design(data, outcome, treatment, unit, time, cluster, weights, covariates)
    first, starts = _unit_cohorts(design)
    labels = np.searchsorted(starts, first) + 1
    labels[first < 0] = 0
    strata_codes = _strata_codes(data, unit, strata, design)
    engine = RIEngine(design, starts)

    total = count_assignments(labels, strata_codes)
    enumerated = total <= budget
    if enumerated:
        assignments = enumerate_assignments(labels, strata_codes)
    else:
        assignments = draw_assignments(labels, strata_codes, budget, np.random.default_rng(seed))
    reference = engine.moments(assignments)
    observed = engine.moments(labels[None, :])

    def p_at(tau0: float) -> float:
        t_obs = float(engine.t_stats(observed, tau0)[0])
        return ri_p_value(t_obs, engine.t_stats(reference, tau0), enumerated)

    estimate = observed[0, 0] / observed[0, 1]
    t_stat = float(engine.t_stats(observed, null_value)[0])
    p_value = p_at(null_value)
    low = high = math.nan
    if confint:
        se = abs(estimate / engine.t_stats(observed, 0.0)[0])
        low = _crossing(p_at, estimate, -se, alpha)
        high = _crossing(p_at, estimate, se, alpha)
    return RandomizationResult(
        estimate=float(estimate),
        t_stat=t_stat,
        p_value=float(p_value),
        conf_low=float(low),
        conf_high=float(high),
        n_assignments=int(len(assignments)),
        enumerated=bool(enumerated),
        strata=strata,
        n_treated_units=int(np.sum(labels > 0)),
        n_units=design.n_units,
        alpha=alpha,
        null_value=null_value,
    )


def _crossing(p_at, estimate: float, step: float, alpha: float) -> float:
    """Where ``p(tau0)`` falls below ``alpha`` moving away from the estimate by ``step``s.

    p is a step function; bisection returns the boundary to a relative 1e-7 of the step, on
    the side where the test does not reject (so the interval is conservative).
    """
    if not np.isfinite(step) or step == 0:
        return math.nan
    inner, outer = estimate, estimate + step
    scale = 1.0
    while p_at(outer) >= alpha:
        inner = outer
        scale *= 2
        if scale > 2**20:
            return math.copysign(math.inf, step)
        outer = estimate + scale * step
    tol = abs(step) * 1e-7
    while abs(outer - inner) > tol:
        mid = 0.5 * (inner + outer)
        if p_at(mid) >= alpha:
            inner = mid
        else:
            outer = mid
    return inner


# --------------------------------------------------------------------------- subgroups


#: Columns of :func:`group_randomization_inference`.
GROUP_COLUMNS = [
    "group",
    "n_treated_units",
    "n_units",
    "estimate",
    "t_stat",
    "ri_p_value",
    "ri_assignments",
    "ri_enumerated",
]


def group_randomization_inference(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    group: str,
    cluster: str | None = None,
    weights: str | None = None,
    budget: int = 9_999,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Randomisation test of each group's effect, re-assigning its pilots within the group.

    For every level of ``group`` holding treated units, the sample is that group's units plus
    every never-treated unit of the other groups; the test re-assigns which units *of that
    group* were treated (as many as there were, same start waves): how often would the group's
    own units, drawn at random, look as extreme (CRV1 ``|t|``) as its real pilots? It is the
    only test that keeps its size with 1-3 treated units in a group.

    Parameters
    ----------
    data : pandas.DataFrame
        Ballot- or cell-level panel.
    outcome, treatment, unit, time : str
        Columns; ``treatment`` is 0/1 and absorbing.
    group : str
        Column constant within units (commune type, district, a binned moderator).
    cluster, weights, budget, seed, alpha
        As in :func:`randomization_inference`.

    Returns
    -------
    pandas.DataFrame
        :data:`GROUP_COLUMNS`, one row per group with treated units (sorted by group).
    """
    for name, column in {"group": group, "unit": unit, "treatment": treatment}.items():
        if column not in data:
            raise ValueError(f"{name}={column!r} is not a column of the data.")
    frame = data.dropna(subset=[group])
    ever = frame.groupby(unit)[treatment].transform("max") > 0
    labels = frame[group].astype(str)
    rows = []
    for level in sorted(labels[ever].unique()):
        sample = frame[~ever | (labels == level)]
        result = randomization_inference(
            sample,
            outcome,
            treatment,
            unit=unit,
            time=time,
            cluster=cluster,
            strata=group,
            weights=weights,
            budget=budget,
            seed=seed,
            alpha=alpha,
            confint=False,
        )
        rows.append(
            {
                "group": str(level),
                "n_treated_units": result.n_treated_units,
                "n_units": int(sample.loc[labels == level, unit].nunique()),
                "estimate": result.estimate,
                "t_stat": result.t_stat,
                "ri_p_value": result.p_value,
                "ri_assignments": result.n_assignments,
                "ri_enumerated": result.enumerated,
            }
        )
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


# --------------------------------------------------------------------------- interactions


@dataclass(frozen=True)
class InteractionTest:
    """Test that the effect does not change with a unit moderator, and the size of its CRV1 test.

    Attributes
    ----------
    moderator : str
        The moderator column (constant within units).
    slope, t_stat : float
        Coefficient on ``treatment x moderator`` in the TWFE model with ``treatment`` and the
        interaction, and its CRV1 t statistic (statsmodels' small-sample factor: every unit and
        wave dummy counted in K, as :func:`evaluation.estimators.heterogeneity.effect_by_moderator`).
    df : int
        Degrees of freedom of the t reference (clusters - 1).
    p_value : float
        CRV1 p-value of the slope, t(G-1).
    ri_p_value : float
        Randomisation p-value of "the effect is the same in every treated unit": the average
        (TWFE) effect is removed from the treated cells and the treated units are re-assigned
        within strata ``n_sims`` times; ``(1 + #|t| >= |t_obs|) / (1 + n_sims)``.
    size_placebo, size_effect_removed : float
        Rejection rate of the CRV1 slope test at ``alpha`` under a true null: placebo treated
        units drawn among the untreated ones (same number per stratum), and the re-assignments
        of the RI test. NaN when a null cannot be built (no untreated units to draw).
    n_sims : int
        Simulated assignments per null design.
    alpha : float
        Level of the tests.
    """

    moderator: str
    slope: float
    t_stat: float
    df: int
    p_value: float
    ri_p_value: float
    size_placebo: float
    size_effect_removed: float
    n_sims: int
    alpha: float

    @property
    def worst_size(self) -> float:
        """The rejection rate farthest from ``alpha`` over the null designs (NaN if none)."""
        rates = [r for r in (self.size_placebo, self.size_effect_removed) if np.isfinite(r)]
        if not rates:
            return math.nan
        return max(rates, key=lambda r: abs(r - self.alpha))

    def size_ok(self, band: tuple[float, float]) -> bool:
        """Whether every measured rejection rate lies in ``band`` (False when none measured)."""
        rates = [r for r in (self.size_placebo, self.size_effect_removed) if np.isfinite(r)]
        return bool(rates) and all(band[0] <= r <= band[1] for r in rates)


class _SlopeEngine:
    """CRV1 t of the interaction slope for many assignments at once (Frisch-Waugh-Lovell).

    The wave dummies are partialled out once; each assignment needs its treatment and
    treatment x moderator columns demeaned within unit, two 2x2 normal equations and the
    cluster scores of the slope.
    """

    def __init__(self, design: PanelDesign, m_unit: np.ndarray, starts: np.ndarray) -> None:
        self.design = design
        self.starts = np.asarray(starts, dtype=np.int64)
        self.m_cell = np.asarray(m_unit, dtype=np.float64)[design.unit]
        zt = design.zt
        self._q_inv = np.linalg.pinv(zt.T @ zt) if zt.shape[1] else np.zeros((0, 0))
        self.yres = self._residualise(design.yt)
        n_cells = design.n_cells
        self._to_cluster = sparse.csr_matrix(
            (np.ones(n_cells), (design.cluster, np.arange(n_cells))),
            shape=(design.n_clusters, n_cells),
        )
        # statsmodels' factor with every dummy in K: const + (units-1) + waves-1 + 2 terms
        g, n = design.n_clusters, design.n_obs
        k = design.n_units + design.z_raw.shape[1] + 2
        self.ssc = g / (g - 1) * (n - 1) / (n - k)
        self.df = g - 1

    def _residualise(self, x: np.ndarray) -> np.ndarray:
        zt = self.design.zt
        if not zt.shape[1]:
            return x
        return x - zt @ (self._q_inv @ (zt.T @ x))

    def _columns(self, assignments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        design = self.design
        label = assignments[:, design.unit].T  # (cells, R)
        start = np.where(label > 0, self.starts[np.maximum(label - 1, 0)], np.iinfo(np.int64).max)
        d = (design.time[:, None] >= start).astype(np.float64)
        x1 = self._residualise(design.sw[:, None] * design.within(d))
        x2 = self._residualise(design.sw[:, None] * design.within(d * self.m_cell[:, None]))
        return x1, x2

    def slopes(
        self, assignments: np.ndarray, y: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Slope, its CRV1 t and the average-effect coefficient (treatment alone) per assignment.

        ``y`` (cell level) replaces the design's outcome.
        """
        yres = self.yres if y is None else self._residualise(self.design.sw * self.design.within(y))
        assignments = np.asarray(assignments, dtype=np.int64)
        out = np.empty((assignments.shape[0], 3))
        for start in range(0, assignments.shape[0], 256):
            x1, x2 = self._columns(assignments[start : start + 256])
            a11 = np.einsum("cr,cr->r", x1, x1)
            a12 = np.einsum("cr,cr->r", x1, x2)
            a22 = np.einsum("cr,cr->r", x2, x2)
            b1, b2 = yres @ x1, yres @ x2
            with np.errstate(divide="ignore", invalid="ignore"):
                det = a11 * a22 - a12**2
                beta1 = (a22 * b1 - a12 * b2) / det
                beta2 = (a11 * b2 - a12 * b1) / det
                resid = yres[:, None] - x1 * beta1 - x2 * beta2
                contrast = (a11 * x2 - a12 * x1) / det
                scores = np.asarray(self._to_cluster @ (contrast * resid))
                se = np.sqrt(self.ssc * np.sum(scores**2, axis=0))
                t_stat = beta2 / se
                average = b1 / a11
            singular = ~(np.abs(det) > 1e-10 * np.maximum(a11 * a22, 1e-300))
            t_stat[singular] = np.nan
            beta2[singular] = np.nan
            out[start : start + 256] = np.column_stack([beta2, t_stat, average])
        return out[:, 0], out[:, 1], out[:, 2]


def _unit_values(frame: pd.DataFrame, unit: str, column: str, design: PanelDesign) -> np.ndarray:
    values = frame.groupby(unit)[column].first()
    return values.loc[design.unit_values].to_numpy(dtype=np.float64)


def interaction_randomization(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    moderator: str,
    cluster: str | None = None,
    strata: str | None = None,
    weights: str | None = None,
    n_sims: int = 500,
    seed: int = 0,
    alpha: float = 0.05,
) -> InteractionTest:
    """Does the effect change with a unit moderator? CRV1 slope test, its size on this design,
    and a randomisation p-value.

    The model is the TWFE DiD with ``treatment`` and ``treatment x moderator`` (unit and time
    fixed effects; a moderator constant within units needs no main effect). Two null designs
    measure how often the CRV1 t(G-1) test of the slope rejects at ``alpha`` when nothing
    varies: ``placebo`` (the real treated units removed, placebo ones drawn among the others,
    same number per stratum and start wave) and ``effect_removed`` (the average effect
    subtracted from the treated cells, treated units re-assigned within strata). The second
    design's draws also give the randomisation p-value of the observed slope.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit-period (or per ballot: cells are collapsed exactly).
    outcome, treatment, unit, time : str
        Columns; ``treatment`` 0/1 and absorbing.
    moderator : str
        Numeric column constant within units.
    cluster : str, optional
        Cluster column (default ``unit``).
    strata : str, optional
        Column whose levels keep their number of treated units in every draw.
    weights : str, optional
        Positive weights.
    n_sims : int
        Draws per null design.
    seed : int
        Seed of the draws.
    alpha : float
        Level of the tests.

    Returns
    -------
    InteractionTest

    Raises
    ------
    ValueError
        Missing columns, a moderator that varies within a unit, or that takes one value over
        the treated units (the slope is not identified).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}.")
    if n_sims < 1:
        raise ValueError(f"n_sims must be a positive number of draws, got {n_sims!r}.")
    for name, column in {"moderator": moderator, "unit": unit}.items():
        if column not in data:
            raise ValueError(f"{name}={column!r} is not a column of the data.")
    used = [c for c in (outcome, treatment, unit, time, moderator, cluster, weights, strata) if c]
    frame = data[list(dict.fromkeys(used))].dropna().copy()
    if (frame.groupby(unit)[moderator].nunique() > 1).any():
        raise ValueError(f"moderator={moderator!r} must be constant within each {unit!r}.")
    design = panel_design(frame, outcome, treatment, unit, time, cluster, weights)
    first, starts = _unit_cohorts(design)
    labels = np.where(first >= 0, np.searchsorted(starts, first) + 1, 0)
    m_unit = _unit_values(frame, unit, moderator, design)
    if np.unique(m_unit[labels > 0]).size < 2:
        raise ValueError(
            f"moderator={moderator!r} takes one value over the treated units: the slope is not "
            "identified."
        )
    strata_codes = _strata_codes(frame, unit, strata, design)
    engine = _SlopeEngine(design, m_unit, starts)
    slope, t_obs, average = (v[0] for v in engine.slopes(labels[None, :]))
    rng_placebo, rng_removed = np.random.default_rng(seed).spawn(2)

    def rate(t_values: np.ndarray, df: int) -> float:
        ok = np.isfinite(t_values)
        if not ok.any():
            return math.nan
        return float(np.mean(2 * stats.t.sf(np.abs(t_values[ok]), df) <= alpha))

    # effect removed: the average effect taken out of the treated cells, units re-assigned
    draws = draw_assignments(labels, strata_codes, n_sims, rng_removed)
    _, t_removed, _ = engine.slopes(draws, design.y - average * design.d)
    finite = t_removed[np.isfinite(t_removed)]
    ri_p = (1 + int(np.sum(np.abs(finite) >= abs(t_obs) * (1 - _TIE_TOLERANCE)))) / (
        1 + len(finite)
    )
    size_removed = rate(t_removed, engine.df)
    size_placebo = _placebo_slope_size(
        frame,
        design,
        labels,
        strata_codes,
        starts,
        m_unit,
        moderator,
        rate,
        n_sims,
        rng_placebo,
        (outcome, unit, time, cluster, weights),
    )
    return InteractionTest(
        moderator=moderator,
        slope=float(slope),
        t_stat=float(t_obs),
        df=int(engine.df),
        p_value=float(2 * stats.t.sf(abs(t_obs), engine.df)),
        ri_p_value=float(ri_p),
        size_placebo=size_placebo,
        size_effect_removed=size_removed,
        n_sims=int(n_sims),
        alpha=float(alpha),
    )


def _placebo_slope_size(
    frame, design, labels, strata_codes, starts, m_unit, moderator, rate, n_sims, rng, columns
) -> float:
    """Rejection rate of the CRV1 slope test with placebo treated units among the others."""
    outcome, unit, time, cluster, weights = columns
    keep = labels == 0
    placebo = np.zeros(int(keep.sum()), dtype=np.int64)
    kept_strata = strata_codes[keep]
    for s in np.unique(strata_codes):
        wanted = labels[(strata_codes == s) & (labels > 0)]
        slots = np.flatnonzero(kept_strata == s)
        placebo[slots[: min(len(wanted), len(slots))]] = wanted[: len(slots)]
    if int((placebo > 0).sum()) < 2 or np.unique(m_unit[keep]).size < 2:
        return math.nan
    values = design.unit_values[keep]
    subset = frame[frame[unit].isin(values)].copy()
    draws = draw_assignments(placebo, kept_strata, n_sims, rng)
    start_values = design.time_values[starts]
    # a first draw as the design's treatment (its rank check needs a varying treatment)
    lookup = pd.Series(draws[0], index=values)
    label = subset[unit].map(lookup).to_numpy()
    start_of = np.where(label > 0, start_values[np.maximum(label - 1, 0)], None)
    subset["_placebo_"] = [
        int(s is not None and tv >= s) for tv, s in zip(subset[time], start_of, strict=True)
    ]
    try:
        sub = panel_design(subset, outcome, "_placebo_", unit, time, cluster, weights)
    except ValueError:
        return math.nan
    # units of the subset design are the kept units in the same (sorted) order
    order = pd.Index(values).get_indexer(sub.unit_values)
    engine = _SlopeEngine(sub, m_unit[keep][order], np.searchsorted(sub.time_values, start_values))
    _, t_values, _ = engine.slopes(draws[:, order])
    return rate(t_values, engine.df)
