"""The workbooks staff open in Excel: the documents the board signs and every table's headers.

The rollout plan and the stepped-wedge order are built from the small demo by page 06's
analysis and written by the run context's ``save_table`` (as the notebook does), then opened
with openpyxl as Excel would read them.
"""

from __future__ import annotations

import json
import re
import zipfile
from datetime import date, datetime

import openpyxl
import pandas as pd
import pytest
from _demo import small_demo

from evaluation.analysis import scaling as sc
from evaluation.analysis.base import applies
from evaluation.i18n import t
from evaluation.report.run_context import RunContext
from evaluation.report.workbook import (
    DATE_FORMATS,
    MIN_WIDTH,
    PERCENT,
    SIGNABLE,
    WHOLE,
    column_label,
    readable,
    write_workbook,
)

EVIL = '=HYPERLINK("http://evil.example/","x")'
#: The day the run started (written into manifest.json as the runner does).
STARTED = datetime(2026, 3, 9, 14, 30)


@pytest.fixture(scope="module", params=["vi", "en"])
def books(request, tmp_path_factory):
    """Both signable workbooks and one ordinary table, saved through the run context."""
    language = request.param
    params, prepared = small_demo(language)
    result = sc.scaling_analysis(prepared, params)
    assert applies(result.plan) and applies(result.wedge)
    run_dir = tmp_path_factory.mktemp(f"run-{language}")
    (run_dir / "manifest.json").write_text(
        json.dumps({"started": STARTED.isoformat(timespec="seconds")}), "utf-8"
    )
    ctx = RunContext(run_dir=run_dir, params=params, prepared=prepared, notebook="06_scaling")
    plan = result.plan.table.copy()
    # names arrive from input files: one that Excel would run as a formula must stay text
    plan.loc[plan.index[0], "commune_name"] = EVIL
    plan.loc[plan.index[-1], "district_name"] = "+cmd|' /C calc'!A0"
    wedge = result.wedge.design.copy()
    wedge.loc[wedge.index[0], "commune_name"] = EVIL
    ctx.save_table(plan, "rollout_plan")
    ctx.save_table(wedge, "stepped_wedge")
    ctx.save_table(result.candidates.table, "scaling_candidates")
    return language, params, run_dir, plan, wedge, result


def sheet(path):
    return openpyxl.load_workbook(path).active


def header(ws, row: int) -> list[str]:
    return [c.value for c in ws[row]]


def column(ws, label: str, first: int = 3) -> list:
    """The cells of the column headed ``label`` (header in row ``first - 1``)."""
    j = header(ws, first - 1).index(label) + 1
    return [ws.cell(row=i, column=j) for i in range(first, ws.max_row + 1)]


def test_csv_keeps_snake_case_for_machines(books):
    _, _, run_dir, plan, wedge, _ = books
    csv = pd.read_csv(run_dir / "tables" / "rollout_plan.csv", nrows=0)
    assert list(csv.columns) == sc.PLAN_COLUMNS == list(plan.columns)
    assert list(pd.read_csv(run_dir / "tables" / "stepped_wedge.csv", nrows=0).columns) == list(
        wedge.columns
    )


def test_rollout_plan_headers_in_the_run_language(books):
    language, _, run_dir, *_ = books
    ws = sheet(run_dir / "tables" / "rollout_plan.xlsx")
    labels = header(ws, 2)
    expected = {
        "vi": ["Thứ tự", "Mã xã", "Xã", "Huyện", "Chi phí ban đầu (đồng)"],
        "en": ["Order", "Commune code", "Commune", "District", "Set-up cost (VND)"],
    }[language]
    assert labels[:5] == expected
    assert all(isinstance(x, str) and x for x in labels)
    assert not [x for x in labels if "_" in x], "a snake_case header reached the board"
    assert len(set(labels)) == len(labels)
    # the model-based gain band is withheld from readers, as on page 06
    assert len(labels) == len(SIGNABLE["rollout_plan"]) == len(sc.PLAN_COLUMNS) - 2


