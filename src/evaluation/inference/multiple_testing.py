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
