"""Wild cluster bootstrap for a single coefficient when few clusters are treated.

With 14 pilot communes out of ~109, cluster-robust (CRV1) t-tests over-reject a true null; the
restricted wild cluster bootstrap (WCR, Cameron, Gelbach & Miller 2008; MacKinnon & Webb 2017)
keeps the size close to nominal. This module implements it the "fast and wild" way (Roodman,
Nielsen, MacKinnon & Webb 2019; MacKinnon 2023): everything a bootstrap draw needs is reduced
once to cluster-level cross-products, so a draw costs O(G k) (or O(G^2) when that is smaller)
instead of a new regression on N rows; draws are processed in memory-bounded chunks of numpy
matrix products.

Conventions (printed by :meth:`BootstrapResult.label` and documented here once):

* Test statistic: the CRV1 t of the coefficient on ``treatment`` with fixest's small-sample
  factor ``(N - 1) / (N - K) * G / (G - 1)``, where K counts the regressors left after absorbing
  the fixed effects nested in the clusters, plus one for the absorbed intercept (pyfixest 0.60's
  default ``ssc(k_fixef="nonnested")``; the dummy regression would count every dummy). The factor
  multiplies the original and every bootstrap t alike, so the p-value does not depend on it.
* Fixed effects nested in the clusters (a commune effect when clustering by commune) are
  absorbed by (weighted) demeaning; the others (wave) enter as dummy regressors. This reproduces
  the bootstrap of the full dummy regression exactly: demeaning by a nested effect commutes with
  multiplying residuals by a cluster-constant weight, demeaning by a crossed effect does not.
* p-value: two-sided symmetric, the share of bootstrap draws with ``|t*| >= |t|``; draws within
  a relative 1e-9 of ``|t|`` count as ties and are included (conservative). ``wildboottest``
  0.3.2 and fwildclusterboot count only ``|t*| > |t|``; the two agree except when a draw ties
  exactly, which happens under full enumeration of the restricted bootstrap (the all-ones and
  all-minus-ones draws reproduce ``t`` and ``-t``), where this p-value is ``2 / 2**G`` larger.
* Confidence interval: test inversion. The restricted bootstrap t is, draw by draw, a ratio of a
  linear and the square root of a quadratic function of the hypothesised value ``beta0`` (the
  restricted residuals are linear in ``beta0``), so five length-B vectors give the bootstrap
  p-value at any ``beta0`` with the same draws; the endpoints are found by bracketing and
  Brent's method on ``p(beta0) - alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

__all__ = ["BootstrapResult", "wild_cluster_bootstrap"]

#: Bootstrap weight distributions (mean 0, variance 1).
BOOTSTRAP_WEIGHTS: tuple[str, ...] = ("rademacher", "webb")

#: Webb's six-point distribution: +-sqrt(1/2), +-1, +-sqrt(3/2) with equal probability.
_WEBB_POINTS = np.concatenate([-np.sqrt(np.array([3.0, 2.0, 1.0]) / 2), np.sqrt([0.5, 1.0, 1.5])])

#: A draw whose |t*| is within this relative distance of |t| is a tie (counted as extreme).
_TIE_TOLERANCE = 1e-9

#: Float64 elements in one (draws x clusters) block: small enough to stay in the CPU cache
#: (fresh multi-megabyte temporaries cost more in page faults than the arithmetic).
_CHUNK_ELEMENTS = 1 << 14

#: ...but never fewer draws per block than this, so matrix products stay efficient.
_MIN_CHUNK_DRAWS = 32

#: Relative eigenvalue below which the scaled cross-product matrix counts as singular.
_COLLINEAR_TOLERANCE = 1e-10


@dataclass(frozen=True)
class BootstrapResult:
    """Wild cluster bootstrap test of one coefficient and its test-inversion interval.

    Attributes
    ----------
    t_stat : float
        CRV1 t statistic of ``estimate - null_value`` (fixest small-sample convention).
    p_value : float
        Two-sided symmetric bootstrap p-value, share of draws with ``|t*| >= |t|``.
    conf_low, conf_high : float
        Test-inversion confidence interval (NaN when not requested, +-inf when unbounded).
    n_boot : int
        Number of bootstrap draws used (``2**G`` under full enumeration).
    enumerated : bool
        True when all ``2**G`` Rademacher sign vectors were used (deterministic result).
    restricted : bool
        True for WCR (null imposed on the bootstrap data), False for WCU.
    weights : str
        Bootstrap weight distribution, ``"rademacher"`` or ``"webb"``.
    estimate : float
        Point estimate of the coefficient on the treatment.
    std_error : float
        Its CRV1 standard error.
    n_obs, n_clusters, n_treated_clusters : int
        Rows used, clusters, and clusters with a non-zero treatment value in some row.
    ci_restricted : bool
        Whether the interval inverts the restricted (True) or unrestricted (False) test.
    """

    t_stat: float
    p_value: float
    conf_low: float
    conf_high: float
    n_boot: int
    enumerated: bool
    restricted: bool
    weights: str
    estimate: float = math.nan
    std_error: float = math.nan
    n_obs: int = 0
    n_clusters: int = 0
    n_treated_clusters: int = 0
    ci_restricted: bool = True

    def label(self) -> str:
        """Short description for tables, e.g. ``"WCR-Rademacher, B=9,999 (test inversion CI)"``."""
        kind = "WCR" if self.restricted else "WCU"
        draws = f"B={self.n_boot:,}" + (", all sign vectors" if self.enumerated else "")
        inverts_wcu = self.restricted and not self.ci_restricted
        ci = "CI inverts WCU" if inverts_wcu else "test inversion CI"
        return f"{kind}-{self.weights.capitalize()}, {draws} ({ci})"


@dataclass(frozen=True)
class _Design:
    """Regression after absorbing nested fixed effects, already multiplied by sqrt(weights)."""

    x: np.ndarray  # (N, K) regressors
    y: np.ndarray  # (N,) outcome
    codes: np.ndarray  # (N,) cluster index 0..G-1
    n_clusters: int
    column: int  # position of the treatment in x
    k_ssc: int  # parameters counted in (N - 1) / (N - K)
    names: tuple[str, ...]
    n_treated_clusters: int


@dataclass(frozen=True)
class _Moments:
    """Per-draw pieces from which the bootstrap t at any hypothesised value follows.

    With ``delta = estimate - beta0``, the restricted bootstrap t of draw b is
    ``(num_u + delta * num_d) / sqrt(ssc * (q0 + 2 delta q1 + delta^2 q2))``; the unrestricted
    one is ``num_u / sqrt(ssc * q0)``.
    """

    num_u: np.ndarray
    q0: np.ndarray
    num_d: np.ndarray | None
    q1: np.ndarray | None
    q2: np.ndarray | None


def wild_cluster_bootstrap(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    cluster: str,
    fixed_effects: Sequence[str] = (),
    covariates: Sequence[str] = (),
    weights: str | None = None,
    restricted: bool = True,
    bootstrap_weights: str = "rademacher",
    n_boot: int = 9999,
    seed: int = 0,
    alpha: float = 0.05,
    null_value: float = 0.0,
    confint: bool = True,
    impose_null_for_ci: bool = True,
) -> BootstrapResult:
    """Wild cluster bootstrap test (WCR or WCU) of the coefficient on ``treatment``.

    The model is the (weighted) least-squares regression of ``outcome`` on ``treatment``,
    ``covariates`` and dummies of ``fixed_effects`` (plus an intercept when no fixed effect is
    absorbed), with errors clustered by ``cluster``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per ballot (or any unit); rows with a missing value in a used column are dropped.
    outcome, treatment, cluster : str
        Column names. ``treatment`` is numeric (0/1 or a dose); ``cluster`` any hashable codes.
    fixed_effects : sequence of str
        Categorical columns. Those nested in ``cluster`` are absorbed by demeaning, the others
        enter as dummies (first level dropped); the bootstrap equals the full dummy model's.
    covariates : sequence of str
        Numeric control columns.
    weights : str, optional
        Column of non-negative survey/analytic weights (WLS); rows with weight 0 are dropped.
    restricted : bool
        Impose the null ``coef == null_value`` on the bootstrap data (WCR, recommended with few
        treated clusters) or not (WCU).
    bootstrap_weights : {"rademacher", "webb"}
        Distribution of the cluster multipliers. Webb's six points suit fewer than ~12 clusters.
    n_boot : int
        Number of draws B. Rademacher draws are replaced by the full enumeration of the ``2**G``
        sign vectors when ``2**G <= n_boot`` (deterministic; ``n_boot`` becomes ``2**G``).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same draws and result.
    alpha : float
        The interval has nominal coverage ``1 - alpha``.
    null_value : float
        Hypothesised value of the coefficient.
    confint : bool
        Compute the test-inversion interval (cheap: it reuses the draws).
    impose_null_for_ci : bool
        With ``restricted=True``, invert the restricted test (null imposed at every candidate
        value, the boottest default); if False, invert the unrestricted test instead.

    Returns
    -------
    BootstrapResult
        t statistic, p-value, interval and the settings used.

    Raises
    ------
    ValueError
        Missing columns, fewer than two clusters, a treatment that does not vary (or is
        collinear with the fixed effects/covariates), bad weights or bad arguments.
    """
    _check_arguments(bootstrap_weights, n_boot, alpha)
    design = _prepare_design(
        data, outcome, treatment, cluster, _as_tuple(fixed_effects), _as_tuple(covariates), weights
    )
    stats = _cluster_statistics(design)
    n_clusters = design.n_clusters
    enumerated = bootstrap_weights == "rademacher" and n_clusters <= 62 and 2**n_clusters <= n_boot
    draws = _enumerated_draws(n_clusters) if enumerated else None
    b_total = 2**n_clusters if enumerated else int(n_boot)
    # The restricted pieces are needed whenever the p-value or the interval imposes the null.
    moments = _bootstrap_moments(
        stats,
        _draw_chunks(n_clusters, b_total, bootstrap_weights, seed, draws),
        with_restricted=restricted,
    )
    estimate, se, ssc = stats["estimate"], stats["se"], stats["ssc"]
    delta0 = estimate - null_value
    p_value = _p_value(moments, delta0, se, ssc, restricted)
    conf_low = conf_high = math.nan
    ci_restricted = restricted and impose_null_for_ci
    degenerate = not (se > 0 and math.isfinite(se))  # nothing varies: no test, no interval
    if confint and not degenerate:
        conf_low, conf_high = _invert(moments, estimate, se, ssc, alpha, ci_restricted)
    return BootstrapResult(
        t_stat=math.nan if degenerate else float(delta0 / se),
        p_value=float(p_value),
        conf_low=float(conf_low),
        conf_high=float(conf_high),
        n_boot=b_total,
        enumerated=enumerated,
        restricted=restricted,
        weights=bootstrap_weights,
        estimate=float(estimate),
        std_error=float(se),
        n_obs=int(design.y.shape[0]),
        n_clusters=n_clusters,
        n_treated_clusters=design.n_treated_clusters,
        ci_restricted=ci_restricted,
    )


# --------------------------------------------------------------------------- input and design


def _as_tuple(columns: Sequence[str] | str | None) -> tuple[str, ...]:
    if columns is None:
        return ()
    if isinstance(columns, str):
        return (columns,)
    return tuple(columns)


def _check_arguments(bootstrap_weights: str, n_boot: int, alpha: float) -> None:
    if bootstrap_weights not in BOOTSTRAP_WEIGHTS:
        raise ValueError(
            f"bootstrap_weights must be one of {BOOTSTRAP_WEIGHTS}, got {bootstrap_weights!r}"
        )
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer (e.g. 9999), got {n_boot!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1 (e.g. 0.05), got {alpha!r}")


def _prepare_design(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    cluster: str,
    fixed_effects: tuple[str, ...],
    covariates: tuple[str, ...],
    weights: str | None,
) -> _Design:
    """Validate input, drop incomplete rows, absorb nested fixed effects, apply sqrt(weights)."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    used = [outcome, treatment, cluster, *fixed_effects, *covariates]
    if weights is not None:
        used.append(weights)
    missing = [c for c in dict.fromkeys(used) if c not in data.columns]
    if missing:
        raise ValueError(
            f"column(s) {missing} not found in data; available columns: {list(data.columns)}. "
            "Pass the names of existing columns (outcome, treatment, cluster, fixed_effects, "
            "covariates, weights)."
        )
    for name in [outcome, treatment, *covariates, *([weights] if weights else [])]:
        if not pd.api.types.is_numeric_dtype(data[name]):
            raise ValueError(
                f"column {name!r} must be numeric, got dtype {data[name].dtype}; recode it "
                "(categorical controls belong in fixed_effects)"
            )
    frame = data[list(dict.fromkeys(used))].dropna()
    if weights is not None:
        w = frame[weights].to_numpy(dtype=float)
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"weights column {weights!r} must be finite and non-negative")
        frame = frame.loc[w > 0]
    if frame.empty:
        raise ValueError("no complete rows left after dropping missing values (and zero weights)")

    codes, uniques = pd.factorize(frame[cluster], sort=True)
    n_clusters = len(uniques)
    if n_clusters < 2:
        raise ValueError(
            f"cluster column {cluster!r} has {n_clusters} distinct value(s) in the complete "
            "rows; the wild cluster bootstrap needs at least 2 clusters"
        )
    d = frame[treatment].to_numpy(dtype=float)
    if np.ptp(d) == 0:
        raise ValueError(
            f"treatment column {treatment!r} does not vary (all values {d[0]!r}); nothing to test"
        )
    n_treated = int(np.unique(codes[d != 0]).size)
    w = frame[weights].to_numpy(dtype=float) if weights is not None else None

    nested: list[np.ndarray] = []
    dummies: list[np.ndarray] = []
    names: list[str] = [treatment, *covariates]
    for fe in fixed_effects:
        fe_codes, fe_levels = pd.factorize(frame[fe], sort=True)
        # Nested: every level of the fixed effect lies inside one cluster (O(N) check: map
        # each level to the cluster of one of its rows, then compare on all rows).
        level_cluster = np.empty(len(fe_levels), dtype=np.int64)
        level_cluster[fe_codes] = codes
        if np.array_equal(level_cluster[fe_codes], codes):
            nested.append(fe_codes)
        elif len(fe_levels) > 1:
            dummies.append(fe_codes)
            names.extend(f"{fe}[{level}]" for level in fe_levels[1:])
    # One Fortran-ordered array filled and transformed in place: columns stay contiguous for
    # the per-column demeaning and cluster sums, and no N x K temporaries are made.
    n_rows = len(frame)
    n_dummies = sum(int(c.max()) for c in dummies)
    n_columns = 1 + len(covariates) + n_dummies + (0 if nested else 1)
    x = np.zeros((n_rows, n_columns), order="F")
    x[:, 0] = d
    for j, name in enumerate(covariates, start=1):
        x[:, j] = frame[name].to_numpy(dtype=float)
    start = 1 + len(covariates)
    for fe_codes in dummies:
        rows = np.flatnonzero(fe_codes > 0)
        x[rows, start + fe_codes[rows] - 1] = 1.0
        start += int(fe_codes.max())
    y = frame[outcome].to_numpy(dtype=float, copy=True)
    if nested:
        _demean(x, y, nested, w)
    else:
        x[:, -1] = 1.0
        names.append("intercept")
    if w is not None:
        root = np.sqrt(w)
        x *= root[:, None]
        y *= root
    _check_collinearity(x, names, treatment, fixed_effects)
    return _Design(
        x=x,
        y=y,
        codes=codes.astype(np.int64),
        n_clusters=n_clusters,
        column=0,
        # pyfixest/fixest count absorbed nested effects as one parameter (the intercept).
        k_ssc=x.shape[1] + (1 if nested else 0),
        names=tuple(names),
        n_treated_clusters=n_treated,
    )


