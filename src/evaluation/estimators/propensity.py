"""Propensity scores for pilot selection, overlap trimming, weights and matching at commune level.

The pilot communes were chosen (better staffed, more urban), so a comparison group is built by
modelling the probability of selection given baseline covariates. Every function returns
commune-level objects indexed like the input, so the result can be joined back as a ``weights``
column for a downstream estimator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm

Estimand = Literal["ATT", "ATE", "ATC"]


@dataclass(frozen=True)
class PropensityResult:
    """A fitted selection model.

    Attributes
    ----------
    scores : pandas.Series
        Fitted probability of being a pilot commune, indexed like the rows used.
    group : pandas.Series
        The 0/1 pilot indicator for the same rows.
    covariates : tuple of str
    n_obs, n_pilot : int
    converged : bool
    model : statsmodels LogitResults
        The fitted model, for researchers.
    """

    scores: pd.Series
    group: pd.Series
    covariates: tuple[str, ...]
    n_obs: int
    n_pilot: int
    converged: bool
    model: Any = field(default=None, repr=False, compare=False)

    @property
    def logit(self) -> pd.Series:
        """The linear predictor ``log(p / (1 - p))`` (used for calipers)."""
        p = self.scores
        return np.log(p / (1 - p)).rename("logit_score")


def propensity_scores(
    communes: pd.DataFrame, group: str, covariates: Sequence[str]
) -> PropensityResult:
    """Logit of pilot status on baseline covariates (with a constant), statsmodels ``Logit``.

    Rows with a missing group or covariate are dropped (their score is absent from ``scores``).
    Perfect separation raises statsmodels' error: drop or coarsen the separating covariate.
    """
    missing = [c for c in [group, *covariates] if c not in communes.columns]
    if missing:
        raise ValueError(
            f"propensity_scores: columns {missing} are not in the communes frame; "
            f"available columns: {list(communes.columns)}."
        )
    if not covariates:
        raise ValueError("covariates must name at least one column.")
    data = communes[[group, *covariates]].dropna()
    values = set(pd.unique(data[group]))
    if not values <= {0, 1} or len(values) < 2:
        raise ValueError(
            f"group column {group!r} must be 0/1 with both values present, got {sorted(values)}."
        )
    y = data[group].astype(float)
    x = sm.add_constant(data[list(covariates)].astype(float), has_constant="add")
    fit = sm.Logit(y, x).fit(disp=0, maxiter=200)
    scores = pd.Series(np.asarray(fit.predict(x), float), index=data.index, name="propensity")
    return PropensityResult(
        scores=scores,
        group=y.astype(int).rename(group),
        covariates=tuple(covariates),
        n_obs=int(len(data)),
        n_pilot=int(y.sum()),
        converged=bool(fit.mle_retvals.get("converged", True)),
        model=fit,
    )


def crump_alpha(scores: pd.Series | np.ndarray) -> float:
    """Optimal trimming threshold of Crump, Hotz, Imbens & Mitnik (2009, Biometrika).

    With ``g = 1 / (e (1 - e))``: if ``max g <= 2 mean g`` nothing is trimmed (alpha = 0);
    otherwise ``alpha = 1/2 - sqrt(1/4 - 1/gamma)`` where ``gamma`` solves
    ``gamma = 2 E[g | g <= gamma]`` (sample version: the largest ``k`` with
    ``g_(k) <= 2 mean(g_(1..k))``, ``gamma = 2 mean(g_(1..k))``). Units with
    ``alpha <= e <= 1 - alpha`` are kept; this minimises the asymptotic variance of the
    ATE on the trimmed sample under homoskedasticity (the rule of thumb alpha ~ 0.1).
    """
    e = np.asarray(scores, float)
    if np.any((e <= 0) | (e >= 1)):
        raise ValueError("scores must lie strictly between 0 and 1.")
    g = np.sort(1.0 / (e * (1.0 - e)))
    if g[-1] <= 2.0 * g.mean():
        return 0.0
    running_mean = np.cumsum(g) / np.arange(1, g.size + 1)
    ok = np.flatnonzero(g <= 2.0 * running_mean)
    gamma = 2.0 * running_mean[ok[-1]]
    return float(0.5 - np.sqrt(max(0.25 - 1.0 / gamma, 0.0)))


def overlap_trim(
    scores: pd.Series,
    rule: Literal["crump", "fixed"] = "crump",
    bounds: tuple[float, float] = (0.05, 0.95),
) -> pd.Series:
    """Which communes to keep for common support.

    Parameters
    ----------
    scores : pandas.Series
        Propensity scores.
    rule : {"crump", "fixed"}
        ``"crump"``: keep ``alpha <= e <= 1 - alpha`` with :func:`crump_alpha`; ``"fixed"``: keep
        ``bounds[0] <= e <= bounds[1]``.
    bounds : tuple of float
        Used by ``rule="fixed"``.

    Returns
    -------
    pandas.Series of bool
        ``True`` = keep, indexed like ``scores``; ``attrs`` hold ``rule``, ``lower``, ``upper``
        and ``n_dropped``.
    """
    s = pd.Series(scores, dtype=float)
    if rule == "crump":
        alpha = crump_alpha(s.to_numpy())
        lower, upper = alpha, 1.0 - alpha
    elif rule == "fixed":
        lower, upper = bounds
        if not 0.0 <= lower < upper <= 1.0:
            raise ValueError(f"bounds must satisfy 0 <= lower < upper <= 1, got {bounds}.")
    else:
        raise ValueError(f"rule must be 'crump' or 'fixed', got {rule!r}.")
    keep = ((s >= lower) & (s <= upper)).rename("keep")
    keep.attrs.update(
        {
            "rule": rule,
            "lower": float(lower),
            "upper": float(upper),
            "n_dropped": int((~keep).sum()),
        }
    )
    return keep


def _aligned(scores: pd.Series, group: pd.Series | np.ndarray) -> tuple[pd.Series, np.ndarray]:
    s = pd.Series(scores, dtype=float)
    d = group.reindex(s.index) if isinstance(group, pd.Series) else pd.Series(group, index=s.index)
    if d.isna().any():
        raise ValueError("group has no value for some rows of scores; align them by index first.")
    dv = d.to_numpy(dtype=float)
    if not set(np.unique(dv)) <= {0.0, 1.0}:
        raise ValueError("group must be 0/1 (1 = pilot).")
    if np.any((s <= 0) | (s >= 1)):
        raise ValueError("scores must lie strictly between 0 and 1 (trim before weighting).")
    return s, dv


def ipw_weights(
    scores: pd.Series,
    group: pd.Series | np.ndarray,
    estimand: Estimand = "ATT",
    normalise: bool = True,
) -> pd.Series:
    """Inverse-probability weights for the chosen estimand.

    ATT: pilots 1, comparison ``e / (1 - e)``; ATE: ``1 / e`` and ``1 / (1 - e)``; ATC: pilots
    ``(1 - e) / e``, comparison 1. With ``normalise`` each group's weights are rescaled to sum to
    the group size the estimand targets (pilot count for ATT ...), i.e. Hájek weights.
    """
    s, d = _aligned(scores, group)
    e = s.to_numpy()
    if estimand == "ATT":
        w = np.where(d == 1, 1.0, e / (1 - e))
        target = d.sum()
    elif estimand == "ATE":
        w = np.where(d == 1, 1 / e, 1 / (1 - e))
        target = None
    elif estimand == "ATC":
        w = np.where(d == 1, (1 - e) / e, 1.0)
        target = (1 - d).sum()
    else:
        raise ValueError(f"estimand must be 'ATT', 'ATE' or 'ATC', got {estimand!r}.")
    if normalise:
        for g in (0.0, 1.0):
            mask = d == g
            size = d.size if target is None else target
            w[mask] = w[mask] * size / w[mask].sum()
    return pd.Series(w, index=s.index, name="weights")


def effective_sample_size(weights: pd.Series | np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (NaN when every weight is 0)."""
    w = np.asarray(weights, float)
    return float(w.sum() ** 2 / np.sum(w**2)) if np.sum(w**2) > 0 else float("nan")


