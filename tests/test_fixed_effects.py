"""Fixed-effect absorption: demeaning equals dummy regression residuals; singletons as pyfixest."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest

from evaluation.estimators.fixed_effects import (
    absorb,
    demean,
    factorize,
    find_singletons,
    nested_in_cluster,
)


def _unbalanced(seed: int, n_units: int = 40, n_waves: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(u, w) for u in range(n_units) for w in range(1, n_waves + 1)]
    frame = pd.DataFrame(rows, columns=["commune", "wave"])
    frame = frame.sample(frac=0.75, random_state=seed).reset_index(drop=True)
    frame["district"] = frame["commune"] // 5
    frame["y"] = rng.normal(size=len(frame)) + 0.1 * frame["commune"] + 0.2 * frame["wave"]
    frame["x"] = rng.normal(size=len(frame)) + 0.05 * frame["commune"]
    frame["ballots"] = rng.integers(5, 60, len(frame)).astype(float)
    return frame


def _dummy_residuals(frame: pd.DataFrame, column: str, weights: str | None) -> np.ndarray:
    """Residuals of a (weighted) least-squares fit on commune and wave dummies."""
    d = pd.get_dummies(frame[["commune", "wave"]].astype(str), drop_first=True, dtype=float)
    design = np.column_stack([np.ones(len(frame)), d.to_numpy()])
    y = frame[column].to_numpy(float)
    sw = np.ones(len(frame)) if weights is None else np.sqrt(frame[weights].to_numpy(float))
    beta, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    return y - design @ beta


@pytest.mark.parametrize("weights", [None, "ballots"])
def test_demeaning_equals_dummy_regression_residuals(weights: str | None) -> None:
    frame = _unbalanced(1)
    out = absorb(frame, ["y", "x"], ["commune", "wave"], weights=weights, tol=1e-13)
    assert out.converged
    assert out.singletons_dropped == 0
    for name in ["y", "x"]:
        np.testing.assert_allclose(
            out.column(name), _dummy_residuals(frame, name, weights), atol=1e-9
        )


def test_single_fixed_effect_is_one_pass_group_demeaning() -> None:
    frame = _unbalanced(2)
    codes = factorize(frame, ["commune"])
    values, iterations, converged = demean(frame["y"].to_numpy(), codes)
    expected = frame["y"] - frame.groupby("commune")["y"].transform("mean")
    np.testing.assert_allclose(values, expected.to_numpy(), atol=1e-12)
    assert iterations == 1 and converged


def test_codes_do_not_depend_on_the_id_type() -> None:
    frame = _unbalanced(7)
    as_text = frame.assign(
        commune="xa-" + frame["commune"].astype(str),
        wave=frame["wave"].astype("Int64"),
    )
    a = absorb(frame, ["y"], ["commune", "wave"], tol=1e-13)
    b = absorb(as_text, ["y"], ["commune", "wave"], tol=1e-13)
    np.testing.assert_allclose(a.values, b.values, atol=1e-10)
    assert a.n_levels == b.n_levels == (frame["commune"].nunique(), frame["wave"].nunique())
    # Sparse large integer ids take the hash-table path and give the same demeaning.
    sparse = frame.assign(commune=frame["commune"] * 10**9)
    np.testing.assert_allclose(
        absorb(sparse, ["y"], ["commune", "wave"], tol=1e-13).values, a.values, atol=1e-10
    )


def test_demean_does_not_modify_its_input() -> None:
    frame = _unbalanced(3)
    x = frame[["y", "x"]].to_numpy().copy()
    before = x.copy()
    demean(x, factorize(frame, ["commune", "wave"]))
    np.testing.assert_array_equal(x, before)


def test_singletons_are_found_iteratively() -> None:
    # Commune 2 has one row -> dropped; that leaves wave 3 with one row (commune 1) -> dropped;
    # then commune 1 still has two rows, so the search stops.
    frame = pd.DataFrame(
        {
            "commune": [0, 0, 1, 1, 1, 2, 3, 3],
            "wave": [1, 2, 1, 2, 3, 4, 1, 2],
        }
    )
    drop = find_singletons(factorize(frame, ["commune", "wave"]))
    np.testing.assert_array_equal(drop, [False, False, False, False, True, True, False, False])


def test_singleton_count_equals_pyfixest() -> None:
    rng = np.random.default_rng(4)
    frame = _unbalanced(4, n_units=60, n_waves=4)
    # Sparse extra communes and waves: many levels with a single row, some in chains.
    extra = pd.DataFrame(
        {
            "commune": rng.integers(60, 90, 40),
            "wave": rng.integers(1, 9, 40),
        }
    )
    extra["district"] = extra["commune"] // 5
    extra["y"] = rng.normal(size=len(extra))
    extra["x"] = rng.normal(size=len(extra))
    extra["ballots"] = 10.0
    frame = pd.concat([frame, extra], ignore_index=True)
    out = absorb(frame, ["y", "x"], ["commune", "wave"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.feols("y ~ x | commune + wave", frame, fixef_rm="singleton")
    assert out.singletons_dropped > 0
    assert out.singletons_dropped == len(frame) - fit._N
    assert out.keep.sum() == fit._N


def test_nested_in_cluster() -> None:
    frame = _unbalanced(5)
    assert nested_in_cluster(frame, ["commune", "wave"], "district") == {
        "commune": True,
        "wave": False,
    }
    assert nested_in_cluster(frame, ["commune", "wave"], "commune") == {
        "commune": True,
        "wave": False,
    }
    assert nested_in_cluster(frame, ["commune", "wave"], "wave") == {
        "commune": False,
        "wave": True,
    }


def test_bad_input_raises_value_error_naming_the_column() -> None:
    frame = _unbalanced(6)
    with pytest.raises(ValueError, match="hamlet"):
        absorb(frame, ["y"], ["hamlet"])
    with pytest.raises(ValueError, match="'y'"):
        absorb(frame.assign(y=np.where(frame.index == 0, np.nan, frame["y"])), ["y"], ["commune"])
    with pytest.raises(ValueError, match="ballots"):
        absorb(frame.assign(ballots=0.0), ["y"], ["commune"], weights="ballots")
    with pytest.raises(ValueError, match="commune"):
        absorb(frame.assign(commune=np.nan), ["y"], ["commune"])