def _demean(x: np.ndarray, y: np.ndarray, groups: list[np.ndarray], w: np.ndarray | None) -> None:
    """Subtract (weighted) group means from ``y`` and each column of ``x`` in place.

    One pass is exact for one effect; several nested effects use alternating projections.
    """
    totals = [np.bincount(g, weights=w).astype(float) for g in groups]
    columns = [y] + [x[:, j] for j in range(x.shape[1])]  # views (x is Fortran-ordered)
    for col in columns:
        scale = max(1.0, float(np.max(np.abs(col)))) if col.size else 1.0
        for _ in range(10_000):
            change = 0.0
            for g, total in zip(groups, totals, strict=True):
                sums = np.bincount(g, weights=col if w is None else w * col, minlength=len(total))
                shift = (sums / total)[g]
                col -= shift
                if len(groups) > 1:
                    change = max(change, float(np.max(np.abs(shift))))
            if len(groups) == 1 or change < 1e-13 * scale:
                break


def _check_collinearity(
    x: np.ndarray, names: list[str], treatment: str, fixed_effects: tuple[str, ...]
) -> None:
    """Raise a ValueError naming regressors that are (near) linear combinations of others."""
    xtx = x.T @ x
    diag = np.diag(xtx).copy()
    scale = np.where(diag > 0, 1 / np.sqrt(np.where(diag > 0, diag, 1)), 0.0)
    scaled = xtx * scale[:, None] * scale[None, :]
    if np.linalg.eigvalsh(scaled).min() > _COLLINEAR_TOLERANCE and np.all(diag > 0):
        return
    kept: list[int] = []
    dropped: list[str] = []
    for j in range(len(names)):
        trial = [*kept, j]
        sub = scaled[np.ix_(trial, trial)]
        if diag[j] > 0 and np.linalg.eigvalsh(sub).min() > _COLLINEAR_TOLERANCE:
            kept.append(j)
        else:
            dropped.append(names[j])
    if names[0] in dropped:
        raise ValueError(
            f"treatment column {treatment!r} does not vary once the fixed effects "
            f"{list(fixed_effects)} and the other regressors are accounted for (it is constant "
            "within the absorbed groups or collinear with controls); nothing to test"
        )
    raise ValueError(
        f"regressor(s) {dropped} are collinear with the treatment, other controls or fixed "
        f"effects {list(fixed_effects)}; remove them from covariates/fixed_effects"
    )


