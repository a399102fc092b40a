"""Size check of the Sun-Abraham interval on page 07 (rollout.sun_abraham_size_check)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo
from scipy import stats

from evaluation.analysis import applies, rollout
from evaluation.config import PROJECT_ROOT, load_params
from evaluation.estimators.sun_abraham import sun_abraham
from evaluation.report import rollout_waves as rw


def with_inference(params, **changes):
    return params.model_copy(update={"inference": params.inference.model_copy(update=changes)})


@pytest.fixture(scope="module")
def demo():
    params, prepared = small_demo("en")
    params = with_inference(params, size_sims=12)
    frame = rollout.staggered_panel(prepared, params)
    design = rollout.rollout_design(prepared, params)
    return params, prepared, frame, design


def test_same_placebo_draws_as_the_callaway_santanna_check(demo):
    params, _, frame, design = demo
    columns = [design.outcome, *([design.weights] if design.weights else [])]
    placebo = rollout._placebo_draws(frame, design, columns, params)
    sa = rollout.sun_abraham_size_check(frame, design, params)
    assert sa.method == rollout.SA_SIZE_METHOD and set(sa.rates) == {rollout.SA_SIZE_METHOD}
    assert (sa.n_pool, sa.n_placebo_treated, sa.window_end, sa.n_sims) == (
        len(placebo.units),
        sum(placebo.sizes),
        placebo.end,
        12,
    )
    # Each placebo frame: the pool's real outcomes, untreated in reality, the cohort sizes and
    # dates of the real cohorts.
    first = frame.groupby(rollout.UNIT)[rollout.FIRST_TREATED].first()
    assert (first.reindex(placebo.units).fillna(np.inf) > placebo.end).all()
    real = frame.set_index([rollout.UNIT, rollout.TIME])[design.outcome]
    for draw in range(3):
        rows = placebo.frame(draw)
        merged = real.reindex(pd.MultiIndex.from_frame(rows[[rollout.UNIT, rollout.TIME]]))
        np.testing.assert_array_equal(merged.to_numpy(), rows[design.outcome].to_numpy())
        adopted = rows.groupby(rollout.UNIT)[rollout.FIRST_TREATED].first().value_counts()
        expected = dict(zip(design.cohorts[: placebo.k], placebo.sizes, strict=True))
        assert {int(g): int(n) for g, n in adopted.items()} == expected
    assert not np.array_equal(placebo.groups[0], placebo.groups[1])


def test_rate_is_the_share_of_sun_abraham_intervals_excluding_zero(demo):
    params, _, frame, design = demo
    placebo = rollout._placebo_draws(frame, design, [design.outcome, design.weights], params)
    excluded = []
    for draw in range(len(placebo.groups)):
        estimate = sun_abraham(
            placebo.frame(draw), design.outcome, rollout.UNIT, rollout.TIME,
            rollout.FIRST_TREATED, cluster=rollout.CLUSTER, weights=design.weights,
            leads=params.analysis.event_leads, lags=params.analysis.event_lags,
        )  # fmt: skip
        crit = stats.t.ppf(0.975, estimate.n_clusters - 1)
        excluded.append(abs(estimate.estimate / estimate.std_error) > crit)
    sa = rollout.sun_abraham_size_check(frame, design, params)
    assert sa.n_valid == len(excluded)
    assert sa.rejection_rate == pytest.approx(np.mean(excluded), abs=1e-12)


@pytest.mark.parametrize(("band", "shown"), [((0.0, 1.0), True), ((0.99, 1.0), False)])
def test_sun_abraham_rows_and_page_follow_the_verdict(demo, band, shown):
    params, prepared, _, _ = demo
    params = with_inference(params, size_band=list(band))
    effects = rollout.rollout_effects(prepared, params)
    assert applies(effects) and effects.sa_size is not None
    assert effects.sa_size.passed is shown and effects.sa_intervals_shown is shown
    rows = effects.effects_rows()
    assert rows.loc[rows["estimator"] == "sun_abraham", "size_checked"].eq(shown).all()
    assert not rows.loc[rows["estimator"] == "imputation_bjs", "size_checked"].any()
    reading = rw.size_reading(effects, params, "en")
    assert "Sun–Abraham cluster-robust standard errors with t(G-1)" in reading
    rate = f"{100 * effects.sa_size.rejection_rate:.1f}%"
    assert rate in reading
    table = rw.aggregations_table(effects, None, params, "en")
    sa_row = table.loc[table.iloc[:, 0].str.contains("Sun", case=False)].iloc[0]
    assert (sa_row.iloc[2] != "–") is shown
    summary = rollout.RolloutPage(effects.design, effects, effects, effects, effects).summary()
    assert summary["sa_size_checked"] is shown


def test_vietnamese_page_names_the_method(demo):
    params, prepared, _, _ = demo
    params = with_inference(params, size_band=[0.0, 1.0])
    effects = rollout.rollout_effects(prepared, params)
    reading = rw.size_reading(effects, params.model_copy(update={"language": "vi"}), "vi")
    assert "Sai số chuẩn vững theo cụm của Sun–Abraham" in reading
    assert "Bootstrap hoang dã" not in reading  # the analytic CS interval passed first


@pytest.mark.slow
def test_size_is_nominal_where_the_clustered_t_is_valid():
    """Many clusters, one unit each, i.i.d. errors, no weights: the measured rate of 1,000
    placebo draws lies in a 3.5-sd binomial band around alpha."""
    rng = np.random.default_rng(2026)
    n_units, periods = 120, np.arange(1, 8)
    first = np.full(n_units, np.nan)
    first[:30], first[30:60] = 4, 6
    frame = pd.DataFrame(
        {
            rollout.UNIT: np.repeat([f"u{i:03d}" for i in range(n_units)], len(periods)),
            rollout.TIME: np.tile(periods, n_units),
            rollout.FIRST_TREATED: np.repeat(first, len(periods)),
            rollout.CLUSTER: np.repeat([f"c{i:03d}" for i in range(n_units)], len(periods)),
            "y": np.repeat(rng.normal(size=n_units), len(periods))
            + rng.normal(size=n_units * len(periods)),
        }
    )
    params = load_params(
        PROJECT_ROOT / "params" / "default.yaml",
        {"inference": {"size_sims": 1000}, "analysis": {"event_leads": 2, "event_lags": 2}},
    )
    design = rollout.RolloutDesign(
        outcome="y", weights=None, weight_label_key="sample.weights.none", cohorts=(4, 6),
        units_by_cohort=(30, 30), n_never=60, n_excluded=0, covariates=(), source="panel",
        first_period=1, last_period=7, control_group="not_yet_treated",
        base_period="universal", method="reg",
    )  # fmt: skip
    sa = rollout.sun_abraham_size_check(frame, design, params)
    assert sa.n_valid >= 990
    alpha = params.analysis.alpha
    half_width = 3.5 * np.sqrt(alpha * (1 - alpha) / sa.n_valid)
    assert alpha - half_width <= sa.rejection_rate <= alpha + half_width
