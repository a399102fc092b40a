"""The board's story (evaluation.analysis.board and the summary sentences built on it).

Each fact is read from what its page wrote; the tests build those results by hand and check
that the story carries the same values, says "clear" only when the page's adjusted p-value is
below alpha, and says in one sentence what the data cannot tell.
"""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.analysis import board
from evaluation.i18n import LANGUAGES, format_percent, format_quarter, t
from evaluation.report import summary as sm

HEADLINE = {"outcome": "satisfaction_index", "estimate": 0.44, "n_pilot": 14, "n_communes": 109}


def interactions(p_staff: float, p_condolence: float) -> dict:
    rows = [
        ("baseline_one_stop_staff_per_1000", 0.30, p_staff),
        ("baseline_pct_condolence_on_time", -1.2, p_condolence),
        ("baseline_index", 0.1, 0.6),
    ]
    return {
        "n_pilot": 14,
        "chosen_moderator": None,
        "interactions": [
            {"moderator": m, "outcome": "satisfaction_index", "slope": s, "p_holm": p}
            for m, s, p in rows
        ],
    }


def test_the_review_proposals_are_clear_only_below_alpha():
    outputs = board.RunOutputs(
        results={"headline": HEADLINE, "where_it_works": interactions(0.031, 0.61)}
    )
    staff, condolence = board.review_proposals(outputs)
    assert (staff.proposal, staff.direction, staff.clear) == ("one_stop_staff", "larger", True)
    assert staff.p_adjusted == 0.031
    assert (condolence.direction, condolence.clear) == ("smaller", False)
    strict = board.RunOutputs(
        results={"headline": HEADLINE, "where_it_works": interactions(0.031, 0.61)}, alpha=0.01
    )
    assert not board.review_proposals(strict)[0].clear


@pytest.mark.parametrize("language", LANGUAGES)
def test_proposal_sentences_say_clear_or_chance_as_page_05_found(language):
    outputs = board.RunOutputs(
        results={"headline": HEADLINE, "where_it_works": interactions(0.031, 0.61)}
    )
    staff, condolence = sm.proposal_lines(outputs, language)
    assert staff.startswith(t("summary.proposal_one_stop_staff", language))
    assert t("summary.proposal_clear", language).split("{")[0] in staff
    assert sm.p_text(0.031, language) in staff and "3" in staff  # three characteristics tested
    assert t("summary.proposal_unclear", language).split("{")[0] in condolence
    assert t("summary.smaller", language) in condolence


def test_a_proposal_page_05_could_not_test_is_said_so():
    outputs = board.RunOutputs(results={"headline": HEADLINE})
    lines = sm.proposal_lines(outputs, "en")
    assert all(line.endswith(t("summary.proposal_untested", "en")) for line in lines)
    assert sm.proposal_lines(board.RunOutputs(panel=True), "en") == []


