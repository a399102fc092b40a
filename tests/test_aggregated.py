"""Commune-level aggregated Welch test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.inference.aggregated import aggregated_welch, commune_changes, welch_from_changes


def _ballots(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for commune in range(12):
        for wave in range(4):
            for _ in range(rng.integers(1, 6)):
                rows.append(
                    {
                        "commune": f"c{commune}",
                        "wave": wave,
                        "pilot_active": int(commune < 4 and wave >= 2),
                        "w": rng.uniform(0.5, 2),
                        "y": rng.normal() + 0.5 * (commune < 4 and wave >= 2),
                    }
                )
    return pd.DataFrame(rows)


def test_hand_computation_and_scipy() -> None:
    frame = _ballots(0)
    res = aggregated_welch(frame, "y", "pilot_active", "commune", "wave", weights="w", alpha=0.1)
    # hand computation of each commune's weighted post-minus-pre change
    changes = {}
    for name, g in frame.groupby("commune"):
        post = g["wave"] >= 2
        mean = lambda s: np.average(s["y"], weights=s["w"])  # noqa: E731
        changes[name] = mean(g[post]) - mean(g[~post])
    pilots = [f"c{i}" for i in range(4)]
    x1 = np.array([changes[c] for c in pilots])
    x0 = np.array([v for c, v in changes.items() if c not in pilots])
    ref = stats.ttest_ind(x1, x0, equal_var=False)
    assert res.estimate == pytest.approx(x1.mean() - x0.mean(), rel=1e-12)
    assert res.t_stat == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    low, high = ref.confidence_interval(0.9)
    assert (res.conf_low, res.conf_high) == pytest.approx((low, high), rel=1e-12)
    assert res.n_pilot == 4 and res.n_comparison == 8 and res.post_start == 2
    assert res.std_error == pytest.approx(res.estimate / res.t_stat, rel=1e-12)


def test_vectorised_welch_equals_scipy() -> None:
    rng = np.random.default_rng(1)
    changes = rng.normal(size=30)
    labels = np.zeros((5, 30), dtype=bool)
    for r in range(5):
        labels[r, rng.choice(30, size=6, replace=False)] = True
    t, df = welch_from_changes(changes, labels)
    for r in range(5):
        ref = stats.ttest_ind(changes[labels[r]], changes[~labels[r]], equal_var=False)
        assert t[r] == pytest.approx(ref.statistic, rel=1e-10)
        assert df[r] == pytest.approx(ref.df, rel=1e-10)


def test_units_without_both_periods_are_dropped() -> None:
    frame = _ballots(2)
    frame = frame[~((frame["commune"] == "c7") & (frame["wave"] >= 2))]
    table = commune_changes(frame, "y", "pilot_active", "commune", "wave")
    assert "c7" not in set(table["unit"]) and table.attrs["n_dropped"] == 1


def test_staggered_needs_post_start() -> None:
    frame = _ballots(3)
    frame.loc[(frame["commune"] == "c0") & (frame["wave"] == 2), "pilot_active"] = 0
    with pytest.raises(ValueError, match="post_start"):
        aggregated_welch(frame, "y", "pilot_active", "commune", "wave")
    res = aggregated_welch(frame, "y", "pilot_active", "commune", "wave", post_start=2)
    assert res.n_pilot == 4
