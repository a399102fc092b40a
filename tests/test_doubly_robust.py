"""Doubly robust DiD: cross-checks against drdid 1.1.7, csdid 0.4.3 and R DRDID's improved DR."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from drdid import drdid as peer_dr
from drdid import ipwd_did as peer_ipw
from drdid import reg_did as peer_reg

from evaluation.estimators.doubly_robust import drdid, two_period_panel

PANEL_PEERS = {
    "dr_trad": peer_dr.drdid_panel,
    "ipw": peer_ipw.std_ipw_did_panel,
    "reg": lambda y1, y0, d, x, w, trim_level=None: peer_reg.reg_did_panel(y1, y0, d, x, w),
}
RC_PEERS = {
    "dr_trad": peer_dr.drdid_rc,
    "ipw": peer_ipw.std_ipw_did_rc,
    "reg": lambda y, t, d, x, w, trim_level=None: peer_reg.reg_did_rc(y, t, d, x, w),
}


def _peer_se(influence: np.ndarray) -> float:
    # The convention of R did / csdid (bstrap=False): sqrt(mean(psi^2) / n).
    return float(np.sqrt(np.sum(influence**2)) / len(influence))


def _simulate(n: int = 600, seed: int = 1) -> dict[str, np.ndarray]:
    """Pilot units more likely with high x1/x2; the trend depends on x1 (conditional PT only)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, size=n).astype(float)
    d = rng.binomial(1, 1 / (1 + np.exp(-(-1 + 0.6 * x1 + 0.5 * x2)))).astype(float)
    y0 = 1 + x1 + 0.5 * x2 + rng.normal(size=n)
    y1 = y0 + 0.5 + 0.3 * x1 + 1.0 * d + rng.normal(size=n)
    return {
        "x1": x1,
        "x2": x2,
        "d": d,
        "y0": y0,
        "y1": y1,
        "w": rng.uniform(0.5, 2.0, size=n),
        "t": rng.binomial(1, 0.5, size=n).astype(float),
        "commune": rng.integers(0, 40, size=n),
    }


def _long_panel(s: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(s["d"])
    frame = pd.DataFrame(
        {
            "commune_id": np.tile(np.arange(n), 2),
            "post": np.repeat([0, 1], n),
            "y": np.r_[s["y0"], s["y1"]],
            "pilot": np.tile(s["d"].astype(int), 2),
            "x1": np.tile(s["x1"], 2),
            "x2": np.tile(s["x2"], 2),
            "w": np.tile(s["w"], 2),
            "district": np.tile(s["commune"], 2),
        }
    )
    # Shuffle rows: the estimator must not rely on row order.
    return frame.sample(frac=1.0, random_state=0)


def _cross_sections(s: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ballot": np.arange(len(s["d"])),
            "post": s["t"].astype(int),
            "y": np.where(s["t"] == 1, s["y1"], s["y0"]),
            "pilot": s["d"].astype(int),
            "x1": s["x1"],
            "x2": s["x2"],
            "w": s["w"],
            "commune": s["commune"],
        }
    )


CASES = [((), False), (("x1", "x2"), False), (("x1", "x2"), True)]


@pytest.mark.parametrize("method", ["dr_trad", "ipw", "reg"])
@pytest.mark.parametrize(("covariates", "weighted"), CASES)
def test_panel_matches_drdid_package(method, covariates, weighted):
    s = _simulate()
    x = np.column_stack([s[c] for c in covariates]) if covariates else None
    w = s["w"] if weighted else None
    att, influence = PANEL_PEERS[method](s["y1"], s["y0"], s["d"], x, w)
    result = drdid(
        _long_panel(s), "y", "commune_id", "post", "pilot", covariates,
        "w" if weighted else None, method=method,
    )  # fmt: skip
    assert result.estimate == pytest.approx(att, rel=1e-6, abs=1e-10)
    assert result.std_error == pytest.approx(_peer_se(influence), rel=1e-6)
    assert result.n_clusters == len(s["d"])
    assert result.n_treated_clusters == int(s["d"].sum())


