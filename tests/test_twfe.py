"""TWFE estimates and clustered SEs equal pyfixest (fixest convention) and statsmodels dummies."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
import statsmodels.formula.api as smf

from evaluation.estimators.result import TIDY_COLUMNS
from evaluation.estimators.twfe import twfe

TOL = 1e-8


def _panel(seed: int, n_communes: int = 50, n_waves: int = 8, keep: float = 1.0) -> pd.DataFrame:
    """Commune-wave panel with staggered adoption in a third of the communes."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        [(c, w) for c in range(n_communes) for w in range(1, n_waves + 1)],
        columns=["commune", "wave"],
    )
    start = np.where(
        np.arange(n_communes) < n_communes // 3, rng.integers(3, n_waves, n_communes), np.inf
    )
    frame["pilot_active"] = (frame["wave"] >= start[frame["commune"]]).astype(int)
    frame["district"] = frame["commune"] // 4
    frame["age"] = rng.normal(45, 10, len(frame))
    frame["ballots"] = rng.integers(8, 60, len(frame)).astype(float)
    commune_effect = rng.normal(0, 0.5, n_communes)[frame["commune"]]
    frame["satisfaction"] = (
        3.2
        + 0.3 * frame["pilot_active"]
        + commune_effect
        + 0.05 * frame["wave"]
        + 0.01 * frame["age"]
        + rng.normal(0, 0.6, len(frame))
    )
    if keep < 1:
        frame = frame.sample(frac=keep, random_state=seed).reset_index(drop=True)
    return frame


def _households(seed: int, n_communes: int = 40, n_waves: int = 6) -> pd.DataFrame:
    """Repeated cross-section: a different number of ballots per commune-wave."""
    rng = np.random.default_rng(seed)
    cells = _panel(seed, n_communes, n_waves)
    sizes = rng.integers(3, 15, len(cells))
    frame = cells.loc[cells.index.repeat(sizes), ["commune", "wave", "pilot_active", "district"]]
    frame = frame.reset_index(drop=True)
    frame["age"] = rng.normal(45, 10, len(frame))
    frame["satisfaction"] = (
        3.0
        + 0.25 * frame["pilot_active"]
        + 0.02 * frame["commune"]
        + 0.04 * frame["wave"]
        + 0.01 * frame["age"]
        + rng.normal(0, 0.9, len(frame))
    ).round()
    return frame


