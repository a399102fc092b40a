"""The efficient estimator for randomly timed staggered adoption (Roth and Sant'Anna 2023).

When the period at which each unit starts is drawn at random (a stepped-wedge rollout), the
cohorts are random samples of the same population and every comparison of cohort means is an
unbiased design-based contrast. Roth and Sant'Anna ("Efficient estimation for staggered rollout
designs", JPE Micro 2023; R package ``staggered``) write the target and a pre-period contrast as
linear combinations of the cohort means ``Ybar_g`` (one row per cohort, one column per period)::

    theta_0 = sum_g A_theta_g . Ybar_g       (difference in means after the start)
    X       = sum_g A_0_g     . Ybar_g       (the same contrast before the start: zero in mean)
    theta(beta) = theta_0 - beta * X

``beta = 0`` is the simple difference in means, ``beta = 1`` Callaway and Sant'Anna's
not-yet-treated DiD; the plug-in ``beta*`` minimises the design-based variance::

    beta* = [sum_g A_0_g S_g A_0_g' / N_g]^-1 sum_g A_0_g S_g A_theta_g' / N_g

with ``S_g`` the sample covariance of the outcomes of cohort ``g`` over the periods. The
Neyman-type variance is ``sum_g (A_theta_g - beta A_0_g) S_g (...)' / N_g`` (conservative: the
variance of the unit-level effects cannot be estimated); the refined variance subtracts the part
of that heterogeneity explained by the periods before the first start, as ``staggered`` does.

The matrices ``A_theta`` and ``A_0`` are built exactly as in ``staggered`` 1.2 (its
``create_Atheta_list_for_*`` and ``create_A0_list_for_*``): ``simple`` averages all identified
(g, t) effects with weights N_g; ``cohort`` averages each cohort's effects over its periods, then
across cohorts by N_g; ``calendar`` averages the N_g-weighted effects of each period, then
across periods; ``eventstudy`` the N_g-weighted effects ``e`` periods after the start. An effect
at ``t`` is identified while some cohort still waits (``t`` before the last start); that
cohort and any other still waiting are its comparison.

Periods are taken as consecutive in their sorted order (``g - 1`` is the period before ``g``);
cohorts starting after the last period (or never) are comparison-only; cohorts of one unit are
dropped (their covariance is not defined), as in ``staggered``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.estimators.result import EffectEstimate, term_frame

__all__ = [
    "ESTIMANDS",
    "CohortSummaries",
    "EfficientStaggeredResult",
    "PlugIn",
    "cohort_codes",
    "cohort_summaries",
    "efficient_staggered",
    "estimand_matrices",
    "plug_in",
]

Estimand = Literal["simple", "cohort", "calendar", "eventstudy"]
#: The aggregate estimands of ``staggered`` (``eventstudy`` needs an event time).
ESTIMANDS: tuple[str, ...] = ("simple", "cohort", "calendar", "eventstudy")

INFERENCE = (
    "design-based (Roth & Sant'Anna 2023): refined Neyman-type standard error of the plug-in "
    "efficient estimator, normal interval; valid when the start periods were randomised"
)


# --------------------------------------------------------------------------------------------
# Cohort summaries


@dataclass(frozen=True)
class CohortSummaries:
    """Cohort means and covariances of a balanced panel (what the estimator needs).

    Attributes
    ----------
    cohorts : numpy.ndarray
        Start code of each cohort, sorted (position of the start period among the periods;
        ``inf`` never within the data).
    periods : numpy.ndarray
        The periods (columns), sorted.
    sizes : numpy.ndarray
        Units per cohort ``N_g``.
    means : numpy.ndarray
        ``(cohorts, periods)`` cohort means ``Ybar_g``.
    covariances : numpy.ndarray
        ``(cohorts, periods, periods)`` sample covariances ``S_g`` (divisor ``N_g - 1``).
    """

    cohorts: np.ndarray
    periods: np.ndarray
    sizes: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    @property
    def n_periods(self) -> int:
        return int(self.periods.size)


def cohort_summaries(
    outcomes: np.ndarray,
    codes: np.ndarray,
    periods: np.ndarray | None = None,
    with_covariances: bool = True,
) -> CohortSummaries:
    """Means and covariances per cohort from a ``units x periods`` outcome matrix.

    Parameters
    ----------
    outcomes : numpy.ndarray
        Balanced outcomes, one row per unit, one column per period (in time order).
    codes : numpy.ndarray
        Start code of each unit (see :func:`cohort_codes`); every cohort needs two units.
    periods : numpy.ndarray, optional
        Period labels of the columns (default ``0..T-1``).
    with_covariances : bool
        False skips the covariances (a point estimate with a fixed ``beta`` needs only the
        means); one-unit cohorts are then allowed and ``covariances`` is empty.
    """
    y = np.asarray(outcomes, dtype=float)
    g = np.asarray(codes, dtype=float)
    if y.ndim != 2 or y.shape[0] != g.size:
        raise ValueError("outcomes must be units x periods with one start code per unit")
    if not np.isfinite(y).all():
        raise ValueError("outcomes must be balanced: no missing values")
    cohorts, inverse, sizes = np.unique(g, return_inverse=True, return_counts=True)
    n_t = y.shape[1]
    means = np.zeros((cohorts.size, n_t))
    np.add.at(means, inverse, y)
    means /= sizes[:, None]
    labels = np.arange(n_t) if periods is None else np.asarray(periods)
    if not with_covariances:
        empty = np.zeros((cohorts.size, 0, 0))
        return CohortSummaries(cohorts, labels, sizes.astype(float), means, empty)
    if (sizes < 2).any():
        raise ValueError("every cohort needs at least two units (its covariance is undefined)")
    centred = y - means[inverse]
    covs = np.einsum("ij,ik->ijk", centred, centred)
    out = np.zeros((cohorts.size, n_t, n_t))
    np.add.at(out, inverse, covs)
    out /= (sizes - 1)[:, None, None]
    return CohortSummaries(
        cohorts=cohorts,
        periods=labels,
        sizes=sizes.astype(float),
        means=means,
        covariances=out,
    )


def cohort_codes(first_treated: pd.Series | np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Start codes on the scale of the period positions ``0..T-1``.

    A start at one of the periods is its position; NaN or infinite (never within the data)
    is ``inf``; starts after the last period are ``T - 1 + rank`` and before the first
    period ``-rank`` (their exact distance never enters the estimator: such cohorts are only
    comparisons, or treated in every period).

    Raises
    ------
    ValueError
        When a start lies strictly between two periods (the periods are not consecutive there).
    """
    periods = np.sort(np.asarray(periods, dtype=float))
    values = np.asarray(first_treated, dtype=float)
    out = np.full(values.shape, np.inf)
    finite = np.isfinite(values)
    inside = finite & (values >= periods[0]) & (values <= periods[-1])
    position = np.searchsorted(periods, values[inside])
    if not np.allclose(periods[np.clip(position, 0, periods.size - 1)], values[inside]):
        raise ValueError(
            "a start period lies between two periods of the data; starts must be periods of "
            "the panel (or before its first / after its last period)"
        )
    out[inside] = position
    after = finite & (values > periods[-1])
    if after.any():
        ranks = np.unique(values[after], return_inverse=True)[1]
        out[after] = periods.size - 1 + ranks + 1
    before = finite & (values < periods[0])
    if before.any():
        levels, ranks = np.unique(values[before], return_inverse=True)
        out[before] = -(levels.size - ranks)
    return out