@pytest.mark.parametrize("method", ["dr_trad", "ipw", "reg"])
@pytest.mark.parametrize(("covariates", "weighted"), CASES)
def test_cross_sections_match_drdid_package(method, covariates, weighted):
    s = _simulate()
    x = np.column_stack([s[c] for c in covariates]) if covariates else None
    w = s["w"] if weighted else None
    y = np.where(s["t"] == 1, s["y1"], s["y0"])
    att, influence = RC_PEERS[method](y, s["t"], s["d"], x, w)
    result = drdid(
        _cross_sections(s), "y", "ballot", "post", "pilot", covariates,
        "w" if weighted else None, method=method, panel=False,
    )  # fmt: skip
    assert result.estimate == pytest.approx(att, rel=1e-6, abs=1e-10)
    assert result.std_error == pytest.approx(_peer_se(influence), rel=1e-6)
    assert result.estimator == f"drdid_{method}_rc"


@pytest.mark.parametrize("panel", [True, False])
def test_trimming_matches_drdid_package(panel):
    # A low trim level forces trimming of comparison units on this data.
    s = _simulate()
    x = np.column_stack([s["x1"], s["x2"]])
    if panel:
        att, influence = peer_dr.drdid_panel(s["y1"], s["y0"], s["d"], x, None, trim_level=0.45)
        frame, unit = _long_panel(s), "commune_id"
    else:
        y = np.where(s["t"] == 1, s["y1"], s["y0"])
        att, influence = peer_dr.drdid_rc(y, s["t"], s["d"], x, None, trim_level=0.45)
        frame, unit = _cross_sections(s), "ballot"
    result = drdid(
        frame, "y", unit, "post", "pilot", ("x1", "x2"), method="dr_trad", panel=panel,
        trim_level=0.45,
    )  # fmt: skip
    assert result.diagnostics["trimmed"] > 0
    assert any("trimmed" in note for note in result.notes)
    assert result.estimate == pytest.approx(att, rel=1e-6)
    assert result.std_error == pytest.approx(_peer_se(influence), rel=1e-6)


