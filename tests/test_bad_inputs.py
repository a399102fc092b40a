"""Bad inputs as a new user makes them: each is refused with its own message, or runs with a
warning or a plain note, and never ends in a bare Python error.

Every case starts from the small valid data set of ``conftest.py`` (or a small generic panel),
breaks one thing and checks the outcome class and the exact rule (and, where it matters, the
column and value) of the problem table:

* ``refused``: :func:`evaluation.prepare.prepare_inputs` (or the design check run by ``validate``)
  raises the package's :class:`DataValidationError` with a problem-table row;
* ``params``: the parameter file is refused with a :class:`ParamsError` naming the key;
* ``runs``: the data are prepared (possibly with warnings, which ``validate`` prints and page 01
  repeats).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import (
    CHANGES,
    DEFAULT_PARAMS,
    NHAN_HUNG,
    PILOTS,
    UNITS_2019,
    UNITS_2020,
    SmallData,
    build_small_data,
    write_csv,
)

from evaluation.analysis.checks import check_design
from evaluation.config import ParamsError, load_params
from evaluation.data.problems import DataValidationError
from evaluation.data.schemas import RULES, rule_text
from evaluation.prepare import prepare_inputs

ROLLOUT_HEADER = ["commune_code", "start_date", "source"]
COST_HEADER = ["commune_code", "item", "setup_vnd", "yearly_vnd"]


# --------------------------------------------------------------------------------------------
# Helpers


@dataclass
class Outcome:
    """What validation made of one input: its class, the problem table, the error text."""

    kind: str  # "refused" | "params" | "runs"
    problems: pd.DataFrame = field(default_factory=pd.DataFrame)
    message: str = ""
    prepared: object = None


def outcome_of(params_file: Path) -> Outcome:
    """Load, prepare and check the design as ``evaluation validate`` does.

    Any exception other than the package's own (ParamsError, DataValidationError) fails the test.
    """
    try:
        params = load_params(params_file)
    except ParamsError as err:
        return Outcome("params", message=str(err))
    try:
        prepared = prepare_inputs(params)
        check_design(prepared, params)
    except DataValidationError as err:
        return Outcome("refused", err.problems, str(err))
    except ParamsError as err:  # a window bound that is not a period of these data
        return Outcome("params", message=str(err))
    return Outcome("runs", prepared.problems, prepared=prepared)


def rule_wording(rule: str) -> str:
    """A rule's English wording (its name in the messages), or the literal text given."""
    return RULES[rule][0] if rule in RULES else rule


def rows_of(result: Outcome, rule: str) -> pd.DataFrame:
    wording = rule_wording(rule)
    return result.problems[result.problems["rule"].str.contains(wording, regex=False)]


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    return lines[0], lines[1:]


def set_cell(path: Path, row: int, column: str, value: str) -> None:
    """Set one cell (``row`` 0 = first record) of a CSV written by conftest."""
    header, rows = read_rows(path)
    rows[row][header.index(column)] = value
    write_csv(path, header, rows, bom=path.name == "ballots.csv")


