"""Callaway-Sant'Anna group-time ATTs and aggregations, cross-checked against csdid 0.4.3."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evaluation.estimators.staggered import aggregate, group_time_att

csdid_att_gt = pytest.importorskip("csdid.att_gt")

TOL = 1e-6
KINDS = ("simple", "group", "dynamic", "calendar")


def simulate_panel(
    n_units: int = 240,
    periods: int = 6,
    seed: int = 1,
    unbalanced: bool = False,
    never_treated: bool = True,
) -> pd.DataFrame:
    """Communes observed each wave; cohorts adopt at waves 3-5; effects grow with exposure."""
    rng = np.random.default_rng(seed)
    shares = [0.4, 0.2, 0.2, 0.2] if never_treated else [0.0, 0.3, 0.3, 0.4]
    cohort = rng.choice([0, 3, 4, 5], size=n_units, p=shares)
    x = rng.normal(size=n_units)
    district = rng.integers(0, 30, size=n_units)
    weight = 1 + rng.random(n_units)
    level = rng.normal(size=n_units) + 0.5 * x
    unit = np.repeat(np.arange(1, n_units + 1), periods)
    wave = np.tile(np.arange(1, periods + 1), n_units)
    g = cohort[unit - 1]
    effect = np.where((g > 0) & (wave >= g), 1 + 0.3 * (wave - g), 0.0)
    y = (
        level[unit - 1]
        + 0.2 * wave
        + 0.3 * x[unit - 1] * wave / periods
        + effect
        + rng.normal(size=len(unit))
    )
    frame = pd.DataFrame(
        {
            "commune": unit,
            "wave": wave,
            "first_wave": g,
            "y": y,
            "x": x[unit - 1],
            "district": district[unit - 1],
            "wt": weight[unit - 1],
        }
    )
    if unbalanced:
        frame = frame.loc[rng.random(len(frame)) >= 0.1].reset_index(drop=True)
    return frame


def run_csdid(frame: pd.DataFrame, **kwargs: object):
    fit_args = {key: kwargs.pop(key) for key in ("est_method", "base_period") if key in kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return csdid_att_gt.ATTgt(
            yname="y", tname="wave", gname="first_wave", data=frame, **kwargs
        ).fit(bstrap=False, **fit_args)


def csdid_aggregate(fit, kind: str, **kwargs: object) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.aggte(typec=kind, bstrap=False, **kwargs)
    return fit.atte


def assert_same_as_csdid(ours, theirs, kinds=KINDS, **agg_kwargs: object) -> None:
    table = ours.att_gt
    np.testing.assert_allclose(table["estimate"], theirs.results["att"], atol=TOL, rtol=0)
    np.testing.assert_allclose(table["std_error"], theirs.results["se"], atol=TOL, rtol=0)
    assert table["group"].tolist() == [int(g) for g in theirs.results["group"]]
    assert table["time"].tolist() == [int(t) for t in theirs.results["year"]]
    assert ours.diagnostics["pretrend_wald"] == pytest.approx(theirs.MP["W"], abs=TOL)
    assert ours.diagnostics["pretrend_p_value"] == pytest.approx(theirs.MP["Wpval"], abs=1e-5)
    for kind in kinds:
        peer = csdid_aggregate(theirs, kind, **agg_kwargs)
        mine = aggregate(ours, kind, **agg_kwargs)
        assert mine.estimator == f"cs_{kind}"
        assert mine.terms.index[0] == "ATT"
        assert mine.estimate == pytest.approx(peer["overall_att"], abs=TOL)
        assert mine.std_error == pytest.approx(float(peer["overall_se"]), abs=TOL)
        if kind != "simple":
            np.testing.assert_allclose(
                mine.terms["estimate"].to_numpy()[1:], peer["att_egt"], atol=TOL, rtol=0
            )
            np.testing.assert_allclose(
                mine.terms["std_error"].to_numpy()[1:],
                np.ravel(peer["se_egt"]),
                atol=TOL,
                rtol=0,
            )


@pytest.mark.parametrize("unbalanced", [False, True], ids=["balanced", "unbalanced"])
@pytest.mark.parametrize("covariates", [(), ("x",)], ids=["no_x", "x"])
@pytest.mark.parametrize("control", ["never_treated", "not_yet_treated"])
@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_panel_matches_csdid(unbalanced, covariates, control, method):
    frame = simulate_panel(unbalanced=unbalanced)
    ours = group_time_att(
        frame,
        "y",
        "commune",
        "wave",
        "first_wave",
        covariates=covariates,
        control_group=control,
        method=method,
        allow_unbalanced_panel=unbalanced,
    )
    theirs = run_csdid(
        frame,
        idname="commune",
        xformla="y ~ x" if covariates else None,
        control_group=control.replace("_", ""),
        allow_unbalanced_panel=unbalanced,
        est_method=method,
    )
    assert_same_as_csdid(ours, theirs)
    if unbalanced:
        assert any("Unbalanced panel" in note for note in ours.notes)


@pytest.mark.parametrize("unbalanced", [False, True], ids=["balanced", "unbalanced"])
def test_weights_clusters_universal_base_match_csdid(unbalanced):
    frame = simulate_panel(seed=7, unbalanced=unbalanced)
    ours = group_time_att(
        frame,
        "y",
        "commune",
        "wave",
        "first_wave",
        covariates=["x"],
        weights="wt",
        cluster="district",
        base_period="universal",
        control_group="not_yet_treated",
        allow_unbalanced_panel=unbalanced,
    )
    theirs = run_csdid(
        frame,
        idname="commune",
        xformla="y ~ x",
        weights_name="wt",
        clustervar="district",
        control_group="notyettreated",
        allow_unbalanced_panel=unbalanced,
        base_period="universal",
        est_method="dr",
    )
    assert_same_as_csdid(ours, theirs)
    assert ours.n_clusters == frame["district"].nunique()
    # The universal base cell is zero by construction and has no standard error.
    base = ours.att_gt.query("time == group - 1")
    assert (base["estimate"] == 0).all() and base["std_error"].isna().all()


def test_weights_change_the_estimate():
    """Guards against weights being silently ignored (a known csdid bug before 2026)."""
    frame = simulate_panel(seed=3)
    frame["wt"] = np.where(frame["x"] > 0, 5.0, 1.0)
    weighted = aggregate(group_time_att(frame, "y", "commune", "wave", "first_wave", weights="wt"))
    plain = aggregate(group_time_att(frame, "y", "commune", "wave", "first_wave"))
    assert abs(weighted.estimate - plain.estimate) > 1e-3


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_repeated_cross_sections_match_csdid(method):
    panel = simulate_panel(seed=11)
    ballots = panel.sample(frac=0.5, random_state=2).reset_index(drop=True)
    ballots["household"] = np.arange(1, len(ballots) + 1)
    ours = group_time_att(
        ballots,
        "y",
        None,
        "wave",
        "first_wave",
        covariates=["x"],
        weights="wt",
        panel=False,
        cluster="district",
        method=method,
    )
    theirs = run_csdid(
        ballots,
        idname="household",
        panel=False,
        xformla="y ~ x",
        weights_name="wt",
        clustervar="district",
        est_method=method,
    )
    assert_same_as_csdid(ours, theirs)
    assert ours.n_units == len(ballots)


def test_anticipation_and_event_window_match_csdid():
    frame = simulate_panel(seed=5)
    ours = group_time_att(frame, "y", "commune", "wave", "first_wave", anticipation=1)
    theirs = run_csdid(frame, idname="commune", anticipation=1)
    assert_same_as_csdid(ours, theirs, kinds=("simple", "group", "dynamic"), min_e=-2, max_e=1)
    dynamic = aggregate(ours, "dynamic", min_e=-2, max_e=1)
    assert dynamic.terms.index.tolist() == ["ATT", "e-2", "e-1", "e+0", "e+1"]


def test_no_never_treated_with_not_yet_treated_matches_csdid():
    frame = simulate_panel(seed=9, never_treated=False)
    ours = group_time_att(
        frame, "y", "commune", "wave", "first_wave", control_group="not_yet_treated"
    )
    theirs = run_csdid(frame, idname="commune", control_group="notyettreated")
    assert_same_as_csdid(ours, theirs, kinds=("simple", "dynamic"))
    assert set(ours.att_gt["group"]) == {3, 4}
    with pytest.raises(ValueError, match="not_yet_treated"):
        group_time_att(frame, "y", "commune", "wave", "first_wave")


def test_never_treated_coded_nan_or_zero_agree():
    frame = simulate_panel(seed=2)
    coded_nan = frame.assign(first_wave=frame["first_wave"].replace(0, np.nan))
    zero = group_time_att(frame, "y", "commune", "wave", "first_wave")
    nan = group_time_att(coded_nan, "y", "commune", "wave", "first_wave")
    pd.testing.assert_frame_equal(zero.att_gt, nan.att_gt)


def test_tidy_output_and_sample_sizes():
    frame = simulate_panel(seed=4)
    result = group_time_att(frame, "y", "commune", "wave", "first_wave", cluster="district")
    assert list(result.att_gt.columns) == [
        "group",
        "time",
        "event_time",
        "post",
        "estimate",
        "std_error",
        "conf_low",
        "conf_high",
        "p_value",
    ]
    assert (result.att_gt["event_time"] == result.att_gt["time"] - result.att_gt["group"]).all()
    assert result.influence.shape == (frame["commune"].nunique(), len(result.att_gt))
    treated = frame.loc[frame["first_wave"] > 0, "district"].nunique()
    estimate = aggregate(result, "group")
    assert estimate.n_treated_clusters == treated
    assert estimate.n_obs == len(frame)
    assert estimate.terms.index.tolist() == ["ATT", "g=3", "g=4", "g=5"]
    assert set(aggregate(result, "calendar").terms.index[1:]) == {"t=3", "t=4", "t=5", "t=6"}
    tidy = estimate.tidy()
    assert tidy["estimator"].eq("cs_group").all()
    # Effects in the simulation are 1 + 0.3 * exposure: every cohort effect is clearly positive.
    assert (estimate.terms["conf_low"] > 0).all()


def test_bootstrap_bands_reproducible_and_close_to_analytic():
    frame = simulate_panel(seed=6, n_units=400)
    result = group_time_att(frame, "y", "commune", "wave", "first_wave")
    first = aggregate(result, "dynamic", bootstrap=True, n_boot=1999, seed=12)
    again = aggregate(result, "dynamic", bootstrap=True, n_boot=1999, seed=12)
    other = aggregate(result, "dynamic", bootstrap=True, n_boot=1999, seed=13)
    rademacher = aggregate(
        result, "dynamic", bootstrap=True, n_boot=1999, seed=12, multiplier="rademacher"
    )
    analytic = aggregate(result, "dynamic")
    pd.testing.assert_frame_equal(first.terms, again.terms)
    assert not first.terms["std_error"].equals(other.terms["std_error"])
    assert not first.terms["std_error"].equals(rademacher.terms["std_error"])
    ratio = first.terms["std_error"] / analytic.terms["std_error"]
    assert ratio.between(0.85, 1.15).all()
    assert first.terms["inference"].iloc[1:].str.contains("uniform band").all()
    assert "pointwise" in first.terms["inference"].iloc[0]
    # A simultaneous band over 8 event times is wider than the pointwise 1.96.
    crit = first.diagnostics["uniform_critical_value"]
    assert 1.96 < crit < 4
    width = first.terms["conf_high"] - first.terms["conf_low"]
    np.testing.assert_allclose(width.iloc[1:], 2 * crit * first.terms["std_error"].iloc[1:])


def test_pretrend_wald_small_under_parallel_trends_in_diagnostics():
    frame = simulate_panel(seed=8)
    estimate = aggregate(group_time_att(frame, "y", "commune", "wave", "first_wave"), "dynamic")
    assert estimate.diagnostics["pretrend_df"] == 6
    assert 0 <= estimate.diagnostics["pretrend_p_value"] <= 1


def test_bad_input_raises_clear_errors():
    frame = simulate_panel(seed=1)
    with pytest.raises(ValueError, match="outcome='satisfaction'"):
        group_time_att(frame, "satisfaction", "commune", "wave", "first_wave")
    with pytest.raises(ValueError, match="control_group"):
        group_time_att(frame, "y", "commune", "wave", "first_wave", control_group="later")
    with pytest.raises(ValueError, match="integer periods"):
        group_time_att(frame.assign(wave=frame["wave"] + 0.5), "y", "commune", "wave", "first_wave")
    varying = frame.copy()
    varying.loc[0, "first_wave"] = 2
    with pytest.raises(ValueError, match="varies within 'commune'"):
        group_time_att(varying, "y", "commune", "wave", "first_wave")
    with pytest.raises(ValueError, match="duplicate"):
        group_time_att(pd.concat([frame, frame.head(1)]), "y", "commune", "wave", "first_wave")
    result = group_time_att(frame, "y", "commune", "wave", "first_wave")
    with pytest.raises(ValueError, match="kind"):
        aggregate(result, "cohort")


def test_rollout_messages_have_the_same_keys_in_both_languages():
    from evaluation.i18n import messages

    vi = {k for k in messages("vi") if k.startswith("rollout.")}
    en = {k for k in messages("en") if k.startswith("rollout.")}
    assert vi == en and len(vi) > 10


@pytest.mark.parametrize("language", ["vi", "en"])
def test_group_time_and_dynamic_figures(language):
    from evaluation.i18n import t
    from evaluation.report.figures_rollout import dynamic_effects_figure, group_time_figure
    from evaluation.report.style import close
    from evaluation.report.wording import generic_noun_values

    frame = simulate_panel(seed=4)
    result = group_time_att(frame, "y", "commune", "wave", "first_wave")
    fig = group_time_figure(result, language)
    assert len(fig.axes) == result.att_gt["group"].nunique()
    nouns = generic_noun_values(language)  # no params: generic units and periods
    assert fig.axes[0].get_title() == t("rollout.group_time.cohort", language, group=3, **nouns)
    close(fig)
    dynamic = aggregate(result, "dynamic", bootstrap=True, n_boot=199)
    fig = dynamic_effects_figure(dynamic, language)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert t("rollout.dynamic.band", language, level=95) in labels
    close(fig)
    with pytest.raises(ValueError, match="event-time terms"):
        dynamic_effects_figure(aggregate(result, "group"), language)


@pytest.mark.slow
def test_uniform_band_covers_all_event_times_about_95_percent():
    """Monte Carlo: with known effects, the band covers every ATT(e) jointly in ~95% of panels."""
    truth = {-3: 0.0, -2: 0.0, -1: 0.0, 0: 1.0, 1: 1.3, 2: 1.6, 3: 1.9}
    covered, pointwise = [], []
    for rep in range(300):
        frame = simulate_panel(n_units=200, seed=1000 + rep)
        frame["y"] -= 0.3 * frame["x"] * frame["wave"] / 6  # remove the covariate trend
        result = group_time_att(frame, "y", "commune", "wave", "first_wave", method="reg")
        band = aggregate(result, "dynamic", bootstrap=True, n_boot=499, seed=rep)
        terms = band.terms.drop(index="ATT")
        true = np.array([truth[int(name[1:])] for name in terms.index])
        inside = (terms["conf_low"] <= true) & (true <= terms["conf_high"])
        covered.append(inside.all())
        point = aggregate(result, "dynamic").terms.drop(index="ATT")
        pointwise.append(((point["conf_low"] <= true) & (true <= point["conf_high"])).all())
    assert 0.91 <= np.mean(covered) <= 0.99
    assert np.mean(pointwise) < np.mean(covered)