@pytest.mark.parametrize(
    ("method", "peer_method"), [("dr_trad", "dr"), ("ipw", "ipw"), ("reg", "reg")]
)
@pytest.mark.parametrize("cluster", [None, "district"])
def test_panel_matches_csdid_with_clusters(method, peer_method, cluster):
    from csdid.att_gt import ATTgt

    s = _simulate()
    frame = _long_panel(s)
    frame["wave"] = frame["post"] + 1
    frame["first_wave"] = np.where(frame["pilot"] == 1, 2, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = ATTgt(
            yname="y", tname="wave", idname="commune_id", gname="first_wave", data=frame,
            xformla="y~x1+x2", weights_name="w", clustervar=cluster,
        ).fit(est_method=peer_method, bstrap=False)  # fmt: skip
    result = drdid(
        frame, "y", "commune_id", "post", "pilot", ("x1", "x2"), "w", method=method,
        cluster=cluster,
    )  # fmt: skip
    assert result.estimate == pytest.approx(peer.results["att"][0], rel=1e-6)
    assert result.std_error == pytest.approx(peer.results["se"][0], rel=1e-6)
    if cluster:
        assert result.n_clusters == frame["district"].nunique()
        assert "clustered by district" in result.inference


def _deterministic(n: int = 300) -> dict[str, np.ndarray]:
    """Data from closed-form expressions, so the stored reference numbers never drift."""
    i = np.arange(n, dtype=float)
    x1 = 1.5 * np.sin(0.37 * i)
    x2 = (np.cos(1.7 * i) > 0.3).astype(float)
    d = (np.sin(1.3 * i) + 0.5 * x1 + 0.3 * x2 > 0.4).astype(float)
    y0 = 1 + x1 + 0.5 * x2 + np.cos(0.91 * i)
    y1 = y0 + 0.5 + 0.3 * x1 + d + np.sin(2.17 * i)
    w = 1 + 0.5 * (i % 4 == 0)
    t = (np.cos(0.53 * i) > 0).astype(float)
    return {"x1": x1, "x2": x2, "d": d, "y0": y0, "y1": y1, "w": w, "t": t, "commune": i % 30}


# (panel, covariates, weighted) -> (ATT, SE) of R DRDID's improved DR (drdid_imp_panel and the
# locally efficient drdid_imp_rc), computed with moderndid 0.2.0 (drdid_imp_panel /
# drdid_imp_local_rc, a port of R DRDID) on _deterministic(); SE = sqrt(sum psi^2) / n.
IMPROVED_REFERENCE = {
    (True, False, False): (1.2758015303987165, 0.0905120223192982),
    (False, False, False): (0.9059076436280958, 0.32109761027788614),
    (True, False, True): (1.279613564321265, 0.09259865608501404),
    (False, False, True): (0.8940716972160523, 0.32818333225822566),
    (True, True, False): (1.0305108996390684, 0.09788097417732156),
    (False, True, False): (1.0088993724364042, 0.240889423946193),
    (True, True, True): (1.0333538949972656, 0.10158490959836232),
    (False, True, True): (0.9967343933839741, 0.24783898320798003),
}


@pytest.mark.parametrize(("panel", "with_covariates", "weighted"), list(IMPROVED_REFERENCE))
def test_improved_dr_matches_r_drdid_reference(panel, with_covariates, weighted):
    s = _deterministic()
    frame = _long_panel(s) if panel else _cross_sections(s)
    result = drdid(
        frame, "y", "commune_id" if panel else "ballot", "post", "pilot",
        ("x1", "x2") if with_covariates else (), "w" if weighted else None, method="dr",
        panel=panel,
    )  # fmt: skip
    att, se = IMPROVED_REFERENCE[(panel, with_covariates, weighted)]
    # The tilting optimiser differs from R's trust(); both stop at gradient ~1e-10 or below.
    assert result.estimate == pytest.approx(att, abs=1e-8)
    assert result.std_error == pytest.approx(se, abs=1e-8)
    assert result.model.tilting_converged


@pytest.mark.parametrize("weighted", [False, True])
def test_tilting_balances_covariates(weighted):
    s = _simulate()
    result = drdid(
        _long_panel(s), "y", "commune_id", "post", "pilot", ("x1", "x2"),
        "w" if weighted else None,
    )  # fmt: skip
    fit = result.model
    p = fit.propensity.to_numpy()
    d = s["d"]  # the panel is sorted by unit id, which is the simulation order
    w = s["w"] if weighted else np.ones_like(d)
    odds = w * (1 - d) * p / (1 - p)
    for c in ("x1", "x2"):
        pilot_mean = np.sum(w * d * s[c]) / np.sum(w * d)
        comparison_mean = np.sum(odds * s[c]) / np.sum(odds)
        assert comparison_mean == pytest.approx(pilot_mean, abs=1e-9)
    assert np.sum(odds) == pytest.approx(np.sum(w * d), rel=1e-9)


@pytest.mark.parametrize("panel", [True, False])
def test_without_covariates_every_method_is_the_2x2_did(panel):
    s = _simulate()
    frame = _long_panel(s) if panel else _cross_sections(s)
    means = frame.groupby(["pilot", "post"])["y"].mean()
    did = (means[1, 1] - means[1, 0]) - (means[0, 1] - means[0, 0])
    unit = "commune_id" if panel else "ballot"
    estimates = [
        drdid(frame, "y", unit, "post", "pilot", method=m, panel=panel).estimate
        for m in ("dr", "dr_trad", "ipw", "reg")
    ]
    assert estimates == pytest.approx([did] * 4, abs=1e-10)


def test_covariates_remove_confounded_trend_bias():
    # The trend depends on x1 and pilots have higher x1: the unadjusted DiD is biased upward by
    # 0.3 * (E[x1 | pilot] - E[x1 | comparison]) ~ 0.17; adjusted estimators should not be.
    s = _simulate(n=6000, seed=7)
    frame = _long_panel(s)
    naive = drdid(frame, "y", "commune_id", "post", "pilot", method="reg").estimate
    assert naive - 1.0 > 0.12
    for method in ("dr", "dr_trad", "ipw", "reg"):
        result = drdid(frame, "y", "commune_id", "post", "pilot", ("x1", "x2"), method=method)
        # true ATT is 1.0; the SE here is about 0.04, so 4 SE covers sampling error
        assert abs(result.estimate - 1.0) < 4 * result.std_error
        assert result.conf_int[0] < result.estimate < result.conf_int[1]


def test_clustering_by_unit_equals_unit_level_influence():
    s = _simulate()
    frame = _long_panel(s)
    frame["unit_copy"] = frame["commune_id"]
    plain = drdid(frame, "y", "commune_id", "post", "pilot", ("x1",))
    by_unit = drdid(frame, "y", "commune_id", "post", "pilot", ("x1",), cluster="unit_copy")
    assert by_unit.std_error == pytest.approx(plain.std_error, rel=1e-12)
    clustered = drdid(frame, "y", "commune_id", "post", "pilot", ("x1",), cluster="district")
    influence = clustered.model.influence
    sums = influence.groupby(clustered.model.clusters).sum()
    assert clustered.std_error == pytest.approx(
        np.sqrt(np.sum(sums**2)) / len(influence), rel=1e-12
    )
    assert influence.mean() == pytest.approx(0.0, abs=1e-10)


def test_tidy_has_effect_columns():
    s = _simulate()
    tidy = drdid(_long_panel(s), "y", "commune_id", "post", "pilot", ("x1",)).tidy()
    assert tidy.loc[0, "term"] == "ATT"
    assert tidy.loc[0, "estimator"] == "drdid_dr_panel"
    assert tidy.loc[0, "n_obs"] == 2 * len(s["d"])


def _ballots(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for commune in range(30):
        pilot = int(commune < 8)
        staff = rng.normal()
        for wave in range(1, 7):
            for _ in range(int(rng.integers(3, 8))):
                rows.append(
                    {
                        "commune": commune,
                        "wave": wave,
                        "pilot": pilot,
                        "staff": staff + rng.normal(scale=0.1),
                        "score": rng.normal(3 + 0.5 * pilot * (wave >= 4) + 0.2 * staff),
                        "w": rng.uniform(0.5, 1.5),
                        "district": commune // 5,
                    }
                )
    return pd.DataFrame(rows)


def test_two_period_panel_collapses_windows():
    ballots = _ballots()
    ballots = ballots.loc[~((ballots["commune"] == 3) & (ballots["wave"] >= 4))]  # no post rows
    panel = two_period_panel(
        ballots, "score", "commune", "wave", "pilot", pre_periods=[2, 3], post_periods=[4, 5],
        covariates=["staff"], weights="w", keep=["district"],
    )  # fmt: skip
    assert 3 not in set(panel["commune"])
    assert len(panel) == 2 * 29
    rows = ballots.loc[(ballots["commune"] == 5) & ballots["wave"].isin([4, 5])]
    expected = np.average(rows["score"], weights=rows["w"])
    got = panel.loc[(panel["commune"] == 5) & (panel["post"] == 1), "score"].item()
    assert got == pytest.approx(expected, rel=1e-12)
    pre = ballots.loc[(ballots["commune"] == 5) & ballots["wave"].isin([2, 3])]
    staff = panel.loc[panel["commune"] == 5, "staff"]
    assert staff.to_numpy() == pytest.approx([np.average(pre["staff"], weights=pre["w"])] * 2)
    assert panel.loc[panel["commune"] == 5, "n_rows"].tolist() == [len(pre), len(rows)]
    result = drdid(
        panel, "score", "commune", "post", "pilot", ["staff"], "weight", cluster="district"
    )
    assert result.n_clusters == 6
    assert result.n_treated_clusters == 2


def test_bad_input_raises_clear_errors():
    s = _simulate()
    frame = _long_panel(s)
    with pytest.raises(ValueError, match="method must be one of"):
        drdid(frame, "y", "commune_id", "post", "pilot", method="aipw")
    with pytest.raises(ValueError, match="'missing' is not a column"):
        drdid(frame, "y", "commune_id", "post", "pilot", ("missing",))
    bad = frame.assign(pilot=frame["pilot"] * 2)
    with pytest.raises(ValueError, match="must hold only 0 and 1"):
        drdid(bad, "y", "commune_id", "post", "pilot")
    with pytest.raises(ValueError, match="two_period_panel"):
        drdid(pd.concat([frame, frame]), "y", "commune_id", "post", "pilot")
    varying = frame.copy()
    varying.loc[varying["post"] == 1, "pilot"] = 1 - varying.loc[varying["post"] == 1, "pilot"]
    with pytest.raises(ValueError, match="constant within each 'commune_id'"):
        drdid(varying, "y", "commune_id", "post", "pilot")
    with pytest.raises(ValueError, match="constant in the sample"):
        drdid(frame.assign(c=1.0), "y", "commune_id", "post", "pilot", ("c",))
    with pytest.raises(ValueError, match="overlap"):
        two_period_panel(_ballots(), "score", "commune", "wave", "pilot", [1, 2], [2, 3])


def test_missing_values_and_unbalanced_units_are_dropped_with_notes():
    s = _simulate()
    frame = _long_panel(s)
    frame.loc[frame.index[:3], "y"] = np.nan
    result = drdid(frame, "y", "commune_id", "post", "pilot", ("x1",))
    assert result.n_clusters == len(s["d"]) - 3
    assert any("3 rows with missing values" in note for note in result.notes)
    assert any("only one period" in note for note in result.notes)