def test_rollout_plan_values_rounded_with_thousands_format(books):
    language, _, run_dir, plan, _, _ = books
    ws = sheet(run_dir / "tables" / "rollout_plan.xlsx")
    label = column_label("rollout_plan", "cost_vnd", language)
    cost = column(ws, label)
    assert [c.value for c in cost] == [round(v) for v in plan["cost_vnd"]]
    assert all(isinstance(c.value, int) and c.number_format == WHOLE for c in cost)
    gain = column(ws, column_label("rollout_plan", "expected_gain", language))
    assert [c.value for c in gain] == [round(v) for v in plan["expected_gain"]]
    assert all(isinstance(c.value, int) and c.number_format == WHOLE for c in gain)
    # running totals add up the rounded cells exactly, to the đồng and the household
    total = column(ws, column_label("rollout_plan", "cumulative_cost_vnd", language))
    assert total[-1].value == sum(c.value for c in cost)
    assert abs(total[-1].value - plan["cumulative_cost_vnd"].iloc[-1]) <= len(plan)
    households = column(ws, column_label("rollout_plan", "cumulative_gain", language))
    assert households[-1].value == sum(c.value for c in gain)
    rate = column(ws, column_label("rollout_plan", "discount_rate", language))
    assert {c.number_format for c in rate} == {PERCENT}
    assert {c.value for c in rate} == {0.05}
    yes = column(ws, column_label("rollout_plan", "has_conditions", language))
    assert {c.value for c in yes} <= {
        t("workbook.word_yes", language),
        t("workbook.word_no", language),
    }


def test_title_row_frozen_header_and_widths(books):
    language, params, run_dir, *_ = books
    for name in SIGNABLE:
        ws = sheet(run_dir / "tables" / f"{name}.xlsx")
        title = ws["A1"].value
        assert params.run_name in title
        day = {"vi": "09/03/2026", "en": "2026-03-09"}[language]
        assert day in title
        assert t("workbook.source_demo", language) in title
        assert t(f"workbook.documents.{name}", language) in title
        assert ws.freeze_panes == "A3"
        widths = [ws.column_dimensions[c.column_letter].width for c in ws[2]]
        assert all(w >= MIN_WIDTH for w in widths)
        names = header(ws, 2).index(column_label(name, "commune_name", language))
        assert widths[names] >= max(len(str(c.value)) for c in ws[ws[2][names].column_letter][2:])


def test_stepped_wedge_quarters_and_dates_as_the_language_writes_them(books):
    language, _, run_dir, _, wedge, _ = books
    ws = sheet(run_dir / "tables" / "stepped_wedge.xlsx")
    quarters = [c.value for c in column(ws, column_label("stepped_wedge", "start_wave", language))]
    pattern = {"vi": r"Q[1-4]/\d{4}", "en": r"Q[1-4] \d{4}"}[language]
    assert all(re.fullmatch(pattern, q) for q in quarters), quarters[:3]
    dates = column(ws, column_label("stepped_wedge", "start_date", language))
    assert all(isinstance(c.value, datetime) for c in dates)
    assert {c.number_format for c in dates} == {DATE_FORMATS[language]}
    steps = [c.value for c in column(ws, column_label("stepped_wedge", "step", language))]
    assert steps == sorted(steps) and set(steps) == set(wedge["step"])
    # machine-only period numbers are not on the signed document
    assert column_label("stepped_wedge", "start_period", language) not in header(ws, 2)
    codes = [c.value for c in column(ws, column_label("stepped_wedge", "commune_code", language))]
    assert sorted(codes) == sorted(wedge["commune_code"].astype(str))


def _formula_cells(path) -> list[str]:
    book = openpyxl.load_workbook(path)
    found = [
        c.coordinate for ws in book for row in ws.iter_rows() for c in row if c.data_type == "f"
    ]
    with zipfile.ZipFile(path) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        xml = b"".join(archive.read(n) for n in sheets)
    return found + (["<f> element"] if re.search(rb"<f[ >]", xml) else [])


def test_no_formula_cells_text_stays_text(books):
    language, _, run_dir, *_ = books
    for name in (*SIGNABLE, "scaling_candidates"):
        assert _formula_cells(run_dir / "tables" / f"{name}.xlsx") == [], name
    ws = sheet(run_dir / "tables" / "rollout_plan.xlsx")
    names = column(ws, column_label("rollout_plan", "commune_name", language))
    assert names[0].value == EVIL and names[0].data_type == "s"
    districts = column(ws, column_label("rollout_plan", "district_name", language))
    assert districts[-1].value.startswith("+cmd") and districts[-1].data_type == "s"


