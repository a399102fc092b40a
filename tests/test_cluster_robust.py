"""CRV1, CR2 and CV3 for the two-way FE DiD: against pyfixest, dense dummy algebra, formulas."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import linalg

from evaluation.inference.cluster_robust import (
    cr2,
    cr2_core,
    crv1,
    cv3,
    panel_design,
)

TOL = 1e-8


def _ballots(seed: int, n_communes: int = 16, n_waves: int = 5, n_pilots: int = 4) -> pd.DataFrame:
    """Unbalanced ballots: 1-4 per commune-wave, some commune-waves missing."""
    rng = np.random.default_rng(seed)
    rows = []
    for commune in range(n_communes):
        pilot = commune < n_pilots
        level = rng.normal()
        for wave in range(n_waves):
            if rng.uniform() < 0.1 and wave not in (0, n_waves - 1):
                continue
            shock = rng.normal(scale=0.3)
            cov = rng.normal()
            for _ in range(rng.integers(1, 5)):
                rows.append(
                    {
                        "commune": f"c{commune:02d}",
                        "wave": wave,
                        "district": commune % 3,
                        "pilot_active": int(pilot and wave >= n_waves // 2),
                        "staff_ratio": cov,
                        "age": rng.normal(),
                        "weight": rng.uniform(0.5, 2.0),
                        "satisfaction": level + 0.1 * wave + shock + rng.normal(),
                    }
                )
    frame = pd.DataFrame(rows)
    frame["cluster_id"] = frame["commune"] + "_g"  # pyfixest: see test_crv1_equals_pyfixest
    return frame


def _dense_full_model(
    frame: pd.DataFrame, cluster: str, weights: str | None, covariates: tuple[str, ...]
) -> dict[str, float]:
    """Household-level dummy regression with explicit N x N hat matrix: CR2, BM df, CV3."""
    dummies = [
        frame[["pilot_active", *covariates]].to_numpy(float),
        pd.get_dummies(frame["commune"]).to_numpy(float),
        pd.get_dummies(frame["wave"], drop_first=True).to_numpy(float),
    ]
    x = np.hstack(dummies)
    y = frame["satisfaction"].to_numpy(float)
    w = np.ones(len(y)) if weights is None else frame[weights].to_numpy(float)
    xs, ys = np.sqrt(w)[:, None] * x, np.sqrt(w) * y
    bread = np.linalg.pinv(xs.T @ xs)
    beta = bread @ xs.T @ ys
    resid = ys - xs @ beta
    hat = xs @ bread @ xs.T
    groups = frame[cluster].to_numpy()
    labels = np.unique(groups)
    variance = 0.0
    columns = []
    for g in labels:
        idx = np.flatnonzero(groups == g)
        block = np.eye(len(idx)) - hat[np.ix_(idx, idx)]
        with warnings.catch_warnings():  # sqrtm warns on the singular pseudo-inverse
            warnings.simplefilter("ignore")
            root = linalg.sqrtm(np.linalg.pinv(block, hermitian=True, rtol=1e-10)).real
        v = root @ xs[idx] @ bread[:, 0]
        variance += float(v @ resid[idx]) ** 2
        columns.append((np.eye(len(y)) - hat)[:, idx] @ v)
    gmat = np.column_stack(columns)
    gram = gmat.T @ gmat
    df = np.trace(gram) ** 2 / np.sum(gram**2)
    # brute-force leave-one-cluster-out re-estimation for CV3
    loo = []
    for g in labels:
        keep = groups != g
        sub = frame.loc[keep]
        xk = np.hstack(
            [
                sub[["pilot_active", *covariates]].to_numpy(float),
                pd.get_dummies(sub["commune"]).to_numpy(float),
                pd.get_dummies(sub["wave"], drop_first=True).to_numpy(float),
            ]
        )
        wk = w[keep]
        coef = np.linalg.lstsq(np.sqrt(wk)[:, None] * xk, np.sqrt(wk) * y[keep], rcond=None)[0]
        loo.append(coef[0])
    n_g = len(labels)
    cv3_se = np.sqrt((n_g - 1) / n_g * np.sum((np.array(loo) - beta[0]) ** 2))
    return {"estimate": beta[0], "cr2_se": np.sqrt(variance), "df": df, "cv3_se": cv3_se}


CASES = [
    ("commune", None, ()),
    ("commune", "weight", ()),
    ("commune", None, ("staff_ratio",)),
    ("district", "weight", ("staff_ratio",)),
    ("commune", "weight", ("age",)),  # ballot-level covariate: no collapse to cells
]


@pytest.mark.parametrize(("cluster", "weights", "covariates"), CASES)
def test_cr2_and_cv3_equal_dense_dummy_regression(
    cluster: str, weights: str | None, covariates: tuple[str, ...]
) -> None:
    frame = _ballots(3)
    dense = _dense_full_model(frame, cluster, weights, covariates)
    args = (frame, "satisfaction", "pilot_active", "commune", "wave", cluster, weights, covariates)
    res = cr2(*args)
    np.testing.assert_allclose(res.estimate, dense["estimate"], rtol=TOL)
    np.testing.assert_allclose(res.std_error, dense["cr2_se"], rtol=1e-7)
    np.testing.assert_allclose(res.df, dense["df"], rtol=1e-7)
    jack = cv3(*args)
    np.testing.assert_allclose(jack.std_error, dense["cv3_se"], rtol=1e-7)
    assert jack.df == frame[cluster].nunique() - 1


def test_cr2_intercept_only_matches_clubsandwich_formulas() -> None:
    # clubSandwich tests/testthat/test_intercept_formulas.R: for y ~ 1 with unequal clusters,
    # V_CR2 = sum n_j^2 (ybar_j - ybar)^2 / (1 - n_j/N) / N^2 and a closed-form df.
    rng = np.random.default_rng(20190513)
    sizes = 1 + rng.negative_binomial(2, 2 / 7, size=14)
    y = [rng.normal(size=n) + rng.normal(scale=0.45) for n in sizes]
    n_total = sizes.sum()
    ybar = np.concatenate(y).mean()
    m = sizes.max()
    xp = np.zeros((len(sizes), m, 1))
    ep = np.zeros((len(sizes), m))
    for j, values in enumerate(y):
        xp[j, : len(values), 0] = 1.0
        ep[j, : len(values)] = values - ybar
    se, df = cr2_core(xp, ep, np.array([[1.0 / n_total]]))
    means = np.array([v.mean() for v in y])
    var_formula = np.sum(sizes**2 * (means - ybar) ** 2 / (1 - sizes / n_total)) / n_total**2
    df_formula = n_total**2 / (
        n_total**2 * np.sum(sizes**2 / (n_total - sizes) ** 2)
        - 2 * n_total * np.sum(sizes**3 / (n_total - sizes) ** 2)
        + np.sum(sizes**2 / (n_total - sizes)) ** 2
    )
    np.testing.assert_allclose(se, np.sqrt(var_formula), rtol=1e-10)
    np.testing.assert_allclose(df, df_formula, rtol=1e-10)


@pytest.mark.parametrize(("cluster", "weights", "covariates"), CASES)
def test_crv1_and_cv3_equal_pyfixest(
    cluster: str, weights: str | None, covariates: tuple[str, ...]
) -> None:
    pf = pytest.importorskip("pyfixest")
    frame = _ballots(5)
    # pyfixest 0.60 gives a slightly different CRV1 SE when the cluster column is also a
    # fixed-effect column; a copy of the column gives fixest's documented factor.
    pf_cluster = "cluster_id" if cluster == "commune" else cluster
    formula = "satisfaction ~ " + " + ".join(["pilot_active", *covariates]) + " | commune + wave"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit1 = pf.feols(formula, data=frame, vcov={"CRV1": pf_cluster}, weights=weights)
        fit3 = pf.feols(formula, data=frame, vcov={"CRV3": pf_cluster}, weights=weights)
    args = (frame, "satisfaction", "pilot_active", "commune", "wave", cluster, weights, covariates)
    res = crv1(*args)
    np.testing.assert_allclose(res.estimate, fit1.coef()["pilot_active"], rtol=TOL)
    np.testing.assert_allclose(res.std_error, fit1.se()["pilot_active"], rtol=1e-7)
    np.testing.assert_allclose(res.p_value, fit1.pvalue()["pilot_active"], rtol=1e-6)
    low, high = fit1.confint().loc["pilot_active"]
    np.testing.assert_allclose([res.conf_low, res.conf_high], [low, high], atol=1e-7)
    # pyfixest's CRV3 = CRV1 factor x sum (b_-g - b)^2; ours uses (G-1)/G (MNW 2023).
    design = panel_design(*args)
    g, n, k = design.n_clusters, design.n_obs, design.n_params
    factor = g / (g - 1) * (n - 1) / (n - k)
    expected = fit3.se()["pilot_active"] / np.sqrt(factor) * np.sqrt((g - 1) / g)
    np.testing.assert_allclose(cv3(*args).std_error, expected, rtol=1e-7)


def test_cell_collapse_is_exact() -> None:
    frame = _ballots(9)
    cells = (
        frame.groupby(["commune", "wave", "district"], as_index=False)
        .agg(satisfaction=("satisfaction", "mean"), pilot_active=("pilot_active", "first"))
        .assign(ballots=frame.groupby(["commune", "wave"]).size().to_numpy())
    )
    for method in (cr2, cv3):
        row_level = method(frame, "satisfaction", "pilot_active", "commune", "wave")
        cell_level = method(
            cells, "satisfaction", "pilot_active", "commune", "wave", None, "ballots"
        )
        np.testing.assert_allclose(row_level.estimate, cell_level.estimate, rtol=TOL)
        np.testing.assert_allclose(row_level.std_error, cell_level.std_error, rtol=1e-9)
        np.testing.assert_allclose(row_level.df, cell_level.df, rtol=1e-9)


def test_result_fields_and_interval() -> None:
    frame = _ballots(2)
    res = cr2(frame, "satisfaction", "pilot_active", "commune", "wave", alpha=0.1, null_value=0.2)
    assert res.method == "cr2_bm"
    assert res.n_treated_clusters == 4 and res.n_clusters == 16
    assert res.conf_low < res.estimate < res.conf_high
    np.testing.assert_allclose(res.t_stat, (res.estimate - 0.2) / res.std_error)
    assert "Bell-McCaffrey" in res.label()
    # a CR2 df below G-1 is the point of the correction with 4 treated of 16 clusters
    assert res.df < res.n_clusters - 1


def test_single_treated_cluster_cv3_is_nan() -> None:
    frame = _ballots(4, n_pilots=1)
    res = cv3(frame, "satisfaction", "pilot_active", "commune", "wave")
    assert np.isnan(res.std_error) and np.isnan(res.p_value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outcome": "nope"}, "not found"),
        ({"treatment": "staff_ratio"}, "must be 0/1"),
        ({"cluster": "wave"}, "single"),
        ({"weights": "neg"}, "strictly positive"),
    ],
)
def test_bad_input_raises(change: dict[str, str], message: str) -> None:
    frame = _ballots(1).assign(neg=-1.0)
    kwargs = {
        "outcome": "satisfaction",
        "treatment": "pilot_active",
        "unit": "commune",
        "time": "wave",
    } | change
    with pytest.raises(ValueError, match=message):
        crv1(frame, **kwargs)


def test_treatment_absorbed_by_unit_effects_raises() -> None:
    frame = _ballots(1)
    frame["always"] = (frame["commune"] < "c04").astype(int)
    with pytest.raises(ValueError, match="does not vary"):
        cr2(frame, "satisfaction", "always", "commune", "wave")
