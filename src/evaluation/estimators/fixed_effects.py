"""Absorbing fixed effects by within-transformation (method of alternating projections).

Regressions with commune and wave fixed effects are run on demeaned data instead of with
thousands of dummy columns: by the Frisch-Waugh-Lovell theorem the slope coefficients are the
same, and the demeaning costs a few ``np.bincount`` passes over integer codes, so it stays fast
at national scale (millions of ballots). Observations alone in their fixed-effect level
(singletons) carry no information about the slopes and are dropped iteratively first, like
fixest's ``fixef_rm = "singleton"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Absorbed",
    "absorb",
    "demean",
    "factorize",
    "find_singletons",
    "nested_in_cluster",
]


@dataclass(frozen=True)
class Absorbed:
    """Demeaned columns and what was done to get them.

    Parameters
    ----------
    values : numpy.ndarray
        Demeaned columns, shape ``(n_kept, len(columns))``, rows in the order of the kept rows.
    columns : tuple of str
        Names of the demeaned columns, in the order of ``values``.
    keep : numpy.ndarray
        Boolean mask over the rows of the input frame: True for the rows used (not singletons).
    codes : numpy.ndarray
        Integer codes (0 .. levels-1) of each fixed effect on the kept rows, shape
        ``(n_kept, n_fixed_effects)``.
    n_levels : tuple of int
        Number of levels of each fixed effect on the kept rows.
    singletons_dropped : int
        Observations dropped because they were alone in a fixed-effect level.
    iterations : int
        Largest number of alternating-projection sweeps any column needed.
    converged : bool
        Whether every column met the tolerance within ``max_iter`` sweeps.
    """

    values: np.ndarray
    columns: tuple[str, ...]
    keep: np.ndarray
    codes: np.ndarray
    n_levels: tuple[int, ...]
    singletons_dropped: int
    iterations: int
    converged: bool

    def column(self, name: str) -> np.ndarray:
        """The demeaned column ``name`` (a view into ``values``)."""
        return self.values[:, self.columns.index(name)]


def factorize(frame: pd.DataFrame, fixed_effects: Sequence[str]) -> np.ndarray:
    """Integer codes 0 .. levels-1 for each fixed-effect column, shape ``(n, k)``.

    Raises
    ------
    ValueError
        If a fixed-effect column is missing or has missing values.
    """
    _check_columns(frame, fixed_effects, "fixed_effects")
    codes = np.empty((len(frame), len(fixed_effects)), dtype=np.int64)
    for j, name in enumerate(fixed_effects):
        codes[:, j] = _codes(frame[name], name)
    return codes


def _codes(column: pd.Series, name: str) -> np.ndarray:
    """Dense integer codes of one column (sorted order for integers, first-seen otherwise)."""
    if pd.api.types.is_integer_dtype(column.dtype) and len(column) and not column.hasnans:
        values = column.to_numpy(dtype=np.int64)
        low = int(values.min())
        span = int(values.max()) - low + 1
        # Integer ids in a compact range (communes, waves): O(n) relabelling with bincount
        # instead of a hash table, several times faster at millions of rows.
        if span <= 4 * len(values) + 1024:
            shifted = values - low
            present = np.bincount(shifted, minlength=span) > 0
            return (np.cumsum(present) - 1)[shifted]
    c, _ = pd.factorize(column, sort=False)
    if (c < 0).any():
        raise ValueError(f"fixed effect column {name!r} has missing values; drop those rows first.")
    return c.astype(np.int64, copy=False)


def find_singletons(codes: np.ndarray) -> np.ndarray:
    """Rows alone in a level of some fixed effect, found iteratively.

    Dropping a singleton of one fixed effect can create a new singleton in another, so the
    search repeats until no fixed effect has a level with a single observation (as fixest).

    Parameters
    ----------
    codes : numpy.ndarray
        Integer codes, shape ``(n,)`` or ``(n, k)``.

    Returns
    -------
    numpy.ndarray
        Boolean mask, True for rows to drop.
    """
    codes = np.asarray(codes)
    if codes.ndim == 1:
        codes = codes[:, None]
    n, k = codes.shape
    keep = np.ones(n, dtype=bool)
    if k == 0 or n == 0:
        return ~keep
    while True:
        changed = False
        for j in range(k):
            col = codes[:, j]
            counts = np.bincount(col[keep], minlength=int(col.max()) + 1)
            single = keep & (counts[col] == 1)
            if single.any():
                keep &= ~single
                changed = True
        # One fixed effect cannot create singletons in itself, so a full pass without a drop
        # over every fixed effect means we are done.
        if not changed or k == 1:
            break
    return ~keep


def nested_in_cluster(
    frame: pd.DataFrame, fixed_effects: Sequence[str], cluster: str
) -> dict[str, bool]:
    """Which fixed effects are nested in the cluster variable.

    A fixed effect is nested when every one of its levels lies within a single cluster (a
    commune fixed effect in commune clusters). fixest's default small-sample correction does not
    count such fixed effects in K.

    Parameters
    ----------
    frame : pandas.DataFrame
        Data without missing values in the named columns.
    fixed_effects : sequence of str
        Fixed-effect columns.
    cluster : str
        Cluster column.

    Returns
    -------
    dict of str to bool
    """
    _check_columns(frame, [*fixed_effects, cluster], "fixed_effects/cluster")
    cluster_codes = factorize(frame, [cluster])[:, 0]
    fe_codes = factorize(frame, fixed_effects)
    return {
        name: codes_nested(fe_codes[:, j], cluster_codes) for j, name in enumerate(fixed_effects)
    }


def codes_nested(fe_codes: np.ndarray, cluster_codes: np.ndarray) -> bool:
    """Whether integer-coded levels ``fe_codes`` each sit in one cluster of ``cluster_codes``."""
    if len(fe_codes) == 0:
        return True
    # Write one cluster per level (whichever write wins does not matter): the levels are
    # nested exactly when every row agrees with its level's written cluster.
    first = np.empty(int(fe_codes.max()) + 1, dtype=np.int64)
    first[fe_codes] = cluster_codes
    return bool(np.array_equal(first[fe_codes], cluster_codes))


def demean(
    x: np.ndarray,
    codes: np.ndarray,
    weights: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> tuple[np.ndarray, int, bool]:
    """Demean the columns of ``x`` on the fixed effects given by integer ``codes``.

    Alternating projections: subtract the (weighted) mean within each level of each fixed
    effect in turn, and sweep until the largest correction in a sweep is below ``tol``. With a
    single fixed effect one pass is exact.

    Parameters
    ----------
    x : numpy.ndarray
        Shape ``(n,)`` or ``(n, p)``; not modified.
    codes : numpy.ndarray
        Integer codes 0 .. levels-1, shape ``(n, k)``.
    weights : numpy.ndarray, optional
        Positive observation weights, shape ``(n,)``.
    tol : float
        Convergence tolerance on the largest absolute correction in a sweep.
    max_iter : int
        Largest number of sweeps.

    Returns
    -------
    demeaned : numpy.ndarray
        Same shape as ``x``.
    iterations : int
        Largest number of sweeps a column needed.
    converged : bool
    """
    x = np.asarray(x, dtype=np.float64)
    squeeze = x.ndim == 1
    out = np.array(x[:, None] if squeeze else x, dtype=np.float64, order="F", copy=True)
    codes = np.asarray(codes)
    if codes.ndim == 1:
        codes = codes[:, None]
    k = codes.shape[1]
    if k == 0:
        return (out[:, 0] if squeeze else out), 0, True
    cols = [np.ascontiguousarray(codes[:, j]) for j in range(k)]
    sizes = [int(c.max()) + 1 if len(c) else 0 for c in cols]
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    level_weight = [
        np.bincount(c, weights=w, minlength=m).astype(np.float64)
        for c, m in zip(cols, sizes, strict=True)
    ]
    # Levels without observations (cannot happen for codes from factorize) would divide by 0.
    for lw in level_weight:
        lw[lw == 0] = 1.0

    most_iter = 0
    converged = True
    for p in range(out.shape[1]):
        v = out[:, p]
        vw = np.empty_like(v) if w is not None else None
        done = False
        it = 0
        while it < max_iter:
            it += 1
            largest = 0.0
            for c, m, lw in zip(cols, sizes, level_weight, strict=True):
                if w is not None:
                    np.multiply(v, w, out=vw)
                    means = np.bincount(c, weights=vw, minlength=m) / lw
                else:
                    means = np.bincount(c, weights=v, minlength=m) / lw
                v -= means[c]
                largest = max(largest, float(np.max(np.abs(means))) if m else 0.0)
            if k == 1 or largest < tol:
                done = True
                break
        most_iter = max(most_iter, it)
        converged = converged and done
    return (out[:, 0] if squeeze else out), most_iter, converged


def absorb(
    frame: pd.DataFrame,
    columns: Sequence[str],
    fixed_effects: Sequence[str],
    weights: str | None = None,
    tol: float = 1e-10,
    max_iter: int = 10_000,
    drop_singletons: bool = True,
) -> Absorbed:
    """Demean ``columns`` of ``frame`` on ``fixed_effects`` by alternating projections.

    Parameters
    ----------
    frame : pandas.DataFrame
        Data without missing values in the named columns (drop them first).
    columns : sequence of str
        Numeric columns to demean (outcome, treatment, covariates).
    fixed_effects : sequence of str
        Columns whose levels are absorbed (e.g. ``["commune", "wave"]``).
    weights : str, optional
        Column of positive observation weights (e.g. ballot counts).
    tol : float
        Convergence tolerance on the largest absolute correction of a sweep.
    max_iter : int
        Largest number of sweeps per column.
    drop_singletons : bool
        Drop observations alone in a fixed-effect level, iteratively (fixest's default).

    Returns
    -------
    Absorbed
        Demeaned values of the kept rows, the kept-row mask and the singleton count.

    Raises
    ------
    ValueError
        If a column is missing, non-numeric or has missing values, or weights are not positive.
    """
    columns = list(columns)
    fixed_effects = list(fixed_effects)
    _check_columns(frame, columns, "columns")
    if weights is not None:
        _check_columns(frame, [weights], "weights")
    codes = factorize(frame, fixed_effects)
    x = _numeric(frame, columns)
    w = None if weights is None else _numeric(frame, [weights])[:, 0]
    if w is not None and not (w > 0).all():
        raise ValueError(
            f"weights column {weights!r} must be strictly positive; drop rows with zero weight."
        )
    if drop_singletons and fixed_effects:
        drop = find_singletons(codes)
    else:
        drop = np.zeros(len(frame), dtype=bool)
    keep = ~drop
    n_drop = int(drop.sum())
    if n_drop:
        codes = codes[keep]
        x = x[keep]
        w = None if w is None else w[keep]
        # Re-code so that codes stay dense after dropping levels.
        for j in range(codes.shape[1]):
            codes[:, j] = pd.factorize(codes[:, j], sort=False)[0]
    values, iterations, converged = demean(x, codes, w, tol=tol, max_iter=max_iter)
    n_levels = tuple(int(codes[:, j].max()) + 1 if len(codes) else 0 for j in range(codes.shape[1]))
    return Absorbed(
        values=values,
        columns=tuple(columns),
        keep=keep,
        codes=codes,
        n_levels=n_levels,
        singletons_dropped=n_drop,
        iterations=iterations,
        converged=converged,
    )


def _check_columns(frame: pd.DataFrame, names: Sequence[str], argument: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(frame).__name__}.")
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(
            f"{argument}: column(s) {missing} not found in the data; "
            f"available columns are {list(frame.columns)}."
        )


def _numeric(frame: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    out = np.empty((len(frame), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        col = frame[name]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise ValueError(
                f"column {name!r} must be numeric (or 0/1), got dtype {col.dtype}; "
                "convert it before estimating."
            )
        out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isnan(out[:, j]).any():
            raise ValueError(f"column {name!r} has missing values; drop those rows first.")
    return out
