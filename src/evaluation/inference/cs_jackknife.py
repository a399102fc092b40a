"""Delete-one-cluster jackknife for the Callaway-Sant'Anna aggregates ("csdidjack").

The influence-function and multiplier-bootstrap intervals of the Callaway-Sant'Anna
aggregates over-reject when few clusters are treated (the first rollout cohort is 14
communes). The cluster jackknife recomputes the estimate leaving out one cluster at a time,

``V = (G - 1) / G * sum_c (theta_(c) - mean_c theta_(c))^2``,

and compares ``theta / sqrt(V)`` with a t distribution with ``G - 1`` degrees of freedom
(as the CV3 jackknife of the regression, and Stata's ``csdid`` jackknife proposals).

Why the G refits are cheap: leaving out a cluster only zeroes the weights of its units, so
every ATT(g, t) of all G leave-one-out samples is computed at once by the batched two-period
estimators of :mod:`evaluation.estimators.staggered` (one batch row per left-out cluster), on
the wide panel the group-time estimator already built; each replicate's aggregation is then
:func:`~evaluation.estimators.staggered.aggregate` itself (cohort shares recomputed without
the cluster), so the jackknife aggregates exactly what the page reports.

* :func:`leave_one_cluster_out` -- the ATT(g, t) of every leave-one-cluster-out sample;
* :func:`jackknife_aggregate` -- an aggregate (simple, dynamic, group, calendar) with
  jackknife standard errors, t(G-1) intervals and p-values;
* :func:`simple_att_jackknife_draws` -- the simple ATT and its jackknife standard error for
  many placebo adoption timings at once (the size check of page 07).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.estimators.result import EffectEstimate, term_frame
from evaluation.estimators.staggered import (
    AggregationKind,
    ControlGroup,
    GroupTimeResult,
    Method,
    _batch_or_one_by_one,
    _last_pre_index,
    aggregate,
)

__all__ = [
    "JACKKNIFE_LABEL",
    "jackknife_aggregate",
    "jackknife_variance",
    "leave_one_cluster_out",
    "simple_att_jackknife_draws",
]

JACKKNIFE_LABEL = "delete-one-cluster jackknife, (G-1)/G variance, t(G-1)"


def jackknife_variance(replicates: np.ndarray) -> np.ndarray:
    """``(G - 1) / G * sum_c (theta_c - mean)^2`` over the first axis (NaN if any is NaN)."""
    replicates = np.asarray(replicates, dtype=float)
    g = replicates.shape[0]
    centred = replicates - replicates.mean(axis=0)
    return (g - 1) / g * np.sum(centred**2, axis=0)


# --------------------------------------------------------------------------- ATT(g, t)


def _wide(
    data: pd.DataFrame,
    result: GroupTimeResult,
    outcome: str,
    unit: str,
    time: str,
    covariates: Sequence[str],
    weights: str | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Outcome, weight and covariate arrays (unit x period) of the units ``result`` kept."""
    rows = data.loc[data[unit].isin(result.unit_ids)]
    periods = np.sort(rows[time].unique()).astype(float)
    index = pd.MultiIndex.from_product([result.unit_ids, periods])
    frame = rows.assign(_t=rows[time].astype(float)).set_index([unit, "_t"]).reindex(index)
    n, n_t = len(result.unit_ids), len(periods)
    y = frame[outcome].to_numpy(float).reshape(n, n_t)
    w = (
        frame[weights].to_numpy(float).reshape(n, n_t)
        if weights
        else np.where(np.isfinite(y), 1.0, np.nan)
    )
    x = np.stack(
        [np.ones((n, n_t)), *[frame[c].to_numpy(float).reshape(n, n_t) for c in covariates]],
        axis=2,
    )
    return y, w, x, periods


