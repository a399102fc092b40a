"""Cost-effectiveness arithmetic, checked by hand on a small case."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.scaling.cost_effectiveness import (
    annuity_factor,
    cost_effectiveness,
    present_value_cost,
    sensitivity_grid,
)

# Hand case: set-up 100 million, running 50 million a year for 2 years at 10%,
# 1,000 households, +10 points satisfied, +0.2 score.
# A = 1/1.1 + 1/1.21 = 2.1/1.21; PV = 100e6 + 50e6 * 2.1/1.21 = 226e6/1.21.
CASE = {
    "setup_cost": 100e6,
    "annual_cost": 50e6,
    "households": 1000,
    "effect_pct_satisfied": 0.10,
    "effect_mean_score": 0.2,
    "horizon_years": 2,
    "discount_rate": 0.10,
}


def test_hand_computed_case() -> None:
    ce = cost_effectiveness(**CASE)
    assert ce.annuity_factor == pytest.approx(2.1 / 1.21, rel=1e-14)
    assert ce.pv_cost == pytest.approx(226e6 / 1.21, rel=1e-14)
    assert ce.additional_satisfied_households == pytest.approx(100.0)
    # 226e6 / 1.21 / 100 households
    assert ce.vnd_per_satisfied_household == pytest.approx(1_867_768.595041322, rel=1e-12)
    # PV / (100 * 2.1 / 1.21) = 226e6 / 210
    assert ce.vnd_per_satisfied_household_year == pytest.approx(226e6 / 210, rel=1e-12)
    # 0.2 points = two steps of 0.1: PV / 2
    assert ce.vnd_per_tenth_point == pytest.approx(113e6 / 1.21, rel=1e-12)
    assert ce.vnd_per_tenth_point_household == pytest.approx(113e6 / 1.21 / 1000, rel=1e-12)
    assert ce.gain_positive
    frame = ce.to_frame()
    assert list(frame.columns) == ["metric", "value"]
    assert frame.set_index("metric").loc["pv_cost", "value"] == pytest.approx(ce.pv_cost)


def test_zero_discount_and_arrays() -> None:
    assert annuity_factor(3, 0.0) == 3.0
    pv = present_value_cost(np.array([1.0, 2.0]), np.array([1.0, 1.0]), 3, 0.0)
    np.testing.assert_allclose(pv, [4.0, 5.0])


def test_no_gain_gives_nan_not_infinity() -> None:
    ce = cost_effectiveness(**{**CASE, "effect_pct_satisfied": 0.0, "effect_mean_score": -0.1})
    assert not ce.gain_positive
    assert np.isnan(ce.vnd_per_satisfied_household)
    assert np.isnan(ce.vnd_per_tenth_point)


def test_sensitivity_grid_scales_as_expected() -> None:
    grid = sensitivity_grid(**CASE, cost_multipliers=[1.0, 2.0], effect_multipliers=[0.5, 1.0])
    assert len(grid) == 4
    base = grid.query("cost_multiplier == 1 and effect_multiplier == 1").iloc[0]
    doubled_cost = grid.query("cost_multiplier == 2 and effect_multiplier == 1").iloc[0]
    half_effect = grid.query("cost_multiplier == 1 and effect_multiplier == 0.5").iloc[0]
    ce = cost_effectiveness(**CASE)
    assert base["vnd_per_satisfied_household"] == pytest.approx(ce.vnd_per_satisfied_household)
    assert doubled_cost["vnd_per_satisfied_household"] == pytest.approx(
        2 * ce.vnd_per_satisfied_household
    )
    assert half_effect["vnd_per_tenth_point"] == pytest.approx(2 * ce.vnd_per_tenth_point)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"discount_rate": 5}, "discount_rate"),
        ({"horizon_years": 0}, "horizon_years"),
        ({"households": 0}, "households"),
        ({"effect_pct_satisfied": 8}, "effect_pct_satisfied"),
        ({"setup_cost": -1}, "setup_cost"),
    ],
)
def test_bad_input(change: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cost_effectiveness(**{**CASE, **change})


def test_heatmap_marks_no_gain_cells() -> None:
    from evaluation.report.figures_scaling import cost_effectiveness_heatmap
    from evaluation.report.style import close

    grid = sensitivity_grid(**CASE, cost_multipliers=[1.0, 2.0], effect_multipliers=[0.0, 1.0])
    fig = cost_effectiveness_heatmap(grid, language="vi")
    texts = [x.get_text() for x in fig.axes[0].texts]
    assert texts.count("không có lợi ích") == 2
    # base case 226e6 / 1.21 / 100 = 1.867.768,6 VND = 1,9 million, Vietnamese decimal comma
    assert "1,9" in fig.axes[0].get_title(loc="left")
    close(fig)
