"""Propensity scores, Crump trimming, IPW weights and nearest-neighbour matching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from evaluation.estimators.balance import balance_table
from evaluation.estimators.propensity import (
    crump_alpha,
    ipw_weights,
    nearest_neighbour_match,
    overlap_trim,
    propensity_scores,
)


def _communes(seed: int = 11, n: int = 109) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    staff = rng.normal(0, 1, n)
    urban = (rng.random(n) < 0.4).astype(float)
    index = -2.0 + 1.0 * staff + 1.0 * urban
    pilot = (rng.random(n) < 1 / (1 + np.exp(-index))).astype(int)
    return pd.DataFrame(
        {"staff": staff, "urban": urban, "pilot": pilot}, index=pd.Index(range(100, 100 + n))
    )


def test_scores_equal_statsmodels_logit() -> None:
    df = _communes()
    res = propensity_scores(df, "pilot", ["staff", "urban"])
    direct = sm.Logit(df["pilot"], sm.add_constant(df[["staff", "urban"]])).fit(disp=0)
    np.testing.assert_allclose(res.scores.to_numpy(), direct.predict(), rtol=1e-8)
    np.testing.assert_allclose(res.model.params.to_numpy(), direct.params.to_numpy(), rtol=1e-8)
    assert res.scores.index.equals(df.index)
    assert res.n_pilot == df["pilot"].sum() and res.converged


def test_crump_alpha_brute_force() -> None:
    rng = np.random.default_rng(2)
    e = np.clip(rng.beta(0.6, 2.0, 400), 1e-3, 1 - 1e-3)
    alpha = crump_alpha(e)
    g = 1 / (e * (1 - e))
    # brute force: gamma solves gamma = 2 E[g | g <= gamma]; first grid point where
    # gamma - 2 E[g | g <= gamma] turns non-negative
    grid = np.linspace(g.min(), g.max(), 20_000)
    h = np.array([c - 2 * g[g <= c].mean() for c in grid])
    gamma = grid[np.argmax(h >= 0)]
    assert alpha == pytest.approx(0.5 - np.sqrt(0.25 - 1 / gamma), abs=1e-3)
    assert 0.0 < alpha < 0.5
    keep = overlap_trim(pd.Series(e), rule="crump")
    assert keep.attrs["lower"] == pytest.approx(alpha)
    assert keep.sum() == np.sum((e >= alpha) & (e <= 1 - alpha))


def test_crump_trims_nothing_with_good_overlap() -> None:
    e = np.array([0.3, 0.4, 0.5, 0.6, 0.7])
    assert crump_alpha(e) == 0.0
    assert overlap_trim(pd.Series(e)).all()


def test_fixed_trim_and_bad_rule() -> None:
    s = pd.Series([0.01, 0.04, 0.05, 0.5, 0.95, 0.99])
    keep = overlap_trim(s, rule="fixed", bounds=(0.05, 0.95))
    assert keep.tolist() == [False, False, True, True, True, False]
    assert keep.attrs["n_dropped"] == 3
    with pytest.raises(ValueError, match="rule"):
        overlap_trim(s, rule="median")  # type: ignore[arg-type]


def test_ipw_weights_hand_computed() -> None:
    e = pd.Series([0.2, 0.5, 0.8, 0.25], index=list("abcd"))
    d = pd.Series([1, 0, 1, 0], index=list("abcd"))
    w = ipw_weights(e, d, "ATT", normalise=False)
    assert w.tolist() == pytest.approx([1.0, 1.0, 1.0, 0.25 / 0.75])
    wn = ipw_weights(e, d, "ATT")
    assert wn[["b", "d"]].sum() == pytest.approx(2.0)  # comparison sums to the pilot count
    we = ipw_weights(e, d, "ATE", normalise=False)
    assert we.tolist() == pytest.approx([5.0, 2.0, 1.25, 1 / 0.75])


def test_att_weights_improve_balance() -> None:
    df = _communes(n=400)
    res = propensity_scores(df, "pilot", ["staff", "urban"])
    df["weights"] = ipw_weights(res.scores, res.group, "ATT")
    before = balance_table(df, "pilot", ["staff", "urban"])
    after = balance_table(df, "pilot", ["staff", "urban"], weights="weights")
    assert (after["smd"].abs() < before["smd"].abs()).all()
    assert after.attrs["weighted"] and not before.attrs["weighted"]


def test_matching_small_example() -> None:
    e = pd.Series([0.50, 0.30, 0.49, 0.31, 0.10, 0.90], index=list("abcdef"))
    d = pd.Series([1, 1, 0, 0, 0, 0], index=list("abcdef"))
    m = nearest_neighbour_match(e, d, caliper=None)
    assert m.loc["a", "matched_to"] == ("c",) and m.loc["b", "matched_to"] == ("d",)
    assert m["weights"].tolist() == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    m2 = nearest_neighbour_match(e, d, n_neighbours=2, caliper=None)
    assert m2.loc["c", "weights"] == pytest.approx(1.0)  # 1/2 from a and 1/2 from b
    assert m2.loc["a", "matched_to"] == ("c", "d")


def test_caliper_leaves_distant_pilots_unmatched() -> None:
    e = pd.Series([0.95, 0.30, 0.31, 0.29, 0.32], index=list("abcde"))
    d = pd.Series([1, 1, 0, 0, 0], index=list("abcde"))
    m = nearest_neighbour_match(e, d, caliper=0.2)
    assert m.loc["a", "weights"] == 0 and not m.loc["a", "matched"]
    assert m.attrs["n_unmatched_pilots"] == 1
    nr = nearest_neighbour_match(e, d, caliper=None, replace=False)
    assert nr.loc[["c", "d", "e"], "weights"].max() == 1.0  # each control used at most once


def test_bad_group_values() -> None:
    df = _communes()
    df["pilot"] = df["pilot"] * 2
    with pytest.raises(ValueError, match="pilot"):
        propensity_scores(df, "pilot", ["staff"])


def test_overlap_plot_returns_figure_with_bounds() -> None:
    from matplotlib.figure import Figure

    from evaluation.report.figures_robustness import overlap_plot
    from evaluation.report.style import close

    df = _communes()
    res = propensity_scores(df, "pilot", ["staff", "urban"])
    fig = overlap_plot(res.scores, res.group, "vi", keep=overlap_trim(res.scores, "fixed"))
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].lines) >= 3  # zero line + two trimming bounds
    close(fig)
