"""Callaway & Sant'Anna (2021) group-time ATTs for staggered adoption, and their aggregations.

Communes adopt the "friendly local government" model in waves: the 14 pilot communes first,
the others later. :func:`group_time_att` estimates ATT(g, t), the effect in wave ``t`` on the
communes (or households) first treated in wave ``g``, from 2x2 comparisons with units not (yet)
treated, using the Sant'Anna & Zhao (2020) doubly robust, inverse-probability-weighted or
outcome-regression estimators. :func:`aggregate` averages the ATT(g, t) into one ATT, event-time
(dynamic), cohort or calendar effects, with standard errors from the influence functions and,
on request, multiplier-bootstrap uniform confidence bands.

Conventions (they follow the R package ``did`` 2.x and its Python port ``csdid`` 0.4.3, which the
tests reproduce to 1e-6):

* ``first_treated`` is the first period a unit is treated. Never-treated units carry ``0`` or
  ``NaN`` (both accepted). A value after the last observed period (plus anticipation) is treated
  as never treated within the sample; units already treated in the first period are dropped.
* ``base_period="varying"`` compares each pre-treatment period with the one before it;
  post-treatment cells (and anticipation cells) always use the last period before ``g - a``.
  ``"universal"`` uses that last period for every cell (its own cell is 0 with no SE).
* Controls for cohort ``g`` at period ``t``: never-treated units, or (``"not_yet_treated"``) also
  units first treated after ``max(t, base) + anticipation``.
* Panels (``panel=True``): with ``allow_unbalanced_panel=False`` (the default, as in ``did``)
  units missing any period are dropped; with ``True`` an unbalanced panel is estimated with the
  repeated-cross-section estimators, keeping each unit's rows and summing its influence function
  (``did``'s behaviour). ``panel=False`` treats every row as its own sampling unit (household
  repeated cross-sections); pass ``cluster`` (e.g. the commune) for cluster-robust inference.
* Sampling weights: in panels the weight of the earlier period of each 2x2 comparison; cohort
  shares use first-period weights (panel) or the unit's mean weight (otherwise).
* Standard errors: ``sqrt(sum_c S_c^2) / n`` with ``S_c`` the sum of the influence function in
  cluster ``c`` (by unit by default), no small-sample factor. Cells that cannot be estimated
  (no controls, singular designs) are reported as NaN and left out of aggregations with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from evaluation.estimators.result import EffectEstimate, term_frame

ControlGroup = Literal["never_treated", "not_yet_treated"]
Method = Literal["dr", "ipw", "reg"]
BasePeriod = Literal["varying", "universal"]
AggregationKind = Literal["simple", "dynamic", "group", "calendar"]

#: Controls whose propensity score reaches this level are dropped from IPW/DR weights (DRDID).
TRIM_LEVEL = 0.995


@dataclass(frozen=True)
class GroupTimeResult:
    """Group-time average treatment effects and what aggregation needs.

    Attributes
    ----------
    att_gt : pandas.DataFrame
        One row per (cohort, period): ``group, time, event_time, post, estimate, std_error,
        conf_low, conf_high, p_value`` (pointwise intervals).
    influence : numpy.ndarray
        ``n_units x n_cells`` influence functions (rows follow ``unit_ids``), scaled so that the
        variance of a cell is ``sum_c (sum_{i in c} influence_i)^2 / n^2``.
    unit_ids, unit_group, unit_weight, unit_cluster : numpy.ndarray
        Per sampling unit: identifier, first-treated period (0 = never), weight used for cohort
        shares, and integer cluster code.
    """

    outcome: str
    att_gt: pd.DataFrame
    influence: np.ndarray = field(repr=False)
    unit_ids: np.ndarray = field(repr=False)
    unit_group: np.ndarray = field(repr=False)
    unit_weight: np.ndarray = field(repr=False)
    unit_cluster: np.ndarray = field(repr=False)
    control_group: str
    method: str
    base_period: str
    anticipation: int
    alpha: float
    panel: bool
    n_obs: int
    n_clusters: int
    n_treated_clusters: int
    cluster_label: str
    notes: tuple[str, ...] = ()
    diagnostics: dict[str, float] = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        return int(len(self.unit_ids))


# ---------------------------------------------------------------------------------------------
# Two-period estimators (Sant'Anna & Zhao 2020), written here so this module stands alone.
# Each returns (att, influence function per observation) with weights normalised to mean one.
# ---------------------------------------------------------------------------------------------


def _normalise(weights: np.ndarray) -> np.ndarray:
    return weights / weights.mean()


def _wls_linear_rep(
    y: np.ndarray, x: np.ndarray, w: np.ndarray, subset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fitted values of a WLS fit on ``subset`` and its asymptotic linear representation."""
    ws = w * subset
    gram = (x * ws[:, None]).T @ x
    beta = np.linalg.solve(gram, (x * ws[:, None]).T @ y)
    fitted = x @ beta
    rep = ((ws * (y - fitted))[:, None] * x) @ np.linalg.inv(gram / len(y))
    return fitted, rep


