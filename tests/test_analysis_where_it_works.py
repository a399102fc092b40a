"""Page 05's analyses on shapes of real data: a plain reason where the data fall short, real
results elsewhere (generic panel, no admin file, endline-only ballots, one or two pilots)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from _demo import small_demo
from shapes import prepared_shape

from evaluation.analysis import applies
from evaluation.analysis import where_it_works as aw
from evaluation.estimators.heterogeneity import effect_by_moderator
from evaluation.i18n import messages
from evaluation.report import where_it_works as ww

HANAM_WORDS = ("Hà Nam", "commune", "xã", "pilot commune")


@pytest.fixture(scope="module")
def shape():
    return prepared_shape


def _sections(params, prepared):
    outcome = params.analysis.headline_outcome
    frame = aw.moderator_panel(prepared)
    baseline = aw.baseline_interactions(prepared, params, outcome, frame)
    return aw.collect(
        prepared,
        params,
        outcome,
        baseline,
        aw.practice_interactions(prepared, params, outcome, frame),
        aw.group_effects(prepared, params, outcome, frame),
        aw.predictions(prepared, params, outcome, baseline, frame),
    )


def test_generic_panel_compares_baseline_level_only(shape):
    params, prepared = shape("panel_yearly_staggered")
    result = _sections(params, prepared)
    outcome = params.analysis.headline_outcome
    level = f"baseline_{outcome}"
    assert applies(result.baseline)
    assert list(result.baseline.table["moderator"]) == [level]
    frame = aw.moderator_panel(prepared).dropna(subset=[outcome, level])
    direct = effect_by_moderator(
        frame, outcome, "treated", "commune_code", "wave_index", level, "cluster"
    )
    row = result.baseline.row(level)
    assert row["slope"] == pytest.approx(direct.terms["estimate"].iloc[1])
    # a panel has no commune types or admin records; its strata (region) are the groups
    assert result.practice.reason == "where_it_works_commune_data"
    assert list(result.groups.tables) == ["district_name"]
    regions = result.groups.tables["district_name"]
    assert set(regions["category"]) == set(prepared.panel["district_name"].unique())
    assert applies(result.prediction)
    for language in ("en", "vi"):
        text = " ".join(
            [
                result.practice.message(language),
                ww.group_heading("district_name", params, language),
                ww.group_trust(result.groups, language),
                ww.reading(result, params, language),
                ww.intro(params, outcome, result.n_treated, language),
                ww.interaction_trust(result.baseline, language),
            ]
        )
        assert not any(word in text for word in HANAM_WORDS), text
    assert "region" in ww.group_heading("district_name", params, "en")


def test_panel_without_strata_has_no_groups(shape):
    params, prepared = shape("panel_treatment_01")
    result = _sections(params, prepared)
    assert result.groups.reason == "where_it_works_no_groups"
    assert "strata" in result.groups.message("en")
    entry = ww.results_entry(result)
    assert entry["categories"] is None and entry["categories_reason"] == "where_it_works_no_groups"


def test_no_admin_file_keeps_baseline_satisfaction(shape):
    params, prepared = shape("hanam_no_admin")
    result = _sections(params, prepared)
    assert applies(result.baseline)
    assert list(result.baseline.table["moderator"]) == ["baseline_index"]
    assert [na.reason for na in result.baseline.skipped] == ["admin"]
    assert result.practice.reason == "admin"
    assert applies(result.groups)


def test_endline_only_ballots_have_no_baseline():
    # the small demo with its ballots before the start removed (prepare of the
    # hanam_endline_only shape refuses its default window, so build the shape here)
    params, demo = small_demo("en")
    ballots = demo.ballots[demo.ballots["wave_index"] >= demo.meta["pilot_wave"]]
    prepared = replace(demo, ballots=ballots)
    result = _sections(params, prepared)
    assert result.baseline.reason == "ballots_before_and_after"
    assert result.groups.reason == "ballots_before_and_after"
    assert result.prediction.reason == "ballots_before_and_after"
    entry = ww.results_entry(result)
    assert entry["interactions"] is None
    assert entry["interactions_reason"] == "ballots_before_and_after"
    assert entry["chosen_moderator"] is None


@pytest.mark.parametrize("name, pilots", [("hanam_one_pilot", 1), ("hanam_two_pilots", 2)])
def test_one_or_two_pilots_cannot_give_an_interaction(shape, name, pilots):
    params, prepared = shape(name)
    result = _sections(params, prepared)
    assert result.baseline.reason == "treated_units"
    assert result.baseline.facts["have"] == pilots
    assert "3" in result.baseline.message("en")
    if pilots == 1:
        assert result.groups.reason == "treated_units"
    elif applies(result.groups):
        # two pilots: every group is weak, so no interval is shown
        assert result.groups.combined["inference_weak"].all()
        assert result.groups.combined["conf_low"].isna().all()
    assert applies(result.prediction) and result.prediction.chosen is None


def test_not_applicable_sentences_exist_in_both_languages():
    for language in ("en", "vi"):
        found = messages(language)
        for reason in (
            "where_it_works_commune_data",
            "where_it_works_practice_values",
            "where_it_works_no_groups",
        ):
            assert f"requirements.{reason}" in found
        for reason in ("where_it_works_baseline_values", "where_it_works_one_group"):
            assert f"requirements.{reason}.hanam" in found
            assert f"requirements.{reason}.panel" in found
        assert "Hà Nam" not in found["requirements.where_it_works_baseline_values.panel"]
