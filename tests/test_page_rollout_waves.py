"""The rollout-waves page's library (evaluation.report.rollout_waves) on the small simulated demo."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo

from evaluation.estimators.staggered import aggregate, group_time_att
from evaluation.estimators.sun_abraham import sun_abraham
from evaluation.i18n import messages, t
from evaluation.report import rollout_waves as rw

LANGUAGES = ("vi", "en")


@pytest.fixture(scope="module")
def demo():
    params, prepared = small_demo("vi")
    design = rw.rollout_design(prepared, params)
    cs = rw.callaway_santanna(prepared, params, design)
    return params, prepared, design, cs


@pytest.fixture(scope="module")
def aggs(demo):
    params, _, _, cs = demo
    return rw.aggregations(cs, params)


def _with_panel(prepared, panel):
    return dataclasses.replace(prepared, panel=panel)


def test_design_counts_every_cohort_and_the_never_adopters(demo):
    params, prepared, design, _ = demo
    units = prepared.panel.groupby("commune_code")["first_treated_wave"].first()
    assert design.outcome == params.analysis.headline_outcome
    assert design.weights == "n_ballots"
    assert design.cohorts[0] == prepared.meta["pilot_wave"]
    assert design.units_by_cohort[0] == prepared.meta["n_pilot"]
    assert len(design.cohorts) == units.dropna().nunique() >= 2
    assert design.n_never == units.isna().sum() > 0
    assert design.n_units + design.n_excluded == len(units)
    assert set(design.covariates) <= set(params.analysis.baseline_covariates)
    panel = rw.staggered_panel(prepared, params)
    assert set(panel["adopted"].unique()) <= {0.0, 1.0}
    # Never-adopting communes stay in, as controls (never NaN treatment).
    assert panel.loc[panel["first_treated_wave"].isna(), "adopted"].eq(0).all()
    assert (panel["adopted"] == (panel["wave_index"] >= panel["first_treated_wave"])).all()


def test_mixed_pilot_communes_are_left_out(demo):
    params, prepared, _, _ = demo
    panel = prepared.panel.copy()
    code = panel["commune_code"].iloc[0]
    panel["drop_mixed"] = panel["commune_code"] == code
    shared = panel["commune_code"] == panel["commune_code"].unique()[1]
    panel.loc[shared, "pilot_share"] = 0.5
    changed = _with_panel(prepared, panel)
    design = rw.rollout_design(changed, params)
    assert design.n_excluded == 2
    kept = set(rw.staggered_panel(changed, params)["commune_code"])
    assert code not in kept and panel.loc[shared, "commune_code"].iloc[0] not in kept


def test_bacon_reproduces_the_plain_twfe_number(demo):
    params, prepared, design, _ = demo
    decomposition = rw.bacon(prepared, params, design)
    plain = rw.plain_twfe(prepared, params, design)
    assert decomposition.comparisons["weight"].sum() == pytest.approx(1.0, abs=1e-10)
    assert decomposition.weighted_sum == pytest.approx(plain.estimate, abs=1e-10)
    assert plain.estimator == "twfe_all_waves"
    assert plain.n_clusters == design.n_units
    # Staggered timing: some weight falls on comparisons with already-adopted communes.
    assert "later_vs_earlier" in decomposition.by_type.index
    for language in LANGUAGES:
        table = rw.bacon_table(decomposition, language)
        assert len(table) == len(decomposition.by_type)
        text = rw.bacon_reading(decomposition, plain, None, language)
        share = 100 * decomposition.by_type.loc["later_vs_earlier", "weight"]
        assert f"{share:.0f}%" in text


def test_callaway_santanna_equals_the_direct_library_call(demo, aggs):
    params, prepared, design, cs = demo
    frame = rw.staggered_panel(prepared, params)
    direct = group_time_att(
        frame,
        design.outcome,
        "commune_code",
        "wave_index",
        "first_treated_wave",
        covariates=cs.covariates,
        weights="n_ballots",
        control_group="not_yet_treated",
        method="dr",
        base_period="universal",
        cluster="cluster_id",
        alpha=params.analysis.alpha,
    )
    pd.testing.assert_frame_equal(direct.att_gt, cs.result.att_gt)
    simple = aggregate(direct, "simple")
    assert aggs["simple"].estimate == pytest.approx(simple.estimate, abs=1e-12)
    assert aggs["simple"].std_error == pytest.approx(simple.std_error, abs=1e-12)
    assert cs.covariates == design.covariates and not cs.fell_back


def test_aggregations_have_the_expected_terms(demo, aggs):
    params, _, design, cs = demo
    assert [e.estimator for e in aggs.values()] == [
        "cs_simple",
        "cs_dynamic",
        "cs_group",
        "cs_calendar",
    ]
    leads, lags = params.analysis.event_leads, params.analysis.event_lags
    dynamic = aggs["dynamic"]
    assert list(dynamic.terms.index) == ["ATT"] + [f"e{e:+d}" for e in range(-leads, lags + 1)]
    assert (dynamic.terms["inference"].iloc[1:].str.contains("uniform band")).all()
    assert f"seed={params.inference.seed}" in dynamic.inference
    # Uniform band at least as wide as the pointwise normal interval.
    post = dynamic.terms.loc[["e+0", "e+1"]]
    assert ((post["conf_high"] - post["conf_low"]) >= 2 * 1.959 * post["std_error"]).all()
    again = rw.aggregations(cs, params)["dynamic"]
    pd.testing.assert_frame_equal(again.terms, dynamic.terms)
    assert list(aggs["group"].terms.index[1:]) == [f"g={g}" for g in design.cohorts]
    tidy = pd.concat([e.tidy() for e in aggs.values()], ignore_index=True)
    assert not tidy.duplicated(["estimator", "term"]).any()


def test_sun_abraham_equals_the_direct_library_call(demo):
    params, prepared, design, _ = demo
    page = rw.sun_abraham_estimate(prepared, params, design)
    direct = sun_abraham(
        rw.staggered_panel(prepared, params),
        design.outcome,
        "commune_code",
        "wave_index",
        "first_treated_wave",
        cluster="cluster_id",
        weights="n_ballots",
        leads=params.analysis.event_leads,
        lags=params.analysis.event_lags,
    )
    pd.testing.assert_frame_equal(page.terms, direct.terms)


def test_equal_exposure_averages_the_first_waves_of_each_cohort(demo, aggs):
    _, _, design, cs = demo
    exposure = rw.equal_exposure(cs)
    k = int(exposure.diagnostics["max_event_time"])
    cells = cs.result.att_gt
    assert k == min(design.last_period - g for g in design.cohorts)
    for g in design.cohorts:
        rows = cells[(cells["group"] == g) & cells["event_time"].between(0, k)]
        assert exposure.terms.loc[f"g={g}", "estimate"] == pytest.approx(rows["estimate"].mean())
    # The last cohort is seen only k waves after adopting: both averages coincide for it.
    last = f"g={design.cohorts[-1]}"
    assert exposure.terms.loc[last, "estimate"] == pytest.approx(
        aggs["group"].terms.loc[last, "estimate"]
    )
    assert exposure.estimator == "cs_group_equal_exposure"


@pytest.mark.parametrize("language", LANGUAGES)
def test_tables_and_readings_in_both_languages(demo, aggs, language):
    params, prepared, design, cs = demo
    exposure = rw.equal_exposure(cs)
    sun_ab = rw.sun_abraham_estimate(prepared, params, design)
    table = rw.cohort_table(aggs["group"], exposure, design, language)
    assert len(table) == design.n_cohorts
    assert table.iloc[0, 0].endswith(f"({t('rollout_page.pilot', language)})")
    events = rw.event_time_table(aggs["dynamic"], sun_ab, design, language)
    assert len(events) == params.analysis.event_leads + params.analysis.event_lags + 1
    summary = rw.aggregations_table([*aggs.values(), sun_ab], params.analysis.event_lags, language)
    assert len(summary) == 5
    assert (
        len(rw.terms_table(aggs["calendar"], design, language)) == len(aggs["calendar"].terms) - 1
    )
    reading = rw.cohort_reading(exposure, design, language)
    pilot = exposure.terms.loc[f"g={design.cohorts[0]}", "estimate"]
    assert rw.format_effect(design.outcome, pilot, language) in reading
    for text in (
        reading,
        rw.design_reading(design, language),
        rw.method_reading(cs, design, language),
        rw.dynamic_reading(aggs["dynamic"], sun_ab, language),
        rw.rollout_summary(design, aggs["simple"], exposure, language),
    ):
        assert text and "{" not in text


def test_results_are_json_serialisable(demo, aggs):
    _, _, design, cs = demo
    values = rw.rollout_results(design, aggs, rw.equal_exposure(cs))
    back = json.loads(json.dumps(values))
    assert back["cs_simple"] == pytest.approx(aggs["simple"].estimate)
    assert back["verdict"] in {"as_much", "less", "none", "pilot_none"}


def test_household_check_uses_every_ballot(demo):
    params, prepared, design, cs = demo
    assert rw.household_available(prepared, design) is None
    household = rw.household_check(prepared, params, design, cs)
    assert household.estimator == "cs_simple_household"
    assert household.n_clusters == design.n_units
    assert household.n_obs == len(prepared.ballots.dropna(subset=[design.outcome]))
    assert np.isfinite(household.estimate)


def test_one_adoption_wave_says_so_and_estimates_what_it_can(demo):
    params, prepared, _, _ = demo
    panel = prepared.panel.copy()
    pilot_wave = prepared.meta["pilot_wave"]
    panel.loc[panel["first_treated_wave"] > pilot_wave, "first_treated_wave"] = np.nan
    single = _with_panel(prepared, panel)
    design = rw.rollout_design(single, params)
    assert design.cohorts == (pilot_wave,) and design.estimable and not design.has_later_waves
    decomposition = rw.bacon(single, params, design)
    assert list(decomposition.by_type.index) == ["treated_vs_never"]
    cs = rw.callaway_santanna(single, params, design)
    aggs = rw.aggregations(cs, params)
    assert list(aggs["group"].terms.index) == ["ATT", f"g={pilot_wave}"]
    for language in LANGUAGES:
        assert t("rollout_page.single_cohort", language) in rw.design_reading(design, language)
        assert rw.cohort_reading(rw.equal_exposure(cs), design, language) == t(
            "rollout_page.cohorts_single", language
        )


def test_no_comparison_group_is_not_estimable(demo):
    params, prepared, _, _ = demo
    panel = prepared.panel.assign(first_treated_wave=float(prepared.meta["pilot_wave"]))
    design = rw.rollout_design(_with_panel(prepared, panel), params)
    assert not design.estimable
    for language in LANGUAGES:
        assert t("rollout_page.not_estimable", language) in rw.design_reading(design, language)


def test_pretrend_check_counts_bands_that_exclude_zero(demo, aggs):
    dynamic = aggs["dynamic"]
    check = rw.pretrend_check(dynamic)
    pre = [n for n in dynamic.terms.index if n.startswith("e-") and n != "e-1"]
    assert check["n"] == len(pre)
    shifted = dataclasses.replace(
        dynamic, terms=dynamic.terms.assign(conf_low=dynamic.terms["conf_low"] + 10)
    )
    assert rw.pretrend_check(shifted)["outside"] == len(pre)


def test_generic_panel_periods_and_outcome(demo):
    params, prepared, design, _ = demo
    generic = dataclasses.replace(design, source="panel")
    assert rw.period_label(2014, generic) == "2014"
    assert rw.period_label(199, design) == "2019Q4"  # data label
    assert rw.period_label(199, design, "vi") == "Q4/2019"  # what a Vietnamese reader sees
    assert rw.period_label(199, design, "en") == "2019Q4"
    assert rw.period_label(2014, generic, "vi") == "2014"
    assert rw.term_label("g=199", design) == "2019Q4"
    assert rw.term_label("e-2", design) == "−2"
    meta = {**prepared.meta, "source": "panel", "outcomes": ["pct_satisfied", "coverage"]}
    assert rw.headline_outcome(dataclasses.replace(prepared, meta=meta), params) == "pct_satisfied"


def test_every_message_key_exists_in_both_languages():
    keys = {
        lang: {k for k in messages(lang) if k.startswith("rollout_page.")} for lang in LANGUAGES
    }
    assert keys["vi"] == keys["en"]
    source = Path(rw.__file__).read_text(encoding="utf-8")
    notebook = (Path(__file__).parents[1] / "notebooks" / "07_rollout_waves.ipynb").read_text(
        encoding="utf-8"
    )
    used = set(re.findall(r"rollout_page\.[a-z_.]+[a-z_]", source + notebook))
    used |= {f"rollout_page.cohorts_{v}" for v in ("as_much", "less", "none", "pilot_none")}
    used |= {
        f"rollout_page.estimators.{e}"
        for e in (
            "cs_simple",
            "cs_dynamic",
            "cs_group",
            "cs_calendar",
            "cs_group_equal_exposure",
            "sun_abraham",
            "twfe_all_waves",
            "cs_simple_household",
        )
    }
    used -= {
        "rollout_page.cohorts_",
        "rollout_page.estimators",
        "rollout_page.col_",
        "rollout_page.covariate_names",
    }
    used = {u for u in used if not u.endswith(".")}
    missing = {lang: sorted(used - keys[lang]) for lang in LANGUAGES}
    assert missing == {"vi": [], "en": []}
    # Vietnamese wording carries its diacritics.
    assert "Tóm lại" in messages("vi")["rollout_page.reading_heading"]