def edit_rows(path: Path, change: Callable[[list[list[str]]], list[list[str]]]) -> None:
    header, rows = read_rows(path)
    write_csv(path, header, change(rows), bom=path.name == "ballots.csv")


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]], merge: str | None = None):
    """A workbook with the given sheets (first = first); ``merge`` merges a range of the last."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    book.save(path)
    return path


# --------------------------------------------------------------------------------------------
# Cases on the Hà Nam file contract


@dataclass(frozen=True)
class Case:
    """One bad input: how to break the small data set, and what validation must say."""

    name: str
    breaks: Callable[[SmallData], dict | None]
    kind: str
    rule: str | None = None
    column: str | None = None
    value: str | None = None


def cells(table: str, row: int, **values: str) -> Callable[[SmallData], None]:
    """Set several cells of one record of ``table`` (a SmallData attribute)."""

    def breaks(d: SmallData) -> None:
        for column, value in values.items():
            set_cell(getattr(d, table), row, column, value)

    return breaks


def _waves(d: SmallData, first: str, second: str) -> None:
    set_cell(d.ballots, 0, "wave", first)
    set_cell(d.ballots, 1, "wave", second)


def _periods(d: SmallData, first: str, second: str) -> None:
    set_cell(d.admin, 0, "period", first)
    set_cell(d.admin, 1, "period", second)


def _rollout_without_dates(d: SmallData) -> None:
    edit_rows(d.rollout, lambda rows: [[r[0], "", ""] for r in rows])


def _dissolved_pilot(d: SmallData) -> None:
    # Nhân Hưng was merged into Nhân Đạo on 2020-01-01: it cannot start in 2021.
    edit_rows(d.rollout, lambda rows: [*rows, [NHAN_HUNG, "2021-01-01", "test"]])


def _duplicate_household(d: SmallData) -> None:
    edit_rows(d.ballots, lambda rows: [*rows, ["Z99999", *rows[0][1:]]])


def _stray_wave(wave: str, date: str) -> Callable[[SmallData], None]:
    def breaks(d: SmallData) -> None:
        set_cell(d.ballots, 0, "wave", wave)
        set_cell(d.ballots, 0, "survey_date", date)

    return breaks


def _costs_in_millions(d: SmallData) -> None:
    edit_rows(
        d.costs,
        lambda rows: [[a, b, str(int(c) // 10**6), str(int(e) // 10**6)] for a, b, c, e in rows],
    )


def _mixed_months(d: SmallData) -> None:
    # 13567 reported 2019Q3 as a quarter and August 2019 as a month: counted twice.
    edit_rows(
        d.admin,
        lambda rows: [
            *rows,
            [PILOTS[0], "2019-08", "30", "28", "1", "1", "1", "0", "4", "2000", "6"],
        ],
    )


def _semicolon_ballots(d: SmallData) -> None:
    header, rows = read_rows(d.ballots)
    header = [*header, "weight"]
    rows = [[*r, "0,5"] for r in rows]
    d.ballots.write_text("\n".join(";".join(r) for r in [header, *rows]) + "\n", "utf-8")


def _xlsx_ballots(d: SmallData, title_row: bool = False, first_sheet: str | None = None) -> dict:
    header, rows = read_rows(d.ballots)
    table = [header, *rows]
    if title_row:
        table = [["PHIẾU KHẢO SÁT SỰ HÀI LÒNG"], *table]
    sheets = {first_sheet: [["Ghi chú: phiếu năm 2019-2020"]]} if first_sheet else {}
    sheets["ballots"] = table
    path = write_xlsx(d.folder / "ballots.xlsx", sheets, merge="A1:E1" if title_row else None)
    return {"data": {"ballots": str(path)}}


def _xlsx_merged_start(d: SmallData) -> dict:
    header, rows = read_rows(d.rollout)
    path = write_xlsx(d.folder / "rollout.xlsx", {"rollout": [header, *rows]}, merge="B2:B4")
    return {"data": {"rollout": str(path)}}


def _xlsx_no_table(d: SmallData) -> dict:
    path = write_xlsx(
        d.folder / "ballots.xlsx", {"Notes": [["ghi chú"]], "Sheet2": [["a", "b"], [1, 2]]}
    )
    return {"data": {"ballots": str(path)}}


def _unit_map_copy(d: SmallData, change: Callable[[list[list[str]]], list[list[str]]]) -> dict:
    path = d.folder / "units_2020.csv"
    header, rows = read_rows(UNITS_2020)
    write_csv(path, header, change(rows))
    return _registry(path, CHANGES)


def _registry(units_2020: Path, changes: Path) -> dict:
    return {
        "data": {
            "registry": {
                "maps": [
                    {"effective_date": "2019-12-01", "path": str(UNITS_2019)},
                    {"effective_date": "2020-01-01", "path": str(units_2020)},
                ],
                "changes": str(changes),
            }
        }
    }


def _changes_copy(d: SmallData, kind: str) -> dict:
    path = d.folder / "changes.csv"
    header, rows = read_rows(CHANGES)
    rows[0][header.index("change")] = kind
    write_csv(path, header, rows)
    return _registry(UNITS_2020, path)


def _empty_unit_map(d: SmallData) -> dict:
    path = d.folder / "units_2020.csv"
    path.write_bytes(b"")
    return _registry(path, CHANGES)


HANAM_CASES = [
    # ballots
    Case(
        "ballot: text as a Likert answer",
        lambda d: set_cell(d.ballots, 0, "access_location", "tốt"),
        "refused",
        "likert_range",
        "access_location",
        "tốt",
    ),
    Case(
        "ballot: Likert answer 7",
        lambda d: set_cell(d.ballots, 0, "staff_courteous", "7"),
        "refused",
        "likert_range",
        "staff_courteous",
        "7",
    ),
    Case(
        "ballot: empty ballot_id",
        lambda d: set_cell(d.ballots, 0, "ballot_id", ""),
        "refused",
        "not_nullable",
        "ballot_id",
    ),
    Case(
        "ballot: empty commune_code",
        lambda d: set_cell(d.ballots, 0, "commune_code", ""),
        "refused",
        "not_nullable",
        "commune_code",
    ),
    Case(
        "ballot: month 13",
        lambda d: set_cell(d.ballots, 0, "survey_date", "2019-13-02"),
        "refused",
        "date_format",
        "survey_date",
        "2019-13-02",
    ),
    Case(
        "ballot: 31 February",
        lambda d: set_cell(d.ballots, 0, "survey_date", "31/02/2019"),
        "refused",
        "date_format",
        "survey_date",
        "31/02/2019",
    ),
    Case(
        "ballot: wave 2019Q5",
        lambda d: set_cell(d.ballots, 0, "wave", "2019Q5"),
        "refused",
        "wave_format",
        "wave",
        "2019Q5",
    ),
    Case(
        "ballot: wave only 'Q3'",
        lambda d: set_cell(d.ballots, 0, "wave", "Q3"),
        "refused",
        "wave_format",
        "wave",
        "Q3",
    ),
    Case(
        "ballot: unknown commune code",
        lambda d: set_cell(d.ballots, 0, "commune_code", "99999"),
        "refused",
        "known_commune_code",
        "commune_code",
        "99999",
    ),
    Case(
        "ballot: commune code with letters",
        lambda d: set_cell(d.ballots, 0, "commune_code", "Phủ Lý"),
        "refused",
        "code_digits",
        "commune_code",
        "Phủ Lý",
    ),
    Case(
        "ballot: repeated ballot_id",
        lambda d: set_cell(d.ballots, 1, "ballot_id", "B00000"),
        "refused",
        "field_uniqueness",
        "ballot_id",
        "B00000",
    ),
    Case(
        "ballot: same household twice in a wave",
        _duplicate_household,
        "refused",
        "duplicate_household_wave",
        "household_id",
        "13567-H000 2019Q3 (also row 2)",
    ),
    Case(
        "ballot: dated after today",
        _stray_wave("2035Q1", "2035-02-10"),
        "refused",
        "date_in_future",
        "survey_date",
        "2035-02-10",
    ),
    Case(
        "ballot: stray wave years before the others",
        _stray_wave("2015Q1", "2015-02-10"),
        "refused",
        "wave_far_from_others",
        "wave",
        "2015Q1",
    ),
    Case(
        "ballot: neither date nor wave",
        cells("ballots", 0, wave="", survey_date=""),
        "refused",
        "date_or_wave",
        "survey_date",
    ),
    Case(
        "ballot: weight with thousands separators",
        lambda d: _with_weight(d, "1.234.567"),
        "refused",
        "thousands_separator",
        "weight",
        "1.234.567",
    ),
    Case(
        "ballot: weight 0",
        lambda d: _with_weight(d, "0"),
        "refused",
        "positive_number",
        "weight",
        "0",
    ),
    Case(
        "ballot: header only",
        lambda d: edit_rows(d.ballots, lambda rows: []),
        "refused",
        "no_records",
    ),
    Case("ballot: empty file", lambda d: d.ballots.write_bytes(b""), "refused", "file_empty"),
    Case(
        "ballot: Windows-1258 encoding",
        lambda d: d.ballots.write_bytes(
            d.ballots.read_text("utf-8-sig").replace("B00000", "Bé1").encode("cp1258")
        ),
        "refused",
        "file_encoding",
    ),
    Case(
        "ballot: a column name twice",
        lambda d: d.ballots.write_text(
            d.ballots.read_text("utf-8-sig").replace("household_id", "wave", 1), "utf-8"
        ),
        "refused",
        "duplicate_column",
        "wave",
    ),
    Case(
        "ballot: required column missing",
        lambda d: d.ballots.write_text(
            d.ballots.read_text("utf-8-sig").replace("household_id", "household", 1), "utf-8"
        ),
        "refused",
        "column_in_dataframe",
        "household_id",
    ),
    Case(
        "ballot: a line with an extra cell",
        lambda d: edit_rows(d.ballots, lambda rows: [rows[0], [*rows[1], "x"], *rows[2:]]),
        "refused",
        "csv_cells",
        None,
        "cells, header",
    ),
    Case(
        "ballot: workbook with no sheet holding the table",
        _xlsx_no_table,
        "refused",
        "no_table_sheet",
        None,
        "Notes, Sheet2",
    ),
    Case("ballot: semicolon CSV with decimal commas", _semicolon_ballots, "runs"),
    Case(
        "ballot: waves written '2019 Q3' and 'Q3/2019'",
        lambda d: _waves(d, "2019 Q3", "Q3/2019"),
        "runs",
    ),
    Case(
        "ballot: an unanswered question",
        lambda d: set_cell(d.ballots, 0, "access_location", ""),
        "runs",
    ),
    Case(
        "ballot: the table in the second sheet of a workbook",
        lambda d: _xlsx_ballots(d, first_sheet="Ghi chú"),
        "runs",
    ),
    Case(
        "ballot: a merged title row above the header",
        lambda d: _xlsx_ballots(d, title_row=True),
        "runs",
    ),
    Case(
        "ballot: a stray wave left out by the window",
        lambda d: (
            _stray_wave("2015Q1", "2015-02-10")(d) or {"analysis": {"window_start": "2019Q3"}}
        ),
        "runs",
    ),
    Case("ballot: one ballot only", lambda d: edit_rows(d.ballots, lambda rows: rows[:1]), "runs"),
    Case(
        "ballot: ballots only in pilot communes",
        lambda d: edit_rows(d.ballots, lambda rows: [r for r in rows if r[1] in PILOTS]),
        "runs",
    ),
    # rollout calendar
    Case(
        "rollout: no start date at all",
        _rollout_without_dates,
        "refused",
        "no_start_date",
        "start_date",
    ),
    Case(
        "rollout: start date 2019-13-01",
        lambda d: set_cell(d.rollout, 0, "start_date", "2019-13-01"),
        "refused",
        "date_format",
        "start_date",
        "2019-13-01",
    ),
    Case(
        "rollout: start date in words",
        lambda d: set_cell(d.rollout, 0, "start_date", "tháng 10"),
        "refused",
        "date_format",
        "start_date",
        "tháng 10",
    ),
    Case(
        "rollout: commune listed twice",
        lambda d: set_cell(d.rollout, 1, "commune_code", PILOTS[0]),
        "refused",
        "field_uniqueness",
        "commune_code",
        PILOTS[0],
    ),
    Case(
        "rollout: unknown commune code",
        lambda d: set_cell(d.rollout, 0, "commune_code", "99999"),
        "refused",
        "known_commune_code",
        "commune_code",
        "99999",
    ),
    Case(
        "rollout: a dissolved commune listed as a pilot",
        _dissolved_pilot,
        "refused",
        "pilot_not_on_map",
        "commune_code",
        "13603 -> 13594 (merged",
    ),
    Case(
        "rollout: a start years before the first ballots",
        lambda d: set_cell(d.rollout, 0, "start_date", "2009-10-01"),
        "refused",
        "start_far_before_data",
        "start_date",
        "2009-10-01",
    ),
    Case(
        "rollout: start-date cells merged across rows",
        _xlsx_merged_start,
        "refused",
        "merged_cells",
        "start_date",
        "B2:B4",
    ),
    Case(
        "rollout: every commune a pilot",
        lambda d: edit_rows(
            d.rollout,
            lambda rows: [*[[r[0], "01/10/2019", "x"] for r in rows], ["13594", "01/10/2019", "x"]],
        ),
        "refused",
        "there is nothing to compare with",
    ),
    Case(
        "rollout: a start after today (planned)",
        lambda d: set_cell(d.rollout, 3, "start_date", "2035-01-01"),
        "runs",
        "start_in_future",
        "start_date",
        "2035-01-01",
    ),
    Case(
        "rollout: one pilot commune",
        lambda d: edit_rows(d.rollout, lambda rows: [rows[0], *[[r[0], "", ""] for r in rows[1:]]]),
        "runs",
    ),
    # admin indicators
    Case(
        "admin: period 2019-13",
        lambda d: set_cell(d.admin, 0, "period", "2019-13"),
        "refused",
        "period_format",
        "period",
        "2019-13",
    ),
    Case(
        "admin: period 'Q4' without a year",
        lambda d: set_cell(d.admin, 0, "period", "Q4"),
        "refused",
        "period_format",
        "period",
        "Q4",
    ),
    Case(
        "admin: households '2.431'",
        lambda d: set_cell(d.admin, 0, "households_total", "2.431"),
        "refused",
        "thousands_separator",
        "households_total",
        "2.431",
    ),
    Case(
        "admin: more on time than received",
        lambda d: set_cell(d.admin, 0, "dossiers_on_time", "300"),
        "refused",
        "part_above_total",
        "dossiers_on_time",
        "dossiers_on_time 300 > dossiers_received 100",
    ),
    Case(
        "admin: roster above the households",
        lambda d: set_cell(d.admin, 0, "ballot_roster", "2500"),
        "refused",
        "part_above_total",
        "ballot_roster",
    ),
    Case(
        "admin: monthly and quarterly rows for one quarter",
        _mixed_months,
        "refused",
        "mixed_frequency",
        "period",
    ),
    Case(
        "admin: a period after today",
        lambda d: set_cell(d.admin, 0, "period", "2035Q1"),
        "refused",
        "date_in_future",
        "period",
        "2035Q1",
    ),
    Case(
        "admin: text in a count",
        lambda d: set_cell(d.admin, 0, "dossiers_received", "n/a"),
        "refused",
        "nonnegative_number",
        "dossiers_received",
        "n/a",
    ),
    Case(
        "admin: one commune and period twice",
        lambda d: set_cell(d.admin, 1, "period", "2019Q3"),
        "refused",
        "multiple_fields_uniqueness",
    ),
    Case(
        "admin: more ballots than households",
        cells("admin", 0, households_total="2", ballot_roster="2"),
        "refused",
        "ballots_above_households",
        "households_total",
        "13567 2019Q3: 3 ballots, 2 households",
    ),
    Case(
        "admin: more ballots than on the roster",
        lambda d: set_cell(d.admin, 0, "ballot_roster", "1"),
        "runs",
        "ballots_above_roster",
        "ballot_roster",
        "13567 2019Q3: 3 ballots, 1 households",
    ),
    Case(
        "admin: periods written '2019 Q3' and '2019/10'",
        lambda d: _periods(d, "2019 Q3", "2019/10"),
        "runs",
    ),
    # costs
    Case(
        "costs: entered in millions of VND",
        _costs_in_millions,
        "refused",
        "money_in_millions",
        "setup_vnd",
        "20",
    ),
    Case(
        "costs: budget entered in millions",
        lambda d: {"scaling": {"budget_vnd": 1000}},
        "refused",
        "budget_in_millions",
        "scaling.budget_vnd",
        "1000",
    ),
    Case(
        "costs: '20.000.000'",
        lambda d: set_cell(d.costs, 0, "setup_vnd", "20.000.000"),
        "refused",
        "thousands_separator",
        "setup_vnd",
        "20.000.000",
    ),
    Case(
        "costs: '20,000,000'",
        lambda d: set_cell(d.costs, 0, "setup_vnd", "20,000,000"),
        "refused",
        "thousands_separator",
        "setup_vnd",
        "20,000,000",
    ),
    Case(
        "costs: a negative amount",
        lambda d: set_cell(d.costs, 0, "setup_vnd", "-5"),
        "refused",
        "nonnegative_number",
        "setup_vnd",
        "-5",
    ),
    Case(
        "costs: an item twice for a commune",
        lambda d: set_cell(d.costs, 1, "item", "training"),
        "refused",
        "multiple_fields_uniqueness",
    ),
    # registry and unit maps
    Case(
        "unit map: a code twice",
        lambda d: _unit_map_copy(d, lambda rows: [*rows, rows[0]]),
        "refused",
        "field_uniqueness",
        "commune_code",
    ),
    Case(
        "unit map: unknown commune type",
        lambda d: _unit_map_copy(
            d, lambda rows: [[*r[:2], "lang", *r[3:]] if i == 0 else r for i, r in enumerate(rows)]
        ),
        "refused",
        "allowed_values",
        "commune_type",
        "lang",
    ),
    Case("unit map: empty file", _empty_unit_map, "refused", "file_empty"),
    Case(
        "change table: unknown kind of change",
        lambda d: _changes_copy(d, "split"),
        "refused",
        "allowed_values",
        "change",
        "split",
    ),
]


def _with_weight(d: SmallData, value: str) -> None:
    header, rows = read_rows(d.ballots)
    write_csv(
        d.ballots,
        [*header, "weight"],
        [[*r, value if i == 0 else "1"] for i, r in enumerate(rows)],
        bom=True,
    )


@pytest.mark.parametrize("case", HANAM_CASES, ids=lambda c: c.name)
def test_hanam_bad_input(case: Case, tmp_path: Path):
    data = build_small_data(tmp_path / "data")
    sections = case.breaks(data)
    sections = sections if isinstance(sections, dict) else {}  # write_bytes returns a count
    if "data" in sections:
        sections["data"] = {**data.tree()["data"], **sections["data"]}
    result = outcome_of(data.params_file(**sections))
    assert result.kind == case.kind, result.message or result.problems.to_string()
    if case.rule is None:
        assert not len(result.problems), result.problems.to_string()
        return
    found = rows_of(result, case.rule)
    assert len(found), f"no row of rule {case.rule!r}:\n{result.problems.to_string()}"
    if case.rule in RULES:  # the fix shipped with the rule
        assert (found["how_to_fix"] == RULES[case.rule][1]).all()
    if case.column is not None:
        assert case.column in set(found["column"]), found.to_string()
    if case.value is not None:
        assert found["value"].str.contains(case.value, regex=False).any(), found.to_string()


def test_a_refused_file_points_at_its_own_rows(tmp_path):
    """Row numbers are the file's (header = 1): the third record of ballots.csv is row 4."""
    data = build_small_data(tmp_path / "data")
    set_cell(data.ballots, 2, "staff_courteous", "8")
    result = outcome_of(data.params_file())
    assert result.kind == "refused"
    row = rows_of(result, "likert_range").iloc[0]
    assert (row["row"], row["value"], Path(row["file"]).name) == ("4", "8", "ballots.csv")


