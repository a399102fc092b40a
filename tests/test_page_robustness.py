"""The robustness page's library (evaluation.report.robustness) on the small simulated demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _demo import small_demo

from evaluation.estimators.twfe import twfe
from evaluation.inference.honest_did import breakdown_value, sensitivity_rm, sensitivity_sd
from evaluation.inference.multiple_testing import holm
from evaluation.report import comparison as cmp
from evaluation.report import effects as fx
from evaluation.report import robustness as rb

MESSAGES = Path(rb.__file__).resolve().parents[1] / "messages"


@pytest.fixture(scope="module")
def demo():
    return small_demo("vi")


@pytest.fixture(scope="module")
def study(demo):
    params, prepared = demo
    return rb.event_study(prepared, params)


@pytest.fixture(scope="module")
def sensitivity(demo, study):
    params, _ = demo
    return rb.honest_sensitivity(study, params)


def test_event_coefficients_come_from_the_event_study(demo, study):
    params, _ = demo
    es = rb.event_coefficients(study)
    assert es.num_pre == params.analysis.event_leads - 1  # e-1 is the reference
    assert es.num_pre + es.num_post == len(study.terms)
    np.testing.assert_allclose(es.betahat, study.terms["estimate"], rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(es.sigma)), study.terms["std_error"], rtol=1e-10)
    assert es.theta_hat == pytest.approx(study.terms["estimate"].iloc[es.num_pre :].mean())


def test_sensitivity_equals_the_honest_did_calls(demo, study, sensitivity):
    params, _ = demo
    es = sensitivity.coefficients
    args = (es.betahat, es.sigma, es.num_pre, es.num_post)
    rm = sensitivity_rm(*args, list(rb.MBAR_GRID), l_vec=es.l_vec, seed=params.inference.seed)
    sd = sensitivity_sd(*args, [m * es.theta_se for m in rb.M_GRID_SE], l_vec=es.l_vec)
    pd.testing.assert_frame_equal(sensitivity.relative_magnitudes, rm)
    pd.testing.assert_frame_equal(sensitivity.smoothness, sd)
    assert sensitivity.breakdown_rm == breakdown_value(
        *args, "relative_magnitudes", l_vec=es.l_vec, seed=params.inference.seed
    )
    rows = rb.sensitivity_effects(study, sensitivity)
    assert len(rows) == len(rb.MBAR_GRID) + len(rb.M_GRID_SE)
    assert (rows["estimate"] == sensitivity.theta).all()
    average = rb.event_average(study, sensitivity, params)
    assert average.conf_int == pytest.approx(tuple(rm.iloc[0][["conf_low", "conf_high"]]))


def test_fake_start_placebo_finds_nothing_before_the_pilot(demo):
    params, prepared = demo
    placebo = rb.fake_start_placebo(prepared, params)
    pilot_wave = prepared.meta["pilot_wave"]
    panel = fx.window_panel(prepared)
    pre = panel[panel["wave_index"] < pilot_wave]
    n_pre = pre["wave_index"].nunique()
    assert placebo.diagnostics["fake_shift"] == min(rb.FAKE_SHIFT, n_pre - 1)
    assert placebo.n_obs == len(pre)
    # No effect exists before the pilot in the simulated data: the placebo must not find one.
    assert placebo.p_value > 0.01
    fake = pre.assign(
        d=((pre["pilot"] > 0) & (pre["wave_index"] >= placebo.diagnostics["fake_start"])).astype(
            float
        )
    )
    direct = twfe(
        fake, "satisfaction_index", "d", "commune_code", "wave_index", weights="n_ballots"
    )
    assert placebo.estimate == pytest.approx(direct.estimate, abs=1e-12)


def test_placebo_outcome_is_the_female_share_and_does_not_move(demo):
    params, prepared = demo
    estimates = rb.placebo_outcomes(prepared, params)
    assert [e.outcome for e in estimates] == ["respondent_female"]
    assert estimates[0].p_value > 0.01
    assert estimates[0].n_treated_clusters == prepared.meta["n_pilot"]


def test_leave_one_district_out_drops_each_district_once(demo):
    params, prepared = demo
    estimates = rb.leave_one_district_out(prepared, params)
    panel = fx.window_panel(prepared)
    districts = sorted(panel["district_name"].astype(str).unique())
    assert [rb.dropped_district(e) for e in estimates] == districts
    for est in estimates:
        kept = panel[panel["district_name"].astype(str) != rb.dropped_district(est)]
        assert est.n_clusters == kept["commune_code"].nunique()


def test_map_change_exclusion_drops_merged_units(demo):
    params, prepared = demo
    touched = rb.map_change_communes(prepared)
    merged = prepared.communes.loc[
        prepared.communes["parts"].astype(str).str.contains(","), "commune_code"
    ].astype(str)
    assert set(merged) <= set(touched) and touched
    estimate = rb.unchanged_map_estimate(prepared, params)
    n_all = fx.window_panel(prepared)["commune_code"].nunique()
    assert estimate is not None and estimate.n_clusters == n_all - len(touched)


def test_multiple_outcomes_match_unweighted_twfe_and_holm(demo):
    params, prepared = demo
    family = rb.multiple_outcomes(prepared, params)
    expected = [f"factor_{f}" for f in ("access", "procedures", "staff", "results", "feedback")]
    assert list(family["outcome"])[:5] == expected and "model_index" in set(family["outcome"])
    assert family.attrs["n_boot"] == min(params.inference.n_boot, rb.MAX_BOOT)
    np.testing.assert_allclose(family["p_holm"], holm(family["p_value"]))
    panel = fx.window_panel(prepared).dropna(subset=list(family["outcome"]))
    for r in family.head(2).itertuples(index=False):
        direct = twfe(panel, r.outcome, "treated", "commune_code", "wave_index")
        assert r.estimate == pytest.approx(direct.estimate, abs=1e-8)
    assert ((family["p_romano_wolf"] > 0) & (family["p_romano_wolf"] <= 1)).all()
    rows = rb.multiple_outcomes_effects(family, 14)
    assert len(rows) == 3 * len(family)


@pytest.fixture(scope="module")
def specifications(demo, study, sensitivity):
    params, prepared = demo
    average = rb.event_average(study, sensitivity, params)
    districts = rb.leave_one_district_out(prepared, params)
    unchanged = rb.unchanged_map_estimate(prepared, params)
    weights = cmp.comparison_weights(prepared, params)
    entries = rb.headline_specifications(prepared, params, average, districts, unchanged, weights)
    return entries, districts


@pytest.mark.parametrize("language", ["vi", "en"])
def test_specification_frame_has_one_row_per_specification(specifications, language):
    entries, districts = specifications
    frame = rb.specification_frame(entries, language)
    assert list(frame.columns) == rb.SPECIFICATION_COLUMNS
    assert len(frame) == len(entries) == 6 + len(districts) + 1
    np.testing.assert_allclose(frame["estimate"], [e.estimate for _, e in entries])
    assert frame["specification"].is_unique
    assert (frame["specification"].str.count("=") == 4).all()
    # Household and commune-wave TWFE give one point estimate (regressors constant in a cell).
    assert frame["estimate"].iloc[0] == pytest.approx(frame["estimate"].iloc[1], abs=1e-10)


@pytest.mark.parametrize("language", ["vi", "en"])
def test_readings_in_both_languages(language, specifications):
    params, prepared = small_demo(language)
    entries, districts = specifications
    study = rb.event_study(prepared, params)
    sensitivity = rb.honest_sensitivity(study, params)
    base = fx.twfe_communes(prepared, params, "satisfaction_index")
    placebo = rb.fake_start_placebo(prepared, params)
    outcomes = rb.placebo_outcomes(prepared, params)
    unchanged = rb.unchanged_map_estimate(prepared, params)
    family = rb.multiple_outcomes(prepared, params)
    spec = rb.specification_frame(entries, language)
    checks = rb.Checks(
        base,
        study,
        sensitivity,
        placebo,
        tuple(outcomes),
        tuple(districts),
        unchanged,
        family,
        spec,
    )
    texts = [
        rb.pretrend_reading(study, language),
        rb.sensitivity_reading(sensitivity, "satisfaction_index", language),
        rb.placebo_reading(placebo, language),
        rb.placebo_outcome_reading(outcomes, language),
        rb.placebo_outcome_reading([], language),
        rb.districts_reading(base, districts, language),
        rb.map_reading(base, unchanged, 2, language),
        rb.functional_form_reading(rb.functional_form(prepared, params), language),
        rb.multiple_reading(family, 0.05, language),
        rb.specification_reading(spec, "satisfaction_index", language),
        rb.final_reading(checks, language),
        rb.finding(checks, language),
    ]
    for text in texts:
        assert text and "{" not in text and "p = <" not in text
    for table in (
        rb.pretrend_table(study, language),
        rb.sensitivity_display(sensitivity, "satisfaction_index", language),
        rb.multiple_outcomes_display(family, language),
        rb.checks_display([("x", base)], language),
    ):
        assert len(table) > 0
    results = rb.page_results(checks)
    assert results["n_specifications"] == len(spec)
    assert results["verdict"] in {"holds", "holds_with_caveats", "fragile"}


def test_event_coefficients_reject_a_gap_in_event_time(study):
    broken = study.__class__(**{**study.__dict__, "terms": study.terms.drop(index="e-2")})
    with pytest.raises(ValueError, match="contiguous"):
        rb.event_coefficients(broken)


def _keys(tree: dict, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for k, v in tree.items():
        out |= _keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
    return out


def test_message_keys_match_in_both_languages():
    vi = _keys(yaml.safe_load((MESSAGES / "vi" / "robustness_page.yaml").read_text("utf-8")))
    en = _keys(yaml.safe_load((MESSAGES / "en" / "robustness_page.yaml").read_text("utf-8")))
    assert vi == en
    for key in ("estimator_twfe", "estimator_dr", "estimator_event", "sample_unchanged_map"):
        assert f"robustness_page.spec.{key}" in vi


def test_placebos_are_judged_by_cr2(demo):
    """Same point estimate as the CRV1 fit; interval and p-value from CR2 on the same rows."""
    from evaluation.inference.cluster_robust import cr2

    params, prepared = demo
    placebo = rb.fake_start_placebo(prepared, params)
    frame = fx.window_panel(prepared)
    frame = frame[frame["wave_index"] < prepared.meta["pilot_wave"]].copy()
    start = placebo.diagnostics["fake_start"]
    frame["fake"] = ((frame["pilot"] > 0) & (frame["wave_index"] >= start)).astype(float)
    direct = cr2(
        frame, "satisfaction_index", "fake", "commune_code", "wave_index", weights="n_ballots"
    )
    assert placebo.estimate == pytest.approx(direct.estimate, rel=1e-9)
    assert placebo.p_value == pytest.approx(direct.p_value, rel=1e-9)
    assert placebo.conf_int == pytest.approx((direct.conf_low, direct.conf_high), rel=1e-9)
    assert placebo.inference.startswith("CR2")
    assert all(e.inference.startswith("CR2") for e in rb.placebo_outcomes(prepared, params))