def _cell_plan(result: GroupTimeResult, periods: np.ndarray) -> list[tuple]:
    """For each ATT(g, t) row: (row, g, t index, base period index, covariate period index,
    control threshold, base cell) -- the choices of :func:`group_time_att`'s panel engine."""
    universal = result.base_period == "universal"
    tfac = 0 if universal else 1
    antic = result.anticipation
    plan = []
    groups = result.att_gt["group"].to_numpy(float)
    times = result.att_gt["time"].to_numpy(float)
    for row, (g, tn) in enumerate(zip(groups, times, strict=True)):
        tn_idx = int(np.searchsorted(periods, tn))
        t_i = tn_idx - tfac
        pret = t_i
        if universal or g - antic <= tn:
            pret = _last_pre_index(g, periods, antic)
        base = universal and pret == tn_idx
        threshold = periods[max(t_i, pret) + tfac] + antic
        plan.append((row, g, tn_idx, pret, min(tn_idx, pret), threshold, base))
    return plan


def leave_one_cluster_out(
    result: GroupTimeResult,
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    covariates: Sequence[str] = (),
    weights: str | None = None,
) -> np.ndarray:
    """ATT(g, t) of every leave-one-cluster-out sample, ``G x cells`` (rows of ``att_gt``).

    Parameters
    ----------
    result : GroupTimeResult
        :func:`~evaluation.estimators.staggered.group_time_att` on a balanced panel
        (``panel=True``; the units it kept are re-used).
    data : pandas.DataFrame
        The data it was fitted on.
    outcome, unit, time : str
        Its columns.
    covariates : sequence of str
        Covariates it adjusted for.
    weights : str, optional
        Its weight column.

    Returns
    -------
    numpy.ndarray
        Row ``c``: the ATT(g, t) without cluster ``c`` (codes of ``result.unit_cluster``); NaN
        for a cell with no treated or no comparison unit left (its cohort then drops out, as
        in a refit). Base cells of a universal base period are 0.

    Raises
    ------
    ValueError
        Repeated cross-sections, or a panel with missing cells among the kept units.
    """
    if not result.panel:
        raise ValueError("the cluster jackknife needs a panel (panel=True).")
    y, w, x, periods = _wide(data, result, outcome, unit, time, covariates, weights)
    if not (np.isfinite(y).all() and np.isfinite(w).all() and np.isfinite(x).all()):
        raise ValueError(
            "the cluster jackknife needs a balanced panel without missing values among the "
            "units the estimator kept."
        )
    groups, cluster = result.unit_group.astype(float), result.unit_cluster
    n_clusters = int(cluster.max()) + 1
    keep = (cluster[None, :] != np.arange(n_clusters)[:, None]).astype(float)  # G x n
    out = np.full((n_clusters, len(result.att_gt)), np.nan)
    for row, g, tn_idx, pret, early, threshold, base in _cell_plan(result, periods):
        if base:  # 0 by construction, absent (as in a refit) when the cohort is left out
            present = ((groups == g)[None, :] * keep).sum(axis=1) > 0
            out[:, row] = np.where(present, 0.0, np.nan)
            continue
        if result.control_group == "never_treated":
            control = groups == 0
        else:
            control = (groups == 0) | ((groups > threshold) & (groups != g))
        d = (groups == g)[None, :] * keep
        c = control[None, :] * keep
        mask = np.maximum(d, c)
        ok = (d.sum(axis=1) > 0) & (c.sum(axis=1) > 0)
        dy = y[:, tn_idx] - y[:, pret]
        if ok.any():
            att, _ = _batch_or_one_by_one(
                dy, d[ok], mask[ok], x[:, early], w[:, early], result.method
            )
            out[ok, row] = att
    return out


# --------------------------------------------------------------------------- aggregates


def _replicate(result: GroupTimeResult, att: np.ndarray, cluster: int) -> GroupTimeResult:
    """``result`` without cluster ``cluster`` and with its leave-one-out ATT(g, t)."""
    keep = result.unit_cluster != cluster
    table = result.att_gt.copy()
    table["estimate"] = att
    return dataclasses.replace(
        result,
        att_gt=table,
        influence=result.influence[keep],
        unit_ids=result.unit_ids[keep],
        unit_group=result.unit_group[keep],
        unit_weight=result.unit_weight[keep],
        unit_cluster=result.unit_cluster[keep],
    )