def test_semicolon_ballots_are_read_with_their_decimal_commas(tmp_path):
    data = build_small_data(tmp_path / "data")
    _semicolon_ballots(data)
    result = outcome_of(data.params_file())
    assert result.kind == "runs"
    assert set(result.prepared.ballots["weight"]) == {0.5}


def test_quarters_written_other_ways_are_read_as_quarters(tmp_path):
    data = build_small_data(tmp_path / "data")
    set_cell(data.ballots, 0, "wave", "2019 Q3")
    set_cell(data.admin, 1, "period", "2019/10")  # a month of 2019Q4, alone for its commune
    set_cell(data.admin, 0, "period", "Q3/2019")
    result = outcome_of(data.params_file())
    assert result.kind == "runs"
    assert set(result.prepared.ballots["wave"]) == {"2019Q3", "2019Q4", "2020Q1", "2020Q2"}


def test_a_planned_start_warns_and_leaves_the_window_inside_the_data(tmp_path):
    data = build_small_data(tmp_path / "data")
    set_cell(data.rollout, 3, "start_date", "2035-01-01")
    result = outcome_of(data.params_file())
    assert result.kind == "runs"
    assert result.prepared.meta["window_end"] == pd.Period("2020Q2", "Q").ordinal
    assert rule_wording("start_in_future").startswith("Warning:")


