"""Event study: effects by time relative to a commune's first treated wave, with a pre-trend test.

``outcome ~ sum_e 1[wave - first_treated = e] | commune + wave`` with the event time ``e = -1``
(the wave before the pilot started) as reference, fitted like :func:`~.twfe.twfe` (absorbed
fixed effects, statsmodels OLS/WLS, cluster-robust SE). Never-treated communes
(``first_treated`` missing) have no event-time dummies and form the comparison group. The joint
cluster-robust Wald test that all leads are zero is the usual pre-trend check; with staggered
adoption and heterogeneous effects the dummies can be contaminated (Sun and Abraham 2021), so
read it beside the Callaway-Sant'Anna estimates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.estimators.result import EffectEstimate, term_frame
from evaluation.estimators.twfe import Ssc, fit_within

__all__ = [
    "contiguous_event_window",
    "event_average",
    "event_study",
    "event_term",
    "parse_event_term",
]


def event_term(e: int) -> str:
    """Term name of event time ``e``: ``-4 -> "e-4"``, ``0 -> "e+0"``, ``3 -> "e+3"``."""
    return f"e{int(e):+d}"


def parse_event_term(term: str) -> int:
    """Event time of a term name made by :func:`event_term` (``"e-4" -> -4``)."""
    if not (isinstance(term, str) and term.startswith("e") and term[1:2] in "+-"):
        raise ValueError(f"{term!r} is not an event-time term like 'e-4' or 'e+0'.")
    return int(term[1:])


def event_study(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    cluster: str | None = None,
    weights: str | None = None,
    leads: int = 4,
    lags: int = 4,
    reference: int = -1,
    bin_endpoints: bool = True,
    ssc: Ssc = "fixest",
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
    estimator: str = "event_study_twfe",
) -> EffectEstimate:
    """Dynamic two-way fixed effects (event-study) estimates with a joint pre-trend test.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per ballot or per commune-wave.
    outcome : str
        Outcome column.
    unit, time : str
        Fixed-effect columns; ``time`` must be an integer period index (waves 1, 2, ...).
    first_treated : str
        First treated period of the unit, in the units of ``time``; NaN for never-treated units.
    cluster : str, optional
        Cluster column; defaults to ``unit``.
    weights : str, optional
        Positive weights.
    leads, lags : int
        Event window ``-leads .. lags``.
    reference : int
        Omitted event time (default -1, the period before treatment).
    bin_endpoints : bool
        If True, event times beyond the window are pooled into the end bins (``e-leads`` holds
        every ``e <= -leads``, ``e+lags`` every ``e >= lags``). If False, treated units'
        observations outside the window are dropped (counted in ``notes``).
    ssc : {"fixest", "statsmodels"}
        Small-sample convention (see :mod:`.twfe`).
    covariates : sequence of str
        Numeric controls.
    alpha : float
        1 - confidence level.
    estimator : str
        Name written in the ``estimator`` field.

    Returns
    -------
    EffectEstimate
        Terms ``"e-4" ... "e+4"`` without the reference, in event-time order; diagnostics
        ``pretrend_wald`` (Wald statistic / number of leads, an F statistic), ``pretrend_df``
        (number of leads tested), ``pretrend_df_denom`` (G - 1), ``pretrend_p_value``,
        ``reference``, ``binned_endpoints`` and ``singletons_dropped``.

    Raises
    ------
    ValueError
        On missing columns, non-integer periods, a reference outside the window, or no
        treated observation in the window.
    """
    cluster = unit if cluster is None else cluster
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    for arg, name in [("unit", unit), ("time", time), ("first_treated", first_treated)]:
        if name not in data.columns:
            raise ValueError(f"{arg} column {name!r} not found in the data.")
    if leads < 1 or lags < 0:
        raise ValueError(f"leads must be >= 1 and lags >= 0, got leads={leads}, lags={lags}.")
    if not -leads <= reference <= lags:
        raise ValueError(
            f"reference={reference} lies outside the event window -{leads}..{lags}; "
            "choose a reference inside it (usually -1)."
        )
    if not pd.api.types.is_numeric_dtype(data[time]):
        raise ValueError(f"time column {time!r} must hold integer periods, got {data[time].dtype}.")
    if not pd.api.types.is_numeric_dtype(data[first_treated]):
        raise ValueError(
            f"first_treated column {first_treated!r} must be numeric periods (NaN = never treated), "
            f"got {data[first_treated].dtype}."
        )
    period = data[time].to_numpy(dtype=float)
    start = data[first_treated].to_numpy(dtype=float)
    finite = ~np.isnan(period)
    if np.any(period[finite] != np.round(period[finite])):
        raise ValueError(f"time column {time!r} must hold integer periods (waves 1, 2, ...).")

    rel = period - start  # NaN for never-treated units and missing periods
    ever = ~np.isnan(rel)
    notes: list[str] = []
    if bin_endpoints:
        rel = np.where(ever, np.clip(rel, -leads, lags), np.nan)
        frame = data
    else:
        outside = ever & ((rel < -leads) | (rel > lags))
        frame = data.loc[~outside]
        rel = rel[~outside]
        ever = ever[~outside]
        if outside.any():
            notes.append(
                f"{int(outside.sum()):,} treated observations outside the event window "
                f"-{leads}..{lags} dropped"
            )

    window = [e for e in range(-leads, lags + 1) if e != reference]
    dummies = {event_term(e): (rel == e).astype(np.float64) for e in window}
    empty = [name for name, col in dummies.items() if not col.any()]
    if empty:
        notes.append(f"event times without observations left out: {empty}")
    names = [name for name in dummies if name not in empty]
    if not names:
        raise ValueError(
            f"no treated observation falls in the event window -{leads}..{lags}; "
            f"check {first_treated!r} and {time!r}."
        )
    base_cols = list(
        dict.fromkeys(c for c in [outcome, unit, time, cluster, weights, *covariates] if c)
    )
    missing = [c for c in base_cols if c not in frame.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not found in the data.")
    clash = [n for n in names if n in base_cols]
    if clash:
        raise ValueError(f"data already has columns named {clash}; rename them.")
    design = frame[base_cols].copy()
    for name in names:
        design[name] = dummies[name]
    design["_post"] = (ever & (rel >= 0)).astype(np.float64)

    fit = fit_within(
        design,
        outcome,
        [*names, *covariates],
        [unit, time],
        cluster,
        weights=weights,
        ssc=ssc,
        alpha=alpha,
        extra_columns=["_post"],
    )
    lead_names = [n for n in names if parse_event_term(n) < 0]
    f_stat, q, p_value = fit.wald(lead_names)
    post = fit.frame["_post"].to_numpy() > 0
    n_treated_clusters = int(np.unique(fit.cluster_codes[post]).size)

    diagnostics = dict(fit.diagnostics)
    diagnostics.update(
        {
            "pretrend_wald": f_stat,
            "pretrend_df": float(q),
            "pretrend_df_denom": float(fit.df_t),
            "pretrend_p_value": p_value,
            "reference": float(reference),
            "binned_endpoints": float(bool(bin_endpoints)),
            "leads": float(leads),
            "lags": float(lags),
        }
    )
    inference = (
        fit.inference + f"; pre-trend test: joint Wald on {q} leads, F({q}, {fit.df_t})"
        if q
        else fit.inference
    )
    return EffectEstimate(
        outcome=outcome,
        estimand="ATT(e)",
        estimator=estimator,
        terms=fit.terms.loc[names],
        n_obs=fit.n_obs,
        n_clusters=fit.n_clusters,
        n_treated_clusters=n_treated_clusters,
        inference=inference,
        model=fit.results,
        notes=tuple(notes) + fit.notes,
        diagnostics=diagnostics,
    )


def contiguous_event_window(event_times: Iterable[float], leads: int, lags: int) -> tuple[int, int]:
    """The widest event window ``-leads' .. lags'`` the data fill without a gap.

    Parameters
    ----------
    event_times : iterable of numbers
        Event times observed for treated units (period minus first treated period; NaN ignored).
    leads, lags : int
        The window asked for (``-leads .. lags``, reference ``-1``).

    Returns
    -------
    (int, int)
        ``leads'`` <= ``leads``: the largest ``k`` with every event time ``-1 .. -k`` observed
        (0 when ``-1`` is not); ``lags'`` <= ``lags``: the largest ``m`` with ``0 .. m`` observed
        (-1 when ``0`` is not). With :func:`event_study`'s binned end points, the terms of
        ``event_study(..., leads=leads', lags=lags')`` are then contiguous around the reference.
    """
    seen = {int(e) for e in np.asarray(list(event_times), float) if np.isfinite(e)}
    k = 0
    while k < leads and -(k + 1) in seen:
        k += 1
    m = -1
    while m < lags and m + 1 in seen:
        m += 1
    return k, m


def event_average(study: EffectEstimate, alpha: float = 0.05) -> EffectEstimate:
    """The mean of the post-start event-time coefficients (``e+0 .. e+L``) with a Wald interval.

    The variance comes from the study's fitted covariance (``study.model.cov_params()``) and the
    interval and p-value use the normal reference, as the original interval of HonestDiD does.

    Raises
    ------
    ValueError
        When the study has no post-start term or no fitted model.
    """
    names = [str(n) for n in study.terms.index if parse_event_term(str(n)) >= 0]
    if not names:
        raise ValueError("the event study has no post-start term (e+0, e+1, ...) to average.")
    if study.model is None:
        raise ValueError("the event study carries no fitted model; refit it to average its terms.")
    weights = np.full(len(names), 1.0 / len(names))
    beta = np.asarray(study.model.params.loc[names], float)
    cov = np.asarray(study.model.cov_params().loc[names, names], float)
    theta = float(weights @ beta)
    se = float(np.sqrt(weights @ cov @ weights))
    z = stats.norm.ppf(1 - alpha / 2)
    p_value = float(2 * stats.norm.sf(abs(theta / se))) if se > 0 else float("nan")
    return EffectEstimate(
        outcome=study.outcome,
        estimand="ATT",
        estimator="event_study_post_average",
        terms=term_frame(
            ["post_average"], [theta], [se], [theta - z * se], [theta + z * se], [p_value]
        ),
        n_obs=study.n_obs,
        n_clusters=study.n_clusters,
        n_treated_clusters=study.n_treated_clusters,
        inference=(
            f"mean of {names[0]}..{names[-1]} of the event study; Wald interval, normal "
            f"reference; {study.inference}"
        ),
        diagnostics={"n_post_terms": float(len(names))},
    )
