"""Page 05 (where it works) on the small demo: numbers equal the library calls, in both languages."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo

from evaluation.analysis import where_it_works as aw
from evaluation.estimators.heterogeneity import WEAK_TREATED_MAX, effect_by_moderator
from evaluation.estimators.twfe import twfe
from evaluation.i18n import format_p_value, messages
from evaluation.inference.multiple_testing import holm
from evaluation.inference.trust import measure_size
from evaluation.report import where_it_works as ww

OUTCOME = "satisfaction_index"
STAFF = "baseline_one_stop_staff_per_1000"


@pytest.fixture(scope="module")
def demo():
    params, prepared = small_demo("vi")
    frame = aw.moderator_panel(prepared)
    return params, prepared, frame


@pytest.fixture(scope="module")
def baseline(demo):
    params, prepared, frame = demo
    return aw.baseline_interactions(prepared, params, OUTCOME, frame)


@pytest.fixture(scope="module")
def groups(demo):
    params, prepared, frame = demo
    return aw.group_effects(prepared, params, OUTCOME, frame)


@pytest.fixture(scope="module")
def result(demo, baseline, groups):
    params, prepared, frame = demo
    practice = aw.practice_interactions(prepared, params, OUTCOME, frame)
    prediction = aw.predictions(prepared, params, OUTCOME, baseline, frame)
    return aw.collect(prepared, params, OUTCOME, baseline, practice, groups, prediction)


def test_baseline_moderators_are_pre_pilot_means(demo):
    _, prepared, _ = demo
    mods = aw.commune_moderators(prepared).set_index("commune_code")
    panel = prepared.panel.assign(commune_code=prepared.panel["commune_code"].astype(str))
    pre = panel[panel["wave_index"] < prepared.meta["pilot_wave"]]
    code = mods.index[0]
    for col in aw.FIDELITY:
        expected = pre.loc[pre["commune_code"] == code, col].mean()
        assert mods.loc[code, f"baseline_{col}"] == pytest.approx(expected)
    # pilot-period values only for the model's own practices (post-treatment, descriptive)
    assert {f"pilot_period_{c}" for c in aw.MODEL_PRACTICES} <= set(mods.columns)
    assert "pilot_period_one_stop_staff_per_1000" not in mods.columns
    assert len(mods) == prepared.communes["commune_code"].nunique()


def test_moderator_lists(demo):
    params, prepared, frame = demo
    continuous, skipped = aw.baseline_moderators(prepared, params, frame)
    assert continuous[0] == STAFF and "baseline_index" in continuous and not skipped
    assert all(c.startswith("baseline_") for c in continuous)
    assert all(c.startswith("pilot_period_") for c in aw.practice_moderators(frame))
    assert aw.group_moderators(prepared, params, frame) == ["commune_type", "district_name"]


def test_interaction_equals_library_call(demo, baseline):
    params, _, frame = demo
    table = baseline.table
    data = frame.dropna(subset=[OUTCOME, STAFF])
    direct = effect_by_moderator(
        data, OUTCOME, "treated", "commune_code", "wave_index", STAFF, "commune_code", "n_ballots"
    )
    row = table.set_index("moderator").loc[STAFF]
    assert row["effect"] == pytest.approx(direct.estimate)
    assert row["slope"] == pytest.approx(direct.terms["estimate"].iloc[1])
    assert row["n_treated_communes"] == 14
    # the CRV1 p-value and interval are the shown test only when their size was in the band
    checked = table["size_checked"].astype(bool)
    crv1_p = direct.terms["p_value"].iloc[1]
    expected = crv1_p if row["size_checked"] else row["slope_ri_p_value"]
    assert row["test_p_value"] == pytest.approx(expected)
    assert table.loc[~checked, ["slope_low", "slope_high", "slope_p_value"]].isna().all().all()
    low, high = params.inference.size_band
    ok = table[["size_placebo", "size_effect_removed"]].apply(
        lambda r: r.dropna().between(low, high).all() and r.notna().any(), axis=1
    )
    np.testing.assert_array_equal(checked, ok)
    np.testing.assert_allclose(table["slope_p_holm"], holm(table["test_p_value"]))
    assert (table["slope_p_holm"] >= table["test_p_value"]).all()


def test_choose_moderator_rule(baseline):
    table = baseline.table
    best = table.sort_values("slope_p_holm").iloc[0]
    assert aw.choose_moderator(table, alpha=best["slope_p_holm"] / 2) is None
    assert (
        aw.choose_moderator(table, alpha=min(best["slope_p_holm"] * 2, 0.999)) == best["moderator"]
    )
    assert aw.choose_moderator(table.iloc[0:0], 0.05) is None


def test_effects_rows_do_not_collide_and_flag_size(baseline):
    rows = ww.interaction_effects_rows(baseline)
    assert not rows.duplicated(["outcome", "estimator", "term", "inference"]).any()
    assert set(rows["estimator"]) == {f"twfe_by_{m}" for m in baseline.estimates}
    has_interval = rows["conf_low"].notna() & rows["conf_high"].notna()
    assert (rows.loc[has_interval, "size_checked"] == True).all()  # noqa: E712
    assert rows.loc[~has_interval, "size_checked"].isna().all()
    ri = rows[rows["inference"].str.startswith("randomisation")]
    assert list(ri["p_value"]) == list(baseline.table["slope_ri_p_value"])


def test_group_effect_equals_subsample_twfe(demo, groups):
    params, _, frame = demo
    cats = groups.tables["district_name"]
    assert cats["n_treated_communes"].sum() == 14
    np.testing.assert_array_equal(
        cats["inference_weak"], cats["n_treated_communes"] <= WEAK_TREATED_MAX
    )
    ever = frame.groupby("commune_code")["treated"].transform("max") > 0
    for r in cats.itertuples():
        sub = frame[~ever | (frame["district_name"] == r.category)]
        direct = twfe(
            sub,
            OUTCOME,
            "treated",
            unit="commune_code",
            time="wave_index",
            cluster="commune_code",
            weights="n_ballots",
        )
        assert r.estimate == pytest.approx(direct.estimate)
    types = groups.tables["commune_type"]
    assert set(types["category"]) == {"xa", "phuong", "thi_tran"}


def test_group_interval_only_when_size_checked(demo, groups):
    params, _, frame = demo
    types = groups.tables["commune_type"]
    strong = types[~types["inference_weak"]].iloc[0]
    ever = frame.groupby("commune_code")["treated"].transform("max") > 0
    sub = frame[~ever | (frame["commune_type"] == strong["category"])].dropna(subset=[OUTCOME])
    size = measure_size(
        sub,
        OUTCOME,
        "treated",
        "commune_code",
        "wave_index",
        cluster="commune_code",
        strata="commune_type",
        weights="n_ballots",
        methods=("crv1",),
        nulls=("placebo",),
        n_sims=params.inference.size_sims,
        seed=params.inference.seed,
        alpha=params.analysis.alpha,
    )
    placebo = float(size["rejection_rate"].iloc[0])
    worst = strong["size_rate"]
    assert abs(worst - params.analysis.alpha) >= abs(placebo - params.analysis.alpha) - 1e-12
    low, high = params.inference.size_band
    for table in groups.tables.values():
        checked = table["size_checked"].astype(bool)
        expected = (
            ~table["inference_weak"].astype(bool) & table["size_rate"].between(low, high)
        ).to_numpy()
        np.testing.assert_array_equal(checked, expected)
        assert table.loc[~checked, ["conf_low", "conf_high"]].isna().all().all()
        assert (table.loc[~checked, "show"] == "ri_p_value_only").all()


def test_weak_categories_show_the_permutation_p_value_not_an_interval(demo, groups):
    params, _, _ = demo
    cats = groups.tables["district_name"]
    assert cats["ri_p_value"].between(0, 1).all()
    assert (cats.loc[cats["inference_weak"], "show"] == "ri_p_value_only").all()
    shown = ww.category_display(cats, params, "en")
    interval = [c for c in shown.columns if "interval" in c][0]
    assert interval == "95% interval"
    no_interval = cats["conf_low"].isna().to_numpy()
    assert (shown[interval][no_interval] == "–").all()
    assert (shown[interval][~no_interval] != "–").all()
    rows = ww.group_effects_rows(groups)
    assert len(rows) == 2 * len(groups.combined)
    assert not rows.duplicated(["outcome", "estimator", "term", "inference"]).any()
    ri = rows[rows["inference"].str.startswith("randomisation")]
    assert ri["conf_low"].isna().all()
    assert list(shown["p (permutation)"]) == [format_p_value(p, "en") for p in cats["ri_p_value"]]


def test_district_permutation_p_value_equals_brute_force(demo, groups):
    """Re-assign the district's pilots among its communes in every possible way, refit TWFE
    (CRV1 t) each time: the share at least as extreme is the page's p-value."""
    _, _, frame = demo
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
    cats = groups.tables["district_name"].set_index("category")
    assert cats.loc[district, "ri_assignments"] == len(reference)
    assert cats.loc[district, "ri_p_value"] == pytest.approx(expected, abs=1e-12)


