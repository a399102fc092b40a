"""Randomisation inference: enumeration equals brute-force re-estimation; test inversion."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from evaluation.inference.cluster_robust import crv1
from evaluation.inference.randomization import (
    count_assignments,
    draw_assignments,
    enumerate_assignments,
    randomization_inference,
)


def _panel(seed: int, n_communes: int = 8, n_pilots: int = 3, n_waves: int = 5) -> pd.DataFrame:
    """Commune-wave cells with 1-6 ballots each (used as weights), pilots start at wave 2."""
    rng = np.random.default_rng(seed)
    rows = []
    for commune in range(n_communes):
        level = rng.normal()
        for wave in range(n_waves):
            rows.append(
                {
                    "commune": commune,
                    "district": "A" if commune % 2 else "B",
                    "wave": wave,
                    "pilot_active": int(commune < n_pilots and wave >= 2),
                    "ballots": int(rng.integers(1, 7)),
                    "staff_ratio": rng.normal(),
                    "satisfaction": level + 0.1 * wave + rng.normal(),
                }
            )
    return pd.DataFrame(rows)


def _brute_force_p(frame: pd.DataFrame, paths: list[dict], **kwargs) -> float:
    """Re-estimate CRV1 t for every assignment given as {commune: start wave}."""
    observed = crv1(frame, "satisfaction", "pilot_active", "commune", "wave", **kwargs).t_stat
    stats = []
    for starts in paths:
        start = frame["commune"].map(starts)
        placebo = frame.assign(placebo=(frame["wave"] >= start.fillna(np.inf)).astype(int))
        stats.append(crv1(placebo, "satisfaction", "placebo", "commune", "wave", **kwargs).t_stat)
    stats = np.abs(np.array(stats))
    return float(np.mean(stats >= abs(observed) * (1 - 1e-9)))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"weights": "ballots", "covariates": ("staff_ratio",)}, {"cluster": "district"}],
)
def test_enumeration_equals_brute_force_8_units_3_pilots(kwargs: dict) -> None:
    frame = _panel(11)
    result = randomization_inference(
        frame, "satisfaction", "pilot_active", "commune", "wave", strata=None, **kwargs
    )
    assert result.enumerated and result.n_assignments == 56
    paths = [dict.fromkeys(combo, 2) for combo in itertools.combinations(range(8), 3)]
    assert result.p_value == pytest.approx(_brute_force_p(frame, paths, **kwargs), abs=1e-12)
    direct = crv1(frame, "satisfaction", "pilot_active", "commune", "wave", **kwargs)
    assert result.estimate == pytest.approx(direct.estimate, rel=1e-10)
    assert result.t_stat == pytest.approx(direct.t_stat, rel=1e-10)


def test_stratified_staggered_enumeration_equals_brute_force() -> None:
    frame = _panel(12)
    # commune 0 starts at wave 2, commune 1 at wave 3 (both districts): staggered pilots.
    frame["pilot_active"] = (
        ((frame["commune"] == 0) & (frame["wave"] >= 2))
        | ((frame["commune"] == 1) & (frame["wave"] >= 3))
    ).astype(int)
    result = randomization_inference(
        frame, "satisfaction", "pilot_active", "commune", "wave", strata="district"
    )
    district_a = [1, 3, 5, 7]  # odd communes; commune 1 starts at wave 3 there
    district_b = [0, 2, 4, 6]
    paths = [
        {a: 3, b: 2} for a, b in itertools.product(district_a, district_b)
    ]  # one pilot per district keeps its start wave
    assert result.n_assignments == 16 and result.enumerated
    assert result.p_value == pytest.approx(_brute_force_p(frame, paths), abs=1e-12)


def test_assignment_helpers_keep_counts_per_stratum() -> None:
    labels = np.array([1, 1, 0, 0, 0, 2, 0, 0])
    strata = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert count_assignments(labels, strata) == 6 * 4
    every = enumerate_assignments(labels, strata)
    assert len({tuple(r) for r in every}) == len(every) == 24
    assert any((row == labels).all() for row in every)
    draws = draw_assignments(labels, strata, 500, np.random.default_rng(0))
    for s in (0, 1):
        for value in (0, 1, 2):
            expected = np.sum(labels[strata == s] == value)
            assert (np.sum(draws[:, strata == s] == value, axis=1) == expected).all()


def test_test_inversion_endpoints_have_p_equal_alpha() -> None:
    frame = _panel(5, n_communes=30, n_pilots=6)
    kwargs = {"strata": "district", "budget": 1999, "seed": 3}
    base = randomization_inference(
        frame, "satisfaction", "pilot_active", "commune", "wave", **kwargs
    )
    assert not base.enumerated
    assert base.conf_low < base.estimate < base.conf_high
    span = base.conf_high - base.conf_low
    for end, outward in ((base.conf_low, -1), (base.conf_high, 1)):
        at = randomization_inference(
            frame,
            "satisfaction",
            "pilot_active",
            "commune",
            "wave",
            null_value=end,
            confint=False,
            **kwargs,
        )
        beyond = randomization_inference(
            frame,
            "satisfaction",
            "pilot_active",
            "commune",
            "wave",
            null_value=end + outward * 1e-4 * span,
            confint=False,
            **kwargs,
        )
        assert at.p_value >= 0.05 > beyond.p_value
        assert at.p_value == pytest.approx(0.05, abs=0.005)


def test_sampled_draws_are_reproducible_and_valid() -> None:
    frame = _panel(6, n_communes=20, n_pilots=5)
    args = (frame, "satisfaction", "pilot_active", "commune", "wave")
    one = randomization_inference(*args, budget=300, seed=1, confint=False)
    two = randomization_inference(*args, budget=300, seed=1, confint=False)
    other = randomization_inference(*args, budget=300, seed=2, confint=False)
    assert one == two
    assert one.p_value != other.p_value or one.p_value == 1.0
    assert 1 / 301 <= one.p_value <= 1.0
    assert "random 300" in one.label()


def test_bad_input_raises() -> None:
    frame = _panel(1)
    with pytest.raises(ValueError, match="strata=None"):
        randomization_inference(
            frame, "satisfaction", "pilot_active", "commune", "wave", strata="x"
        )
    flip = frame.assign(pilot_active=((frame["commune"] < 3) & (frame["wave"] == 2)).astype(int))
    with pytest.raises(ValueError, match="absorbing"):
        randomization_inference(
            flip, "satisfaction", "pilot_active", "commune", "wave", strata=None
        )
    with pytest.raises(ValueError, match="budget"):
        randomization_inference(frame, "satisfaction", "pilot_active", "commune", "wave", budget=0)
