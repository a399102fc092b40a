"""Goodman-Bacon decomposition: weights sum to one and reproduce the TWFE coefficient."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.estimators.bacon import COMPARISON_TYPES, bacon_decomposition

pf = pytest.importorskip("pyfixest")


def commune_panel(n_units: int = 150, periods: int = 8, seed: int = 0) -> pd.DataFrame:
    """Commune x wave satisfaction means; cohorts adopt at waves 3, 5, 7; effects grow."""
    rng = np.random.default_rng(seed)
    cohort = rng.choice([0, 3, 5, 7], size=n_units, p=[0.3, 0.2, 0.3, 0.2])
    unit = np.repeat(np.arange(n_units), periods)
    wave = np.tile(np.arange(1, periods + 1), n_units)
    g = cohort[unit]
    effect = np.where((g > 0) & (wave >= g), 0.5 + 0.2 * (wave - g), 0.0)
    y = rng.normal(size=n_units)[unit] + 0.1 * wave + effect + rng.normal(size=len(unit))
    return pd.DataFrame({"commune": unit, "wave": wave, "first_wave": g, "satisfaction": y})


def twfe(frame: pd.DataFrame) -> float:
    frame = frame.assign(
        adopted=((frame["first_wave"] > 0) & (frame["wave"] >= frame["first_wave"])).astype(float)
    )
    fit = pf.feols("satisfaction ~ adopted | commune + wave", data=frame)
    return float(fit.coef()["adopted"])


@pytest.mark.parametrize("variant", ["with_never", "no_never", "always_treated"])
def test_weights_sum_to_one_and_reproduce_twfe(variant):
    frame = commune_panel()
    if variant == "no_never":
        frame = frame.loc[frame["first_wave"] > 0]
    if variant == "always_treated":
        frame.loc[frame["commune"] < 15, "first_wave"] = 1
    result = bacon_decomposition(frame, "satisfaction", "commune", "wave", "first_wave")
    assert result.comparisons["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (result.comparisons["weight"] > 0).all()
    expected = twfe(frame)
    assert result.twfe_estimate == pytest.approx(expected, abs=1e-10)
    assert result.weighted_sum == pytest.approx(expected, abs=1e-10)
    assert set(result.comparisons["type"]) <= set(COMPARISON_TYPES)
    assert result.by_type["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    if variant == "always_treated":
        assert "later_vs_always_treated" in result.by_type.index
    if variant == "no_never":
        assert "treated_vs_never" not in result.by_type.index


def test_two_by_two_estimates_are_plain_differences_in_means():
    frame = commune_panel(seed=3)
    result = bacon_decomposition(frame, "satisfaction", "commune", "wave", "first_wave")
    means = frame.groupby(["first_wave", "wave"])["satisfaction"].mean().unstack()
    row = result.comparisons.query("treated_cohort == 3 and control_cohort == 0").iloc[0]
    gap = means.loc[3] - means.loc[0]
    assert row["estimate"] == pytest.approx(gap[gap.index >= 3].mean() - gap[gap.index < 3].mean())
    later = result.comparisons.query("treated_cohort == 7 and control_cohort == 3").iloc[0]
    assert later["type"] == "later_vs_earlier"
    gap = (means.loc[7] - means.loc[3]).loc[3:]
    assert later["estimate"] == pytest.approx(gap.loc[7:].mean() - gap.loc[:6].mean())
    # Growing effects make the 'later vs earlier' comparisons understate the effect.
    by_type = result.by_type["estimate"]
    assert by_type["later_vs_earlier"] < by_type["treated_vs_never"]


def test_nan_first_treated_means_never_and_unbalanced_panel_is_refused():
    frame = commune_panel(seed=4)
    coded = frame.assign(first_wave=frame["first_wave"].replace(0, np.nan))
    a = bacon_decomposition(frame, "satisfaction", "commune", "wave", "first_wave")
    b = bacon_decomposition(coded, "satisfaction", "commune", "wave", "first_wave")
    pd.testing.assert_frame_equal(a.comparisons, b.comparisons)
    with pytest.raises(ValueError, match="unbalanced"):
        bacon_decomposition(frame.iloc[1:], "satisfaction", "commune", "wave", "first_wave")
    with pytest.raises(ValueError, match="outcome='index'"):
        bacon_decomposition(frame, "index", "commune", "wave", "first_wave")


@pytest.mark.parametrize("language", ["vi", "en"])
def test_bacon_figure_has_one_series_per_type(language):
    from evaluation.i18n import t
    from evaluation.report.figures_rollout import bacon_figure
    from evaluation.report.style import close

    result = bacon_decomposition(commune_panel(), "satisfaction", "commune", "wave", "first_wave")
    fig = bacon_figure(result, language)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    for kind in result.by_type.index:
        assert t(f"rollout.bacon.types.{kind}", language) in labels
    points = sum(len(c.get_offsets()) for c in ax.collections)
    assert points == len(result.comparisons)
    close(fig)
    with pytest.raises(ValueError, match="BaconDecomposition"):
        bacon_figure(result.comparisons, language)
