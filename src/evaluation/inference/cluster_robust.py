"""Analytic cluster-robust tests of a two-way fixed-effects DiD coefficient: CRV1, CR2, CV3.

The model is the (weighted) least-squares regression

    outcome ~ treatment + covariates | unit + time

with errors clustered by ``cluster`` (the unit, i.e. the commune, by default). Three variance
estimators for the treatment coefficient are offered, each returned as a small frozen
:class:`ClusterRobustResult`:

* :func:`crv1` -- the usual sandwich with fixest's small-sample factor
  ``G/(G-1) * (N-1)/(N-K)``, K counting the regressors left after absorbing the unit effects
  (nested in the clusters) plus one for the absorbed intercept (pyfixest 0.60 default); t with
  G-1 degrees of freedom. With 14 treated communes it over-rejects.
* :func:`cr2` -- Bell-McCaffrey bias-reduced linearisation (CR2) with the Bell-McCaffrey /
  Imbens-Kolesar degrees of freedom for the treatment coefficient (working model: independent
  homoskedastic errors, i.e. clubSandwich's default for ``lm`` with ``test="Satterthwaite"``).
* :func:`cv3` -- the cluster jackknife of MacKinnon, Nielsen & Webb (2023):
  ``(G-1)/G * sum_g (b_(-g) - b)^2``, t with G-1 degrees of freedom. (pyfixest's "CRV3"
  multiplies the same sum by its CRV1 factor ``G/(G-1) (N-1)/(N-K)`` instead.)

Why the computation is exact and cheap
--------------------------------------
* **Cells.** Every regressor (treatment, wave dummies, commune-wave covariates) is constant
  within a cell of identical (unit, time, treatment, covariates) rows. Then the household-level
  regression equals the weighted regression on cell means with weights = the cell's total
  weight (ballot count if unweighted): same coefficients, same cluster scores, and -- because
  the household hat matrix maps cell-constant vectors to cell-constant vectors and is zero on
  their complement -- the same CR2 adjustment and degrees of freedom. Only N in the CRV1 factor
  must be the number of rows, which is kept. With ballot-level covariates the cells are the
  rows themselves (still exact, just slower).
* **Absorbed fixed effects.** The unit effects are nested in the clusters and are absorbed by
  weighted within-unit demeaning; wave effects enter as dummies. CR2 needs the hat matrix of
  the *full* model, whose cluster block is ``H_jj = P_j + X_j M X_j'`` with ``P_j`` the
  projection on the unit dummies inside cluster j (Pustejovsky & Tipton 2018, sec. 3.3). The
  adjustment ``A_j = (I - H_jj)^{+1/2}`` (Moore-Penrose symmetric square root; ``I - H_jj`` is
  singular along the unit dummies, where the residuals have no component) therefore reproduces
  the explicit-dummy CR2 exactly; ``tests/test_cluster_robust.py`` checks it against a dense
  dummy implementation.
* **Weights** are treated as inverse-variance weights of the working model (clubSandwich's
  convention for weighted ``lm``): the CR2 adjustment is computed in the ``sqrt(w)``-scaled space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "METHOD_LABELS",
    "ClusterRobustResult",
    "PanelDesign",
    "crv1",
    "cr2",
    "cv3",
    "panel_design",
]

#: Human-readable labels of the methods (also used by :mod:`evaluation.inference.trust`).
METHOD_LABELS: dict[str, str] = {
    "crv1": "CRV1 (fixest small-sample factor), t(G-1)",
    "cr2_bm": "CR2 (Bell-McCaffrey) with Bell-McCaffrey/Imbens-Kolesar df",
    "cv3": "CV3 cluster jackknife, t(G-1)",
    "wcr_rademacher": "wild cluster restricted bootstrap, Rademacher weights",
    "wcr_webb": "wild cluster restricted bootstrap, Webb weights",
    "ri": "randomisation inference on the CRV1 t statistic",
    "aggregated_welch": "commune-level post-minus-pre change, Welch t-test",
}

#: Eigenvalues of ``I - H_jj`` below this count as zero in the pseudo-inverse square root.
_EIGEN_TOLERANCE = 1e-10


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ClusterRobustResult:
    """A cluster-robust t-test and interval for the treatment coefficient.

    Attributes
    ----------
    method : str
        ``"crv1"``, ``"cr2_bm"`` or ``"cv3"``.
    estimate, std_error : float
        Coefficient on the treatment and its standard error.
    df : float
        Degrees of freedom of the reference t distribution.
    t_stat, p_value : float
        t statistic of ``estimate - null_value`` and its two-sided p-value.
    conf_low, conf_high : float
        ``1 - alpha`` confidence interval.
    n_obs, n_clusters, n_treated_clusters : int
        Rows used, clusters, clusters with at least one treated row.
    alpha, null_value : float
        Settings used.
    """

    method: str
    estimate: float
    std_error: float
    df: float
    t_stat: float
    p_value: float
    conf_low: float
    conf_high: float
    n_obs: int
    n_clusters: int
    n_treated_clusters: int
    alpha: float = 0.05
    null_value: float = 0.0

    def label(self) -> str:
        """One line saying how the test was computed (printed beside tables)."""
        return f"{METHOD_LABELS.get(self.method, self.method)}; df = {self.df:.1f}; G = {self.n_clusters}, treated G = {self.n_treated_clusters}"


def _result(
    method: str,
    estimate: float,
    se: float,
    df: float,
    design: PanelDesign,
    alpha: float,
    null_value: float,
) -> ClusterRobustResult:
    if not (np.isfinite(se) and se > 0 and np.isfinite(df) and df > 0):
        t_stat = p_value = low = high = math.nan
    else:
        t_stat = (estimate - null_value) / se
        p_value = float(2 * stats.t.sf(abs(t_stat), df))
        crit = float(stats.t.ppf(1 - alpha / 2, df))
        low, high = estimate - crit * se, estimate + crit * se
    return ClusterRobustResult(
        method=method,
        estimate=float(estimate),
        std_error=float(se),
        df=float(df),
        t_stat=float(t_stat),
        p_value=float(p_value),
        conf_low=float(low),
        conf_high=float(high),
        n_obs=design.n_obs,
        n_clusters=design.n_clusters,
        n_treated_clusters=design.n_treated_clusters,
        alpha=alpha,
        null_value=null_value,
    )


# --------------------------------------------------------------------------- design


@dataclass(frozen=True)
class PanelDesign:
    """Cell-level design of the two-way FE DiD regression, ready for repeated fits.

    Everything that does not depend on the treatment column is computed once here, so that
    re-fitting with another treatment assignment (randomisation inference, size simulations)
    costs a few small matrix products.

    Attributes
    ----------
    y, w, d : numpy.ndarray
        Cell mean outcome (weighted), cell weight (sum of row weights), cell treatment.
    unit, time, cluster : numpy.ndarray
        Integer codes per cell (0 .. levels-1).
    unit_cluster : numpy.ndarray
        Cluster code of each unit.
    z_raw : numpy.ndarray
        Wave dummies (first wave dropped) and covariates per cell, not demeaned.
    z_names : tuple of str
        Names of the columns of ``z_raw``.
    zt : numpy.ndarray
        ``z_raw`` demeaned within unit (weighted) and scaled by ``sqrt(w)``.
    yt : numpy.ndarray
        Outcome demeaned within unit and scaled by ``sqrt(w)``.
    sw : numpy.ndarray
        ``sqrt(w)``.
    n_obs : int
        Rows of the original data used (N of the small-sample factor).
    unit_values, time_values, cluster_values : numpy.ndarray
        Original labels of the codes.
    """

    y: np.ndarray
    w: np.ndarray
    d: np.ndarray
    unit: np.ndarray
    time: np.ndarray
    cluster: np.ndarray
    unit_cluster: np.ndarray
    z_raw: np.ndarray
    z_names: tuple[str, ...]
    zt: np.ndarray
    yt: np.ndarray
    sw: np.ndarray
    n_obs: int
    unit_values: np.ndarray
    time_values: np.ndarray
    cluster_values: np.ndarray
    # Padded per-cluster layout for CR2: cell -> (cluster, position), and P_j blocks.
    position: np.ndarray
    max_cells: int
    unit_projection: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_units(self) -> int:
        return int(self.unit_values.shape[0])

    @property
    def n_clusters(self) -> int:
        return int(self.cluster_values.shape[0])

    @property
    def n_treated_clusters(self) -> int:
        return int(np.unique(self.cluster[self.d != 0]).shape[0])

    @property
    def n_params(self) -> int:
        """K of the fixest factor: treatment + wave dummies + covariates + absorbed intercept."""
        return 1 + self.z_raw.shape[1] + 1

    def within(self, x: np.ndarray) -> np.ndarray:
        """Weighted within-unit demeaning of cell-level column(s) ``x`` (not scaled)."""
        x = np.asarray(x, dtype=np.float64)
        wsum = np.bincount(self.unit, weights=self.w, minlength=self.n_units)
        if x.ndim == 1:
            means = np.bincount(self.unit, weights=self.w * x, minlength=self.n_units) / wsum
            return x - means[self.unit]
        out = np.empty_like(x)
        for j in range(x.shape[1]):
            means = np.bincount(self.unit, weights=self.w * x[:, j], minlength=self.n_units)
            out[:, j] = x[:, j] - (means / wsum)[self.unit]
        return out

    def with_outcome(self, y: np.ndarray) -> PanelDesign:
        """The same design with another cell-level outcome (e.g. the effect removed)."""
        y = np.asarray(y, dtype=np.float64)
        return _replace(self, y=y, yt=self.sw * self.within(y))


def _replace(design: PanelDesign, **changes: object) -> PanelDesign:
    values = {name: getattr(design, name) for name in design.__dataclass_fields__}
    values.update(changes)
    return PanelDesign(**values)  # type: ignore[arg-type]


def _check_columns(data: pd.DataFrame, columns: dict[str, str | None]) -> None:
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    missing = {arg: col for arg, col in columns.items() if col is not None and col not in data}
    if missing:
        raise ValueError(
            f"column(s) not found in the data: {missing} (argument: column); available columns: "
            f"{list(data.columns)}. Pass the names of existing columns."
        )


def panel_design(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    cluster: str | None = None,
    weights: str | None = None,
    covariates: Sequence[str] = (),
) -> PanelDesign:
    """Collapse the data to cells and pre-compute the two-way FE design.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per ballot (or per commune-wave); rows with a missing value in a used column
        are dropped.
    outcome, treatment, unit, time : str
        Columns: numeric outcome, 0/1 treatment (pilot x post), unit (commune) and time (wave)
        identifiers.
    cluster : str, optional
        Cluster column; default ``unit``. Every unit must lie in one cluster.
    weights : str, optional
        Column of positive weights.
    covariates : sequence of str
        Numeric control columns.

    Returns
    -------
    PanelDesign

    Raises
    ------
    ValueError
        Missing columns, non-numeric or non-binary treatment, units spread over several
        clusters, non-positive weights, fewer than two clusters, a treatment that does not vary
        after removing the fixed effects, or collinear covariates.
    """
    covariates = tuple(covariates)
    cluster = cluster or unit
    _check_columns(
        data,
        {"outcome": outcome, "treatment": treatment, "unit": unit, "time": time}
        | {"cluster": cluster, "weights": weights}
        | {f"covariates[{i}]": c for i, c in enumerate(covariates)},
    )
    used = list(dict.fromkeys([outcome, treatment, unit, time, cluster, weights, *covariates]))
    used = [c for c in used if c is not None]
    frame = data[used].dropna()
    if frame.empty:
        raise ValueError(
            "no rows left after dropping rows with missing values in the used columns."
        )
    for name in [outcome, treatment, *covariates] + ([weights] if weights else []):
        if not pd.api.types.is_numeric_dtype(frame[name]) and not pd.api.types.is_bool_dtype(
            frame[name]
        ):
            raise ValueError(f"column {name!r} must be numeric, got {frame[name].dtype}.")
    d_rows = frame[treatment].to_numpy(dtype=np.float64)
    if not np.isin(d_rows, (0.0, 1.0)).all():
        raise ValueError(
            f"treatment column {treatment!r} must be 0/1 (1 = pilot commune after the pilot "
            "started); build it as pilot * post first."
        )
    w_rows = np.ones(len(frame)) if weights is None else frame[weights].to_numpy(dtype=np.float64)
    if weights is not None and not (w_rows > 0).all():
        raise ValueError(
            f"weights column {weights!r} must be strictly positive; drop zero weights."
        )

    unit_codes, unit_values = pd.factorize(frame[unit], sort=True)
    time_codes, time_values = pd.factorize(frame[time], sort=True)
    cluster_codes, cluster_values = pd.factorize(frame[cluster], sort=True)
    n_units = len(unit_values)
    unit_cluster = np.full(n_units, -1, dtype=np.int64)
    unit_cluster[unit_codes] = cluster_codes
    if not np.array_equal(unit_cluster[unit_codes], cluster_codes):
        raise ValueError(
            f"each {unit!r} must lie in a single {cluster!r}: the unit fixed effects are absorbed "
            "within clusters. Cluster at the unit level or at a coarser level (district)."
        )
    if len(cluster_values) < 2:
        raise ValueError(f"cluster column {cluster!r} has fewer than 2 clusters.")

    # Cells: rows sharing unit, time, treatment and covariates (exact collapse, see module doc).
    key = pd.DataFrame({"u": unit_codes, "t": time_codes, "d": d_rows})
    for i, c in enumerate(covariates):
        key[f"x{i}"] = frame[c].to_numpy(dtype=np.float64)
    cell_codes, _ = pd.factorize(pd.MultiIndex.from_frame(key))
    n_cells = int(cell_codes.max()) + 1
    w = np.bincount(cell_codes, weights=w_rows, minlength=n_cells)
    y = (
        np.bincount(
            cell_codes,
            weights=w_rows * frame[outcome].to_numpy(dtype=np.float64),
            minlength=n_cells,
        )
        / w
    )
    first = np.full(n_cells, -1, dtype=np.int64)
    first[cell_codes[::-1]] = np.arange(len(cell_codes))[::-1]
    u = unit_codes[first].astype(np.int64)
    tt = time_codes[first].astype(np.int64)
    d = d_rows[first]
    n_times = len(time_values)
    dummies = np.zeros((n_cells, max(n_times - 1, 0)))
    mask = tt > 0
    dummies[np.flatnonzero(mask), tt[mask] - 1] = 1.0
    cov = key.iloc[first, 3:].to_numpy(dtype=np.float64)
    z_raw = np.hstack([dummies, cov])
    z_names = tuple(f"{time}::{v}" for v in list(time_values)[1:]) + covariates

    cl = unit_cluster[u]
    sw = np.sqrt(w)
    design = PanelDesign(
        y=y,
        w=w,
        d=d,
        unit=u,
        time=tt,
        cluster=cl,
        unit_cluster=unit_cluster,
        z_raw=z_raw,
        z_names=z_names,
        zt=np.empty((n_cells, 0)),
        yt=np.empty(0),
        sw=sw,
        n_obs=len(frame),
        unit_values=np.asarray(unit_values),
        time_values=np.asarray(time_values),
        cluster_values=np.asarray(cluster_values),
        position=np.empty(0, dtype=np.int64),
        max_cells=0,
        unit_projection=np.empty((0, 0, 0)),
    )
    zt = sw[:, None] * design.within(z_raw)
    yt = sw * design.within(y)
    position, max_cells, projection = _cluster_layout(u, cl, w, len(cluster_values))
    design = _replace(
        design,
        zt=zt,
        yt=yt,
        position=position,
        max_cells=max_cells,
        unit_projection=projection,
    )
    _check_rank(design, treatment, covariates)
    return design


def _cluster_layout(
    unit: np.ndarray, cluster: np.ndarray, w: np.ndarray, n_clusters: int
) -> tuple[np.ndarray, int, np.ndarray]:
    """Position of each cell inside its cluster and the padded blocks ``P_j`` (scaled space).

    Zero padding is harmless for CR2: a padded coordinate has no regressor and no residual, so
    ``I - H_jj`` is 1 there and contributes nothing.
    """
    order = np.argsort(cluster, kind="stable")
    counts = np.bincount(cluster, minlength=n_clusters)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.empty(len(cluster), dtype=np.int64)
    position[order] = np.arange(len(cluster)) - np.repeat(starts, counts)
    max_cells = int(counts.max())
    sw = np.sqrt(w)
    unit_w = np.bincount(unit, weights=w)
    proj = np.zeros((n_clusters, max_cells, max_cells))
    # P_j[a, b] = sqrt(w_a w_b) / W_unit when cells a, b belong to the same unit.
    for g in range(n_clusters):
        idx = order[starts[g] : starts[g] + counts[g]]
        same = unit[idx][:, None] == unit[idx][None, :]
        block = np.outer(sw[idx], sw[idx]) / unit_w[unit[idx]][:, None]
        proj[g, : counts[g], : counts[g]] = np.where(same, block, 0.0)
    return position, max_cells, proj


def _check_rank(design: PanelDesign, treatment: str, covariates: Sequence[str]) -> None:
    x = np.column_stack([design.sw * design.within(design.d), design.zt])
    scale = np.sqrt((x**2).sum(axis=0))
    if scale[0] < 1e-12:
        raise ValueError(
            f"treatment {treatment!r} does not vary within units over time: it is absorbed by the "
            "unit fixed effects (no pilot commune observed both before and after the start?)."
        )
    scale[scale == 0] = 1.0
    sv = np.linalg.svd(x / scale, compute_uv=False)
    if sv[-1] < 1e-9 * sv[0]:
        raise ValueError(
            f"the treatment, wave dummies and covariates {list(covariates)} are collinear after "
            "removing the unit fixed effects; drop a covariate that is constant within communes."
        )


# --------------------------------------------------------------------------- fits


@dataclass(frozen=True)
class _Fit:
    xt: np.ndarray  # scaled, within-unit demeaned regressors, treatment first
    bread: np.ndarray  # (X'X)^-1
    beta: np.ndarray
    resid: np.ndarray  # scaled residuals sqrt(w) * e


def _fit(design: PanelDesign, d: np.ndarray | None = None) -> _Fit:
    d = design.d if d is None else d
    xt = np.column_stack([design.sw * design.within(d), design.zt])
    bread = np.linalg.inv(xt.T @ xt)
    beta = bread @ (xt.T @ design.yt)
    return _Fit(xt=xt, bread=bread, beta=beta, resid=design.yt - xt @ beta)


def _crv1_se(design: PanelDesign, fit: _Fit) -> float:
    contrast = fit.xt @ fit.bread[:, 0]  # row of (X'X)^-1 X' for the treatment
    scores = np.bincount(design.cluster, weights=contrast * fit.resid, minlength=design.n_clusters)
    g, n, k = design.n_clusters, design.n_obs, design.n_params
    ssc = g / (g - 1) * (n - 1) / (n - k)
    return float(np.sqrt(ssc * np.sum(scores**2)))


def _pad(design: PanelDesign, x: np.ndarray) -> np.ndarray:
    """Cell-level array (n_cells, ...) to the padded per-cluster layout (G, max_cells, ...)."""
    out = np.zeros((design.n_clusters, design.max_cells, *x.shape[1:]))
    out[design.cluster, design.position] = x
    return out


def _inverse_sqrt_psd(mats: np.ndarray) -> np.ndarray:
    """Moore-Penrose symmetric inverse square root of a stack of PSD matrices."""
    vals, vecs = np.linalg.eigh(mats)
    top = np.maximum(vals.max(axis=-1, keepdims=True), 1.0)
    keep = vals > _EIGEN_TOLERANCE * top
    inv = np.where(keep, 1.0 / np.sqrt(np.where(keep, vals, 1.0)), 0.0)
    return (vecs * inv[..., None, :]) @ np.swapaxes(vecs, -1, -2)


def _cr2_se_df(design: PanelDesign, fit: _Fit) -> tuple[float, float]:
    return cr2_core(
        _pad(design, fit.xt), _pad(design, fit.resid), fit.bread, design.unit_projection
    )


def cr2_core(
    xp: np.ndarray, ep: np.ndarray, bread: np.ndarray, projection: np.ndarray | None = None
) -> tuple[float, float]:
    """CR2 standard error and Bell-McCaffrey df of the first coefficient, per-cluster arrays.

    Parameters
    ----------
    xp : numpy.ndarray
        Regressors (scaled by ``sqrt(w)``, absorbed effects removed), padded per cluster,
        shape ``(G, m, K)``; the coefficient tested is the first column's.
    ep : numpy.ndarray
        Scaled residuals, shape ``(G, m)``.
    bread : numpy.ndarray
        ``(X'X)^-1``, shape ``(K, K)``.
    projection : numpy.ndarray, optional
        Projection on the absorbed dummies nested in each cluster, ``(G, m, m)``; None when
        nothing is absorbed.

    Returns
    -------
    std_error, df : float
    """
    g, m, _ = xp.shape
    proj = np.zeros((g, m, m)) if projection is None else projection
    hat = proj + xp @ bread @ np.swapaxes(xp, 1, 2)
    adjust = _inverse_sqrt_psd(np.eye(m)[None] - hat)
    contrast = xp @ bread[:, 0]  # (G, m): X_j M c
    v = np.einsum("gab,gb->ga", adjust, contrast)  # A_j X_j M c
    variance = float(np.sum(np.einsum("ga,ga->g", v, ep) ** 2))
    # Bell-McCaffrey / Imbens-Kolesar df = (sum l)^2 / sum l^2 over the eigenvalues l of
    # G'G, G_j = (I - H)[:, j] v_j. With H = P + X M X' (P block-diagonal by cluster, X
    # orthogonal to P) this N x G product collapses to diag(v_j'(I - P_j)v_j) - B' M B,
    # B_j = X_j' v_j: no N x N matrix is formed.
    pv = np.einsum("gab,gb->ga", proj, v)
    s = np.einsum("ga,ga->g", v, v - pv)
    b = np.einsum("gak,ga->gk", xp, v)
    gram = np.diag(s) - b @ bread @ b.T
    df = float(np.trace(gram) ** 2 / np.sum(gram**2))
    return math.sqrt(variance), df


def _cv3_se(design: PanelDesign, fit: _Fit) -> float:
    xp = _pad(design, fit.xt)
    yp = _pad(design, design.yt)
    xtx = fit.xt.T @ fit.xt
    xty = fit.xt.T @ design.yt
    lhs = xtx[None] - np.einsum("gak,gal->gkl", xp, xp)
    rhs = xty[None] - np.einsum("gak,ga->gk", xp, yp)
    # A leave-one-out design that is singular (e.g. the only treated cluster left out) makes
    # the jackknife undefined: report NaN rather than a pseudo-inverse's arbitrary answer.
    cond = np.linalg.cond(lhs)
    if not np.all(cond < 1e12):
        return math.nan
    beta_loo = np.linalg.solve(lhs, rhs[..., None])[..., 0, 0]
    g = design.n_clusters
    return float(np.sqrt((g - 1) / g * np.sum((beta_loo - fit.beta[0]) ** 2)))


# --------------------------------------------------------------------------- public API


def _design_from(
    data: pd.DataFrame | PanelDesign,
    outcome: str | None,
    treatment: str | None,
    unit: str | None,
    time: str | None,
    cluster: str | None,
    weights: str | None,
    covariates: Sequence[str],
) -> PanelDesign:
    if isinstance(data, PanelDesign):
        return data
    if outcome is None or treatment is None or unit is None or time is None:
        raise ValueError("outcome, treatment, unit and time column names are required.")
    return panel_design(data, outcome, treatment, unit, time, cluster, weights, covariates)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}.")


def crv1(
    data: pd.DataFrame | PanelDesign,
    outcome: str | None = None,
    treatment: str | None = None,
    unit: str | None = None,
    time: str | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
    null_value: float = 0.0,
) -> ClusterRobustResult:
    """CRV1 cluster-robust t-test of the treatment coefficient (fixest convention).

    Parameters
    ----------
    data : pandas.DataFrame or PanelDesign
        Ballot- or cell-level data, or a design from :func:`panel_design` (then the column
        arguments are ignored).
    outcome, treatment, unit, time : str
        Column names (treatment 0/1).
    cluster : str, optional
        Cluster column, default ``unit``.
    weights : str, optional
        Positive weights (WLS).
    covariates : sequence of str
        Numeric controls.
    alpha : float
        1 - confidence level.
    null_value : float
        Hypothesised coefficient.

    Returns
    -------
    ClusterRobustResult
        ``method="crv1"``; df = G - 1.
    """
    _check_alpha(alpha)
    design = _design_from(data, outcome, treatment, unit, time, cluster, weights, covariates)
    fit = _fit(design)
    se = _crv1_se(design, fit)
    return _result("crv1", fit.beta[0], se, design.n_clusters - 1, design, alpha, null_value)


def cr2(
    data: pd.DataFrame | PanelDesign,
    outcome: str | None = None,
    treatment: str | None = None,
    unit: str | None = None,
    time: str | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
    null_value: float = 0.0,
) -> ClusterRobustResult:
    """CR2 (Bell-McCaffrey) t-test with Bell-McCaffrey / Imbens-Kolesar degrees of freedom.

    Parameters are those of :func:`crv1`.

    Returns
    -------
    ClusterRobustResult
        ``method="cr2_bm"``; ``df`` is the Satterthwaite degrees of freedom of the CR2 variance
        of the treatment coefficient under independent homoskedastic errors.
    """
    _check_alpha(alpha)
    design = _design_from(data, outcome, treatment, unit, time, cluster, weights, covariates)
    fit = _fit(design)
    se, df = _cr2_se_df(design, fit)
    return _result("cr2_bm", fit.beta[0], se, df, design, alpha, null_value)


def cv3(
    data: pd.DataFrame | PanelDesign,
    outcome: str | None = None,
    treatment: str | None = None,
    unit: str | None = None,
    time: str | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
    null_value: float = 0.0,
) -> ClusterRobustResult:
    """CV3 cluster-jackknife t-test (MacKinnon, Nielsen & Webb 2023), t with G-1 df.

    Parameters are those of :func:`crv1`.

    Returns
    -------
    ClusterRobustResult
        ``method="cv3"``; NaN standard error when leaving a cluster out makes the treatment
        unidentified (e.g. a single treated cluster).
    """
    _check_alpha(alpha)
    design = _design_from(data, outcome, treatment, unit, time, cluster, weights, covariates)
    fit = _fit(design)
    se = _cv3_se(design, fit)
    return _result("cv3", fit.beta[0], se, design.n_clusters - 1, design, alpha, null_value)
