"""Effect heterogeneity by commune moderator, cross-checked against pyfixest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest

from evaluation.estimators.heterogeneity import (
    commune_effects,
    dose_response,
    effect_by_moderator,
    predicted_effect,
)

TRUE_SLOPE = 0.3


def make_panel(seed: int = 1, n_communes: int = 109, n_waves: int = 16) -> pd.DataFrame:
    """A commune-wave panel: 14 pilot communes from wave 8, effect rising with staff."""
    rng = np.random.default_rng(seed)
    staff = rng.gamma(4, 0.25, n_communes)
    ctype = rng.choice(["xa", "phuong", "thi_tran"], n_communes, p=[0.7, 0.2, 0.1])
    pilot = np.zeros(n_communes, bool)
    pilot[rng.choice(n_communes, 14, replace=False)] = True
    # guarantee one pilot thi_tran and at least four pilot xa so the category notes are exercised
    ctype[np.flatnonzero(pilot)[:5]] = "xa"
    ctype[np.flatnonzero(pilot)[5]] = "thi_tran"
    commune = np.repeat(np.arange(n_communes), n_waves)
    wave = np.tile(np.arange(n_waves), n_communes)
    d = (pilot[commune] & (wave >= 8)).astype(int)
    y = (
        3
        + rng.normal(0, 0.3, n_communes)[commune]
        + 0.02 * wave
        + d * (0.2 + TRUE_SLOPE * (staff[commune] - 1))
        + rng.normal(0, 0.2, commune.size)
    )
    return pd.DataFrame(
        {
            "commune_code": commune,
            "wave": wave,
            "pilot_active": d,
            "satisfaction": y,
            "staff_per_1000": staff[commune],
            "commune_type": ctype[commune],
            "ballots": rng.integers(40, 160, commune.size),
        }
    )


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel()


@pytest.mark.parametrize("weights", [None, "ballots"])
def test_continuous_interaction_equals_pyfixest(panel: pd.DataFrame, weights: str | None) -> None:
    est = effect_by_moderator(
        panel,
        "satisfaction",
        "pilot_active",
        "commune_code",
        "wave",
        "staff_per_1000",
        "commune_code",
        weights=weights,
    )
    data = panel.copy()
    data["d_m"] = data["pilot_active"] * (data["staff_per_1000"] - est.model.centre)
    ref = pf.feols(
        "satisfaction ~ pilot_active + d_m | commune_code + wave",
        data,
        vcov={"CRV1": "commune_code"},
        weights=weights,
        ssc=pf.ssc(k_fixef="full"),
    )
    ref_coef = ref.coef().to_numpy()
    ref_se = ref.se().to_numpy()
    np.testing.assert_allclose(est.terms["estimate"].to_numpy(), ref_coef, rtol=0, atol=1e-8)
    np.testing.assert_allclose(est.terms["std_error"].to_numpy(), ref_se, rtol=1e-8)
    np.testing.assert_allclose(
        est.terms["p_value"].to_numpy(), ref.pvalue().to_numpy(), rtol=1e-6, atol=1e-12
    )
    assert est.n_clusters == 109 and est.n_treated_clusters == 14
    assert abs(est.terms.loc["effect_x_staff_per_1000", "estimate"] - TRUE_SLOPE) < 0.15


def test_categorical_effects_equal_pyfixest_and_flag_weak(panel: pd.DataFrame) -> None:
    est = effect_by_moderator(
        panel,
        "satisfaction",
        "pilot_active",
        "commune_code",
        "wave",
        "commune_type",
        "commune_code",
    )
    data = panel.copy()
    cats = est.model.categories
    names = []
    for k in cats:
        data[f"d_{k}"] = data["pilot_active"] * (data["commune_type"] == k)
        names.append(f"d_{k}")
    ref = pf.feols(
        f"satisfaction ~ {' + '.join(names)} | commune_code + wave",
        data,
        vcov={"CRV1": "commune_code"},
        ssc=pf.ssc(k_fixef="full"),
    )
    np.testing.assert_allclose(
        est.terms["estimate"].to_numpy(), ref.coef()[names].to_numpy(), atol=1e-8, rtol=0
    )
    np.testing.assert_allclose(
        est.terms["std_error"].to_numpy(), ref.se()[names].to_numpy(), rtol=1e-8
    )
    assert list(est.terms.index) == [f"effect[{k}]" for k in cats]
    assert est.model.treated_per_category["thi_tran"] >= 1
    weak = [k for k, n in est.model.treated_per_category.items() if n <= 3]
    assert weak, "the fixture should contain a category with few pilot communes"
    for k in weak:
        assert any(
            note.startswith(f"effect[{k}]") and "inference weak" in note for note in est.notes
        )
        assert "inference weak" in est.terms.loc[f"effect[{k}]", "inference"]
    assert "xa" not in weak


def test_commune_prediction_se_equals_linear_combination(panel: pd.DataFrame) -> None:
    est = effect_by_moderator(
        panel,
        "satisfaction",
        "pilot_active",
        "commune_code",
        "wave",
        "staff_per_1000",
        "commune_code",
    )
    communes = panel.drop_duplicates("commune_code")[["commune_code", "staff_per_1000"]]
    out = commune_effects(est, communes)
    fit = est.model
    value = 1.7
    effect, se = predicted_effect(est, [value])
    contrast = np.zeros(len(fit.results.params))
    names = list(fit.results.params.index)
    contrast[names.index("effect")] = 1.0
    contrast[names.index("effect_x_staff_per_1000")] = value - fit.centre
    ref = fit.results.t_test(contrast)
    assert effect[0] == pytest.approx(float(np.squeeze(ref.effect)), abs=1e-10)
    assert se[0] == pytest.approx(float(np.squeeze(ref.sd)), rel=1e-10)
    assert out["in_model"].sum() == 14
    assert (out["conf_low"] < out["predicted_effect"]).all()
    low, high = fit.treated_range
    assert out["extrapolated"].equals(
        (out["staff_per_1000"] < low) | (out["staff_per_1000"] > high)
    )


def test_dose_response_bins_hold_treated_communes(panel: pd.DataFrame) -> None:
    out = dose_response(
        panel,
        "satisfaction",
        "pilot_active",
        "commune_code",
        "wave",
        "staff_per_1000",
        "commune_code",
        n_bins=3,
    )
    assert list(out["bin"]) == ["b1", "b2", "b3"]
    assert out["n_treated_communes"].sum() == 14
    assert out["n_treated_communes"].min() >= 4
    assert (out["bin_low"].diff().dropna() > 0).all()
    # the true effect rises with staff, so the top bin's effect exceeds the bottom bin's
    assert out["estimate"].iloc[-1] > out["estimate"].iloc[0]


def test_bad_input_names_the_argument(panel: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="moderator='nope'"):
        effect_by_moderator(
            panel, "satisfaction", "pilot_active", "commune_code", "wave", "nope", "commune_code"
        )
    bad = panel.assign(pilot_active=panel["pilot_active"] * 2)
    with pytest.raises(ValueError, match="must be 0/1"):
        effect_by_moderator(
            bad,
            "satisfaction",
            "pilot_active",
            "commune_code",
            "wave",
            "staff_per_1000",
            "commune_code",
        )


def test_missing_values_dropped_before_clustering(panel: pd.DataFrame) -> None:
    data = panel.copy()
    data.loc[data.index[:5], "satisfaction"] = np.nan
    est = effect_by_moderator(
        data,
        "satisfaction",
        "pilot_active",
        "commune_code",
        "wave",
        "staff_per_1000",
        "commune_code",
    )
    assert est.n_obs == len(panel) - 5
    assert any("5 rows" in note for note in est.notes)


@pytest.mark.parametrize("language", ["vi", "en"])
def test_dose_response_figure_states_its_message(panel: pd.DataFrame, language: str) -> None:
    from evaluation.report.figures_scaling import dose_response_figure
    from evaluation.report.style import close

    dose = dose_response(
        panel,
        "satisfaction",
        "pilot_active",
        "commune_code",
        "wave",
        "staff_per_1000",
        "commune_code",
        n_bins=3,
    )
    fig = dose_response_figure(dose, "staff", "score", language=language)
    title = fig.axes[0].get_title(loc="left").replace("\n", " ")
    expected = "Tác động lớn hơn" if language == "vi" else "The effect is larger"
    assert title.startswith(expected)
    close(fig)


def test_scaling_messages_have_the_same_keys_in_both_languages() -> None:
    from evaluation.i18n import messages

    vi = {k for k in messages("vi") if k.startswith("scaling.")}
    en = {k for k in messages("en") if k.startswith("scaling.")}
    assert vi and vi == en


# -- the interaction's randomisation test and the size of its CRV1 test -----------------------


def _slope_p(
    data: pd.DataFrame, treatment: str, outcome: str = "satisfaction"
) -> tuple[float, float]:
    """Slope and CRV1 t of ``treatment x staff`` by pyfixest (every dummy in K, as statsmodels)."""
    frame = data.copy()
    frame["d_m"] = frame[treatment] * frame["staff_per_1000"]
    fit = pf.feols(
        f"{outcome} ~ {treatment} + d_m | commune_code + wave",
        frame,
        vcov={"CRV1": "commune_code"},
        ssc=pf.ssc(k_fixef="full"),
    )
    return float(fit.coef()["d_m"]), float(fit.tstat()["d_m"])


def test_interaction_randomization_equals_refits() -> None:
    """The slope test's t, its randomisation p-value and its false-alarm rate under the
    effect-removed null equal a loop of pyfixest refits over the same draws."""
    from scipy import stats

    from evaluation.inference.randomization import draw_assignments, interaction_randomization

    panel = make_panel(seed=5, n_communes=36, n_waves=10)
    panel["district"] = (panel["commune_code"] % 3).astype(str)
    n_sims, seed, alpha = 12, 3, 0.05
    test = interaction_randomization(
        panel,
        "satisfaction",
        "pilot_active",
        "commune_code",
        "wave",
        "staff_per_1000",
        strata="district",
        n_sims=n_sims,
        seed=seed,
        alpha=alpha,
    )
    slope, t_obs = _slope_p(panel, "pilot_active")
    assert test.slope == pytest.approx(slope, rel=1e-8)
    assert test.t_stat == pytest.approx(t_obs, rel=1e-8)
    assert test.df == 35
    # the same draws: units in sorted order, strata codes sorted, second spawned generator
    units = np.sort(panel["commune_code"].unique())
    pilots = panel.groupby("commune_code")["pilot_active"].max().loc[units].to_numpy()
    strata = pd.factorize(panel.groupby("commune_code")["district"].first().loc[units], sort=True)[
        0
    ]
    rng = np.random.default_rng(seed).spawn(2)[1]
    draws = draw_assignments(pilots.astype(np.int64), strata, n_sims, rng)
    average = pf.feols(
        "satisfaction ~ pilot_active | commune_code + wave", panel, vcov={"CRV1": "commune_code"}
    ).coef()["pilot_active"]
    removed = panel.assign(y0=panel["satisfaction"] - average * panel["pilot_active"])
    post = panel["wave"] >= 8  # make_panel's start wave
    t_draws = []
    for draw in draws:
        chosen = set(units[draw > 0])
        removed["placebo"] = (removed["commune_code"].isin(chosen) & post).astype(int)
        t_draws.append(_slope_p(removed, "placebo", "y0")[1])
    t_draws = np.array(t_draws)
    rate = float(np.mean(2 * stats.t.sf(np.abs(t_draws), 35) <= alpha))
    assert test.size_effect_removed == pytest.approx(rate)
    expected_p = (1 + np.sum(np.abs(t_draws) >= abs(t_obs) * (1 - 1e-9))) / (1 + n_sims)
    assert test.ri_p_value == pytest.approx(expected_p)
    assert 0 <= test.size_placebo <= 1
    rates = [test.size_placebo, test.size_effect_removed]
    assert test.size_ok((0.0, 1.0))
    assert test.size_ok((rate, rate)) == all(r == rate for r in rates)
    assert test.worst_size in rates


def test_interaction_randomization_rejects_a_single_moderator_value() -> None:
    from evaluation.inference.randomization import interaction_randomization

    panel = make_panel(seed=2, n_communes=30, n_waves=10)
    panel["flat"] = 1.0
    with pytest.raises(ValueError, match="one value over the treated units"):
        interaction_randomization(
            panel, "satisfaction", "pilot_active", "commune_code", "wave", "flat", n_sims=5
        )
    panel["varies"] = panel["wave"].astype(float)
    with pytest.raises(ValueError, match="constant within each"):
        interaction_randomization(
            panel, "satisfaction", "pilot_active", "commune_code", "wave", "varies", n_sims=5
        )
