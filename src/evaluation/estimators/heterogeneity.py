"""Effect heterogeneity by commune moderators: does the model work better in some communes?

The scaling question is not "did the pilot work on average" but "where will it work next". This
module estimates a two-way fixed-effects difference-in-differences with the treatment interacted
with one commune moderator (one-stop-shop staff per 1,000 households, share of condolence letters
sent on time, commune type, district, baseline satisfaction ...).

Model, on commune-wave (or household) rows::

    y_it = a_i + g_t + b0 * D_it + b1 * D_it * (M_i - c) [+ h * (M_it - c)] + e_it

with commune and wave dummies (the commune-wave panel is ~109 x 16 rows, so dummies are cheap and
exact), ``c`` the mean moderator over treated communes (so ``b0`` is the effect at the average
pilot commune), and the moderator main effect only when it varies within communes (otherwise the
commune dummies absorb it). A categorical moderator gives one effect per category instead:
``D_it * 1[M_i = k]``.

Inference: statsmodels OLS/WLS, CRV1 cluster-robust covariance with statsmodels' small-sample
factor ``G/(G-1) * (N-1)/(N-K)`` where K counts every dummy (= pyfixest ``ssc(k_fixef="full")``),
t with G-1 degrees of freedom. With 14 treated communes this rejects a true null somewhat too often
(see ENGINEERING_NOTES); a category with 1-3 treated communes is flagged "inference weak".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from evaluation.estimators.result import EffectEstimate, term_frame

ModeratorKind = Literal["auto", "continuous", "categorical"]

#: A category (or bin) with this many treated communes or fewer gets an "inference weak" note.
WEAK_TREATED_MAX = 3


@dataclass(frozen=True)
class ModeratorFit:
    """What is needed to predict a commune's effect from an interaction model.

    Stored as ``EffectEstimate.model`` by :func:`effect_by_moderator`.

    Parameters
    ----------
    results : statsmodels RegressionResults
        The fitted OLS/WLS with clustered covariance, for researchers.
    moderator : str
        Moderator column name.
    unit : str
        Commune column name of the estimation data.
    kind : {"continuous", "categorical"}
        How the moderator entered the model.
    centre : float
        Value the continuous moderator was centred at (NaN for categorical).
    terms : tuple of str
        Effect terms, in order (``effect``, ``effect_x_<moderator>`` or ``effect[<category>]``).
    categories : tuple of str
        Categories with an estimated effect (empty for continuous).
    vcov : pandas.DataFrame
        Cluster-robust covariance of the effect terms.
    df_inference : int
        Degrees of freedom of the t distribution (clusters minus one).
    treated_units : tuple
        Communes treated in at least one row of the estimation sample.
    treated_range : tuple of float
        Min and max of the moderator over treated communes (continuous only): predictions outside
        it are extrapolations.
    treated_per_category : mapping of str to int
        Treated communes per category (categorical only).
    """

    results: Any = field(repr=False)
    moderator: str
    unit: str
    kind: str
    centre: float
    terms: tuple[str, ...]
    categories: tuple[str, ...]
    vcov: pd.DataFrame = field(repr=False)
    df_inference: int
    treated_units: tuple = field(repr=False)
    treated_range: tuple[float, float]
    treated_per_category: dict[str, int] = field(default_factory=dict)


def _check_columns(data: pd.DataFrame, columns: dict[str, str | None]) -> None:
    for argument, column in columns.items():
        if column is not None and column not in data.columns:
            raise ValueError(
                f"{argument}={column!r} is not a column of data; expected one of "
                f"{list(data.columns)[:20]}. Pass the name of the column holding the {argument}."
            )


def _resolve_kind(series: pd.Series, kind: ModeratorKind) -> str:
    if kind not in ("auto", "continuous", "categorical"):
        raise ValueError(f"kind must be 'auto', 'continuous' or 'categorical', got {kind!r}")
    if kind != "auto":
        return kind
    is_numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return "continuous" if is_numeric else "categorical"


def _clean(
    data: pd.DataFrame, columns: list[str], treatment: str
) -> tuple[pd.DataFrame, list[str]]:
    notes: list[str] = []
    frame = data[list(dict.fromkeys(columns))].copy()
    before = len(frame)
    # statsmodels drops NaN rows from the formula but not from the cluster groups: drop first.
    frame = frame.dropna()
    if len(frame) < before:
        notes.append(f"{before - len(frame)} rows with missing values dropped")
    values = set(np.unique(frame[treatment].to_numpy()))
    if not values <= {0, 1}:
        raise ValueError(
            f"treatment={treatment!r} must be 0/1 (1 = commune under the model in that wave); "
            f"found values {sorted(values)[:6]}. Convert a first-treated period with "
            "(time >= first_treated) first."
        )
    return frame, notes


def _fit(
    frame: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    cluster: str,
    weights: str | None,
    regressors: pd.DataFrame,
) -> tuple[Any, int]:
    fixed = pd.get_dummies(
        frame[[unit, time]].astype(str), columns=[unit, time], drop_first=True, dtype=float
    )
    design = pd.concat([regressors, fixed], axis=1)
    design.insert(0, "const", 1.0)
    y = frame[outcome].to_numpy(float)
    groups = pd.factorize(frame[cluster])[0]
    if weights is None:
        model = sm.OLS(y, design)
    else:
        if (frame[weights] <= 0).any():
            raise ValueError(f"weights={weights!r} must be positive; drop rows with zero weight")
        model = sm.WLS(y, design, weights=frame[weights].to_numpy(float))
    results = model.fit(
        cov_type="cluster", cov_kwds={"groups": groups, "use_correction": True}, use_t=True
    )
    # statsmodels fits through a pseudo-inverse and reports its rank: reuse it (no second SVD)
    if int(results.model.rank) < design.shape[1]:
        raise ValueError(
            "the effect terms are collinear with the commune and wave dummies; check that the "
            "moderator differs between treated communes and that some communes are never treated"
        )
    return results, int(groups.max() + 1)


def effect_by_moderator(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    moderator: str,
    cluster: str,
    weights: str | None = None,
    *,
    kind: ModeratorKind = "auto",
    centre: float | None = None,
    alpha: float = 0.05,
) -> EffectEstimate:
    """TWFE difference-in-differences with the treatment interacted with a commune moderator.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per commune-wave (or per ballot).
    outcome, treatment, unit, time, moderator, cluster : str
        Column names. ``treatment`` is 0/1 (commune under the model in that wave).
    weights : str, optional
        Column of positive regression weights (e.g. ballots per commune-wave): WLS.
    kind : {"auto", "continuous", "categorical"}
        ``auto`` treats numeric moderators as continuous, others as categorical.
    centre : float, optional
        Centre of a continuous moderator; default the mean over treated communes, so the
        ``effect`` term is the effect at the average pilot commune.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    EffectEstimate
        Continuous: terms ``effect`` (at the centre) and ``effect_x_<moderator>`` (change of the
        effect per unit of the moderator). Categorical: ``effect[<category>]`` per category with
        treated communes. ``model`` is a :class:`ModeratorFit`.
    """
    _check_columns(
        data,
        {
            "outcome": outcome,
            "treatment": treatment,
            "unit": unit,
            "time": time,
            "moderator": moderator,
            "cluster": cluster,
            "weights": weights,
        },
    )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    cols = [outcome, treatment, unit, time, moderator, cluster] + ([weights] if weights else [])
    frame, notes = _clean(data, cols, treatment)
    resolved = _resolve_kind(frame[moderator], kind)
    d = frame[treatment].to_numpy(float)
    treated_units = tuple(pd.unique(frame.loc[d == 1, unit]))
    if not treated_units:
        raise ValueError(f"treatment={treatment!r} is never 1: no treated commune-waves")
    varies = bool((frame.groupby(unit)[moderator].nunique() > 1).any())

    regressors = pd.DataFrame(index=frame.index)
    per_category: dict[str, int] = {}
    categories: tuple[str, ...] = ()
    treated_range = (np.nan, np.nan)
    if resolved == "continuous":
        m = frame[moderator].to_numpy(float)
        treated_m = frame.loc[d == 1].groupby(unit)[moderator].mean()
        c = float(treated_m.mean()) if centre is None else float(centre)
        treated_range = (float(treated_m.min()), float(treated_m.max()))
        terms = ("effect", f"effect_x_{moderator}")
        regressors[terms[0]] = d
        regressors[terms[1]] = d * (m - c)
        if varies:
            regressors[f"{moderator}_centred"] = m - c
        if treated_m.nunique() < 2:
            raise ValueError(
                f"moderator={moderator!r} takes one value over treated communes: the interaction "
                "is not identified; use a moderator that differs between pilot communes"
            )
    else:
        c = np.nan
        labels = frame[moderator].astype(str)
        treated_labels = labels[d == 1]
        per_unit = frame.loc[d == 1, unit].groupby(treated_labels.to_numpy()).nunique()
        categories = tuple(sorted(per_unit.index))
        per_category = {str(k): int(v) for k, v in per_unit.items()}
        terms = tuple(f"effect[{k}]" for k in categories)
        for k, term in zip(categories, terms, strict=True):
            regressors[term] = d * (labels == k).to_numpy(float)
        missing = sorted(set(labels) - set(categories))
        if missing:
            notes.append(f"no treated commune in categories {missing}: no effect estimated there")
        if varies:
            regressors = pd.concat(
                [
                    regressors,
                    pd.get_dummies(labels, prefix=moderator, drop_first=True, dtype=float),
                ],
                axis=1,
            )
        for k in categories:
            if per_category[k] <= WEAK_TREATED_MAX:
                notes.append(
                    f"effect[{k}]: only {per_category[k]} treated commune(s); inference weak"
                )

    results, n_clusters = _fit(frame, outcome, unit, time, cluster, weights, regressors)
    df = n_clusters - 1
    names = list(terms)
    est = results.params[names].to_numpy()
    vcov = results.cov_params().loc[names, names]
    se = np.sqrt(np.diag(vcov.to_numpy()))
    crit = stats.t.ppf(1 - alpha / 2, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.t.sf(np.abs(est / se), df)
    terms_frame = term_frame(names, est, se, est - crit * se, est + crit * se, p)
    if resolved == "categorical":
        terms_frame["inference"] = [
            "CRV1, t(G-1); inference weak"
            if per_category[k] <= WEAK_TREATED_MAX
            else "CRV1, t(G-1)"
            for k in categories
        ]
    n_treated_clusters = int(frame.loc[d == 1, cluster].nunique())
    fit = ModeratorFit(
        results=results,
        moderator=moderator,
        unit=unit,
        kind=resolved,
        centre=c,
        terms=tuple(names),
        categories=categories,
        vcov=vcov,
        df_inference=df,
        treated_units=treated_units,
        treated_range=treated_range,
        treated_per_category=per_category,
    )
    inference = (
        f"CRV1 cluster-robust by {cluster} ({n_clusters} clusters), t with {df} df; "
        "small-sample K counts all commune and wave dummies"
    )
    return EffectEstimate(
        outcome=outcome,
        estimand="ATT by moderator",
        estimator=f"twfe_moderator_{resolved}",
        terms=terms_frame,
        n_obs=int(results.nobs),
        n_clusters=n_clusters,
        n_treated_clusters=n_treated_clusters,
        inference=inference,
        model=fit,
        notes=tuple(notes),
        diagnostics={"moderator_centre": c, "n_treated_units": float(len(treated_units))},
    )


def _fit_of(estimate: EffectEstimate | ModeratorFit) -> ModeratorFit:
    fit = estimate.model if isinstance(estimate, EffectEstimate) else estimate
    if not isinstance(fit, ModeratorFit):
        raise ValueError(
            "expected the result of effect_by_moderator (an EffectEstimate whose model is a "
            f"ModeratorFit), got {type(fit).__name__}"
        )
    return fit


def predicted_effect(
    estimate: EffectEstimate | ModeratorFit, values: Sequence | np.ndarray | pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted effect and its standard error at given moderator values.

    Continuous: ``b0 + b1 (m - c)`` with variance ``V00 + 2 (m - c) V01 + (m - c)^2 V11``.
    Categorical: the category's effect and SE (NaN for a category without treated communes).
    """
    fit = _fit_of(estimate)
    coef = fit.results.params[list(fit.terms)].to_numpy()
    v = fit.vcov.to_numpy()
    if fit.kind == "continuous":
        x = np.asarray(values, float) - fit.centre
        effect = coef[0] + coef[1] * x
        var = v[0, 0] + 2 * x * v[0, 1] + x**2 * v[1, 1]
        return effect, np.sqrt(np.maximum(var, 0.0))
    labels = pd.Series(np.asarray(values)).astype(str)
    position = {k: i for i, k in enumerate(fit.categories)}
    idx = labels.map(position)
    effect = np.full(len(labels), np.nan)
    se = np.full(len(labels), np.nan)
    known = idx.notna().to_numpy()
    where = idx[known].astype(int).to_numpy()
    effect[known] = coef[where]
    se[known] = np.sqrt(np.diag(v))[where]
    return effect, se


