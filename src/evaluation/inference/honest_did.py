"""Sensitivity of event-study effects to violations of parallel trends (Rambachan & Roth 2023).

Given event-study coefficients ``betahat`` (``num_pre`` pre-period coefficients, the reference
period omitted, then ``num_post`` post-period coefficients) and their covariance ``sigma``, the
target is ``theta = l_vec' tau_post``. The difference in trends ``delta`` is restricted to

* ``Delta^RM(Mbar)`` (relative magnitudes): every post-period first difference of ``delta`` is at
  most ``Mbar`` times the largest pre-period first difference (reference period normalised to 0).
  Confidence sets use the conditional-least-favourable hybrid test of Andrews, Roth & Pakes (ARP)
  that the paper and the R package HonestDiD use by default (``method="C-LF"``, first-stage size
  ``kappa = alpha / 10``), or the pure conditional ARP test (``method="Conditional"``).
  ``Delta^RM`` is a union of polyhedra (which pre-period difference is largest, and its sign); the
  confidence set is the union of the per-polyhedron sets, as in the paper (Section 5.3).
* ``Delta^SD(M)`` (smoothness): second differences of ``delta`` are at most ``M`` in absolute
  value. Confidence intervals are the optimal fixed-length confidence intervals (FLCI) of the
  paper's Section 5.1 / Armstrong & Kolesár: an affine estimator ``v' betahat`` plus or minus
  ``sd * cv_alpha(max_bias / sd)``, minimised over ``v``.

Implementation notes (why this is not a line-by-line port of HonestDiD):

* The ARP linear program ``min eta s.t. y - X d <= eta * sd`` is solved through its dual, whose
  feasible set ``{g >= 0, X' g = 0, sd' g = 1}`` does not depend on the data. Its vertices are
  enumerated once per polyhedron, so the statistic, the truncation points ``v_lo, v_up`` of the
  conditional test and the least-favourable simulations are exact matrix products (HonestDiD
  solves one LP per draw and bisects for ``v_lo, v_up``). When there are too many candidate
  vertices the code falls back to one HiGHS LP per evaluation.
* The least-favourable critical value is simulated (1,000 draws, ``seed``) with NumPy, so it
  differs from R's draws at the third decimal; confidence sets are found on a grid and the end
  points refined by bisection, where HonestDiD reports the extreme accepted points of a
  1,000-point grid on ``[-20 sd, 20 sd]``.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

RMMethod = Literal["C-LF", "Conditional"]

#: Above this number of candidate bases the dual vertices are not enumerated (LP fallback).
_MAX_VERTEX_SUBSETS = 50_000


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventStudyCoefficients:
    """Validated event-study input: ``num_pre`` pre then ``num_post`` post coefficients.

    Parameters
    ----------
    betahat : numpy.ndarray
        Coefficients, pre-periods first (earliest first), reference period omitted.
    sigma : numpy.ndarray
        Their covariance matrix.
    num_pre, num_post : int
        Numbers of pre- and post-period coefficients.
    l_vec : numpy.ndarray
        Weights defining ``theta = l_vec' tau_post`` (default: first post period).
    """

    betahat: np.ndarray
    sigma: np.ndarray
    num_pre: int
    num_post: int
    l_vec: np.ndarray

    @classmethod
    def build(
        cls,
        betahat: Sequence[float] | np.ndarray,
        sigma: np.ndarray,
        num_pre: int,
        num_post: int,
        l_vec: Sequence[float] | np.ndarray | None = None,
    ) -> EventStudyCoefficients:
        beta = np.asarray(betahat, float).ravel()
        sig = np.asarray(sigma, float)
        if num_pre < 1 or num_post < 1:
            raise ValueError(
                f"num_pre and num_post must be >= 1, got {num_pre} and {num_post}; "
                "pass the number of pre- and post-period event-study coefficients."
            )
        if beta.size != num_pre + num_post:
            raise ValueError(
                f"betahat has {beta.size} entries but num_pre + num_post = {num_pre + num_post}; "
                "drop the reference period and any non-event-time coefficients."
            )
        if sig.shape != (beta.size, beta.size):
            raise ValueError(
                f"sigma must be {beta.size}x{beta.size} to match betahat, got {sig.shape}."
            )
        if not np.allclose(sig, sig.T, atol=1e-12 * max(1.0, np.abs(sig).max())):
            raise ValueError("sigma must be symmetric (a covariance matrix).")
        if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(sig))):
            raise ValueError("betahat and sigma must be finite (no NaN).")
        lv = np.zeros(num_post) if l_vec is None else np.asarray(l_vec, float).ravel()
        if l_vec is None:
            lv[0] = 1.0
        if lv.size != num_post:
            raise ValueError(f"l_vec must have num_post = {num_post} entries, got {lv.size}.")
        if not np.any(lv != 0):
            raise ValueError("l_vec must have at least one non-zero weight.")
        return cls(beta, sig, int(num_pre), int(num_post), lv)

    @property
    def theta_hat(self) -> float:
        """The plug-in estimate ``l_vec' betahat_post``."""
        return float(self.l_vec @ self.betahat[self.num_pre :])

    @property
    def theta_se(self) -> float:
        post = slice(self.num_pre, self.num_pre + self.num_post)
        return float(np.sqrt(self.l_vec @ self.sigma[post, post] @ self.l_vec))


