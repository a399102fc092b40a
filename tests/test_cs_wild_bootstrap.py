"""Studentised wild cluster bootstrap of the Callaway-Sant'Anna influence functions
(evaluation.inference.cs_wild_bootstrap) and its place in page 07's size check."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo

from evaluation.analysis import applies, rollout
from evaluation.estimators.staggered import aggregate, group_time_att, simple_att_draws
from evaluation.inference.cs_wild_bootstrap import (
    aggregate_influence,
    cluster_multipliers,
    simple_att_wild_bootstrap_draws,
    studentised_draws,
    symmetric_critical_value,
    wild_bootstrap_aggregate,
)


def small_panel(seed: int = 3, n: int = 48, n_periods: int = 5, n_clusters: int = 16):
    """A balanced panel: two adopting cohorts (periods 3, 4), never-treated units, a covariate,
    varying weights, units nested in clusters."""
    rng = np.random.default_rng(seed)
    periods = np.arange(1, n_periods + 1)
    level, x = rng.normal(size=n), rng.normal(size=n)
    y = level[:, None] + 0.3 * periods[None, :] * x[:, None] + rng.normal(size=(n, n_periods))
    w = np.repeat(1 + rng.random(n)[:, None], n_periods, axis=1)
    cluster = np.arange(n) % n_clusters
    order = rng.permutation(n)
    groups = np.zeros(n)
    groups[order[:8]], groups[order[8:18]] = 3, 4
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), n_periods),
            "t": np.tile(periods, n),
            "y": y.ravel(),
            "w": w.ravel(),
            "x": np.repeat(x, n_periods),
            "cl": np.repeat(cluster, n_periods),
            "g": np.repeat(groups, n_periods),
        }
    )
    return frame, y, w, x, periods, cluster, groups


def brute_force_t_star(
    influence: np.ndarray,
    parts: np.ndarray,
    arms: np.ndarray,
    cluster: np.ndarray,
    multipliers: np.ndarray,
) -> np.ndarray:
    """Unit by unit, draw by draw: psi*_i = v_c(i) psi_i - sum_p r_pi sum_j v_c(j) psi_pj."""
    n_draws = len(multipliers)
    out = np.empty(n_draws)
    for b in range(n_draws):
        v = multipliers[b]
        star = np.array([v[cluster[i]] * influence[i] for i in range(len(influence))])
        for part, arm in zip(parts, arms, strict=True):
            shift = sum(v[cluster[j]] * part[j] for j in range(len(part)))
            star = star - arm * shift
        total = sum(v[cluster[i]] * influence[i] for i in range(len(influence)))
        cluster_sums = [star[cluster == c].sum() for c in range(int(cluster.max()) + 1)]
        out[b] = total / np.sqrt(np.sum(np.square(cluster_sums)))
    return out


@pytest.mark.parametrize("kind", ["simple", "dynamic", "group", "calendar"])
def test_aggregate_influence_reproduces_the_analytic_aggregate(kind):
    frame, *_ = small_panel()
    result = group_time_att(frame, "y", "unit", "t", "g", ["x"], "w", cluster="cl")
    analytic = aggregate(result, kind)
    parts = aggregate_influence(result, kind)
    assert parts.names == analytic.terms.index.tolist()
    np.testing.assert_allclose(parts.estimate, analytic.terms["estimate"], atol=1e-12)
    sums = np.zeros((int(result.unit_cluster.max()) + 1, len(parts.names)))
    np.add.at(sums, result.unit_cluster, parts.influence)
    se = np.sqrt((sums**2).sum(axis=0)) / result.n_units
    np.testing.assert_allclose(se, analytic.terms["std_error"], rtol=1e-10)
    np.testing.assert_allclose(parts.parts.sum(axis=0), parts.influence, atol=1e-12)
    sets = parts.arms.sum(axis=1)
    assert np.all((np.abs(sets - 1) < 1e-12) | (sets == 0))


def test_studentised_draws_equal_a_brute_force_loop():
    frame, *_ = small_panel(seed=11)
    result = group_time_att(frame, "y", "unit", "t", "g", ["x"], "w", "not_yet_treated", "dr",
                            cluster="cl")  # fmt: skip
    parts = aggregate_influence(result, "simple")
    codes = result.unit_cluster
    n_clusters = int(codes.max()) + 1
    v, law = cluster_multipliers(n_clusters, 60, seed=5)
    assert law == "rademacher"

    def by_cluster(values: np.ndarray) -> np.ndarray:
        out = np.zeros((n_clusters, *values.shape[1:]))
        np.add.at(out, codes, values)
        return out

    fast = studentised_draws(
        by_cluster(parts.influence),
        np.stack([by_cluster(p) for p in parts.parts]),
        np.stack([by_cluster(a) for a in parts.arms]),
        v,
    )[:, 0]
    slow = brute_force_t_star(parts.influence[:, 0], parts.parts[:, :, 0], parts.arms, codes, v)
    np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-10)


def test_interval_and_p_value_follow_the_brute_force_draws():
    frame, *_ = small_panel(seed=12)
    result = group_time_att(frame, "y", "unit", "t", "g", [], "w", cluster="cl")
    boot = wild_bootstrap_aggregate(result, "simple", n_boot=199, seed=9)
    parts = aggregate_influence(result, "simple")
    v, _ = cluster_multipliers(int(result.unit_cluster.max()) + 1, 199, seed=9)
    slow = brute_force_t_star(
        parts.influence[:, 0], parts.parts[:, :, 0], parts.arms, result.unit_cluster, v
    )
    q = np.sort(np.abs(slow))[int(np.ceil(0.95 * len(slow))) - 1]
    est, se = boot.estimate, boot.std_error
    assert boot.conf_int[0] == pytest.approx(est - q * se, abs=1e-10)
    assert boot.conf_int[1] == pytest.approx(est + q * se, abs=1e-10)
    assert boot.p_value == pytest.approx(np.mean(np.abs(slow) >= abs(est / se)), abs=1e-12)


@pytest.mark.parametrize("control", ["never_treated", "not_yet_treated"])
@pytest.mark.parametrize("method", ["dr", "reg"])
def test_placebo_draws_equal_the_page_method_draw_by_draw(control, method):
    frame, y, w, x, periods, cluster, _ = small_panel(seed=4)
    rng = np.random.default_rng(8)
    n = len(y)
    groups = np.zeros((3, n))
    for s in range(3):
        order = rng.permutation(n)
        groups[s, order[:8]], groups[s, order[8:18]] = 3, 4
    xs = np.stack([np.ones_like(y), np.repeat(x[:, None], len(periods), axis=1)], axis=2)
    # The same draws: cluster c gets the same weight when both use the estimator's codes.
    codes = group_time_att(frame, "y", "unit", "t", "g", cluster="cl").unit_cluster
    estimate, std_error, critical = simple_att_wild_bootstrap_draws(
        y, w, xs, periods, groups, codes, control, method, n_boot=299, seed=2, chunk_draws=2
    )
    analytic, analytic_se = simple_att_draws(y, w, xs, periods, groups, cluster, control, method)
    np.testing.assert_allclose(estimate, analytic, atol=1e-10)
    np.testing.assert_allclose(std_error, analytic_se, atol=1e-10)
    for s in range(3):
        draw = frame.assign(g=np.repeat(groups[s], len(periods)))
        result = group_time_att(draw, "y", "unit", "t", "g", ["x"], "w", control, method,
                                cluster="cl")  # fmt: skip
        page = wild_bootstrap_aggregate(result, "simple", n_boot=299, seed=2)
        half_width = (page.conf_int[1] - page.conf_int[0]) / 2
        assert critical[s] * std_error[s] == pytest.approx(half_width, abs=1e-10)


def test_unadjusted_two_by_two_equals_the_unrestricted_wild_bootstrap_refit():
    """Reg without covariates, one cohort, two periods: each draw's t* is that of the 2x2 refit
    on outcome changes dy* = (arm mean) + v_c * (dy - arm mean)."""
    rng = np.random.default_rng(21)
    n, n_clusters = 30, 15
    cluster = np.arange(n) % n_clusters
    treated = np.zeros(n, bool)
    treated[[0, 1, 2, 3, 16, 17]] = True
    dy = rng.normal(size=n) + treated
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), 2),
            "t": np.tile([1, 2], n),
            "y": np.column_stack([np.zeros(n), dy]).ravel(),
            "cl": np.repeat(cluster, 2),
            "g": np.repeat(np.where(treated, 2, 0), 2),
        }
    )
    result = group_time_att(frame, "y", "unit", "t", "g", method="reg", cluster="cl")
    boot = wild_bootstrap_aggregate(result, "simple", n_boot=99, seed=4, weights="rademacher")
    v, _ = cluster_multipliers(n_clusters, 99, seed=4, weights="rademacher")
    means = np.where(treated, dy[treated].mean(), dy[~treated].mean())
    t_refit = []
    for row in v:
        star = means + row[result.unit_cluster] * (dy - means)  # the estimator's cluster codes
        refit = aggregate(
            group_time_att(frame.assign(y=np.column_stack([np.zeros(n), star]).ravel()),
                           "y", "unit", "t", "g", method="reg", cluster="cl"),
            "simple",
        )  # fmt: skip
        t_refit.append((refit.estimate - boot.estimate) / refit.std_error)
    q = symmetric_critical_value(np.array(t_refit), 0.05)
    assert boot.conf_int[1] == pytest.approx(boot.estimate + q * boot.std_error, abs=1e-10)


def test_enumeration_gives_the_hand_computed_p_value():
    """Treated units A, B (changes 1, 3), comparison units C, D (changes -1, 1), each its own
    cluster: ATT = 2, influence (-2, 2, 2, -2), se = 1, t = 2. Re-centred draws give
    T* = 2(vB - vA) + 2(vC - vD) and se*^2 ~ 2(vA + vB)^2 + 2(vC + vD)^2: of the 16 sign
    vectors, 6 give t* = 0, 8 give |t*| = sqrt(2) and 2 (vA = -vB, vC = -vD, same sign of T*
    parts) give |t*| = inf. p = P(|t*| >= 2) = 2/16."""
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(4), 2),
            "t": np.tile([1, 2], 4),
            "y": np.array([[0, 1], [0, 3], [0, -1], [0, 1]], float).ravel(),
            "cl": np.repeat(np.arange(4), 2),
            "g": np.repeat([2, 2, 0, 0], 2),
        }
    )
    result = group_time_att(frame, "y", "unit", "t", "g", method="reg", cluster="cl")
    boot = wild_bootstrap_aggregate(result, "simple", enumerate_all=True)
    assert boot.estimate == pytest.approx(2.0, abs=1e-12)
    assert boot.std_error == pytest.approx(1.0, abs=1e-12)
    assert boot.p_value == 2 / 16
    again = wild_bootstrap_aggregate(result, "simple", enumerate_all=True, seed=99)
    assert again.p_value == boot.p_value and "all 16" in boot.inference


def test_enumeration_of_a_plain_rademacher_sum_by_hand():
    """No re-centring: t* = (3 vA + vB + vC + vD) / sqrt(12); |t*| >= 6 / sqrt(12) only when
    all four signs agree: 2 of 16."""
    v, law = cluster_multipliers(4, 0, seed=0, enumerate_all=True)
    assert law == "rademacher-enumerated" and v.shape == (16, 4)
    assert {tuple(row) for row in v} == set(itertools.product((-1.0, 1.0), repeat=4))
    sums = np.array([3.0, 1.0, 1.0, 1.0])
    t_star = studentised_draws(sums, np.zeros((0, 4, 1)), np.zeros((0, 4)), v)[:, 0]
    assert np.mean(np.abs(t_star) >= 6 / np.sqrt(12) - 1e-12) == 2 / 16


def test_webb_weights_below_twelve_clusters():
    v, law = cluster_multipliers(8, 5000, seed=1)
    assert law == "webb"
    assert set(np.round(np.abs(v).ravel() ** 2, 12)) == {0.5, 1.0, 1.5}
    assert abs(v.mean()) < 0.03 and abs((v**2).mean() - 1) < 0.03
    v12, law12 = cluster_multipliers(12, 10, seed=1)
    assert law12 == "rademacher" and set(np.unique(v12)) == {-1.0, 1.0}
    again, _ = cluster_multipliers(8, 5000, seed=1)
    np.testing.assert_array_equal(v, again)


def test_uniform_band_covers_the_pointwise_terms():
    frame, *_ = small_panel(seed=5)
    result = group_time_att(frame, "y", "unit", "t", "g", ["x"], "w", cluster="cl")
    point = wild_bootstrap_aggregate(result, "dynamic", n_boot=499, seed=3)
    band = wild_bootstrap_aggregate(result, "dynamic", n_boot=499, seed=3, uniform=True)
    assert point.terms.loc["ATT", "conf_low"] == band.terms.loc["ATT", "conf_low"]
    terms = [n for n in band.terms.index if n != "ATT"]
    assert (band.terms.loc[terms, "conf_low"] <= point.terms.loc[terms, "conf_low"]).all()
    assert (band.terms.loc[terms, "conf_high"] >= point.terms.loc[terms, "conf_high"]).all()
    assert band.diagnostics["uniform_critical_value"] > 0


def test_page_with_the_wild_bootstrap_keeps_the_estimates(monkeypatch):
    """When the size check chooses the wild bootstrap, every aggregate shown carries its
    interval and says so; the Callaway-Sant'Anna estimates are unchanged."""
    params, prepared = small_demo("en")
    inference = params.inference.model_copy(update={"size_band": [0.0, 1.0], "size_sims": 20})
    params = params.model_copy(update={"inference": inference})
    before = rollout.rollout_effects(prepared, params)
    monkeypatch.setattr(rollout, "SIZE_METHODS", ("wild_bootstrap",))
    after = rollout.rollout_effects(prepared, params)
    assert applies(before) and applies(after)
    assert before.size.method == "analytic" and after.size.method == "wild_bootstrap"
    assert after.size.passed and set(after.size.rates) == {"wild_bootstrap"}
    pd.testing.assert_frame_equal(before.att_gt, after.att_gt)
    for name, estimate in after.aggregations().items():
        reference = before.aggregations()[name]
        np.testing.assert_allclose(
            estimate.terms["estimate"], reference.terms["estimate"], atol=1e-12
        )
        assert "wild cluster bootstrap" in estimate.inference
        assert np.isfinite(estimate.conf_int).all()
    assert "uniform band" in after.dynamic.terms["inference"].iloc[1]
    rows = after.effects_rows()
    assert rows.loc[rows["estimator"].str.startswith("cs_"), "size_checked"].all()
    assert dataclasses.asdict(after.design) == dataclasses.asdict(before.design)


@pytest.mark.slow
def test_size_is_nominal_on_fresh_panels():
    """1,000 fresh panels with no effect (80 units, each its own cluster, 20 adopting in period
    3, i.i.d. errors): the studentised interval of the simple ATT excludes zero at a rate in a
    3.5-sd binomial band around alpha."""
    rng = np.random.default_rng(7)
    n, periods, n_sims, alpha = 80, np.arange(1, 5), 1000, 0.05
    groups = np.zeros((1, n))
    groups[0, :20] = 3
    cluster = np.arange(n)
    ones = np.ones((n, len(periods)))
    rejected = []
    for sim in range(n_sims):
        y = rng.normal(size=(n, 1)) + rng.normal(size=(n, len(periods)))
        estimate, std_error, critical = simple_att_wild_bootstrap_draws(
            y, ones, ones[:, :, None], periods, groups, cluster, method="reg", n_boot=399,
            seed=sim, alpha=alpha,
        )  # fmt: skip
        rejected.append(abs(estimate[0] / std_error[0]) > critical[0])
    rate = float(np.mean(rejected))
    half_width = 3.5 * np.sqrt(alpha * (1 - alpha) / n_sims)
    assert alpha - half_width <= rate <= alpha + half_width, rate
