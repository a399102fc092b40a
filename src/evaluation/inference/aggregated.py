"""Commune-level aggregated test: each commune's post-minus-pre change, pilots vs the rest.

Collapsing to one number per commune and comparing the two groups with Welch's unequal-variance
t-test is the bluntest few-cluster method: it cannot over-weight a commune with many ballots,
needs no cluster-robust variance, and its degrees of freedom (Welch-Satterthwaite) follow the
14 pilot communes, not the ~109 clusters. It answers the same DiD question with equal weight
per commune; its estimate differs from the ballot-weighted TWFE coefficient when pilots differ
in size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["AggregatedResult", "aggregated_welch", "commune_changes", "welch_from_changes"]


@dataclass(frozen=True)
class AggregatedResult:
    """Welch t-test of the mean post-minus-pre change, pilot vs non-pilot communes.

    Attributes
    ----------
    estimate : float
        Mean change of pilot communes minus mean change of non-pilot communes.
    std_error, df, t_stat, p_value : float
        Welch standard error, Welch-Satterthwaite degrees of freedom, t and two-sided p.
    conf_low, conf_high : float
        ``1 - alpha`` interval.
    n_pilot, n_comparison : int
        Communes in each group with both pre and post observations.
    n_dropped : int
        Communes left out for lacking pre or post observations.
    post_start : object
        First post-period value of the time column.
    alpha : float
    method : str
        ``"aggregated_welch"``.
    """

    estimate: float
    std_error: float
    df: float
    t_stat: float
    p_value: float
    conf_low: float
    conf_high: float
    n_pilot: int
    n_comparison: int
    n_dropped: int
    post_start: object
    alpha: float = 0.05
    method: str = "aggregated_welch"

    def label(self) -> str:
        """One line saying how the test was computed."""
        return (
            f"commune-level post-minus-pre change, Welch t-test: {self.n_pilot} pilot vs "
            f"{self.n_comparison} other communes, df = {self.df:.1f}"
        )


def commune_changes(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    weights: str | None = None,
    post_start: object | None = None,
) -> pd.DataFrame:
    """Each unit's (weighted) mean outcome after minus before the pilot start.

    Parameters
    ----------
    data : pandas.DataFrame
        Ballot- or cell-level panel.
    outcome, treatment, unit, time : str
        Columns; ``treatment`` 0/1 (pilot x post).
    weights : str, optional
        Positive weights of the means (ballot weights, or ballots per row for cell data).
    post_start : optional
        First post-period value of ``time``. Default: the first period with a treated row;
        then all pilots must start together (pass ``post_start`` for staggered pilots).

    Returns
    -------
    pandas.DataFrame
        One row per unit with both periods: ``unit, pilot, pre_mean, post_mean, change``
        (``unit`` holds the unit's label), attribute ``attrs["n_dropped"]`` and
        ``attrs["post_start"]``.
    """
    missing = [c for c in (outcome, treatment, unit, time, weights) if c and c not in data]
    if missing:
        raise ValueError(
            f"column(s) {missing} not found in the data; available: {list(data.columns)}."
        )
    cols = [c for c in dict.fromkeys([outcome, treatment, unit, time, weights]) if c]
    frame = data[cols].dropna()
    d = frame[treatment].to_numpy(dtype=float)
    if not np.isin(d, (0.0, 1.0)).all():
        raise ValueError(f"treatment column {treatment!r} must be 0/1 (pilot x post).")
    if not (d == 1).any():
        raise ValueError(f"treatment column {treatment!r} has no treated row; nothing to compare.")
    if post_start is None:
        starts = frame.loc[d == 1].groupby(unit)[time].min().unique()
        if len(starts) > 1:
            raise ValueError(
                f"pilots start in different periods {sorted(starts)[:5]}; pass post_start= the "
                "period from which to count 'after' for every commune."
            )
        post_start = starts[0]
    w = np.ones(len(frame)) if weights is None else frame[weights].to_numpy(dtype=float)
    if weights is not None and not (w > 0).all():
        raise ValueError(f"weights column {weights!r} must be strictly positive.")
    post = (frame[time] >= post_start).to_numpy()
    work = pd.DataFrame(
        {
            "unit": frame[unit].to_numpy(),
            "post": post,
            "wy": w * frame[outcome].to_numpy(dtype=float),
            "w": w,
            "treated": d,
        }
    )
    sums = work.groupby(["unit", "post"], sort=True)[["wy", "w"]].sum()
    means = (sums["wy"] / sums["w"]).unstack("post")
    pilot = work.groupby("unit", sort=True)["treated"].max() > 0
    both = means.reindex(columns=[False, True]).notna().all(axis=1)
    out = pd.DataFrame(
        {
            "unit": means.index[both],
            "pilot": pilot.loc[both].to_numpy(),
            "pre_mean": means.loc[both, False].to_numpy(),
            "post_mean": means.loc[both, True].to_numpy(),
        }
    )
    out["change"] = out["post_mean"] - out["pre_mean"]
    out.attrs["n_dropped"] = int((~both).sum())
    out.attrs["post_start"] = post_start
    return out


def welch_from_changes(changes: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised Welch t and df for many pilot labellings of the same unit changes.

    Parameters
    ----------
    changes : numpy.ndarray
        Shape ``(n_units,)``.
    treated : numpy.ndarray
        Boolean, shape ``(R, n_units)``: pilot labels of each of R labellings.

    Returns
    -------
    t, df : numpy.ndarray
        Shape ``(R,)`` each (equal to ``scipy.stats.ttest_ind(equal_var=False)``).
    """
    treated = np.asarray(treated, dtype=bool)
    m1 = treated.astype(float)
    m0 = 1.0 - m1
    n1, n0 = m1.sum(1), m0.sum(1)
    # A labelling with a single unit in a group has no variance: its t is NaN (no test), and
    # the division by zero is expected, not printed.
    with np.errstate(divide="ignore", invalid="ignore"):
        mean1 = m1 @ changes / n1
        mean0 = m0 @ changes / n0
        var1 = (m1 @ changes**2 - n1 * mean1**2) / (n1 - 1)
        var0 = (m0 @ changes**2 - n0 * mean0**2) / (n0 - 1)
        a, b = var1 / n1, var0 / n0
        t = (mean1 - mean0) / np.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n0 - 1))
    return t, df


