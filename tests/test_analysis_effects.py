"""Page 03's analyses (evaluation.analysis.effects / how_sure) on the shapes of real data.

Numbers are checked against direct pyfixest / statsmodels calls; shapes that lack something
must give NotApplicable with the right reason, the others real results.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
import statsmodels.formula.api as smf
from _demo import small_demo
from shapes import prepared_shape

from evaluation.analysis import effects, how_sure, sample
from evaluation.analysis.base import NotApplicable, applies, load_result, save_result
from evaluation.inference.randomization import randomization_inference

FAST = {"inference": {"n_boot": 199, "ri_draws": 199, "size_sims": 40}}


def shape(name: str, **overrides):
    return prepared_shape(name, **{**FAST, **overrides})


def _feols(frame, outcome, cluster, weights=None):
    fit = pf.feols(
        f"{outcome} ~ treated | commune_code + wave_index",
        data=frame.reset_index(drop=True),
        vcov={"CRV1": cluster},
        weights=weights,
    )
    return float(fit.coef()["treated"]), float(fit.se()["treated"])


def test_headline_on_ballots_equals_pyfixest():
    params, prepared = small_demo("en")
    headline = effects.headline(prepared, params)
    assert headline.level == effects.BALLOT and headline.ballot_reason is None
    coef, se = _feols(sample.window_ballots(prepared), "satisfaction_index", "commune_code")
    assert headline.estimate.estimate == pytest.approx(coef, abs=1e-10)
    assert headline.estimate.std_error == pytest.approx(se, rel=1e-6)


def test_nonresponse_weights_reach_every_few_cluster_method():
    """Regression: few_cluster fitted unweighted (0.4360) while the headline was weighted (0.4310)."""
    params, prepared = small_demo("en")
    params = params.model_copy(
        update={"analysis": params.analysis.model_copy(update={"weighting": "nonresponse"})}
    )
    headline = effects.headline(prepared, params)
    assert headline.design.weights == "nonresponse_weight"
    ballots = sample.window_ballots(prepared)
    coef, _ = _feols(ballots, "satisfaction_index", "commune_code", "nonresponse_weight")
    assert headline.estimate.estimate == pytest.approx(coef, abs=1e-10)
    unweighted, _ = _feols(ballots, "satisfaction_index", "commune_code")
    assert abs(coef - unweighted) > 1e-4  # the weights matter on this design
    check = how_sure.how_sure(prepared, params, headline)
    # The commune-level tests (Welch, Ferman-Pinto) estimate a commune-level DiD, not the TWFE.
    commune_level = check.comparison["method"].isin(["aggregated_welch", "ferman_pinto"])
    twfe_methods = check.comparison[~commune_level]
    assert set(twfe_methods["method"]) == {
        "crv1",
        "cr2_bm",
        "cv3",
        "wcr_rademacher",
        "wcr_webb",
        "ri",
    }
    np.testing.assert_allclose(twfe_methods["estimate"], headline.estimate.estimate, atol=1e-10)
    assert check.trusted.estimate == pytest.approx(headline.estimate.estimate, abs=1e-10)


def test_effects_rows_are_size_checked_only_for_the_shown_method():
    params, prepared = small_demo("en")
    headline = effects.headline(prepared, params)
    check = how_sure.how_sure(prepared, params, headline)
    rows = check.effect_rows(headline.estimate)
    assert rows["size_checked"].iloc[1:].eq(False).all()
    low, high = params.inference.size_band
    first = rows.iloc[0]
    sizes = check.sizes[check.sizes["method"] == check.trusted.method]["rejection_rate"]
    assert bool(first["size_checked"]) == bool(
        sizes.between(low, high).all() and check.trusted.shows_interval
    )
    # An interval shown for a method means that method passed the size check.
    shown = check.comparison[check.comparison["interval_shown"]]
    assert set(shown["method"]) <= set(check.verdict.passed_methods)
    withheld = rows[~rows["size_checked"].astype(bool)]
    assert withheld[["conf_low", "conf_high"]].isna().all().all()


def test_every_outcome_interval_comes_from_a_size_checked_method():
    params, prepared = small_demo("en")
    outcomes = effects.every_outcome(prepared, params)
    intervals = how_sure.every_outcome(prepared, params, outcomes)
    assert len(intervals.rows) == len(outcomes.estimates) >= 4
    low, high = params.inference.size_band
    for row in intervals.rows:
        if row.shows_interval:
            assert row.size_checked and low <= row.rate <= high
        else:
            assert row.withheld_reason is not None and math.isnan(row.conf_low)
    tidy = intervals.tidy()
    assert (tidy["size_checked"] == [r.shows_interval for r in intervals.rows]).all()


def test_results_round_trip(tmp_path):
    params, prepared = small_demo("en")
    headline = effects.headline(prepared, params)
    save_result(headline, tmp_path, "effects")
    back = load_result(tmp_path, "effects")
    assert back["estimate"].estimate == pytest.approx(headline.estimate.estimate)


def test_generic_panel_headline_is_unit_period_twfe():
    params, prepared = shape("panel_yearly_staggered")
    headline = effects.headline(prepared, params)
    assert headline.level == effects.UNIT_PERIOD
    assert headline.outcome == prepared.meta["outcomes"][0]  # satisfaction_index is not a column
    on = headline.design
    assert on.cluster == sample.cluster_column(prepared, params)
    coef, se = _feols(on.frame, headline.outcome, on.cluster, on.weights)
    assert headline.estimate.estimate == pytest.approx(coef, abs=1e-10)
    assert headline.estimate.std_error == pytest.approx(se, rel=1e-6)
    for result in (
        effects.likert_shift(prepared, params),
        effects.adjusted_comparison(prepared, params),
    ):
        assert isinstance(result, NotApplicable) and result.reason == "ballots"
    intervals = how_sure.every_outcome(prepared, params, effects.every_outcome(prepared, params))
    coverage = how_sure.coverage(prepared, params, intervals)
    assert isinstance(coverage, NotApplicable) and coverage.reason == "ballots"


def test_one_treated_unit_gives_randomisation_p_value_and_no_interval():
    params, prepared = shape("panel_one_treated")
    headline = effects.headline(prepared, params)
    assert headline.estimate.n_treated_clusters == 1
    check = how_sure.how_sure(prepared, params, headline)
    assert list(check.comparison["method"]) == ["ri"]
    assert set(check.left_out["method"]) == {
        "crv1",
        "cr2_bm",
        "cv3",
        "wcr_rademacher",
        "wcr_webb",
        "aggregated_welch",
        "ferman_pinto",
    }
    trusted = check.trusted
    assert trusted.method == "ri" and not trusted.shows_interval
    assert trusted.withheld_reason == how_sure.WITHHELD_ONE_CLUSTER
    on = headline.design
    direct = randomization_inference(
        on.frame,
        on.outcome,
        "treated",
        "commune_code",
        "wave_index",
        on.cluster,
        on.strata,
        on.weights,
        budget=params.inference.ri_draws,
        seed=params.inference.seed,
        confint=False,
    )
    assert trusted.p_value == pytest.approx(direct.p_value)
    assert trusted.ri_rank / trusted.ri_assignments == pytest.approx(direct.p_value)
    assert not trusted.tidy()["size_checked"].iloc[0]


def test_individual_level_one_pilot_runs_without_welch():
    params, prepared = shape("panel_individual")
    headline = effects.headline(prepared, params)
    assert applies(headline)
    check = how_sure.how_sure(prepared, params, headline)
    assert applies(check)
    if headline.estimate.n_treated_clusters < 2:
        assert "aggregated_welch" in set(check.left_out["method"])


def _drop_ballots(prepared, keep_ballot, keep_row):
    """The small demo with ballots (and the panel's ballot measures) kept only where asked.

    Built from the prepared demo, as prepare does not yet accept these shapes (window check)."""
    ballot_cols = [c for c in prepared.panel if sample.is_ballot_outcome(c)] + ["coverage"]
    panel = prepared.panel.copy()
    panel.loc[~keep_row(panel), ballot_cols] = np.nan
    return dataclasses.replace(
        prepared, ballots=prepared.ballots[keep_ballot(prepared.ballots)], panel=panel
    )


def endline_only():
    params, prepared = small_demo("en")
    start = prepared.meta["pilot_wave"]
    after = lambda frame: frame["wave_index"] >= start  # noqa: E731
    prepared = _drop_ballots(prepared, after, after)
    baseline = prepared.baseline.assign(baseline_index=np.nan)
    return params, dataclasses.replace(prepared, baseline=baseline)


def pilot_only():
    params, prepared = small_demo("en")
    pilots = lambda frame: frame["pilot"].astype(bool)  # noqa: E731
    return params, _drop_ballots(prepared, pilots, pilots)


def test_endline_only_ballots_use_admin_and_an_adjusted_comparison():
    params, prepared = endline_only()
    headline = effects.headline(prepared, params)
    assert headline.ballot_reason == "ballots_before_and_after"
    assert headline.outcome in effects.ADMIN_INDICATORS and headline.level == effects.UNIT_PERIOD
    assert effects.likert_shift(prepared, params).reason == "ballots_before_and_after"
    adjusted = effects.adjusted_comparison(prepared, params)
    assert applies(adjusted)
    ballots = sample.window_ballots(prepared)
    after = ballots[ballots["post"] > 0].copy()
    base = prepared.baseline.assign(commune_code=prepared.baseline["commune_code"].astype(str))
    for c in adjusted.covariates:
        if c not in after:
            after[c] = after["commune_code"].map(base.set_index("commune_code")[c])
    after = after.dropna(subset=["satisfaction_index", *adjusted.covariates])
    formula = " + ".join(["pilot", *adjusted.covariates, "C(wave_index)"])
    ols = smf.ols(f"satisfaction_index ~ {formula}", data=after).fit()
    assert adjusted.estimate.estimate == pytest.approx(ols.params["pilot"], abs=1e-8)


def test_ballots_only_in_pilots_fall_back_to_admin_indicators():
    params, prepared = pilot_only()
    headline = effects.headline(prepared, params)
    assert headline.ballot_reason == "ballots_both_groups"
    assert headline.level == effects.UNIT_PERIOD
    assert effects.likert_shift(prepared, params).reason == "ballots_both_groups"
    assert effects.adjusted_comparison(prepared, params).reason == "ballots_both_groups"


def test_ballot_level_design_keeps_strata_and_weights():
    params, prepared = small_demo("en")
    on = effects.design(prepared, params, "satisfaction_index", effects.BALLOT)
    assert on.strata == "district_name" and on.strata in on.frame
    assert on.weights is None and on.frame["satisfaction_index"].notna().all()
    unit = effects.design(prepared, params, "satisfaction_index", effects.UNIT_PERIOD)
    assert unit.weights == "n_ballots"
    assert isinstance(unit.frame, pd.DataFrame)


def test_page_3_pre_trend_test_carries_its_power_against_a_linear_drift():
    """Roth (2022): the event study's lead test says how large a drift it would notice; the
    reading prints it, so "no pre-trend" is never read without the test's strength."""
    from evaluation.inference.pretrend_power import wald_power
    from evaluation.report import effects as fx

    params, prepared = small_demo("en")
    outcome = effects.chosen_outcome(prepared, params)
    study = effects.event_study_estimate(prepared, params, outcome)
    power = study.diagnostics["_power"]
    assert 0 < power.slope_50 < power.slope_80
    # At the 80% slope the test's power is 80% (the definition, recomputed independently).
    leads = [n for n in study.terms.index if str(n).startswith("e-")]
    cov = study.model.cov_params().loc[leads, leads].to_numpy(float)
    achieved = wald_power(
        np.asarray(power.direction) * power.slope_80,
        cov,
        alpha=params.analysis.alpha,
        df_denom=float(study.diagnostics["pretrend_df_denom"]),
    )
    assert achieved == pytest.approx(0.8, abs=1e-4)
    reading = fx.event_reading(study, params, "en")
    assert fx.format_effect(outcome, power.slope_80, "en") in reading