def test_dose_response_covers_all_pilots(baseline):
    dose = baseline.dose[baseline.dose["moderator"] == STAFF]
    assert len(dose) == 3
    assert dose["n_treated_communes"].sum() == 14
    assert (dose["bin_low"] <= dose["moderator_median"]).all()
    assert (dose["moderator_median"] <= dose["bin_high"]).all()


@pytest.mark.parametrize("p_holm", [0.001, 0.5])
def test_figure_title_agrees_with_the_table(baseline, p_holm):
    table = baseline.table.copy()
    table["slope_p_holm"] = p_holm
    forced = replace(baseline, table=table)
    fig = ww.dose_figure(forced, STAFF, "en")
    title = fig.axes[0].get_title(loc="left").replace("\n", " ")
    slope = float(forced.row(STAFF)["slope"])
    if p_holm < forced.alpha:
        assert title.startswith("The effect is larger" if slope > 0 else "The effect is smaller")
    else:
        assert title.startswith("No clear difference")
    assert format_p_value(p_holm, "en") in title
    assert title == ww.dose_title(forced, STAFF, "en")


def test_predictions_from_interaction_model(demo):
    params, prepared, frame = demo
    pred = aw.commune_predictions(prepared, params, STAFF, frame=frame)
    assert list(pred.columns) == aw.PREDICTION_COLUMNS
    assert set(pred["outcome"]) == set(aw.PREDICTION_OUTCOMES)
    n = prepared.communes["commune_code"].nunique()
    assert len(pred) == 2 * n
    est = aw.moderator_estimate(
        frame.dropna(subset=[OUTCOME, STAFF]), prepared, params, OUTCOME, STAFF
    )
    b0, b1 = est.terms["estimate"].iloc[:2]
    one = pred[pred["outcome"] == OUTCOME].iloc[3]
    expected = b0 + b1 * (one["moderator_value"] - est.model.centre)
    assert one["predicted_effect"] == pytest.approx(expected)
    assert one["conf_low"] < one["predicted_effect"] < one["conf_high"]
    assert pred.loc[pred["pilot"], "commune_code"].nunique() == 14


