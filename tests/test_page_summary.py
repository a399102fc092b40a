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
SCALING = {
    "options": [
        {"option": "stop", "n_communes": 14, "cost_vnd": 420_000_000},
        {
            "option": "budget",
            "n_communes": 31,
            "cost_vnd": 2_950_000_000,
            "gain": 1234.4,
            "gain_low": 800,
            "gain_high": 1700,
        },
        {"option": "pilot_plus", "label": {"vi": "Phương án riêng", "en": "Own option"}},
    ]
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
        results={"headline": HEADLINE, "where_it_works": WHERE, "scaling": SCALING},
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
    # How sure: the few-cluster interval (not CRV1), its method and the pre-trend p-value.
    assert format_effect("satisfaction_index", 0.293, language) in sure
    assert format_effect("satisfaction_index", 0.579, language) in sure
    assert format_effect("satisfaction_index", 0.306, language) not in sure
    assert sm.mid_sentence(inference_label(HEADLINE["few_cluster_label"], language)) in sure
    assert format_number(0.778, language, 3) in sure
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
                method=sm.mid_sentence(inference_label(HEADLINE["few_cluster_label"], language)),
                pretrend=sm.p_text(0.01, language),
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
    assert "90% confidence interval" in sm.certainty_sentence(outputs, "en")


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


def test_three_figures_headline_event_study_then_scaling_first(outputs):
    assert sm.key_figures(outputs) == ["headline_effect", "event_study", "gain_cost_curve"]
    assert sm.missing_figures_sentence(outputs, "vi") is None
    only_where = sm.RunOutputs(
        figures={k: v for k, v in outputs.figures.items() if not k.startswith("gain")}
    )
    assert sm.key_figures(only_where)[-1] == "dose_response_baseline"
    two = sm.RunOutputs(figures={k: outputs.figures[k] for k in sm.MAIN_FIGURES})
    assert sm.missing_figures_sentence(two, "en") == t("summary.figure_third_missing", "en")


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


@pytest.mark.parametrize("language", LANGUAGES)
def test_options_with_costs_from_the_scaling_page(outputs, params, language):
    table = sm.options_table(outputs, params, language)
    assert len(table) == 3
    cost = table.iloc[:, 2].tolist()
    assert cost[:2] == [
        format_billion_vnd(420e6, language),
        format_billion_vnd(2.95e9, language),
    ]
    assert cost[2] == "–"
    assert table.iloc[1, 3] == (
        f"{format_number(1234.4, language, 0)} ({format_number(800, language, 0)} – "
        f"{format_number(1700, language, 0)})"
    )
    assert table.iloc[2, 0] == {"vi": "Phương án riêng", "en": "Own option"}[language]
    assert table.columns[2] == t("summary.col_cost", language, years=params.scaling.horizon_years)
    assert sm.options_note(outputs, language) == t("summary.options_source", language)


def test_options_without_scaling_page_list_the_four_choices(params):
    table = sm.options_table(sm.RunOutputs(results={"headline": HEADLINE}), params, "vi")
    assert len(table) == len(sm.OPTIONS)
    assert (table.iloc[:, 2] == "–").all()
    assert "14" in table.iloc[0, 0]
    assert "3,00 tỷ đồng" in table.iloc[2, 0]
    assert str(params.scaling.rollout_steps) in table.iloc[3, 0]
    assert "0,8" in table.iloc[1, 0] and "60%" in table.iloc[1, 0]


def test_billions_of_dong():
    assert format_billion_vnd(2_950_000_000, "vi") == "2,95 tỷ đồng"
    assert format_billion_vnd(2_950_000_000, "en") == "VND 2.95 billion"
    assert format_billion_vnd(None, "en") == "–"


def test_decision_names_budget_and_horizon(outputs, params):
    text = sm.decision_text(outputs, params, "vi")
    assert "14" in text and "3,00 tỷ đồng" in text and "3 năm" in text


def test_text_tables_are_left_aligned(outputs, params):
    html = sm.options_display(sm.options_table(outputs, params, "en")).to_html()
    assert "text-align: left" in html and "text-align: right" in html


# -- what the page writes --------------------------------------------------------------------


def test_index_lines_are_plain_text_in_both_languages(outputs):
    lines = sm.headline_lines(outputs)
    assert set(lines) == set(LANGUAGES)
    for language in LANGUAGES:
        assert len(lines[language]) == 3
        assert not any("**" in line for line in lines[language])
        assert lines[language][0].startswith(t("summary.label_effect", language) + ":")
    assert sm.finding(outputs, "en") == lines["en"][0]


def test_results_entry_is_json(outputs, params):
    entry = sm.results_entry(outputs, params)
    assert json.loads(json.dumps(entry)) == entry
    assert entry["figures"] == ["headline_effect", "event_study", "gain_cost_curve"]
    assert entry["effect_clear"] is True and entry["simulated"] is True
    assert entry["sections_missing"] == ["comparison", "robustness", "rollout_waves"]


SCALING_06 = {
    "n_candidates": 4,
    "n_have_conditions": 1,
    "budget_vnd": 3e9,
    "plan_n_communes": 2,
    "plan_total_cost_vnd": 300e6,
    "plan_total_gain": 250.0,
    "new_communes_needed_80pct": 6,
    "rollout_steps": 4,
}


def scaling_tables(wedge_codes=("A", "B")) -> dict[str, pd.DataFrame]:
    ce = pd.DataFrame(
        {
            "commune_code": ["A", "B", "C", "D"],
            "pv_cost": [100e6, 200e6, 400e6, 800e6],
            "additional_satisfied_households": [100.0, 150.0, 60.0, 10.0],
        }
    )
    screen = pd.DataFrame(
        {"commune_code": ["A", "B", "C", "D"], "has_conditions": [False, False, True, False]}
    )
    plan = pd.DataFrame(
        {
            "commune_code": ["A", "B"],
            "expected_gain_low": [80.0, 100.0],
            "expected_gain_high": [120.0, 200.0],
        }
    )
    wedge = pd.DataFrame(
        {"commune_code": list(wedge_codes), "step": range(1, len(wedge_codes) + 1)}
    )
    return {
        "cost_effectiveness": ce,
        "scaling_conditions": screen,
        "rollout_plan": plan,
        "stepped_wedge": wedge,
    }


def test_options_priced_from_what_page_06_writes(params):
    outputs = sm.RunOutputs(
        results={"headline": HEADLINE, "scaling": SCALING_06}, tables=scaling_tables()
    )
    stop, conditions, budget, phased = sm.scaling_options(outputs)
    assert stop == {"option": "stop", "n_communes": 14, "cost_vnd": 0.0, "gain": 0.0}
    # Only commune C meets the conditions: its cost and gain from the cost-effectiveness table.
    assert conditions == {"option": "conditions", "n_communes": 1, "cost_vnd": 400e6, "gain": 60.0}
    assert budget == {
        "option": "budget",
        "n_communes": 2,
        "cost_vnd": 300e6,
        "gain": 250.0,
        # page 06 withheld the plan's model-based band (not size-checked): so does the summary
        "gain_low": None,
        "gain_high": None,
    }
    # The steps cover the plan's communes: same cost and gain.
    assert phased == {**budget, "option": "phased"}
    checked = sm.RunOutputs(
        results={
            "headline": HEADLINE,
            "scaling": {**SCALING_06, "plan_gain_band_size_checked": True},
        },
        tables=scaling_tables(),
    )
    assert sm.scaling_options(checked)[2]["gain_low"] == 180.0
    other = sm.RunOutputs(
        results={"scaling": SCALING_06}, tables=scaling_tables(wedge_codes=("C", "D"))
    )
    assert sm.scaling_options(other)[-1] == {
        "option": "phased",
        "n_communes": 2,
        "cost_vnd": 1200e6,
        "gain": 70.0,
    }
    table = sm.options_table(outputs, params, "vi")
    assert table.iloc[2, 2] == "0,30 tỷ đồng" and table.iloc[2, 3] == "250"
    checked_table = sm.options_table(checked, params, "vi")
    assert checked_table.iloc[2, 3] == "250 (180 – 320)"
    note = sm.options_note(outputs, "vi")
    assert note.startswith(t("summary.options_source", "vi"))
    assert t("summary.options_power", "vi", n=6) in note


def test_scaling_page_without_costs_says_so():
    outputs = sm.RunOutputs(results={"scaling": {"n_candidates": 4, "n_have_conditions": None}})
    assert sm.options_note(outputs, "en") == t("summary.options_no_costs", "en")


def test_collect_reads_the_scaling_tables(tmp_path):
    (tmp_path / "tables").mkdir()
    for name, frame in scaling_tables().items():
        frame.to_csv(tmp_path / "tables" / f"{name}.csv", index=False)
    got = sm.collect(tmp_path)
    assert sorted(got.tables) == sorted(sm.SCALING_TABLES)
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
