"""The imputation estimator (Borusyak, Jaravel and Spiess 2024) equals diff-diff's
``ImputationDiD`` (estimates and conservative SEs) and pyfixest's ``did2s`` (estimates).

Convention: pyfixest's first stage drops singleton fixed effects, i.e. units with a single
untreated row (jtrain's 1988 grant firms, observed untreated only in 1987), and with them their
treated rows; BJS (and diff-diff, and this package) impute those rows from the unit's one
untreated row. On jtrain the did2s check therefore runs on the units with at least two
untreated rows, where the two conventions coincide. ``did2s``'s own variance step crashes on
jtrain (pyfixest 0.60: its arrays are sized before the singleton drop), so its point estimates
are read from its estimation step.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo
from shapes import jtrain_frame

from evaluation.analysis import rollout
from evaluation.analysis.base import applies
from evaluation.estimators.imputation import imputation_did

diff_diff = pytest.importorskip("diff_diff")
did2s_mod = pytest.importorskip("pyfixest.did.did2s")


def _peer_frame(frame: pd.DataFrame, first: str) -> pd.DataFrame:
    out = frame.reset_index(drop=True).copy()
    out["g"] = out[first].fillna(0).astype(int)
    out["treat"] = ((out["g"] > 0) & (out["year"] >= out["g"])).astype(int)
    for e in range(int((out["year"] - out["g"]).where(out["treat"] > 0).max()) + 1):
        out[f"ev{e}"] = ((out["treat"] > 0) & (out["year"] - out["g"] == e)).astype(float)
    return out


def _diff_diff(frame: pd.DataFrame, outcome: str, unit: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = diff_diff.ImputationDiD().fit(frame, outcome, unit, "year", "g")
        return fit, fit.aggregate("event_study")


def _did2s(frame: pd.DataFrame, outcome: str, unit: str, second: str, weights=None) -> pd.Series:
    fit, _, _ = did2s_mod._did2s_estimate(
        data=frame.copy(), yname=outcome, _first_stage=f"~0|{unit}+year",
        _second_stage=second, treatment="treat", weights=weights,
    )  # fmt: skip
    return fit.coef()


@pytest.fixture(scope="module")
def jtrain() -> pd.DataFrame:
    frame = jtrain_frame().dropna(subset=["lscrap"])
    frame["first"] = frame["first_treated"].replace(0, np.nan).astype(float)
    return _peer_frame(frame, "first")


def test_jtrain_equals_diff_diff(jtrain):
    ours = imputation_did(jtrain, "lscrap", "fcode", "year", "first")
    fit, study = _diff_diff(jtrain, "lscrap", "fcode")
    assert ours.estimate == pytest.approx(fit.overall_att, abs=1e-6)
    assert ours.std_error == pytest.approx(fit.overall_se, abs=1e-6)
    for e, att, se in zip(study.event_time, study.att, study.se, strict=True):
        if e < 0:
            continue
        assert ours.terms.loc[f"e+{e}", "estimate"] == pytest.approx(att, abs=1e-6)
        assert ours.terms.loc[f"e+{e}", "std_error"] == pytest.approx(se, abs=1e-6)


def test_jtrain_equals_did2s_on_non_singleton_units(jtrain):
    untreated = jtrain[jtrain["treat"] == 0].groupby("fcode").size()
    rows = jtrain[jtrain["fcode"].map(untreated).fillna(0) >= 2].reset_index(drop=True)
    ours = imputation_did(rows, "lscrap", "fcode", "year", "first")
    assert ours.estimate == pytest.approx(
        _did2s(rows, "lscrap", "fcode", "~treat")["treat"], abs=1e-6
    )
    # the full data differ from did2s only by its singleton drop: the 1988 firms matter
    full = imputation_did(jtrain, "lscrap", "fcode", "year", "first")
    assert abs(full.estimate - ours.estimate) > 0.05


@pytest.fixture(scope="module")
def demo():
    params, prepared = small_demo("en")
    frame = rollout.staggered_panel(prepared, params)
    outcome = rollout.headline_outcome(prepared, params)
    frame = frame.rename(columns={"wave_index": "year"}).dropna(subset=[outcome])
    frame["unit"] = pd.factorize(frame["commune_code"])[0]
    return params, prepared, outcome, _peer_frame(frame, "first_treated_wave")


def test_demo_equals_diff_diff_and_did2s(demo):
    params, _, outcome, frame = demo
    ours = imputation_did(frame, outcome, "unit", "year", "first_treated_wave")
    fit, study = _diff_diff(frame, outcome, "unit")
    assert ours.estimate == pytest.approx(fit.overall_att, abs=1e-6)
    assert ours.std_error == pytest.approx(fit.overall_se, abs=1e-6)
    post = {int(e): (a, s) for e, a, s in zip(study.event_time, study.att, study.se, strict=True)}
    events = [t for t in ours.terms.index if t.startswith("e+")]
    assert events
    for term in events:
        att, se = post[int(term[1:])]
        assert ours.terms.loc[term, "estimate"] == pytest.approx(att, abs=1e-6)
        assert ours.terms.loc[term, "std_error"] == pytest.approx(se, abs=1e-6)
    coef = _did2s(frame, outcome, "unit", "~" + "+".join(f"ev{t[2:]}" for t in events))
    for term in events:
        assert ours.terms.loc[term, "estimate"] == pytest.approx(coef[f"ev{term[2:]}"], abs=1e-6)
    assert ours.estimate == pytest.approx(
        _did2s(frame, outcome, "unit", "~treat")["treat"], abs=1e-6
    )


def test_weighted_equals_did2s(demo):
    params, _, outcome, frame = demo
    weight = "n_ballots"
    assert weight in frame
    ours = imputation_did(frame, outcome, "unit", "year", "first_treated_wave", weights=weight)
    theirs = _did2s(frame, outcome, "unit", "~treat", weights=weight)["treat"]
    assert ours.estimate == pytest.approx(theirs, abs=1e-6)
    unweighted = imputation_did(frame, outcome, "unit", "year", "first_treated_wave")
    assert ours.estimate != pytest.approx(unweighted.estimate, abs=1e-9)


def test_page_row_is_never_size_checked(demo):
    params, prepared, _, _ = demo
    effects = rollout.rollout_effects(prepared, params)
    assert applies(effects.imputation)
    rows = effects.effects_rows()
    mine = rows[rows["estimator"] == "imputation_bjs"]
    assert len(mine) == len(effects.imputation.terms) and not mine["size_checked"].any()


def test_refuses_designs_without_untreated_rows():
    frame = pd.DataFrame({"u": [1, 1, 2, 2], "year": [1, 2, 1, 2], "y": [1.0, 2, 3, 4],
                          "g": [1.0, 1.0, 1.0, 1.0]})  # fmt: skip
    with pytest.raises(ValueError):
        imputation_did(frame, "y", "u", "year", "g")
