"""Page 02's analyses on data shapes that lack something: NotApplicable with the right reason,
and real results (checked against direct library calls) where the data allow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import yaml
from shapes import prepared_shape
from test_generic_panel import write_panel
from test_generic_panel import write_params as write_panel_params

from evaluation.analysis import applies, sample
from evaluation.analysis import comparison as acmp
from evaluation.config import load_params
from evaluation.estimators.balance import balance_table
from evaluation.estimators.doubly_robust import drdid, two_period_panel
from evaluation.estimators.twfe import twfe
from evaluation.prepare import prepare_inputs
from evaluation.report import comparison as cmp


@pytest.fixture(scope="module")
def shape():
    return prepared_shape


@pytest.fixture(scope="module")
def panel_with_covariates(tmp_path_factory):
    """The generic test panel with two unit covariates (``size`` differs with adoption)."""
    folder = tmp_path_factory.mktemp("panel_cov")
    path = write_panel(folder)
    frame = pd.read_csv(path)
    rng = np.random.default_rng(3)
    size = {u: rng.normal(10, 2) for u in frame["district_id"].unique()}
    frame["size"] = frame["district_id"].map(size) + (frame["first_year"] == 2014) * 1.0
    frame["rural"] = frame["district_id"].map(lambda u: int(u[-1]) % 2)
    frame.to_csv(path, index=False)
    params_path = write_panel_params(folder, path)
    tree = yaml.safe_load(params_path.read_text())
    tree["data"]["panel"]["covariates"] = ["size", "rural"]
    tree["data"]["panel"]["unit_label"] = {"en": "districts", "vi": "huyện"}
    params_path.write_text(yaml.safe_dump(tree))
    params = load_params(params_path)
    return params, prepare_inputs(params)


def _all(prepared, params):
    weights = acmp.comparison_weights(prepared, params)
    return {
        "balance": acmp.baseline_balance(prepared, params),
        "levels": acmp.baseline_levels(prepared, params),
        "households": acmp.household_balance(prepared, params),
        "weights": weights,
        "after": acmp.weighted_balance(prepared, params, weights),
        "effects": acmp.effect_comparison(
            prepared, params, weights, params.analysis.headline_outcome
        ),
    }


def test_a_panel_without_covariates_shows_baseline_outcome_means_only(shape):
    params, prepared = shape("panel_treatment_01")
    found = _all(prepared, params)
    for name in ("balance", "weights", "after", "effects"):
        assert not applies(found[name]) and found[name].reason == "covariates", name
    assert found["households"].reason == "ballots"
    levels = found["levels"]
    assert applies(levels)
    base = prepared.baseline.assign(pilot=prepared.baseline["pilot"].astype(int))
    outcome = f"baseline_{params.analysis.headline_outcome}"
    assert outcome in levels.characteristics
    row = levels.table.set_index("covariate").loc[outcome]
    assert row["mean_pilot"] == pytest.approx(base.loc[base["pilot"] == 1, outcome].mean())
    assert row["mean_comparison"] == pytest.approx(base.loc[base["pilot"] == 0, outcome].mean())
    # No Hà Nam word in what the page says.
    text = " ".join(
        [
            cmp.levels_reading(levels, params, "en"),
            found["balance"].message("en"),
            *cmp.balance_display(levels, params, "en").columns,
        ]
    )
    assert "commune" not in text.lower() and "pilot" not in text.lower()


def test_one_treated_unit_shows_means_and_says_spreads_are_undefined(shape):
    params, prepared = shape("panel_one_treated")
    found = _all(prepared, params)
    balance = found["balance"] if applies(found["balance"]) else found["levels"]
    assert applies(balance) and balance.n_treated == 1 and not balance.spread_defined
    assert balance.table[["smd", "variance_ratio", "p_value"]].isna().all().all()
    assert np.isnan(balance.joint_p_value)
    base = acmp.baseline_frame(prepared)
    for r in balance.table.itertuples(index=False):
        assert r.mean_pilot == pytest.approx(base.loc[base["pilot"] == 1, r.covariate].mean())
    for name in ("weights", "after", "effects"):
        assert found[name].reason == "treated_units" and found[name].facts["need"] == 2
    shown = cmp.balance_display(balance, params, "en").astype(str)
    assert not shown.apply(lambda c: c.str.contains("nan")).any().any()
    text = cmp.verdict(balance, params, "en") if applies(found["balance"]) else ""
    assert "nan" not in text


def test_one_pilot_commune(shape):
    params, prepared = shape("hanam_one_pilot")
    found = _all(prepared, params)
    assert applies(found["balance"]) and not found["balance"].spread_defined
    assert "cannot be computed" in cmp.verdict(found["balance"], params, "en")
    assert found["weights"].reason == "treated_units"
    households = found["households"]
    if applies(households):  # one pilot cluster: p-values undefined, means shown
        assert households.table["p_value"].isna().all()


def test_no_usable_covariates(shape):
    params, prepared = shape("hanam_no_covariates")
    found = _all(prepared, params)
    assert found["balance"].reason == "covariates"
    assert found["weights"].reason == "covariates"
    assert applies(found["levels"])


def test_every_commune_adopting_compares_only_with_communes_not_yet_started(shape):
    from evaluation.analysis.facts import data_facts

    params, prepared = shape("hanam_all_adopt")
    found = _all(prepared, params)
    facts = data_facts(prepared, params)
    assert applies(found["balance"]) == (facts.n_comparison >= 1)
    if applies(found["balance"]):
        assert found["balance"].n_comparison == facts.n_comparison
    else:
        assert found["balance"].reason == "comparison_units"


def test_panel_with_covariates_matches_direct_calls(panel_with_covariates):
    params, prepared = panel_with_covariates
    found = _all(prepared, params)
    assert all(applies(v) for k, v in found.items() if k != "households")
    balance = found["balance"]
    assert balance.characteristics[:2] == ("size", "rural")
    base = acmp.baseline_frame(prepared)
    direct = balance_table(base, "pilot", list(balance.characteristics), cluster="commune_code")
    pd.testing.assert_frame_equal(balance.table, direct)
    # Plain and weighted TWFE cluster on the panel's cluster column (province), as sample says.
    effects = found["effects"]
    frame = sample.window_panel(prepared)
    plain = twfe(frame, "score", "treated", "commune_code", "wave_index", cluster="cluster")
    assert effects.plain.estimate == pytest.approx(plain.estimate, abs=1e-10)
    assert effects.plain.std_error == pytest.approx(plain.std_error, abs=1e-10)
    assert effects.plain.n_clusters == 6
    # The doubly robust estimate adjusts for the panel's covariates.
    waves = sorted(frame["wave_index"].unique())
    start = prepared.meta["pilot_wave"]
    two = two_period_panel(
        frame,
        "score",
        "commune_code",
        "wave_index",
        "pilot",
        [w for w in waves if w < start],
        [w for w in waves if w >= start],
        covariates=["size", "rural"],
    )
    dr = drdid(two, "score", "commune_code", "post", "pilot", covariates=["size", "rural"])
    assert effects.robust.estimate == pytest.approx(dr.estimate, abs=1e-10)
    assert effects.covariates == ("size", "rural")
    assert effects.n_units[0] == frame["commune_code"].nunique()
    # Words: the panel's own nouns, no commune.
    texts = [
        cmp.verdict(balance, params, "en"),
        cmp.overlap_reading(found["weights"], params, "en"),
        cmp.effect_reading(effects, params, "en"),
        cmp.effect_intro(effects, params, "en"),
        " ".join(cmp.effects_display(effects, params, "en").columns),
    ]
    for text in texts:
        assert "commune" not in text.lower() and "{" not in text
    assert "districts" in texts[0]


def test_balance_p_values_need_two_clusters_in_each_group():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"pilot": [1] + [0] * 19, "x": rng.normal(size=20)})
    frame["unit"] = np.arange(20)
    table = balance_table(frame, "pilot", ["x"], cluster="unit")
    assert np.isnan(table["p_value"].iloc[0]) and np.isnan(table.attrs["joint_p_value"])
    assert np.isnan(table["smd"].iloc[0]) and table["difference"].notna().all()
    # Unclustered, one treated row is the classical two-sample t-test (still defined).
    plain = balance_table(frame, "pilot", ["x"])
    fit = sm.OLS(frame["x"], sm.add_constant(frame["pilot"].astype(float))).fit()
    assert plain["p_value"].iloc[0] == pytest.approx(fit.pvalues["pilot"], rel=1e-10)
    # Two treated clusters: defined again, and equal to statsmodels' clustered fit.
    frame.loc[1, "pilot"] = 1
    table = balance_table(frame, "pilot", ["x"], cluster="unit")
    fit = sm.OLS(frame["x"], sm.add_constant(frame["pilot"].astype(float))).fit(
        cov_type="cluster", cov_kwds={"groups": frame["unit"]}, use_t=True
    )
    assert table["p_value"].iloc[0] == pytest.approx(fit.pvalues["pilot"], rel=1e-10)
