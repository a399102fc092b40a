"""How strong is a pre-trend test? Its power against a linear violation (Roth 2022).

"No significant pre-trend" is weak evidence when the test could not have seen a trend of the
size that matters. Following Roth (2022, "Pretest with caution"), a differential linear trend of
``slope`` per period moves the tested pre-start coefficients by ``slope * d``, where ``d`` (the
*direction*) is what each coefficient would estimate under a trend of one unit per period
(``t - reference`` for an event study normalised at ``reference``). For the joint Wald test the
package shows, the test statistic under that violation is non-central with non-centrality
``slope**2 * d' V^-1 d`` (``V`` the covariance of the tested coefficients):

* reference chi-squared (``df_denom=None``): power ``P(chi2_q(nc) > chi2_q,1-alpha)``, the
  convention of diff-diff's ``compute_pretrends_power(..., pretest_form="wald")``;
* reference F with ``df_denom`` denominator degrees of freedom (the event study's cluster-robust
  F test, ``G - 1``): power ``P(F_q,df(nc) > F_q,df,1-alpha)``, the same non-centrality.

The *detectable slope* at power ``p`` is the slope whose power is ``p``. diff-diff's default
``pretest_form="nis"`` is a different test (no coefficient individually significant); this
module computes the power of the joint Wald test the pages actually show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

__all__ = [
    "PretrendPower",
    "detectable_slope",
    "linear_direction",
    "pretrend_power",
    "wald_power",
]

#: Powers at which the detectable slope is reported (50% and 80%).
LEVELS: tuple[float, ...] = (0.5, 0.8)


def linear_direction(event_times: Sequence[float], reference: float = -1.0) -> np.ndarray:
    """What each coefficient estimates under a differential trend of one unit per period.

    Parameters
    ----------
    event_times : sequence of float
        Event times of the tested coefficients (``-4, -3, -2`` for leads of an event study).
    reference : float
        The omitted (normalised) event time; the violation is zero there.

    Returns
    -------
    numpy.ndarray
        ``event_times - reference`` (Roth's ``delta_t = gamma * t`` with ``t`` counted from the
        reference period).
    """
    return np.asarray(event_times, float) - float(reference)


def _noncentrality_per_slope(direction: np.ndarray, covariance: np.ndarray) -> float:
    """``d' V^-1 d``: the non-centrality of a slope of one (pseudo-inverse when V is singular)."""
    d = np.asarray(direction, float)
    v = np.asarray(covariance, float)
    try:
        solved = np.linalg.solve(v, d)
    except np.linalg.LinAlgError:
        solved = np.linalg.pinv(v) @ d
    return float(d @ solved)


def _power_from_nc(nc: float, q: int, alpha: float, df_denom: float | None) -> float:
    if df_denom is None or not math.isfinite(df_denom):
        critical = stats.chi2.ppf(1 - alpha, q)
        return float(stats.ncx2.sf(critical, q, nc)) if nc > 0 else float(alpha)
    critical = stats.f.ppf(1 - alpha, q, df_denom)
    return float(stats.ncf.sf(critical, q, df_denom, nc)) if nc > 0 else float(alpha)


def wald_power(
    violation: Sequence[float],
    covariance: np.ndarray,
    alpha: float = 0.05,
    df_denom: float | None = None,
) -> float:
    """Power of the joint Wald pre-trend test against the violation ``violation``.

    Parameters
    ----------
    violation : sequence of float
        Expected value of each tested coefficient under the violation.
    covariance : numpy.ndarray
        Covariance of the tested coefficients.
    alpha : float
        Level of the test.
    df_denom : float, optional
        Denominator degrees of freedom of an F reference; None (or inf) for chi-squared.

    Returns
    -------
    float
        Rejection probability (``alpha`` when the violation is zero).
    """
    d = np.asarray(violation, float)
    nc = _noncentrality_per_slope(d, covariance)
    return _power_from_nc(nc, len(d), alpha, df_denom)


