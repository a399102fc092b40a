"""The robustness page on the small simulated demo: analysis.robustness and report.robustness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
import yaml
from _demo import small_demo

from evaluation.analysis import robustness as ar
from evaluation.analysis import sample
from evaluation.analysis.base import applies, from_jsonable, to_jsonable
from evaluation.inference.cluster_robust import cr2
from evaluation.inference.honest_did import breakdown_value, sensitivity_rm, sensitivity_sd
from evaluation.inference.multiple_testing import holm
from evaluation.report import robustness as rb

MESSAGES = Path(rb.__file__).resolve().parents[1] / "messages"


@pytest.fixture(scope="module")
def demo():
    return small_demo("vi")


@pytest.fixture(scope="module")
def trends(demo):
    params, prepared = demo
    return ar.pretrends(prepared, params)


@pytest.fixture(scope="module")
def sensitivity(demo, trends):
    params, prepared = demo
    return ar.honest_did(prepared, params, trends)


def test_event_coefficients_come_from_the_event_study(demo, trends):
    params, _ = demo
    assert applies(trends)
    assert (trends.leads, trends.lags) == (params.analysis.event_leads, params.analysis.event_lags)
    assert not trends.narrowed
    es = ar.coefficients(trends)
    study = trends.study
    assert es.num_pre == params.analysis.event_leads - 1  # e-1 is the reference
    assert es.num_pre + es.num_post == len(study.terms)
    np.testing.assert_allclose(es.betahat, study.terms["estimate"], rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(es.sigma)), study.terms["std_error"], rtol=1e-10)
    assert es.theta_hat == pytest.approx(study.terms["estimate"].iloc[es.num_pre :].mean())
    assert trends.p_value == pytest.approx(study.diagnostics["pretrend_p_value"])


def test_sensitivity_equals_the_honest_did_calls(demo, trends, sensitivity):
    params, _ = demo
    es = sensitivity.coefficients
    args = (es.betahat, es.sigma, es.num_pre, es.num_post)
    rm = sensitivity_rm(*args, list(ar.MBAR_GRID), l_vec=es.l_vec, seed=params.inference.seed)
    sd = sensitivity_sd(*args, [m * es.theta_se for m in ar.M_GRID_SE], l_vec=es.l_vec)
    pd.testing.assert_frame_equal(sensitivity.relative_magnitudes, rm)
    pd.testing.assert_frame_equal(sensitivity.smoothness, sd)
    assert sensitivity.breakdown_rm == breakdown_value(
        *args, "relative_magnitudes", l_vec=es.l_vec, seed=params.inference.seed
    )
    rows = ar.sensitivity_effects(trends, sensitivity)
    assert len(rows) == len(ar.MBAR_GRID) + len(ar.M_GRID_SE)
    assert (rows["estimate"] == sensitivity.theta).all()
    assert not rows["size_checked"].any()
    average = sensitivity.average
    assert average.conf_int == pytest.approx(tuple(rm.iloc[0][["conf_low", "conf_high"]]))


def _fake_frame(prepared, start):
    frame = sample.window_panel(prepared)
    frame = frame[frame["wave_index"] < prepared.meta["pilot_wave"]].copy()
    frame["fake"] = ((frame["pilot"] > 0) & (frame["wave_index"] >= start)).astype(float)
    return frame.dropna(subset=["satisfaction_index"])


def test_fake_start_placebo_is_the_design_shifted_and_judged_by_cr2(demo):
    params, prepared = demo
    fake = ar.fake_start(prepared, params)
    assert applies(fake)
    frame = _fake_frame(prepared, fake.fake_start)
    n_pre = frame["wave_index"].nunique()
    assert fake.shift == min(ar.FAKE_SHIFT, n_pre - 1)
    assert fake.estimate.n_obs == len(frame)
    # No effect exists before the pilot in the simulated data: the placebo must not find one.
    assert fake.estimate.p_value > 0.01
    direct = pf.feols(
        "satisfaction_index ~ fake | commune_code + wave_index",
        data=frame,
        weights="n_ballots",
        vcov={"CRV1": "commune_code"},
    )
    assert fake.estimate.estimate == pytest.approx(direct.coef()["fake"], rel=1e-8)
    by_cr2 = cr2(
        frame, "satisfaction_index", "fake", "commune_code", "wave_index", weights="n_ballots"
    )
    assert fake.estimate.p_value == pytest.approx(by_cr2.p_value, rel=1e-9)
    assert fake.estimate.conf_int == pytest.approx((by_cr2.conf_low, by_cr2.conf_high), rel=1e-9)
    assert fake.estimate.inference.startswith("CR2")
    rate = fake.estimate.diagnostics["cr2_size"]
    low, high = params.inference.size_band
    assert ar.is_checked(fake.estimate) == (low <= rate <= high)


def test_placebo_outcome_is_the_female_share_and_does_not_move(demo):
    params, prepared = demo
    found = ar.placebo_outcomes(prepared, params)
    assert [e.outcome for e in found.estimates] == ["respondent_female"]
    assert found.estimates[0].p_value > 0.01
    assert found.estimates[0].n_treated_clusters == prepared.meta["n_pilot"]
    assert all(e.inference.startswith("CR2") for e in found.estimates)


def test_leave_one_district_out_drops_each_district_once(demo):
    params, prepared = demo
    found = ar.leave_one_out(prepared, params)
    panel = sample.window_panel(prepared)
    districts = sorted(panel["district_name"].astype(str).unique())
    assert list(found.dropped) == districts and not found.skipped
    for group, est in zip(found.dropped, found.estimates, strict=True):
        kept = panel[panel["district_name"].astype(str) != group].dropna(
            subset=["satisfaction_index"]
        )
        assert est.n_clusters == kept["commune_code"].nunique()
        direct = pf.feols(
            "satisfaction_index ~ treated | commune_code + wave_index",
            data=kept,
            weights="n_ballots",
        )
        assert est.estimate == pytest.approx(direct.coef()["treated"], rel=1e-8)


def test_map_change_exclusion_drops_merged_units(demo):
    params, prepared = demo
    touched = ar.map_change_communes(prepared)
    merged = prepared.communes.loc[
        prepared.communes["parts"].astype(str).str.contains(","), "commune_code"
    ].astype(str)
    assert set(merged) <= set(touched) and touched
    found = ar.unchanged_map(prepared, params)
    n_all = sample.window_panel(prepared)["commune_code"].nunique()
    assert found.estimate.n_clusters == n_all - len(touched)


def test_multiple_outcomes_match_pyfixest_and_holm(demo):
    params, prepared = demo
    family = ar.multiple_outcomes(prepared, params)
    frame = family.frame
    expected = [f"factor_{f}" for f in ("access", "procedures", "staff", "results", "feedback")]
    assert list(frame["outcome"])[:5] == expected and "model_index" in set(frame["outcome"])
    # n_boot is used as given (no silent cap).
    assert family.n_boot == params.inference.n_boot
    np.testing.assert_allclose(frame["p_holm"], holm(frame["p_value"]))
    panel = sample.window_panel(prepared)
    for r in frame.head(2).itertuples(index=False):
        rows = panel.dropna(subset=[r.outcome])
        direct = pf.feols(
            f"{r.outcome} ~ treated | commune_code + wave_index",
            data=rows,
            vcov={"CRV1": "commune_code"},
            ssc=pf.ssc(k_adj=False, G_adj=True),
        )
        assert r.estimate == pytest.approx(direct.coef()["treated"], rel=1e-8)
        assert r.std_error == pytest.approx(direct.se()["treated"], rel=1e-6)
    assert ((frame["p_romano_wolf"] > 0) & (frame["p_romano_wolf"] <= 1)).all()
    assert (frame["p_romano_wolf"] >= frame["p_value"] - 1e-12).all()
    rows = ar.family_effects(family)
    assert len(rows) == 3 * len(frame) and not rows["size_checked"].any()


@pytest.fixture(scope="module")
def checks(demo, trends, sensitivity):
    params, prepared = demo
    base = ar.base_effect(prepared, params)
    leave_out = ar.leave_one_out(prepared, params)
    unchanged = ar.unchanged_map(prepared, params)
    specs = ar.specifications(prepared, params, base, sensitivity, leave_out, unchanged)
    return ar.Robustness(
        "satisfaction_index",
        params.analysis.alpha,
        base,
        trends,
        sensitivity,
        ar.fake_start(prepared, params),
        ar.placebo_outcomes(prepared, params),
        leave_out,
        unchanged,
        ar.functional_form(prepared, params),
        ar.multiple_outcomes(prepared, params),
        specs,
    )


def test_specifications_have_one_row_per_choice(checks):
    specs = checks.specifications
    frame = specs.frame()
    assert list(frame.columns) == ar.SPECIFICATION_COLUMNS
    n_districts = len(checks.leave_one_out.estimates)
    # households, unit-period weighted, unweighted, doubly robust, event average, districts, map
    assert len(frame) == 5 + n_districts + 1
    assert frame["specification"].is_unique
    # Household and commune-wave TWFE give one point estimate (regressors constant in a cell).
    assert frame["estimate"].iloc[0] == pytest.approx(frame["estimate"].iloc[1], abs=1e-10)
    # Intervals flagged checked only for CR2 fits whose measured size lies in the band.
    for est, flag in zip(specs.estimates, frame["size_checked"], strict=True):
        assert flag == ar.is_checked(est)
        if flag:
            assert est.inference.startswith("CR2")


@pytest.mark.parametrize("language", ["vi", "en"])
def test_readings_in_both_languages(language, checks):
    params, _ = small_demo(language)
    base = checks.base
    texts = [
        rb.intro(base, params, language),
        rb.trust_note(params, language),
        rb.pretrend_reading(checks.pretrends, params, language),
        rb.sensitivity_reading(checks.sensitivity, "satisfaction_index", params, language),
        rb.placebo_reading(checks.fake_start, params, language),
        rb.placebo_outcome_reading(checks.placebo_outcomes, params, language),
        rb.districts_reading(base, checks.leave_one_out, params, language),
        rb.map_reading(base, checks.unchanged_map, params, language),
        rb.functional_form_reading(checks.functional_form, params, language),
        rb.multiple_reading(checks.family, params, language),
        rb.final_reading(checks, params, language),
        rb.finding(checks, params, language),
    ]
    for text in texts:
        assert text and "{" not in text and "p = <" not in text and "nan" not in text
        assert "95%" not in text or params.analysis.alpha == 0.05
    spec = rb.specification_frame(checks.specifications, params, language)
    assert (spec["specification"].str.count("=") == 4).all()
    rows = rb.sample_rows(base, checks.leave_one_out, checks.unchanged_map, params, language)
    table = rb.checks_display(rows, params, language)
    ci = rb.msg("col_ci", params, language)
    for cell, (_, est) in zip(table[ci], rows, strict=True):
        if ar.is_checked(est):
            assert cell == rb.interval_cell(est, params, language) and "–" in cell
        else:
            assert cell == rb.msg("ci_hidden", params, language)
    for frame in (
        rb.pretrend_table(checks.pretrends, params, language),
        rb.sensitivity_display(checks.sensitivity, "satisfaction_index", params, language),
        rb.multiple_outcomes_display(checks.family, params, language),
    ):
        assert len(frame) > 0
    results = ar.results_json(checks)
    assert results["n_specifications"] == len(checks.specifications.frame())
    assert results["verdict"] in {"holds", "holds_with_caveats", "fragile"}
    assert results["breakdown_mbar"] == pytest.approx(checks.sensitivity.breakdown_rm)
    assert set(results["leave_one_district_out"]) == set(checks.leave_one_out.dropped)


def test_alpha_sets_the_interval_label():
    params, _ = small_demo("en")
    other = params.model_copy(
        update={"analysis": params.analysis.model_copy(update={"alpha": 0.1})}
    )
    assert rb.msg("col_ci", other, "en").startswith("90%")
    assert rb.msg("col_ci", params, "en").startswith("95%")


def test_result_round_trips_through_json(checks):
    data = from_jsonable(to_jsonable(checks))
    assert data["__type__"] == "Robustness"
    assert data["base"].estimate == pytest.approx(checks.base.estimate)
    assert data["sensitivity"]["breakdown_rm"] == pytest.approx(checks.sensitivity.breakdown_rm)


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
    for reason in ("robustness_trend_periods", "robustness_strata_none", "robustness_family"):
        assert any(k.startswith(f"requirements.{reason}") for k in vi)
