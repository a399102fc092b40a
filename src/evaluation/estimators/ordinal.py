"""Ordered-logit difference-in-differences for Likert answers (1-5).

A mean of 1-5 answers treats "3 to 4" and "1 to 2" as the same gain. The ordered logit models the
answer as a latent satisfaction cut at four thresholds, and the DiD is the pilot-by-post shift of
that latent variable. Readers get it back on the answer scale: for the pilot communes after the
pilot, how much more (or less) likely each answer is than it would have been without the shift.

Specification (statsmodels :class:`~statsmodels.miscmodels.ordinal_model.OrderedModel`, logit)::

    latent = a * pilot + b * post + delta * pilot:post + covariates' g + logistic error

With ``wave=`` the single ``post`` dummy is replaced by one dummy per wave (group x period
dummies). Commune fixed effects are deliberately not used: in a non-linear model with ~100
communes and a few dozen ballots each they bring an incidental-parameter bias, and the pilot
dummy already absorbs the fixed difference between pilot and comparison communes.

The effect on answer ``k`` is ``mean_i [P(k | x_i) - P(k | x_i, pilot:post = 0)]`` over the pilot
ballots after the pilot (weighted if weights are given): the average effect on the treated on the
probability scale. The shifts sum to zero across answers. Standard errors come from the
cluster-robust covariance of the ordered logit (statsmodels ``cov_type="cluster"``, with its
small-sample factor ``G/(G-1) (N-1)/(N-K)``) through the delta method, or from a cluster bootstrap
that resamples pilot and comparison communes separately (``inference="bootstrap"``, seeded).
Intervals and p-values use the normal distribution.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.tools.numdiff import approx_fprime

from evaluation.estimators.result import TIDY_COLUMNS, EffectEstimate, term_frame

INTERACTION = "pilot_post"


class _WeightedOrderedModel(OrderedModel):
    """OrderedModel whose log-likelihood contributions are multiplied by sampling weights.

    The point estimate is then the weighted (pseudo-) maximum likelihood estimate; score and
    Hessian (numerical in GenericLikelihoodModel) follow from ``loglikeobs``, so the clustered
    sandwich is the usual one for weighted estimating equations.
    """

    def __init__(self, endog, exog, weights: np.ndarray, **kwds):
        self.obs_weights = np.asarray(weights, float)
        super().__init__(endog, exog, **kwds)

    def loglikeobs(self, params):
        return self.obs_weights * super().loglikeobs(params)


@dataclass(frozen=True)
class OrdinalDidResult:
    """Ordered-logit DiD on one Likert item.

    Attributes
    ----------
    item : str
        The answer column.
    levels : tuple of int
        The answer scale (1..5).
    shifts : pandas.DataFrame
        Indexed by term (``"P(answer=1)"`` ... ``"P(answer=5)"``, ``"P(satisfied 4-5)"``) with
        ``estimate, std_error, conf_low, conf_high, p_value`` (the shift in probability for pilot
        ballots after the pilot) and ``probability_without, probability_with`` (the average
        predicted probabilities without and with the pilot:post shift).
    coefficients : pandas.DataFrame
        Ordered-logit coefficients and thresholds (statsmodels names) with cluster-robust
        ``std_error, conf_low, conf_high, p_value``; ``pilot_post`` is the latent DiD.
    estimate : EffectEstimate
        The shift in P(satisfied) as an effect estimate (for ``tables/effects.csv``).
    model : object
        The fitted statsmodels ``OrderedResults``.
    n_obs, n_clusters, n_treated_clusters : int
        Ballots used, clusters, clusters with pilot ballots.
    inference : str
        How the standard errors were obtained.
    notes : tuple of str
        Rows dropped and similar facts.
    draws : pandas.DataFrame or None
        Bootstrap draws of the shifts (``inference="bootstrap"`` only).
    level : float
        Confidence level of the intervals.
    satisfied : tuple of int
        Answers counted as satisfied.
    """

    item: str
    levels: tuple[int, ...]
    shifts: pd.DataFrame
    coefficients: pd.DataFrame
    estimate: EffectEstimate
    model: Any = field(repr=False, compare=False)
    n_obs: int = 0
    n_clusters: int = 0
    n_treated_clusters: int = 0
    inference: str = ""
    notes: tuple[str, ...] = ()
    draws: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    level: float = 0.95
    satisfied: tuple[int, ...] = (4, 5)

    def tidy(self) -> pd.DataFrame:
        """One row per answer probability (and P(satisfied)) with :data:`TIDY_COLUMNS`."""
        out = self.shifts[["estimate", "std_error", "conf_low", "conf_high", "p_value"]].copy()
        out.insert(0, "term", [str(i) for i in out.index])
        out.insert(0, "estimator", self.estimate.estimator)
        out.insert(0, "estimand", self.estimate.estimand)
        out.insert(0, "outcome", self.item)
        out["n_obs"] = self.n_obs
        out["n_clusters"] = self.n_clusters
        out["n_treated_clusters"] = self.n_treated_clusters
        out["inference"] = self.inference
        return out[TIDY_COLUMNS].reset_index(drop=True)


def answer_term(level: int) -> str:
    """Term name of the shift in the probability of one answer."""
    return f"P(answer={level})"


def satisfied_term(satisfied: Sequence[int]) -> str:
    """Term name of the shift in the probability of a satisfied answer (``P(satisfied 4-5)``)."""
    low, high = min(satisfied), max(satisfied)
    return f"P(satisfied {low}-{high})" if low != high else f"P(satisfied {low})"


def _design(
    frame: pd.DataFrame,
    pilot: str,
    post: str,
    wave: str | None,
    covariates: list[str],
) -> pd.DataFrame:
    exog = pd.DataFrame(index=frame.index)
    exog["pilot"] = frame[pilot].astype(float)
    if wave is None:
        exog["post"] = frame[post].astype(float)
    else:
        dummies = pd.get_dummies(frame[wave], prefix="wave", drop_first=True, dtype=float)
        exog = exog.join(dummies)
    exog[INTERACTION] = frame[pilot].astype(float) * frame[post].astype(float)
    for c in covariates:
        exog[c] = frame[c].astype(float)
    return exog


def _fit(endog: np.ndarray, exog: pd.DataFrame, weights: np.ndarray | None, groups, start=None):
    if weights is None:
        model = OrderedModel(endog, exog, distr="logit")
    else:
        model = _WeightedOrderedModel(endog, exog, weights=weights, distr="logit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is checked explicitly below
        kwargs = (
            {"cov_type": "cluster", "cov_kwds": {"groups": groups}} if groups is not None else {}
        )
        result = model.fit(
            start_params=start, method="bfgs", maxiter=2000, disp=False, gtol=1e-7, **kwargs
        )
    return model, result


def _shift_function(
    model: OrderedModel, exog_treated: np.ndarray, weights: np.ndarray, column: int
):
    exog_off = exog_treated.copy()
    exog_off[:, column] = 0.0
    scale = weights / weights.sum()

    def probabilities(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with_shift = scale @ model.predict(params, exog=exog_treated)
        without = scale @ model.predict(params, exog=exog_off)
        return without, with_shift

    return probabilities


def ordinal_did(
    data: pd.DataFrame,
    item: str,
    pilot: str,
    post: str,
    unit: str,
    cluster: str,
    covariates: Sequence[str] = (),
    weights: str | None = None,
    wave: str | None = None,
    levels: Sequence[int] = (1, 2, 3, 4, 5),
    satisfied: Sequence[int] = (4, 5),
    inference: Literal["delta", "bootstrap"] = "delta",
    n_boot: int = 199,
    seed: int = 0,
    alpha: float = 0.05,
) -> OrdinalDidResult:
    """Ordered-logit DiD of a Likert item with answer-probability shifts for the pilot communes.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per ballot.
    item : str
        Answer column with values in ``levels``.
    pilot, post : str
        0/1 columns: pilot commune; period after the pilot started.
    unit : str
        The unit the pilot was assigned to (commune); ``pilot`` must be constant within it.
    cluster : str
        Cluster for the standard errors (commune).
    covariates : sequence of str
        Numeric ballot-level covariates.
    weights : str, optional
        Sampling weights: weighted likelihood and weighted averages of the probabilities.
    wave : str, optional
        Wave column: use one dummy per wave instead of the single ``post`` dummy.
    levels : sequence of int
        The answer scale, lowest first. Every level must occur in the data.
    satisfied : sequence of int
        Answers counted as satisfied.
    inference : {"delta", "bootstrap"}
        Delta method on the clustered covariance, or cluster bootstrap (pilot and comparison
        clusters resampled separately) with ``n_boot`` draws seeded by ``seed``.
    alpha : float
        1 - confidence level.

    Returns
    -------
    OrdinalDidResult
    """
    levels = tuple(int(v) for v in levels)
    satisfied = tuple(int(v) for v in satisfied)
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    named = {"item": item, "pilot": pilot, "post": post, "unit": unit, "cluster": cluster,
             "weights": weights, "wave": wave} | {f"covariates[{i}]": c for i, c in enumerate(covariates)}  # fmt: skip
    for argument, column in named.items():
        if column is not None and column not in data.columns:
            raise ValueError(
                f"{argument}={column!r} is not a column of data; pass an existing column"
            )
    if len(levels) < 3 or list(levels) != sorted(set(levels)):
        raise ValueError(f"levels must be at least three increasing answers, got {levels}")
    if not set(satisfied) <= set(levels):
        raise ValueError(f"satisfied={satisfied} must be a subset of levels={levels}")
    if inference not in ("delta", "bootstrap"):
        raise ValueError(f"inference must be 'delta' or 'bootstrap', got {inference!r}")
    if inference == "bootstrap" and n_boot < 2:
        raise ValueError(f"n_boot must be at least 2 for the bootstrap, got {n_boot}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")

    used = list(dict.fromkeys(
        [item, pilot, post, unit, cluster, *covariates] + [c for c in (weights, wave) if c]
    ))  # fmt: skip
    frame = data[used]
    notes: list[str] = []
    complete = frame.notna().all(axis=1)
    if not complete.all():
        notes.append(f"{int((~complete).sum())} ballots with missing values dropped")
        frame = frame.loc[complete]
    for column in (pilot, post):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() or not values.isin([0, 1]).all():
            raise ValueError(
                f"column {column!r} must hold only 0 and 1; code it as a 0/1 indicator"
            )
    if (frame.groupby(unit)[pilot].nunique() > 1).any():
        raise ValueError(f"column {pilot!r} must be constant within each {unit!r}")
    answers = pd.to_numeric(frame[item], errors="coerce")
    outside = ~answers.isin(levels)
    if outside.any():
        raise ValueError(
            f"column {item!r} has values outside levels={levels} "
            f"(e.g. {frame.loc[outside, item].iloc[0]!r}); recode or drop them first"
        )
    missing_levels = [v for v in levels if not (answers == v).any()]
    if missing_levels:
        raise ValueError(
            f"answers {missing_levels} of {item!r} never occur, so their thresholds cannot be "
            "estimated; pass fewer levels (merge rare answers) instead"
        )
    cells = frame.groupby([pilot, post]).size()
    if len(cells) < 4:
        raise ValueError(f"need ballots in all four {pilot} x {post} cells, got {dict(cells)}")
    for c in covariates + ([weights] if weights else []):
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise ValueError(f"column {c!r} must be numeric; encode categories as 0/1 dummies")
    if weights is not None and (frame[weights] < 0).any():
        raise ValueError(f"weights column {weights!r} has negative values; weights must be >= 0")

    endog = pd.Series(
        pd.Categorical(answers.astype(int), categories=list(levels), ordered=True),
        index=frame.index,
    )
    exog = _design(frame, pilot, post, wave, covariates)
    w = frame[weights].to_numpy(float) if weights else None
    if w is not None:
        w = w / w.mean()  # likelihood on the scale of the ballot count
    groups = pd.factorize(frame[cluster])[0]
    model, result = _fit(endog, exog, w, groups)
    if not result.mle_retvals.get("converged", True):
        notes.append("ordered logit optimiser reported no convergence")
    params = np.asarray(result.params, float)

    treated = (frame[pilot].to_numpy(float) == 1) & (frame[post].to_numpy(float) == 1)
    column = list(exog.columns).index(INTERACTION)
    weight_treated = (w if w is not None else np.ones(len(frame)))[treated]
    probabilities = _shift_function(model, exog.to_numpy(float)[treated], weight_treated, column)
    sat_index = [levels.index(v) for v in satisfied]

    def shift_vector(theta: np.ndarray) -> np.ndarray:
        without, with_shift = probabilities(theta)
        shift = with_shift - without
        return np.append(shift, shift[sat_index].sum())

    estimate = shift_vector(params)
    without, with_shift = probabilities(params)
    z = stats.norm.ppf(1 - alpha / 2)
    n_clusters = int(frame[cluster].nunique())
    n_treated = int(frame.loc[frame[pilot].astype(float) == 1, cluster].nunique())
    draws_frame = None
    names = [answer_term(v) for v in levels] + [satisfied_term(satisfied)]
    if inference == "delta":
        jacobian = approx_fprime(params, shift_vector, centered=True)
        cov = np.asarray(result.cov_params(), float)
        se = np.sqrt(np.maximum(np.diag(jacobian @ cov @ jacobian.T), 0.0))
        low, high = estimate - z * se, estimate + z * se
        inference_text = (
            f"delta method, cluster-robust by {cluster} ({n_clusters} clusters), normal"
        )
    else:
        draws = _cluster_bootstrap(
            frame, endog, exog, w, cluster, pilot, post, column, sat_index, params, n_boot, seed
        )
        se = draws.std(axis=0, ddof=1)
        low = np.quantile(draws, alpha / 2, axis=0)
        high = np.quantile(draws, 1 - alpha / 2, axis=0)
        draws_frame = pd.DataFrame(draws, columns=names)
        inference_text = (
            f"cluster bootstrap by {cluster} ({n_clusters} clusters, {n_boot} draws, "
            f"seed {seed}, pilot and comparison resampled separately), percentile interval"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        p_value = np.where(se > 0, 2 * stats.norm.sf(np.abs(estimate) / se), np.nan)
    shifts = term_frame(names, estimate, se, low, high, p_value)
    shifts["probability_without"] = np.append(without, without[sat_index].sum())
    shifts["probability_with"] = np.append(with_shift, with_shift[sat_index].sum())

    bse = np.asarray(result.bse, float)
    coefficients = term_frame(
        [str(name) for name in result.params.index],
        params,
        bse,
        params - z * bse,
        params + z * bse,
        2 * stats.norm.sf(np.abs(params / bse)),
    )
    headline = shifts.loc[[names[-1]]].drop(columns=["probability_without", "probability_with"])
    effect = EffectEstimate(
        outcome=item,
        estimand="ATT (probability)",
        estimator="ordinal_logit_did",
        terms=headline,
        n_obs=int(len(frame)),
        n_clusters=n_clusters,
        n_treated_clusters=n_treated,
        inference=inference_text,
        model=result,
        notes=tuple(notes),
        diagnostics={
            "latent_did": float(params[column]),
            "latent_did_std_error": float(bse[column]),
            "probability_satisfied_without": float(shifts["probability_without"].iloc[-1]),
            "confidence_level": 1 - alpha,
        },
    )
    return OrdinalDidResult(
        item=item,
        levels=levels,
        shifts=shifts,
        coefficients=coefficients,
        estimate=effect,
        model=result,
        n_obs=int(len(frame)),
        n_clusters=n_clusters,
        n_treated_clusters=n_treated,
        inference=inference_text,
        notes=tuple(notes),
        draws=draws_frame,
        level=1 - alpha,
        satisfied=satisfied,
    )


def _cluster_bootstrap(
    frame: pd.DataFrame,
    endog: pd.Series,
    exog: pd.DataFrame,
    weights: np.ndarray | None,
    cluster: str,
    pilot: str,
    post: str,
    column: int,
    sat_index: list[int],
    start: np.ndarray,
    n_boot: int,
    seed: int,
) -> np.ndarray:
    """Shifts re-estimated on clusters drawn with replacement within pilot and comparison."""
    rng = np.random.default_rng(seed)
    codes = pd.factorize(frame[cluster])[0]
    rows_of = pd.Series(np.arange(len(frame))).groupby(codes).apply(np.asarray).to_dict()
    is_pilot = frame[pilot].astype(float).to_numpy() == 1
    pilot_clusters = np.unique(codes[is_pilot])
    comparison_clusters = np.setdiff1d(np.unique(codes), pilot_clusters)
    x_all = exog.to_numpy(float)
    y_all = np.asarray(endog.cat.codes)
    treated_all = is_pilot & (frame[post].astype(float).to_numpy() == 1)
    w_all = weights if weights is not None else np.ones(len(frame))
    n_levels = len(endog.cat.categories)
    draws = []
    attempts = 0
    while len(draws) < n_boot:
        attempts += 1
        if attempts > 10 * n_boot:
            raise ValueError(
                "too many bootstrap samples lack an answer level; merge rare answers (levels=)"
            )
        chosen = np.concatenate(
            [
                rng.choice(pilot_clusters, size=len(pilot_clusters), replace=True),
                rng.choice(comparison_clusters, size=len(comparison_clusters), replace=True),
            ]
        )
        rows = np.concatenate([rows_of[c] for c in chosen])
        if len(np.unique(y_all[rows])) < n_levels:
            continue  # a threshold would not be identified in this draw: draw again
        y = pd.Series(pd.Categorical.from_codes(y_all[rows], categories=endog.cat.categories,
                                                ordered=True))  # fmt: skip
        x = pd.DataFrame(x_all[rows], columns=exog.columns)
        model, result = _fit(y, x, None if weights is None else w_all[rows], None, start)
        treated = treated_all[rows]
        probabilities = _shift_function(model, x_all[rows][treated], w_all[rows][treated], column)
        without, with_shift = probabilities(np.asarray(result.params, float))
        shift = with_shift - without
        draws.append(np.append(shift, shift[sat_index].sum()))
    return np.asarray(draws)
