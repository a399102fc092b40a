"""Page 01's analyses: counts against direct pandas calls, and one sentence (NotApplicable)
for each Hà Nam section on a generic panel."""

from __future__ import annotations

import pytest
from _demo import small_demo
from shapes import build_shape

from evaluation.analysis import applies
from evaluation.analysis import data_quality as adq
from evaluation.config import load_params
from evaluation.prepare import prepare_inputs
from evaluation.report import data_quality as dq


@pytest.fixture(scope="module")
def demo():
    return small_demo("en")


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    params = load_params(build_shape("panel_unbalanced_missing", tmp_path_factory.mktemp("p")))
    return params, prepare_inputs(params)


def test_inputs_count_what_came_in(demo):
    params, prepared = demo
    inputs = adq.inputs(prepared, params)
    assert inputs.n_units == prepared.communes["commune_code"].nunique()
    assert inputs.n_treated == int(prepared.communes["pilot"].sum())
    assert inputs.n_ballots == len(prepared.ballots)
    assert inputs.n_rows == len(prepared.panel)
    assert inputs.n_strata == prepared.communes["district_name"].nunique()
    row = inputs.outcomes.set_index("outcome").loc["satisfaction_index"]
    assert row["n_present"] == prepared.panel["satisfaction_index"].notna().sum()


def test_coverage_equals_direct_group_means(demo):
    params, prepared = demo
    result = adq.coverage(prepared, params)
    assert applies(result)
    panel = prepared.panel
    after = panel["wave_index"] >= prepared.meta["pilot_wave"]
    direct = panel[panel["pilot"].astype(bool) & ~after]["coverage"].mean()
    row = result.summary[(result.summary["pilot"] == 1) & (result.summary["after"] == 0)]
    assert row["mean_coverage"].iloc[0] == pytest.approx(direct)
    assert result.mean_coverage == pytest.approx(panel["coverage"].mean())
    assert result.n_low_cells == int((panel["coverage"] < adq.LOW_COVERAGE).sum())


def test_hanam_sections_apply_on_the_demo(demo):
    params, prepared = demo
    changes = adq.map_change(prepared, params)
    rel = adq.reliability(prepared, params)
    districts = adq.pilots_by_district(prepared, params)
    assert applies(changes) and applies(rel) and applies(districts)
    assert list(rel.table["cronbach_alpha"]) == list(prepared.reliability["cronbach_alpha"])
    assert districts.table["pilot"].sum() == prepared.meta["n_pilot"]
    assert districts.table["total"].sum() == len(prepared.communes)
    result = adq.DataQuality(adq.inputs(prepared, params), adq.coverage(prepared, params),
                             changes, rel, districts)  # fmt: skip
    text = dq.reading(result, params, "en")
    assert "ballots came in" in text and "{" not in text and "nan" not in text


def test_a_panel_gets_one_sentence_per_hanam_section(panel):
    params, prepared = panel
    reasons = {
        "coverage": adq.coverage(prepared, params),
        "map": adq.map_change(prepared, params),
        "reliability": adq.reliability(prepared, params),
    }
    assert {k: v.reason for k, v in reasons.items()} == {
        "coverage": "survey_roster",
        "map": "map_changes",
        "reliability": "survey_factors",
    }
    for value in reasons.values():
        for language in ("en", "vi"):
            sentence = value.message(language)
            assert "Hà Nam" not in sentence and "xã" not in sentence
            assert "commune" not in sentence.lower()
    inputs = adq.inputs(prepared, params)
    missing = inputs.outcomes.set_index("outcome")["n_missing"]
    for outcome, n in missing.items():
        assert n == prepared.panel[outcome].isna().sum()
    assert missing.sum() > 0  # the shape drops outcome values
    districts = adq.pilots_by_district(prepared, params)
    if params.data.panel.strata is None:
        assert districts.reason == "panel_strata"
    result = adq.DataQuality(inputs, reasons["coverage"], reasons["map"],
                             reasons["reliability"], districts)  # fmt: skip
    for language in ("en", "vi"):
        table = dq.inputs_display(inputs, prepared, params, language)
        text = " ".join(
            [
                dq.reading(result, params, language),
                dq.finding(result, params, language),
                *table.iloc[:, 0],
            ]
        )
        for word in ("commune", "pilot", "ballot", "quarter", "xã", "quý", "Hà Nam"):
            assert word not in text, (word, text)
    assert dq.page_results(result)["missing_outcome_values"] == missing.to_dict()
