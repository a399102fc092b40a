"""The rollout analyses (evaluation.analysis.rollout): options, NotApplicable reasons, size check."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from _demo import small_demo
from test_generic_panel import write_panel

from evaluation.analysis import NotApplicable, applies, rollout
from evaluation.config import PROJECT_ROOT, load_params
from evaluation.estimators.staggered import aggregate, group_time_att, simple_att_draws
from evaluation.prepare import prepare_inputs

csdid_att_gt = pytest.importorskip("csdid.att_gt")


def panel_params(folder, frame: pd.DataFrame, staggered=None, inference=None):
    """Params of a generic panel (district_id x year, first_year, province clusters)."""
    path = folder / "panel.csv"
    frame.to_csv(path, index=False)
    tree = {
        "extends": str(PROJECT_ROOT / "params" / "default.yaml"),
        "run_name": "rollout",
        "language": "en",
        "data": {
            "source": "panel",
            "simulated": True,
            "panel": {
                "path": str(path),
                "unit": "district_id",
                "period": "year",
                "outcomes": ["score", "turnout"],
                "first_treated": "first_year",
                "cluster": "province",
            },
        },
        "analysis": {"event_leads": 2, "event_lags": 2, "staggered": staggered or {}},
        "inference": {"n_boot": 99, "size_sims": 60, **(inference or {})},
    }
    yaml_path = folder / "params.yaml"
    yaml_path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    params = load_params(yaml_path)
    return params, prepare_inputs(params)


@pytest.fixture(scope="module")
def district_panel(tmp_path_factory):
    return pd.read_csv(write_panel(tmp_path_factory.mktemp("panel")))


def test_callaway_santanna_options_equal_csdid(tmp_path, district_panel):
    staggered = {"control_group": "never_treated", "base_period": "varying", "method": "reg"}
    params, prepared = panel_params(tmp_path, district_panel, staggered)
    effects = rollout.rollout_effects(prepared, params)
    assert applies(effects)
    design = effects.design
    assert (design.control_group, design.base_period, design.method) == (
        "never_treated",
        "varying",
        "reg",
    )
    frame = rollout.staggered_panel(prepared, params).assign(
        g=lambda f: f["first_treated_wave"].fillna(0).astype(int),
        unit=lambda f: f["commune_code"].str[1:].astype(int),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = csdid_att_gt.ATTgt(
            yname="score",
            tname="wave_index",
            gname="g",
            idname="unit",
            data=frame,
            control_group="nevertreated",
            clustervar="cluster_id",
        ).fit(bstrap=False, est_method="reg", base_period="varying")
    np.testing.assert_allclose(effects.att_gt["estimate"], theirs.results["att"], atol=1e-6)
    np.testing.assert_allclose(effects.att_gt["std_error"], theirs.results["se"], atol=1e-6)
    assert effects.att_gt["group"].tolist() == [int(g) for g in theirs.results["group"]]
    assert effects.att_gt["time"].tolist() == [int(t) for t in theirs.results["year"]]


@pytest.mark.parametrize("control", ["never_treated", "not_yet_treated"])
@pytest.mark.parametrize("method", ["dr", "reg"])
def test_placebo_draws_equal_the_estimator_draw_by_draw(control, method):
    rng = np.random.default_rng(4)
    n, periods = 60, np.arange(1, 6)
    level, x = rng.normal(size=n), rng.normal(size=n)
    y = level[:, None] + 0.3 * periods[None, :] * x[:, None] + rng.normal(size=(n, len(periods)))
    w = np.repeat(1 + rng.random(n)[:, None], len(periods), axis=1)
    cluster = np.arange(n) % 15
    groups = np.zeros((4, n))
    for s in range(4):
        order = rng.permutation(n)
        groups[s, order[:8]], groups[s, order[8:20]] = 3, 4
    xs = np.stack([np.ones_like(y), np.repeat(x[:, None], len(periods), axis=1)], axis=2)
    estimate, std_error = simple_att_draws(y, w, xs, periods, groups, cluster, control, method)
    for s in range(4):
        frame = pd.DataFrame(
            {
                "unit": np.repeat(np.arange(n), len(periods)),
                "t": np.tile(periods, n),
                "y": y.ravel(),
                "w": w.ravel(),
                "x": np.repeat(x, len(periods)),
                "cl": np.repeat(cluster, len(periods)),
                "g": np.repeat(groups[s], len(periods)),
            }
        )
        direct = aggregate(
            group_time_att(frame, "y", "unit", "t", "g", ["x"], "w", control, method, cluster="cl"),
            "simple",
        )
        assert estimate[s] == pytest.approx(direct.estimate, abs=1e-8)
        assert std_error[s] == pytest.approx(direct.std_error, abs=1e-8)


def test_every_unit_adopting_with_never_treated_controls_is_not_applicable(
    tmp_path, district_panel
):
    adopters = district_panel[district_panel["first_year"] > 0]
    params, prepared = panel_params(tmp_path, adopters, {"control_group": "never_treated"})
    effects = rollout.rollout_effects(prepared, params)
    assert isinstance(effects, NotApplicable) and effects.reason == "never_treated"
    assert "never treated" in effects.message("en")
    # The decomposition needs timing variation only: three cohorts give it.
    assert applies(rollout.twfe_decomposition(prepared, params))
    # With not-yet-treated controls the last cohort serves as the comparison group.
    params, prepared = panel_params(tmp_path, adopters)
    effects = rollout.rollout_effects(prepared, params)
    assert applies(effects)
    assert effects.att_gt["group"].max() < 2018


def test_one_treated_unit_withholds_the_intervals(tmp_path, district_panel):
    one = district_panel[
        (district_panel["first_year"] == 0) | (district_panel["district_id"] == "D000")
    ]
    params, prepared = panel_params(tmp_path, one)
    effects = rollout.rollout_effects(prepared, params)
    size = effects.size
    assert size.n_placebo_treated == 1 and size.n_pool == 15 and size.n_valid == 60
    assert size.rejection_rate > params.inference.size_band[1] and not size.passed
    assert 0 < size.placebo_p_value <= 1
    rows = effects.effects_rows()
    assert not rows["size_checked"].any()
    cohorts = rollout.cohort_comparison(prepared, params, effects)
    assert isinstance(cohorts, NotApplicable) and cohorts.reason == "later_cohorts"
    bacon = rollout.twfe_decomposition(prepared, params)
    assert isinstance(bacon, NotApplicable) and bacon.reason == "later_cohorts"
    household = rollout.household_check(prepared, params, effects)
    assert isinstance(household, NotApplicable) and household.reason == "ballots"
    summary = rollout.RolloutPage(
        rollout.rollout_design(prepared, params), bacon, effects, cohorts, household
    ).summary()
    assert summary["size_checked"] is False and summary["cs_simple_conf_int"] is None


def test_size_check_is_reproducible_and_its_band_decides(tmp_path, district_panel):
    params, prepared = panel_params(tmp_path, district_panel)
    frame = rollout.staggered_panel(prepared, params)
    effects = rollout.rollout_effects(prepared, params)
    again = rollout.size_check(frame, effects.design, (), effects.simple, params)
    assert dataclasses.replace(again, placebo_p_value=0.0) == dataclasses.replace(
        effects.size, placebo_p_value=0.0
    )
    # The placebo window ends before the second cohort adopts: 15 placebo adopters in 2014
    # among the 45 units untreated up to 2015.
    assert (again.n_cohorts_used, again.window_end, again.n_pool) == (1, 2015, 45)
    wide = params.model_copy(
        update={"inference": params.inference.model_copy(update={"size_band": (0.0, 1.0)})}
    )
    passed = rollout.size_check(frame, effects.design, (), effects.simple, wide)
    assert passed.passed and passed.rejection_rate == again.rejection_rate
    shown = dataclasses.replace(effects, size=passed)
    rows = shown.effects_rows()
    cs = rows["estimator"].str.startswith("cs_")
    assert rows.loc[cs, "size_checked"].all() and not rows.loc[~cs, "size_checked"].any()
    assert set(rows.loc[~cs, "estimator"]) == {"sun_abraham", "imputation_bjs"}
    summary = rollout.RolloutPage(
        effects.design,
        NotApplicable("x", "y"),
        shown,
        NotApplicable("x", "y"),
        NotApplicable("x", "y"),
    ).summary()
    assert summary["cs_simple_conf_int"] == pytest.approx(list(effects.simple.conf_int))


def test_demo_size_check_mirrors_the_pilots():
    params, prepared = small_demo("en")
    effects = rollout.rollout_effects(prepared, params)
    size = effects.size
    assert size.n_sims == params.inference.size_sims
    assert size.n_placebo_treated == prepared.meta["n_pilot"]
    assert size.n_cohorts_used == 1 and np.isnan(size.placebo_p_value)
    assert 0 <= size.rejection_rate <= 1
