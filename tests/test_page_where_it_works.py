"""Page 05 (where it works) on the small demo: numbers equal the library calls, in both languages."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo

from evaluation.estimators.heterogeneity import WEAK_TREATED_MAX, effect_by_moderator
from evaluation.estimators.twfe import twfe
from evaluation.i18n import format_p_value, messages
from evaluation.inference.multiple_testing import holm
from evaluation.report import where_it_works as ww
from evaluation.report.effects import twfe_communes

OUTCOME = "satisfaction_index"
STAFF = "baseline_one_stop_staff_per_1000"


@pytest.fixture(scope="module")
def demo():
    params, prepared = small_demo("vi")
    frame = ww.moderator_panel(prepared)
    return params, prepared, frame


@pytest.fixture(scope="module")
def interactions(demo):
    params, prepared, frame = demo
    estimates = ww.moderator_estimates(
        frame, params, OUTCOME, ww.continuous_moderators(prepared, frame)
    )
    return estimates, ww.interaction_table(estimates)


def test_baseline_moderators_are_pre_pilot_means(demo):
    _, prepared, _ = demo
    mods = ww.commune_moderators(prepared).set_index("commune_code")
    panel = prepared.panel.assign(commune_code=prepared.panel["commune_code"].astype(str))
    pre = panel[panel["wave_index"] < prepared.meta["pilot_wave"]]
    code = mods.index[0]
    for col in ww.FIDELITY:
        expected = pre.loc[pre["commune_code"] == code, col].mean()
        assert mods.loc[code, f"baseline_{col}"] == pytest.approx(expected)
    # pilot-period values only for the model's own practices (post-treatment, descriptive)
    assert {f"pilot_period_{c}" for c in ww.MODEL_PRACTICES} <= set(mods.columns)
    assert "pilot_period_one_stop_staff_per_1000" not in mods.columns
    assert len(mods) == prepared.communes["commune_code"].nunique()


def test_moderator_lists(demo):
    _, prepared, frame = demo
    continuous = ww.continuous_moderators(prepared, frame)
    assert continuous[0] == STAFF and "baseline_index" in continuous
    assert all(c.startswith("baseline_") for c in continuous)
    assert all(c.startswith("pilot_period_") for c in ww.practice_moderators(prepared, frame))
    assert ww.categorical_moderators(prepared, frame) == ["commune_type", "district_name"]


def test_interaction_equals_library_call(demo, interactions):
    params, _, frame = demo
    estimates, table = interactions
    direct = effect_by_moderator(
        frame, OUTCOME, "treated", "commune_code", "wave_index", STAFF, "commune_code", "n_ballots"
    )
    row = table.set_index("moderator").loc[STAFF]
    assert row["effect"] == pytest.approx(direct.estimate)
    assert row["slope"] == pytest.approx(direct.terms["estimate"].iloc[1])
    assert row["slope_p_value"] == pytest.approx(direct.terms["p_value"].iloc[1])
    assert row["n_treated_communes"] == 14
    np.testing.assert_allclose(table["slope_p_holm"], holm(table["slope_p_value"]))
    assert (table["slope_p_holm"] >= table["slope_p_value"]).all()


def test_choose_moderator_rule(interactions):
    _, table = interactions
    best = table.sort_values("slope_p_holm").iloc[0]
    assert ww.choose_moderator(table, alpha=best["slope_p_holm"] / 2) is None
    assert (
        ww.choose_moderator(table, alpha=min(best["slope_p_holm"] * 2, 0.999)) == best["moderator"]
    )
    assert ww.choose_moderator(table.iloc[0:0], 0.05) is None


def test_effects_rows_do_not_collide(interactions):
    estimates, _ = interactions
    rows = pd.concat([ww.effects_rows(e) for e in estimates.values()], ignore_index=True)
    assert not rows.duplicated(["outcome", "estimator", "term", "inference"]).any()
    assert set(rows["estimator"]) == {f"twfe_by_{m}" for m in estimates}


def test_categories_flag_weak(demo):
    params, _, frame = demo
    est = ww.moderator_estimate(frame, params, OUTCOME, "district_name")
    cats = ww.category_table(est, frame, params)
    assert cats["n_treated_communes"].sum() == 14
    np.testing.assert_array_equal(
        cats["inference_weak"], cats["n_treated_communes"] <= WEAK_TREATED_MAX
    )
    np.testing.assert_allclose(cats["estimate"], est.terms["estimate"])
    types = ww.category_table(
        ww.moderator_estimate(frame, params, OUTCOME, "commune_type"), frame, params
    )
    assert set(types["category"]) == {"xa", "phuong", "thi_tran"}


def test_weak_categories_show_the_permutation_p_value_not_an_interval(demo):
    params, _, frame = demo
    cats = ww.category_table(
        ww.moderator_estimate(frame, params, OUTCOME, "district_name"), frame, params
    )
    assert cats["ri_p_value"].between(0, 1).all()
    assert (cats.loc[cats["inference_weak"], "show"] == "ri_p_value_only").all()
    shown = ww.category_display(cats, "en")
    weak = cats["inference_weak"].to_numpy()
    assert (shown["95% interval"][weak] == "–").all()
    assert (shown["95% interval"][~weak] != "–").all()
    est = ww.moderator_estimate(frame, params, OUTCOME, "district_name")
    rows = ww.effects_rows(est, cats)
    assert len(rows) == 2 * len(cats)
    assert not rows.duplicated(["outcome", "estimator", "term", "inference"]).any()
    ri = rows[rows["inference"].str.startswith("randomisation")]
    assert ri["conf_low"].isna().all() and list(ri["p_value"]) == list(cats["ri_p_value"])
    assert rows["n_treated_clusters"].sum() == 2 * 14  # each category counts its own pilots
    assert list(shown["p (permutation)"]) == [format_p_value(p, "en") for p in cats["ri_p_value"]]


def test_district_permutation_p_value_equals_brute_force(demo):
    """Re-assign the district's pilots among its communes in every possible way, refit TWFE
    (CRV1 t) each time: the share at least as extreme is the page's p-value."""
    params, _, frame = demo
    pilot = frame.groupby("commune_code")["treated"].transform("max") > 0
    counts = frame.loc[pilot].groupby("district_name")["commune_code"].nunique()
    district = counts.idxmin()  # fewest pilots: fewest assignments
    sample = frame[~pilot | (frame["district_name"] == district)].copy()
    post = sample.groupby("wave_index")["treated"].transform("max") > 0
    communes = sorted(sample.loc[sample["district_name"] == district, "commune_code"].unique())
    pilots = set(sample.loc[sample["treated"] > 0, "commune_code"])

    def t_stat(chosen: set) -> float:
        sample["placebo"] = (sample["commune_code"].isin(chosen) & post).astype(float)
        fit = twfe(
            sample,
            OUTCOME,
            "placebo",
            unit="commune_code",
            time="wave_index",
            cluster="commune_code",
            weights="n_ballots",
        )
        return fit.estimate / fit.std_error

    observed = t_stat(pilots)
    reference = np.array([t_stat(set(c)) for c in combinations(communes, len(pilots))])
    expected = float(np.mean(np.abs(reference) >= abs(observed) * (1 - 1e-9)))
    ri = ww.category_ri(frame, params, OUTCOME, "district_name").set_index("category")
    assert bool(ri.loc[district, "ri_enumerated"])
    assert ri.loc[district, "ri_assignments"] == len(reference)
    assert ri.loc[district, "ri_p_value"] == pytest.approx(expected, abs=1e-12)