def _pyfixest(formula: str, frame: pd.DataFrame, cluster: str, weights: str | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pf.feols(formula, frame, vcov={"CRV1": cluster}, weights=weights, fixef_tol=1e-13)


def _assert_same(estimate, fit, term: str = "pilot_active") -> None:
    tidy = fit.tidy()
    assert estimate.n_obs == fit._N
    np.testing.assert_allclose(estimate.estimate, tidy.loc[term, "Estimate"], rtol=TOL, atol=TOL)
    np.testing.assert_allclose(estimate.std_error, tidy.loc[term, "Std. Error"], rtol=TOL)
    np.testing.assert_allclose(estimate.p_value, tidy.loc[term, "Pr(>|t|)"], rtol=1e-6)
    np.testing.assert_allclose(
        estimate.conf_int, tidy.loc[term, ["2.5%", "97.5%"]].to_numpy(float), rtol=1e-7
    )


CASES = {
    "balanced": (lambda: _panel(1), None, ()),
    "unbalanced": (lambda: _panel(2, keep=0.8), None, ()),
    "household": (lambda: _households(3), None, ()),
    "weighted": (lambda: _panel(4, keep=0.9), "ballots", ()),
    "covariates": (lambda: _panel(5, keep=0.85), None, ("age",)),
    "household_covariates": (lambda: _households(6), None, ("age",)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_equals_pyfixest_fixest_convention(case: str) -> None:
    make, weights, covariates = CASES[case]
    frame = make()
    estimate = twfe(
        frame,
        "satisfaction",
        "pilot_active",
        "commune",
        "wave",
        weights=weights,
        covariates=covariates,
    )
    rhs = " + ".join(["pilot_active", *covariates])
    fit = _pyfixest(f"satisfaction ~ {rhs} | commune + wave", frame, "commune", weights)
    _assert_same(estimate, fit)
    assert (
        "fixest" in estimate.inference and f"G-1 = {estimate.n_clusters - 1}" in estimate.inference
    )
    for name in covariates:
        np.testing.assert_allclose(estimate.model.params[name], fit.coef()[name], rtol=TOL)
        np.testing.assert_allclose(estimate.model.bse[name], fit.se()[name], rtol=TOL)


@pytest.mark.parametrize("cluster", ["district", "wave"])
def test_other_cluster_variables_equal_pyfixest(cluster: str) -> None:
    # district: communes nested in clusters; wave: waves nested, communes not.
    frame = _panel(7, n_communes=60, keep=0.85)
    estimate = twfe(frame, "satisfaction", "pilot_active", "commune", "wave", cluster=cluster)
    fit = _pyfixest("satisfaction ~ pilot_active | commune + wave", frame, cluster)
    _assert_same(estimate, fit)
    assert estimate.n_clusters == frame[cluster].nunique()


@pytest.mark.parametrize("weights", [None, "ballots"])
def test_statsmodels_convention_equals_ols_with_dummies(weights: str | None) -> None:
    frame = _panel(8, keep=0.8)
    estimate = twfe(
        frame,
        "satisfaction",
        "pilot_active",
        "commune",
        "wave",
        weights=weights,
        ssc="statsmodels",
    )
    formula = "satisfaction ~ pilot_active + C(commune) + C(wave)"
    model = (
        smf.ols(formula, frame)
        if weights is None
        else smf.wls(formula, frame, weights=frame[weights])
    )
    ref = model.fit(cov_type="cluster", cov_kwds={"groups": frame["commune"]}, use_t=True)
    np.testing.assert_allclose(estimate.estimate, ref.params["pilot_active"], rtol=TOL)
    np.testing.assert_allclose(estimate.std_error, ref.bse["pilot_active"], rtol=TOL)
    np.testing.assert_allclose(estimate.p_value, ref.pvalues["pilot_active"], rtol=1e-6)
    assert "statsmodels" in estimate.inference
    # The dummy convention counts the commune effects, so its SE is larger than fixest's.
    fixest = twfe(frame, "satisfaction", "pilot_active", "commune", "wave", weights=weights)
    assert estimate.std_error > fixest.std_error


def test_missing_values_dropped_consistently_and_counted() -> None:
    frame = _panel(9, keep=0.9)
    frame["age"] = frame["age"].astype(float)
    frame.loc[[0, 5, 9], "satisfaction"] = np.nan
    frame.loc[[12, 13], "age"] = np.nan
    frame["district"] = frame["district"].astype(float)
    frame.loc[[20, 5], "district"] = np.nan  # row 5 already missing its outcome
    estimate = twfe(
        frame,
        "satisfaction",
        "pilot_active",
        "commune",
        "wave",
        cluster="district",
        covariates=["age"],
    )
    # pyfixest refuses missing cluster ids (NanInClusterVarError); it drops the rest itself.
    fit = _pyfixest(
        "satisfaction ~ pilot_active + age | commune + wave",
        frame.dropna(subset=["district"]),
        "district",
    )
    assert estimate.diagnostics["rows_dropped_missing"] == 6
    assert estimate.n_obs == len(frame) - 6 == fit._N
    assert any("6 rows dropped" in note for note in estimate.notes)
    _assert_same(estimate, fit)


def test_singletons_dropped_like_pyfixest() -> None:
    frame = _panel(10, keep=0.9)
    # Three communes observed once: singletons of the commune effect.
    lonely = pd.DataFrame(
        {
            "commune": [100, 101, 102],
            "wave": [2, 3, 4],
            "pilot_active": [1, 0, 0],
            "district": [99, 99, 98],
            "age": [40.0, 50.0, 60.0],
            "ballots": [10.0, 10.0, 10.0],
            "satisfaction": [4.0, 2.0, 3.0],
        }
    )
    frame = pd.concat([frame, lonely], ignore_index=True)
    estimate = twfe(frame, "satisfaction", "pilot_active", "commune", "wave")
    fit = _pyfixest("satisfaction ~ pilot_active | commune + wave", frame, "commune")
    assert estimate.diagnostics["singletons_dropped"] == 3 == len(frame) - fit._N
    assert any("singleton" in note for note in estimate.notes)
    _assert_same(estimate, fit)


def test_sample_sizes_model_and_tidy() -> None:
    frame = _households(11)
    estimate = twfe(frame, "satisfaction", "pilot_active", "commune", "wave")
    treated = frame.loc[frame["pilot_active"] == 1, "commune"].nunique()
    assert estimate.n_treated_clusters == treated
    assert estimate.n_clusters == frame["commune"].nunique()
    # .model is the statsmodels result and carries the same (rescaled) covariance.
    np.testing.assert_allclose(estimate.model.bse["pilot_active"], estimate.std_error)
    tidy = estimate.tidy()
    assert list(tidy.columns) == TIDY_COLUMNS
    assert tidy.loc[0, "term"] == "pilot_active"


def test_several_treatment_terms_equal_pyfixest() -> None:
    frame = _panel(12, keep=0.9)
    frame["late_phase"] = ((frame["pilot_active"] == 1) & (frame["wave"] >= 6)).astype(int)
    estimate = twfe(frame, "satisfaction", ["pilot_active", "late_phase"], "commune", "wave")
    fit = _pyfixest("satisfaction ~ pilot_active + late_phase | commune + wave", frame, "commune")
    assert list(estimate.terms.index) == ["pilot_active", "late_phase"]
    np.testing.assert_allclose(estimate.terms["estimate"], fit.coef().to_numpy(), rtol=TOL)
    np.testing.assert_allclose(estimate.terms["std_error"], fit.se().to_numpy(), rtol=TOL)


def test_bad_input_raises_value_error() -> None:
    frame = _panel(13)
    with pytest.raises(ValueError, match="pilot_active"):
        twfe(
            frame.assign(pilot_active=frame["pilot_active"] * 2),
            "satisfaction",
            "pilot_active",
            "commune",
            "wave",
        )
    with pytest.raises(ValueError, match="hamlet"):
        twfe(frame, "satisfaction", "pilot_active", "hamlet", "wave")
    with pytest.raises(ValueError, match="ssc"):
        twfe(frame, "satisfaction", "pilot_active", "commune", "wave", ssc="stata")
    # A treatment fixed within communes is absorbed by the commune effects.
    frame["ever_pilot"] = (frame["commune"] < 10).astype(int)
    with pytest.raises(ValueError, match="ever_pilot"):
        twfe(frame, "satisfaction", "ever_pilot", "commune", "wave")
    with pytest.raises(ValueError, match="ballots"):
        twfe(
            frame.assign(ballots=-1.0),
            "satisfaction",
            "pilot_active",
            "commune",
            "wave",
            weights="ballots",
        )
