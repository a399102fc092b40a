"""Wild cluster bootstrap: cross-checked against wildboottest 0.3.2 and pyfixest 0.60."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from evaluation.inference.wild_bootstrap import (
    BootstrapResult,
    _bootstrap_moments,
    _bootstrap_t,
    _cluster_statistics,
    _p_value,
    _prepare_design,
    wild_cluster_bootstrap,
)

pf = pytest.importorskip("pyfixest")
wbt = pytest.importorskip("wildboottest.wildboottest")


def make_panel(
    n_communes: int,
    n_pilot: int,
    n_waves: int = 6,
    ballots: int = 5,
    effect: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Ballots nested in communes x waves; the first ``n_pilot`` communes treated from wave 3."""
    rng = np.random.default_rng(seed)
    commune = np.repeat(np.arange(n_communes), n_waves * ballots)
    wave = np.tile(np.repeat(np.arange(n_waves), ballots), n_communes)
    pilot = commune < n_pilot
    treat = (pilot & (wave >= n_waves // 2)).astype(float)
    household_size = rng.integers(1, 7, size=commune.size).astype(float)
    satisfaction = (
        3.0
        + effect * treat
        + rng.normal(0, 0.5, n_communes)[commune]
        + 0.05 * wave
        + 0.1 * household_size
        + rng.normal(0, 1 + 0.5 * pilot, commune.size)
    )
    return pd.DataFrame(
        {
            "commune": commune,
            "wave": wave,
            "treat": treat,
            "household_size": household_size,
            "satisfaction": satisfaction,
            "weight": rng.uniform(0.5, 2.0, commune.size),
        }
    )


def dummy_design(frame: pd.DataFrame, weighted: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """The full dummy regression (commune and wave dummies) that wildboottest needs."""
    x = pd.concat(
        [
            frame[["treat", "household_size"]],
            pd.get_dummies(frame["commune"], prefix="c", dtype=float),
            pd.get_dummies(frame["wave"], prefix="w", drop_first=True, dtype=float),
        ],
        axis=1,
    )
    y = frame["satisfaction"].to_numpy()
    if weighted:  # WLS as OLS on sqrt(weight)-scaled data
        root = np.sqrt(frame["weight"].to_numpy())
        x = x.mul(root, axis=0)
        y = y * root
    return x, y


def peer_bootstrap(
    frame: pd.DataFrame, impose_null: bool, weights_type: str, seed: int, weighted: bool = False
) -> wbt.WildboottestCL:
    """Run wildboottest's WCR/WCU 11 bootstrap on the dummy model; keep its draws and t*."""
    x, y = dummy_design(frame, weighted)
    r_vec = np.zeros(x.shape[1])
    r_vec[0] = 1.0
    boot = wbt.WildboottestCL(
        X=x.to_numpy(), Y=y, cluster=frame["commune"].to_numpy(), R=r_vec, B=9999, seed=seed
    )
    boot.get_scores(bootstrap_type="11", impose_null=impose_null)
    boot.get_weights(weights_type=weights_type)
    boot.get_numer()
    boot.get_denom()
    boot.get_tboot()
    boot.get_vcov()
    boot.get_tstat()
    boot.get_pvalue(pval_type="two-tailed")
    return boot


def own_t_boot(
    frame: pd.DataFrame, draws: np.ndarray, restricted: bool, weighted: bool = False
) -> tuple[np.ndarray, float]:
    """Our bootstrap t's relative to the original t for given (B, G) draws, and the p-value.

    Relative, because the small-sample factor differs (wildboottest counts every dummy in K);
    it scales the original and all bootstrap t's alike and leaves the p-value unchanged.
    """
    design = _prepare_design(
        frame,
        "satisfaction",
        "treat",
        "commune",
        ("commune", "wave"),
        ("household_size",),
        "weight" if weighted else None,
    )
    stats = _cluster_statistics(design)
    moments = _bootstrap_moments(stats, iter([draws]), with_restricted=restricted)
    t_boot = _bootstrap_t(moments, stats["estimate"], stats["ssc"], restricted)
    p = _p_value(moments, stats["estimate"], stats["se"], stats["ssc"], restricted)
    return t_boot / (stats["estimate"] / stats["se"]), p


def peer_relative_t(peer: wbt.WildboottestCL) -> np.ndarray:
    return peer.t_boot / float(np.ravel(peer.t_stat)[0])


def run(frame: pd.DataFrame, **kwargs: object) -> BootstrapResult:
    return wild_cluster_bootstrap(
        frame,
        "satisfaction",
        "treat",
        "commune",
        fixed_effects=("commune", "wave"),
        covariates=("household_size",),
        **kwargs,
    )


@pytest.fixture(scope="module")
def panel50() -> pd.DataFrame:
    return make_panel(50, 12, effect=0.6, seed=3)


@pytest.fixture(scope="module")
def panel10() -> pd.DataFrame:
    return make_panel(10, 3, effect=0.6, seed=5)


# ----------------------------------------------------------------------- original t statistic


@pytest.mark.parametrize(
    ("formula", "fixed_effects", "weights"),
    [
        ("satisfaction ~ treat + household_size | commune + wave", ("commune", "wave"), None),
        ("satisfaction ~ treat + household_size | commune + wave", ("commune", "wave"), "weight"),
        ("satisfaction ~ treat + household_size | wave", ("wave",), None),
        ("satisfaction ~ treat + household_size", (), "weight"),
    ],
)
def test_t_stat_equals_pyfixest_crv1(
    panel50: pd.DataFrame, formula: str, fixed_effects: tuple[str, ...], weights: str | None
) -> None:
    fit = pf.feols(formula, data=panel50, vcov={"CRV1": "commune"}, weights=weights)
    result = wild_cluster_bootstrap(
        panel50,
        "satisfaction",
        "treat",
        "commune",
        fixed_effects=fixed_effects,
        covariates=("household_size",),
        weights=weights,
        n_boot=99,
        confint=False,
    )
    assert result.estimate == pytest.approx(fit.coef()["treat"], rel=1e-9)
    assert result.std_error == pytest.approx(fit.se()["treat"], rel=1e-9)
    assert result.t_stat == pytest.approx(fit.tstat()["treat"], rel=1e-9)
    assert result.n_obs == len(panel50)
    assert (result.n_clusters, result.n_treated_clusters) == (50, 12)


# ------------------------------------------------------------------ agreement with wildboottest


@pytest.mark.parametrize("restricted", [True, False], ids=["WCR", "WCU"])
def test_full_enumeration_matches_wildboottest(panel10: pd.DataFrame, restricted: bool) -> None:
    peer = peer_bootstrap(panel10, impose_null=restricted, weights_type="rademacher", seed=1)
    assert peer.full_enumeration and peer.B == 2**10
    result = run(panel10, restricted=restricted, seed=123, confint=False)
    assert result.enumerated and result.n_boot == 2**10
    # Same sign vectors in the same order give the same bootstrap t's, draw by draw.
    t_boot, p = own_t_boot(panel10, peer.v.T, restricted)
    np.testing.assert_allclose(t_boot, peer_relative_t(peer), rtol=1e-8, atol=1e-10)
    assert p == result.p_value
    t_abs = abs(float(np.ravel(peer.t_stat)[0]))
    ties = np.isclose(np.abs(peer.t_boot), t_abs, rtol=1e-9, atol=0)
    # Restricted: the all-ones and all-minus-ones draws reproduce +-t. We count such ties as
    # extreme; wildboottest counts |t*| > |t| strictly, so it counts a tie only when rounding
    # happens to put its |t*| above |t|.
    assert int(ties.sum()) == (2 if restricted else 0)
    missed_by_peer = int(np.sum(ties & ~(np.abs(peer.t_boot) > t_abs)))
    assert result.p_value == pytest.approx(peer.pvalue + missed_by_peer / 2**10, abs=1e-12)
    # Enumeration is deterministic: the seed does not matter.
    assert run(panel10, restricted=restricted, seed=7, confint=False) == result


@pytest.mark.parametrize("weights_type", ["rademacher", "webb"])
@pytest.mark.parametrize("restricted", [True, False], ids=["WCR", "WCU"])
def test_sampled_draws_match_wildboottest(
    panel50: pd.DataFrame, restricted: bool, weights_type: str
) -> None:
    peer = peer_bootstrap(panel50, impose_null=restricted, weights_type=weights_type, seed=11)
    # With wildboottest's own draws, the dummy model and our absorbed model agree draw by draw.
    t_boot, p_same_draws = own_t_boot(panel50, peer.v.T, restricted)
    np.testing.assert_allclose(t_boot, peer_relative_t(peer), rtol=1e-8, atol=1e-10)
    assert p_same_draws == pytest.approx(peer.pvalue, abs=1e-12)
    # With our own B = 9,999 draws the p-values differ only by simulation noise.
    result = run(panel50, restricted=restricted, bootstrap_weights=weights_type, confint=False)
    assert not result.enumerated and result.n_boot == 9999
    assert 0.005 < peer.pvalue < 0.5  # an informative comparison, not two zeros
    assert abs(result.p_value - peer.pvalue) <= 0.01


def test_wildboottest_function_on_statsmodels_ols(panel50: pd.DataFrame) -> None:
    x, y = dummy_design(panel50)
    model = sm.OLS(y, x)
    table = wbt.wildboottest(
        model, B=9999, cluster=panel50["commune"].to_numpy(), param="treat", seed=2, show=False
    )
    result = run(panel50, confint=False)
    assert abs(result.p_value - float(table["p-value"].iloc[0])) <= 0.01


def test_weighted_bootstrap_matches_wildboottest_on_scaled_data(panel50: pd.DataFrame) -> None:
    peer = peer_bootstrap(
        panel50, impose_null=True, weights_type="rademacher", seed=4, weighted=True
    )
    t_boot, p = own_t_boot(panel50, peer.v.T, restricted=True, weighted=True)
    np.testing.assert_allclose(t_boot, peer_relative_t(peer), rtol=1e-8, atol=1e-10)
    assert p == pytest.approx(peer.pvalue, abs=1e-12)


# ------------------------------------------------------------------------ confidence interval


@pytest.mark.parametrize(
    ("restricted", "weights_type"),
    [(True, "rademacher"), (True, "webb"), (False, "rademacher")],
)
def test_interval_endpoints_have_p_value_alpha(
    panel50: pd.DataFrame, restricted: bool, weights_type: str
) -> None:
    kwargs = {"restricted": restricted, "bootstrap_weights": weights_type, "n_boot": 1999}
    result = run(panel50, **kwargs)
    assert result.conf_low < result.estimate < result.conf_high
    eps = 1e-6 * result.std_error
    for end, inward in ((result.conf_low, 1.0), (result.conf_high, -1.0)):
        inside = run(panel50, null_value=end + inward * eps, confint=False, **kwargs)
        outside = run(panel50, null_value=end - inward * eps, confint=False, **kwargs)
        assert inside.p_value >= 0.05 > outside.p_value
        assert inside.p_value - 0.05 < 2 / 1999 + 1e-12


def test_interval_of_wcu_is_percentile_t(panel50: pd.DataFrame) -> None:
    result = run(panel50, restricted=False, n_boot=999)
    design = _prepare_design(
        panel50, "satisfaction", "treat", "commune", ("commune", "wave"), ("household_size",), None
    )
    stats = _cluster_statistics(design)
    from evaluation.inference.wild_bootstrap import _draw_chunks

    moments = _bootstrap_moments(
        stats, _draw_chunks(50, 999, "rademacher", 0), with_restricted=False
    )
    t_abs = np.sort(np.abs(_bootstrap_t(moments, 0.0, stats["ssc"], restricted=False)))
    # p(beta0) >= 0.05 while at least 50 of 999 draws have |t*| >= |t(beta0)|.
    critical = t_abs[-50]
    assert result.conf_high - result.estimate == pytest.approx(critical * result.std_error)
    assert result.estimate - result.conf_low == pytest.approx(critical * result.std_error)


# ---------------------------------------------------------------------------- reproducibility


def test_same_seed_same_result_other_seed_other_draws(panel50: pd.DataFrame) -> None:
    first = run(panel50, n_boot=999, seed=42)
    assert run(panel50, n_boot=999, seed=42) == first
    assert run(panel50, n_boot=999, seed=43).p_value != first.p_value


def test_rows_with_missing_values_are_dropped(panel50: pd.DataFrame) -> None:
    holed = panel50.copy()
    holed.loc[[3, 100, 200], "satisfaction"] = np.nan
    holed.loc[[5], "household_size"] = np.nan
    result = run(holed, n_boot=999)
    assert result.n_obs == len(panel50) - 4
    assert result == run(holed.dropna(), n_boot=999)


def test_label_and_flags(panel10: pd.DataFrame, panel50: pd.DataFrame) -> None:
    assert run(panel50, confint=False).label() == "WCR-Rademacher, B=9,999 (test inversion CI)"
    assert run(panel10, confint=False, restricted=False).label() == (
        "WCU-Rademacher, B=1,024, all sign vectors (test inversion CI)"
    )
    assert run(panel50, n_boot=99, bootstrap_weights="webb", impose_null_for_ci=False).label() == (
        "WCR-Webb, B=99 (CI inverts WCU)"
    )
    assert np.isnan(run(panel50, n_boot=99, confint=False).conf_low)


# ------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (None, {"outcome": "nope"}, "not found in data"),
        ("one_cluster", {}, "at least 2 clusters"),
        ("constant_treatment", {}, "does not vary"),
        ("pilot_only", {"treatment": "pilot"}, "does not vary once the fixed effects"),
        (None, {"bootstrap_weights": "mammen"}, "bootstrap_weights"),
        (None, {"n_boot": 0}, "n_boot"),
        (None, {"alpha": 1.5}, "alpha"),
        ("negative_weight", {"weights": "weight"}, "non-negative"),
        ("text_covariate", {}, "must be numeric"),
        ("duplicate_covariate", {}, "collinear"),
    ],
)
def test_bad_input_raises_clear_value_error(
    panel10: pd.DataFrame, change: str | None, kwargs: dict, message: str
) -> None:
    frame = panel10.copy()
    covariates: tuple[str, ...] = ("household_size",)
    if change == "one_cluster":
        frame = frame[frame["commune"] == 0]
    elif change == "constant_treatment":
        frame["treat"] = 1.0
    elif change == "pilot_only":
        frame["pilot"] = (frame["commune"] < 3).astype(float)
    elif change == "negative_weight":
        frame.loc[0, "weight"] = -1.0
    elif change == "text_covariate":
        frame["household_size"] = frame["household_size"].astype(str)
    elif change == "duplicate_covariate":
        frame["size_again"] = 2 * frame["household_size"]
        covariates = ("household_size", "size_again")
    arguments = {
        "data": frame,
        "outcome": "satisfaction",
        "treatment": "treat",
        "cluster": "commune",
        "fixed_effects": ("commune", "wave"),
        "covariates": covariates,
        "n_boot": 99,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        wild_cluster_bootstrap(**arguments)


# -------------------------------------------------------------------------------- Monte Carlo


@pytest.mark.slow
def test_wcr_size_with_14_treated_of_109_communes() -> None:
    """Under the null, WCR rejects at 5% about 5% of the time; CRV1 (t, G-1 df) more often."""
    from scipy import stats

    replications = 3000
    rejections_wcr = rejections_crv1 = 0
    for s in range(replications):
        frame = make_panel(109, 14, n_waves=8, ballots=8, effect=0.0, seed=1000 + s)
        result = wild_cluster_bootstrap(
            frame,
            "satisfaction",
            "treat",
            "commune",
            fixed_effects=("commune", "wave"),
            n_boot=999,
            seed=s,
            confint=False,
        )
        rejections_wcr += result.p_value <= 0.05
        rejections_crv1 += 2 * stats.t.sf(abs(result.t_stat), df=108) <= 0.05
    rate_wcr = rejections_wcr / replications
    rate_crv1 = rejections_crv1 / replications
    print(f"rejection rate at 5%: WCR {rate_wcr:.3f}, CRV1 {rate_crv1:.3f} (S={replications})")
    assert 0.03 <= rate_wcr <= 0.07


def test_several_nested_fixed_effects_use_alternating_projections(panel50: pd.DataFrame) -> None:
    frame = panel50.assign(village=2 * panel50["commune"] + panel50.index % 2)
    both = wild_cluster_bootstrap(
        frame, "satisfaction", "treat", "commune", ("commune", "village", "wave"), n_boot=999
    )
    village = wild_cluster_bootstrap(
        frame, "satisfaction", "treat", "commune", ("village", "wave"), n_boot=999
    )
    assert both.t_stat == pytest.approx(village.t_stat, rel=1e-9)
    assert both.p_value == village.p_value
    assert both.conf_low == pytest.approx(village.conf_low, rel=1e-7)


def test_a_design_where_nothing_varies_gives_no_test_instead_of_crashing():
    """An outcome constant within the fixed effects has a zero standard error: the bootstrap
    returns no t-statistic, p-value or interval (NaN) rather than dividing by zero."""
    rows = [
        {"unit": u, "time": t, "y": 1.0 + u, "treated": float(u < 3 and t >= 2)}
        for u in range(8)
        for t in range(4)
    ]
    result = wild_cluster_bootstrap(
        pd.DataFrame(rows),
        "y",
        "treated",
        "unit",
        fixed_effects=("unit", "time"),
        n_boot=99,
        seed=1,
    )
    assert result.estimate == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(result.p_value) and math.isnan(result.t_stat) and math.isnan(result.conf_low)
