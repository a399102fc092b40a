"""Multiple-outcome corrections: Holm and Romano-Wolf step-down adjusted p-values.

Romano-Wolf (Romano & Wolf 2005, 2016; the Stata ``rwolf`` algorithm of Clarke, Romano & Wolf
2020) controls the family-wise error rate using the joint bootstrap distribution of the
t-statistics, so it is less conservative than Holm when outcomes are correlated (satisfaction
items usually are). Given observed ``|t_k|`` sorted from largest to smallest, the adjusted
p-value of the j-th hypothesis is ``(1 + #{b : max_{l >= j} |t*_{b,l}| >= |t_j|}) / (B + 1)``,
then made monotone (each at least the previous). The bootstrap t-statistics must be centred at
the estimate (``(b* - b_hat) / se*``), i.e. drawn under the null.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm

MULTIPLE_TESTING_COLUMNS = ["outcome", "estimate", "t_stat", "p_value", "p_holm", "p_romano_wolf"]


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (NaNs are left out and returned as NaN)."""
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    order = np.argsort(q, kind="stable")
    adj = np.maximum.accumulate((m - np.arange(m)) * q[order])
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def romano_wolf(
    t_stats: Sequence[float] | np.ndarray, t_boot: np.ndarray, plus_one: bool = True
) -> np.ndarray:
    """Romano-Wolf step-down adjusted p-values for two-sided tests.

    Parameters
    ----------
    t_stats : array, shape (K,)
        Observed t-statistics.
    t_boot : array, shape (B, K)
        Bootstrap t-statistics centred at the estimates (null-imposed).
    plus_one : bool
        Use ``(1 + count) / (B + 1)`` (valid finite-B p-values, as ``rwolf``); ``False`` gives
        ``count / B``.
    """
    t = np.abs(np.asarray(t_stats, float))
    tb = np.abs(np.asarray(t_boot, float))
    if tb.ndim != 2 or tb.shape[1] != t.size:
        raise ValueError(f"t_boot must have shape (B, {t.size}) to match t_stats, got {tb.shape}.")
    if np.isnan(t).any() or np.isnan(tb).any():
        raise ValueError("t_stats and t_boot must not contain NaN (drop failed draws first).")
    n_boot = tb.shape[0]
    order = np.argsort(-t, kind="stable")
    # max over the hypotheses still in the step-down set: reverse cumulative max over columns
    tail_max = np.maximum.accumulate(tb[:, order][:, ::-1], axis=1)[:, ::-1]
    counts = (tail_max >= t[order][None, :]).sum(axis=0)
    p = (counts + 1) / (n_boot + 1) if plus_one else counts / n_boot
    p = np.minimum(np.maximum.accumulate(p), 1.0)
    out = np.empty_like(p)
    out[order] = p
    return out