# --------------------------------------------------------------------------------------------
# A small generic panel


def _panel(
    tmp_path: Path, change: Callable[[list[list[str]]], list[list[str]]] | None = None, **spec
) -> Path:
    """Six units x four quarters (units 1-2 treated from 2019Q4), then ``change``."""
    header = ["unit", "quarter", "score", "pct_staff", "first", "province"]
    rows = []
    for unit in range(1, 7):
        for k, quarter in enumerate(("2019Q2", "2019Q3", "2019Q4", "2020Q1")):
            first = "2019Q4" if unit <= 2 else ""
            rows.append(
                [
                    f"U{unit}",
                    quarter,
                    f"{50 + unit + k}",
                    f"0.{unit}{k}",
                    first,
                    "A" if unit % 2 else "B",
                ]
            )
    if change is not None:
        rows = change(rows)
    path = write_csv(tmp_path / "panel.csv", header, rows)
    panel = {
        "path": str(path),
        "unit": "unit",
        "period": "quarter",
        "outcomes": ["score"],
        "first_treated": "first",
        "covariates": ["pct_staff"],
        "cluster": "province",
        "frequency": "quarter",
        **spec,
    }
    tree = {
        "extends": str(DEFAULT_PARAMS),
        "run_name": "panel",
        "data": {"source": "panel", "panel": panel},
    }
    params = tmp_path / "panel.yaml"
    params.write_text(yaml.safe_dump(tree, allow_unicode=True), "utf-8")
    return params


