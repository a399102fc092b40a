"""analysis/scaling.py: numbers against direct library calls, and the reason each section gives
when the data lack what it needs (shapes from tests/shapes.py)."""

from __future__ import annotations

import dataclasses
import functools
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
import statsmodels.formula.api as smf
from _demo import small_demo
from scipy import stats
from shapes import prepared_shape

from evaluation.analysis import sample
from evaluation.analysis import scaling as sc
from evaluation.analysis.base import NotApplicable, applies, load_result, save_result
from evaluation.report import scaling_page as sp
from evaluation.scaling.power import did_standard_error, panel_variance_components


@functools.cache
def shape(name: str):
    params, prepared = prepared_shape(name)
    return params, prepared, sc.scaling_analysis(prepared, params)


def test_headline_equals_pyfixest():
    params, prepared = small_demo("en")
    headline = sc.headline_effects(prepared, params)
    frame = sample.window_panel(prepared).dropna(subset=["pct_satisfied"])
    fit = pf.feols(
        "pct_satisfied ~ treated | commune_code + wave_index",
        frame,
        vcov={"CRV1": "commune_code"},
        weights="n_ballots",
        fixef_tol=1e-13,
    )
    est = headline.estimates["pct_satisfied"]
    assert est.estimate == pytest.approx(float(fit.coef()["treated"]), rel=1e-8)
    assert est.std_error == pytest.approx(float(fit.se()["treated"]), rel=1e-6)
    assert headline.outcome == params.analysis.headline_outcome