ROLLOUT = {
    "cohorts": [199, 204, 206, 208],
    "units_by_cohort": [14, 33, 22, 26],
    "later_share_of_pilot": 0.584,
    "equal_exposure_waves": 2,
    "verdict": "less",
}
LABELS = {"199": "2019Q4", "204": "2021Q1", "206": "2021Q3", "208": "2022Q1"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_later_waves_and_their_share_of_the_pilots_effect(language):
    outputs = board.RunOutputs(
        results={"headline": HEADLINE, "rollout_waves": ROLLOUT}, period_labels=LABELS
    )
    later = board.later_waves(outputs)
    assert (later.n_later, later.n_waves, later.first_period, later.last_period) == (
        81,
        3,
        "2021Q1",
        "2022Q1",
    )
    text = sm.later_text(outputs, language)
    assert "81" in text and format_quarter("2021Q1", language) in text
    assert format_percent(0.584, language, 0) in text
    # The share reaches the first sentence of the answer and the question.
    assert format_percent(0.584, language, 0) in sm.effect_sentence(
        board.RunOutputs(
            results={"headline": HEADLINE, "rollout_waves": ROLLOUT}, period_labels=LABELS
        ),
        language,
    )


def test_no_later_cohort_and_no_clear_later_effect():
    one = {**ROLLOUT, "cohorts": [199], "units_by_cohort": [14]}
    outputs = board.RunOutputs(results={"rollout_waves": one})
    assert board.later_waves(outputs) is None
    assert sm.later_text(outputs, "en") == t("summary.later_missing", "en")
    none = {**ROLLOUT, "verdict": "none", "later_share_of_pilot": -0.1}
    outputs = board.RunOutputs(results={"headline": HEADLINE, "rollout_waves": none})
    assert t("summary.later_none", "en", n_periods=2) in sm.later_text(outputs, "en")
    assert "%" not in sm.effect_sentence(outputs, "en").split("points")[-1]


class _Prepared:
    """The two frames review_topics reads."""

    def __init__(self, panel: pd.DataFrame, ballots: pd.DataFrame | None = None) -> None:
        self.panel = panel
        self.ballots = ballots


def test_awareness_and_rewards_not_measured_name_the_fields_to_collect():
    panel = pd.DataFrame({"commune_code": ["1", "2"], "wave": [1, 1], "pilot": [True, False]})
    topics = board.review_topics(_Prepared(panel))
    assert [topic.topic for topic in topics] == ["awareness", "rewards"]
    assert all(not topic.measured for topic in topics)
    lines = sm.topic_lines(_Prepared(panel), board.RunOutputs(), "vi")
    assert t("summary.fields.officials_trained", "vi") in lines[0]
    assert t("summary.fields.rewards_given", "vi") in lines[1]


def test_a_measured_topic_is_described_pilot_against_other_in_the_last_period():
    panel = pd.DataFrame(
        {
            "commune_code": ["1", "2", "1", "2", "3"],
            "wave": [1, 1, 2, 2, 2],
            "pilot": [True, False, True, False, False],
            "rewards_given": [9.0, 9.0, 4.0, 1.0, 2.0],
        }
    )
    rewards = board.review_topics(_Prepared(panel))[1]
    assert rewards.measured == ("rewards_given",)
    assert (rewards.pilot_mean, rewards.other_mean) == (4.0, 1.5)
    line = sm.topic_lines(_Prepared(panel), board.RunOutputs(), "en")[1]
    assert "4.0" in line and "1.5" in line


def test_a_where_page_without_interactions_leaves_the_proposals_untested():
    """Page 05 on thin data writes ``interactions: None`` (one pilot, endline-only ballots)."""
    outputs = board.RunOutputs(results={"where_it_works": {"n_pilot": 1, "interactions": None}})
    assert [f.tested for f in board.review_proposals(outputs)] == [False, False]
    assert sm.where_text(outputs, "en")
    assert len(sm.proposal_lines(outputs, "vi")) == 2


def test_small_ballot_groups_are_suppressed_on_the_board_pages():
    """Fewer ballots than report.min_cell_ballots behind the headline: no effect, no interval,
    no headline figure on the board's page; a sentence says why."""
    headline = {**HEADLINE, "size_checked": True, "few_cluster_conf_int": [0.2, 0.6]}
    small = board.RunOutputs(
        results={"headline": headline}, smallest_ballot_cell=4, min_cell_ballots=10
    )
    assert small.suppressed
    for language in LANGUAGES:
        effect = sm.effect_sentence(small, language)
        assert effect == sm.certainty_sentence(small, language)
        assert "0,44" not in effect and "0.44" not in effect and "0,2" not in effect
        assert "4" in effect and "10" in effect
    enough = board.RunOutputs(
        results={"headline": headline}, smallest_ballot_cell=10, min_cell_ballots=10
    )
    assert not enough.suppressed and "0.44" in sm.effect_sentence(enough, "en")
    png = (None, "alt")
    figures = {"event_study": png, "gain_cost_curve": png}
    shown = board.RunOutputs(results={"headline": headline}, figures=figures)
    hidden = board.RunOutputs(
        results={"headline": headline}, figures=figures, smallest_ballot_cell=3
    )
    assert sm.key_figures(shown) == ["event_study", "gain_cost_curve"]
    assert sm.key_figures(hidden) == ["gain_cost_curve"]


def test_the_smallest_ballot_group_is_counted_from_the_window(tmp_path):
    from _demo import small_demo

    params, prepared = small_demo()
    smallest = board.smallest_ballot_cell(prepared)
    ballots = prepared.in_window(prepared.ballots)
    post = ballots["wave_index"] >= prepared.meta["pilot_wave"]
    expected = ballots.groupby([ballots["pilot"].astype(bool), post]).size().min()
    assert smallest == int(expected) > 0


def test_a_ballot_item_mean_from_few_ballots_is_not_shown():
    ballots = pd.DataFrame(
        {
            "commune_code": ["1"] * 3 + ["2"] * 30,
            "wave": [5] * 33,
            "pilot": [True] * 3 + [False] * 30,
            "officials_understand_model": [5.0] * 3 + [3.0] * 30,
        }
    )
    panel = pd.DataFrame({"commune_code": ["1", "2"], "wave": [5, 5], "pilot": [True, False]})
    prepared = _Prepared(panel, ballots)
    awareness = board.review_topics(prepared)[0]
    assert awareness.smallest_group == 3
    line = sm.topic_lines(prepared, board.RunOutputs(min_cell_ballots=10), "en")[0]
    assert "5.0" not in line and "10" in line
    shown = sm.topic_lines(prepared, board.RunOutputs(min_cell_ballots=3), "en")[0]
    assert "5.0" in shown and "3.0" in shown
