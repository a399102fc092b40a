"""Balance table: hand computations (numpy/scipy) and a pyfixest cross-check for clustering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.estimators.balance import balance_table, joint_balance_test, weighted_mean_var


def _communes(seed: int = 3, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    district = rng.integers(0, 6, n)
    pilot = (rng.random(n) < 0.3).astype(int)
    return pd.DataFrame(
        {
            "commune": np.arange(n),
            "district": district,
            "pilot": pilot,
            "staff": rng.normal(10, 2, n) + 1.5 * pilot,
            "urban": (rng.random(n) < 0.3 + 0.3 * pilot).astype(float),
            "population": rng.lognormal(8, 0.5, n),
            "w": rng.uniform(0.2, 3.0, n),
        }
    )


def test_unweighted_statistics_equal_hand_computation() -> None:
    df = _communes()
    tab = balance_table(df, "pilot", ["staff", "urban"]).set_index("covariate")
    for cov in ("staff", "urban"):
        x1 = df.loc[df.pilot == 1, cov].to_numpy()
        x0 = df.loc[df.pilot == 0, cov].to_numpy()
        row = tab.loc[cov]
        assert row["mean_pilot"] == pytest.approx(x1.mean())
        assert row["mean_comparison"] == pytest.approx(x0.mean())
        assert row["sd_pilot"] == pytest.approx(x1.std(ddof=1))
        assert row["difference"] == pytest.approx(x1.mean() - x0.mean())
        # SMD: pooled unweighted SD (cobalt s.d.denom="pooled", iebaltab normalised difference)
        pooled = np.sqrt((x1.var(ddof=1) + x0.var(ddof=1)) / 2)
        assert row["smd"] == pytest.approx((x1.mean() - x0.mean()) / pooled)
        assert row["variance_ratio"] == pytest.approx(x1.var(ddof=1) / x0.var(ddof=1))
        # classical OLS on a dummy = pooled two-sample t-test
        assert row["p_value"] == pytest.approx(stats.ttest_ind(x1, x0, equal_var=True).pvalue)
        assert row["n_pilot"] == x1.size and row["n_comparison"] == x0.size


def test_smd_is_not_the_treated_sd_or_cohen_convention() -> None:
    # Groups with very different spread: pooled-average SD differs from treated-only SD and
    # from Cohen's d (df-weighted pooling); the table must use the average of the variances.
    df = pd.DataFrame({"pilot": [1, 1, 1, 0, 0, 0, 0, 0, 0], "x": [0, 4, 8, 1, 1, 2, 2, 3, 3.0]})
    smd = balance_table(df, "pilot", ["x"])["smd"].iloc[0]
    v1, v0 = np.var([0, 4, 8], ddof=1), np.var([1, 1, 2, 2, 3, 3], ddof=1)
    assert smd == pytest.approx((4 - 2) / np.sqrt((v1 + v0) / 2))
    assert smd != pytest.approx((4 - 2) / np.sqrt(v1))
    cohen = (4 - 2) / np.sqrt((2 * v1 + 5 * v0) / 7)
    assert smd != pytest.approx(cohen)


def test_weighted_statistics_use_reliability_weights_and_unweighted_denominator() -> None:
    df = _communes()
    tab = balance_table(df, "pilot", ["staff"], weights="w").iloc[0]
    x1, w1 = df.loc[df.pilot == 1, "staff"].to_numpy(), df.loc[df.pilot == 1, "w"].to_numpy()
    x0, w0 = df.loc[df.pilot == 0, "staff"].to_numpy(), df.loc[df.pilot == 0, "w"].to_numpy()
    m1, m0 = np.average(x1, weights=w1), np.average(x0, weights=w0)
    v1 = np.sum(w1 * (x1 - m1) ** 2) * w1.sum() / (w1.sum() ** 2 - np.sum(w1**2))
    assert tab["mean_pilot"] == pytest.approx(m1)
    assert tab["mean_comparison"] == pytest.approx(m0)
    assert tab["sd_pilot"] == pytest.approx(np.sqrt(v1))
    pooled_unweighted = np.sqrt((x1.var(ddof=1) + x0.var(ddof=1)) / 2)
    assert tab["smd"] == pytest.approx((m1 - m0) / pooled_unweighted)
    # equal weights reproduce the unweighted variance
    assert weighted_mean_var(x1, np.ones_like(x1))[1] == pytest.approx(x1.var(ddof=1))


def test_clustered_p_value_matches_pyfixest_crv1() -> None:
    pf = pytest.importorskip("pyfixest")
    df = _communes(seed=5, n=90)
    tab = balance_table(df, "pilot", ["staff"], cluster="district").iloc[0]
    fit = pf.feols("staff ~ pilot", data=df, vcov={"CRV1": "district"})
    assert tab["p_value"] == pytest.approx(float(fit.pvalue()["pilot"]), rel=1e-6)


def test_joint_test_equals_regression_f() -> None:
    df = _communes()
    res = joint_balance_test(df, "pilot", ["staff", "urban", "population"])
    y = df["pilot"].to_numpy(float)
    x = np.column_stack([np.ones(len(df)), df[["staff", "urban", "population"]].to_numpy()])
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    rss = np.sum((y - x @ beta) ** 2)
    tss = np.sum((y - y.mean()) ** 2)
    k, n = 3, len(df)
    f = ((tss - rss) / k) / (rss / (n - k - 1))
    assert res["joint_f"] == pytest.approx(f)
    assert res["joint_p_value"] == pytest.approx(stats.f.sf(f, k, n - k - 1))
    tab = balance_table(df, "pilot", ["staff", "urban", "population"])
    assert tab.attrs["joint_f"] == pytest.approx(f)


def test_clustered_joint_test_uses_g_minus_one_df() -> None:
    df = _communes(seed=8, n=120)
    res = joint_balance_test(df, "pilot", ["staff", "urban"], cluster="district")
    assert res["joint_df_num"] == 2
    assert res["joint_df_denom"] == df["district"].nunique() - 1


def test_missing_values_are_dropped_per_covariate() -> None:
    df = _communes()
    df.loc[:4, "staff"] = np.nan
    row = balance_table(df, "pilot", ["staff"]).iloc[0]
    assert row["n_pilot"] + row["n_comparison"] == len(df) - 5


def test_bad_input_raises_naming_the_column() -> None:
    df = _communes()
    with pytest.raises(ValueError, match="nope"):
        balance_table(df, "pilot", ["nope"])
    with pytest.raises(ValueError, match="district"):
        balance_table(df, "district", ["staff"])
    df["label"] = "a"
    with pytest.raises(ValueError, match="label"):
        balance_table(df, "pilot", ["label"])


def test_love_plot_and_specification_chart_return_figures() -> None:
    from matplotlib.figure import Figure

    from evaluation.report.figures_robustness import love_plot, specification_chart
    from evaluation.report.style import close

    df = _communes()
    before = balance_table(df, "pilot", ["staff", "urban"])
    after = balance_table(df, "pilot", ["staff", "urban"], weights="w")
    fig = love_plot(before, after, "vi", labels={"staff": "Số cán bộ"})
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][-1] in ("Số cán bộ", "urban")
    close(fig)
    spec = pd.DataFrame(
        {
            "specification": ["estimator=TWFE; sample=all", "estimator=DR-DiD; sample=trimmed"],
            "estimate": [0.2, 0.1],
            "conf_low": [0.0, -0.1],
            "conf_high": [0.4, 0.3],
            "group": ["TWFE", "DR"],
        }
    )
    fig = specification_chart(spec, "en")
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert set(labels) == {"estimator: TWFE", "estimator: DR-DiD", "sample: all", "sample: trimmed"}
    close(fig)
    with pytest.raises(ValueError, match="group"):
        specification_chart(spec.drop(columns="group"), "en")