def detectable_slope(
    direction: Sequence[float],
    covariance: np.ndarray,
    power: float = 0.8,
    alpha: float = 0.05,
    df_denom: float | None = None,
) -> float:
    """The slope of the linear violation the Wald test detects with probability ``power``.

    Returns
    -------
    float
        The smallest ``slope >= 0`` with ``wald_power(slope * direction, ...) = power``; 0 when
        ``power <= alpha``; inf when the direction is invisible to the test (``d' V^-1 d = 0``).
    """
    d = np.asarray(direction, float)
    q = len(d)
    if power <= alpha:
        return 0.0
    per_slope = _noncentrality_per_slope(d, covariance)
    if not per_slope > 0:
        return math.inf

    def gap(nc: float) -> float:
        return _power_from_nc(nc, q, alpha, df_denom) - power

    high = 1.0
    while gap(high) < 0:
        high *= 2.0
        if high > 1e8:
            return math.inf
    nc = optimize.brentq(gap, 0.0, high, xtol=1e-14, rtol=1e-14, maxiter=500)
    return float(math.sqrt(nc / per_slope))


@dataclass(frozen=True)
class PretrendPower:
    """Power of a joint pre-trend test against linear violations.

    Attributes
    ----------
    n_tested : int
        Coefficients the test covers.
    alpha : float
        Level of the test.
    df_denom : float
        Denominator degrees of freedom of its F reference (NaN: chi-squared reference).
    direction : tuple of float
        What each tested coefficient estimates under a trend of one unit per period.
    slope_50, slope_80 : float
        Slopes (outcome units per period) detected with 50% and 80% probability.
    slope : float
        The slope evaluated (NaN when none was given).
    power : float
        The test's power against ``slope`` (NaN when no slope was given).
    """

    n_tested: int
    alpha: float
    df_denom: float
    direction: tuple[float, ...]
    slope_50: float
    slope_80: float
    slope: float = math.nan
    power: float = math.nan

    @property
    def reference(self) -> str:
        """``chi2(q)`` or ``F(q, df)``: the test's reference distribution."""
        if math.isfinite(self.df_denom):
            return f"F({self.n_tested}, {self.df_denom:g})"
        return f"chi2({self.n_tested})"

    def label(self) -> str:
        """How the power was computed (printed beside the numbers)."""
        return (
            f"power of the joint Wald pre-trend test ({self.reference}, level {self.alpha:g}) "
            "against a linear differential trend (Roth 2022), non-centrality "
            "slope^2 d'V^-1 d from the estimated covariance"
        )


def pretrend_power(
    direction: Sequence[float],
    covariance: np.ndarray,
    alpha: float = 0.05,
    slope: float | None = None,
    df_denom: float | None = None,
) -> PretrendPower:
    """Detectable slopes (50%, 80% power) of a joint Wald pre-trend test, and its power at ``slope``.

    Parameters
    ----------
    direction : sequence of float
        Expected tested coefficients under a trend of one unit per period
        (:func:`linear_direction` for an event study).
    covariance : numpy.ndarray
        Covariance of the tested coefficients (``len(direction)`` square).
    alpha : float
        Level of the test.
    slope : float, optional
        A slope at which to report the power.
    df_denom : float, optional
        Denominator degrees of freedom of an F test; None for chi-squared.

    Raises
    ------
    ValueError
        When the covariance does not match the direction or is not finite.
    """
    d = np.asarray(direction, float)
    v = np.asarray(covariance, float)
    if v.shape != (len(d), len(d)) or len(d) == 0:
        raise ValueError(
            f"covariance of shape {v.shape} does not match {len(d)} tested coefficients"
        )
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(d))):
        raise ValueError("the covariance or the direction holds missing values")
    slope_50, slope_80 = (detectable_slope(d, v, p, alpha, df_denom) for p in LEVELS)
    power = math.nan if slope is None else wald_power(slope * d, v, alpha, df_denom)
    return PretrendPower(
        n_tested=len(d),
        alpha=float(alpha),
        df_denom=math.nan if df_denom is None else float(df_denom),
        direction=tuple(float(x) for x in d),
        slope_50=slope_50,
        slope_80=slope_80,
        slope=math.nan if slope is None else float(slope),
        power=power,
    )