def test_every_table_gets_language_headers(books):
    language, params, run_dir, _, _, result = books
    ws = sheet(run_dir / "tables" / "scaling_candidates.xlsx")
    labels = header(ws, 1)
    frame = result.candidates.table
    assert len(labels) == frame.shape[1]
    assert not [x for x in labels if "_" in x]
    assert labels[0] == {"vi": "Mã xã", "en": "Commune code"}[language]
    assert {"vi": "Số hộ", "en": "Households"}[language] in labels
    outcome = t("outcomes.pct_satisfied", language)
    assert any(outcome in x for x in labels), labels  # effect_pct_satisfied, in words
    assert ws.freeze_panes == "A2"
    # values are those of the CSV (an ordinary table is not rounded)
    households = column(ws, labels[frame.columns.get_loc("households")], first=2)
    assert [c.value for c in households] == frame["households"].tolist()


def test_effects_workbook_written_by_add_effects(tmp_path):
    params, prepared = small_demo("vi")
    ctx = RunContext(run_dir=tmp_path, params=params, prepared=prepared, notebook="03_effects")
    tidy = pd.DataFrame(
        [
            {
                "outcome": EVIL,
                "estimand": "ATT",
                "estimator": "twfe",
                "term": "treated",
                "estimate": 0.31,
                "std_error": 0.05,
                "conf_low": 0.2,
                "conf_high": 0.4,
                "p_value": 0.001,
                "n_obs": 100,
                "n_clusters": 10,
                "n_treated_clusters": 3,
                "inference": "cr2",
            }
        ]
    )
    ctx.add_effects(tidy)
    ws = sheet(tmp_path / "tables" / "effects.xlsx")
    assert header(ws, 1)[:3] == ["Chỉ tiêu", "Đại lượng ước lượng", "Phương pháp"]
    assert ws["A2"].value == EVIL and ws["A2"].data_type == "s"
    assert _formula_cells(tmp_path / "tables" / "effects.xlsx") == []
    assert pd.read_csv(tmp_path / "tables" / "effects.csv").columns[0] == "outcome"


def test_unknown_columns_get_a_readable_header_never_raw(tmp_path):
    assert readable("cost_per_new_unit") == "Cost per new unit"
    assert readable("vnd_total") == "VND total"
    assert readable("n_new_units") == "Number of new units"
    assert column_label("any_table", "cost_per_new_unit", "vi") == "Cost per new unit"
    # a dictionary entry wins over the fallback, in each language
    assert column_label("any_table", "households", "vi") == "Số hộ"
    assert column_label("any_table", "households", "en") == "Households"
    path = write_workbook(
        pd.DataFrame(
            {"brand_new_column": [1.5], "commune_code": ["01234"], "cost_vnd": [165529230.32]}
        ),
        tmp_path / "t.xlsx",
        "any_table",
        "en",
    )
    ws = sheet(path)
    assert header(ws, 1) == ["Brand new column", "Commune code", "Total cost, present value (VND)"]
    assert ws["B2"].value == "01234"  # codes keep their leading zero
    # an ordinary table keeps the exact amount and shows it whole, thousands-separated
    assert ws["C2"].value == 165529230.32 and ws["C2"].number_format == WHOLE
    assert ws["A2"].number_format == "General"


def test_same_table_same_bytes(tmp_path):
    frame = pd.DataFrame({"commune_code": ["1", "2"], "households": [10, 20]})
    first = write_workbook(frame, tmp_path / "a.xlsx", "t", "vi").read_bytes()
    second = write_workbook(frame, tmp_path / "b.xlsx", "t", "vi").read_bytes()
    assert first == second


def test_run_date_from_manifest_else_today(tmp_path):
    params, prepared = small_demo("vi")
    ctx = RunContext(run_dir=tmp_path, params=params, prepared=prepared, notebook="06_scaling")
    assert ctx.run_date() == date.today()
    (tmp_path / "manifest.json").write_text(json.dumps({"started": "2025-12-31T23:59:00"}))
    assert ctx.run_date() == date(2025, 12, 31)


def test_a_panel_gets_its_own_nouns(tmp_path):
    from shapes import build_shape

    from evaluation.config import load_params

    params = load_params(build_shape("panel_yearly_staggered", tmp_path))
    assert column_label("stepped_wedge", "commune_code", "en", params) == "District code"
    assert column_label("stepped_wedge", "commune_code", "vi", params) == "Mã huyện"
    assert column_label("stepped_wedge", "district_name", "en", params) == "Stratum"
    # the panel gives its periods as plain numbers (frequency as_given): "period"
    assert column_label("stepped_wedge", "start_wave", "en", params) == "Starts in period"
    assert column_label("stepped_wedge", "start_wave", "vi") == "Bắt đầu từ quý"  # Hà Nam