def _pscore(d: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logit propensity score (capped below one) and its asymptotic linear representation."""
    if x.shape[1] == 1:
        # Intercept-only logit: the MLE is the weighted treated share (no iterations needed).
        ps = np.full(len(d), np.sum(w * d) / np.sum(w))
    else:
        fit = sm.GLM(d, x, family=sm.families.Binomial(), freq_weights=w).fit()
        ps = np.asarray(fit.predict(), float)
    ps = np.minimum(ps, 1 - 1e-6)
    info = x.T @ ((w * ps * (1 - ps))[:, None] * x)
    rep = ((w * (d - ps))[:, None] * x) @ (np.linalg.inv(info) * len(d))
    return ps, rep


def _trim(ps: np.ndarray, d: np.ndarray) -> np.ndarray:
    keep = np.ones(len(d))
    keep[(d == 0) & (ps >= TRIM_LEVEL)] = 0.0
    return keep


def _panel_2x2(
    dy: np.ndarray, d: np.ndarray, x: np.ndarray, w: np.ndarray, method: str
) -> tuple[float, np.ndarray]:
    w = _normalise(w)
    if method == "reg":
        out, rep_or = _wls_linear_rep(dy, x, w, d == 0)
        w1 = w * d
        m1 = w1.mean()
        eta1 = np.mean(w1 * dy) / m1
        eta0 = np.mean(w1 * out) / m1
        inf_treat = (w1 * dy - w1 * eta1) / m1
        inf_cont = (w1 * out - w1 * eta0 + rep_or @ np.mean(w1[:, None] * x, axis=0)) / m1
        return eta1 - eta0, inf_treat - inf_cont
    ps, rep_ps = _pscore(d, x, w)
    trim = _trim(ps, d)
    w1 = trim * w * d
    w0 = trim * w * ps * (1 - d) / (1 - ps)
    m1, m0 = w1.mean(), w0.mean()
    if method == "ipw":
        eta1 = np.mean(w1 * dy) / m1
        eta0 = np.mean(w0 * dy) / m0
        inf_treat = (w1 * dy - w1 * eta1) / m1
        m2 = np.mean((w0 * (dy - eta0))[:, None] * x, axis=0)
        inf_cont = (w0 * dy - w0 * eta0 + rep_ps @ m2) / m0
        return eta1 - eta0, inf_treat - inf_cont
    out, rep_or = _wls_linear_rep(dy, x, w, d == 0)
    resid = dy - out
    eta1 = np.mean(w1 * resid) / m1
    eta0 = np.mean(w0 * resid) / m0
    inf_treat = (w1 * resid - w1 * eta1 - rep_or @ np.mean(w1[:, None] * x, axis=0)) / m1
    m2 = np.mean((w0 * (resid - eta0))[:, None] * x, axis=0)
    m3 = np.mean(w0[:, None] * x, axis=0)
    inf_cont = (w0 * resid - w0 * eta0 + rep_ps @ m2 - rep_or @ m3) / m0
    return eta1 - eta0, inf_treat - inf_cont


def _hajek(weight: np.ndarray, value: np.ndarray) -> tuple[float, np.ndarray]:
    """A weighted mean and its influence function."""
    m = weight.mean()
    est = np.mean(weight * value) / m
    return est, weight * (value - est) / m


def _rc_2x2(
    y: np.ndarray, post: np.ndarray, d: np.ndarray, x: np.ndarray, w: np.ndarray, method: str
) -> tuple[float, np.ndarray]:
    w = _normalise(w)
    pre = 1 - post
    if method == "reg":
        out_pre, rep_pre = _wls_linear_rep(y, x, w, (d == 0) & (pre == 1))
        out_post, rep_post = _wls_linear_rep(y, x, w, (d == 0) & (post == 1))
        w_d = w * d
        t_post, if_post = _hajek(w_d * post, y)
        t_pre, if_pre = _hajek(w_d * pre, y)
        c_est, if_c = _hajek(w_d, out_post - out_pre)
        moment = np.mean(w_d[:, None] * x, axis=0)
        if_c = if_c + (rep_post - rep_pre) @ moment / w_d.mean()
        return t_post - t_pre - c_est, if_post - if_pre - if_c
    ps, rep_ps = _pscore(d, x, w)
    trim = _trim(ps, d)
    w_t = trim * w * d
    w_c = trim * w * ps * (1 - d) / (1 - ps)
    if method == "ipw":
        parts = {}
        for name, weight in (
            ("tp", w_t * post),
            ("t0", w_t * pre),
            ("cp", w_c * post),
            ("c0", w_c * pre),
        ):
            parts[name] = _hajek(weight, y)
        att = parts["tp"][0] - parts["t0"][0] - (parts["cp"][0] - parts["c0"][0])
        m2 = [
            np.mean((weight * (y - parts[key][0]))[:, None] * x, axis=0) / weight.mean()
            for key, weight in (("cp", w_c * post), ("c0", w_c * pre))
        ]
        inf_cont = parts["cp"][1] - parts["c0"][1] + rep_ps @ (m2[0] - m2[1])
        return att, parts["tp"][1] - parts["t0"][1] - inf_cont
    # Locally efficient DR estimator for repeated cross-sections (Sant'Anna & Zhao 2020, 3.4).
    out_c0, rep_c0 = _wls_linear_rep(y, x, w, (d == 0) & (pre == 1))
    out_c1, rep_c1 = _wls_linear_rep(y, x, w, (d == 0) & (post == 1))
    out_t0, rep_t0 = _wls_linear_rep(y, x, w, (d == 1) & (pre == 1))
    out_t1, rep_t1 = _wls_linear_rep(y, x, w, (d == 1) & (post == 1))
    out_c = post * out_c1 + pre * out_c0
    resid = y - out_c
    a_t1, if_t1 = _hajek(w_t * post, resid)
    a_t0, if_t0 = _hajek(w_t * pre, resid)
    a_c1, if_c1 = _hajek(w_c * post, resid)
    a_c0, if_c0 = _hajek(w_c * pre, resid)
    a_d1, if_d1 = _hajek(w_t, out_t1 - out_c1)
    a_dt1, if_dt1 = _hajek(w_t * post, out_t1 - out_c1)
    a_d0, if_d0 = _hajek(w_t, out_t0 - out_c0)
    a_dt0, if_dt0 = _hajek(w_t * pre, out_t0 - out_c0)
    att = (a_t1 - a_t0) - (a_c1 - a_c0) + (a_d1 - a_dt1) - (a_d0 - a_dt0)

    def mean_x(weight: np.ndarray) -> np.ndarray:
        return np.mean(weight[:, None] * x, axis=0) / weight.mean()

    # Estimation effect of the control outcome regressions on the treated and control terms.
    inf_treat_or = rep_c1 @ (-mean_x(w_t * post)) - rep_c0 @ (-mean_x(w_t * pre))
    inf_cont_or = rep_c1 @ (-mean_x(w_c * post)) - rep_c0 @ (-mean_x(w_c * pre))
    m2_1 = np.mean((w_c * post * (resid - a_c1))[:, None] * x, axis=0) / np.mean(w_c * post)
    m2_0 = np.mean((w_c * pre * (resid - a_c0))[:, None] * x, axis=0) / np.mean(w_c * pre)
    inf_cont_ps = rep_ps @ (m2_1 - m2_0)
    mom_1 = mean_x(w_t) - mean_x(w_t * post)
    mom_0 = mean_x(w_t) - mean_x(w_t * pre)
    inf_or = (rep_t1 - rep_c1) @ mom_1 - (rep_t0 - rep_c0) @ mom_0
    inf_treat = if_t1 - if_t0 + inf_treat_or
    inf_cont = if_c1 - if_c0 + inf_cont_ps + inf_cont_or
    inf_eff = (if_d1 - if_dt1) - (if_d0 - if_dt0)
    return att, inf_treat - inf_cont + inf_eff + inf_or


# ---------------------------------------------------------------------------------------------
# Input preparation
# ---------------------------------------------------------------------------------------------


def _require_columns(data: pd.DataFrame, **columns: str | None) -> None:
    for argument, name in columns.items():
        if name is not None and name not in data.columns:
            raise ValueError(
                f"{argument}={name!r} is not a column of data; pass the name of an existing "
                f"column (available: {list(data.columns)[:12]} ...)"
            )


def _integer_valued(values: pd.Series, argument: str, name: str) -> np.ndarray:
    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(array)
    if np.any(finite & (np.round(array) != array)):
        raise ValueError(
            f"{argument}={name!r} must hold integer periods (waves numbered 1, 2, ...); "
            "recode the column to consecutive integers"
        )
    return array


def _last_pre_index(g: float, tlist: np.ndarray, anticipation: int) -> int | None:
    idx = np.flatnonzero(tlist + anticipation < g)
    return int(idx[-1]) if len(idx) else None


def group_time_att(
    data: pd.DataFrame,
    outcome: str,
    unit: str | None,
    time: str,
    first_treated: str,
    covariates: Sequence[str] = (),
    weights: str | None = None,
    control_group: ControlGroup = "never_treated",
    method: Method = "dr",
    base_period: BasePeriod = "varying",
    panel: bool = True,
    cluster: str | None = None,
    anticipation: int = 0,
    alpha: float = 0.05,
    allow_unbalanced_panel: bool = False,
) -> GroupTimeResult:
    """Callaway & Sant'Anna group-time average treatment effects ATT(g, t).

    Parameters
    ----------
    data : pandas.DataFrame
        Long data: one row per unit and period (panel) or per observation (cross-sections).
    outcome, unit, time, first_treated : str
        Column names. ``time`` holds integer periods (waves); ``first_treated`` the first
        treated period, 0 or NaN for never-treated units. ``unit`` may be None when
        ``panel=False`` (each row is then its own unit).
    covariates : sequence of str
        Pre-treatment covariates (numeric columns); in panels the value of the earlier period
        of each 2x2 comparison is used.
    weights : str, optional
        Sampling weights column (non-negative).
    control_group : {"never_treated", "not_yet_treated"}
    method : {"dr", "ipw", "reg"}
        Doubly robust, inverse probability weighting, or outcome regression.
    base_period : {"varying", "universal"}
    panel : bool
        True for a panel of units; False for repeated cross-sections.
    cluster : str, optional
        Cluster column (constant within unit), e.g. the commune. Default: cluster by unit.
    anticipation : int
        Number of periods before ``first_treated`` in which effects may already appear.
    alpha : float
        Level of the pointwise confidence intervals.
    allow_unbalanced_panel : bool
        Panel only: False drops units not observed in every period; True keeps them and uses
        the repeated-cross-section estimators with unit-level influence functions.

    Returns
    -------
    GroupTimeResult
    """
    _require_columns(
        data,
        outcome=outcome,
        unit=unit,
        time=time,
        first_treated=first_treated,
        weights=weights,
        cluster=cluster,
    )
    covariates = list(covariates)
    for name in covariates:
        _require_columns(data, covariates=name)
    if control_group not in ("never_treated", "not_yet_treated"):
        raise ValueError(
            f"control_group must be 'never_treated' or 'not_yet_treated', got {control_group!r}"
        )
    if method not in ("dr", "ipw", "reg"):
        raise ValueError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    if base_period not in ("varying", "universal"):
        raise ValueError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    if not (isinstance(anticipation, int | np.integer) and anticipation >= 0):
        raise ValueError(f"anticipation must be a non-negative integer, got {anticipation!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    if unit is None and panel:
        raise ValueError("unit is required when panel=True; pass the unit id column")

    notes: list[str] = []
    frame = pd.DataFrame(
        {
            "y": pd.to_numeric(data[outcome], errors="coerce").to_numpy(float),
            "t": _integer_valued(data[time], "time", time),
            "g": _integer_valued(data[first_treated], "first_treated", first_treated),
        }
    )
    frame["g"] = np.where(np.isnan(frame["g"]), 0.0, frame["g"])  # NaN = never treated
    if np.any(frame["g"] < 0):
        raise ValueError(
            f"first_treated={first_treated!r} has negative values; use the first treated "
            "period, or 0 / NaN for never-treated units"
        )
    frame["id"] = data[unit].to_numpy() if unit is not None else np.arange(len(data))
    frame["w"] = (
        1.0 if weights is None else pd.to_numeric(data[weights], errors="coerce").to_numpy(float)
    )
    frame["cl"] = data[cluster].to_numpy() if cluster is not None else frame["id"].to_numpy()
    for k, name in enumerate(covariates):
        frame[f"x{k}"] = pd.to_numeric(data[name], errors="coerce").to_numpy(float)
    xcols = [f"x{k}" for k in range(len(covariates))]

    complete = frame[["y", "t", "w", *xcols]].notna().all(axis=1) & frame["id"].notna()
    complete &= frame["cl"].notna()
    if not complete.all():
        notes.append(f"{int((~complete).sum())} rows dropped for missing values.")
        frame = frame.loc[complete].reset_index(drop=True)
    if weights is not None and (frame["w"] < 0).any():
        raise ValueError(f"weights={weights!r} must be non-negative")
    if len(frame) == 0:
        raise ValueError("no complete rows left; check outcome, time and covariate columns")

    if not panel and unit is not None and frame["id"].duplicated().any():
        raise ValueError(
            f"unit={unit!r} repeats across rows but panel=False treats each row as its own "
            "sampling unit; pass unit=None (and cluster=...) or use panel=True"
        )
    if unit is not None:
        if (frame.groupby("id")["g"].nunique() > 1).any():
            raise ValueError(
                f"first_treated={first_treated!r} varies within {unit!r}; adoption must be "
                "absorbing, with one first-treated period per unit"
            )
        if frame.duplicated(["id", "t"]).any():
            raise ValueError(
                f"({unit!r}, {time!r}) has duplicate rows; keep one row per unit and period"
            )
    if cluster is not None and unit is not None and (frame.groupby("id")["cl"].nunique() > 1).any():
        raise ValueError(
            f"cluster={cluster!r} varies within {unit!r}; pass a time-invariant cluster"
        )

    tlist = np.sort(frame["t"].unique())
    beyond = frame["g"] > tlist.max() + anticipation
    if beyond.any():
        notes.append(
            "Units first treated after the last period are counted as never treated "
            f"({frame.loc[beyond, 'id'].nunique()} units)."
        )
        frame.loc[beyond, "g"] = 0.0

    latest_g = None
    if not (frame["g"] == 0).any():
        if control_group == "never_treated":
            raise ValueError(
                "no never-treated units: use control_group='not_yet_treated' (the last cohort "
                "then serves only as a comparison group)"
            )
        latest_g = float(frame["g"].max())
        frame = frame.loc[frame["t"] < latest_g - anticipation].reset_index(drop=True)
        notes.append(
            f"No never-treated units: cohort {latest_g:g} is used only as a comparison and "
            "periods from its adoption on are dropped."
        )
        if len(frame) == 0:
            raise ValueError("no periods remain before the last cohort adopts")
        tlist = np.sort(frame["t"].unique())

    first_period = tlist[0]
    already = (frame["g"] > 0) & (frame["g"] <= first_period + anticipation)
    if already.any():
        notes.append(
            f"{frame.loc[already, 'id'].nunique()} units already treated in the first period "
            "were dropped."
        )
        frame = frame.loc[~already].reset_index(drop=True)
        tlist = np.sort(frame["t"].unique())

    use_panel_engine = panel
    if panel:
        counts = frame.groupby("id")["t"].transform("size")
        balanced = bool((counts == len(tlist)).all())
        if not balanced and not allow_unbalanced_panel:
            keep = counts == len(tlist)
            dropped = frame.loc[~keep, "id"].nunique()
            notes.append(
                f"{dropped} units not observed in every period were dropped to balance the "
                "panel (allow_unbalanced_panel=True keeps them)."
            )
            frame = frame.loc[keep].reset_index(drop=True)
            if len(frame) == 0:
                raise ValueError(
                    "balancing the panel dropped every unit; set allow_unbalanced_panel=True"
                )
        elif not balanced:
            use_panel_engine = False
            notes.append(
                "Unbalanced panel: estimated with the repeated-cross-section estimators, "
                "influence functions summed by unit."
            )

    glist = np.sort(frame["g"].unique())
    glist = glist[(glist > 0) & (glist > tlist[0] + anticipation)]
    if latest_g is not None:
        glist = glist[glist < latest_g]
    if len(glist) == 0:
        raise ValueError(
            f"first_treated={first_treated!r}: no cohort is treated within the observed periods "
            "after a pre-treatment period"
        )
    if len(tlist) < 2:
        raise ValueError(f"time={time!r}: at least two periods are needed")

    frame = frame.sort_values(["id", "t"]).reset_index(drop=True)
    unit_ids, unit_pos = np.unique(frame["id"].to_numpy(), return_inverse=True)
    n = len(unit_ids)
    first_rows = frame.groupby(unit_pos).head(1).index.to_numpy()
    unit_group = frame["g"].to_numpy()[first_rows]
    unit_cl_labels = frame["cl"].to_numpy()[first_rows]
    _, unit_cluster = np.unique(unit_cl_labels.astype(str), return_inverse=True)
    if use_panel_engine:
        unit_weight = frame["w"].to_numpy()[first_rows].astype(float)
    else:
        unit_weight = frame.groupby(unit_pos)["w"].mean().to_numpy(float)

    y_arr = frame["y"].to_numpy(float)
    t_arr = frame["t"].to_numpy(float)
    w_arr = frame["w"].to_numpy(float)
    x_arr = np.column_stack([np.ones(len(frame)), frame[xcols].to_numpy(float)])

    if use_panel_engine:
        # Wide arrays (unit x period): row order equals unit_ids because frame is sorted.
        period_pos = np.searchsorted(tlist, t_arr)
        y_wide = np.full((n, len(tlist)), np.nan)
        w_wide = np.full((n, len(tlist)), np.nan)
        x_wide = np.full((n, len(tlist), x_arr.shape[1]), np.nan)
        y_wide[unit_pos, period_pos] = y_arr
        w_wide[unit_pos, period_pos] = w_arr
        x_wide[unit_pos, period_pos] = x_arr

    universal = base_period == "universal"
    tfac = 0 if universal else 1
    cells: list[tuple[float, float, int, float]] = []
    influence: list[np.ndarray] = []
    failed: list[str] = []
    base_cells: set[int] = set()

    for g in glist:
        last_pre = _last_pre_index(g, tlist, anticipation)
        for t_i in range(len(tlist) - tfac):
            tn_idx = t_i + tfac
            tn = tlist[tn_idx]
            pret = t_i
            if universal or g - anticipation <= tn:
                if last_pre is None:
                    break
                pret = last_pre
            post = int(g <= tn)
            if universal and pret == tn_idx:
                base_cells.add(len(cells))
                cells.append((g, tn, post, 0.0))
                influence.append(np.zeros(n))
                continue
            threshold = tlist[max(t_i, pret) + tfac] + anticipation
            if control_group == "never_treated":
                is_control = unit_group == 0
            else:
                is_control = (unit_group == 0) | ((unit_group > threshold) & (unit_group != g))
            is_treated = unit_group == g
            att, inf = np.nan, np.full(n, np.nan)
            try:
                if use_panel_engine:
                    mask = is_treated | is_control
                    early = min(tn_idx, pret)
                    if is_control.any() and is_treated.any():
                        d = is_treated[mask].astype(float)
                        dy = y_wide[mask, tn_idx] - y_wide[mask, pret]
                        att, psi = _panel_2x2(
                            dy, d, x_wide[mask, early], w_wide[mask, early], method
                        )
                        inf = np.zeros(n)
                        inf[mask] = n / mask.sum() * psi
                else:
                    row_g = is_treated[unit_pos]
                    row_c = is_control[unit_pos]
                    rows = (row_g | row_c) & ((t_arr == tn) | (t_arr == tlist[pret]))
                    d = row_g[rows].astype(float)
                    p = (t_arr[rows] == tn).astype(float)
                    if (
                        min(
                            np.sum(d * p),
                            np.sum(d * (1 - p)),
                            np.sum((1 - d) * p),
                            np.sum((1 - d) * (1 - p)),
                        )
                        > 0
                    ):
                        att, psi = _rc_2x2(y_arr[rows], p, d, x_arr[rows], w_arr[rows], method)
                        inf = np.bincount(unit_pos[rows], weights=n / rows.sum() * psi, minlength=n)
            except (np.linalg.LinAlgError, ValueError, ZeroDivisionError, FloatingPointError):
                att, inf = np.nan, np.full(n, np.nan)
            if not np.isfinite(att) or not np.all(np.isfinite(inf)):
                failed.append(f"({g:g},{tn:g})")
                att, inf = np.nan, np.full(n, np.nan)
            cells.append((g, tn, post, float(att)))
            influence.append(inf)

    if failed:
        notes.append(
            "ATT(g,t) could not be estimated (no treated or comparison units, or a singular "
            f"design) for cells {', '.join(failed)}; reported as NaN."
        )
    psi_mat = np.column_stack(influence)
    table = pd.DataFrame(cells, columns=["group", "time", "post", "estimate"])
    table["group"] = table["group"].astype(int)
    table["time"] = table["time"].astype(int)
    table["event_time"] = table["time"] - table["group"]
    se = _cluster_se(psi_mat, unit_cluster)
    se[list(base_cells)] = np.nan
    se[~np.isfinite(se) | (se <= 0)] = np.nan
    z = stats.norm.ppf(1 - alpha / 2)
    table["std_error"] = se
    table["conf_low"] = table["estimate"] - z * se
    table["conf_high"] = table["estimate"] + z * se
    table["p_value"] = 2 * stats.norm.sf(np.abs(table["estimate"] / se))
    table = table[
        [
            "group",
            "time",
            "event_time",
            "post",
            "estimate",
            "std_error",
            "conf_low",
            "conf_high",
            "p_value",
        ]
    ]

    treated_units = np.isin(unit_group, glist)
    diagnostics = _pretrend_wald(table, psi_mat, unit_cluster, anticipation)
    return GroupTimeResult(
        outcome=outcome,
        att_gt=table,
        influence=psi_mat,
        unit_ids=unit_ids,
        unit_group=unit_group,
        unit_weight=unit_weight,
        unit_cluster=unit_cluster,
        control_group=control_group,
        method=method,
        base_period=base_period,
        anticipation=int(anticipation),
        alpha=float(alpha),
        panel=bool(panel),
        n_obs=int(len(frame)),
        n_clusters=int(unit_cluster.max() + 1),
        n_treated_clusters=int(len(np.unique(unit_cluster[treated_units]))),
        cluster_label=cluster if cluster is not None else (unit or "row"),
        notes=tuple(notes),
        diagnostics=diagnostics,
    )


# ---------------------------------------------------------------------------------------------
# Inference helpers
# ---------------------------------------------------------------------------------------------


def _cluster_sums(psi: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """Sum influence functions (n x k) within clusters -> (n_clusters x k)."""
    out = np.zeros((int(cluster.max()) + 1, psi.shape[1]))
    np.add.at(out, cluster, psi)
    return out


def _cluster_se(psi: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    psi = psi.reshape(len(psi), -1)
    sums = _cluster_sums(psi, cluster)
    return np.sqrt(np.sum(sums**2, axis=0)) / len(psi)


def _pretrend_wald(
    table: pd.DataFrame, psi: np.ndarray, cluster: np.ndarray, anticipation: int
) -> dict[str, float]:
    """Wald test that every estimable pre-treatment ATT(g, t) is zero (as ``did``'s pre-test)."""
    pre = np.flatnonzero(
        (table["group"].to_numpy() - anticipation > table["time"].to_numpy())
        & np.isfinite(table["std_error"].to_numpy())
    )
    if len(pre) == 0:
        return {}
    sums = _cluster_sums(psi[:, pre], cluster)
    n = len(psi)
    cov = sums.T @ sums / n**2
    est = table["estimate"].to_numpy()[pre]
    if np.linalg.cond(cov, 1) >= 1 / np.finfo(float).eps:
        return {"pretrend_df": float(len(pre))}
    wald = float(est @ np.linalg.solve(cov, est))
    return {
        "pretrend_wald": wald,
        "pretrend_df": float(len(pre)),
        "pretrend_p_value": float(stats.chi2.sf(wald, len(pre))),
    }


def _multiplier_draws(
    sums: np.ndarray, n: int, n_boot: int, seed: int, multiplier: str
) -> np.ndarray:
    """Bootstrap draws of the estimator's deviation: ``V @ S / n`` with cluster multipliers V."""
    rng = np.random.default_rng(seed)
    shape = (n_boot, sums.shape[0])
    if multiplier == "mammen":
        root5 = np.sqrt(5.0)
        low = rng.random(shape) < (root5 + 1) / (2 * root5)
        v = np.where(low, (1 - root5) / 2, (1 + root5) / 2)
    else:
        v = rng.integers(0, 2, size=shape) * 2.0 - 1.0
    return v @ sums / n


def _weights_influence(
    keep: np.ndarray,
    pg: np.ndarray,
    group: np.ndarray,
    unit_weight: np.ndarray,
    unit_group: np.ndarray,
) -> np.ndarray:
    """Influence of estimating the cohort-share weights (``did``'s ``wif``), n x len(keep)."""
    pk = pg[keep]
    total = pk.sum()
    numerator = unit_weight[:, None] * (unit_group[:, None] == group[keep][None, :]) - pk
    return numerator / total - np.outer(numerator.sum(axis=1), pk / total**2)


def _combine(
    att: np.ndarray,
    psi: np.ndarray,
    keep: np.ndarray,
    weights: np.ndarray,
    wif: np.ndarray | None,
) -> tuple[float, np.ndarray]:
    est = float(np.sum(att[keep] * weights))
    inf = psi[:, keep] @ weights
    if wif is not None:
        inf = inf + wif @ att[keep]
    return est, inf


def aggregate(
    result: GroupTimeResult,
    kind: AggregationKind = "simple",
    min_e: int | None = None,
    max_e: int | None = None,
    bootstrap: bool = False,
    n_boot: int = 999,
    seed: int = 0,
    multiplier: Literal["mammen", "rademacher"] = "mammen",
) -> EffectEstimate:
    """Aggregate ATT(g, t) into one ATT, event-time, cohort or calendar effects.

    Parameters
    ----------
    result : GroupTimeResult
        From :func:`group_time_att`.
    kind : {"simple", "dynamic", "group", "calendar"}
        ``simple``: post-treatment cells weighted by cohort size (term ``ATT``). ``dynamic``:
        ATT(e) by event time (terms ``e-2``, ``e+0``, ``e+3``), headline ``ATT`` = mean over
        e >= 0. ``group``: average post effect of each cohort (``g=5``), headline weighted by
        cohort size. ``calendar``: by period (``t=7``), headline = mean over periods.
    min_e, max_e : int, optional
        Event-time window (ignored for ``calendar``, as in ``did``).
    bootstrap : bool
        Multiplier bootstrap (clustered like the analytic SEs): bootstrap SEs (scaled
        interquartile range, as ``did``) and, for the per-event/cohort/period terms, a uniform
        (simultaneous) confidence band with simultaneous p-values (share of bootstrap max-|t|
        draws at least as large as the term's |t|). The headline ``ATT`` stays pointwise.
    n_boot, seed, multiplier
        Bootstrap draws, seed, and multiplier law (Mammen two-point, or Rademacher).

    Returns
    -------
    EffectEstimate
        Estimator ``cs_<kind>``; diagnostics carry the pre-trend Wald test of the ATT(g, t).
    """
    if kind not in ("simple", "dynamic", "group", "calendar"):
        raise ValueError(f"kind must be 'simple', 'dynamic', 'group' or 'calendar', got {kind!r}")
    if multiplier not in ("mammen", "rademacher"):
        raise ValueError(f"multiplier must be 'mammen' or 'rademacher', got {multiplier!r}")
    if bootstrap and n_boot < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    table = result.att_gt
    notes = list(result.notes)
    valid = np.isfinite(table["estimate"].to_numpy())
    if not valid.all():
        notes.append(f"{int((~valid).sum())} ATT(g,t) cells without an estimate were left out.")
    group = table["group"].to_numpy(float)[valid]
    time = table["time"].to_numpy(float)[valid]
    att = table["estimate"].to_numpy(float)[valid]
    psi = result.influence[:, valid]
    event = time - group
    lo = -np.inf if min_e is None else min_e
    hi = np.inf if max_e is None else max_e
    in_window = (group <= time) & (event >= lo) & (event <= hi)
    weight_u, group_u = result.unit_weight, result.unit_group
    glist = np.unique(group)
    pg_g = np.array([np.mean(weight_u * (group_u == g)) for g in glist])
    pg = pg_g[np.searchsorted(glist, group)]

    names: list[str] = []
    estimates: list[float] = []
    infs: list[np.ndarray] = []
    headline: tuple[float, np.ndarray]

    if kind == "simple":
        keep = np.flatnonzero(in_window)
        if len(keep) == 0:
            raise ValueError("no post-treatment ATT(g,t) in the requested min_e/max_e window")
        wts = pg[keep] / pg[keep].sum()
        headline = _combine(
            att, psi, keep, wts, _weights_influence(keep, pg, group, weight_u, group_u)
        )
    elif kind == "group":
        g_att, g_inf = [], []
        for g in glist:
            keep = np.flatnonzero((group == g) & in_window)
            if len(keep) == 0:
                raise ValueError(
                    f"cohort {g:g} has no post-treatment cell in the min_e/max_e window"
                )
            est, inf = _combine(att, psi, keep, pg[keep] / pg[keep].sum(), None)
            g_att.append(est)
            g_inf.append(inf)
            names.append(f"g={g:g}")
        estimates, infs = g_att, g_inf
        g_att_arr, g_inf_mat = np.array(g_att), np.column_stack(g_inf)
        all_g = np.arange(len(glist))
        wif = _weights_influence(all_g, pg_g, glist, weight_u, group_u)
        headline = _combine(g_att_arr, g_inf_mat, all_g, pg_g / pg_g.sum(), wif)
    elif kind == "dynamic":
        eseq = np.unique(event)
        eseq = eseq[(eseq >= lo) & (eseq <= hi)]
        if len(eseq) == 0:
            raise ValueError("no event times fall within the requested min_e/max_e window")
        for e in eseq:
            keep = np.flatnonzero(event == e)
            est, inf = _combine(
                att,
                psi,
                keep,
                pg[keep] / pg[keep].sum(),
                _weights_influence(keep, pg, group, weight_u, group_u),
            )
            estimates.append(est)
            infs.append(inf)
            names.append(f"e{int(e):+d}")
        post = eseq >= 0
        if not post.any():
            raise ValueError("the min_e/max_e window holds no event time e >= 0")
        e_att, e_inf = np.array(estimates)[post], np.column_stack(infs)[:, post]
        headline = (float(e_att.mean()), e_inf.mean(axis=1))
    else:
        if min_e is not None or max_e is not None:
            notes.append("min_e/max_e are ignored for calendar-time aggregation (as in did).")
        for t1 in np.unique(time[time >= group.min()]):
            keep = np.flatnonzero((time == t1) & (group <= time))
            if len(keep) == 0:
                continue
            est, inf = _combine(
                att,
                psi,
                keep,
                pg[keep] / pg[keep].sum(),
                _weights_influence(keep, pg, group, weight_u, group_u),
            )
            estimates.append(est)
            infs.append(inf)
            names.append(f"t={t1:g}")
        headline = (float(np.mean(estimates)), np.column_stack(infs).mean(axis=1))

    all_names = ["ATT", *names]
    all_est = np.array([headline[0], *estimates])
    all_inf = np.column_stack([headline[1], *infs])
    cl = result.unit_cluster
    n = result.n_units
    z = stats.norm.ppf(1 - result.alpha / 2)
    diagnostics = dict(result.diagnostics)
    if not bootstrap:
        se = _cluster_se(all_inf, cl)
        se[~np.isfinite(se) | (se <= 0)] = np.nan
        crit = np.full(len(all_est), z)
        p_value = 2 * stats.norm.sf(np.abs(all_est / se))
        inference = (
            f"analytic influence-function SEs clustered by {result.cluster_label} "
            f"({result.n_clusters} clusters), normal {100 * (1 - result.alpha):g}% intervals"
        )
        per_term = None
    else:
        sums = _cluster_sums(all_inf, cl)
        draws = _multiplier_draws(sums, n, n_boot, seed, multiplier)
        iqr = np.quantile(draws, 0.75, axis=0, method="inverted_cdf") - np.quantile(
            draws, 0.25, axis=0, method="inverted_cdf"
        )
        se = iqr / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
        se[~np.isfinite(se) | (se <= 0)] = np.nan
        crit = np.full(len(all_est), z)
        p_value = 2 * stats.norm.sf(np.abs(all_est / se))
        label = (
            f"multiplier bootstrap ({multiplier}, B={n_boot}, seed={seed}) clustered by "
            f"{result.cluster_label}"
        )
        per_term = [f"{label}, pointwise"] * len(all_est)
        if len(names) > 0:
            # Uniform band over the event-time/cohort/period terms: the (1 - alpha) quantile
            # of the largest studentised deviation across terms.
            scaled = np.abs(draws[:, 1:] / se[1:])
            # Terms without a standard error (too few units) are left out of the band; when no
            # term has one, the band is NaN, said by the page, not warned about.
            usable = ~np.all(np.isnan(scaled), axis=0)
            max_t = (
                np.max(np.where(np.isnan(scaled[:, usable]), -np.inf, scaled[:, usable]), axis=1)
                if usable.any()
                else np.full(scaled.shape[0], np.nan)
            )
            band = float(np.quantile(max_t, 1 - result.alpha, method="inverted_cdf"))
            crit[1:] = max(band, z)
            tstat = np.abs(all_est[1:] / se[1:])
            p_value[1:] = [(np.sum(max_t >= ts) + 1) / (n_boot + 1) for ts in tstat]
            per_term[1:] = [f"{label}, uniform band"] * len(names)
            diagnostics["uniform_critical_value"] = float(crit[1])
        inference = f"{label}; uniform band for the {kind} terms"
    terms = term_frame(all_names, all_est, se, all_est - crit * se, all_est + crit * se, p_value)
    if per_term is not None:
        terms["inference"] = per_term
    estimand = {
        "simple": "ATT",
        "dynamic": "ATT(e)",
        "group": "ATT(g)",
        "calendar": "ATT(t)",
    }[kind]
    return EffectEstimate(
        outcome=result.outcome,
        estimand=estimand,
        estimator=f"cs_{kind}",
        terms=terms,
        n_obs=result.n_obs,
        n_clusters=result.n_clusters,
        n_treated_clusters=result.n_treated_clusters,
        inference=inference,
        model=result,
        notes=tuple(notes),
        diagnostics=diagnostics,
    )


# ---------------------------------------------------------------------------------------------
# Many re-assignments at once: the simple ATT under placebo adoption timings (size checks)
# ---------------------------------------------------------------------------------------------


def _masked_mean(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mean over the masked units of ``values`` (S x n, zero outside the mask) -> (S,)."""
    return values.sum(axis=1) / count


def _batch_wls_rep(
    y: np.ndarray, x: np.ndarray, ws: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_wls_linear_rep` for S subsets at once: ``ws`` (S x n) are the subset weights
    (zero outside the subset), ``x`` (n x k) fixed. Returns fitted (S x n), rep (S x n x k)."""
    gram = np.einsum("sn,nj,nk->sjk", ws, x, x)
    beta = np.linalg.solve(gram, np.einsum("sn,nj->sj", ws * y[None, :], x)[..., None])[..., 0]
    fitted = beta @ x.T
    inv = np.linalg.inv(gram / count[:, None, None])
    rep = np.einsum("sn,nj,sjk->snk", ws * (y[None, :] - fitted), x, inv)
    return fitted, rep


def _batch_pscore(
    d: np.ndarray, x: np.ndarray, w: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_pscore` for S data sets at once (weighted logit by Newton's method).

    ``d`` and ``w`` are S x n (``w`` zero outside each data set), ``x`` n x k fixed.
    """
    s, n = d.shape
    k = x.shape[1]
    if k == 1:
        ps = np.repeat((np.sum(w * d, axis=1) / np.sum(w, axis=1))[:, None], n, axis=1)
    else:
        beta = np.zeros((s, k))
        for _ in range(100):
            p = 1 / (1 + np.exp(-(beta @ x.T)))
            grad = np.einsum("sn,nj->sj", w * (d - p), x)
            hess = np.einsum("sn,nj,nk->sjk", w * p * (1 - p), x, x)
            step = np.linalg.solve(hess, grad[..., None])[..., 0]
            beta = beta + step
            if np.max(np.abs(step)) < 1e-11:
                break
        ps = 1 / (1 + np.exp(-(beta @ x.T)))
    ps = np.minimum(ps, 1 - 1e-6)
    info = np.einsum("sn,nj,nk->sjk", w * ps * (1 - ps), x, x)
    inv = np.linalg.inv(info) * count[:, None, None]
    rep = np.einsum("sn,nj,sjk->snk", w * (d - ps), x, inv)
    return ps, rep


def _batch_panel_2x2(
    dy: np.ndarray, d: np.ndarray, mask: np.ndarray, x: np.ndarray, w: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_panel_2x2` for S treated/control splits of the same units at once.

    ``dy`` (n,), ``x`` (n x k) and ``w`` (n,) are fixed; ``d`` (treated) and ``mask`` (treated
    or control) are S x n 0/1 arrays. Returns the S ATTs and their influence functions (S x n,
    zero outside each mask), on the scale of :func:`_panel_2x2` (per unit of the mask).
    """
    count = mask.sum(axis=1)
    wm = w[None, :] * mask
    wn = wm / (wm.sum(axis=1) / count)[:, None]  # normalised to mean one over the mask
    dyb = dy[None, :]
    if method == "reg":
        fitted, rep_or = _batch_wls_rep(dy, x, wn * (1 - d), count)
        w1 = wn * d
        m1 = _masked_mean(w1, count)
        eta1 = _masked_mean(w1 * dyb, count) / m1
        eta0 = _masked_mean(w1 * fitted, count) / m1
        inf_treat = (w1 * dyb - w1 * eta1[:, None]) / m1[:, None]
        moment = np.einsum("sn,nj->sj", w1, x) / count[:, None]
        inf_cont = (
            w1 * fitted - w1 * eta0[:, None] + np.einsum("snk,sk->sn", rep_or, moment)
        ) / m1[:, None]
        return eta1 - eta0, (inf_treat - inf_cont) * mask
    ps, rep_ps = _batch_pscore(d, x, wn, count)
    trim = np.where((d == 0) & (ps >= TRIM_LEVEL), 0.0, 1.0)
    w1 = trim * wn * d
    w0 = trim * wn * ps * (1 - d) / (1 - ps)
    m1, m0 = _masked_mean(w1, count), _masked_mean(w0, count)
    if method == "ipw":
        eta1 = _masked_mean(w1 * dyb, count) / m1
        eta0 = _masked_mean(w0 * dyb, count) / m0
        inf_treat = (w1 * dyb - w1 * eta1[:, None]) / m1[:, None]
        m2 = np.einsum("sn,nj->sj", w0 * (dyb - eta0[:, None]), x) / count[:, None]
        inf_cont = (w0 * dyb - w0 * eta0[:, None] + np.einsum("snk,sk->sn", rep_ps, m2)) / m0[
            :, None
        ]
        return eta1 - eta0, (inf_treat - inf_cont) * mask
    fitted, rep_or = _batch_wls_rep(dy, x, wn * (1 - d), count)
    resid = dyb - fitted
    eta1 = _masked_mean(w1 * resid, count) / m1
    eta0 = _masked_mean(w0 * resid, count) / m0
    mean_w1x = np.einsum("sn,nj->sj", w1, x) / count[:, None]
    inf_treat = (w1 * resid - w1 * eta1[:, None] - np.einsum("snk,sk->sn", rep_or, mean_w1x)) / m1[
        :, None
    ]
    m2 = np.einsum("sn,nj->sj", w0 * (resid - eta0[:, None]), x) / count[:, None]
    m3 = np.einsum("sn,nj->sj", w0, x) / count[:, None]
    inf_cont = (
        w0 * resid
        - w0 * eta0[:, None]
        + np.einsum("snk,sk->sn", rep_ps, m2)
        - np.einsum("snk,sk->sn", rep_or, m3)
    ) / m0[:, None]
    return eta1 - eta0, (inf_treat - inf_cont) * mask


def _batch_or_one_by_one(
    dy: np.ndarray, d: np.ndarray, mask: np.ndarray, x: np.ndarray, w: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_batch_panel_2x2`; when one draw's design is singular, draw by draw (NaN for it)."""
    with np.errstate(all="ignore"):
        try:
            return _batch_panel_2x2(dy, d, mask, x, w, method)
        except np.linalg.LinAlgError:
            att, psi = np.full(len(d), np.nan), np.full(d.shape, np.nan)
            for j in range(len(d)):
                try:
                    a, p = _batch_panel_2x2(dy, d[j : j + 1], mask[j : j + 1], x, w, method)
                except np.linalg.LinAlgError:
                    continue
                att[j], psi[j] = a[0], p[0]
            return att, psi


def placebo_cells(
    y: np.ndarray, w: np.ndarray, x: np.ndarray, groups: np.ndarray, periods: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple]]:
    """Check a batch of placebo timings on a balanced panel and list its ATT(g, t) cells.

    Returns ``y, w, x, groups, periods`` as float arrays and the cells ``(g, base period
    index, period index)`` (base: the last period before ``g``; universal base period).

    Raises
    ------
    ValueError
        Shapes that disagree, missing values, a draw without a never-treated unit, or no
        adoption period with an earlier period.
    """
    y, w, x = np.asarray(y, float), np.asarray(w, float), np.asarray(x, float)
    groups = np.atleast_2d(np.asarray(groups, float))
    periods = np.asarray(periods, float)
    n = y.shape[0]
    if not (w.shape == y.shape and x.shape[:2] == y.shape and groups.shape[1] == n):
        raise ValueError("y, w (n x T), x (n x T x k) and groups (S x n) must agree in shape")
    if not (np.isfinite(y).all() and np.isfinite(w).all() and np.isfinite(x).all()):
        raise ValueError("y, w and x must be complete (a balanced panel without missing values)")
    if not (groups == 0).any(axis=1).all():
        raise ValueError("every draw must leave at least one never-treated unit")
    glist = np.unique(groups[groups > 0])
    cells = [
        (g, int(np.flatnonzero(periods < g)[-1]), t_idx)
        for g in glist
        if (periods < g).any()
        for t_idx in np.flatnonzero(periods >= g)
    ]
    if not cells:
        raise ValueError("no adoption period has an earlier period to compare with")
    return y, w, x, groups, periods, cells


def simple_att_draws(
    y: np.ndarray,
    w: np.ndarray,
    x: np.ndarray,
    periods: np.ndarray,
    groups: np.ndarray,
    cluster: np.ndarray,
    control_group: ControlGroup = "never_treated",
    method: Method = "dr",
    chunk_cells: int = 2_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """The simple (overall) ATT and its analytic standard error for many adoption timings.

    Equals :func:`group_time_att` (balanced panel, no anticipation, either base period: the
    simple ATT only uses post-adoption cells, which always compare with the last period before
    adoption) followed by :func:`aggregate` ``kind="simple"`` -- for every row of ``groups`` at
    once, re-using the outcome, weight and covariate arrays. Made for size checks, where the
    same units are re-assigned placebo adoption timings hundreds of times.

    Parameters
    ----------
    y, w : numpy.ndarray
        ``n_units x n_periods`` outcomes and weights of a balanced panel (no missing values).
    x : numpy.ndarray
        ``n_units x n_periods x k`` covariates, the first column the intercept (ones).
    periods : numpy.ndarray
        The ``n_periods`` integer periods, ascending.
    groups : numpy.ndarray
        ``S x n_units`` first treated period of each unit in each draw (0 = never treated).
        Every draw must leave at least one unit never treated.
    cluster : numpy.ndarray
        ``n_units`` integer cluster codes (0 .. G-1).
    control_group, method
        As in :func:`group_time_att`.
    chunk_cells : int
        Largest number of draw x unit x covariate values held at once (memory bound).

    Returns
    -------
    estimate, std_error : numpy.ndarray
        ``S`` simple ATTs and standard errors (NaN for draws where a cell could not be estimated).
    """
    y, w, x, groups, periods, cells = placebo_cells(y, w, x, groups, periods)
    n = y.shape[0]
    n_clusters = int(cluster.max()) + 1
    codes = np.asarray(cluster, int)
    unit_weight = w[:, 0]
    k = x.shape[2]
    step = max(1, chunk_cells // max(1, n * k * max(1, len(cells) // 4)))
    estimates, errors = [], []
    for start in range(0, len(groups), step):
        block = groups[start : start + step]
        s = len(block)
        never = block == 0
        att = np.empty((s, len(cells)))
        inf = np.empty((s, n, len(cells)))
        for c, (g, pre, t_idx) in enumerate(cells):
            d = (block == g).astype(float)
            control = never.copy()
            if control_group == "not_yet_treated":
                control |= (block > periods[t_idx]) & (block != g)
            mask = ((d > 0) | control).astype(float)
            dy = y[:, t_idx] - y[:, pre]
            a, psi = _batch_or_one_by_one(dy, d, mask, x[:, pre], w[:, pre], method)
            att[:, c] = a
            inf[:, :, c] = n / mask.sum(axis=1)[:, None] * psi
        cell_group = np.array([g for g, _, _ in cells])
        member = block[:, :, None] == cell_group[None, None, :]  # s x n x cells
        pg = np.mean(unit_weight[None, :, None] * member, axis=1)  # s x cells
        total = pg.sum(axis=1)
        weights = pg / total[:, None]
        est = np.sum(att * weights, axis=1)
        numerator = unit_weight[None, :, None] * member - pg[:, None, :]
        wif = (
            numerator / total[:, None, None]
            - numerator.sum(axis=2)[:, :, None] * (pg / total[:, None] ** 2)[:, None, :]
        )
        total_inf = np.einsum("snc,sc->sn", inf, weights) + np.einsum("snc,sc->sn", wif, att)
        sums = np.zeros((s, n_clusters))
        for j in range(s):
            sums[j] = np.bincount(codes, weights=total_inf[j], minlength=n_clusters)
        se = np.sqrt(np.sum(sums**2, axis=1)) / n
        bad = ~np.isfinite(att).all(axis=1) | ~np.isfinite(se) | (se <= 0)
        est[bad], se[bad] = np.nan, np.nan
        estimates.append(est)
        errors.append(se)
    return np.concatenate(estimates), np.concatenate(errors)
