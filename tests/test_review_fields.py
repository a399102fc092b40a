"""The optional fields the province's review asked about (officials' awareness, rewards):
accepted by the data contract, validated, carried into the prepared data and read by the
summary's "what these data cannot tell" part."""

from __future__ import annotations

import pytest
from conftest import ADMIN_HEADER, BALLOT_HEADER, admin_rows, ballot_rows, write_csv

from evaluation.analysis import board
from evaluation.data.problems import DataValidationError
from evaluation.prepare import prepare_inputs


def _with_review_fields(small_data, trained: object = 3, item: object = 4) -> None:
    rows = [[*row, trained, 1] for row in admin_rows()]
    write_csv(small_data.admin, [*ADMIN_HEADER, "officials_trained", "rewards_given"], rows)
    ballots = [[*row, item] for row in ballot_rows()]
    write_csv(small_data.ballots, [*BALLOT_HEADER, "officials_understand_model"], ballots)


def test_review_fields_reach_the_prepared_data_and_the_summary(small_data):
    _with_review_fields(small_data)
    prepared = prepare_inputs(small_data.params())
    assert {"officials_trained", "rewards_given"} <= set(prepared.panel.columns)
    assert prepared.ballots["officials_understand_model"].dropna().eq(4).all()
    awareness, rewards = board.review_topics(prepared)
    assert awareness.measured == ("officials_trained", "officials_understand_model")
    assert awareness.column == "officials_trained" and awareness.pilot_mean == 3.0
    assert rewards.measured == ("rewards_given",) and rewards.other_mean == 1.0


def test_a_review_item_off_the_scale_is_a_problem_row(small_data):
    _with_review_fields(small_data, item=7)
    with pytest.raises(DataValidationError) as caught:
        prepare_inputs(small_data.params())
    table = caught.value.problems
    hit = table[table["column"] == "officials_understand_model"]
    assert len(hit) and (hit["value"].astype(str) == "7").all()


def test_a_negative_count_of_trained_officials_is_a_problem_row(small_data):
    _with_review_fields(small_data, trained=-2)
    with pytest.raises(DataValidationError) as caught:
        prepare_inputs(small_data.params())
    assert "officials_trained" in set(caught.value.problems["column"])
