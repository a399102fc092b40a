"""Ferman-Pinto permutation test for a commune-level DiD with unequal numbers of ballots.

Ferman & Pinto (2019, *Review of Economics and Statistics*, "Inference in
differences-in-differences with few treated groups and heteroskedasticity") show that a
permutation (or Conley-Taber) test of a DiD with few treated groups over-rejects when the
treated groups are small and under-rejects when they are large: a commune's post-minus-pre
change of a mean of ``M`` ballots has variance ``A + B / M`` (a commune-wave shock plus the
sampling noise of its ballots), so re-assigning the treatment to other communes compares the
real statistic with statistics of a different variance. Their correction models that variance
by the number of observations per group, rescales every commune's residual to the variance it
would have at the size of the commune it is permuted onto, and runs the permutation test on the
rescaled residuals.

Here, with the pilots' start waves ``k`` (one column per start wave):

1. ``W[j, k]``: commune ``j``'s weighted mean outcome from wave ``k`` on minus before it (cell
   weights as in the regression), and ``h[j, k] = 1 / M_pre + 1 / M_post`` with ``M`` the
   ballots behind those means (the sampling variance of the change is proportional to ``h``).
2. The estimate: per start wave, the pilots' mean change minus the never-treated communes' mean
   change, averaged over start waves by their number of pilots (a commune-level DiD).
3. Under the sharp null ``effect = tau0`` (the outcome becomes ``y - tau0 D``) the residuals are
   ``e = W - mean of the controls' W``; ``E[e^2 | h] = A + B h`` is fitted on the controls
   (non-negative least squares: both are variances), giving ``v[j, k]``.
4. A permutation ``sigma`` of communes within strata (district) gives the reference statistic
   ``sum_j,k a[j, k] sqrt(v[j, k]) e[sigma(j), k] / sqrt(v[sigma(j), k])``, with ``a`` the DiD
   contrast of the real assignment. The p-value is the share of ``|reference| >=
   |observed|`` (observed included, as randomisation inference).

When every commune has the same number of ballots ``v`` is constant and the reference
statistics are those of the plain permutation test of the same DiD (the permuted commune takes
the pilot's place): the correction changes nothing. The interval inverts the test in ``tau0``
(bisection from the estimate, the same permutations for every ``tau0``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from evaluation.inference.cluster_robust import PanelDesign, panel_design
from evaluation.inference.randomization import (
    _strata_codes,
    _unit_cohorts,
    ri_p_value,
)

__all__ = [
    "FERMAN_PINTO_LABEL",
    "FermanPintoResult",
    "cell_ballots",
    "commune_changes",
    "draw_permutations",
    "ferman_pinto",
    "fp_p_value",
    "fp_reference",
    "variance_model",
]

FERMAN_PINTO_LABEL = (
    "Ferman-Pinto permutation test: commune-level DiD, residuals rescaled by ballots per commune"
)

#: Fitted variances below this share of the controls' mean squared residual are raised to it.
_VARIANCE_FLOOR = 1e-6


@dataclass(frozen=True)
class FermanPintoResult:
    """Ferman-Pinto test and test-inversion interval of the commune-level DiD.

    Attributes
    ----------
    estimate : float
        Commune-level DiD (pilots' mean change minus controls' mean change, start waves
        weighted by their number of pilots).
    p_value : float
        Two-sided permutation p-value of the sharp null ``effect = null_value``.
    conf_low, conf_high : float
        Test-inversion interval (NaN when not requested; +-inf when it does not close).
    n_permutations : int
        Random permutations compared (the observed assignment is added).
    n_treated_units, n_units : int
        Pilot communes and communes with a change in every start-wave column.
    variance_intercept, variance_slope : float
        ``A`` and ``B`` of ``E[e^2] = A + B h`` for the first start wave under the null.
    alpha, null_value : float
    """

    estimate: float
    p_value: float
    conf_low: float
    conf_high: float
    n_permutations: int
    n_treated_units: int
    n_units: int
    variance_intercept: float
    variance_slope: float
    alpha: float = 0.05
    null_value: float = 0.0


# --------------------------------------------------------------------------- building blocks


def cell_ballots(
    data: pd.DataFrame,
    design: PanelDesign,
    unit: str,
    time: str,
    ballots: str | None,
    used: Sequence[str] = (),
) -> np.ndarray:
    """Ballots behind each cell of ``design``: the sum of ``ballots`` (cell-level data) or the
    number of rows (ballot-level data, ``ballots=None``), over rows complete in ``used``."""
    columns = [c for c in dict.fromkeys([*used, unit, time, *([ballots] if ballots else [])]) if c]
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not found in the data.")
    rows = data[columns].dropna()
    grouped = rows.groupby([unit, time], sort=False)
    counts = grouped[ballots].sum() if ballots else grouped.size()
    keys = pd.MultiIndex.from_arrays(
        [design.unit_values[design.unit], design.time_values[design.time]]
    )
    out = counts.reindex(keys).to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(out) & (out > 0)):
        raise ValueError(
            f"the number of ballots per cell ({ballots or 'rows'}) must be positive in every cell."
        )
    return out


def commune_changes(
    design: PanelDesign, y: np.ndarray, ballots: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each commune's change from before to after every start wave, and its ``h``.

    Parameters
    ----------
    design : PanelDesign
        Cell-level design (its units, waves and cell weights).
    y : numpy.ndarray
        Cell-level values to difference (the outcome, or the treatment for the interval).
    ballots : numpy.ndarray
        Ballots behind each cell.
    starts : numpy.ndarray
        Time codes of the start waves.

    Returns
    -------
    changes, h : numpy.ndarray
        ``n_units x len(starts)``: weighted mean from the start wave on minus before it, and
        ``1 / ballots before + 1 / ballots after``.
    complete : numpy.ndarray
        Units with cells on both sides of every start wave.
    """
    n, k = design.n_units, len(starts)
    changes, h = np.full((n, k), np.nan), np.full((n, k), np.nan)
    for c, start in enumerate(starts):
        post = (design.time >= start).astype(int)
        sums, wsum, msum = np.zeros((2, n)), np.zeros((2, n)), np.zeros((2, n))
        np.add.at(sums, (post, design.unit), design.w * y)
        np.add.at(wsum, (post, design.unit), design.w)
        np.add.at(msum, (post, design.unit), ballots)
        ok = (wsum > 0).all(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            means = sums / wsum
            changes[ok, c] = (means[1] - means[0])[ok]
            h[ok, c] = (1 / msum[0] + 1 / msum[1])[ok]
    complete = np.isfinite(changes).all(axis=1)
    return changes, h, complete


def draw_permutations(strata: np.ndarray, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """``n_draws`` permutations of the units within strata (``sigma[b, j]``: the unit whose
    residual unit ``j`` receives)."""
    n = len(strata)
    out = np.tile(np.arange(n), (n_draws, 1))
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        out[:, idx] = rng.permuted(np.tile(idx, (n_draws, 1)), axis=1)
    return out


def _contrast(labels: np.ndarray, n_columns: int) -> np.ndarray:
    """DiD weights ``a[j, k]``: +1/N1 for a pilot of start wave ``k``, minus its start wave's
    share of pilots spread over the never-treated units, 0 elsewhere."""
    n_treated = int(np.sum(labels > 0))
    controls = labels == 0
    a = np.zeros((len(labels), n_columns))
    for k in range(n_columns):
        in_k = labels == k + 1
        if in_k.any():
            a[in_k, k] = 1 / n_treated
            a[controls, k] = -in_k.sum() / n_treated / controls.sum()
    return a


def variance_model(residuals: np.ndarray, h: np.ndarray) -> tuple[float, float]:
    """Non-negative least squares of ``residuals ** 2`` on ``(1, h)``: ``(A, B)``.

    With no variation in ``h`` the slope is not identified; the intercept then carries the
    mean squared residual (``B = 0``).
    """
    e2 = residuals**2
    if np.ptp(h) <= 1e-12 * max(abs(float(np.mean(h))), 1e-300):
        return float(np.mean(e2)), 0.0
    coef, _ = optimize.nnls(np.column_stack([np.ones_like(h), h]), e2)
    return float(coef[0]), float(coef[1])


def _scaled_residuals(
    changes: np.ndarray, h: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Residuals ``e`` and fitted standard deviations ``sqrt(v)`` per start-wave column."""
    controls = labels == 0
    e = changes - changes[controls].mean(axis=0)
    sd = np.ones_like(changes)
    first = (math.nan, math.nan)
    for k in range(changes.shape[1]):
        if not (labels == k + 1).any():
            continue
        a_k, b_k = variance_model(e[controls, k], h[controls, k])
        if math.isnan(first[0]):
            first = (a_k, b_k)
        v = a_k + b_k * h[:, k]
        floor = _VARIANCE_FLOOR * max(float(np.mean(e[controls, k] ** 2)), 1e-300)
        sd[:, k] = np.sqrt(np.maximum(v, floor))
    return e, sd, first


def fp_reference(
    changes: np.ndarray,
    h: np.ndarray,
    labels: np.ndarray,
    permutations: np.ndarray,
    rescale: bool = True,
) -> tuple[float, np.ndarray, tuple[float, float]]:
    """Observed commune-level DiD and its permutation reference statistics.

    Parameters
    ----------
    changes, h : numpy.ndarray
        ``n x K`` from :func:`commune_changes` (complete units only).
    labels : numpy.ndarray
        Start-wave label of each unit (0 never, ``k`` the ``k``-th start wave).
    permutations : numpy.ndarray
        ``B x n`` permutations (:func:`draw_permutations`).
    rescale : bool
        False gives the plain permutation test (no heteroskedasticity correction).

    Returns
    -------
    observed : float
    reference : numpy.ndarray
        ``B`` statistics.
    variance : tuple of float
        ``(A, B)`` of the first start wave's variance model.
    """
    a = _contrast(labels, changes.shape[1])
    observed = float(np.sum(a * changes))
    e, sd, first = _scaled_residuals(changes, h, labels)
    if not rescale:
        sd = np.ones_like(sd)
    z = e / sd
    reference = np.einsum("jk,bjk->b", a * sd, z[permutations])
    return observed, reference, first


def fp_p_value(
    changes: np.ndarray,
    h: np.ndarray,
    labels: np.ndarray,
    permutations: np.ndarray,
    rescale: bool = True,
) -> float:
    """Two-sided Ferman-Pinto permutation p-value (``rescale=False``: plain permutation)."""
    observed, reference, _ = fp_reference(changes, h, labels, permutations, rescale)
    return ri_p_value(observed, reference, includes_observed=False)


# --------------------------------------------------------------------------- public API


def _bound(
    p_at: Callable[[float], float], estimate: float, scale: float, alpha: float, direction: int
) -> float:
    """Where ``p(tau0)`` falls to ``alpha`` on one side of the estimate (bisection)."""
    step = scale if scale > 0 else max(abs(estimate), 1.0)
    inside = estimate
    outside = estimate + direction * step
    for _ in range(60):
        if p_at(outside) <= alpha:
            break
        inside, step = outside, step * 2
        outside = estimate + direction * step
    else:
        return direction * math.inf
    for _ in range(60):
        middle = (inside + outside) / 2
        if p_at(middle) > alpha:
            inside = middle
        else:
            outside = middle
        if abs(outside - inside) <= 1e-10 * max(1.0, abs(estimate)):
            break
    return (inside + outside) / 2


def ferman_pinto(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    ballots: str | None = None,
    strata: str | None = "district",
    weights: str | None = None,
    n_permutations: int = 9_999,
    seed: int = 0,
    alpha: float = 0.05,
    null_value: float = 0.0,
    confint: bool = True,
) -> FermanPintoResult:
    """Ferman-Pinto test of the commune-level DiD with heteroskedasticity by ballots per commune.

    Parameters
    ----------
    data : pandas.DataFrame
        Ballot-level rows (``ballots=None``: one ballot a row) or commune-wave cells with a
        column counting their ballots.
    outcome, treatment, unit, time : str
        Columns; ``treatment`` 0/1 and absorbing (staggered starts allowed).
    ballots : str, optional
        Column of ballots behind each row.
    strata : str or None
        Column (district) within which communes are permuted.
    weights : str, optional
        Row weights of the commune means (as the regression's).
    n_permutations : int
        Random permutations.
    seed : int
        Seed of the permutations.
    alpha : float
        1 - confidence level of the interval.
    null_value : float
        Effect under the sharp null tested.
    confint : bool
        Compute the test-inversion interval.

    Returns
    -------
    FermanPintoResult

    Raises
    ------
    ValueError
        Bad columns, non-absorbing treatment, fewer than two control communes with data on
        both sides of every start wave, no pilot commune with such data, or bad settings.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}.")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be positive, got {n_permutations!r}.")
    design = panel_design(data, outcome, treatment, unit, time, None, weights, ())
    used = [outcome, treatment, *([weights] if weights else [])]
    m = cell_ballots(data, design, unit, time, ballots, used)
    first, starts = _unit_cohorts(design)
    labels_all = np.where(first >= 0, np.searchsorted(starts, first) + 1, 0)
    changes, h, complete = commune_changes(design, design.y, m, starts)
    d_changes, _, _ = commune_changes(design, design.d, m, starts)
    labels = labels_all[complete]
    if (labels == 0).sum() < 2 or (labels > 0).sum() < 1:
        raise ValueError(
            "the Ferman-Pinto test needs at least one pilot and two other communes observed "
            "before and after every start wave."
        )
    strata_codes = _strata_codes(data, unit, strata, design)[complete]
    changes, h, d_changes = changes[complete], h[complete], d_changes[complete]
    perms = draw_permutations(strata_codes, n_permutations, np.random.default_rng(seed))

    def p_at(tau0: float) -> float:
        return fp_p_value(changes - tau0 * d_changes, h, labels, perms)

    estimate, _, variance = fp_reference(changes, h, labels, perms[:1])
    conf_low = conf_high = math.nan
    if confint:
        _, sd, _ = _scaled_residuals(changes, h, labels)
        scale = float(np.sqrt(np.sum((_contrast(labels, changes.shape[1]) * sd) ** 2)))
        conf_low = _bound(p_at, estimate, scale, alpha, -1)
        conf_high = _bound(p_at, estimate, scale, alpha, +1)
    return FermanPintoResult(
        estimate=estimate,
        p_value=p_at(null_value),
        conf_low=conf_low,
        conf_high=conf_high,
        n_permutations=int(n_permutations),
        n_treated_units=int((labels > 0).sum()),
        n_units=int(len(labels)),
        variance_intercept=variance[0],
        variance_slope=variance[1],
        alpha=alpha,
        null_value=null_value,
    )
