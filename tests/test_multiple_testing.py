"""Holm against statsmodels; Romano-Wolf against a brute-force step-down."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from evaluation.inference.multiple_testing import (
    cluster_bootstrap_t,
    holm,
    multiple_testing_frame,
    romano_wolf,
)


def test_holm_equals_statsmodels() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.uniform(0, 0.2, rng.integers(1, 12))
        np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])
    with_nan = holm([0.01, np.nan, 0.04])
    assert np.isnan(with_nan[1])
    np.testing.assert_allclose(with_nan[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])


def _brute_force_romano_wolf(t: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """Literal step-down: at step j, compare |t_(j)| with the bootstrap max over remaining."""
    k, n_boot = t.size, tb.shape[0]
    remaining = list(range(k))
    p = np.zeros(k)
    previous = 0.0
    while remaining:
        j = max(remaining, key=lambda i: abs(t[i]))
        count = 0
        for b in range(n_boot):
            if max(abs(tb[b, i]) for i in remaining) >= abs(t[j]):
                count += 1
        previous = max(previous, (count + 1) / (n_boot + 1))
        p[j] = previous
        remaining.remove(j)
    return p


def test_romano_wolf_equals_brute_force() -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        k = int(rng.integers(2, 6))
        cov = 0.5 * np.eye(k) + 0.5
        tb = rng.multivariate_normal(np.zeros(k), cov, size=199)
        t = rng.normal(1.5, 1.5, k)
        np.testing.assert_allclose(romano_wolf(t, tb), _brute_force_romano_wolf(t, tb))


def test_romano_wolf_single_outcome_is_bootstrap_p() -> None:
    rng = np.random.default_rng(2)
    tb = rng.normal(size=(999, 1))
    p = romano_wolf([2.0], tb)[0]
    assert p == pytest.approx((1 + np.sum(np.abs(tb[:, 0]) >= 2.0)) / 1000)


def test_romano_wolf_less_conservative_than_holm_with_correlated_outcomes() -> None:
    rng = np.random.default_rng(3)
    k = 5
    tb = rng.multivariate_normal(np.zeros(k), 0.1 * np.eye(k) + 0.9, size=4999)
    t = np.array([2.6, 2.5, 2.4, 2.3, 2.2])
    p_boot = np.array([(1 + np.sum(np.abs(tb[:, i]) >= t[i])) / 5000 for i in range(k)])
    assert np.all(romano_wolf(t, tb) <= holm(p_boot) + 1e-12)


def test_romano_wolf_shape_error() -> None:
    with pytest.raises(ValueError, match="t_boot"):
        romano_wolf([1.0, 2.0], np.zeros((10, 3)))


def _panel(seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_communes, per = 40, 6
    commune = np.repeat(np.arange(n_communes), per)
    pilot = np.repeat((np.arange(n_communes) < 12).astype(float), per)
    shock = np.repeat(rng.normal(0, 0.5, n_communes), per)
    return pd.DataFrame(
        {
            "commune": commune,
            "pilot": pilot,
            "satisfaction": 3 + 0.4 * pilot + shock + rng.normal(0, 1, commune.size),
            "wait_time": 2 - 0.1 * pilot + shock + rng.normal(0, 1, commune.size),
        }
    )


def test_cluster_bootstrap_observed_t_equals_statsmodels_and_is_seeded() -> None:
    df = _panel()
    est, t, tb = cluster_bootstrap_t(
        df, ["satisfaction", "wait_time"], "pilot", "commune", n_boot=99, seed=7
    )
    for j, outcome in enumerate(["satisfaction", "wait_time"]):
        fit = sm.OLS(df[outcome], sm.add_constant(df[["pilot"]])).fit(
            cov_type="cluster", cov_kwds={"groups": df["commune"]}
        )
        assert est[j] == pytest.approx(fit.params["pilot"])
        assert t[j] == pytest.approx(fit.tvalues["pilot"], rel=1e-8)
    _, _, tb2 = cluster_bootstrap_t(
        df, ["satisfaction", "wait_time"], "pilot", "commune", n_boot=99, seed=7
    )
    np.testing.assert_array_equal(tb, tb2)
    assert tb.shape == (99, 2)
    assert abs(np.mean(tb)) < 0.5  # centred draws


def test_multiple_testing_frame_columns() -> None:
    rng = np.random.default_rng(5)
    tb = rng.normal(size=(199, 3))
    frame = multiple_testing_frame(
        ["a", "b", "c"], [0.1, 0.2, 0.3], [3.0, 1.0, 0.2], [0.003, 0.3, 0.8], tb
    )
    assert list(frame.columns) == [
        "outcome", "estimate", "t_stat", "p_value", "p_holm", "p_romano_wolf",
    ]  # fmt: skip
    assert (frame["p_holm"] >= frame["p_value"]).all()
    assert (frame["p_romano_wolf"] >= frame["p_romano_wolf"].iloc[0]).all()