def commune_effects(
    estimate: EffectEstimate | ModeratorFit,
    communes: pd.DataFrame,
    unit: str | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Predicted effect with SE and t(G-1) interval for every commune of ``communes``.

    ``communes`` has one row per commune with the moderator column used in the fit; ``unit``
    defaults to the commune column of the fit. Columns:
    ``unit, moderator value, predicted_effect, std_error, conf_low, conf_high, in_model,
    extrapolated`` (moderator outside the treated communes' range, or an unseen category).
    """
    fit = _fit_of(estimate)
    unit = fit.unit if unit is None else unit
    _check_columns(communes, {"unit": unit, "moderator": fit.moderator})
    effect, se = predicted_effect(fit, communes[fit.moderator])
    crit = stats.t.ppf(1 - alpha / 2, fit.df_inference)
    out = pd.DataFrame(
        {
            unit: communes[unit].to_numpy(),
            fit.moderator: communes[fit.moderator].to_numpy(),
            "predicted_effect": effect,
            "std_error": se,
            "conf_low": effect - crit * se,
            "conf_high": effect + crit * se,
        }
    )
    out["in_model"] = out[unit].isin(set(fit.treated_units)).to_numpy()
    if fit.kind == "continuous":
        m = out[fit.moderator].to_numpy(float)
        low, high = fit.treated_range
        out["extrapolated"] = (m < low) | (m > high)
    else:
        out["extrapolated"] = ~out[fit.moderator].astype(str).isin(fit.categories).to_numpy()
    return out


def dose_response(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    moderator: str,
    cluster: str,
    n_bins: int = 3,
    weights: str | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Effect by bin of a continuous moderator, as a tidy frame.

    Bins are quantiles of the moderator over treated communes (so every bin holds treated
    communes); the outer edges are widened to cover all communes. Each bin's effect comes from one
    TWFE model with a treatment x bin interaction (:func:`effect_by_moderator`, categorical).

    Returns
    -------
    pandas.DataFrame
        ``bin, bin_low, bin_high, moderator_median, n_treated_communes, estimate, std_error,
        conf_low, conf_high, p_value, inference_weak``.
    """
    _check_columns(data, {"moderator": moderator, "unit": unit, "treatment": treatment})
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    if not pd.api.types.is_numeric_dtype(data[moderator]):
        raise ValueError(f"moderator={moderator!r} must be numeric for dose_response")
    treated = data.loc[data[treatment] == 1].groupby(unit)[moderator].mean().dropna()
    if treated.nunique() < n_bins:
        raise ValueError(
            f"n_bins={n_bins} exceeds the {treated.nunique()} distinct moderator values among "
            "treated communes; use fewer bins"
        )
    edges = np.unique(np.quantile(treated.to_numpy(), np.linspace(0, 1, n_bins + 1)))
    edges[0] = min(edges[0], float(data[moderator].min()))
    edges[-1] = max(edges[-1], float(data[moderator].max()))
    labels = [f"b{i + 1}" for i in range(len(edges) - 1)]
    binned = data.copy()
    binned["_bin"] = pd.cut(
        binned[moderator], bins=edges, labels=labels, include_lowest=True
    ).astype(str)
    est = effect_by_moderator(
        binned,
        outcome,
        treatment,
        unit,
        time,
        "_bin",
        cluster,
        weights,
        kind="categorical",
        alpha=alpha,
    )
    fit = est.model
    rows = []
    treated_bins = pd.cut(treated, bins=edges, labels=labels, include_lowest=True).astype(str)
    for i, label in enumerate(labels):
        term = f"effect[{label}]"
        values = treated[treated_bins == label]
        row = {
            "bin": label,
            "bin_low": float(edges[i]),
            "bin_high": float(edges[i + 1]),
            "moderator_median": float(values.median()) if len(values) else np.nan,
            "n_treated_communes": int(fit.treated_per_category.get(label, 0)),
        }
        if term in est.terms.index:
            row.update(
                est.terms.loc[term, ["estimate", "std_error", "conf_low", "conf_high", "p_value"]]
            )
        else:
            row.update(
                dict.fromkeys(["estimate", "std_error", "conf_low", "conf_high", "p_value"], np.nan)
            )
        row["inference_weak"] = row["n_treated_communes"] <= WEAK_TREATED_MAX
        rows.append(row)
    out = pd.DataFrame(rows)
    out.insert(0, "moderator", moderator)
    return out