# --------------------------------------------------------------------- cluster-level algebra


def _cluster_statistics(design: _Design) -> dict[str, np.ndarray | float]:
    """Everything the draws need, reduced to cluster level (the "fast and wild" step).

    With ``a = e_j' (X'X)^-1``, unrestricted residuals ``u`` and ``z = X a'``:
    scores ``S_u[g] = X_g' u_g``, ``W[g] = X_g' X_g a'`` (then the restricted residuals at
    ``delta`` have scores ``S_u + delta * W / A`` with ``A = a_j``), ``C = S a'`` and
    ``K = W (X'X)^-1``.
    """
    x, y, codes, g_count = design.x, design.y, design.codes, design.n_clusters
    n_obs, k = x.shape
    xtx = x.T @ x
    xtx_inv = np.linalg.inv(xtx)
    beta = xtx_inv @ (x.T @ y)
    resid = y - x @ beta
    a = xtx_inv[design.column]
    a_jj = float(a[design.column])
    z = x @ a

    def cluster_sums(scalar: np.ndarray) -> np.ndarray:
        """(G, K) sums of x_i * scalar_i by cluster, one column at a time (no N x K copy)."""
        return np.column_stack(
            [np.bincount(codes, weights=scalar * x[:, j], minlength=g_count) for j in range(k)]
        )

    s_u = cluster_sums(resid)  # (G, K)
    w_mat = cluster_sums(z)  # (G, K)
    s_d = w_mat / a_jj
    c_u = s_u @ a
    c_d = s_d @ a
    k_mat = w_mat @ xtx_inv  # (G, K)
    ssc = (n_obs - 1) / (n_obs - design.k_ssc) * g_count / (g_count - 1)
    se = math.sqrt(ssc * float(c_u @ c_u))
    return {
        "estimate": float(beta[design.column]),
        "se": se,
        "ssc": ssc,
        "s_u": s_u,
        "s_d": s_d,
        "c_u": c_u,
        "c_d": c_d,
        "k_mat": k_mat,
    }


