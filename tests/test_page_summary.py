"""The summary page's library (evaluation.report.summary): reads what other pages wrote.

The page recomputes nothing, so the tests build the run folder's contents by hand (results.json
as page 03 writes it, effects and coverage tables, figures, findings) and check that every
sentence carries those numbers, in the language's format, and that a missing page is named in
one sentence instead of failing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evaluation.analysis import board
from evaluation.config import load_params
from evaluation.i18n import LANGUAGES, format_billion_vnd, format_number, t
from evaluation.report import summary as sm
from evaluation.report.effects import format_effect, inference_label

PROJECT = Path(__file__).resolve().parents[1]

HEADLINE = {
    "outcome": "satisfaction_index",
    "estimate": 0.436,
    "crv1_conf_int": [0.306, 0.566],
    "crv1_p_value": 1.3e-9,
    "few_cluster_method": "cr2_bm",
    "few_cluster_label": "CR2 (Bell-McCaffrey) with Bell-McCaffrey/Imbens-Kolesar df",
    "size_of_method": 0.034,
    "size_checked": True,
    "few_cluster_conf_int": [0.293, 0.579],
    "few_cluster_p_value": 5.9e-6,
    "n_pilot": 14,
    "n_communes": 109,
    "pretrend_p_value": 0.778,
}
WHERE = {
    "n_pilot": 14,
    "chosen_moderator": "baseline_one_stop_staff_per_1000",
    "interactions": [
        {
            "moderator": "baseline_one_stop_staff_per_1000",
            "outcome": "satisfaction_index",
            "slope": -0.21,
            "slope_low": -0.3,
            "slope_high": -0.1,
            "p_value": 0.002,
            "p_holm": 0.008,
        }
    ],
    "categories": {},
    "prediction": {},
}


def effects_table(coverage_low: float = 0.021, coverage_high: float = 0.060) -> pd.DataFrame:
    rows = [
        ("satisfaction_index", "twfe_household", "treated", 0.436, 0.293, 0.579),
        ("pct_satisfied", "twfe_household", "treated", 0.199, 0.139, 0.258),
        ("coverage", "twfe_commune_wave", "treated", 0.0406, coverage_low, coverage_high),
    ]
    return pd.DataFrame(
        rows, columns=["outcome", "estimator", "term", "estimate", "conf_low", "conf_high"]
    )


def coverage_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "commune_code": ["1", "1", "2", "2"],
            "pilot": [True, True, False, False],
            "coverage": [0.9, 0.8, 0.45, 0.7],
        }
    )


def full_outputs(tmp_path: Path) -> sm.RunOutputs:
    figures = {}
    for name in ("headline_effect", "event_study", "dose_response_baseline", "gain_cost_curve"):
        png = tmp_path / f"{name}.png"
        png.write_bytes(b"\x89PNG fake " + name.encode())
        figures[name] = (png, f"alt of {name}")
    return sm.RunOutputs(
        results={"headline": HEADLINE, "where_it_works": WHERE, "scaling": SCALING_06},
        effects=effects_table(),
        coverage=coverage_table(),
        figures=figures,
        findings={"01_data_quality": "data ok", "03_effects": "effect found"},
    )


@pytest.fixture(scope="module")
def params():
    # Fixed scaling values, so the expected wording does not follow edits of default.yaml.
    loaded = load_params(PROJECT / "params" / "default.yaml")
    scaling = loaded.scaling.model_copy(
        update={
            "budget_vnd": 3e9,
            "horizon_years": 3,
            "rollout_steps": 4,
            "conditions": {"min_one_stop_staff_per_1000": 0.8, "min_condolence_on_time": 0.6},
        }
    )
    return loaded.model_copy(update={"scaling": scaling})


@pytest.fixture
def outputs(tmp_path):
    return full_outputs(tmp_path)


# -- reading the run folder --------------------------------------------------------------------


def test_collect_reads_what_the_pages_wrote(tmp_path):
    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    (run / "figures").mkdir()
    (run / "findings").mkdir()
    (run / "results.json").write_text(json.dumps({"headline": HEADLINE}), "utf-8")
    effects_table().assign(term=["treated"] * 3).to_csv(run / "tables" / "effects.csv", index=False)
    coverage_table().to_csv(run / "tables" / "coverage_by_commune_wave.csv", index=False)
    (run / "figures" / "event_study.png").write_bytes(b"png")
    alts = {"event_study": "Biểu đồ nghiên cứu sự kiện", "no_png_saved": "x"}
    (run / "figures" / "alt_text.json").write_text(json.dumps(alts, ensure_ascii=False), "utf-8")
    (run / "findings" / "03_effects.txt").write_text("Điểm hài lòng tăng\n", "utf-8")
    (run / "findings" / "00_summary.txt").write_text("old summary", "utf-8")

    got = sm.collect(run)
    assert got.headline == HEADLINE
    assert list(got.effects["outcome"]) == ["satisfaction_index", "pct_satisfied", "coverage"]
    assert got.coverage["commune_code"].tolist() == ["1", "1", "2", "2"]
    assert got.figures == {
        "event_study": (run / "figures" / "event_study.png", alts["event_study"])
    }
    assert got.findings == {"03_effects": "Điểm hài lòng tăng"}


def test_collect_of_an_empty_run_and_a_wrong_folder(tmp_path):
    got = sm.collect(tmp_path)
    assert got.results == {} and got.effects is None and got.coverage is None
    assert got.figures == {} and got.findings == {}
    with pytest.raises(ValueError, match="run_dir"):
        sm.collect(tmp_path / "nope")


# -- the answer ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_answer_has_three_sentences_with_the_pages_numbers(outputs, language):
    effect, sure, where = sm.answer(outputs, language)
    assert effect.startswith(f"**{t('summary.label_effect', language)}:**")
    assert format_effect("satisfaction_index", 0.436, language) in effect
    assert format_effect("pct_satisfied", 0.199, language) in effect
    # How sure: the size-checked interval (not CRV1), in words: no method name on the board's
    # page (it is on page 3), and the pre-trend test as a reading, not a number.
    assert format_effect("satisfaction_index", 0.293, language) in sure
    assert format_effect("satisfaction_index", 0.579, language) in sure
    assert format_effect("satisfaction_index", 0.306, language) not in sure
    assert inference_label(HEADLINE["few_cluster_label"], language)[1:] not in sure
    assert "CR2" not in sure and format_number(0.778, language, 3) not in sure
    plain = sure.replace("\u00a0", " ")
    assert "p = <" not in plain and f"p < {format_number(0.001, language, 3)}" in plain
    # Where: the chosen moderator, a negative slope reads "smaller", Holm p-value.
    assert t("where_it_works.moderators.baseline_one_stop_staff_per_1000", language) in where
    assert t("summary.smaller", language) in where
    assert format_number(0.008, language, 3) in where


def test_vietnamese_and_english_numbers_differ_only_in_format(outputs):
    vi, en = sm.answer(outputs, "vi"), sm.answer(outputs, "en")
    assert "0,44" in vi[0] and "0.44" in en[0]
    assert "0.44" not in vi[0] and "0,44" not in en[0]


def test_uncertain_effect_and_diverging_trends_are_said_so(outputs):
    headline = {
        **HEADLINE,
        "estimate": -0.05,
        "few_cluster_conf_int": [-0.2, 0.1],
        "few_cluster_p_value": 0.41,
        "pretrend_p_value": 0.01,
    }
    changed = sm.RunOutputs(results={"headline": headline}, effects=outputs.effects)
    for language in LANGUAGES:
        effect, sure, _ = sm.answer(changed, language)
        expected_effect = t(
            "summary.effect_down",
            language,
            pilots=14,
            outcome=sm.outcome_label("satisfaction_index", language),
            effect=format_effect("satisfaction_index", 0.05, language),
            extra=sm.t(
                "summary.effect_extra",
                language,
                effect=format_effect("pct_satisfied", 0.199, language),
                direction=t("summary.rose", language),
            ),
        )
        assert effect.endswith(expected_effect)
        assert sure.endswith(
            t(
                "summary.sure_unclear_not_parallel",
                language,
                low=format_effect("satisfaction_index", -0.2, language),
                high=format_effect("satisfaction_index", 0.1, language),
                p=sm.p_text(0.41, language),
                level="95",
            )
        )


def test_an_interval_not_checked_on_this_design_is_never_shown(params):
    """The trust rule: no CRV1 fallback; without a size-checked interval the sentence says why."""
    unchecked = {**HEADLINE, "size_checked": False}
    sure = sm.certainty_sentence(sm.RunOutputs(results={"headline": unchecked}), "en")
    assert sure == t("summary.sure_none", "en")
    assert "0.31" not in sure and "0.29" not in sure
    said = {"vi": "Trang 3 nói vì sao.", "en": "Page 3 says why."}
    withheld = {
        **unchecked,
        "few_cluster_conf_int": [None, None],
        "interval_withheld_reason": "inference.withheld.one_treated_cluster",
        "interval_withheld_sentence": said,
    }
    for language in LANGUAGES:
        outputs = sm.RunOutputs(results={"headline": withheld})
        assert sm.certainty_sentence(outputs, language) == said[language]
    caveats = sm.caveats(sm.RunOutputs(results={"headline": unchecked}), params, "en")
    assert any("no interval is shown" in c for c in caveats)


def test_the_confidence_level_follows_alpha(tmp_path):
    (tmp_path / "params.yaml").write_text("analysis:\n  alpha: 0.1\n", "utf-8")
    outputs = sm.collect(tmp_path)
    outputs = sm.RunOutputs(results={"headline": HEADLINE}, alpha=outputs.alpha)
    assert "90% range" in sm.certainty_sentence(outputs, "en")


@pytest.mark.parametrize("language", LANGUAGES)
def test_pages_that_did_not_run_are_named_in_one_sentence(language, params):
    empty = sm.RunOutputs()
    effect, sure, where = sm.answer(empty, language)
    assert sm.page_label("03_effects", language) in effect
    assert sm.page_label("03_effects", language) in sure
    assert sm.page_label("05_where_it_works", language) in where
    assert sm.question(empty, params, language) == t("summary.question_generic", language)
    assert sm.key_figures(empty) == []
    assert sm.page_label("03_effects", language) in sm.missing_figures_sentence(empty, language)
    assert sm.page_label("06_scaling", language) in sm.options_note(empty, language)
    caveats = sm.caveats(empty, params, language)
    assert t("summary.caveat_few_pilots_unknown", language) in caveats
    assert sm.page_label("01_data_quality", language) in caveats[2]
    assert sm.page_label("04_robustness", language) in caveats[3]
    assert sm.findings_table(empty, language).empty
    missing = sm.other_pages_sentence(empty, language)
    assert all(sm.page_label(p, language) in missing for p in sm.SOURCES.values())


def test_no_chosen_moderator_gives_the_average_effect():
    ww = {**WHERE, "chosen_moderator": None}
    text = sm.where_sentence(sm.RunOutputs(results={"where_it_works": ww}), "vi")
    assert text == t("summary.where_average", "vi", pilots=14)


# -- figures ---------------------------------------------------------------------------------


def test_three_figures_effect_over_time_money_then_where(outputs):
    """No by-method chart on the board's page (its labels are method names): the effect over
    time, what the money buys, where it works."""
    assert sm.key_figures(outputs) == ["event_study", "gain_cost_curve", "dose_response_baseline"]
    assert sm.missing_figures_sentence(outputs, "vi") is None
    staffing = {**outputs.figures, "dose_response_baseline_one_stop_staff_per_1000": ("p", "a")}
    chosen = sm.key_figures(sm.RunOutputs(figures=staffing))
    assert chosen[-1] == "dose_response_baseline_one_stop_staff_per_1000"  # the review's proposal
    only_where = sm.RunOutputs(
        figures={k: v for k, v in outputs.figures.items() if not k.startswith("gain")}
    )
    assert sm.key_figures(only_where) == ["event_study", "dose_response_baseline"]
    assert sm.missing_figures_sentence(only_where, "en") == t("summary.figure_third_missing", "en")


def test_figure_html_embeds_the_png_with_escaped_alt_text():
    text = sm.figure_html(b"\x89PNG", 'Biểu đồ "A" <b>', "Hình 1. Tác động")
    assert 'src="data:image/png;base64,iVBORw=="' in text
    assert 'alt="Biểu đồ &quot;A&quot; &lt;b&gt;"' in text
    assert "<figcaption" in text and "Hình 1. Tác động" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_figure_captions_are_numbered(language):
    caption = sm.figure_caption("event_study", 2, language)
    assert caption == t(
        "summary.figure_number",
        language,
        number=2,
        caption=t("summary.figure_captions.event_study", language),
    )
    assert t("summary.figure_captions.other", language) in sm.figure_caption("x", 3, language)


# -- caveats ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_caveats_simulated_few_pilots_coverage(outputs, params, language):
    simulated, few, coverage, robust = sm.caveats(outputs, params, language)
    assert sm.page_label("04_robustness", language) in robust
    assert simulated == t("summary.caveat_simulated", language)
    assert "14" in few and "109" in few and sm.format_percent(0.034, language) in few
    mean = sum([0.9, 0.8, 0.45, 0.7]) / 4
    assert sm.format_percent(mean, language) in coverage
    assert t("summary.caveat_coverage_rose", language).split("{")[0] in coverage


def test_no_simulated_caveat_on_real_data(outputs, params):
    real = params.model_copy(
        update={"data": params.data.model_copy(update={"source": "files", "simulated": False})}
    )
    assert not real.simulated
    texts = sm.caveats(outputs, real, "vi")
    assert t("summary.caveat_simulated", "vi") not in texts and len(texts) == 3


def test_coverage_unchanged_reads_same(outputs):
    same = sm.RunOutputs(
        results=outputs.results, effects=effects_table(-0.01, 0.02), coverage=outputs.coverage
    )
    assert t("summary.caveat_coverage_same", "en").split("(")[0] in sm.coverage_caveat(same, "en")


# -- the decision ----------------------------------------------------------------------------

#: What page 06 writes when two of four candidates meet the conditions but cost more than the
#: budget together: the plan takes one of them; without the conditions the money buys more.
SCALING_06 = {
    "n_candidates": 4,
    "n_have_conditions": 2,
    "budget_vnd": 1e9,
    "plan_pool": "has_conditions",
    "plan_n_communes": 1,
    "plan_total_cost_vnd": 400e6,
    "plan_total_gain": 60.0,
    "plan_communes": ["Xã Cường"],
    "alternative_n_communes": 2,
    "alternative_total_cost_vnd": 300e6,
    "alternative_total_gain": 250.0,
    "alternative_communes": ["Xã An", "Xã Bình"],
    "alternative_failures": {"min_condolence_on_time": 2, "min_one_stop_staff_per_1000": 0},
    "new_communes_needed_80pct": 6,
    "wedge_n_units": 1,
    "rollout_steps": 4,
}


def scaling_tables(ready=(False, False, True, True)) -> dict[str, pd.DataFrame]:
    ce = pd.DataFrame(
        {
            "commune_code": ["A", "B", "C", "D"],
            "commune_name": ["Xã An", "Xã Bình", "Xã Cường", "Xã Dũng"],
            "pv_cost": [100e6, 200e6, 400e6, 800e6],
            "additional_satisfied_households": [100.0, 150.0, 60.0, 10.0],
        }
    )
    screen = pd.DataFrame({"commune_code": ["A", "B", "C", "D"], "has_conditions": list(ready)})
    plan = pd.DataFrame({"order": [1], "commune_code": ["C"], "commune_name": ["Xã Cường"]})
    wedge = pd.DataFrame({"commune_code": ["C"], "step": [1]})
    return {
        "cost_effectiveness": ce,
        "scaling_conditions": screen,
        "rollout_plan": plan,
        "stepped_wedge": wedge,
    }


def decision_outputs(**scaling: object) -> sm.RunOutputs:
    return sm.RunOutputs(
        results={"headline": HEADLINE, "scaling": {**SCALING_06, **scaling}},
        tables=scaling_tables(),
    )


def test_options_priced_from_what_page_06_writes():
    step = board.next_step(decision_outputs(), horizon_years=3)
    assert [o.option for o in step.options] == list(sm.OPTIONS)
    stop, every, plan, alt = step.options
    assert (stop.n_units, stop.cost_vnd, stop.gain_per_year) == (14, 0.0, 0.0)
    # Every commune with the conditions (C and D) costs more than the budget: shown, over budget.
    assert (every.n_units, every.cost_vnd, every.gain_per_year) == (2, 1200e6, 70.0)
    assert every.unspent_vnd == pytest.approx(-200e6)
    assert (plan.n_units, plan.cost_vnd, plan.gain_per_year) == (1, 400e6, 60.0)
    assert plan.unspent_vnd == pytest.approx(600e6) and plan.names == ("Xã Cường",)
    assert (alt.n_units, alt.cost_vnd, alt.gain_per_year) == (2, 300e6, 250.0)
    assert alt.names == ("Xã An", "Xã Bình")


def test_the_conditions_row_is_left_out_when_the_budget_plan_takes_them_all():
    outputs = sm.RunOutputs(
        results={"headline": HEADLINE, "scaling": SCALING_06},
        tables=scaling_tables(ready=(False, False, True, False)),
    )
    keys = [o.option for o in board.next_step(outputs, 3).options]
    assert keys == ["stop", "conditions_budget", "no_conditions_budget"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_options_table_cost_households_per_year_and_budget_left(params, language):
    table = sm.options_table(decision_outputs(), params, language)
    assert len(table) == 4
    assert table.columns.tolist()[2:5] == [
        t("summary.col_cost", language, years=params.scaling.horizon_years),
        t("summary.col_gain", language),
        t("summary.col_unspent", language),
    ]
    assert table.iloc[1:, 2].tolist() == [
        format_billion_vnd(v, language) for v in (1200e6, 400e6, 300e6)
    ]
    assert table.iloc[1:, 3].tolist() == [format_number(v, language, 0) for v in (70, 60, 250)]
    assert table.iloc[2, 4] == format_billion_vnd(600e6, language)
    # Over budget is said only where the cost is above the budget (row 2), never below it.
    assert t("summary.option_conditions_all_gives", language) == table.iloc[1, 5]
    assert "\u2212" in table.iloc[1, 4] and "\u2212" not in table.iloc[2, 4]


@pytest.mark.parametrize("language", LANGUAGES)
def test_next_sentence_names_the_trade_off_of_the_conditions(params, language):
    outputs = decision_outputs()
    text = sm.next_sentence(outputs, params, language)
    assert format_billion_vnd(1e9, language) in text
    assert (
        format_billion_vnd(400e6, language) in text and format_billion_vnd(600e6, language) in text
    )
    assert t("summary.next_tradeoff", language, n=2, gain="250") in text
    why = sm.tradeoff_sentence(outputs, params, language)
    assert why.startswith(t("summary.tradeoff_why", language).split("{")[0])
    assert sm.condition_text("min_condolence_on_time", 0.6, language) in why
    assert sm.condition_text("min_one_stop_staff_per_1000", 0.8, language) not in why
    assert "Xã Cường" in sm.plan_names_sentence(outputs, params, language)
    assert str(params.scaling.rollout_steps) in sm.phased_sentence(outputs, params, language)


def test_without_the_conditions_the_plan_sentence_has_no_trade_off(params):
    outputs = sm.RunOutputs(
        results={
            "headline": HEADLINE,
            "scaling": {
                **SCALING_06,
                "plan_pool": "unscreened",
                "alternative_total_cost_vnd": None,
            },
        },
        tables=scaling_tables(),
    )
    text = sm.next_sentence(outputs, params, "en")
    assert text.startswith(t("summary.next_sentence", "en").split("{")[0])
    assert sm.tradeoff_sentence(outputs, params, "en") is None


def test_options_without_scaling_page_keep_the_pilots_only(params):
    table = sm.options_table(sm.RunOutputs(results={"headline": HEADLINE}), params, "vi")
    assert len(table) == 1 and "14" in table.iloc[0, 0]
    assert sm.next_sentence(sm.RunOutputs(), params, "en") == t(
        "summary.missing", "en", page=sm.page_label("06_scaling", "en")
    )


def test_billions_of_dong():
    assert format_billion_vnd(2_950_000_000, "vi") == "2,95 tỷ đồng"
    assert format_billion_vnd(2_950_000_000, "en") == "VND 2.95 billion"
    assert format_billion_vnd(None, "en") == "–"


def test_decision_names_budget_and_horizon(outputs, params):
    text = sm.decision_text(outputs, params, "vi")
    assert "3,00 tỷ đồng" in text and "3 năm" in text


def test_text_tables_are_left_aligned(outputs, params):
    html = sm.options_display(sm.options_table(outputs, params, "en")).to_html()
    assert "text-align: left" in html and "text-align: right" in html


# -- what the page writes --------------------------------------------------------------------


def test_index_lines_are_plain_text_in_both_languages(outputs):
    lines = sm.headline_lines(outputs, load_params(PROJECT / "params" / "default.yaml"))
    assert set(lines) == set(LANGUAGES)
    for language in LANGUAGES:
        assert len(lines[language]) == 3
        assert not any("**" in line for line in lines[language])
        assert lines[language][0].startswith(t("summary.label_effect", language) + ":")
    assert sm.finding(outputs, "en") == lines["en"][0]
    assert lines["en"][2].startswith(t("summary.label_next", "en") + ":")


def test_results_entry_is_json(outputs, params):
    entry = sm.results_entry(outputs, params)
    assert json.loads(json.dumps(entry)) == entry
    assert entry["figures"] == ["event_study", "gain_cost_curve", "dose_response_baseline"]
    assert entry["effect_clear"] is True and entry["simulated"] is True
    assert entry["sections_missing"] == ["comparison", "robustness", "rollout_waves"]


def test_scaling_page_without_costs_says_so():
    outputs = sm.RunOutputs(results={"scaling": {"n_candidates": 4, "n_have_conditions": None}})
    assert sm.options_note(outputs, "en") == t("summary.options_no_costs", "en")


def test_collect_reads_the_scaling_tables(tmp_path):
    (tmp_path / "tables").mkdir()
    for name, frame in scaling_tables().items():
        frame.to_csv(tmp_path / "tables" / f"{name}.csv", index=False)
    got = sm.collect(tmp_path)
    assert sorted(got.tables) == sorted(board.SCALING_TABLES)
    assert got.tables["cost_effectiveness"]["commune_code"].tolist() == ["A", "B", "C", "D"]


def test_robustness_caveat_from_page_04():
    rb = {
        "outcome": "satisfaction_index",
        "breakdown_mbar": 1.75,
        "leave_one_district_out": {"Duy Tiên": 0.41, "Kim Bảng": 0.47, "Lý Nhân": None},
    }
    outputs = sm.RunOutputs(results={"headline": HEADLINE, "robustness": rb})
    text = sm.robustness_caveat(outputs, "vi")
    assert text.startswith(t("summary.caveat_robustness", "vi"))
    assert t("summary.caveat_breakdown", "vi", mbar="1,8") in text
    assert t("summary.caveat_districts", "vi", low="0,41\u00a0điểm", high="0,47\u00a0điểm") in text
    # No breakdown value (effect not clear) and no districts: nothing to say.
    bare = sm.RunOutputs(results={"robustness": {"breakdown_mbar": 0.0}})
    assert sm.robustness_caveat(bare, "en") == ""