def cluster_bootstrap_t(
    data: pd.DataFrame,
    outcomes: Sequence[str],
    treatment: str,
    cluster: str,
    n_boot: int,
    seed: int,
    covariates: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed and pairs-cluster-bootstrap t-statistics of ``treatment`` for several outcomes.

    Each outcome is regressed (OLS) on ``1 + treatment + covariates`` with CR1 cluster-robust
    standard errors. Clusters are resampled with replacement (the same draw for every outcome,
    which keeps their correlation); the bootstrap t is ``(b* - b_hat) / se*``. Draws in which
    the treatment has no variation are discarded and redrawn.

    Returns
    -------
    estimates, t_stats : numpy.ndarray, shape (K,)
    t_boot : numpy.ndarray, shape (n_boot, K)
    """
    cols = [*outcomes, treatment, cluster, *covariates]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ValueError(f"cluster_bootstrap_t: columns {missing} are not in data.")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}.")
    frame = data[cols].dropna().reset_index(drop=True)
    codes, _ = pd.factorize(frame[cluster])
    x = sm.add_constant(frame[[treatment, *covariates]].to_numpy(float), has_constant="add")
    y = frame[list(outcomes)].to_numpy(float)
    n_clusters = codes.max() + 1
    members = [np.flatnonzero(codes == g) for g in range(n_clusters)]

    def fit(rows: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xr = x[rows]
        xtx_inv = np.linalg.pinv(xr.T @ xr)
        beta = xtx_inv @ xr.T @ y[rows]  # (p, K)
        resid = y[rows] - xr @ beta
        n, k = xr.shape
        g_count = groups.max() + 1
        est, se = beta[1], np.empty(y.shape[1])
        for j in range(y.shape[1]):
            scores = np.zeros((g_count, k))
            np.add.at(scores, groups, xr * resid[:, [j]])
            meat = scores.T @ scores
            adj = g_count / (g_count - 1) * (n - 1) / (n - k)
            se[j] = np.sqrt(adj * (xtx_inv @ meat @ xtx_inv)[1, 1])
        return est, se

    all_rows = np.arange(len(frame))
    est, se = fit(all_rows, codes)
    rng = np.random.default_rng(seed)
    t_boot = np.empty((n_boot, len(outcomes)))
    b = 0
    while b < n_boot:
        draw = rng.integers(0, n_clusters, n_clusters)
        rows = np.concatenate([members[g] for g in draw])
        groups = np.repeat(np.arange(n_clusters), [members[g].size for g in draw])
        if np.ptp(x[rows, 1]) == 0:
            continue
        est_b, se_b = fit(rows, groups)
        t_boot[b] = (est_b - est) / se_b
        b += 1
    return est, est / se, t_boot


def demeaned_bootstrap_t(
    y: np.ndarray,
    x: np.ndarray,
    clusters: np.ndarray,
    n_boot: int,
    seed: int,
    max_draws: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-regressor CR1 t-statistics per outcome and their pairs cluster bootstrap.

    For each outcome ``k`` the slope of ``y[:, k]`` on ``x[:, k]`` without a constant (data
    already demeaned by the fixed effects, so the slope is the two-way fixed-effects coefficient
    by Frisch-Waugh-Lovell) uses only the rows where both are observed: each outcome keeps its
    own sample, so one sparse outcome does not shrink the others. Standard errors are CR1 with
    ``G / (G - 1)`` (``G`` clusters holding the outcome; no regressor is counted besides the
    slope, pyfixest's ``k_fixef="none"``). The bootstrap resamples whole clusters with
    replacement (the same draw for every outcome, keeping their correlation; a cluster drawn
    twice counts as two clusters) and returns ``(b* - b) / se*``. Draws in which some outcome's
    regressor has no variation or fewer than two clusters are discarded and redrawn.

    Parameters
    ----------
    y, x : numpy.ndarray, shape (n, K)
        Demeaned outcomes and the demeaned regressor for each outcome (NaN where missing).
    clusters : numpy.ndarray, shape (n,)
        Integer cluster codes ``0 .. G-1``.
    n_boot : int
        Valid bootstrap draws to return.
    seed : int
        Seed of the draws.
    max_draws : int, optional
        Draws tried at most before giving up (default ``20 * n_boot``).

    Returns
    -------
    estimates, std_errors : numpy.ndarray, shape (K,)
    t_boot : numpy.ndarray, shape (n_boot, K)

    Raises
    ------
    ValueError
        On mismatched shapes, an outcome without a usable observation, or when ``max_draws``
        draws give fewer than ``n_boot`` valid ones.
    """
    y = np.asarray(y, float)
    x = np.asarray(x, float)
    if y.ndim == 1:
        y, x = y[:, None], x[:, None]
    codes = np.asarray(clusters, int)
    if y.shape != x.shape or codes.shape != (y.shape[0],):
        raise ValueError(f"y {y.shape}, x {x.shape} and clusters {codes.shape} do not match.")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}.")
    ok = np.isfinite(y) & np.isfinite(x)
    x0, y0 = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    n_clusters = int(codes.max()) + 1
    k = y.shape[1]

    def per_cluster(values: np.ndarray) -> np.ndarray:
        out = np.zeros((n_clusters, k))
        np.add.at(out, codes, values)
        return out

    sxx, sxy, present = per_cluster(x0 * x0), per_cluster(x0 * y0), per_cluster(ok * 1.0) > 0

    def fit(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            xx = m @ sxx
            beta = (m @ sxy) / xx
            meat = m @ (sxy * sxy) - 2 * beta * (m @ (sxy * sxx)) + beta**2 * (m @ (sxx * sxx))
            g = m @ present
            se = np.sqrt(g / (g - 1) * np.maximum(meat, 0.0)) / xx
        return beta, se

    est, se = fit(np.ones((1, n_clusters)))
    est, se = est[0], se[0]
    if not (np.all(np.isfinite(est)) and np.all(np.isfinite(se)) and np.all(se > 0)):
        raise ValueError("some outcome has no usable observation or no variation in x; drop it.")
    rng = np.random.default_rng(seed)
    max_draws = 20 * n_boot if max_draws is None else max_draws
    chunk = max(1, min(n_boot, 2_000_000 // n_clusters))
    kept: list[np.ndarray] = []
    n_kept = tried = 0
    while n_kept < n_boot:
        if tried >= max_draws:
            raise ValueError(
                f"only {n_kept} of {tried} bootstrap draws had variation in every outcome; "
                f"{n_boot} were asked for."
            )
        size = min(chunk, max_draws - tried)
        draws = rng.integers(0, n_clusters, (size, n_clusters))
        m = np.zeros((size, n_clusters))
        np.add.at(m, (np.repeat(np.arange(size), n_clusters), draws.ravel()), 1.0)
        beta_b, se_b = fit(m)
        t_b = (beta_b - est) / se_b
        valid = np.all(np.isfinite(t_b), axis=1) & np.all(se_b > 0, axis=1)
        kept.append(t_b[valid])
        n_kept += int(valid.sum())
        tried += size
    return est, se, np.concatenate(kept)[:n_boot]


def multiple_testing_frame(
    outcomes: Sequence[str],
    estimates: Sequence[float] | np.ndarray,
    t_stats: Sequence[float] | np.ndarray,
    p_values: Sequence[float] | np.ndarray,
    t_boot: np.ndarray | None = None,
) -> pd.DataFrame:
    """Tidy frame (:data:`MULTIPLE_TESTING_COLUMNS`) with Holm and Romano-Wolf p-values.

    ``p_romano_wolf`` is NaN when no bootstrap t matrix is given.
    """
    k = len(outcomes)
    if not (len(estimates) == len(t_stats) == len(p_values) == k):
        raise ValueError("outcomes, estimates, t_stats and p_values must have the same length.")
    rw = romano_wolf(t_stats, t_boot) if t_boot is not None else np.full(k, np.nan)
    return pd.DataFrame(
        {
            "outcome": list(outcomes),
            "estimate": np.asarray(estimates, float),
            "t_stat": np.asarray(t_stats, float),
            "p_value": np.asarray(p_values, float),
            "p_holm": holm(p_values),
            "p_romano_wolf": rw,
        },
        columns=MULTIPLE_TESTING_COLUMNS,
    )