def jackknife_aggregate(
    result: GroupTimeResult,
    replicates: np.ndarray,
    kind: AggregationKind = "simple",
    min_e: int | None = None,
    max_e: int | None = None,
    alpha: float | None = None,
    estimate: EffectEstimate | None = None,
    uniform: bool = False,
    n_draws: int = 9_999,
    seed: int = 0,
) -> EffectEstimate:
    """An aggregate of ATT(g, t) with delete-one-cluster jackknife inference.

    Parameters
    ----------
    result : GroupTimeResult
        The full-sample group-time estimates.
    replicates : numpy.ndarray
        :func:`leave_one_cluster_out` output.
    kind, min_e, max_e
        As :func:`~evaluation.estimators.staggered.aggregate`.
    alpha : float, optional
        Level of the intervals (default ``result.alpha``).
    estimate : EffectEstimate, optional
        The full-sample aggregate to re-use (its point estimates, estimator, estimand and
        diagnostics are kept); computed when None.
    uniform : bool
        A simultaneous band over the per-event/cohort/period terms (not the headline): the
        ``1 - alpha`` quantile of the largest ``|z|`` of ``n_draws`` normal draws with the
        jackknife correlation of the terms (at least the pointwise t(G-1) value), and
        simultaneous p-values (share of draws whose largest ``|z|`` reaches the term's ``|t|``).
    n_draws, seed : int
        Draws and seed of the simultaneous critical value.

    Returns
    -------
    EffectEstimate
        Same terms and point estimates as the analytic aggregate; standard errors from the
        jackknife (NaN for a term some leave-one-out sample cannot estimate, e.g. a cohort
        in one cluster), intervals and p-values from t(G-1).
    """
    alpha = result.alpha if alpha is None else alpha
    full = estimate if estimate is not None else aggregate(result, kind, min_e=min_e, max_e=max_e)
    names = list(full.terms.index)
    n_clusters = replicates.shape[0]
    values = np.full((n_clusters, len(names)), np.nan)
    for c in range(n_clusters):
        try:
            rep = aggregate(_replicate(result, replicates[c], c), kind, min_e=min_e, max_e=max_e)
        except ValueError:  # a window or cohort left empty without this cluster
            continue
        values[c] = rep.terms["estimate"].reindex(names).to_numpy(float)
    est = full.terms["estimate"].to_numpy(float)
    se = np.sqrt(jackknife_variance(values))
    se[~np.isfinite(se) | (se <= 0)] = np.nan
    df = n_clusters - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    p_value = 2 * stats.t.sf(np.abs(est / se), df)
    label = f"{JACKKNIFE_LABEL} ({n_clusters} clusters by {result.cluster_label})"
    crits = np.full(len(names), crit)
    per_term = [f"{label}, pointwise"] * len(names)
    diagnostics = {**full.diagnostics, "jackknife_df": float(df)}
    usable = np.flatnonzero(np.isfinite(se))
    usable = usable[usable > 0]
    if uniform and len(usable):
        # Sup-t band from the jackknife covariance of the terms (Montiel Olea & Plagborg-Moller).
        centred = values[:, usable] - values[:, usable].mean(axis=0)
        cov = (n_clusters - 1) / n_clusters * centred.T @ centred
        corr = cov / np.outer(se[usable], se[usable])
        rng = np.random.default_rng(seed)
        root = np.linalg.cholesky(corr + 1e-12 * np.eye(len(usable)))
        max_z = np.max(np.abs(rng.standard_normal((n_draws, len(usable))) @ root.T), axis=1)
        band = max(float(np.quantile(max_z, 1 - alpha, method="inverted_cdf")), crit)
        crits[usable] = band
        tstat = np.abs(est[usable] / se[usable])
        p_value[usable] = [(np.sum(max_z >= t_k) + 1) / (n_draws + 1) for t_k in tstat]
        for k in range(1, len(names)):
            per_term[k] = f"{label}, uniform band"
        diagnostics["uniform_critical_value"] = band
    terms = term_frame(names, est, se, est - crits * se, est + crits * se, p_value)
    terms["inference"] = per_term
    return dataclasses.replace(
        full,
        terms=terms,
        inference=label,
        diagnostics=diagnostics,
    )


