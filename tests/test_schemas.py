"""The data contract: each bad input is reported with its file, row, column, value and fix."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import (
    ADMIN_HEADER,
    BALLOT_HEADER,
    ITEMS,
    UNITS_2019,
    admin_rows,
    ballot_rows,
    write_csv,
)

from evaluation.config import PROJECT_ROOT
from evaluation.data.io import read_table
from evaluation.data.problems import (
    PROBLEM_COLUMNS,
    DataValidationError,
    format_problems,
    problem_frame,
    raise_if_problems,
)
from evaluation.data.registry import load_registry
from evaluation.data.schemas import (
    RULES,
    admin_schema,
    ballots_schema,
    changes_schema,
    costs_schema,
    parse_date,
    rollout_schema,
    unit_map_schema,
    validate_frame,
)


@pytest.fixture(scope="module")
def known(default_params) -> set[str]:
    return load_registry(default_params.data.registry).all_codes()


@pytest.fixture(scope="module")
def ballots_contract(known):
    return ballots_schema(known, ITEMS, (1, 5), [0, 9])


def _ballots(tmp_path: Path, rows, header=BALLOT_HEADER, name: str = "ballots.csv") -> Path:
    return write_csv(tmp_path / name, header, rows)


def _validate(path: Path, contract):
    return validate_frame(read_table(path), contract, path)


def _problem(problems: pd.DataFrame, column: str, row: str) -> pd.DataFrame:
    hit = problems[(problems["column"] == column) & (problems["row"] == row)]
    assert len(hit), f"no problem at row {row}, column {column}:\n{format_problems(problems)}"
    return hit


def test_valid_ballots_have_no_problems_and_become_typed(tmp_path, ballots_contract):
    typed, problems = _validate(_ballots(tmp_path, ballot_rows()), ballots_contract)
    assert len(problems) == 0
    assert list(problems.columns) == PROBLEM_COLUMNS
    assert typed["survey_date"].dtype.kind == "M"
    assert typed[ITEMS[0]].dtype == "Float64"
    assert (typed["weight"] == 1.0).all()
    assert list(typed.index[:2]) == [2, 3]  # file rows survive the conversion


def test_unknown_commune_code_points_at_the_cell(tmp_path, ballots_contract):
    rows = ballot_rows()
    rows[4][1] = "99999"
    path = _ballots(tmp_path, rows)
    _, problems = _validate(path, ballots_contract)
    hit = _problem(problems, "commune_code", "6")  # 5th record = file row 6
    assert hit["file"].iloc[0] == str(path)
    assert hit["value"].iloc[0] == "99999"
    assert len(problems) == 1


def test_unknown_and_malformed_codes_get_their_own_rule_text(tmp_path, ballots_contract, known):
    rows = ballot_rows()
    rows[0][1] = "99999"
    rows[1][1] = "13a"
    _, problems = _validate(_ballots(tmp_path, rows), ballots_contract)
    unknown = _problem(problems, "commune_code", "2")
    assert unknown["rule"].iloc[0] == RULES["known_commune_code"][0]
    assert unknown["how_to_fix"].iloc[0] == RULES["known_commune_code"][1]
    assert RULES["code_digits"][0] in set(_problem(problems, "commune_code", "3")["rule"])
    admin = admin_rows()[:2]
    admin[1][1] = "Q3 2019"
    path = write_csv(tmp_path / "admin.csv", ADMIN_HEADER, admin)
    _, problems = _validate(path, admin_schema(known))
    assert _problem(problems, "period", "3")["rule"].iloc[0] == RULES["period_format"][0]


def test_duplicate_ballot_ids_report_every_copy(tmp_path, ballots_contract):
    rows = ballot_rows()
    rows[7][0] = rows[2][0]
    _, problems = _validate(_ballots(tmp_path, rows), ballots_contract)
    dup = problems[problems["column"] == "ballot_id"]
    assert sorted(dup["row"]) == ["4", "9"]
    assert set(dup["value"]) == {rows[2][0]}
    assert set(dup["rule"]) == {RULES["field_uniqueness"][0]}
    assert set(dup["how_to_fix"]) == {RULES["field_uniqueness"][1]}


@pytest.mark.parametrize("bad", ["7", "abc", "-1", "3.5", "6"])
def test_likert_out_of_range_or_not_a_number(tmp_path, ballots_contract, bad):
    rows = ballot_rows()
    rows[3][5 + 2] = bad  # third item of the 4th record (file row 5)
    _, problems = _validate(_ballots(tmp_path, rows), ballots_contract)
    hit = _problem(problems, ITEMS[2], "5")
    assert hit["value"].iloc[0] == bad
    assert hit["rule"].iloc[0] == RULES["likert_range"][0]
    assert "ballot.no_opinion_codes" in hit["how_to_fix"].iloc[0]
    assert len(problems) == 1


def test_likert_written_with_decimal_zero_is_accepted(tmp_path, ballots_contract):
    rows = ballot_rows()
    rows[0][5] = "4.0"  # a number Excel exported as 4.0
    typed, problems = _validate(_ballots(tmp_path, rows), ballots_contract)
    assert len(problems) == 0
    assert typed.loc[2, ITEMS[0]] == 4.0


def test_no_opinion_codes_become_missing(tmp_path, ballots_contract):
    rows = ballot_rows()[:3]
    rows[0][5:] = [0, 9, 1, 2, 3, 4, 5, 0, 9, 5, 4, 3]
    typed, problems = _validate(_ballots(tmp_path, rows), ballots_contract)
    assert len(problems) == 0
    first = typed.loc[2, ITEMS]
    assert (
        first.isna().tolist()
        == [True, True, False, False, False, False, False, True, True] + [False] * 3
    )
    assert first.dropna().tolist() == [1, 2, 3, 4, 5, 5, 4, 3]


def test_other_no_opinion_codes_follow_params(tmp_path, known):
    rows = ballot_rows()[:2]
    rows[0][5] = 9
    rows[1][5] = 6
    contract = ballots_schema(known, ITEMS, (1, 5), [6])
    typed, problems = _validate(_ballots(tmp_path, rows), contract)
    # 9 is no longer a no-opinion code, 6 is.
    assert _problem(problems, ITEMS[0], "2")["value"].iloc[0] == "9"
    assert len(problems) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25/10/2019", "2019-10-25"),
        ("5/1/2020", "2020-01-05"),
        ("2019-10-25", "2019-10-25"),
        ("2019-10-25 08:30:00", "2019-10-25"),
        (" 01/02/2020 ", "2020-02-01"),  # dd/mm: 1 February, not 2 January
    ],
)
def test_parse_date_accepts_vietnamese_and_iso_order(text, expected):
    assert parse_date(text) == pd.Timestamp(expected)


@pytest.mark.parametrize(
    "text", ["2019/13/45", "31/02/2020", "2019-13-01", "10-25-2019", "Oct 2019", ""]
)
def test_parse_date_rejects_other_forms(text):
    assert parse_date(text) is None


def test_parse_date_of_missing_is_none():
    assert parse_date(None) is None
    assert parse_date(pd.NA) is None
    assert parse_date(float("nan")) is None


def test_dates_in_both_orders_accepted_bad_date_rejected(tmp_path, ballots_contract):
    rows = ballot_rows()
    rows[0][2] = "25/10/2019"
    rows[1][2] = "2019-10-25"
    rows[2][2] = "2019/13/45"
    typed, problems = _validate(_ballots(tmp_path, rows), ballots_contract)
    hit = _problem(problems, "survey_date", "4")
    assert hit["value"].iloc[0] == "2019/13/45"
    assert hit["rule"].iloc[0] == "date must be dd/mm/yyyy or yyyy-mm-dd"
    assert hit["how_to_fix"].iloc[0] == "write the date as 25/10/2019 or 2019-10-25"
    assert len(problems) == 1


def test_ballot_dated_only_by_wave_gets_the_wave_start(tmp_path, ballots_contract):
    rows = ballot_rows()[:2]
    rows[0][2] = ""
    rows[0][3] = "2019Q4"
    rows[1][3] = ""  # wave derived from the date
    typed, problems = _validate(_ballots(tmp_path, rows), ballots_contract)
    assert len(problems) == 0
    assert typed.loc[2, "survey_date"] == pd.Timestamp("2019-10-01")
    assert typed.loc[3, "wave"] == str(pd.Timestamp(typed.loc[3, "survey_date"]).to_period("Q"))


def test_ballot_without_date_or_wave_is_a_problem(tmp_path, ballots_contract):
    rows = ballot_rows()[:3]
    rows[1][2] = ""
    rows[1][3] = ""
    _, problems = _validate(_ballots(tmp_path, rows), ballots_contract)
    hit = _problem(problems, "survey_date", "3")
    assert hit["rule"].iloc[0] == RULES["date_or_wave"][0]
    assert "fill in survey_date" in hit["how_to_fix"].iloc[0]


def test_missing_required_column_is_reported_on_the_header_row(tmp_path, ballots_contract):
    header = [c for c in BALLOT_HEADER if c != "household_id"]
    rows = [r[:4] + r[5:] for r in ballot_rows()[:3]]
    path = _ballots(tmp_path, rows, header)
    typed, problems = _validate(path, ballots_contract)
    hit = _problem(problems, "household_id", "1 (header)")
    assert hit["rule"].iloc[0] == "required column is missing"
    assert "add a column with exactly this name" in hit["how_to_fix"].iloc[0]
    assert hit["file"].iloc[0] == str(path)
    # The raw text comes back unconverted: nothing is computed on an incomplete table.
    assert typed["survey_date"].dtype == "string"


def test_missing_item_column_is_reported(tmp_path, ballots_contract):
    header = [c for c in BALLOT_HEADER if c != "model_visits"]
    rows = [r[:-1] for r in ballot_rows()[:2]]
    _, problems = _validate(_ballots(tmp_path, rows, header), ballots_contract)
    assert set(_problem(problems, "model_visits", "1 (header)")["rule"]) == {
        "required column is missing"
    }


def test_many_problems_reported_at_once(tmp_path, ballots_contract):
    rows = ballot_rows()
    rows[0][1] = "99999"
    rows[2][5] = "7"
    rows[4][2] = "2019/13/45"
    rows[6][0] = rows[5][0]
    rows[8][8] = "x"
    rows[10][4] = ""
    _, problems = _validate(_ballots(tmp_path, rows), ballots_contract)
    cells = set(zip(problems["row"], problems["column"], strict=True))
    assert {
        ("2", "commune_code"),
        ("4", ITEMS[0]),
        ("6", "survey_date"),
        ("7", "ballot_id"),
        ("8", "ballot_id"),
        ("10", ITEMS[3]),
        ("12", "household_id"),
    } <= cells
    assert set(_problem(problems, "household_id", "12")["rule"]) == {RULES["not_nullable"][0]}
    with pytest.raises(DataValidationError) as err:
        raise_if_problems([problems])
    assert len(err.value.problems) == len(problems)
    assert f"{len(problems)} data problem(s) in" in str(err.value)
    assert "see data/README.md" in str(err.value)


def test_weight_must_be_positive(tmp_path, ballots_contract):
    header = [*BALLOT_HEADER, "weight"]
    rows = [[*r, w] for r, w in zip(ballot_rows()[:3], ["1.5", "0", "2"], strict=True)]
    typed, problems = _validate(_ballots(tmp_path, rows, header), ballots_contract)
    assert problems[["row", "column", "value"]].values.tolist() == [["3", "weight", "0"]]
    assert set(problems["rule"]) == {RULES["positive_number"][0]}


def test_malformed_wave_is_a_problem_not_a_crash(tmp_path, ballots_contract):
    rows = ballot_rows()[:3]
    rows[2][3] = "2019Q5"
    _, problems = _validate(_ballots(tmp_path, rows), ballots_contract)
    hit = _problem(problems, "wave", "4")
    assert hit["value"].iloc[0] == "2019Q5"
    assert len(problems) == 1


def test_non_numeric_weight_is_a_problem_not_a_crash(tmp_path, ballots_contract):
    header = [*BALLOT_HEADER, "weight"]
    rows = [[*r, w] for r, w in zip(ballot_rows()[:3], ["1.5", "0", "abc"], strict=True)]
    typed, problems = _validate(_ballots(tmp_path, rows, header), ballots_contract)
    assert sorted(problems["row"]) == ["3", "4"]
    assert set(problems["rule"]) == {RULES["positive_number"][0]}


# --------------------------------------------------------------------------------------------
# The other tables


def test_rollout_unknown_code_duplicate_and_bad_date(tmp_path, known):
    path = write_csv(
        tmp_path / "rollout.csv",
        ["commune_code", "start_date", "source"],
        [
            ["13567", "01/10/2019", "decision"],
            ["99999", "2019-10-01", ""],
            ["13567", "1/13/2020", ""],
        ],
    )
    typed, problems = _validate(path, rollout_schema(known))
    assert ("3", "commune_code", "99999") in set(
        zip(problems["row"], problems["column"], problems["value"], strict=True)
    )
    assert set(_problem(problems, "commune_code", "4")["rule"]) == {RULES["field_uniqueness"][0]}
    assert _problem(problems, "start_date", "4")["value"].iloc[0] == "1/13/2020"


def test_rollout_empty_start_means_not_started(tmp_path, known):
    path = write_csv(
        tmp_path / "rollout.csv",
        ["commune_code", "start_date", "source"],
        [["13567", "01/10/2019", "decision"], ["13504", "", ""]],
    )
    typed, problems = _validate(path, rollout_schema(known))
    assert len(problems) == 0
    assert typed.loc[2, "start_date"] == pd.Timestamp("2019-10-01")
    assert pd.isna(typed.loc[3, "start_date"])


def test_admin_period_counts_and_months_to_quarters(tmp_path, known):
    rows = admin_rows()[:4]
    rows[1][1] = "2019-11"  # a month
    rows[2][1] = "Q3 2019"
    rows[3][9] = "-5"
    path = write_csv(tmp_path / "admin.csv", ADMIN_HEADER, rows)
    typed, problems = _validate(path, admin_schema(known))
    assert _problem(problems, "period", "4")["value"].iloc[0] == "Q3 2019"
    assert (
        _problem(problems, "households_total", "5")["rule"].iloc[0]
        == RULES["nonnegative_number"][0]
    )
    assert len(problems) == 2
    good = write_csv(
        tmp_path / "admin_ok.csv",
        ADMIN_HEADER,
        [admin_rows()[0], [*admin_rows()[5][:1], "2019-11", *admin_rows()[5][2:]]],
    )
    typed, problems = _validate(good, admin_schema(known))
    assert len(problems) == 0
    assert typed["wave"].tolist() == ["2019Q3", "2019Q4"]
    assert typed["households_total"].dtype == "Float64"


def test_admin_needs_roster_and_households_but_not_other_counts(tmp_path, known):
    path = write_csv(
        tmp_path / "admin.csv",
        ["commune_code", "period", "households_total"],
        [["13567", "2019Q4", "2000"]],
    )
    _, problems = _validate(path, admin_schema(known))
    assert problems[["row", "column"]].values.tolist() == [["1 (header)", "ballot_roster"]]


def test_admin_duplicate_commune_period_is_a_problem(tmp_path, known):
    rows = admin_rows()[:3]
    rows[1][1] = rows[0][1]
    _, problems = _validate(write_csv(tmp_path / "a.csv", ADMIN_HEADER, rows), admin_schema(known))
    assert sorted(zip(problems["row"], problems["column"], problems["value"], strict=True)) == [
        ("2", "commune_code", "13567"),
        ("2", "period", "2019Q3"),
        ("3", "commune_code", "13567"),
        ("3", "period", "2019Q3"),
    ]


def test_admin_duplicate_commune_period_says_how_to_fix(tmp_path, known):
    rows = admin_rows()[:2]
    rows[1][1] = rows[0][1]
    _, problems = _validate(write_csv(tmp_path / "a.csv", ADMIN_HEADER, rows), admin_schema(known))
    assert "multiple_fields_uniqueness" not in set(problems["rule"])
    assert "see data/README.md" not in set(problems["how_to_fix"])


def test_costs_negative_number(tmp_path, known):
    path = write_csv(
        tmp_path / "costs.csv",
        ["commune_code", "item", "setup_vnd", "yearly_vnd"],
        [["13567", "training", "20000000", ""], ["13567", "reward", "0", "-3"]],
    )
    typed, problems = _validate(path, costs_schema(known))
    assert problems[["row", "column", "value"]].values.tolist() == [["3", "yearly_vnd", "-3"]]
    assert set(problems["how_to_fix"]) == {"write a plain number without units"}


def test_costs_empty_amount_is_zero(tmp_path, known):
    path = write_csv(
        tmp_path / "costs.csv",
        ["commune_code", "item", "setup_vnd", "yearly_vnd"],
        [["13567", "training", "20000000", ""]],
    )
    typed, problems = _validate(path, costs_schema(known))
    assert len(problems) == 0
    assert typed.loc[2, "yearly_vnd"] == 0.0  # empty cost = nothing spent
    assert typed.loc[2, "setup_vnd"] == 20_000_000.0


def test_costs_with_thousands_separators_are_problems_not_a_crash(tmp_path, known):
    path = write_csv(
        tmp_path / "costs.csv",
        ["commune_code", "item", "setup_vnd", "yearly_vnd"],
        [["13567", "training", "20000000", ""], ["13567", "reward", "1.000.000", "-3"]],
    )
    typed, problems = _validate(path, costs_schema(known))
    assert sorted(zip(problems["row"], problems["column"], strict=True)) == [
        ("3", "setup_vnd"),
        ("3", "yearly_vnd"),
    ]
    assert "write a plain number without units" in set(problems["how_to_fix"])


def test_unit_map_type_must_be_allowed(tmp_path):
    raw = read_table(UNITS_2019)
    assert len(validate_frame(raw, unit_map_schema(), UNITS_2019)[1]) == 0
    bad = raw.copy()
    bad.loc[3, "commune_type"] = "phường"
    bad.loc[4, "commune_code"] = bad.loc[2, "commune_code"]
    _, problems = validate_frame(bad, unit_map_schema(), "units.csv")
    assert _problem(problems, "commune_type", "3")["rule"].iloc[0] == RULES["allowed_values"][0]
    assert sorted(problems.loc[problems["column"] == "commune_code", "row"]) == ["2", "4"]


def test_problem_frame_and_format():
    frame = problem_frame("f.csv", [2, 3], "wave", ["2019Q5", pd.NA], "rule", "fix")
    assert frame["value"].tolist() == ["2019Q5", ""]
    assert frame["row"].tolist() == ["2", "3"]
    text = format_problems(pd.concat([frame] * 30, ignore_index=True), limit=5)
    assert text.splitlines()[0].split(" | ")[0].strip() == "file"
    assert "... and 55 more problems" in text


def test_problem_table_wraps_long_cells_instead_of_cutting_them():
    fix = "write every period in one form: a whole number such as 2007 or a quarter such as 2019Q4"
    text = format_problems(problem_frame("panel.csv", [7], "year", ["2019 Q5"], "rule", fix))
    fix_column = [line.split(" | ")[-1].strip() for line in text.splitlines()[2:]]
    assert " ".join(part for part in fix_column if part) == fix
    assert max(len(part) for part in fix_column) <= 40


def test_codebook_examples_pass_the_contract(tmp_path, known):
    """Every example row in data/README.md is valid under the rules it documents."""
    text = (PROJECT_ROOT / "data" / "README.md").read_text("utf-8")
    blocks = [b.strip() for b in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)]
    contracts = {
        "commune_code,commune_name": unit_map_schema(),
        "old_code,": changes_schema(known),
        "commune_code,start_date": rollout_schema(known),
        "ballot_id,": ballots_schema(known, ITEMS, (1, 5), [0, 9]),
        "commune_code,period": admin_schema(known),
        "commune_code,item": costs_schema(known),
    }
    checked = set()
    for block in blocks:
        prefix = next((p for p in contracts if block.startswith(p)), None)
        if prefix is None:
            continue
        path = tmp_path / f"example{len(checked)}.csv"
        path.write_text(block + "\n", "utf-8")
        typed, problems = _validate(path, contracts[prefix])
        assert len(problems) == 0, f"{prefix}:\n{format_problems(problems)}"
        assert len(typed) >= 1
        checked.add(prefix)
    assert checked == set(contracts)
