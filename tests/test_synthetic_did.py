"""Synthetic DiD (Arkhangelsky et al. 2021) equals synthdid-py and diff-diff's ``SyntheticDiD``:
point estimates to 1e-6, and the placebo standard error exactly when given the same seed (all
three draw ``numpy.random.default_rng(seed).permutation(N0)`` per placebo over the controls in
unit order)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo
from shapes import texas_frame

from evaluation.analysis import robustness as ar
from evaluation.analysis.base import applies
from evaluation.estimators.synthetic_did import SyntheticDiDFit, synthetic_did

synthdid = pytest.importorskip("synthdid")
diff_diff = pytest.importorskip("diff_diff")


def _diff_diff(frame, outcome, unit, time, treated, post, draws, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = diff_diff.SyntheticDiD(variance_method="placebo", n_bootstrap=draws, seed=seed)
        return model.fit(frame, outcome, treated, unit, time, post_periods=post)


@pytest.fixture(scope="module")
def texas() -> pd.DataFrame:
    frame = texas_frame()
    frame["texas"] = (frame["statefip"] == 48).astype(int)
    frame["treat"] = ((frame["texas"] == 1) & (frame["year"] >= 1993)).astype(int)
    return frame


def test_texas_equals_synthdid_and_diff_diff(texas):
    panel = synthdid.panel_matrices(texas[["statefip", "year", "bmprison", "treat"]],
                                    "statefip", "year", "bmprison", "treat")  # fmt: skip
    theirs = synthdid.synthdid_estimate(panel.Y, panel.N0, panel.T0)
    ours = synthetic_did(texas, "bmprison", "statefip", "year", "texas", 1993, n_draws=30, seed=7)
    assert ours.estimate == pytest.approx(float(theirs), abs=1e-6)
    assert np.allclose(ours.model.omega, theirs.weights.omega, atol=1e-9)
    assert np.allclose(ours.model.lambda_, theirs.weights.lambda_, atol=1e-9)
    dd = _diff_diff(texas, "bmprison", "statefip", "year", "texas", list(range(1993, 2001)), 30, 7)
    assert ours.estimate == pytest.approx(dd.att, abs=1e-6)
    assert ours.std_error == pytest.approx(dd.se, rel=1e-9)
    assert ours.n_treated_clusters == 1


def test_texas_placebo_equals_synthdid_py(texas):
    panel = synthdid.panel_matrices(texas[["statefip", "year", "bmprison", "treat"]],
                                    "statefip", "year", "bmprison", "treat")  # fmt: skip
    theirs = synthdid.synthdid_estimate(panel.Y, panel.N0, panel.T0)
    fit = SyntheticDiDFit(panel.Y, panel.N0, panel.T0)
    # synthdid-py solves each placebo in a Python loop (about 0.3 s a draw): three draws
    expected = theirs.se(method="placebo", replications=3, random_state=11)
    assert fit.placebo_se(3, seed=11) == pytest.approx(expected, rel=1e-9)


def test_demo_analysis_equals_peers():
    params, prepared = small_demo("en")
    ours = ar.synthetic_did_pilot(prepared, params, n_draws=20)
    assert applies(ours)
    outcome = ar.headline(prepared, params)
    frame = prepared.in_window(prepared.panel).dropna(subset=[outcome]).copy()
    frame["pilot01"] = (frame["pilot"] > 0).astype(int)
    pilot_wave = prepared.meta["pilot_wave"]
    frame["treat"] = ((frame["pilot01"] == 1) & (frame["wave_index"] >= pilot_wave)).astype(int)
    panel = synthdid.panel_matrices(frame[["commune_code", "wave_index", outcome, "treat"]],
                                    "commune_code", "wave_index", outcome, "treat")  # fmt: skip
    assert ours.estimate == pytest.approx(
        float(synthdid.synthdid_estimate(panel.Y, panel.N0, panel.T0)), abs=1e-6
    )
    post = sorted(w for w in frame["wave_index"].unique() if w >= pilot_wave)
    dd = _diff_diff(frame, outcome, "commune_code", "wave_index", "pilot01", post, 20,
                    int(params.inference.seed))  # fmt: skip
    assert ours.estimate == pytest.approx(dd.att, abs=1e-6)
    assert ours.std_error == pytest.approx(dd.se, rel=1e-9)
    assert ours.diagnostics["size_checked"] == 0.0
    assert not ar.is_checked(ours)


def test_refuses_one_pre_period():
    y = np.arange(12.0).reshape(4, 3)
    with pytest.raises(ValueError):
        SyntheticDiDFit(y, 3, 1)
    fit = SyntheticDiDFit(np.random.default_rng(0).normal(size=(5, 4)), 2, 2)
    with pytest.raises(ValueError):
        fit.placebo_se(5)  # two controls for three treated units: no placebo