def _cell(row: int, column: int, value: str) -> Callable[[list[list[str]]], list[list[str]]]:
    def change(rows: list[list[str]]) -> list[list[str]]:
        rows[row][column] = value
        return rows

    return change


PANEL_CASES = [
    (
        "panel: period 'Q4' without a year",
        _cell(0, 1, "Q4"),
        {},
        "refused",
        "period not readable as quarter",
        "quarter",
        "Q4",
    ),
    (
        "panel: month 13",
        lambda rows: [
            [*r[:1], "2019-13" if i == 0 else f"2019-{(i % 12) + 1:02d}", *r[2:]]
            for i, r in enumerate(rows)
        ],
        {"frequency": "month"},
        "refused",
        "period not readable as month",
        "quarter",
        "2019-13",
    ),
    (
        "panel: unit missing",
        _cell(0, 0, ""),
        {},
        "refused",
        "every row needs its unit",
        "unit",
        None,
    ),
    (
        "panel: text in an outcome",
        _cell(0, 2, "cao"),
        {},
        "refused",
        "a number is expected",
        "score",
        "cao",
    ),
    (
        "panel: outcome with thousands separators",
        _cell(0, 2, "1.234.567"),
        {},
        "refused",
        "thousands_separator",
        "score",
        "1.234.567",
    ),
    (
        "panel: a share above 1",
        _cell(0, 3, "7.5"),
        {},
        "refused",
        "share_above_one",
        "pct_staff",
        "7.5",
    ),
    (
        "panel: an empty weight",
        _cell(0, 3, ""),
        {"weights": "pct_staff"},
        "refused",
        "a positive weight is expected",
        "pct_staff",
        None,
    ),
    (
        "panel: cluster missing",
        _cell(0, 5, ""),
        {},
        "refused",
        "every row needs its cluster",
        "province",
        None,
    ),
    (
        "panel: a unit and period twice",
        lambda rows: [*rows, rows[0]],
        {},
        "refused",
        "one row per unit and period is expected",
        "quarter",
        None,
    ),
    (
        "panel: a covariate the file lacks",
        None,
        {"covariates": ["pct_staf"]},
        "refused",
        "column named in data.panel.covariates is not in the file",
        "pct_staf",
        None,
    ),
    (
        "panel: first treated in words",
        _cell(0, 4, "sớm"),
        {},
        "refused",
        "a period (first treated) or 0/1 (treatment) is expected",
        "first",
        "sớm",
    ),
    ("panel: header only", lambda rows: [], {}, "refused", "no_records", None, None),
    (
        "panel: a condition no data can check",
        None,
        {},
        "refused",
        "unknown_condition",
        "scaling.conditions",
        "min_scor",
    ),
    (
        "panel: periods written '2019 Q4'",
        lambda rows: [[r[0], r[1].replace("Q", " Q"), *r[2:]] for r in rows],
        {},
        "runs",
        None,
        None,
        None,
    ),
    (
        "panel: text cluster names",
        lambda rows: [[*r[:5], "Phủ Lý" if r[5] == "A" else "Duy Tiên"] for r in rows],
        {},
        "runs",
        None,
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "change", "spec", "kind", "rule", "column", "value"),
    PANEL_CASES,
    ids=[c[0] for c in PANEL_CASES],
)
def test_panel_bad_input(tmp_path, name, change, spec, kind, rule, column, value):
    params = _panel(tmp_path, change, **spec)
    if name == "panel: a condition no data can check":
        tree = yaml.safe_load(params.read_text("utf-8"))
        tree["scaling"] = {"conditions": {"min_scor": 50}}
        params.write_text(yaml.safe_dump(tree, allow_unicode=True), "utf-8")
    result = outcome_of(params)
    assert result.kind == kind, result.message or result.problems.to_string()
    if rule is None:
        assert not len(result.problems)
        return
    found = rows_of(result, rule)
    assert len(found), result.problems.to_string()
    if column is not None:
        assert column in set(found["column"]), found.to_string()
    if value is not None:
        assert found["value"].str.contains(value, regex=False).any(), found.to_string()


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("analysis", "cluster", "province"), ("inference", "strata", "province")],
)
def test_panel_refuses_hanam_cluster_and_strata_keys(tmp_path, section, key, value):
    """A panel reads its cluster and strata from data.panel: the Hà Nam keys are refused."""
    params = _panel(tmp_path)
    tree = yaml.safe_load(params.read_text("utf-8"))
    tree[section] = {key: value}
    params.write_text(yaml.safe_dump(tree, allow_unicode=True), "utf-8")
    result = outcome_of(params)
    assert result.kind == "refused"
    row = rows_of(result, "panel_key_elsewhere")
    assert row["row"].tolist() == [f"{section}.{key}"] and row["value"].tolist() == [value]