def test_predictions_average_effect(demo):
    params, prepared, frame = demo
    pred = aw.commune_predictions(prepared, params, None, frame=frame)
    direct = twfe(
        frame,
        OUTCOME,
        "treated",
        unit="commune_code",
        time="wave_index",
        cluster="commune_code",
        weights="n_ballots",
        ssc=params.analysis.ssc,
    )
    rows = pred[pred["outcome"] == OUTCOME]
    np.testing.assert_allclose(rows["predicted_effect"], direct.estimate)
    np.testing.assert_allclose(rows["conf_low"], direct.conf_int[0])
    assert (rows["model"] == "average_effect").all() and not rows["extrapolated"].any()
    summary = aw.prediction_summary(pred, OUTCOME).iloc[0]
    assert summary["n_communes"] == prepared.communes["commune_code"].nunique() - 14
    assert summary["min"] == pytest.approx(summary["max"])


@pytest.mark.parametrize("language", ["vi", "en"])
def test_text_in_both_languages(demo, result, language):
    params, _, _ = demo
    baseline = result.baseline
    shown = ww.interaction_display(baseline, language)
    assert len(shown) == len(baseline.table)
    first = shown.columns[0]
    assert shown[first].iloc[0] == ww.moderator_label(STAFF, language)
    during = ww.interaction_display(baseline, language, during_pilot=True)
    assert during.columns[0] != first
    assert ww.interaction_trust(baseline, language)
    types = result.groups.tables["commune_type"]
    shown_types = ww.category_display(types, params, language)
    weak_word = messages(language)["where_it_works.weak"]
    assert (shown_types.iloc[:, -1] == weak_word).sum() == int(types["inference_weak"].sum())
    text = ww.reading(result, params, language)
    assert "14" in text and ww.moderator_label(STAFF, language) in text
    assert "nan" not in text.lower()
    assert ww.finding(result, params, language).startswith(
        "Where it works" if language == "en" else "Hiệu quả ở đâu"
    )
    assert len(ww.prediction_display(result.prediction.summary, params, language)) == 2
    entry = ww.results_entry(result)
    assert entry["chosen_moderator"] == result.prediction.chosen
    assert len(entry["interactions"]) == len(baseline.table)
    assert entry["n_pilot"] == 14


def test_result_round_trips_through_json(tmp_path, result):
    from evaluation.analysis.base import load_result, save_result

    save_result(result, tmp_path, "where_it_works")
    loaded = load_result(tmp_path, "where_it_works")
    pd.testing.assert_frame_equal(
        loaded["baseline"]["table"][["moderator", "slope"]],
        result.baseline.table[["moderator", "slope"]],
    )


def test_message_keys_match_between_languages():
    keys = {
        lang: {
            k
            for k in messages(lang)
            if k.startswith("where_it_works.") or k.startswith("requirements.where_it_works")
        }
        for lang in ("vi", "en")
    }
    assert keys["vi"] == keys["en"]
    assert "hiệu quả" in messages("vi")["where_it_works.title"]
