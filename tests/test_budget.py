"""Budget planner: exact modes equal brute force; greedy stays within its bound."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from evaluation.scaling.budget import gain_cost_curve, plan_rollout


def random_candidates(rng: np.random.Generator, n: int, integer_costs: bool) -> pd.DataFrame:
    cost = rng.integers(1, 40, n) * 1e6 if integer_costs else rng.uniform(1e6, 40e6, n)
    return pd.DataFrame(
        {
            "commune_code": np.arange(n) + 100,
            "name": [f"Xã {i}" for i in range(n)],
            "cost": cost,
            "expected_gain": rng.gamma(2.0, 30.0, n),
            "gain_se": rng.uniform(5, 20, n),
        }
    )


def optimum_by_enumeration(frame: pd.DataFrame, budget: float) -> float:
    """Independent check: itertools over every subset."""
    best = 0.0
    rows = list(zip(frame["cost"], frame["expected_gain"], strict=True))
    for k in range(len(rows) + 1):
        for subset in itertools.combinations(rows, k):
            if sum(c for c, _ in subset) <= budget:
                best = max(best, sum(v for _, v in subset))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_exact_modes_equal_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = random_candidates(rng, n=int(rng.integers(4, 12)), integer_costs=True)
    budget = float(rng.integers(20, 120)) * 1e6
    truth = optimum_by_enumeration(frame, budget)
    brute = plan_rollout(frame, budget, method="brute_force")
    dp = plan_rollout(frame, budget, method="dynamic_programming", cost_unit=1e6)
    assert brute.total_gain == pytest.approx(truth, rel=1e-12)
    assert dp.total_gain == pytest.approx(truth, rel=1e-12)
    assert dp.total_cost <= budget and brute.total_cost <= budget
    assert dp.upper_bound == pytest.approx(dp.total_gain)


@pytest.mark.parametrize("seed", range(6))
def test_dp_with_rounded_costs_is_feasible_and_near_optimal(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    frame = random_candidates(rng, n=12, integer_costs=False)
    budget = 150e6
    truth = optimum_by_enumeration(frame, budget)
    dp = plan_rollout(frame, budget, method="dynamic_programming", cost_unit=1e5)
    assert dp.total_cost <= budget
    assert dp.total_gain <= truth + 1e-9
    assert dp.upper_bound >= truth - 1e-9
    assert dp.total_gain >= 0.95 * truth


@pytest.mark.parametrize("seed", range(8))
def test_greedy_within_its_bound(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    frame = random_candidates(rng, n=14, integer_costs=False)
    budget = float(rng.uniform(20e6, 200e6))
    truth = optimum_by_enumeration(frame, budget)
    greedy = plan_rollout(frame, budget, method="greedy")
    assert greedy.total_cost <= budget
    assert greedy.total_gain >= truth / 2 - 1e-9
    assert truth <= greedy.upper_bound + 1e-9
    assert greedy.total_gain <= truth + 1e-9


def test_greedy_falls_back_to_best_single_commune() -> None:
    frame = pd.DataFrame(
        {"commune_code": [1, 2], "cost": [1.0, 10.0], "expected_gain": [2.0, 10.0]}
    )
    plan = plan_rollout(frame, 10.0, method="greedy")
    assert plan.plan["commune_code"].tolist() == [2]
    assert plan.total_gain == 10.0
    # bound: all of item 1 (2) + 9/10 of item 2 (9)
    assert plan.upper_bound == pytest.approx(11.0)


def test_plan_frame_order_and_cumulative_columns() -> None:
    rng = np.random.default_rng(7)
    frame = random_candidates(rng, n=30, integer_costs=True)
    frame.loc[0, "expected_gain"] = -5.0
    plan = plan_rollout(frame, 200e6, name_col="name", se_col="gain_se")
    assert plan.method == "dynamic_programming"
    p = plan.plan
    assert p["order"].tolist() == list(range(1, len(p) + 1))
    assert p["gain_per_million_vnd"].is_monotonic_decreasing
    np.testing.assert_allclose(p["cumulative_cost"], p["cost"].cumsum())
    np.testing.assert_allclose(p["cumulative_gain"], p["expected_gain"].cumsum())
    np.testing.assert_allclose(p["cumulative_gain_se"], p["expected_gain_se"].cumsum())
    assert p["cumulative_cost"].iloc[-1] == pytest.approx(plan.total_cost)
    assert 100 not in set(p["commune_code"])
    assert any("no positive expected gain" in n for n in plan.notes)
    assert {"name", "cumulative_gain_low", "cumulative_gain_high"} <= set(p.columns)
    independent = gain_cost_curve(frame, se_col="gain_se", gain_correlation="independent")
    np.testing.assert_allclose(
        independent["cumulative_gain_se"], np.sqrt((independent["expected_gain_se"] ** 2).cumsum())
    )


def test_auto_picks_method_by_size() -> None:
    rng = np.random.default_rng(3)
    assert plan_rollout(random_candidates(rng, 10, True), 50e6).method == "brute_force"
    big = random_candidates(rng, 200, True)
    assert plan_rollout(big, 500e6).method == "dynamic_programming"
    assert plan_rollout(big, 500e6, cost_unit=1.0).method == "greedy"


def test_bad_input() -> None:
    frame = pd.DataFrame({"commune_code": [1], "cost": [1.0], "expected_gain": [1.0]})
    with pytest.raises(ValueError, match="cost_col='kost'"):
        plan_rollout(frame, 1.0, cost_col="kost")
    with pytest.raises(ValueError, match="budget"):
        plan_rollout(frame, -1.0)


def test_gain_curve_figure_reads_off_the_budget() -> None:
    from evaluation.report.figures_scaling import gain_cost_curve_figure
    from evaluation.report.style import close

    frame = pd.DataFrame(
        {
            "commune_code": [1, 2, 3],
            "cost": [1e9, 2e9, 3e9],
            "expected_gain": [300.0, 400.0, 300.0],
            "gain_se": [50.0, 60.0, 70.0],
        }
    )
    curve = gain_cost_curve(frame, se_col="gain_se")
    fig = gain_cost_curve_figure(curve, budget=3e9, language="en")
    title = fig.axes[0].get_title(loc="left").replace("\n", " ")
    assert "about 700 more satisfied households in 2 communes" in title
    close(fig)