@dataclass(frozen=True)
class HonestInterval:
    """A robust confidence interval for ``theta`` under one restriction and one bound.

    Attributes
    ----------
    restriction : str
        ``"relative_magnitudes"`` or ``"smoothness"`` (or ``"none"`` for the original CI).
    method : str
        ``"C-LF"``, ``"Conditional"``, ``"FLCI"`` or ``"original"``.
    m : float
        The bound (``Mbar`` for relative magnitudes, ``M`` for smoothness).
    conf_low, conf_high : float
        Confidence interval (NaN if the confidence set is empty).
    id_low, id_high : float
        Identified set for ``theta`` at the point estimates.
    """

    restriction: str
    method: str
    m: float
    conf_low: float
    conf_high: float
    id_low: float
    id_high: float
    alpha: float

    @property
    def includes_zero(self) -> bool:
        return bool(self.conf_low <= 0.0 <= self.conf_high)


def original_ci(
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    num_pre: int,
    num_post: int,
    l_vec: Sequence[float] | np.ndarray | None = None,
    alpha: float = 0.05,
) -> HonestInterval:
    """The usual Wald interval for ``theta`` under exact parallel trends."""
    es = EventStudyCoefficients.build(betahat, sigma, num_pre, num_post, l_vec)
    z = stats.norm.ppf(1 - alpha / 2)
    th = es.theta_hat
    return HonestInterval(
        "none", "original", 0.0, th - z * es.theta_se, th + z * es.theta_se, th, th, alpha
    )


# --------------------------------------------------------------------------------------------
# Restriction matrices
# --------------------------------------------------------------------------------------------


def _rm_constraints(num_pre: int, num_post: int, mbar: float, s: int, positive: bool) -> np.ndarray:
    """``A`` with ``A delta <= 0`` iff ``delta`` in ``Delta^RM_{s,sign}(Mbar)``.

    Columns are the pre- then post-period deltas (the reference period, fixed at 0, dropped).
    ``s`` in ``-(num_pre-1)..0`` picks the pre-period first difference that is the largest.
    """
    n = num_pre + num_post
    first_diff = np.zeros((n, n + 1))
    for r in range(n):
        first_diff[r, r : r + 2] = (-1.0, 1.0)
    v_max = np.zeros(n + 1)
    v_max[num_pre + s - 1 : num_pre + s + 1] = (-1.0, 1.0)
    if not positive:
        v_max = -v_max
    bound = np.vstack([np.tile(v_max, (num_pre, 1)), np.tile(mbar * v_max, (num_post, 1))])
    a = np.vstack([first_diff - bound, -first_diff - bound])
    a = a[np.einsum("ij,ij->i", a, a) > 1e-10]
    return np.delete(a, num_pre, axis=1)


def _sd_second_differences(num_pre: int, num_post: int) -> np.ndarray:
    """Second differences of ``delta`` (reference period = 0 included, then dropped)."""
    n = num_pre + num_post
    a = np.zeros((n - 1, n + 1))
    for r in range(n - 1):
        a[r, r : r + 3] = (1.0, -2.0, 1.0)
    return np.delete(a, num_pre, axis=1)


def _lp_bounds_theta(
    es: EventStudyCoefficients, a: np.ndarray, d: np.ndarray
) -> tuple[float, float] | None:
    """Identified set of ``theta`` when ``delta_pre = beta_pre`` and ``a delta <= d``."""
    n = es.num_pre + es.num_post
    obj = np.concatenate([np.zeros(es.num_pre), es.l_vec])
    a_eq = np.hstack([np.eye(es.num_pre), np.zeros((es.num_pre, es.num_post))])
    b_eq = es.betahat[: es.num_pre]
    extremes = []
    for sign in (1.0, -1.0):  # min then max of l' delta_post
        res = optimize.linprog(
            sign * obj, A_ub=a, b_ub=d, A_eq=a_eq, b_eq=b_eq, bounds=[(None, None)] * n,
            method="highs",
        )  # fmt: skip
        if res.status == 3:  # unbounded
            extremes.append(-sign * math.inf)
        elif res.status != 0:
            return None
        else:
            extremes.append(sign * res.fun)
    min_bias, max_bias = extremes
    return es.theta_hat - max_bias, es.theta_hat - min_bias


