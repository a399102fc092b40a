"""The comparison page's library (evaluation.report.comparison) on the small simulated demo."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _demo import small_demo

from evaluation.estimators.balance import balance_table
from evaluation.estimators.propensity import ipw_weights, overlap_trim, propensity_scores
from evaluation.estimators.twfe import twfe
from evaluation.i18n import format_number
from evaluation.report import comparison as cmp
from evaluation.report import effects as fx

MESSAGES = Path(cmp.__file__).resolve().parents[1] / "messages"


@pytest.fixture(scope="module")
def demo():
    return small_demo("vi")


@pytest.fixture(scope="module")
def weights(demo):
    params, prepared = demo
    return cmp.comparison_weights(prepared, params)


def test_balance_equals_the_library_call(demo):
    _, prepared = demo
    base = cmp.baseline_frame(prepared)
    covariates = cmp.characteristics(prepared)
    direct = balance_table(base, "pilot", covariates, cluster="commune_code")
    page = cmp.balance(prepared)
    pd.testing.assert_frame_equal(page, direct)
    assert page.attrs["joint_p_value"] == pytest.approx(direct.attrs["joint_p_value"])
    assert set(covariates) >= {"baseline_index", "urban", "one_stop_staff_per_1000"}
    assert int(page["n_pilot"].max()) == prepared.meta["n_pilot"]


def test_household_balance_is_clustered_by_commune_on_baseline_ballots(demo):
    _, prepared = demo
    page = cmp.household_balance(prepared)
    assert page is not None and list(page["covariate"]) == ["respondent_female"]
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
    assert page["p_value"].iloc[0] == pytest.approx(direct["p_value"].iloc[0], rel=1e-12)
    assert page["n_pilot"].iloc[0] + page["n_comparison"].iloc[0] == len(ballots)


def test_weights_are_att_weights_of_the_trimmed_scores(demo, weights):
    params, prepared = demo
    base = cmp.baseline_frame(prepared).set_index("commune_code")
    fitted = propensity_scores(base, "pilot", cmp.characteristics(prepared))
    keep = overlap_trim(fitted.scores, rule=params.analysis.trim_rule)
    direct = ipw_weights(fitted.scores[keep], fitted.group[keep], "ATT")
    table = weights.set_index("commune_code")
    assert list(weights.columns) == cmp.WEIGHTS_COLUMNS
    np.testing.assert_allclose(table.loc[direct.index, "ipw_weight"], direct, rtol=1e-12)
    assert (table.loc[~table["keep"], "ipw_weight"] == 0).all()
    kept_pilots = table[(table["pilot"] == 1) & table["keep"]]
    assert (kept_pilots["ipw_weight"] == 1).all()
    comparison = table[(table["pilot"] == 0) & table["keep"]]["ipw_weight"]
    assert comparison.sum() == pytest.approx(len(kept_pilots))
    assert weights.attrs["n_dropped"] == int((~table["keep"]).sum())
    assert cmp.trim_settings(params) == ("crump", (0.05, 0.95))


def test_weighting_closes_the_baseline_gaps(demo, weights):
    _, prepared = demo
    before = cmp.balance(prepared)
    after = cmp.balance(prepared, weights)
    assert after["smd"].abs().max() < before["smd"].abs().max()
    assert after.attrs["weighted"] and not before.attrs["weighted"]
    # SMDs share the unweighted pooled SD, so before and after are on one scale.
    assert after["n_comparison"].max() == int(((weights["pilot"] == 0) & weights["keep"]).sum())


def test_ipw_twfe_equals_direct_weighted_twfe(demo, weights):
    params, prepared = demo
    panel = cmp.with_comparison_weights(fx.window_panel(prepared), weights)
    panel = panel[panel["ipw_weight"] > 0].assign(w=lambda f: f["ipw_weight"] * f["n_ballots"])
    direct = twfe(panel, "satisfaction_index", "treated", "commune_code", "wave_index", weights="w")
    page = cmp.ipw_twfe(prepared, params, weights, "satisfaction_index")
    assert page.estimator == "twfe_commune_wave_ipw"
    assert page.estimate == pytest.approx(direct.estimate, abs=1e-12)
    assert page.std_error == pytest.approx(direct.std_error, abs=1e-12)
    assert page.n_clusters == int((weights["ipw_weight"] > 0).sum())
    assert "weights treated as known" in page.tidy()["inference"].iloc[0]


def test_separating_model_falls_back_to_the_smaller_covariate_set(demo):
    params, prepared = demo
    baseline = prepared.baseline.copy()
    # A characteristic that tells pilots apart perfectly: the full logit separates.
    baseline["baseline_ballots"] = np.where(baseline["pilot"].astype(bool), 100.0, 10.0)
    baseline["baseline_ballots"] += np.linspace(0, 1, len(baseline))
    broken = dataclasses.replace(prepared, baseline=baseline)
    with pytest.warns(Warning):
        fitted = cmp.propensity(broken, params)
    assert list(fitted.covariates) == list(params.analysis.baseline_covariates)


def test_with_comparison_weights_rejects_frames_without_commune_codes(weights):
    with pytest.raises(ValueError, match="commune_code"):
        cmp.with_comparison_weights(pd.DataFrame({"x": [1]}), weights)
    with pytest.raises(ValueError, match="ipw_weight"):
        cmp.with_comparison_weights(
            pd.DataFrame({"commune_code": ["1"]}), weights.drop(columns="ipw_weight")
        )


@pytest.mark.parametrize("language", ["vi", "en"])
def test_readings_in_both_languages(language):
    params, prepared = small_demo(language)
    before = cmp.balance(prepared)
    weights = cmp.comparison_weights(prepared, params)
    after = cmp.balance(prepared, weights)
    plain = fx.twfe_communes(prepared, params, "satisfaction_index")
    weighted = cmp.ipw_twfe(prepared, params, weights, "satisfaction_index")
    robust = fx.doubly_robust(prepared, params, "satisfaction_index")[0]
    texts = [
        cmp.verdict(before, language),
        cmp.conventions(before, language),
        cmp.overlap_reading(weights, language),
        cmp.weighting_reading(before, after, weights, language),
        cmp.effect_reading(plain, weighted, robust, language),
        cmp.finding(before, plain, weighted, language),
    ]
    for text in texts:
        assert text and "{" not in text and "p = <" not in text
    worst = before.loc[before["smd"].abs().idxmax()]
    assert format_number(float(worst["smd"]), language, 2) in texts[0]
    shown = cmp.balance_display(before, language)
    assert len(shown) == len(before) and shown.shape[1] == 6
    results = cmp.page_results(before, after, weights, plain, weighted)
    assert results["twfe_commune_wave_ipw"] == weighted.estimate
    assert results["max_abs_smd_weighted"] < results["max_abs_smd"]


def _keys(tree: dict, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for k, v in tree.items():
        out |= _keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
    return out


def test_message_keys_match_in_both_languages():
    vi = _keys(yaml.safe_load((MESSAGES / "vi" / "comparison.yaml").read_text("utf-8")))
    en = _keys(yaml.safe_load((MESSAGES / "en" / "comparison.yaml").read_text("utf-8")))
    assert vi == en
    for name in cmp.BASELINE_CHARACTERISTICS + cmp.HOUSEHOLD_CHARACTERISTICS:
        assert f"comparison.characteristics.{name}" in vi
