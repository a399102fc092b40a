"""Formats and names the board reads: dates, quarters, the board's own name, the index page.

Vietnamese pages write dates dd/mm/yyyy and quarters Q3/2022; English pages write quarters
Q3 2022. The data's own forms (``2022Q3``, ``2020-01-01``) stay in params, CSV tables and the
data contract's rules, never in a sentence a reader sees.
"""

from __future__ import annotations

import html
import json
import re
import string
from datetime import date, datetime
from pathlib import Path

import pytest
from _demo import small_demo

from evaluation.i18n import LANGUAGES, format_date, format_quarter, messages, t
from evaluation.measures import period_label
from evaluation.report.render import page_title, write_index
from evaluation.report.run_context import RunContext
from evaluation.report.wording import board_name, reader_value

PROJECT = Path(__file__).resolve().parents[1]
#: The data's own forms of a quarter, a day and a month.
DATA_FORMS = re.compile(r"\b\d{4}Q[1-4]\b|\b\d{4}-\d{2}-\d{2}\b|\b\d{4}-(0[1-9]|1[0-2])\b")
#: Messages that state the data contract's rule for a cell of an input file: they must show
#: the form the file holds (``2019Q4``), so they are the one place the data's forms appear.
CONTRACT_RULES = ("validation.",)
BOARD = {"vi": "Ban Dân vận Tỉnh ủy", "en": "Provincial Party Committee's Mass Mobilisation Board"}
OLD_BOARD_NAMES = ("Ban Chỉ đạo", "Steering Committee", "Steering Board")


# -- periods and dates ---------------------------------------------------------------------------


def test_quarter_labels_in_both_languages():
    q4_2019 = 199  # pandas' quarterly ordinal of 2019Q4
    assert period_label(q4_2019) == "2019Q4"  # the data's label (params, CSV)
    assert period_label(q4_2019, "", "vi") == "Q4/2019"
    assert period_label(q4_2019, "", "en") == "Q4 2019"
    assert period_label(q4_2019 + 11, "", "vi") == "Q3/2022"
    assert format_quarter("2022Q3", "vi") == "Q3/2022"
    assert format_quarter("2022Q3", "en") == "Q3 2022"
    assert format_quarter("2014", "en") == "2014"  # a year is left alone


def test_panel_periods_in_both_languages():
    assert period_label(2014, "panel", "vi", "integer") == "2014"
    assert period_label(199, "panel", "vi", "quarter") == "Q4/2019"
    assert period_label(199, "panel", "en", "quarter") == "Q4 2019"
    october_2019 = (2019 - 1970) * 12 + 9  # pandas' monthly ordinal
    assert period_label(october_2019, "panel", None, "month") == "2019-10"
    assert period_label(october_2019, "panel", "vi", "month") == "10/2019"


def test_dates_dd_mm_yyyy_in_vietnamese():
    assert format_date("2020-01-01", "vi") == "01/01/2020"
    assert format_date(date(2022, 7, 1), "vi") == "01/07/2022"
    assert format_date(date(2022, 7, 1), "en") == "2022-07-01"


@pytest.mark.parametrize(
    ("value", "vi", "en"),
    [
        ("2020-01-01", "01/01/2020", "2020-01-01"),
        (date(2020, 1, 1), "01/01/2020", "2020-01-01"),
        (datetime(2021, 3, 9, 8, 0), "09/03/2021", "2021-03-09"),
        ("2022Q3", "Q3/2022", "Q3 2022"),
        ("2020-13-45", "2020-13-45", "2020-13-45"),  # not a date: left as written
        ("Xã 2020-01-01 Bắc", "Xã 2020-01-01 Bắc", "Xã 2020-01-01 Bắc"),  # only whole values
        (0.25, 0.25, 0.25),
    ],
)
def test_reader_value(value, vi, en):
    assert reader_value(value, "vi") == vi
    assert reader_value(value, "en") == en


def test_unit_map_named_by_its_date_in_the_page_language():
    # page 01 passes the target map's date as the data write it (harmonise.target_map)
    for language, expected in (("vi", "bản đồ 01/01/2020"), ("en", "2020-01-01")):
        params, prepared = small_demo(language)
        ctx = RunContext(Path("."), params, prepared, "01_data_quality")
        text = ctx.t("dq.map_intro", target=params.harmonise.target_map.isoformat())
        assert expected in text
        if language == "vi":
            assert "2020-01-01" not in text
        # a date object reads the same
        assert ctx.t("dq.map_intro", target=params.harmonise.target_map) == text


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_message_writes_the_data_forms(language):
    found = {
        key: text
        for key, text in messages(language).items()
        if not key.startswith(CONTRACT_RULES) and DATA_FORMS.search(text)
    }
    assert not found, found


