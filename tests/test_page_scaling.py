"""Page 06 (scaling) on the small demo: plan, conditions, costs and design, in both languages."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo

from evaluation.analysis import scaling as sc
from evaluation.analysis.base import NotApplicable, applies
from evaluation.config import Params
from evaluation.i18n import messages
from evaluation.report import scaling_page as sp
from evaluation.scaling.rollout_design import stepped_wedge

#: A section that did not apply (stands in for the others in single-section checks).
NA = NotApplicable("scaling.test", "scaling_no_conditions")


def with_scaling(params: Params, **changes: object) -> Params:
    return params.model_copy(update={"scaling": params.scaling.model_copy(update=changes)})


@pytest.fixture(scope="module", params=["vi", "en"])
def demo(request):
    params, prepared = small_demo(request.param)
    headline = sc.headline_effects(prepared, params)
    candidates = sc.candidate_predictions(prepared, params, headline)
    return params, prepared, headline, candidates


@pytest.fixture(scope="module")
def costed(demo):
    params, prepared, _, candidates = demo
    return sc.cost_effectiveness_analysis(prepared, params, candidates)


def test_candidates_are_units_not_started(demo):
    _, prepared, headline, c = demo
    communes = prepared.communes
    last = prepared.panel["wave_index"].max()
    started = communes.loc[communes["first_treated_wave"] <= last, "commune_code"].astype(str)
    frame = c.table
    assert len(frame) > 0
    assert not frame["commune_code"].isin(set(started)).any()
    assert c.n_candidates == len(frame) == len(communes) - len(started)
    assert c.n_treated_by_end == len(started)
    assert frame["commune_code"].is_unique
    # without page 05's table every candidate gets the average effect
    assert c.source == "average" and c.model == "average_effect"
    est = headline.estimates["pct_satisfied"]
    assert (frame["effect_pct_satisfied"] == est.estimate).all()
    assert c.size_checked is False


def test_saved_predictions_are_used(demo):
    params, prepared, headline, c = demo
    rng = np.random.default_rng(3)
    rows = []
    for code in prepared.communes["commune_code"].astype(str):
        for outcome in headline.estimates:
            effect = float(rng.normal(0.1, 0.05))
            rows.append(
                {
                    "commune_code": code,
                    "outcome": outcome,
                    "model": "twfe_by_baseline_index",
                    "predicted_effect": effect,
                    "std_error": 0.02,
                    "conf_low": effect - 0.04,
                    "conf_high": effect + 0.04,
                    "extrapolated": code.endswith("1"),
                }
            )
    text = pd.DataFrame(rows).to_csv(index=False)
    saved = pd.read_csv(io.StringIO(text), dtype={"commune_code": str})
    again = sc.candidate_predictions(prepared, params, headline, saved)
    assert again.source == "saved" and again.model == "twfe_by_baseline_index"
    assert set(again.table["commune_code"]) == set(c.table["commune_code"])
    lookup = saved[saved["outcome"] == "pct_satisfied"].set_index("commune_code")
    np.testing.assert_allclose(
        again.table["effect_pct_satisfied"],
        again.table["commune_code"].map(lookup["predicted_effect"]),
    )
    assert (again.table["extrapolated"] == again.table["commune_code"].str.endswith("1")).all()
    # a table without the needed columns is not used
    broken = sc.candidate_predictions(prepared, params, headline, saved.drop(columns="conf_low"))
    assert broken.source == "average"
    lang = params.language
    assert "twfe" not in sp.prediction_reading(again, "pct_satisfied", params, lang)
    shown = sp.candidates_display(again, "pct_satisfied", params, lang)
    assert len(shown) == len(again.table)


def test_conditions_name_failing_criteria(demo):
    params, prepared, _, c = demo
    # thresholds at the candidates' medians: some communes fail one, some the other, some both
    values = sc.current_values(prepared, ["one_stop_staff_per_1000", "pct_condolence_on_time"])
    values = values.loc[c.table["commune_code"]]
    staff_cut = float(values["one_stop_staff_per_1000"].median())
    condolence_cut = float(values["pct_condolence_on_time"].median())
    p = with_scaling(
        params,
        conditions={
            "min_one_stop_staff_per_1000": staff_cut,
            "min_condolence_on_time": condolence_cut,
        },
    )
    screen = sc.conditions_screen(prepared, p, c)
    table = screen.table
    assert screen.unchecked == ()
    staff_fail = table["one_stop_staff_per_1000"] < staff_cut
    condolence_fail = table["pct_condolence_on_time"] < condolence_cut
    assert staff_fail.any() and condolence_fail.any()
    for row, s_fail, c_fail in zip(table.itertuples(), staff_fail, condolence_fail, strict=True):
        failed = set(filter(None, row.failed_criteria.split("; ")))
        expected = {"min_one_stop_staff_per_1000"} if s_fail else set()
        expected |= {"min_condolence_on_time"} if c_fail else set()
        assert failed == expected
        assert row.has_conditions == (not expected)
    assert screen.n_have_conditions == int(table["has_conditions"].sum())
    shown = sp.conditions_display(screen, p, p.language)
    label = messages(p.language)["scaling_page.criteria.min_condolence_on_time"]
    assert shown.iloc[:, -1][condolence_fail.to_numpy()].str.contains(label).all()
    text = sp.conditions_reading(screen, p, p.language)
    assert f"{screen.n_have_conditions} " in text


def test_misspelt_condition_is_unchecked_and_not_counted(demo):
    params, prepared, _, c = demo
    p = with_scaling(
        params, conditions={"min_condolence_on_time": 0.3, "min_condolance_on_time": 0.3}
    )
    screen = sc.conditions_screen(prepared, p, c)
    assert screen.checked == ("min_condolence_on_time",)
    assert screen.unchecked == ("min_condolance_on_time",)
    assert screen.n_have_conditions is None
    assert "has_conditions" not in screen.table
    assert screen.n_meet_checked == int((screen.table["pct_condolence_on_time"] >= 0.3).sum())
    text = sp.conditions_reading(screen, p, p.language)
    assert "min_condolance_on_time" in text
    entry = sc.results_entry(sc.ScalingResult(NA, NA, screen, NA, NA, NA, NA), p)
    assert entry["n_have_conditions"] is None
    assert entry["conditions_unchecked"] == ["min_condolance_on_time"]
    # the plan is not drawn from "communes with the conditions"
    ce = sc.cost_effectiveness_analysis(prepared, p, c)
    plan = sc.budget_plan(prepared, p, ce, screen)
    assert plan.pool_label == "unscreened" and plan.n_pool == len(ce.table)


def test_cost_effectiveness_by_hand_one_commune(demo):
    params, prepared, _, c = demo
    p = with_scaling(
        params,
        setup_cost_multiplier=1.2,
        running_cost_multiplier=0.9,
        horizon_years=4,
        discount_rate=0.07,
    )
    ce = sc.cost_effectiveness_analysis(prepared, p, c)
    row = ce.table.iloc[2]
    code = row["commune_code"]
    items = prepared.costs[prepared.costs["commune_code"].astype(str) == code]
    setup = 1.2 * items["setup_vnd"].sum()
    yearly = 0.9 * items["yearly_vnd"].sum()
    pv = setup + sum(yearly / 1.07**year for year in (1, 2, 3, 4))
    cand = c.table.set_index("commune_code").loc[code]
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
    params, prepared, _, c = demo
    p = with_scaling(params, budget_vnd=budget)
    screen = sc.conditions_screen(prepared, p, c)
    result = sc.budget_plan(prepared, p, costed, screen)
    plan, table = result.plan, result.table
    assert list(table.columns) == sc.PLAN_COLUMNS
    assert len(table) > 0
    assert table["cost_vnd"].sum() <= budget
    assert table["cost_vnd"].sum() == pytest.approx(plan.total_cost)
    assert table["expected_gain"].sum() == pytest.approx(plan.total_gain)
    assert table["cumulative_cost_vnd"].iloc[-1] == pytest.approx(table["cost_vnd"].sum())
    assert table["order"].tolist() == list(range(1, len(table) + 1))
    assert table["commune_code"].is_unique
    # costs in the plan are the present values of the cost file
    pv = costed.table.set_index("commune_code")["pv_cost"]
    np.testing.assert_allclose(table["cost_vnd"], table["commune_code"].map(pv))
    # Vietnamese commune names, whatever the page language
    assert table["commune_name"].str.match(r"^(Xã|Phường|Thị trấn) ").all()
    if result.pool_label == "has_conditions":
        assert table["has_conditions"].all()
    if budget < costed.table["pv_cost"].sum():
        assert len(table) < len(costed.table)
    shown = sp.plan_display(result, p, p.language)
    assert len(shown) == len(table)
    text = sp.plan_reading(result, p.language)
    assert str(len(table)) in text
    # the gain band is model-based: withheld from the page, not in the display
    assert result.size_checked is False
    assert "cumulative_gain_low" not in sp.curve_without_band(result)


def test_stepped_wedge_reproducible_from_seed(demo, tmp_path):
    params, prepared, _, c = demo
    units, label = sc.wedge_pool(c, NA, NA)
    assert label == "all_candidates"
    design = sc.stepped_wedge_design(units, prepared, params, label)
    assert (design["seed"] == params.scaling.rollout_seed).all()
    assert set(design["step"]) <= set(range(1, params.scaling.rollout_steps + 1))
    assert set(design["commune_code"]) == set(c.table["commune_code"])
    # the CSV, read back, is redrawn exactly from the seed, whatever the input row order
    path = tmp_path / "stepped_wedge.csv"
    design.to_csv(path, index=False)
    saved = pd.read_csv(path, dtype={"commune_code": str})
    shuffled = units.sample(frac=1.0, random_state=1)
    redrawn = sc.stepped_wedge_design(shuffled, prepared, params, label)
    pd.testing.assert_frame_equal(saved, redrawn, check_dtype=False)
    direct = stepped_wedge(
        units[["commune_code", "district_name"]],
        n_steps=params.scaling.rollout_steps,
        seed=int(saved["seed"].iloc[0]),
    )
    np.testing.assert_array_equal(
        saved.set_index("commune_code")["step"].loc[direct["commune_code"]], direct["step"]
    )
    other = sc.stepped_wedge_design(units, prepared, with_scaling(params, rollout_seed=7), label)
    assert (
        not other.set_index("commune_code")["step"]
        .sort_index()
        .equals(design.set_index("commune_code")["step"].sort_index())
    )
    # within a district, step sizes differ by at most one
    sizes = design.groupby(["district_name", "step"]).size().groupby("district_name")
    assert ((sizes.max() - sizes.min()) <= 1).all()
    wedge = sc.stepped_wedge_analysis(prepared, params, c, NA, NA)
    assert wedge.strata == "district_name"
    # step 1 starts the quarter after the last quarter of data
    last = int(prepared.panel["wave_index"].max())
    assert wedge.first_period == str(pd.Period(ordinal=last + 1, freq="Q"))
    assert len(sp.wedge_display(wedge, params, params.language)) == design["step"].nunique()
    assert str(params.scaling.rollout_seed) in sp.wedge_reading(wedge, params, params.language)
    assert len(sp.balance_display(wedge, params, params.language)) == design["step"].nunique()


def test_power_table_and_readings(demo):
    params, prepared, headline, c = demo
    power = sc.power_analysis(prepared, params, headline, c)
    assert power.level == "ballots" and power.coverage_known
    assert 0 < power.components.icc < 1
    assert power.target_effect == pytest.approx(0.5 * c.table["effect_satisfaction_index"].mean())
    curves = power.curves
    assert not curves["power"].isna().any()
    assert "power_simulated" in curves
    assert power.n_sims == params.inference.power_sims
    grid = sc.ballots_grid(prepared)
    assert set(curves["ballots_per_commune"]) == set(grid)
    assert max(grid) == pytest.approx(5 * round(sc.ballots_sent(prepared) / 5))
    for _, part in curves.groupby("ballots_per_commune"):
        assert part.sort_values("n_treated")["mde"].is_monotonic_decreasing
    lang = params.language
    text = sp.power_reading(power, params, lang)
    assert (str(power.n_needed) in text) if power.n_needed else True
    # the page says how many simulations each point used, and which key set them
    intro = sp.power_intro(power, params, lang)
    assert "inference.power_sims" in intro and str(params.inference.power_sims) in intro
    shown = sp.mde_display(power, params, lang)
    assert len(shown) == curves["n_treated"].nunique()


def test_readings_and_no_costs(demo, costed):
    params, prepared, _, c = demo
    ce = costed
    assert ce.typical.setup_cost == pytest.approx(ce.table["setup_vnd"].mean())
    grid = ce.sensitivity
    base = grid[(grid["cost_multiplier"] == 1) & (grid["effect_multiplier"] == 1)]
    assert base["vnd_per_satisfied_household"].iloc[0] == pytest.approx(
        ce.typical.vnd_per_satisfied_household
    )
    lang = params.language
    assert sp.cost_reading(ce, lang)
    assert sp.sensitivity_reading(grid, lang)
    assert sp.prediction_reading(c, "satisfaction_index", params, lang)
    assert len(sp.candidates_display(c, "satisfaction_index", params, lang)) == len(c.table)
    assert len(sp.cost_effectiveness_display(ce, params, lang)) == len(ce.table)
    no_costs = sc.cost_effectiveness_analysis(dataclasses.replace(prepared, costs=None), params, c)
    assert not applies(no_costs) and no_costs.reason == "scaling_costs"
    assert "data.costs" in no_costs.message(lang)


def test_message_keys_match_between_languages():
    keys = {
        lang: {
            k
            for k in messages(lang)
            if k.startswith(("scaling_page.", "requirements.scaling_", "scaling."))
        }
        for lang in ("vi", "en")
    }
    assert keys["vi"] == keys["en"]
    assert "nhân rộng" in messages("vi")["scaling_page.title"].lower()
    # a generic panel's sentences use the data's nouns, never Hà Nam's
    for lang in ("vi", "en"):
        for key, value in messages(lang).items():
            if key.startswith(("scaling_page.", "requirements.scaling_")) and key.endswith(
                ".panel"
            ):
                assert "xã" not in value.split() and "commune" not in value, key
                assert "VND" not in value and "Hà Nam" not in value, key


def test_model_label_is_words_not_an_identifier():
    assert sp.model_label("average_effect", "vi") == "tác động trung bình của các xã thí điểm"
    by = sp.model_label("twfe_by_baseline_index", "en")
    assert "twfe" not in by and "satisfaction score before the pilot" in by