def test_panel_accepted_period_forms_are_listed_in_the_fix(tmp_path):
    result = outcome_of(_panel(tmp_path, _cell(0, 1, "Q4")))
    fix = rows_of(result, "period not readable as quarter")["how_to_fix"].iloc[0]
    assert "2019Q4, 2019 Q4 or Q4/2019" in fix and "2019-10" in fix


# --------------------------------------------------------------------------------------------
# The parameter file


PARAMS_CASES = [
    ("not a mapping", "- a\n- b\n", "expected a mapping of keys to values at the top level"),
    ("alpha as a word", {"analysis": {"alpha": "high"}}, "key 'analysis.alpha'"),
    ("alpha outside (0, 0.5)", {"analysis": {"alpha": 1.5}}, "key 'analysis.alpha'"),
    ("negative budget", {"scaling": {"budget_vnd": -5}}, "key 'scaling.budget_vnd'"),
    (
        "satisfied_from off the scale",
        {"ballot": {"satisfied_from": 6}},
        "ballot.satisfied_from (6) must lie on the scale",
    ),
    (
        "dissatisfied_to above satisfied_from",
        {"ballot": {"dissatisfied_to": 4}},
        "ballot.dissatisfied_to (4) must lie on the scale",
    ),
    (
        "no-opinion code on the scale",
        {"ballot": {"no_opinion_codes": [0, 3]}},
        "ballot.no_opinion_codes [3] lie on the answer scale 1-5",
    ),
    (
        "Likert bounds reversed",
        {"ballot": {"likert_min": 5, "likert_max": 1}},
        "ballot.likert_min (5) must be below ballot.likert_max (1)",
    ),
    (
        "trim bounds reversed",
        {"analysis": {"trim_bounds": [0.95, 0.05]}},
        "trim_bounds [0.95, 0.05] must be two shares",
    ),
    (
        "size band reversed",
        {"inference": {"size_band": [0.07, 0.03]}},
        "size_band [0.07, 0.03] must be two rates",
    ),
    (
        "likert_item misspelt",
        {"analysis": {"likert_item": "staff_courtous"}},
        "did you mean 'staff_courteous'?",
    ),
    (
        "target map not a map date",
        {"harmonise": {"target_map": "2019-06-01"}},
        "harmonise.target_map 2019-06-01 is not the date of a commune map",
    ),
    ("unknown key", {"analysis": {"clustr": "district_name"}}, "did you mean 'cluster'?"),
    ("a key written twice", "language: vi\nlanguage: en\n", "key 'language' is written twice"),
    (
        "window start that is no period",
        {"analysis": {"window_start": "2019Q9"}},
        "key 'analysis.window_start': '2019Q9' is not a period",
    ),
]


