"""Sun-Abraham event study: equals a saturated dummy regression and pyfixest's saturated study."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from evaluation.estimators.sun_abraham import demean_two_way, sun_abraham

pf = pytest.importorskip("pyfixest")


def commune_panel(
    n_units: int = 120, periods: int = 7, seed: int = 0, unbalanced: bool = False
) -> pd.DataFrame:
    """Communes by wave; cohorts adopt at waves 3-5 with cohort-specific, growing effects."""
    rng = np.random.default_rng(seed)
    cohort = rng.choice([0, 3, 4, 5], size=n_units, p=[0.4, 0.2, 0.2, 0.2])
    unit = np.repeat(np.arange(1, n_units + 1), periods)
    wave = np.tile(np.arange(1, periods + 1), n_units)
    g = cohort[unit - 1]
    effect = np.where((g > 0) & (wave >= g), 1 + 0.3 * (wave - g) + 0.2 * (g == 3), 0.0)
    y = rng.normal(size=n_units)[unit - 1] + 0.2 * wave + effect + rng.normal(size=len(unit))
    frame = pd.DataFrame(
        {
            "commune": unit,
            "wave": wave,
            "first_wave": g,
            "y": y,
            "district": rng.integers(0, 25, size=n_units)[unit - 1],
            "wt": (1 + rng.random(n_units))[unit - 1],
        }
    )
    if unbalanced:
        frame = frame.loc[rng.random(len(frame)) >= 0.1].reset_index(drop=True)
    return frame


def saturated_by_dummies(frame: pd.DataFrame, cluster: str, weights: str | None, reference=-1):
    """Saturated regression with explicit unit and wave dummies, then manual share weighting."""
    frame = frame.copy()
    event = frame["wave"] - frame["first_wave"]
    treated = frame["first_wave"] > 0
    frame["cell"] = np.where(
        treated & (event != reference),
        "g" + frame["first_wave"].astype(str) + "_e" + event.astype(str).str.replace("-", "m"),
        "ref",
    )
    formula = "y ~ C(cell, Treatment('ref')) + C(commune) + C(wave)"
    w = frame[weights] if weights else pd.Series(1.0, index=frame.index)
    fit = smf.wls(formula, data=frame, weights=w).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(frame[cluster])[0]}
    )
    names = [n for n in fit.params.index if n.startswith("C(cell")]
    cells = [n.split("[T.")[1].rstrip("]") for n in names]
    beta = fit.params[names].to_numpy()
    # Convert statsmodels' K (every dummy) to fixest's (coefficients + all waves).
    n_obs, k_all = len(frame), len(fit.params)
    k_fixest = len(names) + frame["wave"].nunique()
    vcov = fit.cov_params().loc[names, names].to_numpy() * (n_obs - k_all) / (n_obs - k_fixest)
    size = w.groupby(frame["cell"]).sum().drop("ref")
    size = size.reindex(cells).to_numpy()
    rel = np.array([int(c.split("_e")[1].replace("m", "-")) for c in cells])
    out = {}
    for e in np.unique(rel):
        weight = np.where(rel == e, size, 0.0)
        weight /= weight.sum()
        out[f"e{e:+d}"] = (weight @ beta, np.sqrt(weight @ vcov @ weight))
    post = np.where(rel >= 0, size, 0.0) / size[rel >= 0].sum()
    out["ATT"] = (post @ beta, np.sqrt(post @ vcov @ post))
    return out


@pytest.mark.parametrize(
    ("unbalanced", "cluster", "weights"),
    [(False, None, None), (True, "district", None), (False, "district", "wt"), (True, None, "wt")],
)
def test_equals_explicit_dummy_regression(unbalanced, cluster, weights):
    frame = commune_panel(unbalanced=unbalanced)
    result = sun_abraham(
        frame, "y", "commune", "wave", "first_wave", cluster=cluster, weights=weights
    )
    expected = saturated_by_dummies(frame, cluster or "commune", weights)
    assert set(result.terms.index) == set(expected)
    for term, (estimate, std_error) in expected.items():
        assert result.terms.loc[term, "estimate"] == pytest.approx(estimate, abs=1e-8)
        assert result.terms.loc[term, "std_error"] == pytest.approx(std_error, abs=1e-8)
    assert result.terms.index[0] == "ATT"
    assert result.n_clusters == frame[cluster or "commune"].nunique()


def test_equals_pyfixest_saturated_event_study():
    frame = commune_panel(seed=3)
    result = sun_abraham(frame, "y", "commune", "wave", "first_wave")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.event_study(
            frame,
            yname="y",
            idname="commune",
            tname="wave",
            gname="first_wave",
            estimator="saturated",
            cluster="commune",
        )
        peer = fit.aggregate()
    for period, row in peer.iterrows():
        term = f"e{int(period):+d}"
        assert result.terms.loc[term, "estimate"] == pytest.approx(row["Estimate"], abs=1e-6)
        assert result.terms.loc[term, "std_error"] == pytest.approx(row["Std. Error"], abs=1e-6)


def test_last_treated_control_equals_dummy_regression_on_pre_adoption_sample():
    frame = commune_panel(seed=5).query("first_wave > 0")
    result = sun_abraham(frame, "y", "commune", "wave", "first_wave", control="last_treated")
    sample = frame.loc[frame["wave"] < 5].copy()
    sample.loc[sample["first_wave"] == 5, "first_wave"] = 0
    expected = saturated_by_dummies(sample, "commune", None)
    for term, (estimate, std_error) in expected.items():
        assert result.terms.loc[term, "estimate"] == pytest.approx(estimate, abs=1e-8)
        assert result.terms.loc[term, "std_error"] == pytest.approx(std_error, abs=1e-8)
    with pytest.raises(ValueError, match="last_treated"):
        sun_abraham(frame, "y", "commune", "wave", "first_wave")


def test_window_reference_and_recovery_of_cohort_weighted_effects():
    frame = commune_panel(n_units=600, seed=8)
    result = sun_abraham(frame, "y", "commune", "wave", "first_wave", leads=2, lags=2)
    assert result.terms.index.tolist() == ["ATT", "e-2", "e+0", "e+1", "e+2"]
    # Truth at e=0 is 1 + 0.2 * share of cohort 3 among adopters observed at e=0 (about 1/3).
    assert result.terms.loc["e+0", "conf_low"] < 1 + 0.2 / 3 < result.terms.loc["e+0", "conf_high"]
    assert abs(result.terms.loc["e-2", "estimate"]) < 3 * result.terms.loc["e-2", "std_error"]
    shares = [v for k, v in result.diagnostics.items() if k.endswith("_e0")]
    assert sum(shares) == pytest.approx(1.0)
    other = sun_abraham(frame, "y", "commune", "wave", "first_wave", reference=-2)
    assert "e-1" in other.terms.index and "e-2" not in other.terms.index


def test_demeaning_reproduces_dummy_residuals_on_unbalanced_panel():
    frame = commune_panel(seed=2, unbalanced=True)
    codes_u = pd.factorize(frame["commune"])[0]
    codes_t = pd.factorize(frame["wave"])[0]
    mine = demean_two_way(frame["y"].to_numpy(), codes_u, codes_t)[:, 0]
    resid = smf.ols("y ~ C(commune) + C(wave)", data=frame).fit().resid.to_numpy()
    np.testing.assert_allclose(mine, resid, atol=1e-9)


def test_bad_input():
    frame = commune_panel()
    with pytest.raises(ValueError, match="cluster='province'"):
        sun_abraham(frame, "y", "commune", "wave", "first_wave", cluster="province")
    with pytest.raises(ValueError, match="control"):
        sun_abraham(frame, "y", "commune", "wave", "first_wave", control="not_yet")
    varying = frame.copy()
    varying.loc[0, "first_wave"] = 6
    with pytest.raises(ValueError, match="varies within"):
        sun_abraham(varying, "y", "commune", "wave", "first_wave")