def nearest_neighbour_match(
    scores: pd.Series,
    group: pd.Series | np.ndarray,
    n_neighbours: int = 1,
    caliper: float | None = 0.2,
    replace: bool = True,
) -> pd.DataFrame:
    """Match each pilot to its nearest comparison communes on the logit of the score (ATT).

    Parameters
    ----------
    scores, group
        Propensity scores and the 0/1 pilot indicator (aligned by index).
    n_neighbours : int
        Comparison communes per pilot.
    caliper : float or None
        Maximum distance in standard deviations of the logit score (Austin 2011: 0.2); pilots
        with no comparison inside the caliper are left unmatched (weight 0). ``None``: no caliper.
    replace : bool
        Whether a comparison commune can serve several pilots (with few comparison communes per
        district, matching with replacement keeps the closest matches).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``scores`` with ``weights`` (pilots: 1 if matched else 0; comparison: the
        sum over pilots of ``1 / number of matches``), ``matched`` (bool) and ``matched_to``
        (tuple of comparison index labels, pilots only). ``attrs['n_unmatched_pilots']``.
    """
    if n_neighbours < 1:
        raise ValueError(f"n_neighbours must be >= 1, got {n_neighbours}.")
    s, d = _aligned(scores, group)
    logit = np.log(s / (1 - s)).to_numpy()
    width = None if caliper is None else caliper * np.std(logit, ddof=1)
    pilots = np.flatnonzero(d == 1)
    pool = list(np.flatnonzero(d == 0))
    weights = np.zeros(d.size)
    matched_to: list[tuple] = [()] * d.size
    # Hardest pilots first (highest score) when matching without replacement, as MatchIt does
    # for "largest" ordering; irrelevant with replacement.
    order = pilots[np.argsort(-logit[pilots], kind="stable")] if not replace else pilots
    unmatched = 0
    for i in order:
        if not pool:
            unmatched += 1
            continue
        cand = np.asarray(pool)
        dist = np.abs(logit[cand] - logit[i])
        pick = cand[np.argsort(dist, kind="stable")[:n_neighbours]]
        if width is not None:
            pick = pick[np.abs(logit[pick] - logit[i]) <= width]
        if pick.size == 0:
            unmatched += 1
            continue
        weights[i] = 1.0
        weights[pick] += 1.0 / pick.size
        matched_to[i] = tuple(s.index[pick])
        if not replace:
            pool = [j for j in pool if j not in set(pick)]
    out = pd.DataFrame(
        {"weights": weights, "matched": weights > 0, "matched_to": matched_to}, index=s.index
    )
    out.attrs["n_unmatched_pilots"] = unmatched
    out.attrs["caliper_logit_sd"] = caliper
    return out
