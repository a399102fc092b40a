"""Pre-trend power (Roth 2022) equals diff-diff's ``PreTrendsPower`` (Wald form) on the same
event-study estimates and covariance.

Convention: the package's tests are joint Wald tests, so power is that of the Wald test
(diff-diff ``pretest_form="wald"``, chi-squared reference); diff-diff's default ``"nis"`` is a
different test (no lead individually significant). Page 04's event-study test uses an F
reference with G - 1 denominator degrees of freedom: with the denominator degrees of freedom
taken to infinity our F power equals diff-diff's chi-squared power (tested below).
"""

from __future__ import annotations

import numpy as np
import pytest
from _demo import small_demo

from evaluation.analysis import robustness as ar
from evaluation.analysis import rollout
from evaluation.estimators.event_study import parse_event_term
from evaluation.inference.pretrend_power import (
    detectable_slope,
    linear_direction,
    pretrend_power,
    wald_power,
)

pretrends_mod = pytest.importorskip("diff_diff.pretrends")


@pytest.fixture(scope="module")
def trends():
    params, prepared = small_demo("en")
    return params, ar.pretrends(prepared, params)


def _leads(trends):
    names = [n for n in trends.covariance.columns if n.startswith("e-")]
    times = [parse_event_term(n) for n in names]
    cov = trends.covariance.set_index(trends.covariance.columns).loc[names, names].to_numpy()
    return times, cov


def _peer(alpha: float, power: float, times, cov):
    """diff-diff's Wald power machinery, as compute_pretrends_power runs it after extraction
    (linear weights |t - reference| from relative times, Roth's gamma units)."""
    peer = pretrends_mod.PreTrendsPower(alpha=alpha, power=power, pretest_form="wald")
    weights = peer._get_violation_weights(len(times), relative_times=np.array(times) + 1.0)
    return peer, weights


def test_direction_is_linear_trend_on_unbinned_leads(trends):
    params, result = trends
    times, _ = _leads(result)
    # The small demo has exactly the leads asked for: nothing is binned, so the regression of
    # a pure trend returns e + 1 for every lead.
    assert np.allclose(result.power.direction, linear_direction(times), atol=1e-9)


@pytest.mark.parametrize("target", [0.5, 0.8])
def test_wald_power_and_slope_equal_diff_diff(trends, target):
    params, result = trends
    times, cov = _leads(result)
    alpha = params.analysis.alpha
    peer, weights = _peer(alpha, target, times, cov)
    ours = detectable_slope(linear_direction(times), cov, power=target, alpha=alpha)
    assert ours == pytest.approx(peer._compute_mdv_wald(weights, cov), rel=1e-6)
    for slope in (0.01, 0.05, 0.2):
        theirs = peer._compute_power_wald(slope, weights, cov)[0]
        assert wald_power(slope * linear_direction(times), cov, alpha) == pytest.approx(
            theirs, abs=1e-9
        )


def test_f_reference_tends_to_chi2_and_hits_its_target(trends):
    params, result = trends
    times, cov = _leads(result)
    d = linear_direction(times)
    alpha = params.analysis.alpha
    chi2 = pretrend_power(d, cov, alpha)
    huge_df = pretrend_power(d, cov, alpha, df_denom=1e9)
    assert huge_df.slope_80 == pytest.approx(chi2.slope_80, rel=1e-6)
    f = result.power  # the page's own, F(q, G - 1)
    assert f.df_denom == pytest.approx(result.study.diagnostics["pretrend_df_denom"])
    assert f.slope_80 > chi2.slope_80  # fewer denominator df: a weaker test
    assert wald_power(f.slope_80 * d, cov, alpha, f.df_denom) == pytest.approx(0.8, abs=1e-8)
    assert wald_power(f.slope_50 * d, cov, alpha, f.df_denom) == pytest.approx(0.5, abs=1e-8)
    assert wald_power(0 * d, cov, alpha, f.df_denom) == pytest.approx(alpha)


def test_power_grows_with_precision():
    cov = np.diag([0.04, 0.01])
    d = linear_direction([-3, -2])
    assert detectable_slope(d, cov / 4) == pytest.approx(detectable_slope(d, cov) / 2, rel=1e-8)
    with pytest.raises(ValueError):
        pretrend_power(d, np.eye(3))


def test_rollout_pretrend_power_covers_the_cs_test():
    params, prepared = small_demo("en")
    effects = rollout.rollout_effects(prepared, params)
    power = effects.pretrend_power
    assert power is not None
    assert power.n_tested == effects.pretrend_df
    assert not np.isfinite(power.df_denom)  # chi-squared, as the CS pre-test
    assert 0 < power.slope_50 < power.slope_80
    # a slope explaining the overall effect is evaluated, with a finite power
    assert np.isfinite(power.slope) and 0 <= power.power <= 1