def identified_set_rm(
    betahat: Sequence[float] | np.ndarray,
    num_pre: int,
    num_post: int,
    mbar: float,
    l_vec: Sequence[float] | np.ndarray | None = None,
) -> tuple[float, float]:
    """Identified set for ``theta`` under ``Delta^RM(Mbar)`` treating ``betahat`` as known.

    The union over which pre-period first difference is largest (and its sign) of the linear
    programmes ``min/max l' delta_post`` subject to ``delta_pre = beta_pre``.
    """
    n = num_pre + num_post
    es = EventStudyCoefficients.build(betahat, np.eye(n), num_pre, num_post, l_vec)
    lows, highs = [], []
    for s in range(-(num_pre - 1), 1):
        for positive in (True, False):
            a = _rm_constraints(num_pre, num_post, mbar, s, positive)
            bounds = _lp_bounds_theta(es, a, np.zeros(a.shape[0]))
            if bounds is not None:
                lows.append(bounds[0])
                highs.append(bounds[1])
    if not lows:
        return math.nan, math.nan
    return float(min(lows)), float(max(highs))


def identified_set_sd(
    betahat: Sequence[float] | np.ndarray,
    num_pre: int,
    num_post: int,
    m: float,
    l_vec: Sequence[float] | np.ndarray | None = None,
) -> tuple[float, float]:
    """Identified set for ``theta`` under ``Delta^SD(M)`` treating ``betahat`` as known."""
    n = num_pre + num_post
    es = EventStudyCoefficients.build(betahat, np.eye(n), num_pre, num_post, l_vec)
    sd = _sd_second_differences(num_pre, num_post)
    a = np.vstack([sd, -sd])
    bounds = _lp_bounds_theta(es, a, np.full(a.shape[0], float(m)))
    if bounds is None:  # pre-period coefficients violate Delta^SD(M) outright
        return math.nan, math.nan
    return float(bounds[0]), float(bounds[1])


# --------------------------------------------------------------------------------------------
# ARP conditional / hybrid test with nuisance parameters
# --------------------------------------------------------------------------------------------


def _gamma_inverse(l_vec: np.ndarray) -> np.ndarray:
    """Inverse of an invertible matrix whose first row is ``l_vec`` (rest: unit vectors)."""
    k = l_vec.size
    pivot = int(np.flatnonzero(l_vec)[0])
    rows = [l_vec] + [np.eye(k)[j] for j in range(k) if j != pivot]
    return np.linalg.inv(np.vstack(rows))


def _dual_vertices(x: np.ndarray, sd: np.ndarray) -> np.ndarray | None:
    """Vertices of ``{g >= 0, X' g = 0, sd' g = 1}`` (rows), or None if too many to enumerate."""
    m, k = x.shape
    if math.comb(m, k + 1) > _MAX_VERTEX_SUBSETS:
        return None
    found: list[np.ndarray] = []
    rhs = np.zeros(k + 1)
    rhs[-1] = 1.0
    for subset in itertools.combinations(range(m), k + 1):
        idx = list(subset)
        mat = np.vstack([x[idx].T, sd[idx][None, :]])
        if abs(np.linalg.det(mat)) < 1e-12 * max(1.0, np.abs(mat).max()) ** (k + 1):
            continue
        g = np.linalg.solve(mat, rhs)
        if np.all(g >= -1e-10):
            full = np.zeros(m)
            full[idx] = np.clip(g, 0.0, None)
            found.append(full)
    if not found:
        return np.zeros((0, m))
    verts = np.unique(np.round(np.vstack(found), 12), axis=0)
    return verts


def _lp_eta(y: np.ndarray, x: np.ndarray, sd: np.ndarray) -> tuple[float, np.ndarray] | None:
    """HiGHS solution of ``min eta s.t. y - X d <= eta sd``: (eta, dual vector) or None."""
    m, k = x.shape
    res = optimize.linprog(
        np.r_[1.0, np.zeros(k)], A_ub=-np.column_stack([sd, x]), b_ub=-y,
        bounds=[(None, None)] * (k + 1), method="highs",
    )  # fmt: skip
    if res.status != 0:
        return None
    return float(res.fun), -np.asarray(res.ineqlin.marginals, float)


