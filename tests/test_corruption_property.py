"""Random corruptions of a valid ballots file never end in a bare Python error.

Hypothesis drops and duplicates rows, swaps the contents of two columns, writes random text
(Vietnamese letters, separators, quotes, numbers with thousands separators) into cells and
empties cells of the small valid ballots file of ``conftest.py``; validation must then either
pass or raise the package's :class:`DataValidationError` with a problem table whose rows name
a file and a rule. Derandomized, so a failure reproduces on every machine.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import BALLOT_HEADER, SmallData, ballot_rows, build_small_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.analysis.checks import check_design
from evaluation.config import Params
from evaluation.data.problems import PROBLEM_COLUMNS, DataValidationError
from evaluation.prepare import prepare_inputs

#: Text a person (or a broken export) puts into a cell.
CELL_TEXT = st.one_of(
    st.text(alphabet="0123456789.,;-Q /", max_size=12),
    st.text(alphabet="abcxyzđĐươạảãáàệếềểễ ", max_size=8),
    st.sampled_from(["1.234.567", "2,431", "NaN", "n/a", "-1", "9", "2019Q9", "31/02/2019", '"']),
)
COLUMNS = st.sampled_from(BALLOT_HEADER)
ROW = st.integers(min_value=0, max_value=10_000)
OPERATION = st.one_of(
    st.tuples(st.just("drop"), ROW),
    st.tuples(st.just("duplicate"), ROW),
    st.tuples(st.just("swap"), COLUMNS, COLUMNS),
    st.tuples(st.just("text"), ROW, COLUMNS, CELL_TEXT),
    st.tuples(st.just("empty"), ROW, COLUMNS),
)


def corrupt(rows: list[list[str]], operations: list[tuple]) -> list[list[str]]:
    """Apply the operations in order (row numbers wrap around the rows left)."""
    rows = [list(r) for r in rows]
    for op in operations:
        if not rows:
            break
        kind = op[0]
        if kind == "drop":
            rows.pop(op[1] % len(rows))
        elif kind == "duplicate":
            rows.append(list(rows[op[1] % len(rows)]))
        elif kind == "swap":
            a, b = BALLOT_HEADER.index(op[1]), BALLOT_HEADER.index(op[2])
            for row in rows:
                row[a], row[b] = row[b], row[a]
        elif kind == "text":
            rows[op[1] % len(rows)][BALLOT_HEADER.index(op[2])] = op[3]
        else:
            rows[op[1] % len(rows)][BALLOT_HEADER.index(op[2])] = ""
    return rows


def write_ballots(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(BALLOT_HEADER)
        writer.writerows(rows)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[SmallData, Params]:
    data = build_small_data(tmp_path_factory.mktemp("corruption") / "data")
    return data, data.params()


@settings(
    derandomize=True,
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATION, min_size=1, max_size=6))
def test_corrupted_ballots_pass_or_give_a_problem_table(dataset, operations):
    data, params = dataset
    rows = [[str(v) for v in row] for row in ballot_rows()]
    write_ballots(data.ballots, corrupt(rows, operations))
    try:
        prepared = prepare_inputs(params)
        check_design(prepared, params)
    except DataValidationError as err:
        problems = err.problems
        assert len(problems) > 0
        assert list(problems.columns) == PROBLEM_COLUMNS
        assert problems["file"].str.len().gt(0).all()
        assert problems["rule"].str.len().gt(0).all()
        return
    assert len(prepared.ballots) > 0


def test_the_corruptions_do_reach_the_file(dataset):
    """The property above tests something: a corruption changes the file and is refused."""
    data, params = dataset
    rows = [[str(v) for v in row] for row in ballot_rows()]
    write_ballots(data.ballots, corrupt(rows, [("text", 0, "staff_courteous", "abc")]))
    with pytest.raises(DataValidationError) as caught:
        prepare_inputs(params)
    assert caught.value.problems["value"].tolist() == ["abc"]