def test_panel_variance_components_equal_reml_on_a_balanced_panel():
    rng = np.random.default_rng(11)
    units, periods = 40, 6
    u = rng.normal(0, 2.0, units)
    rows = [
        {"unit": f"u{i}", "period": t, "y": 0.3 * t + u[i] + rng.normal(0, 1.0)}
        for i in range(units)
        for t in range(periods)
    ]
    panel = pd.DataFrame(rows)
    c = panel_variance_components(panel, "y", unit="unit", time="period")
    demeaned = panel.assign(y=panel["y"] - panel.groupby("period")["y"].transform("mean"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("y ~ 1", demeaned, groups="unit").fit(reml=True)
    # balanced one-way ANOVA = REML when positive (up to the period means' degrees of freedom)
    assert c.between_commune_var == pytest.approx(float(fit.cov_re.iloc[0, 0]), rel=0.05)
    assert c.commune_wave_var == pytest.approx(float(fit.scale), rel=0.05)
    assert c.residual_var == 0 and c.ballots_per_commune_wave == 1
    # DiD variance with one value per cell: (1/Gt + 1/Gc) * within * (1/n_pre + 1/n_post)
    se = did_standard_error(c, 5, 7, 1.0, 1.0, 2, 3)
    assert se == pytest.approx(np.sqrt((1 / 5 + 1 / 7) * c.commune_wave_var * (1 / 2 + 1 / 3)))


def test_demo_result_round_trips_and_results_entry():
    params, prepared = small_demo("vi")
    result = sc.scaling_analysis(prepared, params)
    assert all(
        applies(getattr(result, f))
        for f in ("headline", "candidates", "conditions", "cost", "plan", "power", "wedge")
    )
    folder = Path(tempfile.mkdtemp(prefix="scaling-save-"))
    save_result(result, folder, "scaling")
    loaded = load_result(folder, "scaling")
    assert loaded["__type__"] == "ScalingResult"
    assert loaded["candidates"]["n_candidates"] == result.candidates.n_candidates
    assert loaded["candidates"]["size_checked"] is False
    pd.testing.assert_frame_equal(
        loaded["plan"]["table"].astype({"has_conditions": bool}),
        result.plan.table,
        check_dtype=False,
    )
    entry = sc.results_entry(result, params)
    assert entry["n_candidates"] == result.candidates.n_candidates
    assert entry["plan_total_cost_vnd"] == pytest.approx(result.plan.plan.total_cost)
    assert entry["new_communes_needed_80pct"] == result.power.n_needed
    assert entry["power_n_sims"] == params.inference.power_sims
    assert entry["power_sims_key"] == "inference.power_sims"
    assert all(entry[f"{k}_reason"] is None for k in ("candidates", "cost", "plan", "power"))


def test_power_mde_equals_the_t_formula():
    params, prepared = small_demo("en")
    result = sc.scaling_analysis(prepared, params)
    power = result.power
    row = power.curves.iloc[-1]
    se = did_standard_error(
        power.components,
        int(row["n_treated"]),
        int(row["n_control"]),
        float(row["ballots_per_commune"]),
        power.coverage,
        power.n_pre,
        power.n_post,
    )
    df = int(row["n_treated"] + row["n_control"] - 2)
    alpha = params.analysis.alpha
    expected = (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(0.8, df)) * se
    assert row["mde"] == pytest.approx(expected)
    assert (power.n_pre, power.n_post) == (
        int((pd.Series(sample.window_panel(prepared)["wave_index"].unique()) < 199).sum()),
        int((pd.Series(sample.window_panel(prepared)["wave_index"].unique()) >= 199).sum()),
    )


def test_no_admin_file():
    params, _, result = shape("hanam_no_admin")
    assert applies(result.candidates) and applies(result.power) and applies(result.wedge)
    assert result.conditions.reason == "admin"
    assert result.cost.reason == "scaling_households"
    assert result.plan.reason == "scaling_households"
    entry = sc.results_entry(result, params)
    assert entry["n_have_conditions"] is None and entry["conditions_reason"] == "admin"
    assert entry["plan_n_communes"] is None and entry["plan_reason"] == "scaling_households"
    assert "data.admin" in result.cost.message("en")
    # no roster: the share of households returning a ballot is unknown, not "100%"
    assert result.power.coverage_known is False
    assert "100%" not in sp.power_reading(result.power, params, "en")


def test_no_cost_file():
    params, _, result = shape("hanam_no_costs")
    assert applies(result.conditions)
    assert result.cost.reason == "scaling_costs" and result.plan.reason == "scaling_costs"
    # the wedge falls back on the units that have the conditions
    assert result.wedge.pool_label == "has_conditions"
    assert len(result.wedge.design) == result.conditions.n_have_conditions


def test_every_commune_adopts():
    params, prepared, result = shape("hanam_all_adopt")
    assert result.candidates.reason == "scaling_no_candidates"
    n = len(prepared.communes)
    assert result.candidates.facts["n"] == n
    for section in ("conditions", "cost", "plan", "wedge"):
        assert getattr(result, section).reason == "scaling_no_candidates"
    assert applies(result.power)
    assert result.power.n_candidates is None
    entry = sc.results_entry(result, params)
    assert entry["n_candidates"] == 0 and entry["candidates_reason"] == "scaling_no_candidates"
    assert str(n) in result.candidates.message("vi")
    assert "mọi xã đã triển khai" in sp.finding(result, params, "vi")


def test_one_pilot():
    params, prepared, result = shape("hanam_one_pilot")
    assert prepared.meta["n_pilot"] == 1
    c = result.candidates
    last = prepared.panel["wave_index"].max()
    first = prepared.communes["first_treated_wave"]
    assert c.n_candidates == int((first.isna() | (first > last)).sum())
    assert c.n_candidates != prepared.meta["n_pilot"]
    assert applies(result.power)


def test_generic_panel():
    params, prepared, result = shape("panel_yearly_staggered")
    assert result.cost.reason == "scaling_costs"
    assert result.conditions.reason == "scaling_conditions_unchecked"
    assert result.power.level == "panel" and result.power.coverage == 1.0
    assert set(result.power.curves["ballots_per_commune"]) == {1.0}
    first = prepared.communes["first_treated_wave"]
    last = prepared.panel["wave_index"].max()
    assert result.candidates.n_candidates == int((first.isna() | (first > last)).sum())
    # the panel's strata column (data.panel.strata) stratifies the start order
    assert result.wedge.strata == sample.strata_column(prepared, params) == "district_name"
    strata = result.candidates.table["district_name"].nunique()
    assert result.wedge.n_strata == strata > 1
    assert result.wedge.first_period == str(int(last) + 1)
    for language in ("vi", "en"):
        texts = [
            result.cost.message(language),
            result.conditions.message(language),
            sp.prediction_reading(
                result.candidates, result.candidates.outcomes[0], params, language
            ),
            sp.power_intro(result.power, params, language),
            sp.power_reading(result.power, params, language),
            sp.wedge_reading(result.wedge, params, language),
            sp.finding(result, params, language),
            sp.intro(params, prepared.meta["n_pilot"], language),
            " ".join(sp.candidates_display(result.candidates, "score", params, language).columns),
        ]
        for text in texts:
            assert "VND" not in text and "đồng" not in text and "Hà Nam" not in text, text
            assert "commune" not in text and " xã" not in text, text
    # conditions naming a panel column are checked on a panel too
    p = params.model_copy(
        update={"scaling": params.scaling.model_copy(update={"conditions": {"min_score": 55.0}})}
    )
    screen = sc.conditions_screen(prepared, p, result.candidates)
    assert screen.checked == ("min_score",) and screen.n_have_conditions is not None
    values = sc.current_values(prepared, ["score"])["score"]
    codes = result.candidates.table["commune_code"]
    assert screen.n_have_conditions == int((values.loc[codes] >= 55.0).sum())


def test_no_comparison_outcomes():
    # ballots only in the pilot communes: no comparison values of the ballot outcomes
    params, prepared = small_demo("en")
    pilots = prepared.panel["pilot"].astype(bool)
    panel = prepared.panel.copy()
    for column in ("satisfaction_index", "pct_satisfied", "n_ballots"):
        panel.loc[~pilots, column] = np.nan
    ballots = prepared.ballots[prepared.ballots["pilot"].astype(bool)]
    shaped = dataclasses.replace(prepared, panel=panel, ballots=ballots)
    result = sc.scaling_analysis(shaped, params)
    assert result.headline.reason == "scaling_headline"
    assert result.headline.facts["outcome"] == params.analysis.headline_outcome
    assert isinstance(result.candidates, NotApplicable)
    assert result.candidates.reason == "scaling_headline"
    assert result.power.reason == "scaling_headline"
    assert "non-pilot" in result.headline.message("en")