@dataclass(frozen=True)
class _ArpProblem:
    """One polyhedron ``A delta <= 0`` reparametrised for testing ``theta = theta0``."""

    y: np.ndarray  # A betahat on the ARP rows
    a_one: np.ndarray  # coefficient of theta
    x: np.ndarray  # nuisance design
    sigma: np.ndarray  # covariance of y
    sd: np.ndarray
    vertices: np.ndarray | None
    lf_cv: float


def _arp_problem(
    es: EventStudyCoefficients, a: np.ndarray, kappa: float | None, n_sims: int, seed: int
) -> _ArpProblem:
    post_cols = slice(es.num_pre, es.num_pre + es.num_post)
    a_gamma = a[:, post_cols] @ _gamma_inverse(es.l_vec)
    rows = (
        np.flatnonzero(np.any(a[:, post_cols] != 0, axis=1))
        if es.num_post > 1
        else np.arange(a.shape[0])
    )  # post-period moments only, HonestDiD's default: pre-only rows carry no information on theta
    y = (a @ es.betahat)[rows]
    sig = (a @ es.sigma @ a.T)[np.ix_(rows, rows)]
    x = a_gamma[rows, 1:]
    sd = np.sqrt(np.diag(sig))
    verts = _dual_vertices(x, sd)
    lf_cv = math.inf
    if kappa is not None:
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(np.zeros(len(rows)), sig, size=n_sims, method="svd")
        if verts is not None:
            etas = (draws @ verts.T).max(axis=1) if verts.size else np.full(n_sims, -np.inf)
        else:
            etas = np.array([(_lp_eta(d, x, sd) or (np.nan, None))[0] for d in draws])
        lf_cv = float(np.nanquantile(etas, 1 - kappa))
    return _ArpProblem(y, a_gamma[rows, 0], x, sig, sd, verts, lf_cv)


def _truncnorm_quantile(p: float, low: float, high: float) -> float:
    return float(stats.truncnorm.ppf(p, low, high))


def _arp_reject(prob: _ArpProblem, theta: float, alpha: float, kappa: float | None) -> bool:
    """ARP conditional (``kappa=None``) or conditional-LF hybrid test of ``theta``."""
    y = prob.y - prob.a_one * theta
    if prob.vertices is not None:
        if prob.vertices.shape[0] == 0:  # primal unbounded below: nothing to reject
            return False
        vals = prob.vertices @ y
        j = int(np.argmax(vals))
        eta, gamma = float(vals[j]), prob.vertices[j]
    else:
        sol = _lp_eta(y, prob.x, prob.sd)
        if sol is None:
            return False
        eta, gamma = sol
    if kappa is not None:
        if eta > prob.lf_cv:
            return True
        size = (alpha - kappa) / (1 - kappa)
    else:
        size = alpha
    var_b = float(gamma @ prob.sigma @ gamma)
    if var_b < 1e-20:
        return eta > 0
    sigma_b = math.sqrt(var_b)
    # Condition on the optimal dual vertex staying optimal (ARP 2023, Section 5; dual form).
    b = prob.sigma @ gamma / var_b
    s = y - b * eta
    if prob.vertices is not None:
        num = prob.vertices @ s
        den = 1.0 - prob.vertices @ b
    else:
        num, den = _lp_truncation_terms(s, b, prob, eta)
    tol = 1e-10
    v_lo = float(np.max(num[den > tol] / den[den > tol])) if np.any(den > tol) else -math.inf
    v_up = float(np.min(num[den < -tol] / den[den < -tol])) if np.any(den < -tol) else math.inf
    v_lo = min(v_lo, eta)
    v_up = max(v_up, eta)
    if kappa is not None:
        v_up = min(v_up, prob.lf_cv)
    z_lo, z_up, stat = v_lo / sigma_b, v_up / sigma_b, eta / sigma_b
    if not (z_lo <= stat <= z_up):
        return False
    cval = max(0.0, _truncnorm_quantile(1 - size, z_lo, z_up))
    return stat > cval


