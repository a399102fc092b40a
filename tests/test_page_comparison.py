"""The comparison page (analysis.comparison + report.comparison) on the small simulated demo."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _demo import small_demo

from evaluation.analysis import applies, sample
from evaluation.analysis import comparison as acmp
from evaluation.estimators.balance import balance_table
from evaluation.estimators.propensity import ipw_weights, overlap_trim, propensity_scores
from evaluation.estimators.twfe import twfe
from evaluation.i18n import format_number
from evaluation.report import comparison as cmp

MESSAGES = Path(cmp.__file__).resolve().parents[1] / "messages"


@pytest.fixture(scope="module")
def demo():
    return small_demo("vi")


@pytest.fixture(scope="module")
def weights(demo):
    params, prepared = demo
    result = acmp.comparison_weights(prepared, params)
    assert applies(result)
    return result


def test_balance_equals_the_library_call(demo):
    params, prepared = demo
    base = acmp.baseline_frame(prepared)
    covariates = acmp.characteristics(prepared, params)
    direct = balance_table(base, "pilot", covariates, cluster="commune_code")
    page = acmp.baseline_balance(prepared, params)
    pd.testing.assert_frame_equal(page.table, direct)
    assert page.joint_p_value == pytest.approx(direct.attrs["joint_p_value"])
    assert set(covariates) >= {"baseline_index", "urban", "one_stop_staff_per_1000"}
    assert page.n_treated == prepared.meta["n_pilot"]
    assert page.spread_defined and not page.weighted


def test_household_balance_is_clustered_by_commune_on_baseline_ballots(demo):
    params, prepared = demo
    page = acmp.household_balance(prepared, params)
    assert applies(page) and page.characteristics == ("respondent_female",)
    ballots = prepared.in_window(prepared.ballots)
    ballots = ballots[ballots["wave_index"] < prepared.meta["pilot_wave"]]
    frame = pd.DataFrame(
        {
            "pilot": ballots["pilot"].astype(bool).astype(int).to_numpy(),
            "commune_code": ballots["commune_code"].astype(str).to_numpy(),
            "female": pd.to_numeric(ballots["respondent_female"]).to_numpy(float),
        }
    )
    direct = balance_table(frame, "pilot", ["female"], cluster="commune_code")
    assert page.table["p_value"].iloc[0] == pytest.approx(direct["p_value"].iloc[0], rel=1e-12)
    assert page.n_treated + page.n_comparison == len(ballots)
    assert page.level == "ballot"


def test_weights_are_att_weights_of_the_trimmed_scores(demo, weights):
    params, prepared = demo
    base = acmp.baseline_frame(prepared).set_index("commune_code")
    fitted = propensity_scores(base, "pilot", acmp.characteristics(prepared, params))
    keep = overlap_trim(fitted.scores, rule=params.analysis.trim_rule)
    direct = ipw_weights(fitted.scores[keep], fitted.group[keep], "ATT")
    table = weights.table.set_index("commune_code")
    assert list(weights.table.columns) == acmp.WEIGHTS_COLUMNS
    np.testing.assert_allclose(table.loc[direct.index, "ipw_weight"], direct, rtol=1e-12)
    assert (table.loc[~table["keep"], "ipw_weight"] == 0).all()
    kept_pilots = table[(table["pilot"] == 1) & table["keep"]]
    assert (kept_pilots["ipw_weight"] == 1).all()
    comparison = table[(table["pilot"] == 0) & table["keep"]]["ipw_weight"]
    assert comparison.sum() == pytest.approx(len(kept_pilots))
    assert weights.n_dropped == int((~table["keep"]).sum())
    assert weights.effective_comparison == pytest.approx(
        comparison.sum() ** 2 / (comparison**2).sum()
    )
    assert acmp.trim_settings(params) == ("crump", (0.05, 0.95))
    assert not weights.fallback


def test_weighting_closes_the_baseline_gaps(demo, weights):
    params, prepared = demo
    before = acmp.baseline_balance(prepared, params)
    after = acmp.weighted_balance(prepared, params, weights)
    assert after.table["smd"].abs().max() < before.table["smd"].abs().max()
    assert after.weighted and not before.weighted
    kept = int(((weights.table["pilot"] == 0) & weights.table["keep"]).sum())
    assert after.table["n_comparison"].max() == kept


def test_ipw_twfe_equals_direct_weighted_twfe(demo, weights):
    params, prepared = demo
    panel = acmp.with_comparison_weights(sample.window_panel(prepared), weights.table)
    panel = panel[panel["ipw_weight"] > 0].assign(w=lambda f: f["ipw_weight"] * f["n_ballots"])
    direct = twfe(panel, "satisfaction_index", "treated", "commune_code", "wave_index", weights="w")
    page = acmp.ipw_twfe(prepared, params, weights.table, "satisfaction_index")
    assert page.estimator == "twfe_commune_wave_ipw"
    assert page.estimate == pytest.approx(direct.estimate, abs=1e-12)
    assert page.std_error == pytest.approx(direct.std_error, abs=1e-12)
    assert page.n_clusters == int((weights.table["ipw_weight"] > 0).sum())
    assert "weights treated as known" in page.tidy()["inference"].iloc[0]


def test_separating_model_falls_back_to_the_usable_covariates(demo):
    params, prepared = demo
    baseline = prepared.baseline.copy()
    # A characteristic that tells pilots apart perfectly: the full logit separates.
    baseline["baseline_ballots"] = np.where(baseline["pilot"].astype(bool), 100.0, 10.0)
    baseline["baseline_ballots"] += np.linspace(0, 1, len(baseline))
    broken = dataclasses.replace(prepared, baseline=baseline)
    import warnings

    # The fallback is said on the page in words; no warning may print onto it.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted, fallback = acmp.propensity(broken, params)
    assert [str(w.message) for w in caught] == []
    assert fallback
    assert list(fitted.covariates) == sample.covariates(broken, params)
    assert list(fitted.covariates) == list(params.analysis.baseline_covariates)


def test_with_comparison_weights_rejects_frames_without_commune_codes(weights):
    with pytest.raises(ValueError, match="commune_code"):
        acmp.with_comparison_weights(pd.DataFrame({"x": [1]}), weights.table)
    with pytest.raises(ValueError, match="ipw_weight"):
        acmp.with_comparison_weights(
            pd.DataFrame({"commune_code": ["1"]}), weights.table.drop(columns="ipw_weight")
        )


@pytest.mark.parametrize("language", ["vi", "en"])
def test_readings_in_both_languages(language):
    params, prepared = small_demo(language)
    before = acmp.baseline_balance(prepared, params)
    weights = acmp.comparison_weights(prepared, params)
    after = acmp.weighted_balance(prepared, params, weights)
    effects = acmp.effect_comparison(prepared, params, weights, "satisfaction_index")
    summary = acmp.ComparisonSummary(
        before,
        acmp.baseline_levels(prepared, params),
        acmp.household_balance(prepared, params),
        weights,
        after,
        effects,
    )
    texts = [
        cmp.verdict(before, params, language),
        cmp.conventions(before, params, language),
        cmp.overlap_reading(weights, params, language),
        cmp.weighting_reading(before, after, weights, params, language),
        cmp.effect_intro(effects, params, language),
        cmp.effect_reading(effects, params, language),
        cmp.finding(summary, params, language),
    ]
    for text in texts:
        assert text and "{" not in text and "p = <" not in text and "nan" not in text
    worst = before.table.loc[before.table["smd"].abs().idxmax()]
    assert format_number(float(worst["smd"]), language, 2) in texts[0]
    assert str(prepared.meta["n_pilot"]) in texts[0]
    shown = cmp.balance_display(before, params, language)
    assert len(shown) == len(before.table) and shown.shape[1] == 6
    table = cmp.effects_display(effects, params, language)
    assert (
        len(table) == 3
        and not table.astype(str).apply(lambda c: c.str.contains("CI|%")).any().any()
    )
    results = cmp.page_results(summary)
    assert results["twfe_commune_wave_ipw"] == effects.weighted.estimate
    assert results["max_abs_smd_weighted"] < results["max_abs_smd"]
    assert results["not_applicable"] == {}
    assert not cmp.effects_rows(effects)["size_checked"].any()


def test_summary_survives_a_round_trip_through_json(demo, weights, tmp_path):
    from evaluation.analysis import load_result, save_result

    params, prepared = demo
    before = acmp.baseline_balance(prepared, params)
    summary = acmp.ComparisonSummary(
        before,
        acmp.baseline_levels(prepared, params),
        acmp.household_balance(prepared, params),
        weights,
        acmp.weighted_balance(prepared, params, weights),
        acmp.effect_comparison(prepared, params, weights, "satisfaction_index"),
    )
    save_result(summary, tmp_path, "comparison")
    back = load_result(tmp_path, "comparison")
    assert back["balance"]["joint_p_value"] == pytest.approx(before.joint_p_value)
    np.testing.assert_allclose(
        back["balance"]["table"]["smd"].to_numpy(float), before.table["smd"].to_numpy(float)
    )


def _keys(tree: dict, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for k, v in tree.items():
        out |= _keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
    return out


def test_message_keys_match_in_both_languages():
    vi = _keys(yaml.safe_load((MESSAGES / "vi" / "comparison.yaml").read_text("utf-8")))
    en = _keys(yaml.safe_load((MESSAGES / "en" / "comparison.yaml").read_text("utf-8")))
    assert vi == en
    for name in acmp.BASELINE_CHARACTERISTICS + acmp.HOUSEHOLD_CHARACTERISTICS:
        assert f"comparison.characteristics.{name}" in vi