@pytest.mark.parametrize(
    ("name", "change", "expected"), PARAMS_CASES, ids=[c[0] for c in PARAMS_CASES]
)
def test_params_refused_with_the_key(small_data, name, change, expected):
    if isinstance(change, str):
        path = small_data.folder / "params.yaml"
        body = change if change.startswith("-") else yaml.safe_dump(small_data.tree()) + change
        path.write_text(body, "utf-8")
    else:
        path = small_data.params_file(**change)
    result = outcome_of(path)
    assert result.kind == "params", result.problems.to_string()
    assert expected in result.message


def test_a_params_file_that_is_not_utf8_is_refused(small_data):
    path = small_data.folder / "params.yaml"
    path.write_bytes("# ghi chú\nrun_name: small\n".encode("cp1258"))
    result = outcome_of(path)
    assert result.kind == "params" and "not UTF-8 text" in result.message


def test_demo_without_later_rollout_waves_is_accepted():
    params = load_params(DEFAULT_PARAMS, {"demo": {"rollout_waves": []}})
    assert params.demo.rollout_waves == []


@pytest.mark.parametrize(
    ("section", "key", "bad", "nearest"),
    [
        ("analysis", "outcomes", ["satisfaction_indx"], "satisfaction_index"),
        ("analysis", "baseline_covariates", ["urbn"], "urban"),
        ("analysis", "propensity_covariates", ["baseline_indx"], "baseline_index"),
        ("analysis", "cluster", "commune", None),
        ("inference", "strata", "distrct_name", "district_name"),
        (
            "scaling",
            "conditions",
            {"min_one_stop_staf_per_1000": 0.8},
            "min_one_stop_staff_per_1000",
        ),
    ],
)
def test_names_the_data_lack_are_refused_with_the_nearest(small_data, section, key, bad, nearest):
    result = outcome_of(small_data.params_file(**{section: {key: bad}}))
    assert result.kind == "refused"
    row = result.problems[result.problems["row"] == f"{section}.{key}"]
    assert len(row) == 1, result.problems.to_string()
    if nearest is not None:
        assert f"did you mean '{nearest}'?" in row["how_to_fix"].iloc[0]


