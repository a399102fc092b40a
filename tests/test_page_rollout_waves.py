"""Page 07 (rollout waves): analyses of evaluation.analysis.rollout and the page's wording
(evaluation.report.rollout_waves) on the small simulated demo."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo

from evaluation.analysis import NotApplicable, rollout
from evaluation.analysis.base import load_result, save_result
from evaluation.estimators.staggered import aggregate, group_time_att
from evaluation.estimators.sun_abraham import sun_abraham
from evaluation.i18n import messages, t
from evaluation.report import rollout_waves as rw

LANGUAGES = ("vi", "en")


@pytest.fixture(scope="module")
def demo():
    params, prepared = small_demo("vi")
    effects = rollout.rollout_effects(prepared, params)
    return params, prepared, effects.design, effects


def _with_panel(prepared, panel):
    return dataclasses.replace(prepared, panel=panel)


def test_design_counts_every_cohort_and_the_never_adopters(demo):
    params, prepared, design, _ = demo
    units = prepared.panel.groupby("commune_code")["first_treated_wave"].first()
    assert design.outcome == params.analysis.headline_outcome
    assert design.weights == "n_ballots"
    assert design.weight_label_key == "sample.weights.ballots_returned"
    assert design.cohorts[0] == prepared.meta["pilot_wave"]
    assert design.units_by_cohort[0] == prepared.meta["n_pilot"]
    assert len(design.cohorts) == units.dropna().nunique() >= 2
    assert design.n_never == units.isna().sum() > 0
    assert design.n_units + design.n_excluded == len(units)
    assert set(design.covariates) <= set(params.analysis.baseline_covariates)
    assert (design.control_group, design.base_period, design.method) == (
        "not_yet_treated",
        "universal",
        "dr",
    )
    panel = rollout.staggered_panel(prepared, params)
    assert set(panel["adopted"].unique()) <= {0.0, 1.0}
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
    design = rollout.rollout_design(changed, params)
    assert design.n_excluded == 2
    kept = set(rollout.staggered_panel(changed, params)["commune_code"])
    assert code not in kept and panel.loc[shared, "commune_code"].iloc[0] not in kept


def test_bacon_reproduces_the_plain_twfe_number(demo):
    params, prepared, design, effects = demo
    bacon = rollout.twfe_decomposition(prepared, params)
    assert bacon.comparisons["weight"].sum() == pytest.approx(1.0, abs=1e-10)
    weighted = float(np.sum(bacon.comparisons["weight"] * bacon.comparisons["estimate"]))
    assert weighted == pytest.approx(bacon.plain.estimate, abs=1e-10)
    assert bacon.twfe_estimate == pytest.approx(bacon.plain.estimate, abs=1e-10)
    assert bacon.plain.estimator == "twfe_all_waves"
    assert bacon.plain.n_clusters == design.n_units
    assert "later_vs_earlier" in set(bacon.by_type["type"])
    for language in LANGUAGES:
        table = rw.bacon_table(bacon, params, language)
        assert len(table) == len(bacon.by_type)
        text = rw.bacon_reading(bacon, effects, params, language)
        share = 100 * bacon.by_type.set_index("type").loc["later_vs_earlier", "weight"]
        assert f"{share:.0f}%" in text.replace(",", ".")
        # The plain regression's interval was not size-checked: never printed.
        assert "{low}" not in messages(language)["rollout_page.twfe_number"]


def test_callaway_santanna_equals_the_direct_library_call(demo):
    params, prepared, design, effects = demo
    frame = rollout.staggered_panel(prepared, params)
    direct = group_time_att(
        frame,
        design.outcome,
        "commune_code",
        "wave_index",
        "first_treated_wave",
        covariates=effects.covariates,
        weights="n_ballots",
        control_group="not_yet_treated",
        method="dr",
        base_period="universal",
        cluster="cluster_id",
        alpha=params.analysis.alpha,
    )
    pd.testing.assert_frame_equal(direct.att_gt, effects.att_gt)
    simple = aggregate(direct, "simple")
    assert effects.simple.estimate == pytest.approx(simple.estimate, abs=1e-12)
    assert effects.simple.std_error == pytest.approx(simple.std_error, abs=1e-12)
    assert effects.covariates == design.covariates and not effects.fell_back


def test_aggregations_have_the_expected_terms(demo):
    params, _, design, effects = demo
    aggs = effects.aggregations()
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
    post = dynamic.terms.loc[["e+0", "e+1"]]
    assert ((post["conf_high"] - post["conf_low"]) >= 2 * 1.959 * post["std_error"]).all()
    assert list(aggs["group"].terms.index[1:]) == [f"g={g}" for g in design.cohorts]
    rows = effects.effects_rows()
    assert not rows.duplicated(["estimator", "term"]).any()
    checked = (rows["estimator"].str.startswith("cs_") & effects.size.passed) | (
        (rows["estimator"] == "sun_abraham") & effects.sa_intervals_shown
    )
    assert (rows["size_checked"] == checked).all()


def test_sun_abraham_equals_the_direct_library_call(demo):
    params, prepared, design, effects = demo
    direct = sun_abraham(
        rollout.staggered_panel(prepared, params),
        design.outcome,
        "commune_code",
        "wave_index",
        "first_treated_wave",
        cluster="cluster_id",
        weights="n_ballots",
        leads=params.analysis.event_leads,
        lags=params.analysis.event_lags,
    )
    pd.testing.assert_frame_equal(effects.sun_abraham.terms, direct.terms)


def test_equal_exposure_averages_the_first_waves_of_each_cohort(demo):
    params, prepared, design, effects = demo
    exposure = effects.exposure
    k = int(exposure.diagnostics["max_event_time"])
    cells = effects.att_gt
    assert k == min(design.last_period - g for g in design.cohorts)
    for g in design.cohorts:
        rows = cells[(cells["group"] == g) & cells["event_time"].between(0, k)]
        assert exposure.terms.loc[f"g={g}", "estimate"] == pytest.approx(rows["estimate"].mean())
    last = f"g={design.cohorts[-1]}"
    assert exposure.terms.loc[last, "estimate"] == pytest.approx(
        effects.group.terms.loc[last, "estimate"]
    )
    cohorts = rollout.cohort_comparison(prepared, params, effects)
    sizes = np.array(design.units_by_cohort[1:], float)
    later = exposure.terms.loc[[f"g={g}" for g in design.cohorts[1:]], "estimate"].to_numpy()
    assert cohorts.later == pytest.approx(np.sum(sizes * later) / sizes.sum())
    assert cohorts.pilot == pytest.approx(exposure.terms.loc[f"g={design.cohorts[0]}", "estimate"])
    assert cohorts.waves == k + 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_tables_and_readings_in_both_languages(demo, language):
    params, prepared, design, effects = demo
    cohorts = rollout.cohort_comparison(prepared, params, effects)
    table = rw.cohort_table(effects, params, language)
    assert len(table) == design.n_cohorts
    assert table.iloc[0, 0].endswith(f"({t('rollout_page.pilot', language)})")
    events = rw.event_time_table(effects, params, language)
    assert len(events) == params.analysis.event_leads + params.analysis.event_lags + 1
    summary = rw.aggregations_table(effects, None, params, language)
    assert len(summary) == 6  # five Callaway-Sant'Anna / Sun-Abraham rows and the imputation row
    assert (
        len(rw.terms_table(effects.calendar, effects, params, language))
        == len(effects.calendar.terms) - 1
    )
    reading = rw.cohort_reading(cohorts, effects, params, language)
    assert rw.format_effect(design.outcome, cohorts.pilot, language) in reading
    page = rollout.RolloutPage(
        design, NotApplicable("x", "y"), effects, cohorts, NotApplicable("x", "y")
    )
    for text in (
        reading,
        rw.design_reading(design, params, language),
        rw.method_reading(effects, params, language),
        rw.size_reading(effects, params, language),
        rw.dynamic_reading(effects, params, language),
        rw.rollout_summary(page, params, language),
    ):
        assert text and "{" not in text and "nan" not in text.lower()
    # Withheld intervals: no interval column and no p-values in the tables.
    if not effects.size.passed:
        # Sun-Abraham's row (after the Callaway-Sant'Anna rows) has its own size check.
        sa_row = len(effects.aggregations())
        unchecked = summary.drop(index=sa_row) if effects.sa_intervals_shown else summary
        assert (unchecked.iloc[:, 2] == "–").all() and (unchecked.iloc[:, 3] == "–").all()


def test_results_are_json_serialisable_and_saved(demo, tmp_path):
    params, prepared, design, effects = demo
    cohorts = rollout.cohort_comparison(prepared, params, effects)
    page = rollout.RolloutPage(
        design,
        rollout.twfe_decomposition(prepared, params),
        effects,
        cohorts,
        rollout.household_check(prepared, params, effects),
    )
    back = json.loads(json.dumps(page.summary()))
    assert back["cs_simple"] == pytest.approx(effects.simple.estimate)
    assert back["verdict"] in {"as_much", "less", "none", "pilot_none"}
    assert back["later_share_of_pilot"] == pytest.approx(cohorts.ratio)
    assert back["size_checked"] is effects.size.passed
    save_result(page, tmp_path, "rollout")
    loaded = load_result(tmp_path, "rollout")
    assert loaded["effects"]["simple"].estimate == pytest.approx(effects.simple.estimate)
    assert "result" not in loaded["effects"]


def test_household_check_uses_every_ballot(demo):
    params, prepared, design, effects = demo
    household = rollout.household_check(prepared, params, effects)
    assert household.estimator == "cs_simple_household"
    assert household.n_clusters == design.n_units
    assert household.n_obs == len(prepared.ballots.dropna(subset=[design.outcome]))
    assert np.isfinite(household.estimate)
    assert not rw.unchecked_rows(household)["size_checked"].any()


def test_one_adoption_wave_says_so_and_estimates_what_it_can(demo):
    params, prepared, _, _ = demo
    panel = prepared.panel.copy()
    pilot_wave = prepared.meta["pilot_wave"]
    panel.loc[panel["first_treated_wave"] > pilot_wave, "first_treated_wave"] = np.nan
    communes = prepared.communes.copy()
    communes.loc[communes["first_treated_wave"] > pilot_wave, "first_treated_wave"] = np.nan
    single = dataclasses.replace(prepared, panel=panel, communes=communes)
    effects = rollout.rollout_effects(single, params)
    design = effects.design
    assert design.cohorts == (pilot_wave,) and design.estimable and not design.has_later_waves
    bacon = rollout.twfe_decomposition(single, params)
    assert isinstance(bacon, NotApplicable) and bacon.reason == "later_cohorts"
    assert list(effects.group.terms.index) == ["ATT", f"g={pilot_wave}"]
    assert effects.exposure is None
    cohorts = rollout.cohort_comparison(single, params, effects)
    assert isinstance(cohorts, NotApplicable) and cohorts.reason == "later_cohorts"
    for language in LANGUAGES:
        assert rw.text("single_cohort", params, language) in rw.design_reading(
            design, params, language
        )


def test_no_comparison_group_is_not_applicable(demo):
    params, prepared, _, _ = demo
    panel = prepared.panel.assign(first_treated_wave=float(prepared.meta["pilot_wave"]))
    effects = rollout.rollout_effects(_with_panel(prepared, panel), params)
    assert isinstance(effects, NotApplicable)
    assert effects.reason == "comparison_units"


def test_periods_are_labelled_as_readers_know_them(demo):
    params, prepared, design, _ = demo
    generic = dataclasses.replace(design, source="panel", period_labels={"2014": "2014"})
    assert rw.period_label(2014, generic) == "2014"
    assert rw.period_label(199, design) == "2019Q4"
    assert rw.period_label(199, design, "vi") == "Q4/2019"
    assert rw.period_label(199, design, "en") == "Q4 2019"
    assert rw.term_label("g=199", design) == "2019Q4"
    assert rw.term_label("e-2", design) == "−2"
    meta = {**prepared.meta, "source": "panel", "outcomes": ["pct_satisfied", "coverage"]}
    assert rollout.headline_outcome(dataclasses.replace(prepared, meta=meta), params) == (
        "pct_satisfied"
    )


def test_every_message_key_exists_in_both_languages():
    keys = {
        lang: {k for k in messages(lang) if k.startswith(("rollout_page.", "rollout."))}
        for lang in LANGUAGES
    }
    assert keys["vi"] == keys["en"]
    source = Path(rw.__file__).read_text(encoding="utf-8")
    notebook = (Path(__file__).parents[1] / "notebooks" / "07_rollout_waves.ipynb").read_text(
        encoding="utf-8"
    )
    used = {f"rollout_page.{k}" for k in re.findall(r'text\(\s*"([a-z_.]+)"', source + notebook)}
    used |= set(re.findall(r"rollout_page\.[a-z_.]+[a-z_]", source + notebook))
    used |= {f"rollout_page.cohorts_{v}" for v in ("as_much", "less", "none", "pilot_none")}
    used |= {f"rollout_page.size_{v}" for v in ("passed", "failed", "not_measured", "too_few")}
    used |= {f"rollout_page.control.{c}" for c in ("never_treated", "not_yet_treated")}
    used |= {f"rollout_page.base.{b}" for b in ("varying", "universal")}
    used |= {f"rollout_page.method.{m}" for m in ("dr", "ipw", "reg")}
    used |= {
        f"rollout_page.estimators.{e}"
        for e in (
            "cs_simple",
            "cs_dynamic",
            "cs_group",
            "cs_calendar",
            "sun_abraham",
            "twfe_all_waves",
        )
    }
    used = {u for u in used if not u.endswith((".", "_"))} - {"rollout_page.estimators"}
    missing = {lang: sorted(used - keys[lang]) for lang in LANGUAGES}
    assert missing == {"vi": [], "en": []}
    for key in ("rollout_balanced", "rollout_last_cohort_only"):
        for contract in ("hanam", "panel"):
            for lang in LANGUAGES:
                assert f"requirements.{key}.{contract}" in messages(lang)
    assert "Tóm lại" in messages("vi")["rollout_page.reading_heading"]
