"""Delete-one-cluster jackknife of the Callaway-Sant'Anna aggregates (inference.cs_jackknife)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from evaluation.estimators.staggered import aggregate, group_time_att, simple_att_draws
from evaluation.inference.cs_jackknife import (
    jackknife_aggregate,
    jackknife_variance,
    leave_one_cluster_out,
    simple_att_jackknife_draws,
)


def _panel(n_units: int = 24, n_periods: int = 5, seed: int = 0) -> pd.DataFrame:
    """Units in clusters of three; cohorts 3 and 4 spread over clusters, cohort 5 in one
    cluster only; a covariate; effects growing with exposure."""
    rng = np.random.default_rng(seed)
    first = np.zeros(n_units)
    first[[0, 4, 8, 13]] = 3
    first[[1, 5, 10, 17, 20]] = 4
    first[[21, 22]] = 5  # one cluster (7) holds this whole cohort
    x = rng.normal(size=n_units)
    rows = []
    for i in range(n_units):
        level = rng.normal()
        for t in range(1, n_periods + 1):
            effect = (t - first[i] + 1) * 0.5 if 0 < first[i] <= t else 0.0
            y = level + 0.3 * t + 0.4 * x[i] * t + effect + rng.normal(scale=0.5)
            rows.append((i, t, first[i], i // 3, x[i], 1 + (i % 4) * 0.5, y))
    return pd.DataFrame(rows, columns=["unit", "t", "g", "cluster", "x", "w", "y"])


def _fit(data: pd.DataFrame, method: str, base: str, control: str):
    return group_time_att(
        data, "y", "unit", "t", "g", covariates=("x",), weights="w", control_group=control,
        method=method, base_period=base, cluster="cluster",
    )  # fmt: skip


CASES = [
    ("dr", "varying", "never_treated"),
    ("reg", "universal", "not_yet_treated"),
    ("ipw", "varying", "not_yet_treated"),
]


def _tolerance(method: str) -> float:
    """1e-10; IPW's ATT moves with the logit fit itself, whose Newton iterations stop at a
    different point in the one-at-a-time estimator (DR is first-order insensitive to it)."""
    return 1e-8 if method == "ipw" else 1e-10


@pytest.mark.parametrize(("method", "base", "control"), CASES)
def test_leave_one_out_equals_brute_force_refits(method, base, control):
    data = _panel()
    result = _fit(data, method, base, control)
    replicates = leave_one_cluster_out(result, data, "y", "unit", "t", ("x",), "w")
    clusters = np.unique(data["cluster"])
    assert replicates.shape == (len(clusters), len(result.att_gt))
    key = list(zip(result.att_gt["group"], result.att_gt["time"], strict=True))
    for c in clusters:
        refit = _fit(data[data["cluster"] != c], method, base, control)
        by_cell = dict(
            zip(zip(refit.att_gt["group"], refit.att_gt["time"], strict=True),
                refit.att_gt["estimate"], strict=True)
        )  # fmt: skip
        expected = np.array([by_cell.get(k, np.nan) for k in key])
        np.testing.assert_allclose(replicates[c], expected, rtol=0, atol=_tolerance(method))


@pytest.mark.parametrize(("method", "base", "control"), CASES)
def test_jackknife_aggregates_equal_brute_force(method, base, control):
    data = _panel()
    result = _fit(data, method, base, control)
    replicates = leave_one_cluster_out(result, data, "y", "unit", "t", ("x",), "w")
    clusters = np.unique(data["cluster"])
    for kind, window in (("simple", {}), ("dynamic", {"min_e": -2, "max_e": 2})):
        jack = jackknife_aggregate(result, replicates, kind, **window)
        names = list(jack.terms.index)
        values = np.full((len(clusters), len(names)), np.nan)
        for c in clusters:
            refit = _fit(data[data["cluster"] != c], method, base, control)
            terms = aggregate(refit, kind, **window).terms["estimate"]
            values[c] = terms.reindex(names).to_numpy(float)
        g = len(clusters)
        se = np.sqrt((g - 1) / g * ((values - values.mean(axis=0)) ** 2).sum(axis=0))
        se[se == 0] = np.nan  # a reference cell fixed at 0: no error, as the analytic one
        np.testing.assert_allclose(jack.terms["std_error"], se, rtol=0, atol=_tolerance(method))
        full = aggregate(result, kind, **window).terms
        np.testing.assert_allclose(jack.terms["estimate"], full["estimate"], atol=1e-12)
        assert jack.terms["std_error"].notna().loc["ATT"]
        assert "jackknife" in jack.inference


def test_cohort_in_one_cluster_has_no_jackknife_error():
    data = _panel()
    result = _fit(data, "dr", "varying", "never_treated")
    replicates = leave_one_cluster_out(result, data, "y", "unit", "t", ("x",), "w")
    group = jackknife_aggregate(result, replicates, "group")
    assert np.isnan(group.terms.loc["g=5", "std_error"])
    assert np.isfinite(group.terms.loc["g=3", "std_error"])


def _wide(data: pd.DataFrame):
    data = data.sort_values(["unit", "t"])
    n, periods = data["unit"].nunique(), np.sort(data["t"].unique()).astype(float)
    shape = (n, len(periods))
    y = data["y"].to_numpy().reshape(shape)
    w = data["w"].to_numpy().reshape(shape)
    x = np.stack([np.ones(shape), data["x"].to_numpy().reshape(shape)], axis=2)
    clusters = data.groupby("unit")["cluster"].first().to_numpy()
    return y, w, x, periods, clusters


@pytest.mark.parametrize(
    ("control", "method", "n_draws"),
    [("never_treated", "reg", 3), ("not_yet_treated", "reg", 3), ("never_treated", "dr", 1)],
)
def test_simple_draws_equal_brute_force(control, method, n_draws):
    # DR only on the real timing: on permuted ones a two-unit cohort separates the logit,
    # which the batched estimator reports as NaN (as simple_att_draws does) and a refit not.
    data = _panel(seed=3)
    y, w, x, periods, clusters = _wide(data)
    rng = np.random.default_rng(1)
    real = data.groupby("unit")["g"].first().to_numpy()
    groups = np.vstack([real, rng.permutation(real), rng.permutation(real)])[:n_draws]
    est, se = simple_att_jackknife_draws(
        y, w, x, periods, groups, clusters, control_group=control, method=method
    )
    est_analytic, _ = simple_att_draws(
        y, w, x, periods, groups, clusters, control_group=control, method=method
    )
    assert np.isfinite(est).all() and np.isfinite(se).all()
    np.testing.assert_allclose(est, est_analytic, atol=1e-10)
    g_count = len(np.unique(clusters))
    for s, draw in enumerate(groups):
        relabelled = data.assign(g=draw[data["unit"].to_numpy()])
        values = []
        for c in range(g_count):
            refit = _fit(relabelled[relabelled["cluster"] != c], method, "varying", control)
            values.append(aggregate(refit, "simple").estimate)
        expected = np.sqrt(jackknife_variance(np.array(values)))
        assert se[s] == pytest.approx(expected, abs=1e-10)


def test_many_clusters_jackknife_is_close_to_the_analytic_error():
    rng = np.random.default_rng(7)
    n_units, n_periods = 400, 4
    first = rng.choice([0, 0, 3, 4], size=n_units)
    rows = []
    for i in range(n_units):
        level = rng.normal()
        for t in range(1, n_periods + 1):
            effect = 1.0 if 0 < first[i] <= t else 0.0
            rows.append((i, t, first[i], i // 2, level + 0.2 * t + effect + rng.normal()))
    data = pd.DataFrame(rows, columns=["unit", "t", "g", "cluster", "y"])
    result = group_time_att(data, "y", "unit", "t", "g", method="reg", cluster="cluster")
    replicates = leave_one_cluster_out(result, data, "y", "unit", "t")
    for kind in ("simple", "dynamic"):
        analytic = aggregate(result, kind).terms["std_error"]
        jack = jackknife_aggregate(result, replicates, kind).terms["std_error"]
        np.testing.assert_allclose(jack, analytic, rtol=0.05)


def test_jackknife_variance_formula():
    # mean 7/3, squared deviations 16/9 + 1/9 + 25/9 = 42/9, times (G - 1) / G = 2/3.
    assert jackknife_variance(np.array([1.0, 2.0, 4.0])) == pytest.approx(28 / 9, abs=1e-14)


def test_uniform_band_covers_all_event_times_at_once():
    data = _panel()
    result = _fit(data, "dr", "varying", "never_treated")
    replicates = leave_one_cluster_out(result, data, "y", "unit", "t", ("x",), "w")
    window = {"min_e": -2, "max_e": 2}
    pointwise = jackknife_aggregate(result, replicates, "dynamic", **window).terms
    band = jackknife_aggregate(
        result, replicates, "dynamic", uniform=True, n_draws=999, seed=1, **window
    )
    terms = band.terms
    width = terms["conf_high"] - terms["conf_low"]
    narrow = pointwise["conf_high"] - pointwise["conf_low"]
    assert width.iloc[0] == pytest.approx(narrow.iloc[0])  # the headline stays pointwise
    assert (width.iloc[1:] > narrow.iloc[1:]).all()
    t_crit = narrow.iloc[0] / (2 * pointwise["std_error"].iloc[0])
    assert band.diagnostics["uniform_critical_value"] > t_crit
    assert terms["inference"].iloc[1:].str.contains("uniform band").all()


# --------------------------------------------------------------------------- page 07's size check


@functools.cache
def _small_demo_check(band: tuple[float, float], sims: int = 100):
    from _demo import small_demo

    from evaluation.analysis import rollout

    params, prepared = small_demo("en")
    inference = params.inference.model_copy(update={"size_sims": sims, "size_band": band})
    params = params.model_copy(update={"inference": inference})
    design = rollout.rollout_design(prepared, params)
    frame = rollout.staggered_panel(prepared, params)
    result = rollout._group_time(frame, design, design.covariates, params.analysis.alpha)
    simple = aggregate(result, "simple")
    size = rollout.size_check(frame, design, tuple(design.covariates), simple, params)
    return params, prepared, size


def test_size_check_tries_the_jackknife_after_the_analytic_interval():
    _, _, none = _small_demo_check((0.0, 0.0))
    assert list(none.rates) == ["analytic", "jackknife", "wild_bootstrap"]
    assert none.status == "failed" and none.method == "analytic"
    assert none.rejection_rate == none.rates["analytic"]
    analytic, jackknife = none.rates["analytic"], none.rates["jackknife"]
    assert analytic != jackknife  # on this design the two intervals differ

    _, _, first = _small_demo_check((0.0, 1.0))
    assert first.passed and first.method == "analytic" and list(first.rates) == ["analytic"]

    band = (jackknife - 0.001, jackknife + 0.001)
    _, _, second = _small_demo_check(band)
    assert second.passed and second.method == "jackknife"
    assert second.rejection_rate == jackknife and second.rates["analytic"] == analytic


def test_page_shows_the_jackknife_intervals_when_the_check_chose_it():
    from evaluation.analysis import rollout

    _, _, none = _small_demo_check((0.0, 0.0))
    jackknife = none.rates["jackknife"]
    params, prepared, _ = _small_demo_check((jackknife - 0.001, jackknife + 0.001))
    effects = rollout.rollout_effects(prepared, params)
    assert effects.size.method == "jackknife" and effects.intervals_shown
    analytic = aggregate(effects.result, "simple").terms.loc["ATT"]
    shown = effects.simple.terms.loc["ATT"]
    assert shown["estimate"] == pytest.approx(analytic["estimate"], abs=1e-12)
    assert shown["std_error"] != pytest.approx(analytic["std_error"], rel=1e-6)
    assert "jackknife" in effects.simple.inference and "jackknife" in effects.group.inference
    post = [n for n in effects.dynamic.terms.index if n.startswith("e+")]
    assert effects.dynamic.terms.loc[post, "inference"].str.contains("uniform band").all()
    rows = effects.effects_rows()
    cs = rows["estimator"].str.startswith("cs_")
    assert rows.loc[cs, "size_checked"].all()
    assert rows.loc[cs, "inference"].str.contains("jackknife").all()
    # summary() reads the design, the effects and (when a comparison) the cohorts only.
    summary = rollout.RolloutPage(effects.design, None, effects, None, None).summary()
    assert summary["size_method"] == "jackknife" and summary["size_checked"] is True


@pytest.mark.slow
def test_jackknife_size_on_the_demo_design():
    """Page 07's size check with S = 1,000 placebo timings on the small demo, reported."""
    _, _, size = _small_demo_check((0.03, 0.07), sims=1_000)
    print(size.rates, size.method, size.n_valid)
    assert size.n_valid >= 990
    assert size.passed and 0.03 <= size.rates[size.method] <= 0.07