def _lp_truncation_terms(
    s: np.ndarray, b: np.ndarray, prob: _ArpProblem, eta: float
) -> tuple[np.ndarray, np.ndarray]:
    """Truncation points when vertices are not enumerated: iterate LPs from both sides.

    ``f(c) = max_g g'(s + b c)`` is convex with ``f(c) >= c``; the vertex stays optimal while
    ``f(c) = c``. Starting outside, each step jumps to where the current maximiser's line meets
    the diagonal (a Newton step on a piecewise-linear convex function), as HonestDiD does.
    """
    m, k = prob.x.shape
    a_eq = np.vstack([prob.x.T, prob.sd[None, :]])
    b_eq = np.r_[np.zeros(k), 1.0]

    def argmax_vertex(c: float) -> np.ndarray:
        res = optimize.linprog(
            -(s + b * c), A_eq=a_eq, b_eq=b_eq, bounds=[(0, None)] * m, method="highs"
        )
        return np.asarray(res.x, float)

    nums, dens = [], []
    span = 20 * math.sqrt(max(float(b @ prob.sigma @ b), 1e-300)) + 100
    for start in (eta + span, eta - span):
        c = start
        for _ in range(50):
            g = argmax_vertex(c)
            val, slope = float(g @ s), float(g @ b)
            if abs(val + slope * c - c) <= 1e-9 * max(1.0, abs(c)):
                break
            nums.append(val)
            dens.append(1.0 - slope)
            if abs(1.0 - slope) < 1e-12:
                break
            c = val / (1.0 - slope)
    return np.asarray(nums, float), np.asarray(dens, float)


def _accept_region(
    accept: callable, lo: float, hi: float, grid_points: int, tol: float
) -> tuple[float, float, bool]:
    """Smallest and largest accepted theta on a grid, refined by bisection at each end."""
    grid = np.linspace(lo, hi, grid_points)
    acc = np.array([accept(t) for t in grid])
    if not acc.any():
        return math.nan, math.nan, False
    idx = np.flatnonzero(acc)
    first, last = int(idx[0]), int(idx[-1])
    open_end = first == 0 or last == grid_points - 1

    def bisect(inside: float, outside: float) -> float:
        while abs(outside - inside) > tol:
            mid = 0.5 * (inside + outside)
            if accept(mid):
                inside = mid
            else:
                outside = mid
        return inside

    low = bisect(grid[first], grid[first - 1]) if first > 0 else grid[0]
    high = bisect(grid[last], grid[last + 1]) if last < grid_points - 1 else grid[-1]
    return float(low), float(high), open_end


def rm_confidence_interval(
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    num_pre: int,
    num_post: int,
    mbar: float,
    l_vec: Sequence[float] | np.ndarray | None = None,
    alpha: float = 0.05,
    method: RMMethod = "C-LF",
    seed: int = 0,
    n_sims: int = 1000,
    grid_points: int = 200,
) -> HonestInterval:
    """Robust confidence interval for ``theta`` under ``Delta^RM(Mbar)``.

    Parameters
    ----------
    betahat, sigma, num_pre, num_post, l_vec
        Event-study input (see :class:`EventStudyCoefficients`).
    mbar : float
        Post-period first differences of the trend gap may be at most ``mbar`` times the largest
        pre-period first difference.
    alpha : float
        One minus the coverage.
    method : {"C-LF", "Conditional"}
        ARP conditional-least-favourable hybrid (HonestDiD's default, ``kappa = alpha/10``) or
        the pure conditional test.
    seed : int
        Seed of the least-favourable critical value simulation.
    n_sims : int
        Draws for the least-favourable critical value (HonestDiD: 1,000).
    grid_points : int
        Coarse grid before the end points are refined by bisection.

    Returns
    -------
    HonestInterval
    """
    if mbar < 0:
        raise ValueError(f"mbar must be >= 0, got {mbar}.")
    if method not in ("C-LF", "Conditional"):
        raise ValueError(f"method must be 'C-LF' or 'Conditional', got {method!r}.")
    es = EventStudyCoefficients.build(betahat, sigma, num_pre, num_post, l_vec)
    kappa = alpha / 10 if method == "C-LF" else None
    problems = [
        _arp_problem(es, _rm_constraints(num_pre, num_post, mbar, s, pos), kappa, n_sims, seed)
        for s in range(-(num_pre - 1), 1)
        for pos in (True, False)
    ]

    def accept(theta: float) -> bool:
        return any(not _arp_reject(p, theta, alpha, kappa) for p in problems)

    id_low, id_high = identified_set_rm(es.betahat, num_pre, num_post, mbar, es.l_vec)
    se = es.theta_se
    lo = min(id_low, es.theta_hat) - 20 * se
    hi = max(id_high, es.theta_hat) + 20 * se
    for _ in range(4):
        low, high, open_end = _accept_region(accept, lo, hi, grid_points, tol=1e-6 * se)
        if not open_end:
            break
        width = hi - lo
        lo, hi = lo - width, hi + width
    else:
        warnings.warn(
            "the Delta^RM confidence set reaches the edge of the search range; it may be unbounded",
            stacklevel=2,
        )
    return HonestInterval(
        "relative_magnitudes", method, float(mbar), low, high, id_low, id_high, alpha
    )


