"""Roth & Sant'Anna (2023) efficient estimator: its definition by hand, its variance by design.

The estimator also reproduced every number the R package ``staggered`` publishes in its README
(simple, cohort, calendar, event times 0-5, ``staggered_cs`` and ``staggered_sa`` on the
Chicago officer data) to the 7 digits printed there; that data set ships only inside the R
package, so the check is not repeated here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.estimators.efficient_staggered import (
    cohort_codes,
    cohort_summaries,
    efficient_staggered,
    estimand_matrices,
    plug_in,
)
from evaluation.estimators.result import TIDY_COLUMNS
from evaluation.estimators.staggered import group_time_att


def long_panel(y: np.ndarray, starts: np.ndarray, periods: np.ndarray) -> pd.DataFrame:
    n, n_t = y.shape
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), n_t),
            "period": np.tile(periods, n),
            "start": np.repeat(starts, n_t).astype(float),
            "y": y.ravel(),
        }
    )


@pytest.fixture(scope="module")
def two_cohorts():
    """6 units starting in period 2, 7 in period 3, periods 0-3, correlated outcomes."""
    rng = np.random.default_rng(7)
    starts = np.array([2] * 6 + [3] * 7)
    level = rng.normal(0, 1, 13)
    y = level[:, None] + rng.normal(0, 0.5, (13, 4)) + 0.4 * (np.arange(4) >= starts[:, None])
    return y, starts


def test_two_cohorts_by_hand(two_cohorts):
    y, starts = two_cohorts
    a, b = y[starts == 2], y[starts == 3]
    n_a, n_b = len(a), len(b)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # the only identified effect: cohort 2 in period 2 against cohort 3, before: period 1
    theta0 = a[:, 2].mean() - b[:, 2].mean()
    x = a[:, 1].mean() - b[:, 1].mean()
    beta = (s_a[1, 2] / n_a + s_b[1, 2] / n_b) / (s_a[1, 1] / n_a + s_b[1, 1] / n_b)
    estimate = theta0 - beta * x

    def var_of(s: np.ndarray) -> float:
        return s[2, 2] - 2 * beta * s[1, 2] + beta**2 * s[1, 1]

    var_neyman = var_of(s_a) / n_a + var_of(s_b) / n_b
    # refinement: periods before the first start (0, 1) explain part of the effect spread
    bb = np.linalg.solve(s_a[:2, :2], s_a[:2, 2]) - np.linalg.solve(s_b[:2, :2], s_b[:2, 2])
    adjust = bb @ ((s_a[:2, :2] + s_b[:2, :2]) / 2) @ bb / (n_a + n_b)

    data = long_panel(y, starts, np.arange(4))
    fit = efficient_staggered(
        data, "y", unit="unit", time="period", first_treated="start", estimands=("simple",)
    )
    row = fit.table.iloc[0]
    assert row["estimate"] == pytest.approx(estimate, abs=1e-12)
    assert row["beta"] == pytest.approx(beta, abs=1e-12)
    assert row["se_neyman"] == pytest.approx(np.sqrt(var_neyman), abs=1e-12)
    assert row["std_error"] == pytest.approx(np.sqrt(var_neyman - adjust), abs=1e-12)
    assert row["difference_in_means"] == pytest.approx(theta0, abs=1e-12)
    # with two cohorts the cohort- and calendar-weighted averages are the same single effect
    both = efficient_staggered(
        data,
        "y",
        unit="unit",
        time="period",
        first_treated="start",
        estimands=("cohort", "calendar"),
    )
    assert np.allclose(both.table["estimate"], estimate, atol=1e-12)
    # beta = 0: difference in means; beta = 1: the DiD against the period before
    dim = efficient_staggered(
        data, "y", unit="unit", time="period", first_treated="start", estimands=("simple",), beta=0
    )
    did = efficient_staggered(
        data, "y", unit="unit", time="period", first_treated="start", estimands=("simple",), beta=1
    )
    assert dim.table["estimate"].iloc[0] == pytest.approx(theta0, abs=1e-12)
    assert did.table["estimate"].iloc[0] == pytest.approx(theta0 - x, abs=1e-12)


def test_beta_one_is_callaway_santanna_with_not_yet_treated():
    rng = np.random.default_rng(11)
    starts = np.repeat([2, 3, 4, 5], [5, 6, 4, 7])
    n = starts.size
    y = rng.normal(0, 1, n)[:, None] + rng.normal(0, 0.6, (n, 6))
    y += 0.3 * (np.arange(6) >= starts[:, None])
    data = long_panel(y, starts, np.arange(1, 7))  # periods 1..6, starts among them
    data["start"] += 1
    cs = group_time_att(
        data,
        "y",
        "unit",
        "period",
        "start",
        control_group="not_yet_treated",
        method="reg",
        base_period="universal",
    ).att_gt
    sizes = pd.Series(starts + 1).value_counts()
    post = cs[(cs["time"] >= cs["group"]) & (cs["time"] < (starts + 1).max())]
    weights = post["group"].map(sizes)
    simple = float(np.average(post["estimate"], weights=weights))
    fit = efficient_staggered(
        data, "y", unit="unit", time="period", first_treated="start", estimands=("simple",), beta=1
    )
    assert fit.table["estimate"].iloc[0] == pytest.approx(simple, abs=1e-10)
    # event time 1: the cohorts with a cohort still waiting one period after their start
    e1 = post[post["time"] - post["group"] == 1]
    es = efficient_staggered(
        data,
        "y",
        unit="unit",
        time="period",
        first_treated="start",
        estimands=(),
        event_times=(1,),
        beta=1,
    )
    expected = float(np.average(e1["estimate"], weights=e1["group"].map(sizes)))
    assert es.table["estimate"].iloc[0] == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("spread", [0.0, 0.5])
def test_standard_error_matches_the_randomisation_variance(spread):
    # Fixed potential outcomes; the start dates are re-randomised (cohort sizes fixed).
    rng = np.random.default_rng(2023)
    n, n_t = 60, 5
    y0 = rng.normal(0, 1, n)[:, None] + np.linspace(0, 0.3, n_t) + rng.normal(0, 0.5, (n, n_t))
    tau = 0.3 + spread * rng.normal(0, 1, n)
    labels = np.repeat([2, 3, 4], 20).astype(float)
    estimates, var_neyman = [], []
    for _ in range(1500):
        g = rng.permutation(labels)
        y = y0 + tau[:, None] * (np.arange(n_t) >= g[:, None])
        summaries = cohort_summaries(y, g)
        fit = plug_in(summaries, *estimand_matrices(summaries, "simple"))
        estimates.append(fit.estimate)
        var_neyman.append(fit.se_neyman**2)
    estimates = np.array(estimates)
    true_var = estimates.var()
    # the simple estimand weights cohorts 2 (periods 2, 3) and 3 (period 3); tau is the same
    assert abs(estimates.mean() - tau.mean()) < 4 * np.sqrt(true_var / estimates.size)
    ratio = np.mean(var_neyman) / true_var
    if spread == 0:
        assert 0.85 < ratio < 1.15  # constant effects: the Neyman variance is unbiased
    else:
        assert ratio > 0.95  # heterogeneous effects: conservative


def test_tidy_and_notes():
    rng = np.random.default_rng(3)
    starts = np.repeat([1.0, 2.0, np.nan], [4, 4, 5])
    starts[0] = 3.0  # a one-unit cohort: dropped, as in staggered
    y = rng.normal(0, 1, (13, 4))
    data = long_panel(y, starts, np.arange(4))
    data.loc[(data["unit"] == 12) & (data["period"] == 2), "y"] = np.nan
    fit = efficient_staggered(data, "y", unit="unit", time="period", first_treated="start")
    tidy = fit.tidy()
    assert list(tidy.columns) == TIDY_COLUMNS
    assert list(tidy["term"]) == ["simple", "cohort", "calendar"]
    assert (tidy["estimator"] == "efficient_staggered").all()
    assert fit.n_units == 11 and fit.n_cohorts == 3
    assert any("balanced" in n for n in fit.notes) and any("single unit" in n for n in fit.notes)
    assert fit.cohort_sizes == {"1": 3, "2": 4, "inf": 4}
    assert (tidy["conf_low"] < tidy["estimate"]).all() and (
        tidy["estimate"] < tidy["conf_high"]
    ).all()


def test_codes_and_bad_starts():
    periods = np.array([10.0, 11.0, 12.0])
    codes = cohort_codes(np.array([11.0, np.nan, 15.0, 13.0, 8.0, np.inf]), periods)
    assert codes[0] == 1 and np.isinf(codes[1]) and np.isinf(codes[5])
    assert codes[3] == 3 and codes[2] == 4 and codes[4] == -1
    with pytest.raises(ValueError, match="between two periods"):
        cohort_codes(np.array([11.5]), periods)
    y = np.zeros((4, 3))
    with pytest.raises(ValueError, match="no effect"):
        summaries = cohort_summaries(y + np.arange(4)[:, None], np.array([1.0, 1.0, 2.0, 2.0]))
        estimand_matrices(summaries, "eventstudy", event_time=5)