# --------------------------------------------------------------------------- size checks


def simple_att_jackknife_draws(
    y: np.ndarray,
    w: np.ndarray,
    x: np.ndarray,
    periods: np.ndarray,
    groups: np.ndarray,
    cluster: np.ndarray,
    control_group: ControlGroup = "never_treated",
    method: Method = "dr",
    chunk_rows: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """The simple ATT and its delete-one-cluster jackknife standard error for many timings.

    Same inputs and estimator as :func:`evaluation.estimators.staggered.simple_att_draws`
    (balanced panel; the simple ATT uses post-adoption cells against the last period before
    adoption); every draw's G leave-one-cluster-out samples are batch rows of the two-period
    estimators.

    Parameters
    ----------
    y, w, x, periods, groups, cluster, control_group, method
        As :func:`~evaluation.estimators.staggered.simple_att_draws`.
    chunk_rows : int
        Draw x cluster rows estimated at once (at least one draw's). Small on purpose: the
        batched logit iterates until every row of a batch has converged, so one slow row
        would hold thousands of others (one draw at a time was 12x faster than 4,000 rows).

    Returns
    -------
    estimate, std_error : numpy.ndarray
        ``S`` full-sample simple ATTs and jackknife standard errors (NaN where some
        leave-one-out sample has no estimate).
    """
    y, w, x = np.asarray(y, float), np.asarray(w, float), np.asarray(x, float)
    groups = np.atleast_2d(np.asarray(groups, float))
    periods = np.asarray(periods, float)
    codes = np.asarray(cluster, int)
    n = y.shape[0]
    if not (w.shape == y.shape and x.shape[:2] == y.shape and groups.shape[1] == n):
        raise ValueError("y, w (n x T), x (n x T x k) and groups (S x n) must agree in shape")
    n_clusters = int(codes.max()) + 1
    # Replicate 0 is the full sample, 1..G leave cluster c - 1 out.
    keep = np.vstack([np.ones(n), (codes[None, :] != np.arange(n_clusters)[:, None])]).astype(float)
    n_rep = n_clusters + 1
    glist = np.unique(groups[groups > 0])
    cells = [
        (g, int(np.flatnonzero(periods < g)[-1]), t_idx)
        for g in glist
        if (periods < g).any()
        for t_idx in np.flatnonzero(periods >= g)
    ]
    if not cells:
        raise ValueError("no adoption period has an earlier period to compare with")
    unit_weight = w[:, 0]
    step = max(1, chunk_rows // n_rep)
    estimates, errors = [], []
    for start in range(0, len(groups), step):
        block = groups[start : start + step]
        s = len(block)
        rows_group = np.repeat(block, n_rep, axis=0)  # (s * R) x n
        rows_keep = np.tile(keep, (s, 1))
        numerator = np.zeros(s * n_rep)
        denominator = np.zeros(s * n_rep)
        complete = np.ones(s * n_rep, dtype=bool)
        for g, pre, t_idx in cells:
            d = (rows_group == g) * rows_keep
            control = rows_group == 0
            if control_group == "not_yet_treated":
                control = control | ((rows_group > periods[t_idx]) & (rows_group != g))
            c = control * rows_keep
            mask = np.maximum(d, c)
            share = d @ unit_weight  # cohort weight without the left-out cluster
            present = share > 0
            ok = present & (c.sum(axis=1) > 0)
            complete &= ~present | ok
            att = np.full(s * n_rep, np.nan)
            if ok.any():
                dy = y[:, t_idx] - y[:, pre]
                att[ok], _ = _batch_or_one_by_one(dy, d[ok], mask[ok], x[:, pre], w[:, pre], method)
            complete &= ~present | np.isfinite(att)
            numerator += np.where(present, share * np.nan_to_num(att), 0.0)
            denominator += share
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = np.where(complete & (denominator > 0), numerator / denominator, np.nan)
        theta = theta.reshape(s, n_rep)
        estimates.append(theta[:, 0])
        errors.append(np.sqrt(jackknife_variance(theta[:, 1:].T)))
    return np.concatenate(estimates), np.concatenate(errors)