def aggregated_welch(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    weights: str | None = None,
    post_start: object | None = None,
    alpha: float = 0.05,
) -> AggregatedResult:
    """Welch t-test of the post-minus-pre change, pilot vs non-pilot communes.

    Parameters
    ----------
    data, outcome, treatment, unit, time, weights, post_start
        See :func:`commune_changes`.
    alpha : float
        1 - confidence level.

    Returns
    -------
    AggregatedResult

    Raises
    ------
    ValueError
        Bad columns, or fewer than two communes with both periods in either group.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}.")
    table = commune_changes(data, outcome, treatment, unit, time, weights, post_start)
    x1 = table.loc[table["pilot"], "change"].to_numpy()
    x0 = table.loc[~table["pilot"], "change"].to_numpy()
    if len(x1) < 2 or len(x0) < 2:
        raise ValueError(
            f"the Welch test needs at least 2 pilot and 2 other communes observed before and "
            f"after the start; got {len(x1)} and {len(x0)}."
        )
    res = stats.ttest_ind(x1, x0, equal_var=False)
    ci = res.confidence_interval(1 - alpha)
    estimate = float(x1.mean() - x0.mean())
    se = math.sqrt(x1.var(ddof=1) / len(x1) + x0.var(ddof=1) / len(x0))
    return AggregatedResult(
        estimate=estimate,
        std_error=se,
        df=float(res.df),
        t_stat=float(res.statistic),
        p_value=float(res.pvalue),
        conf_low=float(ci.low),
        conf_high=float(ci.high),
        n_pilot=len(x1),
        n_comparison=len(x0),
        n_dropped=int(table.attrs["n_dropped"]),
        post_start=table.attrs["post_start"],
        alpha=alpha,
    )