# --------------------------------------------------------------------------------------------
# Fixed-length confidence intervals for Delta^SD(M)
# --------------------------------------------------------------------------------------------


def _folded_normal_cv(bias: float, alpha: float) -> float:
    """The ``1 - alpha`` quantile of ``|N(bias, 1)|``."""
    b = abs(bias)
    if b < 1e-12:
        return float(stats.norm.ppf(1 - alpha / 2))

    def f(c: float) -> float:
        return stats.norm.cdf(c - b) - stats.norm.cdf(-c - b) - (1 - alpha)

    return float(optimize.brentq(f, 0.0, b + 10.0, xtol=1e-14))


@dataclass(frozen=True)
class FLCIResult:
    """Optimal fixed-length confidence interval under ``Delta^SD(M)``.

    Attributes
    ----------
    interval : HonestInterval
    estimate : float
        Centre ``optimal_vec' betahat``.
    half_length : float
    optimal_vec : numpy.ndarray
        Weights on all coefficients (pre then post; the post part equals ``l_vec``).
    max_bias, std_error : float
    """

    interval: HonestInterval
    estimate: float
    half_length: float
    optimal_vec: np.ndarray
    max_bias: float
    std_error: float


def sd_flci(
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    num_pre: int,
    num_post: int,
    m: float,
    l_vec: Sequence[float] | np.ndarray | None = None,
    alpha: float = 0.05,
    h_grid_points: int = 25,
) -> FLCIResult:
    """Optimal FLCI for ``theta`` under ``Delta^SD(M)``.

    The estimator is ``v' betahat`` with ``v = (w, l_vec)``. Its worst-case bias over
    ``Delta^SD(M)`` is finite only if ``v`` is orthogonal to linear trends through the reference
    period, and then equals ``M * ||(A A')^{-1} A v||_1`` (``A`` the second-difference matrix), so
    the search is over ``w`` in an affine subspace. For each standard-error level ``h`` the
    least-bias ``w`` solves a small convex problem (SLSQP); the half-length
    ``h * cv_alpha(bias / h)`` is then minimised over ``h`` (grid, then bounded Brent) — the same
    two-level search as HonestDiD's ``findOptimalFLCI``.
    """
    if m < 0:
        raise ValueError(f"m must be >= 0, got {m}.")
    es = EventStudyCoefficients.build(betahat, sigma, num_pre, num_post, l_vec)
    t_pre = np.arange(-num_pre, 0, dtype=float)
    t_post = np.arange(1, num_post + 1, dtype=float)
    a = _sd_second_differences(num_pre, num_post)
    h_mat = np.linalg.solve(a @ a.T, a)  # bias(v) = M * ||h_mat v||_1 when v is trend-orthogonal
    # w = w0 + z u spans {w : w't_pre = -l't_post}
    target = -float(es.l_vec @ t_post)
    w0 = t_pre * target / float(t_pre @ t_pre)
    z = np.linalg.svd(t_pre[None, :])[2][1:].T  # null space of t_pre', num_pre x (num_pre-1)
    scale = es.theta_se if es.theta_se > 0 else 1.0
    sig = es.sigma / scale**2  # work in units of the plug-in standard error
    m_scaled = m / scale

    def vec(u: np.ndarray) -> np.ndarray:
        return np.concatenate([w0 + z @ u, es.l_vec])

    def sd_of(u: np.ndarray) -> float:
        v = vec(u)
        return float(np.sqrt(v @ sig @ v))

    def bias_of(u: np.ndarray) -> float:
        return float(m_scaled * np.abs(h_mat @ vec(u)).sum())

    def half(u: np.ndarray) -> float:
        s = sd_of(u)
        return s * _folded_normal_cv(bias_of(u) / s, alpha)

    k = z.shape[1]
    if k == 0:
        best = np.zeros(0)
    else:
        # Minimum-variance weights (closed form) and minimum-bias weights (LP).
        v0 = np.concatenate([w0, es.l_vec])
        zf = np.vstack([z, np.zeros((num_post, k))])
        u_minvar = np.linalg.lstsq(zf.T @ sig @ zf, -(zf.T @ sig @ v0), rcond=None)[0]
        best = u_minvar
        if m > 0:
            hz, hv0 = h_mat @ zf, h_mat @ v0
            nrow = hz.shape[0]
            lp = optimize.linprog(
                np.r_[np.zeros(k), np.ones(nrow)],
                A_ub=np.block([[hz, -np.eye(nrow)], [-hz, -np.eye(nrow)]]),
                b_ub=np.r_[-hv0, hv0], bounds=[(None, None)] * k + [(0, None)] * nrow,
                method="highs",
            )  # fmt: skip
            u_minbias = lp.x[:k] if lp.status == 0 else u_minvar
            h_lo, h_hi = sd_of(u_minvar), sd_of(u_minbias)

            def least_bias(h: float, start: np.ndarray) -> np.ndarray:
                # variables (u, t): min sum t s.t. t >= +-(h_mat v), v' sig v <= h^2
                x0 = np.r_[start, np.abs(hz @ start + hv0) + 1e-9]
                cons = [
                    {"type": "ineq", "fun": lambda x: x[k:] - (hz @ x[:k] + hv0),
                     "jac": lambda x: np.hstack([-hz, np.eye(nrow)])},
                    {"type": "ineq", "fun": lambda x: x[k:] + (hz @ x[:k] + hv0),
                     "jac": lambda x: np.hstack([hz, np.eye(nrow)])},
                    {"type": "ineq", "fun": lambda x: h**2 - sd_of(x[:k]) ** 2,
                     "jac": lambda x: np.r_[-2 * zf.T @ sig @ vec(x[:k]), np.zeros(nrow)]},
                ]  # fmt: skip
                res = optimize.minimize(
                    lambda x: x[k:].sum(), x0, jac=lambda x: np.r_[np.zeros(k), np.ones(nrow)],
                    constraints=cons, method="SLSQP", options={"ftol": 1e-12, "maxiter": 500},
                )  # fmt: skip
                return res.x[:k]

            if h_hi > h_lo * (1 + 1e-9):
                hs = np.linspace(h_lo, h_hi, h_grid_points)
                sols = []
                start = u_minvar
                for h in hs:
                    start = least_bias(float(h), start)
                    sols.append(start)
                halves = [half(u) for u in sols]
                i = int(np.argmin(halves))
                cand = [(halves[i], sols[i]), (half(u_minbias), u_minbias)]
                lo_h, hi_h = hs[max(i - 1, 0)], hs[min(i + 1, len(hs) - 1)]
                if hi_h > lo_h:
                    seed_u = sols[i]
                    res = optimize.minimize_scalar(
                        lambda h: half(least_bias(h, seed_u)), bounds=(lo_h, hi_h),
                        method="bounded", options={"xatol": 1e-8 * h_hi},
                    )  # fmt: skip
                    u_ref = least_bias(float(res.x), seed_u)
                    cand.append((half(u_ref), u_ref))
                best = min(cand, key=lambda c: c[0])[1]
            else:
                best = u_minbias if half(u_minbias) < half(u_minvar) else u_minvar
    v = vec(best)
    std = sd_of(best) * scale
    bias = bias_of(best) * scale
    hl = half(best) * scale
    centre = float(v @ es.betahat)
    id_low, id_high = identified_set_sd(es.betahat, num_pre, num_post, m, es.l_vec)
    interval = HonestInterval(
        "smoothness", "FLCI", float(m), centre - hl, centre + hl, id_low, id_high, alpha
    )
    return FLCIResult(interval, centre, hl, v, bias, std)