def test_dose_response_covers_all_pilots(demo):
    params, _, frame = demo
    dose = ww.dose_response_frame(frame, params, OUTCOME, STAFF)
    assert len(dose) == 3
    assert dose["n_treated_communes"].sum() == 14
    assert (dose["moderator"] == STAFF).all()


def test_predictions_from_interaction_model(demo):
    params, prepared, frame = demo
    pred = ww.commune_predictions(prepared, params, STAFF, frame=frame)
    assert list(pred.columns) == ww.PREDICTION_COLUMNS
    assert set(pred["outcome"]) == set(ww.PREDICTION_OUTCOMES)
    n = prepared.communes["commune_code"].nunique()
    assert len(pred) == 2 * n
    est = ww.moderator_estimate(frame, params, OUTCOME, STAFF)
    b0, b1 = est.terms["estimate"].iloc[:2]
    one = pred[pred["outcome"] == OUTCOME].iloc[3]
    expected = b0 + b1 * (one["moderator_value"] - est.model.centre)
    assert one["predicted_effect"] == pytest.approx(expected)
    assert one["conf_low"] < one["predicted_effect"] < one["conf_high"]
    assert pred.loc[pred["pilot"], "commune_code"].nunique() == 14


def test_predictions_average_effect(demo):
    params, prepared, frame = demo
    pred = ww.commune_predictions(prepared, params, None, frame=frame)
    est = twfe_communes(prepared, params, OUTCOME)
    rows = pred[pred["outcome"] == OUTCOME]
    np.testing.assert_allclose(rows["predicted_effect"], est.estimate)
    np.testing.assert_allclose(rows["conf_low"], est.conf_int[0])
    assert (rows["model"] == "average_effect").all() and not rows["extrapolated"].any()
    summary = ww.prediction_summary(pred, OUTCOME).iloc[0]
    assert summary["n_communes"] == prepared.communes["commune_code"].nunique() - 14
    assert summary["min"] == pytest.approx(summary["max"])


@pytest.mark.parametrize("language", ["vi", "en"])
def test_text_in_both_languages(demo, interactions, language):
    params, prepared, frame = demo
    estimates, table = interactions
    shown = ww.interaction_display(table, language)
    assert len(shown) == len(table)
    first = shown.columns[0]
    assert shown[first].iloc[0] == ww.moderator_label(STAFF, language)
    during = ww.interaction_display(table, language, during_pilot=True)
    assert during.columns[0] != first
    cats = {
        m: ww.category_table(ww.moderator_estimate(frame, params, OUTCOME, m), frame, params)
        for m in ("commune_type", "district_name")
    }
    shown_types = ww.category_display(cats["commune_type"], language)
    weak_word = messages(language)["where_it_works.weak"]
    assert (shown_types.iloc[:, -1] == weak_word).sum() == int(
        cats["commune_type"]["inference_weak"].sum()
    )
    pred = ww.commune_predictions(prepared, params, STAFF, frame=frame)
    summary = ww.prediction_summary(pred, OUTCOME)
    text = ww.reading(table, cats, STAFF, summary, 14, 0.05, language)
    assert "14" in text and ww.moderator_label(STAFF, language) in text
    assert ww.finding(table, 14, 0.05, language).startswith(
        "Where it works" if language == "en" else "Hiệu quả ở đâu"
    )
    assert len(ww.prediction_display(summary, language)) == 1
    entry = ww.results_entry(table, cats, STAFF, summary, 14)
    assert entry["chosen_moderator"] == STAFF and len(entry["interactions"]) == len(table)


def test_message_keys_match_between_languages():
    keys = {
        lang: {k for k in messages(lang) if k.startswith("where_it_works.")}
        for lang in ("vi", "en")
    }
    assert keys["vi"] == keys["en"]
    assert "hiệu quả" in messages("vi")["where_it_works.title"]