# --------------------------------------------------------------------------------------------
# What `evaluation validate` prints, and what page 01 repeats


def test_validate_prints_the_table_in_the_run_language_and_writes_every_row(
    small_data, tmp_path, monkeypatch, capsys
):
    import evaluation.cli as cli

    monkeypatch.setattr(cli, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(cli, "SHOWN_PROBLEMS", 2)
    for row in range(5):
        set_cell(small_data.ballots, row, "staff_courteous", "7")
    assert cli.main(["validate", str(small_data.params_file(language="vi"))]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Dữ liệu có 5 lỗi (và 0 cảnh báo) trong ballots.csv.")
    assert "câu trả lời" in err  # the rule, in Vietnamese (wrapped in its column)
    assert "... và 3 dòng nữa" in err
    written = tmp_path / "runs" / "small-data_problems.csv"
    assert f"Bảng đầy đủ: {written}" in err
    table = pd.read_csv(written, dtype=str)
    assert len(table) == 5 and set(table["value"]) == {"7"}
    assert set(table["rule"]) == {rule_text("likert_range", "vi")[0]}
    assert "Traceback" not in err


def test_validate_prints_warnings_after_the_summary(small_data, tmp_path, monkeypatch, capsys):
    import evaluation.cli as cli

    monkeypatch.setattr(cli, "PROJECT_ROOT", tmp_path)
    set_cell(small_data.rollout, 3, "start_date", "2035-01-01")
    assert cli.main(["validate", str(small_data.params_file(language="en"))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The data passed every check.")
    assert "1 warning(s): the run goes on, and page 01 repeats them." in out
    assert "Warning: start date after today" in out


def test_validate_refuses_an_unreadable_file_with_a_table_row(small_data, capsys):
    from evaluation.cli import main

    small_data.costs.write_bytes(b"")
    assert main(["validate", str(small_data.params_file(language="en"))]) == 1
    err = capsys.readouterr().err
    assert "the file is empty" in err and "costs.csv" in err
    assert "EmptyDataError" not in err and "No columns to parse" not in err


def test_page_01_repeats_the_warnings_in_its_language(small_data, tmp_path):
    from evaluation.prepare import load_prepared, save_prepared
    from evaluation.report.data_quality import problems_table

    set_cell(small_data.admin, 0, "ballot_roster", "1")
    prepared = prepare_inputs(small_data.params())
    assert len(prepared.problems) == 1
    save_prepared(prepared, tmp_path / "prepared")
    shown = problems_table(load_prepared(tmp_path / "prepared"), "vi")
    assert shown.iloc[0].tolist()[4].startswith("Cảnh báo: số phiếu nhiều hơn số hộ")
    notebook = (
        Path(__file__).resolve().parents[1] / "notebooks" / "01_data_quality.ipynb"
    ).read_text("utf-8")
    assert "dq.validation_warnings" in notebook


def test_no_record_of_the_ballots_is_written_by_validation(small_data):
    """Validation only reads: the raw files keep their bytes."""
    before = {p: p.read_bytes() for p in (small_data.ballots, small_data.rollout)}
    set_cell(small_data.ballots, 0, "staff_courteous", "7")
    before[small_data.ballots] = small_data.ballots.read_bytes()
    outcome_of(small_data.params_file())
    assert {p: p.read_bytes() for p in before} == before