# --------------------------------------------------------------------------------------------
# Sensitivity tables and breakdown values
# --------------------------------------------------------------------------------------------

SENSITIVITY_COLUMNS = [
    "restriction",
    "method",
    "m",
    "conf_low",
    "conf_high",
    "id_low",
    "id_high",
    "includes_zero",
    "alpha",
]


def _frame(intervals: Iterable[HonestInterval]) -> pd.DataFrame:
    rows = [
        {
            "restriction": i.restriction,
            "method": i.method,
            "m": i.m,
            "conf_low": i.conf_low,
            "conf_high": i.conf_high,
            "id_low": i.id_low,
            "id_high": i.id_high,
            "includes_zero": i.includes_zero,
            "alpha": i.alpha,
        }
        for i in intervals
    ]
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def sensitivity_rm(
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    num_pre: int,
    num_post: int,
    mbar_values: Sequence[float],
    l_vec: Sequence[float] | np.ndarray | None = None,
    alpha: float = 0.05,
    method: RMMethod = "C-LF",
    seed: int = 0,
    include_original: bool = True,
) -> pd.DataFrame:
    """Tidy sensitivity table under ``Delta^RM``: one row per ``Mbar`` (plus the original CI).

    Columns: :data:`SENSITIVITY_COLUMNS`; ``m`` holds ``Mbar``.
    """
    rows = [
        rm_confidence_interval(
            betahat, sigma, num_pre, num_post, mb, l_vec, alpha, method=method, seed=seed
        )
        for mb in mbar_values
    ]
    if include_original:
        rows.insert(0, original_ci(betahat, sigma, num_pre, num_post, l_vec, alpha))
    return _frame(rows)


