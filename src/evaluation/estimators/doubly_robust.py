"""Doubly robust difference-in-differences (Sant'Anna & Zhao, 2020) for two periods.

The pilot communes were chosen for being better staffed and more urban, so a plain 2x2 DiD relies
on parallel trends holding unconditionally. The estimators here assume parallel trends only
*conditional on baseline covariates* and combine a propensity score for being a pilot commune with
outcome regressions for the comparison communes: the ATT stays consistent if either model is right.

Methods (``method=``):

``"dr"``
    The *improved*, locally efficient doubly robust estimator (R ``DRDID``: ``est_method = "imp"``,
    functions ``drdid_imp_panel`` and ``drdid_imp_rc``). The propensity score is fitted by inverse
    probability tilting (Graham, Pinto & Egel 2012): a logit index whose odds weights make the
    weighted covariate means of the comparison group equal those of the pilot group exactly. The
    comparison-group outcome regressions are WLS with those odds weights. With both choices the
    estimation of the nuisance models does not move the first-order influence function, so the
    analytic standard error is the plain variance of the influence function (doubly robust for
    inference too). We minimise the tilting loss by Newton's method started at the logit fit; R uses
    ``trust``; both converge to the unique minimiser of a convex loss.
``"dr_trad"``
    The traditional doubly robust estimator with a maximum-likelihood logit propensity score
    (R ``drdid_panel`` / ``drdid_rc``; what ``did``/``csdid`` use for ``est_method="dr"``, and the
    ``drdid`` Python package's ``drdid_panel`` / ``drdid_rc``). Its influence function carries the
    estimation effects of the logit and of the regressions.
``"ipw"``
    Standardised (Hajek) inverse probability weighting with a logit propensity score
    (``std_ipw_did_panel`` / ``std_ipw_did_rc``).
``"reg"``
    Outcome regression (Heckman, Ichimura & Todd 1997; ``reg_did_panel`` / ``reg_did_rc``).

``panel=True`` takes a unit-level two-period panel (one row per commune and period, e.g. commune
means before and after; build it with :func:`two_period_panel`); ``panel=False`` takes repeated
cross-sections (one row per household ballot) and uses the repeated cross-section estimators of
the paper (for ``"dr"`` and ``"dr_trad"`` the locally efficient versions with outcome regressions
for both groups in both periods).

Conventions, shared with R ``did`` and ``csdid`` so numbers can be compared:

* weights are normalised to mean one; an intercept is always added to the covariates;
* propensity scores are capped at ``1 - 1e-6`` and comparison units with a score at or above
  ``trim_level`` (default 0.995) get weight zero;
* the standard error is ``sqrt(sum_i psi_i^2) / n`` from the influence function ``psi``; with
  ``cluster`` the influence function is first summed within clusters: ``sqrt(sum_g S_g^2) / n``
  (no G/(G-1) factor, as in R ``did`` and ``csdid`` with ``bstrap=False``);
* confidence intervals and p-values use the normal distribution. With 14 treated communes these
  analytic intervals are somewhat too narrow; use the few-cluster inference layer for headline
  p-values (``EffectEstimate.model.influence`` holds the influence function for that).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from evaluation.estimators.result import EffectEstimate, term_frame

Method = Literal["dr", "dr_trad", "ipw", "reg"]
METHODS: tuple[str, ...] = ("dr", "dr_trad", "ipw", "reg")

#: Propensity scores are capped here so that odds weights stay finite (as in R DRDID).
_PS_CAP = 1.0 - 1e-6


@dataclass(frozen=True)
class DrdidFit:
    """What stays behind a doubly robust DiD estimate (``EffectEstimate.model``).

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    panel : bool
        Whether the panel (True) or repeated cross-section (False) estimator was used.
    influence : pandas.Series
        Influence function of the ATT, one value per unit (panel) or per row (cross-sections),
        indexed like the estimation sample. ``ATT - truth ~ mean(influence)``.
    clusters : pandas.Series or None
        Cluster label of each element of ``influence`` (None when no ``cluster`` was given).
    propensity : pandas.Series or None
        Fitted propensity score (capped), None for ``method="reg"``.
    propensity_model : object or None
        The statsmodels GLM logit results (for ``"dr"`` the logit that started the tilting).
    propensity_params : numpy.ndarray or None
        Coefficients of the propensity index actually used (tilting coefficients for ``"dr"``).
    outcome_models : dict of str to object
        statsmodels WLS results of the outcome regressions, by name (``"delta_comparison"``,
        ``"comparison_pre"``, ``"comparison_post"``, ``"pilot_pre"``, ``"pilot_post"``).
    tilting_converged : bool or None
        For ``"dr"``: whether the tilting converged (if not, the logit score was used).
    """

    method: str
    panel: bool
    influence: pd.Series
    clusters: pd.Series | None = None
    propensity: pd.Series | None = None
    propensity_model: Any = field(default=None, repr=False)
    propensity_params: np.ndarray | None = None
    outcome_models: dict[str, Any] = field(default_factory=dict, repr=False)
    tilting_converged: bool | None = None


# ---------------------------------------------------------------------------------------------
# Nuisance models
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Propensity:
    score: np.ndarray  # capped fitted probabilities
    keep: np.ndarray  # 1 for kept units, 0 for trimmed comparison units
    linear_rep: np.ndarray | None  # n x k asymptotic linear representation of the logit
    model: Any
    params: np.ndarray
    converged: bool | None = None


def _logit(d: np.ndarray, x: np.ndarray, w: np.ndarray) -> Any:
    with warnings.catch_warnings():
        # perfect separation warnings are turned into a clear error below
        warnings.simplefilter("ignore")
        res = sm.GLM(d, x, family=sm.families.Binomial(), freq_weights=w).fit()
    if not np.all(np.isfinite(res.params)):
        raise ValueError(
            "The propensity score logit did not converge to finite coefficients; a covariate "
            "probably separates pilot from comparison units. Drop or coarsen that covariate."
        )
    return res


def _trim(score: np.ndarray, d: np.ndarray, trim_level: float) -> np.ndarray:
    # Only comparison units are trimmed: a pilot unit with score near one is still a pilot unit.
    return np.where(d == 1, 1.0, (score < trim_level).astype(float))


def _logit_propensity(
    d: np.ndarray, x: np.ndarray, w: np.ndarray, trim_level: float
) -> _Propensity:
    res = _logit(d, x, w)
    score = np.minimum(1.0 / (1.0 + np.exp(-(x @ res.params))), _PS_CAP)
    n = len(d)
    # Information rebuilt from the final, capped probabilities (as R does), not statsmodels'
    # stored covariance, which may come from the previous IRLS step.
    info = x.T @ ((w * score * (1.0 - score))[:, None] * x)
    hessian_inv = _inverse(info, "propensity score") * n
    linear_rep = ((w * (d - score))[:, None] * x) @ hessian_inv
    return _Propensity(score, _trim(score, d, trim_level), linear_rep, res, np.asarray(res.params))


def _tilting_propensity(
    d: np.ndarray, x: np.ndarray, w: np.ndarray, trim_level: float, tol: float = 1e-13
) -> _Propensity:
    """Inverse probability tilting: minimise mean(w * (-d x'g + (1 - d) exp(x'g))).

    The first-order condition is ``mean(w d x) = mean(w (1 - d) exp(x'g) x)``: the odds-weighted
    comparison units reproduce the pilot units' covariate means (including the count, via the
    intercept). The loss is convex, so Newton's method with step halving finds its minimiser.
    """
    logit = _logit(d, x, w)
    gamma = np.asarray(logit.params, float).copy()
    n = len(d)
    ctrl = w * (1.0 - d)

    def loss(g: np.ndarray) -> float:
        index = x @ g
        with np.errstate(over="ignore"):
            return float(np.mean(w * (-d * index) + ctrl * np.exp(index)))

    def gradient(g: np.ndarray) -> np.ndarray:
        return (x.T @ (ctrl * np.exp(x @ g) - w * d)) / n

    current = loss(gamma)
    for _ in range(200):
        grad = gradient(gamma)
        if np.max(np.abs(grad)) < tol:
            break
        hess = x.T @ ((ctrl * np.exp(x @ gamma))[:, None] * x) / n
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        size = 1.0
        while size > 1e-10:
            candidate = gamma - size * step
            value = loss(candidate)
            if np.isfinite(value) and value <= current - 1e-4 * size * float(grad @ step):
                break
            size /= 2.0
        else:
            # No decrease left at floating-point precision: we are at the minimum (checked below).
            break
        gamma, current = candidate, value
    # Near the optimum the loss stops decreasing in floating point before the gradient reaches
    # tol; accept gradients below 1e-8 (R's trust() stops at a similar relative precision).
    converged = bool(np.all(np.isfinite(gamma)) and np.max(np.abs(gradient(gamma))) < 1e-8)
    if not converged:
        # Same fallback as R's pscore.cal when the tilting fails: the logit fit.
        gamma = np.asarray(logit.params, float)
    score = np.minimum(1.0 / (1.0 + np.exp(-(x @ gamma))), _PS_CAP)
    return _Propensity(score, _trim(score, d, trim_level), None, logit, gamma, converged)


def _inverse(matrix: np.ndarray, label: str) -> np.ndarray:
    if not np.all(np.isfinite(matrix)) or np.linalg.cond(matrix) > 1e12:
        raise ValueError(
            f"The {label} design is singular: a covariate is constant or collinear within the "
            "group used for this fit. Remove or combine covariates."
        )
    return np.linalg.inv(matrix)


def _wls(y: np.ndarray, x: np.ndarray, w: np.ndarray, mask: np.ndarray, label: str) -> Any:
    support = mask & (w > 0)
    if support.sum() < x.shape[1]:
        raise ValueError(
            f"The {label} outcome regression has {int(support.sum())} observations with positive "
            f"weight for {x.shape[1]} coefficients. Use fewer covariates."
        )
    xs = x[support]
    _inverse(xs.T @ (w[support][:, None] * xs), f"{label} outcome regression")
    return sm.WLS(y[support], xs, weights=w[support]).fit()


def _wls_linear_rep(resid: np.ndarray, x: np.ndarray, w_fit: np.ndarray) -> np.ndarray:
    """n x k asymptotic linear representation of WLS coefficients (w_fit = 0 off the subset)."""
    n = len(resid)
    gram = x.T @ (w_fit[:, None] * x) / n
    return ((w_fit * resid)[:, None] * x) @ _inverse(gram, "outcome regression")


def _require_mass(**groups: np.ndarray) -> None:
    for name, weights in groups.items():
        if not np.sum(weights) > 0:
            raise ValueError(
                f"No weight is left in the {name.replace('_', ' ')} group (after trimming "
                "propensity scores). Check the pilot/post columns or raise trim_level."
            )


# ---------------------------------------------------------------------------------------------
# Panel kernels: dy = y_post - y_pre, d = pilot, x with intercept, w normalised to mean one.
# Each returns (att, influence, propensity or None, outcome models).
# ---------------------------------------------------------------------------------------------


def _panel_reg(dy, d, x, w, trim_level):
    fit = _wls(dy, x, w, d == 0, "comparison change")
    m = x @ fit.params
    wt = w * d
    _require_mass(pilot=wt)
    eta_treat = np.mean(wt * dy) / np.mean(wt)
    eta_cont = np.mean(wt * m) / np.mean(wt)
    rep = _wls_linear_rep(dy - m, x, w * (1 - d))
    inf_treat = (wt * dy - wt * eta_treat) / np.mean(wt)
    inf_cont = (wt * m - wt * eta_cont + rep @ np.mean(wt[:, None] * x, axis=0)) / np.mean(wt)
    return eta_treat - eta_cont, inf_treat - inf_cont, None, {"delta_comparison": fit}


def _panel_ipw(dy, d, x, w, trim_level):
    ps = _logit_propensity(d, x, w, trim_level)
    p = ps.score
    wt = ps.keep * w * d
    wc = ps.keep * w * p * (1 - d) / (1 - p)
    _require_mass(pilot=wt, comparison=wc)
    eta_treat = np.mean(wt * dy) / np.mean(wt)
    eta_cont = np.mean(wc * dy) / np.mean(wc)
    inf_treat = (wt * dy - wt * eta_treat) / np.mean(wt)
    moment = np.mean((wc * (dy - eta_cont))[:, None] * x, axis=0)
    inf_cont = (wc * dy - wc * eta_cont + ps.linear_rep @ moment) / np.mean(wc)
    return eta_treat - eta_cont, inf_treat - inf_cont, ps, {}


def _panel_dr_trad(dy, d, x, w, trim_level):
    ps = _logit_propensity(d, x, w, trim_level)
    p = ps.score
    fit = _wls(dy, x, w, d == 0, "comparison change")
    resid = dy - x @ fit.params
    wt = ps.keep * w * d
    wc = ps.keep * w * p * (1 - d) / (1 - p)
    _require_mass(pilot=wt, comparison=wc)
    eta_treat = np.mean(wt * resid) / np.mean(wt)
    eta_cont = np.mean(wc * resid) / np.mean(wc)
    rep_or = _wls_linear_rep(resid, x, w * (1 - d))
    inf_treat = (wt * resid - wt * eta_treat - rep_or @ np.mean(wt[:, None] * x, axis=0)) / np.mean(
        wt
    )
    m_ps = np.mean((wc * (resid - eta_cont))[:, None] * x, axis=0)
    m_or = np.mean(wc[:, None] * x, axis=0)
    inf_cont = (wc * resid - wc * eta_cont + ps.linear_rep @ m_ps - rep_or @ m_or) / np.mean(wc)
    return eta_treat - eta_cont, inf_treat - inf_cont, ps, {"delta_comparison": fit}


def _panel_dr(dy, d, x, w, trim_level):
    ps = _tilting_propensity(d, x, w, trim_level)
    p = ps.score
    odds = p / (1 - p)
    fit = _wls(dy, x, w * odds, d == 0, "comparison change")
    resid = dy - x @ fit.params
    wt = w * d
    wc = ps.keep * w * odds * (1 - d)
    _require_mass(pilot=wt, comparison=wc)
    # Tilting makes mean(wc) = mean(wt), so no separate normalisation of the comparison term.
    summand = (wt - wc) * resid
    att = np.mean(summand) / np.mean(wt)
    influence = (summand - wt * att) / np.mean(wt)
    return att, influence, ps, {"delta_comparison": fit}


# ---------------------------------------------------------------------------------------------
# Repeated cross-section kernels: y, t = post, d = pilot.
# ---------------------------------------------------------------------------------------------


def _mean_part(weight: np.ndarray, value: np.ndarray) -> tuple[float, np.ndarray]:
    """Hajek mean of ``value`` under ``weight`` and its influence function."""
    scale = np.mean(weight)
    summand = weight * value / scale
    estimate = float(np.mean(summand))
    return estimate, summand - weight * estimate / scale


def _rc_reg(y, t, d, x, w, trim_level):
    pre = _wls(y, x, w, (d == 0) & (t == 0), "comparison pre-period")
    post = _wls(y, x, w, (d == 0) & (t == 1), "comparison post-period")
    m_pre, m_post = x @ pre.params, x @ post.params
    wt_pre, wt_post, wt = w * d * (1 - t), w * d * t, w * d
    _require_mass(pilot_pre_period=wt_pre, pilot_post_period=wt_post)
    a_pre, inf_pre = _mean_part(wt_pre, y)
    a_post, inf_post = _mean_part(wt_post, y)
    a_cont, inf_cont = _mean_part(wt, m_post - m_pre)
    rep_pre = _wls_linear_rep(y - m_pre, x, w * (d == 0) * (t == 0))
    rep_post = _wls_linear_rep(y - m_post, x, w * (d == 0) * (t == 1))
    moment = np.mean(wt[:, None] * x, axis=0) / np.mean(wt)
    inf_cont = inf_cont + (rep_post - rep_pre) @ moment
    models = {"comparison_pre": pre, "comparison_post": post}
    return a_post - a_pre - a_cont, inf_post - inf_pre - inf_cont, None, models


def _rc_ipw(y, t, d, x, w, trim_level):
    ps = _logit_propensity(d, x, w, trim_level)
    p, k = ps.score, ps.keep
    wt_pre, wt_post = k * w * d * (1 - t), k * w * d * t
    wc_pre = k * w * p * (1 - d) * (1 - t) / (1 - p)
    wc_post = k * w * p * (1 - d) * t / (1 - p)
    _require_mass(
        pilot_pre_period=wt_pre,
        pilot_post_period=wt_post,
        comparison_pre_period=wc_pre,
        comparison_post_period=wc_post,
    )
    a_tpre, i_tpre = _mean_part(wt_pre, y)
    a_tpost, i_tpost = _mean_part(wt_post, y)
    a_cpre, i_cpre = _mean_part(wc_pre, y)
    a_cpost, i_cpost = _mean_part(wc_post, y)
    m_pre = np.mean((wc_pre * (y - a_cpre))[:, None] * x, axis=0) / np.mean(wc_pre)
    m_post = np.mean((wc_post * (y - a_cpost))[:, None] * x, axis=0) / np.mean(wc_post)
    inf_cont = i_cpost - i_cpre + ps.linear_rep @ (m_post - m_pre)
    att = (a_tpost - a_tpre) - (a_cpost - a_cpre)
    return att, (i_tpost - i_tpre) - inf_cont, ps, {}


def _rc_dr_common(y, t, d, x, w, ps, fits, trim_applies_to_treated):
    """Locally efficient DR for repeated cross-sections, given propensity and four regressions."""
    p, k = ps.score, ps.keep
    m_cpre, m_cpost = x @ fits["comparison_pre"].params, x @ fits["comparison_post"].params
    m_tpre, m_tpost = x @ fits["pilot_pre"].params, x @ fits["pilot_post"].params
    m_c = t * m_cpost + (1 - t) * m_cpre
    kt = k if trim_applies_to_treated else np.ones_like(k)
    wt_pre, wt_post = kt * w * d * (1 - t), kt * w * d * t
    wc_pre = k * w * p * (1 - d) * (1 - t) / (1 - p)
    wc_post = k * w * p * (1 - d) * t / (1 - p)
    w_d = kt * w * d
    _require_mass(
        pilot_pre_period=wt_pre,
        pilot_post_period=wt_post,
        comparison_pre_period=wc_pre,
        comparison_post_period=wc_post,
    )
    resid = y - m_c
    parts = {
        "treat_pre": _mean_part(wt_pre, resid),
        "treat_post": _mean_part(wt_post, resid),
        "cont_pre": _mean_part(wc_pre, resid),
        "cont_post": _mean_part(wc_post, resid),
        "d_post": _mean_part(w_d, m_tpost - m_cpost),
        "dt1_post": _mean_part(wt_post, m_tpost - m_cpost),
        "d_pre": _mean_part(w_d, m_tpre - m_cpre),
        "dt0_pre": _mean_part(wt_pre, m_tpre - m_cpre),
    }
    a = {key: v[0] for key, v in parts.items()}
    i = {key: v[1] for key, v in parts.items()}
    att = (
        (a["treat_post"] - a["treat_pre"])
        - (a["cont_post"] - a["cont_pre"])
        + (a["d_post"] - a["dt1_post"])
        - (a["d_pre"] - a["dt0_pre"])
    )
    influence = (
        (i["treat_post"] - i["treat_pre"])
        - (i["cont_post"] - i["cont_pre"])
        + (i["d_post"] - i["dt1_post"])
        - (i["d_pre"] - i["dt0_pre"])
    )
    weights = {"wt_pre": wt_pre, "wt_post": wt_post, "wc_pre": wc_pre, "wc_post": wc_post}
    return att, influence, a, weights, resid, w_d


def _rc_fits(y, t, d, x, w_comparison, w_pilot):
    return {
        "comparison_pre": _wls(y, x, w_comparison, (d == 0) & (t == 0), "comparison pre-period"),
        "comparison_post": _wls(y, x, w_comparison, (d == 0) & (t == 1), "comparison post-period"),
        "pilot_pre": _wls(y, x, w_pilot, (d == 1) & (t == 0), "pilot pre-period"),
        "pilot_post": _wls(y, x, w_pilot, (d == 1) & (t == 1), "pilot post-period"),
    }


def _rc_dr_trad(y, t, d, x, w, trim_level):
    ps = _logit_propensity(d, x, w, trim_level)
    fits = _rc_fits(y, t, d, x, w, w)
    att, influence, a, wts, resid, w_d = _rc_dr_common(y, t, d, x, w, ps, fits, True)
    wt_pre, wt_post, wc_pre, wc_post = wts["wt_pre"], wts["wt_post"], wts["wc_pre"], wts["wc_post"]
    reps = {
        name: _wls_linear_rep(y - x @ fit.params, x, w * mask)
        for name, fit, mask in (
            ("cpre", fits["comparison_pre"], (d == 0) & (t == 0)),
            ("cpost", fits["comparison_post"], (d == 0) & (t == 1)),
            ("tpre", fits["pilot_pre"], (d == 1) & (t == 0)),
            ("tpost", fits["pilot_post"], (d == 1) & (t == 1)),
        )
    }

    def mom(weight: np.ndarray, extra: np.ndarray | float = 1.0) -> np.ndarray:
        return np.mean((weight * extra)[:, None] * x, axis=0) / np.mean(weight)

    # Estimation effects of the comparison regressions on the pilot and comparison terms.
    inf_treat_or = reps["cpost"] @ (-mom(wt_post, t)) - reps["cpre"] @ (-mom(wt_pre, 1 - t))
    inf_cont_or = reps["cpost"] @ (-mom(wc_post, t)) - reps["cpre"] @ (-mom(wc_pre, 1 - t))
    m_ps_pre = mom(wc_pre, resid - a["cont_pre"])
    m_ps_post = mom(wc_post, resid - a["cont_post"])
    inf_cont_ps = ps.linear_rep @ (m_ps_post - m_ps_pre)
    # Estimation effects of all four regressions on the efficiency terms.
    scaled_d = w_d / np.mean(w_d)
    mom_post = np.mean((scaled_d - wt_post / np.mean(wt_post))[:, None] * x, axis=0)
    mom_pre = np.mean((scaled_d - wt_pre / np.mean(wt_pre))[:, None] * x, axis=0)
    inf_or = (reps["tpost"] - reps["cpost"]) @ mom_post - (reps["tpre"] - reps["cpre"]) @ mom_pre
    influence = influence + inf_treat_or - inf_cont_or - inf_cont_ps + inf_or
    return att, influence, ps, fits


def _rc_dr(y, t, d, x, w, trim_level):
    ps = _tilting_propensity(d, x, w, trim_level)
    odds = ps.score / (1 - ps.score)
    fits = _rc_fits(y, t, d, x, w * odds, w)
    # Tilting and odds-weighted regressions remove the first-order estimation effects (R DRDID
    # drdid_imp_rc keeps only the leading terms of the influence function as well).
    att, influence, *_ = _rc_dr_common(y, t, d, x, w, ps, fits, False)
    return att, influence, ps, fits


_PANEL_KERNELS = {"dr": _panel_dr, "dr_trad": _panel_dr_trad, "ipw": _panel_ipw, "reg": _panel_reg}
_RC_KERNELS = {"dr": _rc_dr, "dr_trad": _rc_dr_trad, "ipw": _rc_ipw, "reg": _rc_reg}


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def _check_columns(data: pd.DataFrame, columns: dict[str, str | None]) -> None:
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    for argument, column in columns.items():
        if column is not None and column not in data.columns:
            raise ValueError(
                f"{argument}={column!r} is not a column of data; pass the name of an existing "
                f"column (columns are: {', '.join(map(str, data.columns[:20]))})"
            )


def _binary(values: pd.Series, name: str) -> np.ndarray:
    numeric = pd.to_numeric(values, errors="coerce")
    array = numeric.to_numpy(dtype=float)
    if numeric.isna().any() or not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(
            f"column {name!r} must hold only 0 and 1 (got {sorted(pd.unique(values))[:6]}); "
            "code it as an integer 0/1 indicator"
        )
    return array


def _constant_within(frame: pd.DataFrame, unit: str, column: str) -> None:
    varying = frame.groupby(unit, sort=False)[column].nunique(dropna=False) > 1
    if varying.any():
        example = varying[varying].index[0]
        raise ValueError(
            f"column {column!r} must be constant within each {unit!r} for the panel estimator, "
            f"but varies within {unit}={example!r}; use a baseline value per unit"
        )


def drdid(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    post: str,
    pilot: str,
    covariates: Sequence[str] = (),
    weights: str | None = None,
    method: Method = "dr",
    panel: bool = True,
    cluster: str | None = None,
    alpha: float = 0.05,
    trim_level: float = 0.995,
) -> EffectEstimate:
    """Doubly robust DiD estimate of the ATT of the pilot for two periods (Sant'Anna & Zhao 2020).

    Parameters
    ----------
    data : pandas.DataFrame
        Long data. ``panel=True``: one row per unit and period (two rows per unit). ``panel=False``:
        one row per observation (ballot) in either period.
    outcome : str
        Outcome column (numeric).
    unit : str
        Unit id (commune for a commune panel; household or ballot id for cross-sections, where it is
        only used to count observations).
    post : str
        0/1 column: 1 for the post period.
    pilot : str
        0/1 column: 1 for pilot units. Must be constant within unit in a panel.
    covariates : sequence of str
        Numeric baseline covariates (an intercept is added). In a panel the pre-period row's values
        are used. Encode categories as dummies first.
    weights : str, optional
        Sampling weights (non-negative; normalised to mean one). Constant within unit in a panel.
    method : {"dr", "dr_trad", "ipw", "reg"}
        See the module docstring; ``"dr"`` is the improved locally efficient DR estimator.
    panel : bool
        Panel (True) or repeated cross-section (False) estimator.
    cluster : str, optional
        Cluster column (commune) for the standard error: the influence function is summed within
        clusters. In a panel it must be constant within unit. Without it, a panel is clustered by
        unit and cross-sections treat rows as independent.
    alpha : float
        1 - confidence level of the interval.
    trim_level : float
        Comparison units with a propensity score at or above this are dropped (default 0.995, as
        R DRDID). Ignored by ``"reg"``.

    Returns
    -------
    EffectEstimate
        One term ``"ATT"``; ``model`` is a :class:`DrdidFit` with the influence function and the
        fitted nuisance models; diagnostics give the range of propensity scores and trimming.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    if not (np.isfinite(trim_level) and 0 < trim_level <= 1):
        raise ValueError(f"trim_level must be in (0, 1], got {trim_level!r}")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    _check_columns(
        data,
        {
            "outcome": outcome,
            "unit": unit,
            "post": post,
            "pilot": pilot,
            "weights": weights,
            "cluster": cluster,
        }
        | {f"covariates[{i}]": c for i, c in enumerate(covariates)},
    )
    used = list(
        dict.fromkeys(
            [unit, post, pilot, outcome, *covariates]
            + [c for c in (weights, cluster) if c is not None]
        )
    )
    frame = data[used]
    notes: list[str] = []
    complete = frame.notna().all(axis=1)
    if not complete.all():
        notes.append(f"{int((~complete).sum())} rows with missing values dropped")
        frame = frame.loc[complete]
    for column in [outcome, *covariates] + ([weights] if weights else []):
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise ValueError(
                f"column {column!r} must be numeric (got {frame[column].dtype}); encode "
                "categories as 0/1 dummy columns"
            )
    if weights is not None and (frame[weights] < 0).any():
        raise ValueError(f"weights column {weights!r} has negative values; weights must be >= 0")
    post_values = _binary(frame[post], post)
    _binary(frame[pilot], pilot)

    if panel:
        frame = frame.assign(**{post: post_values})
        counts = frame.groupby([unit, post]).size()
        if (counts > 1).any():
            example = counts[counts > 1].index[0]
            raise ValueError(
                f"panel=True needs one row per {unit!r} and period, but {unit}={example[0]!r} has "
                f"{int(counts.max())} rows in period post={int(example[1])}; collapse ballots with "
                "two_period_panel() or use panel=False for repeated cross-sections"
            )
        for column in [pilot] + [c for c in (weights, cluster) if c is not None]:
            _constant_within(frame, unit, column)
        pre_rows = frame.loc[frame[post] == 0].set_index(unit)
        post_rows = frame.loc[frame[post] == 1].set_index(unit)
        both = pre_rows.index.intersection(post_rows.index, sort=False).sort_values()
        unbalanced = len(pre_rows.index.union(post_rows.index)) - len(both)
        if unbalanced:
            notes.append(f"{unbalanced} units observed in only one period dropped")
        base = pre_rows.loc[both]
        y_arr = post_rows.loc[both, outcome].to_numpy(float) - base[outcome].to_numpy(float)
        d = base[pilot].to_numpy(float)
        index = pd.Index(both, name=unit)
        sample = base
        t_arr = None
    else:
        sample = frame
        y_arr = frame[outcome].to_numpy(float)
        d = frame[pilot].to_numpy(float)
        t_arr = post_values
        index = frame.index

    n = len(d)
    if n == 0 or d.sum() == 0 or d.sum() == n:
        raise ValueError(
            f"need both pilot ({pilot}=1) and comparison ({pilot}=0) units with complete data; "
            f"got {int(d.sum())} pilot of {n}"
        )
    x = np.column_stack([np.ones(n)] + [sample[c].to_numpy(float) for c in covariates])
    constant = [c for c in covariates if sample[c].nunique() <= 1]
    if constant:
        raise ValueError(f"covariates {constant} are constant in the sample; drop them")
    w = sample[weights].to_numpy(float) if weights else np.ones(n)
    if not np.mean(w) > 0:
        raise ValueError(f"weights column {weights!r} must have a positive mean")
    w = w / np.mean(w)

    if panel:
        att, influence, ps, models = _PANEL_KERNELS[method](y_arr, d, x, w, trim_level)
    else:
        att, influence, ps, models = _RC_KERNELS[method](y_arr, t_arr, d, x, w, trim_level)

    if cluster is not None:
        labels = sample[cluster]
        sums = pd.Series(influence).groupby(labels.to_numpy()).sum()
        variance = float(np.sum(sums.to_numpy() ** 2)) / n**2
        n_clusters = int(labels.nunique())
        n_treated = int(labels[d == 1].nunique())
        inference = (
            f"analytic influence function, clustered by {cluster} ({n_clusters} clusters), normal"
        )
    else:
        variance = float(np.sum(influence**2)) / n**2
        n_clusters = n
        n_treated = int(d.sum())
        inference = (
            f"analytic influence function, by {unit}, normal"
            if panel
            else "analytic influence function, independent observations, normal"
        )
    se = float(np.sqrt(variance))
    z = stats.norm.ppf(1 - alpha / 2)
    p_value = float(2 * stats.norm.sf(abs(att) / se)) if se > 0 else float("nan")
    terms = term_frame(["ATT"], [att], [se], [att - z * se], [att + z * se], [p_value])

    diagnostics: dict[str, float] = {"n_pilot": float(d.sum()), "n_comparison": float(n - d.sum())}
    if ps is not None:
        ctrl = d == 0
        diagnostics.update(
            propensity_min_comparison=float(ps.score[ctrl].min()),
            propensity_max_comparison=float(ps.score[ctrl].max()),
            trimmed=float(np.sum(ps.keep == 0)),
        )
        if np.any(ps.keep == 0):
            notes.append(
                f"{int(np.sum(ps.keep == 0))} comparison units with propensity score >= "
                f"{trim_level} trimmed"
            )
        if ps.converged is False:
            notes.append("inverse probability tilting did not converge; logit score used")
    fit = DrdidFit(
        method=method,
        panel=panel,
        influence=pd.Series(influence, index=index, name="influence"),
        clusters=(
            pd.Series(sample[cluster].to_numpy(), index=index, name=cluster) if cluster else None
        ),
        propensity=pd.Series(ps.score, index=index, name="propensity") if ps else None,
        propensity_model=ps.model if ps else None,
        propensity_params=ps.params if ps else None,
        outcome_models=models,
        tilting_converged=ps.converged if ps else None,
    )
    return EffectEstimate(
        outcome=outcome,
        estimand="ATT",
        estimator=f"drdid_{method}_{'panel' if panel else 'rc'}",
        terms=terms,
        n_obs=int(len(frame)) if not panel else int(2 * n),
        n_clusters=n_clusters,
        n_treated_clusters=n_treated,
        inference=inference,
        model=fit,
        notes=tuple(notes),
        diagnostics=diagnostics,
    )


def two_period_panel(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    pilot: str,
    pre_periods: Sequence[int],
    post_periods: Sequence[int],
    covariates: Sequence[str] = (),
    weights: str | None = None,
    keep: Sequence[str] = (),
    post: str = "post",
) -> pd.DataFrame:
    """Collapse a multi-wave panel (or ballots) into a unit-level pre/post panel for :func:`drdid`.

    Within the comparison window, each unit's outcome is averaged over the rows of its pre periods
    and over the rows of its post periods (weighted by ``weights`` if given). Covariates are
    averaged over the pre-period rows only, so they are baseline values that the pilot cannot have
    moved. Units without rows in both windows are dropped.

    Parameters
    ----------
    data : pandas.DataFrame
        Rows of units (communes) or of ballots within units, over waves.
    outcome, unit, time, pilot : str
        Outcome, unit id, integer period (wave) and 0/1 pilot columns.
    pre_periods, post_periods : sequence of int
        Waves forming the pre and the post window (disjoint).
    covariates : sequence of str
        Numeric covariates; their pre-window mean becomes the unit's baseline value.
    weights : str, optional
        Row weights for the means; the unit-level output column ``weight`` is the pre-window sum.
    keep : sequence of str
        Further unit-level columns to carry along (e.g. the cluster); must be constant within unit.
    post : str
        Name of the 0/1 period column in the output.

    Returns
    -------
    pandas.DataFrame
        Two rows per unit: ``unit, post, outcome, pilot, *covariates, *keep, n_rows, weight``.
    """
    pre_set, post_set = set(pre_periods), set(post_periods)
    if not pre_set or not post_set:
        raise ValueError("pre_periods and post_periods must each list at least one period")
    if pre_set & post_set:
        raise ValueError(
            f"pre_periods and post_periods overlap in {sorted(pre_set & post_set)}; "
            "give disjoint windows"
        )
    covariates, keep = list(covariates), list(keep)
    _check_columns(
        data,
        {"outcome": outcome, "unit": unit, "time": time, "pilot": pilot, "weights": weights}
        | {f"covariates[{i}]": c for i, c in enumerate(covariates)}
        | {f"keep[{i}]": c for i, c in enumerate(keep)},
    )
    if post in (outcome, unit, pilot, *covariates, *keep, "n_rows", "weight"):
        raise ValueError(f"post={post!r} clashes with another column name; choose another name")
    frame = data.loc[data[time].isin(pre_set | post_set)].copy()
    frame = frame.loc[frame[[outcome, unit, pilot]].notna().all(axis=1)]
    frame[post] = frame[time].isin(post_set).astype(int)
    for column in [pilot, *keep]:
        _constant_within(frame, unit, column)
    frame["_w"] = frame[weights].astype(float) if weights else 1.0
    frame["_wy"] = frame["_w"] * frame[outcome]
    grouped = frame.groupby([unit, post], sort=True)
    out = (grouped["_wy"].sum() / grouped["_w"].sum()).rename(outcome).to_frame()
    out["n_rows"] = grouped.size()
    out = out.reset_index()
    has_both = out.groupby(unit)[post].transform("nunique") == 2
    out = out.loc[has_both]
    if out.empty:
        raise ValueError(
            "no unit has rows in both the pre and the post window; check pre_periods/post_periods"
        )
    pre_rows = frame.loc[frame[post] == 0]
    unit_level = pre_rows.groupby(unit).agg(
        {pilot: "first", **{c: "first" for c in keep}, "_w": "sum"}
    )
    unit_level = unit_level.rename(columns={"_w": "weight"})
    for c in covariates:
        cw = pre_rows.loc[pre_rows[c].notna()]
        unit_level[c] = (cw["_w"] * cw[c]).groupby(cw[unit]).sum() / cw.groupby(unit)["_w"].sum()
    out = out.merge(unit_level.reset_index(), on=unit, how="left")
    columns = [unit, post, outcome, pilot, *covariates, *keep, "n_rows", "weight"]
    return out[columns].reset_index(drop=True)