# --------------------------------------------------------------------------------------------
# The A matrices of ``staggered``


def _effect_weights(
    t: int, g_index: int, cohorts: np.ndarray, sizes: np.ndarray, last: bool
) -> np.ndarray:
    """Cohort weights of the effect ATE(t, g): +1 on g, minus the waiting cohorts by size."""
    g = cohorts[g_index]
    # Sun and Abraham compare with the last cohort only; staggered's default with every
    # cohort still waiting after both g and t
    control = (cohorts > t) & (cohorts == cohorts.max()) if last else cohorts > max(g, t)
    out = np.zeros(cohorts.size)
    if control.any():
        out[control] = -sizes[control] / sizes[control].sum()
    out[g_index] += 1.0
    return out


def estimand_matrices(
    summaries: CohortSummaries,
    estimand: Estimand,
    event_time: int = 0,
    use_last_treated_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``A_theta`` and the DiD ``A_0`` (each ``cohorts x periods``) of one estimand.

    Row ``g`` of ``A_theta`` weights cohort ``g``'s means; ``A_0`` puts the same weights on the
    period before each treated cohort's start (the pre-period contrast of Callaway and
    Sant'Anna, so that ``beta = 1`` is their estimator).

    Raises
    ------
    ValueError
        When no effect of this estimand is identified (no cohort still waiting).
    """
    g, n = summaries.cohorts, summaries.sizes
    n_t = summaries.n_periods
    gmax = g.max()
    a_theta = np.zeros((g.size, n_t))
    a_zero = np.zeros((g.size, n_t))

    def add(t: int, gi: int, weight: float, pre: bool = True) -> np.ndarray:
        vector = weight * _effect_weights(t, gi, g, n, use_last_treated_only)
        a_theta[:, t] += vector
        base = g[gi] - 1
        if pre and 0 <= base < n_t:
            a_zero[:, int(base)] += vector
        return vector

    if estimand == "simple":
        pairs = [(t, gi) for gi in range(g.size) for t in range(n_t) if g[gi] <= t < gmax]
        total = sum(n[gi] for _, gi in pairs)
        for t, gi in pairs:
            add(t, gi, n[gi] / total)
    elif estimand == "cohort":
        eligible = [gi for gi in range(g.size) if g[gi] < gmax and g[gi] <= n_t - 1]
        total = sum(n[gi] for gi in eligible)
        for gi in eligible:
            times = [t for t in range(n_t) if g[gi] <= t < gmax]
            for t in times:
                add(t, gi, n[gi] / total / len(times))
    elif estimand == "calendar":
        times = [t for t in range(n_t) if g.min() <= t < gmax]
        for t in times:
            treated = [gi for gi in range(g.size) if g[gi] <= t]
            total = sum(n[gi] for gi in treated)
            for gi in treated:
                add(t, gi, n[gi] / total / len(times))
    elif estimand == "eventstudy":
        e = int(event_time)
        # cohorts with a cohort still waiting at g + e, inside the data (as in staggered)
        eligible = [
            gi
            for gi in range(g.size)
            if max(g[gi] + e, g[gi]) < gmax and max(g[gi] + e, g[gi]) <= n_t - 1
        ]
        total = sum(n[gi] for gi in eligible)
        for gi in eligible:
            t = g[gi] + e
            if 0 <= t < n_t:
                add(int(t), gi, n[gi] / total)
    else:
        raise ValueError(f"estimand must be one of {ESTIMANDS}, got {estimand!r}")
    if not np.abs(a_theta).sum() > 0:
        raise ValueError(
            f"no effect of the {estimand!r} estimand is identified: every start needs a later "
            "cohort still waiting in the same period"
        )
    return a_theta, a_zero


# --------------------------------------------------------------------------------------------
# Plug-in estimator and its variance


@dataclass(frozen=True)
class PlugIn:
    """One estimand: the estimate, its standard errors and the coefficient used."""

    estimate: float
    std_error: float
    se_neyman: float
    beta: float
    difference_in_means: float
    pre_contrast: float


def _quadratic(a: np.ndarray, b: np.ndarray, summaries: CohortSummaries) -> float:
    """``sum_g a_g S_g b_g' / N_g``."""
    return float(np.einsum("gi,gij,gj,g->", a, summaries.covariances, b, 1 / summaries.sizes))


def plug_in(
    summaries: CohortSummaries,
    a_theta: np.ndarray,
    a_zero: np.ndarray,
    beta: float | None = None,
) -> PlugIn:
    """``theta(beta) = A_theta.Ybar - beta A_0.Ybar`` with ``beta*`` unless ``beta`` is given.

    The refined standard error follows ``staggered``'s ``compute_se_Thetahat_beta``: from the
    Neyman variance it subtracts ``b' avg(M S_g M') b / N`` with ``M`` the periods before the
    first treated cohort ``g_min`` and ``b = sum_{g >= g_min} (M S_g M')^+ M S_g A_theta_g'``.
    """
    theta0 = float(np.sum(a_theta * summaries.means))
    x = float(np.sum(a_zero * summaries.means))
    x_var = _quadratic(a_zero, a_zero, summaries)
    x_cov = _quadratic(a_zero, a_theta, summaries)
    if beta is None:
        beta = x_cov / x_var if x_var > 1e-14 * max(1.0, abs(x_cov)) else 0.0
    beta = float(beta)
    combined = a_theta - beta * a_zero
    var_neyman = max(_quadratic(combined, combined, summaries), 0.0)
    var = var_neyman - _refinement(summaries, a_theta)
    return PlugIn(
        estimate=theta0 - beta * x,
        std_error=float(np.sqrt(max(var, 0.0))),
        se_neyman=float(np.sqrt(var_neyman)),
        beta=beta,
        difference_in_means=theta0,
        pre_contrast=x,
    )


def _refinement(summaries: CohortSummaries, a_theta: np.ndarray) -> float:
    """The variance of the unit effects explained by the periods before the first start."""
    nonzero = np.flatnonzero(np.abs(a_theta).max(axis=1) > 0)
    g_min = summaries.cohorts[nonzero.min()] if nonzero.size else summaries.cohorts[0]
    if g_min <= 0:  # the first cohort is treated from the first period: nothing before it
        return 0.0
    k = int(min(g_min, summaries.n_periods))
    later = np.flatnonzero(summaries.cohorts >= g_min)
    b = np.zeros(k)
    msm_sum = np.zeros((k, k))
    for gi in later:
        s = summaries.covariances[gi]
        msm = s[:k, :k]
        b += np.linalg.pinv(msm) @ (s[:k, :] @ a_theta[gi])
        msm_sum += msm
    avg = msm_sum / later.size
    return float(b @ avg @ b / summaries.sizes.sum())


# --------------------------------------------------------------------------------------------
# The user-facing estimator


@dataclass(frozen=True)
class EfficientStaggeredResult:
    """Plug-in efficient estimates of one outcome, one row per estimand.

    Attributes
    ----------
    outcome : str
    table : pandas.DataFrame
        ``term, estimand, event_time, estimate, std_error, se_neyman, se_method, beta,
        difference_in_means, pre_contrast, conf_low, conf_high, p_value``; ``std_error`` is the
        refined one (``se_method = "refined"``, as ``staggered``'s ``se``) unless that variance
        was not positive, then the Neyman one (``"neyman"``; ``staggered`` would report 0).
    n_units, n_periods, n_cohorts : int
        After balancing and dropping one-unit cohorts.
    cohort_sizes : dict
        Units per start period (``inf``: never within the data).
    alpha : float
    notes : tuple of str
        Units or cohorts dropped, and why.
    """

    outcome: str
    table: pd.DataFrame
    n_units: int
    n_periods: int
    n_cohorts: int
    cohort_sizes: dict[str, int]
    alpha: float
    notes: tuple[str, ...] = ()
    summaries: CohortSummaries | None = field(default=None, repr=False, compare=False)

    @property
    def effect(self) -> EffectEstimate:
        """The estimates as an :class:`~evaluation.estimators.result.EffectEstimate`."""
        terms = term_frame(
            list(self.table["term"]),
            self.table["estimate"].to_numpy(),
            self.table["std_error"].to_numpy(),
            self.table["conf_low"].to_numpy(),
            self.table["conf_high"].to_numpy(),
            self.table["p_value"].to_numpy(),
        )
        treated = sum(v for k, v in self.cohort_sizes.items() if k != "inf")
        return EffectEstimate(
            outcome=self.outcome,
            estimand="ATT",
            estimator="efficient_staggered",
            terms=terms,
            n_obs=self.n_units * self.n_periods,
            n_clusters=self.n_units,
            n_treated_clusters=int(treated),
            inference=INFERENCE,
            notes=self.notes,
        )

    def tidy(self) -> pd.DataFrame:
        """One row per estimand with the columns of ``tables/effects.csv``."""
        return self.effect.tidy()

    def summary(self) -> str:
        """A plain-text table with both standard errors and the coefficients used."""
        cols = ["estimate", "std_error", "se_neyman", "beta", "conf_low", "conf_high", "p_value"]
        lines = [
            f"efficient_staggered (Roth & Sant'Anna 2023) on {self.outcome}",
            self.table.set_index("term")[cols].to_string(float_format=lambda v: f"{v:.4f}"),
            f"units: {self.n_units}   periods: {self.n_periods}   cohorts: {self.n_cohorts}",
            f"inference: {INFERENCE}",
        ]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def _balanced(
    data: pd.DataFrame, outcome: str, unit: str, time: str, first_treated: str
) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """The ``unit x period`` outcome matrix of units seen in every period, and their starts."""
    missing = [c for c in (outcome, unit, time, first_treated) if c not in data.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the data")
    if data.duplicated([unit, time]).any():
        raise ValueError(f"the data have more than one row per {unit!r} and {time!r}")
    starts = data.groupby(unit)[first_treated].agg(["min", "max"])
    if not np.allclose(starts["min"].fillna(np.inf), starts["max"].fillna(np.inf)):
        raise ValueError(f"{first_treated!r} must be constant within each {unit!r}")
    wide = data.pivot(index=unit, columns=time, values=outcome).sort_index(axis=1)
    notes = []
    complete = wide.notna().all(axis=1)
    if not complete.all():
        notes.append(
            f"{int((~complete).sum())} unit(s) without the outcome in every period dropped "
            "(the estimator needs a balanced panel)"
        )
    wide = wide[complete]
    return wide, starts.loc[wide.index, "min"], notes


def efficient_staggered(
    data: pd.DataFrame,
    outcome: str,
    *,
    unit: str,
    time: str,
    first_treated: str,
    estimands: Sequence[str] = ("simple", "cohort", "calendar"),
    event_times: Sequence[int] = (),
    beta: float | None = None,
    use_last_treated_only: bool = False,
    alpha: float = 0.05,
) -> EfficientStaggeredResult:
    """Plug-in efficient estimator for randomly timed staggered adoption.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and period.
    outcome, unit, time : str
        Column names; ``time`` is ordered, consecutive periods are adjacent in sorted order.
    first_treated : str
        Start period of each unit (same scale as ``time``; NaN or inf: never within the data).
    estimands : sequence of str
        Any of ``simple``, ``cohort``, ``calendar``.
    event_times : sequence of int
        Event-study effects ``e`` periods after the start (``eventstudy`` rows ``event_<e>``).
    beta : float, optional
        Fixed coefficient on the pre-period contrast (0: difference in means; 1: Callaway and
        Sant'Anna with not-yet-treated comparisons). Default: the plug-in efficient ``beta*``.
    use_last_treated_only : bool
        Compare only with the last cohort (``beta = 1`` is then Sun and Abraham's estimator).
    alpha : float
        Level of the normal intervals.

    Returns
    -------
    EfficientStaggeredResult
    """
    wide, starts, notes = _balanced(data, outcome, unit, time, first_treated)
    periods = wide.columns.to_numpy()
    codes = cohort_codes(starts.to_numpy(dtype=float), periods.astype(float))
    labels, counts = np.unique(codes, return_counts=True)
    singles = labels[counts < 2]
    if singles.size:
        keep = ~np.isin(codes, singles)
        dropped = sorted({str(s) for s in starts.to_numpy()[~keep]})
        notes.append(
            f"cohort(s) starting {', '.join(dropped)} have a single unit and are dropped "
            "(as in the R package staggered)"
        )
        wide, starts, codes = wide[keep], starts[keep], codes[keep]
    summaries = cohort_summaries(wide.to_numpy(dtype=float), codes, periods)
    if summaries.cohorts.size < 2:
        raise ValueError("the estimator needs at least two cohorts with two units each")
    requests = [(e, None) for e in estimands] + [("eventstudy", int(e)) for e in event_times]
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for estimand, event in requests:
        if estimand == "eventstudy" and event is None:
            raise ValueError("the eventstudy estimand is requested through event_times")
        a_theta, a_zero = estimand_matrices(
            summaries,
            estimand,
            event or 0,
            use_last_treated_only,  # type: ignore[arg-type]
        )
        fit = plug_in(summaries, a_theta, a_zero, beta)
        se, se_method = fit.std_error, "refined"
        if not se > 0 and fit.se_neyman > 0:
            # staggered returns 0 when the estimated refinement exceeds the Neyman variance
            # (small cohorts); a zero-width interval is never shown: keep the conservative one
            se, se_method = fit.se_neyman, "neyman"
            notes.append(
                f"{estimand if event is None else f'event_{event}'}: the refined variance was "
                "not positive; the conservative Neyman standard error is used"
            )
        p = float(2 * stats.norm.sf(abs(fit.estimate) / se)) if se > 0 else float("nan")
        rows.append(
            {
                "term": estimand if event is None else f"event_{event}",
                "estimand": estimand,
                "event_time": event,
                "estimate": fit.estimate,
                "std_error": se,
                "se_neyman": fit.se_neyman,
                "se_method": se_method,
                "beta": fit.beta,
                "difference_in_means": fit.difference_in_means,
                "pre_contrast": fit.pre_contrast,
                "conf_low": fit.estimate - z * se,
                "conf_high": fit.estimate + z * se,
                "p_value": p,
            }
        )
    start_of = pd.Series(starts.to_numpy(dtype=float), index=wide.index)
    sizes = start_of.fillna(np.inf).value_counts().sort_index()
    return EfficientStaggeredResult(
        outcome=outcome,
        table=pd.DataFrame(rows),
        n_units=int(len(wide)),
        n_periods=int(periods.size),
        n_cohorts=int(summaries.cohorts.size),
        cohort_sizes={_label(k): int(v) for k, v in sizes.items()},
        alpha=alpha,
        notes=tuple(notes),
        summaries=summaries,
    )


def _label(value: float) -> str:
    return "inf" if not np.isfinite(value) else f"{value:g}"
