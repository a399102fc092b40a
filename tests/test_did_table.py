"""2x2 DiD table: cell means, first differences and DiD with clustered SEs (pyfixest, TWFE)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest

from evaluation.estimators.did_table import DidTable, did_2x2_table
from evaluation.estimators.result import TIDY_COLUMNS
from evaluation.estimators.twfe import twfe

TOL = 1e-8


def _two_periods(seed: int, n_communes: int = 40, ballots: bool = False) -> pd.DataFrame:
    """One row per commune and period (balanced 2x2 panel), a quarter of communes pilots."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        [(c, p) for c in range(n_communes) for p in (0, 1)], columns=["commune", "post"]
    )
    frame["pilot"] = (frame["commune"] < n_communes // 4).astype(int)
    frame["pilot_active"] = frame["pilot"] * frame["post"]
    frame["satisfaction"] = (
        3.0
        + 0.4 * frame["pilot_active"]
        + 0.2 * frame["pilot"]
        + 0.1 * frame["post"]
        + rng.normal(0, 0.5, n_communes)[frame["commune"]]
        + rng.normal(0, 0.4, len(frame))
    )
    if ballots:
        frame["ballots"] = rng.integers(5, 50, len(frame)).astype(float)
    return frame


def _households(seed: int, n_communes: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cells = _two_periods(seed, n_communes)
    frame = cells.loc[cells.index.repeat(rng.integers(2, 12, len(cells)))].reset_index(drop=True)
    frame["satisfaction"] = frame["satisfaction"] + rng.normal(0, 0.8, len(frame))
    return frame


def _pyfixest(frame: pd.DataFrame, weights: str | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pf.feols(
            "satisfaction ~ pilot * post", frame, vcov={"CRV1": "commune"}, weights=weights
        )


def test_did_equals_twfe_in_balanced_2x2() -> None:
    frame = _two_periods(1)
    table = did_2x2_table(frame, "satisfaction", "pilot", "post", "commune")
    estimate = twfe(frame, "satisfaction", "pilot_active", "commune", "post")
    np.testing.assert_allclose(table.estimate.estimate, estimate.estimate, rtol=TOL)
    assert table.estimate.n_treated_clusters == estimate.n_treated_clusters == 10


@pytest.mark.parametrize("weights", [None, "ballots"])
def test_cells_and_did_equal_pyfixest_and_group_means(weights: str | None) -> None:
    frame = _two_periods(2, ballots=True) if weights else _households(2)
    result = did_2x2_table(frame, "satisfaction", "pilot", "post", "commune", weights=weights)
    fit = _pyfixest(frame, weights)
    coef, se = fit.coef(), fit.se()
    table = result.table.set_index(["quantity", "group", "period"]).sort_index()

    did = table.loc[("difference_in_differences", "pilot_minus_comparison", "after_minus_before")]
    np.testing.assert_allclose(did["estimate"], coef["pilot:post"], rtol=TOL)
    np.testing.assert_allclose(did["std_error"], se["pilot:post"], rtol=TOL)
    np.testing.assert_allclose(did["p_value"], fit.pvalue()["pilot:post"], rtol=1e-6)
    base = table.loc[("mean", "comparison", "before")]
    np.testing.assert_allclose(base["std_error"], se["Intercept"], rtol=TOL)
    change = table.loc[("first_difference", "comparison", "after_minus_before")]
    np.testing.assert_allclose(change["std_error"], se["post"], rtol=TOL)

    w = frame[weights] if weights else pd.Series(1.0, index=frame.index)
    for (pilot, post), cell in frame.groupby(["pilot", "post"]):
        mean = np.average(cell["satisfaction"], weights=w.loc[cell.index])
        row = table.loc[("mean", "pilot" if pilot else "comparison", "after" if post else "before")]
        np.testing.assert_allclose(row["estimate"], mean, rtol=1e-10)
        assert row["n_obs"] == len(cell)
    means = table.loc["mean", "estimate"]
    pilot_change = table.loc[("first_difference", "pilot", "after_minus_before"), "estimate"]
    np.testing.assert_allclose(
        pilot_change, means[("pilot", "after")] - means[("pilot", "before")], rtol=1e-10
    )


def test_structure_tidy_and_missing_rows() -> None:
    frame = _households(3)
    frame.loc[[0, 1], "satisfaction"] = np.nan
    result = did_2x2_table(frame, "satisfaction", "pilot", "post", "commune")
    assert isinstance(result, DidTable)
    assert len(result.table) == 7
    assert result.estimate.n_obs == len(frame) - 2
    assert result.estimate.diagnostics["rows_dropped_missing"] == 2
    tidy = result.tidy()
    assert list(tidy.columns) == TIDY_COLUMNS
    assert tidy.loc[0, "term"] == "did" and tidy.loc[0, "estimator"] == "did_2x2"
    assert result.wide().shape[0] == 1


def test_bad_input_raises_value_error() -> None:
    frame = _two_periods(4)
    with pytest.raises(ValueError, match="pilot"):
        did_2x2_table(
            frame.assign(pilot=frame["pilot"] + 1), "satisfaction", "pilot", "post", "commune"
        )
    with pytest.raises(ValueError, match="empty cells"):
        did_2x2_table(
            frame[frame["post"] == 0].assign(post=0), "satisfaction", "pilot", "post", "commune"
        )
    with pytest.raises(ValueError, match="hamlet"):
        did_2x2_table(frame, "satisfaction", "pilot", "post", "hamlet")