# ------------------------------------------------------------------------------------ draws


def _enumerated_draws(n_clusters: int) -> np.ndarray:
    """All 2^G Rademacher sign vectors, (2^G, G), in itertools.product([-1, 1], ...) order."""
    index = np.arange(2**n_clusters, dtype=np.int64)[:, None]
    shifts = np.arange(n_clusters - 1, -1, -1, dtype=np.int64)[None, :]
    return ((index >> shifts) & 1).astype(np.float64) * 2.0 - 1.0


def _chunk_size(n_clusters: int) -> int:
    return max(_MIN_CHUNK_DRAWS, _CHUNK_ELEMENTS // max(n_clusters, 1))


def _draw_chunks(
    n_clusters: int,
    n_boot: int,
    kind: str,
    seed: int,
    draws: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """Yield (b, G) blocks of cluster multipliers; reproducible from ``seed``."""
    step = _chunk_size(n_clusters)
    if draws is not None:
        for start in range(0, draws.shape[0], step):
            yield draws[start : start + step]
        return
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, step):
        b = min(step, n_boot - start)
        size = b * n_clusters
        if kind == "rademacher":
            # One random bit per multiplier: 8x less entropy to generate than integers().
            bits = np.unpackbits(np.frombuffer(rng.bytes((size + 7) // 8), dtype=np.uint8))
            block = bits[:size].reshape(b, n_clusters).astype(np.float64)
            block *= 2.0
            block -= 1.0
        else:
            block = _WEBB_POINTS[rng.integers(0, 6, size=(b, n_clusters), dtype=np.int8)]
        yield block


def _bootstrap_moments(
    stats: dict[str, np.ndarray | float],
    chunks: Iterator[np.ndarray],
    with_restricted: bool,
) -> _Moments:
    """Numerators and squared-score sums of every draw, chunk by chunk.

    For draw ``v`` the bootstrap cluster score of the tested coefficient is
    ``Z = v * C - K (S' v)``: O(G K) per draw through the factorisation, or O(G^2) with the
    explicit G x G matrix ``K S'`` when the clusters are fewer than twice the regressors.
    """
    s_u, s_d = stats["s_u"], stats["s_d"]
    c_u, c_d, k_mat = stats["c_u"], stats["c_d"], stats["k_mat"]
    n_clusters, k = k_mat.shape
    explicit = n_clusters <= 2 * k
    if explicit:
        h_u = (k_mat @ s_u.T).T  # (G, G): v @ h_u gives K S_u' v for row-vector draws
        h_d = (k_mat @ s_d.T).T
    parts: dict[str, list[np.ndarray]] = {"num_u": [], "q0": [], "num_d": [], "q1": [], "q2": []}
    for v in chunks:
        z_u = v * c_u
        z_u -= (v @ h_u) if explicit else (v @ s_u) @ k_mat.T
        parts["num_u"].append(v @ c_u)
        parts["q0"].append(np.einsum("ij,ij->i", z_u, z_u))
        if with_restricted:
            z_d = v * c_d
            z_d -= (v @ h_d) if explicit else (v @ s_d) @ k_mat.T
            parts["num_d"].append(v @ c_d)
            parts["q1"].append(np.einsum("ij,ij->i", z_u, z_d))
            parts["q2"].append(np.einsum("ij,ij->i", z_d, z_d))
    joined = {key: np.concatenate(val) if val else None for key, val in parts.items()}
    return _Moments(
        num_u=joined["num_u"],
        q0=joined["q0"],
        num_d=joined["num_d"],
        q1=joined["q1"],
        q2=joined["q2"],
    )


def _bootstrap_t(moments: _Moments, delta: float, ssc: float, restricted: bool) -> np.ndarray:
    """Bootstrap t statistics of every draw at ``delta = estimate - beta0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if restricted:
            num = moments.num_u + delta * moments.num_d
            quad = moments.q0 + 2 * delta * moments.q1 + delta**2 * moments.q2
            return num / np.sqrt(ssc * np.maximum(quad, 0.0))
        return moments.num_u / np.sqrt(ssc * moments.q0)


def _p_value(moments: _Moments, delta: float, se: float, ssc: float, restricted: bool) -> float:
    """Share of draws with ``|t*| >= |t|`` (ties within a relative 1e-9 included)."""
    if not (se > 0 and math.isfinite(se)):  # a degenerate design: no t-statistic to compare
        return math.nan
    t_boot = np.abs(_bootstrap_t(moments, delta, ssc, restricted))
    t_abs = abs(delta) / se
    return float(np.mean(t_boot >= t_abs * (1 - _TIE_TOLERANCE)))


def _invert(
    moments: _Moments, estimate: float, se: float, ssc: float, alpha: float, restricted: bool
) -> tuple[float, float]:
    """Test-inversion interval: the ``beta0`` on each side where the p-value crosses alpha."""

    def excess(delta: float) -> float:
        return _p_value(moments, delta, se, ssc, restricted) - alpha

    ends = []
    for sign in (1.0, -1.0):  # delta > 0 is beta0 below the estimate (lower endpoint)
        inner, outer = 0.0, None
        for power in range(-3, 41):
            trial = sign * se * 2.0**power
            if excess(trial) < 0:
                outer = trial
                break
            inner = trial
        if outer is None:
            ends.append(sign * math.inf)
            continue
        root = _step_root(excess, inner, outer, xtol=1e-10 * se)
        ends.append(root)
    return estimate - ends[0], estimate - ends[1]


def _step_root(func: Callable[[float], float], inner: float, outer: float, xtol: float) -> float:
    """Brent's method on a step function: the crossing where ``func`` turns negative.

    ``func(inner) >= 0 > func(outer)``; the result lies within ``xtol`` of a jump of the
    bootstrap p-value across alpha.
    """
    if func(inner) == 0:
        return inner
    root = optimize.brentq(func, inner, outer, xtol=xtol, rtol=4 * np.finfo(float).eps)
    return float(root)
