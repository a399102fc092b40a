"""Power of the next phase: simulation against the closed-form design-effect formula."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from evaluation.scaling.power import (
    VarianceComponents,
    design_effect_power,
    did_standard_error,
    estimate_variance_components,
    minimum_detectable_effect,
    power_curves,
    simulate_power,
)

TRUTH = VarianceComponents(
    between_commune_var=0.30,
    commune_wave_var=0.10,
    residual_var=0.80,
    ballots_per_commune_wave=50,
    n_communes=100,
    n_waves=4,
    method="truth",
)


def simulate_ballots(seed: int, n_communes: int, n_waves: int, m: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    u = rng.normal(0, np.sqrt(TRUTH.between_commune_var), n_communes)
    v = rng.normal(0, np.sqrt(TRUTH.commune_wave_var), (n_communes, n_waves))
    g = np.repeat(np.arange(n_communes), n_waves * m)
    t = np.tile(np.repeat(np.arange(n_waves), m), n_communes)
    y = 3 + 0.1 * t + u[g] + v[g, t] + rng.normal(0, np.sqrt(TRUTH.residual_var), g.size)
    return pd.DataFrame({"commune_code": g, "wave": t, "score": y})


def test_design_effect_se_equals_direct_formula() -> None:
    for n_t, n_c, m, n_pre, n_post in [(10, 10, 50, 1, 1), (7, 20, 12, 2, 3)]:
        direct = np.sqrt(
            (1 / n_t + 1 / n_c)
            * (TRUTH.commune_wave_var + TRUTH.residual_var / m)
            * (1 / n_pre + 1 / n_post)
        )
        got = did_standard_error(TRUTH, n_t, n_c, m, n_pre=n_pre, n_post=n_post)
        assert got == pytest.approx(direct, rel=1e-12)
    # coverage scales the ballots actually collected
    assert did_standard_error(TRUTH, 10, 10, 100, coverage=0.5) == pytest.approx(
        did_standard_error(TRUTH, 10, 10, 50)
    )


@pytest.mark.parametrize(
    ("n_t", "n_c", "m", "effect"), [(10, 10, 50, 0.3), (14, 30, 20, 0.4), (6, 6, 80, 0.5)]
)
def test_simulated_power_matches_closed_form(n_t: int, n_c: int, m: int, effect: float) -> None:
    closed = design_effect_power(TRUTH, n_t, n_c, m, effect)
    sim = simulate_power(TRUTH, n_t, n_c, m, effect, n_sims=6000, seed=11, test="pooled_t")
    assert abs(sim.power - closed) < 4 * np.sqrt(closed * (1 - closed) / sim.n_sims)
    se = did_standard_error(TRUTH, n_t, n_c, m)
    assert sim.sd_estimate == pytest.approx(se, rel=0.05)
    assert sim.mean_estimate == pytest.approx(effect, abs=4 * se / np.sqrt(sim.n_sims))


def test_size_under_null_and_reproducibility() -> None:
    sim = simulate_power(TRUTH, 10, 10, 50, 0.0, n_sims=6000, seed=5)
    assert abs(sim.power - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 6000)
    again = simulate_power(TRUTH, 10, 10, 50, 0.0, n_sims=6000, seed=5)
    assert again == sim
    robust = simulate_power(TRUTH, 10, 10, 50, 0.3, n_sims=2000, seed=5, test="cluster_robust")
    assert 0 < robust.power < 1


def test_mde_gives_about_target_power() -> None:
    mde = minimum_detectable_effect(TRUTH, 14, 14, 40, power=0.8)
    assert design_effect_power(TRUTH, 14, 14, 40, mde) == pytest.approx(0.8, abs=0.02)


def test_power_curves_grow_with_communes_more_than_ballots() -> None:
    curves = power_curves(TRUTH, [5, 10, 20, 40], [20, 80], effect=0.3, n_sims=200, seed=1)
    assert len(curves) == 8
    assert {"power", "mde", "power_simulated", "power_mc_se"} <= set(curves.columns)
    for _, part in curves.groupby("ballots_per_commune"):
        assert part["power"].is_monotonic_increasing
        assert part["mde"].is_monotonic_decreasing
    # quadrupling ballots helps less than quadrupling communes (sigma_v dominates)
    by = curves.set_index(["n_treated", "ballots_per_commune"])["power"]
    assert by[(20, 20)] - by[(5, 20)] > by[(5, 80)] - by[(5, 20)]


def test_anova_components_recover_truth() -> None:
    ballots = simulate_ballots(seed=2, n_communes=300, n_waves=4, m=30)
    vc = estimate_variance_components(ballots, "score", "commune_code", "wave")
    assert vc.residual_var == pytest.approx(TRUTH.residual_var, rel=0.03)
    assert vc.commune_wave_var == pytest.approx(TRUTH.commune_wave_var, rel=0.2)
    assert vc.between_commune_var == pytest.approx(TRUTH.between_commune_var, rel=0.25)
    assert vc.ballots_per_commune_wave == 30 and vc.n_communes == 300 and vc.n_waves == 4
    assert 0 < vc.icc < 1


def test_anova_agrees_with_mixedlm() -> None:
    ballots = simulate_ballots(seed=4, n_communes=40, n_waves=3, m=15)
    anova = estimate_variance_components(ballots, "score", "commune_code", "wave")
    reml = estimate_variance_components(ballots, "score", "commune_code", "wave", "mixedlm")
    assert anova.residual_var == pytest.approx(reml.residual_var, rel=0.02)
    assert anova.commune_wave_var == pytest.approx(reml.commune_wave_var, rel=0.25, abs=0.02)
    assert anova.between_commune_var == pytest.approx(reml.between_commune_var, rel=0.25)


def test_without_waves_power_refuses() -> None:
    ballots = simulate_ballots(seed=3, n_communes=30, n_waves=2, m=10)
    vc = estimate_variance_components(ballots, "score", "commune_code")
    assert np.isnan(vc.commune_wave_var)
    with pytest.raises(ValueError, match="commune_wave_var is NaN"):
        design_effect_power(vc, 10, 10, 50, 0.3)
    fixed = dataclasses.replace(vc, commune_wave_var=0.1)
    assert 0 < design_effect_power(fixed, 10, 10, 50, 0.3) < 1
    with pytest.raises(ValueError, match="coverage"):
        design_effect_power(fixed, 10, 10, 50, 0.3, coverage=1.5)
    with pytest.raises(ValueError, match="unit='x'"):
        estimate_variance_components(ballots, "score", "x")


@pytest.mark.parametrize("language", ["vi", "en"])
def test_power_figure_names_the_communes_needed(language: str) -> None:
    from evaluation.report.figures_scaling import power_curve_figure
    from evaluation.report.style import close

    curves = power_curves(TRUTH, [5, 20, 60], [50], effect=0.3)
    needed = int(curves.loc[curves["power"] >= 0.8, "n_treated"].min())
    fig = power_curve_figure(curves, language=language)
    title = fig.axes[0].get_title(loc="left").replace("\n", " ")
    assert f" {needed} " in title
    close(fig)


def test_closed_form_power_is_one_far_in_the_tail_not_nan():
    # scipy's noncentral t gives NaN for huge noncentrality; the power there is 1.
    from evaluation.scaling.power import VarianceComponents, design_effect_power

    components = VarianceComponents(0.05, 0.01, 0.5, 40, 100, 16, "anova")
    assert design_effect_power(components, 20, 20, 40, 20.0) == 1.0
    assert 0.0 < design_effect_power(components, 20, 20, 40, 0.0) < 0.1
