"""The effects page (analysis.effects / how_sure and report.effects) on the small simulated demo."""

from __future__ import annotations

import json

import pytest
from _demo import small_demo

from evaluation.analysis import effects as ef
from evaluation.analysis import how_sure as hs
from evaluation.analysis import sample
from evaluation.estimators.twfe import twfe
from evaluation.i18n import format_p_value
from evaluation.report import effects as fx
from evaluation.report import few_cluster as fc


@pytest.fixture(scope="module")
def demo():
    return small_demo("vi")


def test_never_treated_communes_stay_in_the_comparison(demo):
    # Regression: Arrow-backed NA in `wave >= first_treated` once dropped never-adopting communes.
    params, prepared = demo
    ballots = sample.window_ballots(prepared)
    assert ballots["treated"].notna().all()
    never = prepared.communes.loc[prepared.communes["first_treated_wave"].isna(), "commune_code"]
    assert len(never) > 0
    estimate = ef.twfe_ballots(prepared, params, "satisfaction_index")
    assert estimate.n_clusters == ballots["commune_code"].nunique()
    assert estimate.n_obs == len(ballots)
    assert estimate.n_treated_clusters == prepared.meta["n_pilot"]


def test_window_has_only_pilots_treated(demo):
    _, prepared = demo
    panel = sample.window_panel(prepared)
    treated_communes = set(panel.loc[panel["treated"] > 0, "commune_code"])
    pilots = set(prepared.communes.loc[prepared.communes["pilot"], "commune_code"])
    assert treated_communes == pilots
    assert (
        panel["wave_index"].max()
        < prepared.communes["first_treated_wave"]
        .dropna()
        .loc[lambda s: s > prepared.meta["pilot_wave"]]
        .min()
    )


def test_headline_recovers_the_simulated_truth(demo):
    params, prepared = demo
    truth_file = next(p for p in params.data.ballots.parent.glob("true_parameters.json"))
    truth = json.loads(truth_file.read_text())["att_index_pilot_window_ballots"]
    estimate = ef.twfe_ballots(prepared, params, "satisfaction_index")
    assert abs(estimate.estimate - truth) < 3 * estimate.std_error


def test_commune_level_equals_direct_library_call(demo):
    params, prepared = demo
    panel = sample.window_panel(prepared)
    direct = twfe(
        panel,
        "pct_satisfied",
        "treated",
        "commune_code",
        "wave_index",
        cluster="commune_code",
        weights="n_ballots",
    )
    page = ef.twfe_communes(prepared, params, "pct_satisfied")
    assert page.estimate == pytest.approx(direct.estimate, abs=1e-12)
    assert page.std_error == pytest.approx(direct.std_error, abs=1e-12)


@pytest.fixture(scope="module")
def few_cluster(demo):
    params, prepared = demo
    headline = ef.headline(prepared, params)
    return headline, hs.how_sure(prepared, params, headline)


def test_every_method_sits_beside_the_headline(few_cluster):
    headline, check = few_cluster
    estimate, comparison = headline.estimate, check.comparison
    rows = check.effect_rows(estimate)
    assert set(comparison["method"]) >= {
        "crv1",
        "cr2_bm",
        "cv3",
        "wcr_rademacher",
        "wcr_webb",
        "ri",
    }
    assert (
        rows["inference"].iloc[0]
        == comparison.set_index("method").loc[check.verdict.method, "label"]
    )
    crv1 = comparison.set_index("method").loc["crv1"]
    assert crv1["estimate"] == pytest.approx(estimate.estimate, abs=1e-10)
    assert crv1["std_error"] == pytest.approx(estimate.std_error, rel=1e-8)
    inside = (comparison["conf_low"] < comparison["estimate"]) & (
        comparison["estimate"] < comparison["conf_high"]
    )
    assert inside.all()


def test_board_method_passed_the_size_check_or_is_flagged(few_cluster, demo):
    params, _ = demo
    _, check = few_cluster
    sizes, verdict = check.sizes, check.verdict
    assert set(sizes["null_design"]) == {"placebo", "effect_removed"}
    assert (sizes["n_sims"] == params.inference.size_sims).all()
    if verdict.passed_methods:
        assert verdict.method in verdict.passed_methods
        low, high = params.inference.size_band
        chosen = sizes[sizes["method"] == verdict.method]["rejection_rate"]
        assert chosen.between(low, high).all()
        assert check.trusted.shows_interval == check.trusted.size_checked
    else:
        assert not check.trusted.shows_interval
        assert check.trusted.withheld_reason == hs.WITHHELD_NONE_PASSED


@pytest.mark.parametrize("language", ["vi", "en"])
def test_headline_sentence_and_labels(demo, few_cluster, language):
    params, prepared = demo
    headline, check = few_cluster
    sentence = fx.headline_summary(headline, check.trusted, params, language)["sentence"]
    assert str(prepared.meta["n_pilot"]) in sentence
    assert fx.method_name(check.trusted.method, language) in sentence
    decimal = "," if language == "vi" else "."
    assert f"0{decimal}" in sentence
    assert "95" not in sentence or check.trusted.shows_interval
    heading = fc.heading(check, params, language)
    assert str(check.n_treated_clusters) in heading


def test_level_follows_alpha(demo, few_cluster):
    params, _ = demo
    headline, check = few_cluster
    params90 = params.model_copy(
        update={"analysis": params.analysis.model_copy(update={"alpha": 0.1})}
    )
    table = fc.comparison_display(check, params90, "en")
    assert "90% confidence interval" in table.columns
    assert fx.ci_heading(0.1, "en") == "90% confidence interval"


def test_p_value_format():
    assert format_p_value(0.0, "vi") == "<\u00a00,001"
    assert format_p_value(0.0123, "en") == "0.012"


def test_did_table_layout_has_pilot_comparison_and_did(demo):
    params, prepared = demo
    headline = ef.headline(prepared, params)
    table = ef.did_table(prepared, params, headline.design)
    shown = fx.did_table_display(table, "satisfaction_index", "en", params)
    assert len(shown) == 3
    assert shown.iloc[-1, 0] == "Difference (effect, DiD)"


def test_effects_are_written_in_the_outcome_unit():
    assert fx.format_effect("satisfaction_index", 0.436, "vi") == "0,44\u00a0điểm"
    assert fx.format_effect("factor_staff", 0.4, "en") == "0.40\u00a0points"
    assert fx.format_effect("pct_satisfied", 0.159, "vi") == "15,9\u00a0điểm\u00a0%"
    assert fx.format_effect("complaints_per_1000", -0.5, "vi") == "−0,50\u00a0phản ánh/1.000 hộ"
    assert fx.format_effect("apology_per_100_dossiers", 5.16, "en") == "5.16\u00a0per 100 dossiers"
    assert fx.format_effect("sales", 1234.5, "en") == "1,234.50"  # a generic panel's outcome
