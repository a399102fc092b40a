"""Satisfaction measures on tiny frames computed by hand; Cronbach's alpha; coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.config import BallotParams
from evaluation.measures import (
    add_admin_outcomes,
    commune_baseline,
    commune_timing,
    commune_wave_panel,
    cronbach_alpha,
    factor_reliability,
    item_distribution,
    score_ballots,
    wave_index,
    wave_label,
)

NAN = np.nan


@pytest.fixture
def ballot_params() -> BallotParams:
    return BallotParams(
        factors={"access": ["a1", "a2"], "staff": ["s1"]},
        model_items=["m1", "m2"],
        satisfied_from=4,
        dissatisfied_to=2,
    )


@pytest.fixture
def tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "commune_code": ["1", "1", "1", "2", "2"],
            "wave": ["2019Q4", "2019Q4", "2020Q1", "2019Q4", "2019Q4"],
            "a1": [5, 1, NAN, 4, NAN],
            "a2": [4, 2, 3, 4, NAN],
            "s1": [3, NAN, 5, 2, NAN],
            "m1": [5, 3, 4, 2, 1],
            "m2": [4, NAN, 2, 2, 1],
            "weight": [1.0, 3.0, 1.0, 2.0, 1.0],
        }
    ).astype({"a1": "Float64", "a2": "Float64", "s1": "Float64"})


def test_score_ballots_by_hand(tiny, ballot_params):
    scored = score_ballots(tiny, ballot_params)
    # Ballot 0: 5, 4, 3 -> index 4; satisfied 2/3 (5 and 4); dissatisfied 0.
    # Ballot 1: 1, 2 (s1 missing) -> index 1.5; satisfied 0; dissatisfied 2/2.
    # Ballot 2: 3, 5 (a1 missing) -> 4; satisfied 1/2; dissatisfied 0.
    # Ballot 3: 4, 4, 2 -> 10/3; satisfied 2/3; dissatisfied 1/3.
    # Ballot 4: nothing answered -> missing, still counted as a row.
    np.testing.assert_allclose(
        scored["satisfaction_index"].astype(float), [4.0, 1.5, 4.0, 10 / 3, NAN]
    )
    np.testing.assert_allclose(scored["pct_satisfied"].astype(float), [2 / 3, 0, 0.5, 2 / 3, NAN])
    np.testing.assert_allclose(scored["pct_dissatisfied"].astype(float), [0, 1, 0, 1 / 3, NAN])
    assert scored["n_answered"].tolist() == [3, 2, 2, 3, 0]
    np.testing.assert_allclose(scored["factor_access"].astype(float), [4.5, 1.5, 3.0, 4.0, NAN])
    np.testing.assert_allclose(scored["factor_staff"].astype(float), [3, NAN, 5, 2, NAN])
    # The model's own items are not in the SIPAS index.
    np.testing.assert_allclose(scored["model_index"].astype(float), [4.5, 3, 3, 2, 1])
    assert len(scored) == len(tiny)


def test_thresholds_follow_params(tiny):
    strict = BallotParams(
        factors={"access": ["a1", "a2"], "staff": ["s1"]}, satisfied_from=5, dissatisfied_to=1
    )
    scored = score_ballots(tiny, strict)
    np.testing.assert_allclose(scored["pct_satisfied"].astype(float), [1 / 3, 0, 0.5, 0, NAN])
    np.testing.assert_allclose(scored["pct_dissatisfied"].astype(float), [0, 0.5, 0, 0, NAN])
    assert "model_index" not in scored


def _alpha_by_hand(x: np.ndarray) -> float:
    """alpha = k/(k-1) * (1 - sum of item variances / variance of the total score)."""
    n, k = x.shape
    means = [sum(x[i, j] for i in range(n)) / n for j in range(k)]
    item_vars = [sum((x[i, j] - means[j]) ** 2 for i in range(n)) / (n - 1) for j in range(k)]
    totals = [sum(x[i, :]) for i in range(n)]
    t_mean = sum(totals) / n
    total_var = sum((t - t_mean) ** 2 for t in totals) / (n - 1)
    return k / (k - 1) * (1 - sum(item_vars) / total_var)


def test_cronbach_alpha_matches_the_hand_formula():
    x = np.array([[4, 5, 4], [3, 3, 2], [5, 5, 5], [2, 3, 3], [4, 4, 5], [1, 2, 2]], float)
    assert cronbach_alpha(pd.DataFrame(x)) == pytest.approx(_alpha_by_hand(x), abs=1e-12)
    # Identical items: item variances sum to a quarter of the total variance, alpha = 1.
    same = pd.DataFrame({"a": [1, 2, 3, 4], "b": [1, 2, 3, 4]})
    assert cronbach_alpha(same) == pytest.approx(1.0)


def test_cronbach_alpha_uses_complete_cases_and_needs_two_items():
    x = pd.DataFrame({"a": [4, 3, 5, 2, NAN], "b": [5, 3, 5, 3, 1], "c": [4, 2, 5, 3, 2]})
    complete = x.dropna().to_numpy(float)
    assert cronbach_alpha(x) == pytest.approx(_alpha_by_hand(complete), abs=1e-12)
    assert np.isnan(cronbach_alpha(x[["a"]]))
    assert np.isnan(cronbach_alpha(x.iloc[:1]))


def test_factor_reliability(tiny, ballot_params):
    table = factor_reliability(tiny, ballot_params).set_index("factor")
    assert list(table.index) == ["access", "staff", "model"]
    assert table.loc["access", "n_items"] == 2
    assert table.loc["access", "n_complete_ballots"] == 3
    a = tiny[["a1", "a2"]].dropna().to_numpy(float)
    assert table.loc["access", "cronbach_alpha"] == pytest.approx(_alpha_by_hand(a))
    assert np.isnan(table.loc["staff", "cronbach_alpha"])


def test_item_distribution_shares(tiny):
    dist = item_distribution(tiny, ["m1"], ["commune_code"])
    one = dist[dist["commune_code"] == "1"].set_index("answer")
    assert one["n"].to_dict() == {3: 1, 4: 1, 5: 1}
    assert one["share"].sum() == pytest.approx(1.0)
    two = dist[dist["commune_code"] == "2"].set_index("answer")
    assert two["share"].to_dict() == {1: 0.5, 2: 0.5}


def test_wave_index_and_label_round_trip():
    waves = pd.Series(["2019Q4", "2020Q1", "2018Q3"])
    idx = wave_index(waves)
    assert idx.tolist() == [199, 200, 194]  # quarters since 1970Q1
    assert [wave_label(i) for i in idx] == waves.tolist()


def _communes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "commune_code": ["1", "2", "3"],
            "commune_type": ["xa", "phuong", "xa"],
            "district_name": ["A", "A", "B"],
            "start_date": pd.to_datetime(["2019-10-01", "2020-07-01", None]),
            "pilot_share": [1.0, 1.0, 0.0],
        }
    )


def test_commune_timing():
    timing = commune_timing(_communes()).set_index("commune_code")
    assert timing["first_treated_wave"].tolist()[:2] == [199.0, 202.0]
    assert np.isnan(timing.loc["3", "first_treated_wave"])
    assert timing["pilot"].tolist() == [True, False, False]  # pilots = earliest start wave
    assert timing["cohort"].tolist() == ["2019Q4", "2020Q3", "never"]
    assert timing["urban"].tolist() == [0.0, 1.0, 0.0]


def test_panel_means_weights_and_coverage(tiny, ballot_params):
    scored = score_ballots(tiny, ballot_params)
    admin = pd.DataFrame(
        {
            "commune_code": ["1", "1", "2"],
            "wave": ["2019Q4", "2020Q1", "2019Q4"],
            "ballot_roster": [4.0, 1.0, 8.0],
            "households_total": [2000.0, 2000.0, 500.0],
            "dossiers_received": [100.0, 0.0, 40.0],
            "dossiers_on_time": [90.0, 0.0, 30.0],
            "complaints_attitude": [2.0, 0.0, 1.0],
            "one_stop_staff": [4.0, 4.0, 1.0],
        }
    )
    communes = commune_timing(_communes())
    panel = commune_wave_panel(scored, communes, admin).set_index(["commune_code", "wave"])
    cell = panel.loc[("1", "2019Q4")]
    assert cell["n_ballots"] == 2
    assert cell["satisfaction_index"] == pytest.approx((4.0 + 1.5) / 2)
    assert cell["coverage"] == pytest.approx(2 / 4)
    assert cell["pct_dossiers_on_time"] == pytest.approx(0.9)
    assert cell["complaints_per_1000"] == pytest.approx(1.0)
    assert cell["one_stop_staff_per_1000"] == pytest.approx(2.0)
    assert cell["treated"] == 1.0
    # Commune 2 wave 2019Q4: one ballot answered nothing -> mean of the others, both counted.
    assert panel.loc[("2", "2019Q4"), "n_ballots"] == 2
    assert panel.loc[("2", "2019Q4"), "satisfaction_index"] == pytest.approx(10 / 3)
    assert panel.loc[("2", "2019Q4"), "coverage"] == pytest.approx(2 / 8)
    assert panel.loc[("2", "2019Q4"), "treated"] == 0.0  # adopts 2020Q3
    # More ballots than the roster: coverage capped at 1.
    assert panel.loc[("1", "2020Q1"), "coverage"] == 1.0
    assert np.isnan(panel.loc[("1", "2020Q1"), "pct_dossiers_on_time"])  # 0 received

    weighted = commune_wave_panel(scored, communes, weight="weight").set_index(
        ["commune_code", "wave"]
    )
    # Weights 1 and 3: (4 * 1 + 1.5 * 3) / 4.
    assert weighted.loc[("1", "2019Q4"), "satisfaction_index"] == pytest.approx(8.5 / 4)
    assert "coverage" not in weighted


def test_add_admin_outcomes_without_counts_gives_missing():
    out = add_admin_outcomes(pd.DataFrame({"n_ballots": [3]}))
    assert "coverage" not in out
    assert np.isnan(out.loc[0, "pct_condolence_on_time"])


def test_commune_baseline_means_before_the_pilot(tiny, ballot_params):
    scored = score_ballots(tiny, ballot_params)
    panel = commune_wave_panel(scored, commune_timing(_communes()))
    base = commune_baseline(panel, before_wave=200).set_index("commune_code")
    assert base.loc["1", "baseline_index"] == pytest.approx(2.75)
    assert base.loc["1", "baseline_ballots"] == 2
    assert bool(base.loc["1", "pilot"]) is True
