"""Page 06 (scaling) on the small demo: plan, conditions, costs and design, in both languages."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo

from evaluation.config import Params
from evaluation.i18n import messages
from evaluation.report import scaling_page as sp
from evaluation.report.where_it_works import commune_predictions
from evaluation.scaling.rollout_design import stepped_wedge

STAFF = "baseline_one_stop_staff_per_1000"


def with_scaling(params: Params, **changes: object) -> Params:
    return params.model_copy(update={"scaling": params.scaling.model_copy(update=changes)})


@pytest.fixture(scope="module", params=["vi", "en"])
def demo(request):
    params, prepared = small_demo(request.param)
    predictions = commune_predictions(prepared, params, STAFF)
    frame = sp.candidates(prepared, predictions)
    return params, prepared, predictions, frame


@pytest.fixture(scope="module")
def costed(demo):
    params, prepared, _, frame = demo
    costs = sp.commune_costs(prepared, params)
    return costs, sp.cost_effectiveness_table(frame, costs, params)


def test_candidates_are_communes_not_started(demo):
    _, prepared, predictions, frame = demo
    c = prepared.communes
    last = prepared.panel["wave_index"].max()
    started = c.loc[c["first_treated_wave"] <= last, "commune_code"].astype(str)
    assert len(frame) > 0
    assert not frame["commune_code"].isin(set(started)).any()
    assert len(frame) == len(c) - len(started)
    assert frame["commune_code"].is_unique
    rows = predictions[predictions["outcome"] == "pct_satisfied"].set_index("commune_code")
    first = frame.iloc[0]
    assert first["effect_pct_satisfied"] == rows.loc[first["commune_code"], "predicted_effect"]


def test_saved_predictions_round_trip(demo):
    params, prepared, predictions, frame = demo
    text = predictions.to_csv(index=False)
    saved = pd.read_csv(io.StringIO(text), dtype={"commune_code": str})
    again = sp.candidates(prepared, sp.prediction_frame(prepared, params, saved))
    pd.testing.assert_frame_equal(again, frame, check_dtype=False)
    with pytest.raises(ValueError, match="lack columns"):
        sp.prediction_frame(prepared, params, saved.drop(columns="conf_low"))


def test_conditions_name_failing_criteria(demo):
    params, prepared, _, frame = demo
    # thresholds at the candidates' medians: some communes fail one, some the other, some both
    values = sp.current_values(prepared, ["one_stop_staff_per_1000", "pct_condolence_on_time"])
    values = values.loc[frame["commune_code"]]
    staff_cut = float(values["one_stop_staff_per_1000"].median())
    condolence_cut = float(values["pct_condolence_on_time"].median())
    p = with_scaling(
        params,
        conditions={
            "min_one_stop_staff_per_1000": staff_cut,
            "min_condolence_on_time": condolence_cut,
            "min_not_a_column": 1.0,
        },
    )
    table, skipped = sp.conditions_table(prepared, p, frame)
    assert skipped == ["min_not_a_column"]
    staff_fail = table["one_stop_staff_per_1000"] < staff_cut
    condolence_fail = table["pct_condolence_on_time"] < condolence_cut
    assert staff_fail.any() and condolence_fail.any()
    for row, s_fail, c_fail in zip(table.itertuples(), staff_fail, condolence_fail, strict=True):
        failed = set(filter(None, row.failed_criteria.split("; ")))
        expected = {"min_one_stop_staff_per_1000"} if s_fail else set()
        expected |= {"min_condolence_on_time"} if c_fail else set()
        assert failed == expected
        assert row.has_conditions == (not expected)
    shown = sp.conditions_display(table, p, p.language)
    label = messages(p.language)["scaling_page.criteria.min_condolence_on_time"]
    assert shown.iloc[:, -1][condolence_fail.to_numpy()].str.contains(label).all()
    text = sp.conditions_reading(table, skipped, p, p.language)
    assert str(int(table["has_conditions"].sum())) in text and "min_not_a_column" in text


def test_cost_effectiveness_by_hand_one_commune(demo):
    params, prepared, _, frame = demo
    p = with_scaling(
        params,
        setup_cost_multiplier=1.2,
        running_cost_multiplier=0.9,
        horizon_years=4,
        discount_rate=0.07,
    )
    ce = sp.cost_effectiveness_table(frame, sp.commune_costs(prepared, p), p)
    row = ce.iloc[2]
    code = row["commune_code"]
    items = prepared.costs[prepared.costs["commune_code"].astype(str) == code]
    setup = 1.2 * items["setup_vnd"].sum()
    yearly = 0.9 * items["yearly_vnd"].sum()
    pv = setup + sum(yearly / 1.07**year for year in (1, 2, 3, 4))
    cand = frame.set_index("commune_code").loc[code]
    gain = cand["effect_pct_satisfied"] * cand["households"]
    assert row["setup_vnd"] == pytest.approx(setup)
    assert row["pv_cost"] == pytest.approx(pv)
    assert row["additional_satisfied_households"] == pytest.approx(gain)
    assert row["vnd_per_satisfied_household"] == pytest.approx(pv / gain)
    assert row["vnd_per_tenth_point"] == pytest.approx(
        pv / (cand["effect_satisfaction_index"] / 0.1)
    )
    households = prepared.panel[prepared.panel["commune_code"].astype(str) == code]
    assert cand["households"] == households.sort_values("wave_index")["households_total"].iloc[-1]


@pytest.mark.parametrize("budget", [3e9, 6e8])
def test_plan_within_budget_and_sums(demo, costed, budget):
    params, prepared, _, frame = demo
    _, ce = costed
    conditions, _ = sp.conditions_table(prepared, params, frame)
    pool, label = sp.choose_pool(sp.plan_pool(ce, conditions))
    plan = sp.rollout_plan(pool, budget)
    table = sp.plan_table(plan, pool, label, params)
    assert list(table.columns) == sp.PLAN_COLUMNS
    assert len(table) > 0
    assert table["cost_vnd"].sum() <= budget
    assert table["cost_vnd"].sum() == pytest.approx(plan.total_cost)
    assert table["expected_gain"].sum() == pytest.approx(plan.total_gain)
    assert table["cumulative_cost_vnd"].iloc[-1] == pytest.approx(table["cost_vnd"].sum())
    assert table["order"].tolist() == list(range(1, len(table) + 1))
    assert table["commune_code"].is_unique
    # costs in the plan are the present values of the cost file
    pv = ce.set_index("commune_code")["pv_cost"]
    np.testing.assert_allclose(table["cost_vnd"], table["commune_code"].map(pv))
    # Vietnamese commune names, whatever the page language
    assert table["commune_name"].str.match(r"^(Xã|Phường|Thị trấn) ").all()
    if budget < ce["pv_cost"].sum():
        assert len(table) < len(pool)
    shown = sp.plan_display(table, params.language)
    assert len(shown) == len(table)
    text = sp.plan_reading(plan, label, len(pool), None, params.language)
    assert str(len(table)) in text


def test_stepped_wedge_reproducible_from_seed(demo, tmp_path):
    params, prepared, _, frame = demo
    communes, label = sp.wedge_communes(None, None, frame)
    assert label == "all_candidates"
    design = sp.stepped_wedge_design(communes, prepared, params, label)
    assert (design["seed"] == params.scaling.rollout_seed).all()
    assert set(design["step"]) <= set(range(1, params.scaling.rollout_steps + 1))
    assert set(design["commune_code"]) == set(frame["commune_code"])
    # the CSV, read back, is redrawn exactly from the seed, whatever the input row order
    path = tmp_path / "stepped_wedge.csv"
    design.to_csv(path, index=False)
    saved = pd.read_csv(path, dtype={"commune_code": str})
    shuffled = communes.sample(frac=1.0, random_state=1)
    redrawn = sp.stepped_wedge_design(shuffled, prepared, params, label)
    pd.testing.assert_frame_equal(saved, redrawn, check_dtype=False)
    direct = stepped_wedge(
        communes[["commune_code", "district_name"]],
        n_steps=params.scaling.rollout_steps,
        seed=int(saved["seed"].iloc[0]),
    )
    np.testing.assert_array_equal(
        saved.set_index("commune_code")["step"].loc[direct["commune_code"]], direct["step"]
    )
    other = sp.stepped_wedge_design(communes, prepared, with_scaling(params, rollout_seed=7), label)
    # rows are sorted by district and step: compare each commune's step, not the column
    assert (
        not other.set_index("commune_code")["step"]
        .sort_index()
        .equals(design.set_index("commune_code")["step"].sort_index())
    )
    # within a district, step sizes differ by at most one
    sizes = design.groupby(["district_name", "step"]).size().groupby("district_name")
    assert ((sizes.max() - sizes.min()) <= 1).all()
    assert len(sp.wedge_display(design, params.language)) == design["step"].nunique()
    assert str(params.scaling.rollout_seed) in sp.wedge_reading(
        design, label, params, params.language
    )


def test_power_table_and_readings(demo):
    params, prepared, _, frame = demo
    components = sp.variance_components(prepared, "satisfaction_index")
    assert 0 < components.icc < 1
    effect = sp.target_effect(frame, "satisfaction_index")
    assert effect == pytest.approx(0.5 * frame["effect_satisfaction_index"].mean())
    curves = sp.power_table(components, prepared, params, effect)
    assert not curves["power"].isna().any()
    assert "power_simulated" in curves
    grid = sp.ballots_grid(prepared)
    assert set(curves["ballots_per_commune"]) == set(grid)
    assert max(grid) == pytest.approx(5 * round(sp.ballots_sent(prepared) / 5))
    # more communes, smaller detectable effect
    for _, part in curves.groupby("ballots_per_commune"):
        assert part.sort_values("n_treated")["mde"].is_monotonic_decreasing
    needed = sp.communes_needed(curves)
    text = sp.power_reading(
        components,
        curves,
        effect,
        2 * effect,
        "satisfaction_index",
        len(frame),
        prepared,
        params.language,
    )
    assert (str(needed) in text) if needed else True
    shown = sp.mde_display(curves, "satisfaction_index", params.language)
    assert len(shown) == curves["n_treated"].nunique()


def test_readings_and_no_costs(demo, costed):
    params, prepared, _, frame = demo
    _, ce = costed
    typical = sp.typical_commune(ce, params)
    assert typical.setup_cost == pytest.approx(ce["setup_vnd"].mean())
    grid = sp.sensitivity(typical)
    base = grid[(grid["cost_multiplier"] == 1) & (grid["effect_multiplier"] == 1)]
    assert base["vnd_per_satisfied_household"].iloc[0] == pytest.approx(
        typical.vnd_per_satisfied_household
    )
    lang = params.language
    assert sp.cost_reading(typical, params, lang)
    assert sp.sensitivity_reading(grid, lang)
    assert sp.prediction_reading(frame, "satisfaction_index", lang)
    assert len(sp.candidates_display(frame, "satisfaction_index", lang)) == len(frame)
    assert len(sp.cost_effectiveness_display(ce, lang)) == len(ce)
    assert sp.can_cost(prepared, frame)
    assert not sp.can_cost(dataclasses.replace(prepared, costs=None), frame)
    text = sp.finding(len(frame), 0, None, 6, lang)
    assert str(len(frame)) in text and "6" in text


def test_message_keys_match_between_languages():
    keys = {
        lang: {k for k in messages(lang) if k.startswith("scaling_page.")} for lang in ("vi", "en")
    }
    assert keys["vi"] == keys["en"]
    assert "nhân rộng" in messages("vi")["scaling_page.title"].lower()


def test_model_label_is_words_not_an_identifier():
    from evaluation.report.scaling_page import model_label

    assert model_label("average_effect", "vi") == "tác động trung bình của các xã thí điểm"
    by = model_label("twfe_by_baseline_index", "en")
    assert "twfe" not in by and "satisfaction score before the pilot" in by