def sensitivity_sd(
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    num_pre: int,
    num_post: int,
    m_values: Sequence[float],
    l_vec: Sequence[float] | np.ndarray | None = None,
    alpha: float = 0.05,
    include_original: bool = True,
) -> pd.DataFrame:
    """Tidy sensitivity table under ``Delta^SD`` (FLCI): one row per ``M`` (plus the original)."""
    rows = [sd_flci(betahat, sigma, num_pre, num_post, m, l_vec, alpha).interval for m in m_values]
    if include_original:
        rows.insert(0, original_ci(betahat, sigma, num_pre, num_post, l_vec, alpha))
    return _frame(rows)


def breakdown_value(
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    num_pre: int,
    num_post: int,
    restriction: Literal["relative_magnitudes", "smoothness"] = "relative_magnitudes",
    l_vec: Sequence[float] | np.ndarray | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    tol: float | None = None,
    upper: float | None = None,
) -> float:
    """Smallest ``Mbar`` (or ``M``) at which the robust confidence interval includes 0.

    Found by doubling then bisection, assuming the intervals widen with the bound (true for the
    FLCI; holds in practice for C-LF). Returns 0.0 when the original interval already includes 0
    and ``inf`` if no value up to ``upper`` makes the interval include 0.

    Parameters
    ----------
    tol : float, optional
        Precision of the returned value (default: 0.005 for Mbar, ``0.005 * se`` for M).
    upper : float, optional
        Largest bound tried (default: 100 for Mbar, ``100 * se`` for M).
    """
    es = EventStudyCoefficients.build(betahat, sigma, num_pre, num_post, l_vec)
    if restriction == "relative_magnitudes":

        def includes(mv: float) -> bool:
            return rm_confidence_interval(
                es.betahat, es.sigma, num_pre, num_post, mv, es.l_vec, alpha, seed=seed
            ).includes_zero

        step, tol = 0.5, tol or 0.005
        upper = upper or 100.0
    elif restriction == "smoothness":

        def includes(mv: float) -> bool:
            return sd_flci(
                es.betahat, es.sigma, num_pre, num_post, mv, es.l_vec, alpha
            ).interval.includes_zero

        step, tol = es.theta_se, tol or 0.005 * es.theta_se
        upper = upper or 100 * es.theta_se
    else:
        raise ValueError(
            f"restriction must be 'relative_magnitudes' or 'smoothness', got {restriction!r}."
        )
    if original_ci(es.betahat, es.sigma, num_pre, num_post, es.l_vec, alpha).includes_zero:
        return 0.0
    low, high = 0.0, step
    while not includes(high):
        low, high = high, 2 * high
        if high > upper:
            return math.inf
    while high - low > tol:
        mid = 0.5 * (low + high)
        if includes(mid):
            high = mid
        else:
            low = mid
    return float(high)


def event_study_coefficients(
    names: Sequence[str],
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    l_vec: Sequence[float] | np.ndarray | None = None,
) -> EventStudyCoefficients:
    """HonestDiD input from event-study terms named ``e-k .. e-2, e+0 .. e+L`` (reference e-1).

    ``l_vec`` defaults to the mean of the post-start terms. Raises ValueError unless the terms
    are contiguous leads up to ``e-2`` (at least one) and lags from ``e+0``, the layout
    Rambachan and Roth assume (no empty event time, reference ``e-1`` omitted).
    """
    times = []
    for name in names:
        text = str(name)
        if not (text.startswith("e") and text[1:2] in "+-"):
            raise ValueError(f"{text!r} is not an event-time term like 'e-2' or 'e+0'.")
        times.append(int(text[1:]))
    pre = [e for e in times if e < 0]
    post = [e for e in times if e >= 0]
    if (
        not pre
        or not post
        or times != pre + post
        or pre != list(range(min(pre), -1))
        or post != list(range(0, max(post) + 1))
    ):
        raise ValueError(
            f"event terms {list(names)} are not contiguous leads up to e-2 and lags from e+0; "
            "HonestDiD needs the reference period e-1 and no empty event time"
        )
    weights = np.full(len(post), 1.0 / len(post)) if l_vec is None else l_vec
    return EventStudyCoefficients.build(betahat, sigma, len(pre), len(post), weights)