def test_the_data_forms_check_sees_them():
    assert DATA_FORMS.search("từ 2022Q3")
    assert DATA_FORMS.search("bản đồ 2020-01-01")
    assert DATA_FORMS.search("tháng 2019-10")
    assert not DATA_FORMS.search("Q3/2022, 01/01/2020, 1.000-2.000 hộ")


# -- the board's name ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_board_named_in_one_place(language):
    assert board_name(language) == BOARD[language]
    assert BOARD[language] in page_title("00_summary", language)
    # any other message naming the board names it in full, with the same words
    stems = {"vi": "Dân vận", "en": "Mass Mobilisation"}
    for key, text in messages(language).items():
        if stems[language] in text and key != "board.name":
            assert BOARD[language] in text, key


def test_no_old_name_of_the_board_anywhere():
    sources = [
        *sorted((PROJECT / "src" / "evaluation").rglob("*.py")),
        *sorted((PROJECT / "src" / "evaluation" / "messages").rglob("*.yaml")),
        *sorted((PROJECT / "notebooks").glob("*.ipynb")),
    ]
    assert len(sources) > 20
    found = [
        f"{path.relative_to(PROJECT)}: {name}"
        for path in sources
        for name in OLD_BOARD_NAMES
        if name.lower() in path.read_text("utf-8").lower()
    ]
    assert not found, found


# -- wording the issue named ------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_mean_of_a_mean(language):
    for outcome in ("satisfaction_index", "pct_satisfied"):
        text = t(
            "effects_page.compare_intro",
            language,
            outcome=t(f"outcomes.{outcome}", language),
            treated="A",
            comparison="B",
        )
        assert "Trung bình của điểm hài lòng trung bình" not in text
        assert not re.search(r"\bmean mean\b", text, re.IGNORECASE)


def _fill(key: str, language: str, label: str) -> str:
    text = messages(language)[key]
    names = {f[1] for f in string.Formatter().parse(text) if f[1]}
    return t(key, language, **{n: label for n in names})


@pytest.mark.parametrize("language", LANGUAGES)
def test_labels_are_not_put_inside_a_second_pair_of_brackets(language):
    # characteristic and outcome names carry their own brackets ("thang 1–5"); the sentences
    # that name them must not wrap them in another pair: "(phường hoặc thị trấn))"
    keys = [
        "comparison.weighting_balanced",
        "comparison.weighting_unbalanced",
        "comparison.effect_intro",
        "comparison.finding",
        "requirements.propensity_fit.hanam",
        "requirements.propensity_fit.panel",
        "requirements.effects_outcome_did",
    ]
    table = messages(language)
    labels = [
        v for k, v in table.items() if k.startswith(("comparison.characteristics.", "outcomes."))
    ]
    assert any("(" in label for label in labels)
    for key in keys:
        for label in labels:
            assert "))" not in _fill(key, language, label), (key, label)
    assert "(" not in table["comparison.characteristics.urban"]


# -- the index page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_index_opens_with_the_summary_and_has_no_status_column(tmp_path, language):
    manifest = {
        "git_commit": "abc123",
        "started": "2026-03-09T14:30:00",
        # the runner lists the summary last (it reads the other pages' results)
        "notebooks": [
            {"name": "01_data_quality", "status": "ok"},
            {"name": "02_comparison", "status": "failed"},
            {"name": "00_summary", "status": "ok"},
        ],
    }
    for name in ("00_summary", "01_data_quality"):
        (tmp_path / f"{name}.html").write_text("<html></html>", "utf-8")
    findings = tmp_path / "findings"
    findings.mkdir()
    (findings / "01_data_quality.txt").write_text("finding one", "utf-8")
    before = json.dumps(manifest)
    page = write_index(tmp_path, manifest, language, simulated=True).read_text("utf-8")
    rows = re.findall(r"<tr><td>(.*?)</td>\s*<td>(.*?)</td></tr>", page, re.S)
    assert [html.unescape(re.sub(r"<[^>]+>", "", title)) for title, _ in rows] == [
        page_title(n, language) for n in ("00_summary", "01_data_quality", "02_comparison")
    ]
    assert page.index('href="00_summary.html"') < page.index('href="01_data_quality.html"')
    assert page.count("<th>") == 2  # page and finding: no status column
    assert 'class="status-' not in page
    assert rows[1][1] == "finding one"
    assert rows[2][1] == t("run.page_not_made", language)  # the failed page says so
    assert 'href="02_comparison.html"' not in page
    assert json.dumps(manifest) == before  # statuses stay in the manifest
