"""Baseline balance of pilot and comparison communes.

Conventions (printed beside every balance table):

* **Standardised mean difference (SMD)** = (mean pilot - mean comparison) / pooled SD, where the
  pooled SD is ``sqrt((s_pilot^2 + s_comparison^2) / 2)`` computed from the *unweighted* sample
  variances (ddof = 1) of the two groups. This is cobalt's ``bal.tab(..., s.d.denom = "pooled")``
  for continuous covariates and DIME ``iebaltab``'s normalised difference. The denominator never
  uses the weights, so SMDs before and after propensity weighting share one scale (cobalt does the
  same). Binary covariates are standardised the same way; note that cobalt's default reports the
  *raw* difference in proportions for binary covariates (``binary = "raw"``).
* **Weighted means and variances** (when ``weights`` is given) use the reliability-weights
  formula ``sum w (x - m)^2 * W / (W^2 - sum w^2)``, ``W = sum w``, as cobalt does.
* **Variance ratio** = variance pilot / variance comparison (weighted if weights are given).
* **p-value** of the difference: OLS (WLS with weights) of the covariate on a pilot dummy; with
  ``cluster`` the covariance is cluster-robust (CR1, statsmodels) with a t reference
  distribution on G - 1 degrees of freedom, as fixest does; without it, classical OLS (the
  pooled two-sample t-test when unweighted). With ``cluster``, a group of fewer than two
  clusters leaves the p-value undefined (NaN): with one treated cluster its residuals are zero
  and the cluster-robust variance sees only the other group (badly oversized tests).
* **Undefined statistics** are NaN, never an error: a group of one row has no standard
  deviation, so its standardised difference and variance ratio are NaN too; the means and
  their difference remain.
* **Joint test**: linear probability regression of the pilot dummy on all covariates; F test (or
  cluster-robust Wald F) that all slopes are zero. Returned in ``DataFrame.attrs``; NaN when a
  group has fewer than two clusters (with ``cluster``) or the regression has no residual
  degrees of freedom.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm

BALANCE_COLUMNS = [
    "covariate",
    "mean_pilot",
    "mean_comparison",
    "sd_pilot",
    "sd_comparison",
    "difference",
    "smd",
    "variance_ratio",
    "p_value",
    "n_pilot",
    "n_comparison",
]


def _check_columns(frame: pd.DataFrame, columns: Sequence[str], argument: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{argument}: columns {missing} are not in the communes frame; "
            f"available columns: {list(frame.columns)}."
        )


def _group_indicator(values: pd.Series, group: str) -> np.ndarray:
    uniq = set(pd.unique(values.dropna()))
    if not uniq <= {0, 1}:
        raise ValueError(
            f"group column {group!r} must be 0/1 (1 = pilot commune), got values {sorted(uniq)[:5]}."
        )
    if len(uniq) < 2:
        raise ValueError(f"group column {group!r} needs both pilot (1) and comparison (0) rows.")
    return values.to_numpy(dtype=float)


def _enough_clusters(d: np.ndarray, groups: np.ndarray | None) -> bool:
    """Whether each group has at least two clusters (always True without clustering)."""
    if groups is None:
        return True
    return all(np.unique(groups[d == g]).size >= 2 for g in (0.0, 1.0))


def weighted_mean_var(x: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float]:
    """Mean and variance of ``x``; with weights, the reliability-weights (cobalt) formula."""
    x = np.asarray(x, float)
    if w is None:
        return float(x.mean()), float(x.var(ddof=1)) if x.size > 1 else float("nan")
    w = np.asarray(w, float)
    total = w.sum()
    mean = float(np.sum(w * x) / total)
    denom = total**2 - np.sum(w**2)
    var = float(np.sum(w * (x - mean) ** 2) * total / denom) if denom > 0 else float("nan")
    return mean, var


def _fit(y: np.ndarray, exog: np.ndarray, w: np.ndarray | None, groups: np.ndarray | None):
    model = sm.WLS(y, exog, weights=w) if w is not None else sm.OLS(y, exog)
    if groups is not None:
        return model.fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    return model.fit()


def balance_table(
    communes: pd.DataFrame,
    group: str,
    covariates: Sequence[str],
    cluster: str | None = None,
    weights: str | None = None,
) -> pd.DataFrame:
    """Baseline balance of pilot (``group == 1``) versus comparison communes.

    Parameters
    ----------
    communes : pandas.DataFrame
        One row per commune (or per unit) at baseline.
    group : str
        0/1 column, 1 = pilot.
    covariates : sequence of str
        Numeric covariates to compare (binary covariates as 0/1).
    cluster : str, optional
        Column of cluster ids (e.g. district) for cluster-robust p-values.
    weights : str, optional
        Column of non-negative weights (e.g. from :func:`ipw_weights`) for a weighted comparison.

    Returns
    -------
    pandas.DataFrame
        One row per covariate with :data:`BALANCE_COLUMNS`. ``attrs`` holds ``joint_f``,
        ``joint_p_value``, ``joint_df_num``, ``joint_df_denom``, ``joint_n_obs``, ``weighted``,
        ``clustered`` and ``smd_convention``.
    """
    if not covariates:
        raise ValueError("covariates must name at least one column.")
    needed = [group, *covariates] + [c for c in (cluster, weights) if c is not None]
    _check_columns(communes, needed, "balance_table")
    base = communes.dropna(subset=[c for c in (group, cluster, weights) if c is not None])
    d_all = _group_indicator(base[group], group)
    w_all = None
    if weights is not None:
        w_all = base[weights].to_numpy(float)
        if np.any(w_all < 0):
            raise ValueError(f"weights column {weights!r} must be non-negative.")
    rows = []
    for cov in covariates:
        if not pd.api.types.is_numeric_dtype(base[cov]):
            raise ValueError(f"covariate {cov!r} must be numeric (code categories as 0/1 dummies).")
        ok = base[cov].notna().to_numpy().copy()
        if w_all is not None:
            ok &= w_all > 0
        x, d = base[cov].to_numpy(float)[ok], d_all[ok]
        w = None if w_all is None else w_all[ok]
        pil, com = d == 1, d == 0
        m1, v1 = weighted_mean_var(x[pil], None if w is None else w[pil])
        m0, v0 = weighted_mean_var(x[com], None if w is None else w[com])
        # SMD denominator: unweighted pooled SD (comparable before and after weighting)
        s1_raw = np.var(x[pil], ddof=1) if pil.sum() > 1 else np.nan
        s0_raw = np.var(x[com], ddof=1) if com.sum() > 1 else np.nan
        pooled = np.sqrt((s1_raw + s0_raw) / 2)
        groups = None if cluster is None else pd.factorize(base[cluster][ok])[0]
        p_value = np.nan
        if pil.sum() >= 1 and com.sum() >= 1 and x.size > 2 and _enough_clusters(d, groups):
            fit = _fit(x, sm.add_constant(d, has_constant="add"), w, groups)
            p_value = float(np.asarray(fit.pvalues)[1])
        rows.append(
            {
                "covariate": cov,
                "mean_pilot": m1,
                "mean_comparison": m0,
                "sd_pilot": np.sqrt(v1),
                "sd_comparison": np.sqrt(v0),
                "difference": m1 - m0,
                "smd": (m1 - m0) / pooled if pooled > 0 else np.nan,
                "variance_ratio": v1 / v0 if v0 > 0 else np.nan,
                "p_value": p_value,
                "n_pilot": int(pil.sum()),
                "n_comparison": int(com.sum()),
            }
        )
    table = pd.DataFrame(rows, columns=BALANCE_COLUMNS)
    table.attrs.update(joint_balance_test(communes, group, covariates, cluster, weights))
    table.attrs["weighted"] = weights is not None
    table.attrs["clustered"] = cluster is not None
    table.attrs["smd_convention"] = "pooled_unweighted_sd"
    return table


def joint_balance_test(
    communes: pd.DataFrame,
    group: str,
    covariates: Sequence[str],
    cluster: str | None = None,
    weights: str | None = None,
) -> dict[str, float]:
    """F test that the covariates jointly do not predict pilot status.

    Linear probability model ``group ~ 1 + covariates`` (complete cases, WLS with ``weights``);
    with ``cluster`` a cluster-robust Wald test reported as F with (k, G - 1) degrees of freedom.
    """
    needed = [group, *covariates] + [c for c in (cluster, weights) if c is not None]
    _check_columns(communes, needed, "joint_balance_test")
    data = communes[needed].dropna()
    if weights is not None:
        data = data[data[weights] > 0]
    d = _group_indicator(data[group], group)
    x = sm.add_constant(data[list(covariates)].to_numpy(float), has_constant="add")
    w = None if weights is None else data[weights].to_numpy(float)
    groups = None if cluster is None else pd.factorize(data[cluster])[0]
    k = len(covariates)
    if not _enough_clusters(d, groups) or len(data) <= k + 1:
        nan = float("nan")
        return {
            "joint_f": nan,
            "joint_p_value": nan,
            "joint_df_num": float(k),
            "joint_df_denom": nan,
            "joint_n_obs": float(len(data)),
        }
    fit = _fit(d, x, w, groups)
    restriction = np.hstack([np.zeros((k, 1)), np.eye(k)])
    test = fit.f_test(restriction)
    return {
        "joint_f": float(np.squeeze(test.fvalue)),
        "joint_p_value": float(np.squeeze(test.pvalue)),
        "joint_df_num": float(test.df_num),
        "joint_df_denom": float(test.df_denom),
        "joint_n_obs": float(len(data)),
    }
