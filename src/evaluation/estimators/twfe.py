"""Two-way fixed effects (commune and wave) regression with cluster-robust inference.

The fixed effects are absorbed by within-transformation (:mod:`.fixed_effects`) and the slopes
estimated by statsmodels OLS/WLS on the demeaned data, so ``EffectEstimate.model`` is an ordinary
statsmodels results object. Two small-sample conventions are offered and named in
``EffectEstimate.inference``:

``"fixest"`` (default)
    fixest's / pyfixest's default: V x (N-1)/(N-K) x G/(G-1), where K counts the slopes and the
    fixed effects *not* nested in the clusters (with commune clusters the commune effects are
    not counted), and t with G-1 degrees of freedom.
``"statsmodels"``
    what statsmodels OLS with explicit dummies and ``cov_type="cluster"`` gives: the same
    formula with every fixed-effect dummy (and the intercept) counted in K; t with G-1 degrees
    of freedom (statsmodels ``use_t=True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from evaluation.estimators.fixed_effects import absorb, codes_nested, factorize
from evaluation.estimators.result import EffectEstimate, term_frame

__all__ = ["SSC_CONVENTIONS", "WithinFit", "fit_within", "twfe"]

Ssc = Literal["fixest", "statsmodels"]
SSC_CONVENTIONS: tuple[str, ...] = ("fixest", "statsmodels")


@dataclass(frozen=True)
class WithinFit:
    """A fixed-effects regression fitted on demeaned data (shared by TWFE and event studies).

    Parameters
    ----------
    results : statsmodels RegressionResults
        OLS/WLS on the demeaned data, with the cluster-robust covariance of the chosen
        convention (``results.bse`` and ``results.cov_params()`` use it).
    terms : pandas.DataFrame
        Estimate, std_error, conf_low, conf_high, p_value of every regressor.
    n_obs, n_clusters : int
        After dropping missing values and singletons.
    df_t : int
        Degrees of freedom of the t and F reference distributions (G - 1).
    inference : str
        The convention used, spelled out.
    frame : pandas.DataFrame
        The rows used (after dropping missing values and singletons), model columns only.
    cluster_codes : numpy.ndarray
        Integer cluster code of each row used.
    notes : tuple of str
    diagnostics : dict of str to float
    """

    results: Any
    terms: pd.DataFrame
    n_obs: int
    n_clusters: int
    df_t: int
    inference: str
    frame: pd.DataFrame
    cluster_codes: np.ndarray
    notes: tuple[str, ...] = ()
    diagnostics: dict[str, float] = field(default_factory=dict)

    def wald(self, names: Sequence[str]) -> tuple[float, int, float]:
        """Joint cluster-robust test that the named coefficients are all zero.

        Returns
        -------
        f_stat : float
            Wald statistic divided by the number of restrictions.
        df_num : int
            Number of restrictions.
        p_value : float
            From the F distribution with ``(df_num, G - 1)`` degrees of freedom.
        """
        names = list(names)
        if not names:
            return float("nan"), 0, float("nan")
        idx = [list(self.terms.index).index(n) for n in names]
        b = np.asarray(self.results.params)[idx]
        v = np.asarray(self.results.cov_params())[np.ix_(idx, idx)]
        q = len(idx)
        # pinv: with fewer clusters than restrictions V is singular; the test is then degenerate.
        wald = float(b @ np.linalg.pinv(v) @ b)
        f_stat = wald / q
        return f_stat, q, float(stats.f.sf(f_stat, q, self.df_t))


def fit_within(
    data: pd.DataFrame,
    outcome: str,
    regressors: Sequence[str],
    fixed_effects: Sequence[str],
    cluster: str,
    weights: str | None = None,
    ssc: Ssc = "fixest",
    alpha: float = 0.05,
    extra_columns: Sequence[str] = (),
    tol: float = 1e-10,
) -> WithinFit:
    """Regress ``outcome`` on ``regressors`` with ``fixed_effects`` absorbed, clustered SE.

    Parameters
    ----------
    data : pandas.DataFrame
        Any data; only the named columns are used.
    outcome : str
        Outcome column.
    regressors : sequence of str
        Numeric regressors (treatment terms first, then covariates).
    fixed_effects : sequence of str
        Columns whose levels are absorbed.
    cluster : str
        Cluster column for the CRV1 covariance.
    weights : str, optional
        Column of positive weights (WLS, e.g. ballots per commune-wave).
    ssc : {"fixest", "statsmodels"}
        Small-sample convention (see the module docstring).
    alpha : float
        1 - confidence level of the intervals.
    extra_columns : sequence of str
        Columns carried into ``WithinFit.frame`` without entering the model (rows with missing
        values there are not dropped).
    tol : float
        Demeaning tolerance.

    Returns
    -------
    WithinFit
    """
    regressors = list(regressors)
    fixed_effects = list(fixed_effects)
    if ssc not in SSC_CONVENTIONS:
        raise ValueError(f"ssc must be one of {SSC_CONVENTIONS}, got {ssc!r}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}.")
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    if not regressors:
        raise ValueError("regressors: give at least one treatment column.")
    model_cols = _unique([outcome, *regressors, *fixed_effects, cluster, weights])
    model_cols = [c for c in model_cols if c is not None]
    missing = [c for c in model_cols + list(extra_columns) if c not in data.columns]
    if missing:
        raise ValueError(
            f"column(s) {missing} not found in the data; available: {list(data.columns)}. "
            "Check the outcome/treatment/unit/time/cluster/weights/covariates arguments."
        )
    dup = {c for c in regressors if regressors.count(c) > 1 or c == outcome}
    if dup:
        raise ValueError(f"columns {sorted(dup)} appear twice among outcome and regressors.")
    for name in [outcome, *regressors] + ([weights] if weights else []):
        col = data[name]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise ValueError(
                f"column {name!r} must be numeric, got dtype {col.dtype}; convert it first."
            )

    # Drop rows with a missing value in ANY model column, the cluster and the weights at once:
    # statsmodels would drop them from the formula but not from the cluster groups.
    frame = data[_unique(model_cols + list(extra_columns))]
    bad = frame[model_cols].isna().any(axis=1).to_numpy()
    n_missing = int(bad.sum())
    if n_missing:
        frame = frame.loc[~bad]
    if weights is not None and not (frame[weights].to_numpy(dtype=float) > 0).all():
        raise ValueError(
            f"weights column {weights!r} must be strictly positive; drop rows with zero or "
            "negative weight (e.g. commune-waves without ballots)."
        )
    if len(frame) == 0:
        raise ValueError("no rows left after dropping rows with missing values.")

    absorbed = absorb(frame, [outcome, *regressors], fixed_effects, weights=weights, tol=tol)
    if absorbed.singletons_dropped:
        frame = frame.loc[absorbed.keep]
    n_obs = len(frame)
    y = absorbed.values[:, 0]
    x = absorbed.values[:, 1:]
    _check_rank(x, frame, regressors)

    if cluster in fixed_effects:
        cluster_codes = absorbed.codes[:, fixed_effects.index(cluster)]
    else:
        cluster_codes = factorize(frame, [cluster])[:, 0]
    n_clusters = int(cluster_codes.max()) + 1
    if n_clusters < 2:
        raise ValueError(f"cluster column {cluster!r} has fewer than 2 clusters; cannot cluster.")

    # hasconst=False: demeaned data have no constant; skips statsmodels' costly constant check.
    exog = pd.DataFrame(x, columns=regressors, copy=False)
    endog = pd.Series(y, name=outcome, copy=False)
    if weights is None:
        model = sm.OLS(endog, exog, hasconst=False)
    else:
        model = sm.WLS(
            endog, exog, weights=frame[weights].to_numpy(dtype=np.float64), hasconst=False
        )
    # Raw CRV1 sandwich; the small-sample factor of the chosen convention is applied below.
    results = model.fit(
        cov_type="cluster",
        cov_kwds={"groups": cluster_codes, "use_correction": False, "df_correction": True},
        use_t=True,
    )

    k = len(regressors)
    levels = list(absorbed.n_levels)
    n_fe = len(levels)
    fe_adj = (
        sum(levels) - (n_fe - 1) if n_fe else 0
    )  # identified FE parameters (one per extra FE is redundant)
    nested = [
        codes_nested(absorbed.codes[:, j], cluster_codes) for j in range(absorbed.codes.shape[1])
    ]
    if ssc == "fixest":
        # pyfixest get_ssc(k_fixef="nonnested"): nested FE are not counted, one kept per nested FE.
        df_k = (
            k + fe_adj - sum(lv for lv, ne in zip(levels, nested, strict=True) if ne) + sum(nested)
        )
    else:
        df_k = k + fe_adj
    if n_obs - df_k <= 0:
        raise ValueError(f"too few observations ({n_obs}) for {df_k} parameters under ssc={ssc!r}.")
    factor = (n_obs - 1) / (n_obs - df_k) * n_clusters / (n_clusters - 1)
    # Scale the covariance on the unwrapped results (the wrapper would keep a private copy)
    # and clear the cache so bse, tvalues, pvalues and conf_int follow the scaled V.
    inner = getattr(results, "_results", results)
    inner.cov_params_default = inner.cov_params_default * factor
    inner._cache = {}
    inner.cov_kwds["scaling_factor"] = factor
    inner.cov_kwds["ssc"] = ssc

    df_t = n_clusters - 1
    ci = np.asarray(results.conf_int(alpha=alpha))
    terms = term_frame(
        regressors,
        np.asarray(results.params),
        np.asarray(results.bse),
        ci[:, 0],
        ci[:, 1],
        np.asarray(results.pvalues),
    )

    nested_names = [fe for fe, ne in zip(fixed_effects, nested, strict=True) if ne]
    if ssc == "fixest":
        k_text = (
            "K excludes fixed effects nested in clusters"
            + (f" ({', '.join(nested_names)})" if nested_names else " (none nested)")
            + "; fixest default"
        )
    else:
        k_text = "K counts every fixed-effect dummy; statsmodels OLS-with-dummies convention"
    inference = (
        f"cluster-robust SE (CRV1) by {cluster}, G = {n_clusters}; small-sample factor "
        f"(N-1)/(N-K) x G/(G-1), {k_text}, K = {df_k}; t distribution with G-1 = {df_t} df"
    )

    notes: list[str] = []
    if n_missing:
        notes.append(f"{n_missing:,} rows dropped for missing values in {model_cols}")
    if absorbed.singletons_dropped:
        notes.append(
            f"{absorbed.singletons_dropped:,} singleton observations dropped "
            f"(alone in a level of {fixed_effects})"
        )
    if not absorbed.converged:
        notes.append(f"demeaning did not converge within {absorbed.iterations} sweeps")
    diagnostics: dict[str, float] = {
        "rows_dropped_missing": float(n_missing),
        "singletons_dropped": float(absorbed.singletons_dropped),
        "demeaning_iterations": float(absorbed.iterations),
        "ssc_factor": float(factor),
        "df_k": float(df_k),
        "df_t": float(df_t),
        "confidence_level": 1.0 - alpha,
    }
    return WithinFit(
        results=results,
        terms=terms,
        n_obs=n_obs,
        n_clusters=n_clusters,
        df_t=df_t,
        inference=inference,
        frame=frame,
        cluster_codes=cluster_codes,
        notes=tuple(notes),
        diagnostics=diagnostics,
    )


def twfe(
    data: pd.DataFrame,
    outcome: str,
    treatment: str | Sequence[str],
    unit: str,
    time: str,
    cluster: str | None = None,
    weights: str | None = None,
    covariates: Sequence[str] = (),
    ssc: Ssc = "fixest",
    alpha: float = 0.05,
    estimator: str = "twfe",
) -> EffectEstimate:
    """Two-way fixed effects estimate of the effect of ``treatment`` on ``outcome``.

    ``outcome ~ treatment + covariates | unit + time`` with cluster-robust standard errors.
    Works on household ballots (repeated cross-section: ``unit="commune"``, many rows per
    commune-wave) and on commune-wave means with ``weights`` = ballot count.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per ballot or per commune-wave.
    outcome : str
        Outcome column (e.g. a Likert score or a 0/1 "satisfied" indicator).
    treatment : str or sequence of str
        0/1 treatment column(s); the first is the headline term. Several give several terms.
    unit, time : str
        Fixed-effect columns (commune, wave).
    cluster : str, optional
        Cluster column; defaults to ``unit``.
    weights : str, optional
        Positive weights (WLS).
    covariates : sequence of str
        Numeric controls (their coefficients are in ``.model``, not in ``.terms``).
    ssc : {"fixest", "statsmodels"}
        Small-sample convention, see the module docstring.
    alpha : float
        1 - confidence level.
    estimator : str
        Short name written in the ``estimator`` field (e.g. ``"twfe_household"``).

    Returns
    -------
    EffectEstimate
        Terms = treatment columns; ``model`` = statsmodels results on demeaned data;
        ``diagnostics["singletons_dropped"]`` and ``["rows_dropped_missing"]``.

    Raises
    ------
    ValueError
        On missing columns, non-numeric or non-0/1 treatment, non-positive weights, treatment
        collinear with the fixed effects, or fewer than two clusters.
    """
    treatments = [treatment] if isinstance(treatment, str) else list(treatment)
    if not treatments:
        raise ValueError("treatment: give at least one 0/1 treatment column.")
    cluster = unit if cluster is None else cluster
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    for name in treatments:
        if name not in data.columns:
            raise ValueError(f"treatment column {name!r} not found in the data.")
        values = pd.to_numeric(data[name], errors="coerce").dropna().unique()
        if not set(np.asarray(values, dtype=float)).issubset({0.0, 1.0}):
            raise ValueError(
                f"treatment column {name!r} must be 0/1 (or True/False), found values "
                f"{sorted(values)[:5]}; recode it."
            )
    fit = fit_within(
        data,
        outcome,
        [*treatments, *covariates],
        [unit, time],
        cluster,
        weights=weights,
        ssc=ssc,
        alpha=alpha,
    )
    treated = (fit.frame[treatments].to_numpy(dtype=float) != 0).any(axis=1)
    n_treated_clusters = int(np.unique(fit.cluster_codes[treated]).size)
    return EffectEstimate(
        outcome=outcome,
        estimand="ATT",
        estimator=estimator,
        terms=fit.terms.loc[treatments],
        n_obs=fit.n_obs,
        n_clusters=fit.n_clusters,
        n_treated_clusters=n_treated_clusters,
        inference=fit.inference,
        model=fit.results,
        notes=fit.notes,
        diagnostics=fit.diagnostics,
    )


def _unique(names: list) -> list:
    return list(dict.fromkeys(n for n in names if n is not None))


def _check_rank(x: np.ndarray, frame: pd.DataFrame, names: Sequence[str]) -> None:
    """Raise if a demeaned regressor is (nearly) zero or a combination of the others."""
    norms = np.sqrt((x * x).sum(axis=0))
    scale = np.array([max(float(np.abs(frame[n].to_numpy(dtype=float)).max()), 1.0) for n in names])
    dead = [
        n for n, nv, s in zip(names, norms, scale, strict=True) if nv <= 1e-8 * s * np.sqrt(len(x))
    ]
    if dead:
        raise ValueError(
            f"regressor(s) {dead} are constant within the fixed effects (collinear with commune "
            "and wave effects, e.g. a treatment that never changes); drop them or use another design."
        )
    if x.shape[1] > 1:
        z = x / norms
        eig = np.linalg.eigvalsh(z.T @ z)
        if eig.min() < 1e-10:
            raise ValueError(
                f"regressors {list(names)} are collinear after absorbing the fixed effects; "
                "drop one of them."
            )
