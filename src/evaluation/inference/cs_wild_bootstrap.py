"""Wild cluster bootstrap of the Callaway-Sant'Anna influence functions, studentised.

The analytic interval of a Callaway-Sant'Anna aggregate is ``theta +/- z * se`` with
``se = sqrt(sum_c S_c^2) / n``, ``S_c`` the sum over cluster ``c`` of the aggregate's influence
function. With few treated clusters it over-rejects: the influence function of a cohort is
centred at the cohort's own estimated mean, so its spread is understated, and ``theta / se`` is
further from normal than the reference distribution assumes.

This module bootstraps the studentised statistic instead of the estimate (percentile-t, symmetric).
Each draw multiplies the influence function of every cluster by one weight ``v_c`` (Rademacher,
or Webb's six-point weights with fewer than 12 clusters), which moves the estimate by
``T* = sum_c v_c S_c / n``. The draw's own standard error is then recomputed the way the analytic
one was, from influence functions re-centred at the *draw's* estimates: within each ATT(g, t)
cell the treated cohort's and the comparison units' bootstrap influence functions are each
re-centred at their (first-period weighted) mean, and the part due to estimating the cohort
shares at its overall mean,

``psi*_i = v_c(i) psi_i - sum_p r_pi sum_j v_c(j) psi_pj``  (``p``: a cell's treated or
comparison units, or the cohort shares; ``r_pi`` = unit ``i``'s share of that set's weight).

For the difference in means of an unadjusted 2x2 comparison this is exactly the unrestricted wild
cluster bootstrap (WCU) of the outcome changes, re-estimated; with covariates it is its linear
version. The symmetric critical value is the ``1 - alpha`` quantile of
``|t*| = |T*| / sqrt(sum_c S*_c^2)``, the interval ``theta +/- q * se`` and the p-value the share
of draws with ``|t*| >= |theta / se|``. It differs from the multiplier bootstrap of
:func:`~evaluation.estimators.staggered.aggregate` (which re-scales nothing: an interquartile
standard error with a normal critical value) exactly where that one fails, when a few clusters
dominate the influence function.

* :func:`cluster_multipliers` -- the ``B x G`` weights (seeded draws, or all ``2^G`` signs);
* :func:`studentised_draws` -- the bootstrap ``t*`` from cluster sums (the core);
* :func:`aggregate_influence` -- each aggregate term's influence function by re-centring set;
* :func:`wild_bootstrap_aggregate` -- an aggregate with these intervals (page 07);
* :func:`simple_att_wild_bootstrap_draws` -- the simple ATT, its analytic standard error and
  its bootstrap critical value for many placebo timings (the size check of page 07).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from evaluation.estimators.result import EffectEstimate, term_frame
from evaluation.estimators.staggered import (
    AggregationKind,
    ControlGroup,
    GroupTimeResult,
    Method,
    _batch_or_one_by_one,
    _weights_influence,
    aggregate,
    placebo_cells,
)

__all__ = [
    "WEBB_BELOW",
    "WILD_BOOTSTRAP_LABEL",
    "AggregateInfluence",
    "aggregate_influence",
    "cluster_multipliers",
    "simple_att_wild_bootstrap_draws",
    "studentised_draws",
    "symmetric_critical_value",
    "wild_bootstrap_aggregate",
]

WILD_BOOTSTRAP_LABEL = (
    "wild cluster bootstrap of the influence function, studentised (symmetric percentile-t)"
)
#: Webb's six-point weights replace Rademacher's below this many clusters (Webb 2023).
WEBB_BELOW = 12
Weights = Literal["auto", "rademacher", "webb"]
_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def cluster_multipliers(
    n_clusters: int,
    n_draws: int,
    seed: int,
    weights: Weights = "auto",
    enumerate_all: bool = False,
) -> tuple[np.ndarray, str]:
    """Cluster weights of the wild bootstrap, one row per draw.

    Parameters
    ----------
    n_clusters : int
        G.
    n_draws : int
        Draws B (ignored with ``enumerate_all``).
    seed : int
        Seed of the draws.
    weights : {"auto", "rademacher", "webb"}
        ``auto``: Webb's six-point weights with fewer than :data:`WEBB_BELOW` clusters (only
        ``2^G`` distinct Rademacher draws exist), Rademacher otherwise.
    enumerate_all : bool
        Every one of the ``2^G`` Rademacher sign vectors once (deterministic; G <= 20).

    Returns
    -------
    multipliers : numpy.ndarray
        ``B x G``.
    law : str
        ``rademacher``, ``webb`` or ``rademacher-enumerated``.
    """
    if n_clusters < 1:
        raise ValueError(f"the wild bootstrap needs at least one cluster, got {n_clusters}")
    if enumerate_all:
        if n_clusters > 20:
            raise ValueError(f"enumerating 2^{n_clusters} sign vectors is too many (G <= 20)")
        signs = np.array(list(itertools.product((-1.0, 1.0), repeat=n_clusters)))
        return signs, "rademacher-enumerated"
    if n_draws < 2:
        raise ValueError(f"n_draws must be at least 2, got {n_draws}")
    if weights not in ("auto", "rademacher", "webb"):
        raise ValueError(f"weights must be 'auto', 'rademacher' or 'webb', got {weights!r}")
    law = weights if weights != "auto" else ("webb" if n_clusters < WEBB_BELOW else "rademacher")
    rng = np.random.default_rng(seed)
    if law == "webb":
        return _WEBB[rng.integers(0, 6, size=(n_draws, n_clusters))], law
    return rng.integers(0, 2, size=(n_draws, n_clusters)) * 2.0 - 1.0, law


def studentised_draws(
    sums: np.ndarray,
    part_sums: np.ndarray,
    arm_sums: np.ndarray,
    multipliers: np.ndarray,
    chunk: int = 1_000,
) -> np.ndarray:
    """Bootstrap studentised statistics ``t*`` of one or more aggregate terms.

    Parameters
    ----------
    sums : numpy.ndarray
        ``G x m``: cluster sums of each term's influence function.
    part_sums : numpy.ndarray
        ``P x G x m``: cluster sums of the part of each term's influence function carried by
        each re-centring set ``p`` (the parts add up to ``sums``).
    arm_sums : numpy.ndarray
        ``P x G``: cluster sums of the re-centring weights ``r_p`` (each set's sum to one).
    multipliers : numpy.ndarray
        ``B x G`` cluster weights (:func:`cluster_multipliers`).
    chunk : int
        Draws processed at once (memory bound).

    Returns
    -------
    numpy.ndarray
        ``B x m``: ``T* / sqrt(sum_c S*_c^2)`` with ``T* = sum_c v_c S_c`` and
        ``S*_c = v_c S_c - sum_p R_pc sum_c' v_c' S_pc'``; ``+/-inf`` when a draw's standard
        error is zero and ``T*`` is not, 0 when both are.
    """
    sums = np.asarray(sums, float)
    if sums.ndim == 1:
        sums = sums[:, None]
    part_sums = np.asarray(part_sums, float).reshape(-1, *sums.shape)
    arm_sums = np.asarray(arm_sums, float).reshape(len(part_sums), sums.shape[0])
    # Sets with the same cluster sums of re-centring weights shift the same clusters alike:
    # merging them (their parts added) is exact and leaves far fewer sets (one per cohort,
    # one per distinct comparison group, the cohort shares).
    arm_sums, inverse = np.unique(arm_sums, axis=0, return_inverse=True)
    merged = np.zeros((len(arm_sums), *sums.shape))
    np.add.at(merged, inverse.ravel(), part_sums)
    part_sums = merged
    v = np.asarray(multipliers, float)
    total = v @ sums  # B x m
    scale = np.empty_like(total)
    for start in range(0, len(v), chunk):
        block = v[start : start + chunk]
        shifts = np.tensordot(block, part_sums, axes=([1], [1]))  # b x P x m
        star = block[:, :, None] * sums[None, :, :]
        star -= np.einsum("bpm,pg->bgm", shifts, arm_sums, optimize=True)
        scale[start : start + chunk] = np.sqrt(np.sum(star**2, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = total / scale
    degenerate = np.where(total == 0, 0.0, np.copysign(np.inf, total))
    return np.where(scale > 0, out, degenerate)


def symmetric_critical_value(t_star: np.ndarray, alpha: float) -> np.ndarray:
    """The ``1 - alpha`` quantile of ``|t*|`` over the draws (first axis; inverted CDF)."""
    return np.quantile(np.abs(t_star), 1 - alpha, axis=0, method="inverted_cdf")


def _cluster_sum(values: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum the rows (units) of ``values`` (n x ...) within clusters -> (G x ...)."""
    out = np.zeros((n_clusters, *values.shape[1:]))
    np.add.at(out, cluster, values)
    return out


# --------------------------------------------------------------------------- aggregates


@dataclass(frozen=True)
class AggregateInfluence:
    """The influence functions of an aggregate's terms, split by re-centring set.

    Attributes
    ----------
    names : list of str
        Terms, as :func:`~evaluation.estimators.staggered.aggregate` names them.
    estimate : numpy.ndarray
        ``m`` point estimates.
    influence : numpy.ndarray
        ``n x m`` influence functions (sum of the parts).
    parts : numpy.ndarray
        ``P x n x m``: for each ATT(g, t) cell its treated cohort's part and its comparison
        units' part, then the part due to estimating the cohort shares.
    arms : numpy.ndarray
        ``P x n`` re-centring weights of each set (first-period unit weights, summing to one
        over the set; the cohort-share part: ``1 / n`` for every unit).
    """

    names: list[str]
    estimate: np.ndarray
    influence: np.ndarray
    parts: np.ndarray
    arms: np.ndarray


def _arms(
    psi: np.ndarray, treated: np.ndarray, unit_weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Treated and comparison re-centring weights of each cell (``2K x n``) and the cell
    indicator rows they come from. Comparison units: the others with a non-zero influence."""
    n, k = psi.shape
    sets = np.zeros((2 * k, n))
    sets[0::2] = treated.T
    sets[1::2] = ((psi != 0) & ~treated).T
    weight = sets * unit_weight[None, :]
    total = weight.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        arms = np.where(total > 0, weight / total, 0.0)
    return arms, sets


def aggregate_influence(
    result: GroupTimeResult,
    kind: AggregationKind = "simple",
    min_e: int | None = None,
    max_e: int | None = None,
) -> AggregateInfluence:
    """Each term of :func:`~evaluation.estimators.staggered.aggregate` as a combination of the
    ATT(g, t) influence functions plus the influence of the estimated cohort shares.

    The terms, estimates and influence functions are those of ``aggregate`` (its analytic
    standard errors are ``sqrt(sum_c S_c^2) / n`` of ``influence``); see that function for
    ``kind``, ``min_e`` and ``max_e``.
    """
    table = result.att_gt
    valid = np.isfinite(table["estimate"].to_numpy())
    group = table["group"].to_numpy(float)[valid]
    time = table["time"].to_numpy(float)[valid]
    att = table["estimate"].to_numpy(float)[valid]
    psi = result.influence[:, valid]
    n, n_cells = psi.shape
    event = time - group
    lo = -np.inf if min_e is None else min_e
    hi = np.inf if max_e is None else max_e
    in_window = (group <= time) & (event >= lo) & (event <= hi)
    weight_u, group_u = result.unit_weight, result.unit_group
    glist = np.unique(group)
    pg_g = np.array([np.mean(weight_u * (group_u == g)) for g in glist])
    pg = pg_g[np.searchsorted(glist, group)]

    def cells_with_shares(keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        coef = np.zeros(n_cells)
        coef[keep] = pg[keep] / pg[keep].sum()
        return coef, _weights_influence(keep, pg, group, weight_u, group_u) @ att[keep]

    names: list[str] = []
    coefs: list[np.ndarray] = []
    shares: list[np.ndarray] = []
    if kind == "simple":
        keep = np.flatnonzero(in_window)
        if len(keep) == 0:
            raise ValueError("no post-treatment ATT(g,t) in the requested min_e/max_e window")
        head = cells_with_shares(keep)
    elif kind == "group":
        g_att = []
        for g in glist:
            keep = np.flatnonzero((group == g) & in_window)
            if len(keep) == 0:
                raise ValueError(
                    f"cohort {g:g} has no post-treatment cell in the min_e/max_e window"
                )
            coef = np.zeros(n_cells)
            coef[keep] = pg[keep] / pg[keep].sum()
            coefs.append(coef)
            shares.append(np.zeros(n))
            g_att.append(float(coef @ att))
            names.append(f"g={g:g}")
        all_g = np.arange(len(glist))
        g_wif = _weights_influence(all_g, pg_g, glist, weight_u, group_u)
        mix = pg_g / pg_g.sum()
        head = (np.column_stack(coefs) @ mix, g_wif @ np.array(g_att))
    elif kind == "dynamic":
        eseq = np.unique(event)
        eseq = eseq[(eseq >= lo) & (eseq <= hi)]
        if len(eseq) == 0:
            raise ValueError("no event times fall within the requested min_e/max_e window")
        for e in eseq:
            coef, share = cells_with_shares(np.flatnonzero(event == e))
            coefs.append(coef)
            shares.append(share)
            names.append(f"e{int(e):+d}")
        post = eseq >= 0
        if not post.any():
            raise ValueError("the min_e/max_e window holds no event time e >= 0")
        head = (
            np.column_stack(coefs)[:, post].mean(axis=1),
            np.column_stack(shares)[:, post].mean(axis=1),
        )
    elif kind == "calendar":
        for t1 in np.unique(time[time >= group.min()]):
            keep = np.flatnonzero((time == t1) & (group <= time))
            if len(keep) == 0:
                continue
            coef, share = cells_with_shares(keep)
            coefs.append(coef)
            shares.append(share)
            names.append(f"t={t1:g}")
        head = (np.column_stack(coefs).mean(axis=1), np.column_stack(shares).mean(axis=1))
    else:
        raise ValueError(f"kind must be 'simple', 'dynamic', 'group' or 'calendar', got {kind!r}")
    coef = np.column_stack([head[0], *coefs])  # K x m
    share = np.column_stack([head[1], *shares])  # n x m
    treated = group_u[:, None] == group[None, :]  # n x K
    cell_arms, sets = _arms(psi, treated, weight_u)
    # Part of each term carried by each cell's treated (even rows) and comparison (odd) units.
    cell_parts = np.repeat(psi.T, 2, axis=0)[:, :, None] * sets[:, :, None]  # 2K x n x 1
    cell_parts = cell_parts * np.repeat(coef, 2, axis=0)[:, None, :]
    parts = np.concatenate([cell_parts, share[None, :, :]], axis=0)
    arms = np.vstack([cell_arms, np.full((1, n), 1.0 / n)])
    return AggregateInfluence(
        names=["ATT", *names],
        estimate=np.concatenate([[coef[:, 0] @ att], coef[:, 1:].T @ att]),
        influence=psi @ coef + share,
        parts=parts,
        arms=arms,
    )


def wild_bootstrap_aggregate(
    result: GroupTimeResult,
    kind: AggregationKind = "simple",
    min_e: int | None = None,
    max_e: int | None = None,
    alpha: float | None = None,
    estimate: EffectEstimate | None = None,
    n_boot: int = 9_999,
    seed: int = 0,
    weights: Weights = "auto",
    uniform: bool = False,
    enumerate_all: bool = False,
) -> EffectEstimate:
    """An aggregate of ATT(g, t) with studentised wild cluster bootstrap intervals.

    Parameters
    ----------
    result : GroupTimeResult
        The group-time estimates.
    kind, min_e, max_e
        As :func:`~evaluation.estimators.staggered.aggregate`.
    alpha : float, optional
        Level of the intervals (default ``result.alpha``).
    estimate : EffectEstimate, optional
        The analytic aggregate to re-use (estimator, estimand, diagnostics kept).
    n_boot, seed : int
        Draws and seed of the cluster weights (:func:`cluster_multipliers`).
    weights : {"auto", "rademacher", "webb"}
        Law of the cluster weights.
    uniform : bool
        A simultaneous band over the per-event/cohort/period terms: the ``1 - alpha`` quantile
        of the largest ``|t*|`` across them in each draw (at least each term's own symmetric
        value), simultaneous p-values; the headline ``ATT`` stays pointwise.
    enumerate_all : bool
        Use every Rademacher sign vector instead of ``n_boot`` draws (small G).

    Returns
    -------
    EffectEstimate
        Same terms and point estimates as the analytic aggregate; standard errors are the
        analytic ones (what is studentised), intervals ``theta +/- q se`` with ``q`` the
        bootstrap critical value, p-values the share of draws with ``|t*| >= |t|``.
    """
    alpha = result.alpha if alpha is None else alpha
    full = estimate if estimate is not None else aggregate(result, kind, min_e=min_e, max_e=max_e)
    parts = aggregate_influence(result, kind, min_e=min_e, max_e=max_e)
    codes = np.asarray(result.unit_cluster, int)
    n_clusters = int(codes.max()) + 1
    n = len(codes)
    sums = _cluster_sum(parts.influence, codes, n_clusters)  # G x m
    part_sums = np.stack([_cluster_sum(p, codes, n_clusters) for p in parts.parts])
    arm_sums = np.stack([np.bincount(codes, weights=a, minlength=n_clusters) for a in parts.arms])
    v, law = cluster_multipliers(n_clusters, n_boot, seed, weights, enumerate_all)
    t_star = studentised_draws(sums, part_sums, arm_sums, v)
    se = np.sqrt(np.sum(sums**2, axis=0)) / n
    names = full.terms.index.tolist()
    order = [parts.names.index(name) for name in names]
    se, t_star = se[order], t_star[:, order]
    est = full.terms["estimate"].to_numpy(float)
    se[~np.isfinite(se) | (se <= 0)] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        t_abs = np.abs(est / se)
    crit = symmetric_critical_value(t_star, alpha)
    p_value = np.array(
        [np.mean(np.abs(t_star[:, j]) >= t_abs[j]) if np.isfinite(t_abs[j]) else np.nan
         for j in range(len(names))]
    )  # fmt: skip
    draws = len(v) if not enumerate_all else f"all {len(v)}"
    label = (
        f"{WILD_BOOTSTRAP_LABEL} ({law}, B={draws}, seed={seed}; {n_clusters} clusters by "
        f"{result.cluster_label})"
    )
    per_term = [f"{label}, pointwise"] * len(names)
    diagnostics = {**full.diagnostics, "wild_bootstrap_critical_value": float(crit[0])}
    usable = np.flatnonzero(np.isfinite(se))
    usable = usable[usable > 0]
    if uniform and len(usable):
        max_t = np.max(np.abs(t_star[:, usable]), axis=1)
        band = float(np.quantile(max_t, 1 - alpha, method="inverted_cdf"))
        crit[usable] = np.maximum(band, crit[usable])
        p_value[usable] = [np.mean(max_t >= t_abs[j]) for j in usable]
        for j in usable:
            per_term[j] = f"{label}, uniform band"
        diagnostics["uniform_critical_value"] = band
    terms = term_frame(names, est, se, est - crit * se, est + crit * se, p_value)
    terms["inference"] = per_term
    return dataclasses.replace(full, terms=terms, inference=label, diagnostics=diagnostics)


# --------------------------------------------------------------------------- size checks


def simple_att_wild_bootstrap_draws(
    y: np.ndarray,
    w: np.ndarray,
    x: np.ndarray,
    periods: np.ndarray,
    groups: np.ndarray,
    cluster: np.ndarray,
    control_group: ControlGroup = "never_treated",
    method: Method = "dr",
    n_boot: int = 9_999,
    seed: int = 0,
    alpha: float = 0.05,
    weights: Weights = "auto",
    chunk_draws: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The simple ATT, its analytic standard error and its bootstrap critical value for many
    adoption timings (the same cluster weights for every timing).

    Same inputs and estimator as :func:`evaluation.estimators.staggered.simple_att_draws` (each
    cell's two-period estimates of all timings in one batch); each timing's interval is
    ``estimate +/- critical * std_error``, equal to :func:`wild_bootstrap_aggregate`
    (``kind="simple"``) on that timing's group-time estimates.

    Parameters
    ----------
    y, w, x, periods, groups, cluster, control_group, method
        As :func:`~evaluation.estimators.staggered.simple_att_draws`.
    n_boot, seed, weights
        Cluster weights (:func:`cluster_multipliers`).
    alpha : float
        Level of the intervals.
    chunk_draws : int
        Timings estimated at once.

    Returns
    -------
    estimate, std_error, critical : numpy.ndarray
        ``S`` each (NaN for a timing some cell of which could not be estimated).
    """
    y, w, x, groups, periods, cells = placebo_cells(y, w, x, groups, periods)
    codes = np.asarray(cluster, int)
    n = y.shape[0]
    n_clusters = int(codes.max()) + 1
    v, _ = cluster_multipliers(n_clusters, n_boot, seed, weights)
    unit_weight = w[:, 0]
    group = np.array([g for g, _, _ in cells])
    cell_groups = np.unique(group)
    out = np.full((3, len(groups)), np.nan)
    for start in range(0, len(groups), chunk_draws):
        block = groups[start : start + chunk_draws]
        att = np.empty((len(block), len(cells)))
        psi = np.empty((len(block), n, len(cells)))
        for c, (g, pre, t_idx) in enumerate(cells):
            d = (block == g).astype(float)
            control = block == 0
            if control_group == "not_yet_treated":
                control |= (block > periods[t_idx]) & (block != g)
            mask = ((d > 0) | control).astype(float)
            a, p = _batch_or_one_by_one(
                y[:, t_idx] - y[:, pre], d, mask, x[:, pre], w[:, pre], method
            )
            att[:, c], psi[:, :, c] = a, n / mask.sum(axis=1)[:, None] * p
        for j, labels in enumerate(block):
            if not (np.isfinite(att[j]).all() and np.isfinite(psi[j]).all()):
                continue
            pg_g = np.array([np.mean(unit_weight * (labels == g)) for g in cell_groups])
            if not (pg_g > 0).all():
                continue
            pg = pg_g[np.searchsorted(cell_groups, group)]
            coef = pg / pg.sum()
            keep = np.arange(len(cells))
            share = _weights_influence(keep, pg, group, unit_weight, labels) @ att[j]
            cell_arms, sets = _arms(psi[j], labels[:, None] == group[None, :], unit_weight)
            parts = np.vstack([np.repeat((psi[j] * coef).T, 2, axis=0) * sets, share[None, :]])
            arms = np.vstack([cell_arms, np.full((1, n), 1.0 / n)])
            sums = _cluster_sum((psi[j] @ coef + share)[:, None], codes, n_clusters)
            se = float(np.sqrt(np.sum(sums**2)) / n)
            if not (np.isfinite(se) and se > 0):
                continue
            part_sums = _cluster_sum(parts.T, codes, n_clusters).T[..., None]  # P x G x 1
            arm_sums = _cluster_sum(arms.T, codes, n_clusters).T
            t_star = studentised_draws(sums, part_sums, arm_sums, v)
            out[:, start + j] = coef @ att[j], se, symmetric_critical_value(t_star, alpha)[0]
    return out[0], out[1], out[2]
