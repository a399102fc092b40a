"""Ordered-logit DiD: agreement with a direct statsmodels fit and recovery of a known latent shift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.miscmodels.ordinal_model import OrderedModel

from evaluation.estimators.ordinal import ordinal_did

CUTS = np.array([-2.0, -0.8, 0.5, 1.8])


def _ballots(
    communes: int = 100,
    per_period: int = 40,
    delta: float = 0.6,
    commune_sd: float = 0.3,
    seed: int = 0,
) -> pd.DataFrame:
    """Latent satisfaction = 0.4 pilot + 0.2 post + delta pilot:post + 0.5 x + commune + logistic."""
    rng = np.random.default_rng(seed)
    commune = np.repeat(np.arange(communes), 2 * per_period)
    pilot = (commune < 14).astype(int)
    post = np.tile(np.repeat([0, 1], per_period), communes)
    x = rng.normal(size=len(commune))
    effect = rng.normal(scale=commune_sd, size=communes)[commune]
    latent = 0.4 * pilot + 0.2 * post + delta * pilot * post + 0.5 * x + effect
    answer = 1 + np.searchsorted(CUTS, latent + rng.logistic(size=len(commune)))
    return pd.DataFrame(
        {
            "answer": answer,
            "pilot": pilot,
            "post": post,
            "commune": commune,
            "wave": post + 1 + 2 * (np.arange(len(commune)) % 2),
            "x": x,
            "latent_mean": latent,
        }
    )


def test_shifts_sum_to_zero_and_satisfied_is_sum_of_four_and_five():
    result = ordinal_did(_ballots(), "answer", "pilot", "post", "commune", "commune", ["x"])
    shifts = result.shifts["estimate"]
    answers = shifts[[f"P(answer={k})" for k in range(1, 6)]]
    assert answers.sum() == pytest.approx(0.0, abs=1e-12)
    assert shifts["P(satisfied 4-5)"] == pytest.approx(
        shifts["P(answer=4)"] + shifts["P(answer=5)"], abs=1e-15
    )
    # probabilities with and without the shift are proper distributions
    for column in ("probability_without", "probability_with"):
        assert result.shifts[column].iloc[:5].sum() == pytest.approx(1.0, abs=1e-12)
    assert (result.shifts["std_error"] > 0).all()
    tidy = result.tidy()
    assert tidy["term"].tolist() == [f"P(answer={k})" for k in range(1, 6)] + ["P(satisfied 4-5)"]
    assert result.estimate.estimate == pytest.approx(shifts["P(satisfied 4-5)"])
    assert result.estimate.tidy()["term"].tolist() == ["P(satisfied 4-5)"]
    assert result.n_treated_clusters == 14
    assert result.n_clusters == 100


def test_coefficients_equal_direct_ordered_model_fit():
    frame = _ballots()
    result = ordinal_did(frame, "answer", "pilot", "post", "commune", "commune", ["x"])
    exog = pd.DataFrame(
        {
            "pilot": frame["pilot"].astype(float),
            "post": frame["post"].astype(float),
            "pilot_post": (frame["pilot"] * frame["post"]).astype(float),
            "x": frame["x"],
        }
    )
    direct = OrderedModel(frame["answer"], exog, distr="logit").fit(
        method="newton", disp=False, cov_type="cluster", cov_kwds={"groups": frame["commune"]}
    )
    ours = result.coefficients
    assert ours["estimate"].to_numpy() == pytest.approx(direct.params.to_numpy(), abs=1e-5)
    assert ours["std_error"].to_numpy() == pytest.approx(direct.bse.to_numpy(), rel=1e-3)
    # The shifts are a function of these coefficients: recompute by hand from the direct fit.
    treated = (frame["pilot"] == 1) & (frame["post"] == 1)
    on = exog.loc[treated].to_numpy()
    off = on.copy()
    off[:, 2] = 0.0
    model = direct.model
    by_hand = model.predict(direct.params.to_numpy(), exog=on).mean(axis=0) - model.predict(
        direct.params.to_numpy(), exog=off
    ).mean(axis=0)
    assert result.shifts["estimate"].iloc[:5].to_numpy() == pytest.approx(by_hand, abs=1e-5)


def test_recovers_known_latent_shift():
    # Without commune effects the ordered logit is correctly specified, so the estimated shifts
    # are approximately normal around the truth with the reported SE: |error| < 4 SE fails with
    # probability ~6e-5 per term (and the seed is fixed). The true shifts average the true model
    # over the same pilot-post ballots.
    frame = _ballots(communes=100, per_period=60, delta=0.6, commune_sd=0.0, seed=11)
    result = ordinal_did(frame, "answer", "pilot", "post", "commune", "commune", ["x"])
    treated = frame.loc[(frame["pilot"] == 1) & (frame["post"] == 1), "latent_mean"].to_numpy()
    bounds = np.r_[-np.inf, CUTS, np.inf]

    def probabilities(mean: np.ndarray) -> np.ndarray:
        cdf = stats.logistic.cdf(bounds[None, :] - mean[:, None])
        return np.diff(cdf, axis=1).mean(axis=0)

    truth = probabilities(treated) - probabilities(treated - 0.6)
    truth = np.append(truth, truth[3:].sum())
    estimate = result.shifts["estimate"].to_numpy()
    se = result.shifts["std_error"].to_numpy()
    assert np.all(np.abs(estimate - truth) < 4 * se)
    assert truth[-1] > 0.1  # a shift this size is what the test is about
    assert se[-1] < 0.03  # and it is estimated precisely enough for the check to bite
    latent = result.coefficients.loc["pilot_post"]
    assert abs(latent["estimate"] - 0.6) < 4 * latent["std_error"]
    assert result.estimate.diagnostics["latent_did"] == pytest.approx(latent["estimate"])


def test_integer_weights_equal_duplicated_ballots():
    frame = _ballots(communes=40, per_period=20, seed=3)
    frame["w"] = 1 + (np.arange(len(frame)) % 3 == 0)
    weighted = ordinal_did(frame, "answer", "pilot", "post", "commune", "commune", ["x"], "w")
    duplicated = pd.concat([frame, frame.loc[frame["w"] == 2]])
    plain = ordinal_did(duplicated, "answer", "pilot", "post", "commune", "commune", ["x"])
    assert weighted.coefficients["estimate"].to_numpy() == pytest.approx(
        plain.coefficients["estimate"].to_numpy(), abs=1e-4
    )
    assert weighted.shifts["estimate"].to_numpy() == pytest.approx(
        plain.shifts["estimate"].to_numpy(), abs=1e-5
    )


def test_wave_dummies_replace_post():
    frame = _ballots(communes=40, per_period=20, seed=4)
    result = ordinal_did(frame, "answer", "pilot", "post", "commune", "commune", wave="wave")
    names = result.coefficients.index.tolist()
    assert "post" not in names
    assert {"wave_2", "wave_3", "wave_4", "pilot_post"} <= set(names)
    assert result.shifts["estimate"].iloc[:5].sum() == pytest.approx(0.0, abs=1e-12)


def test_bootstrap_is_seeded():
    frame = _ballots(communes=30, per_period=15, seed=5)
    first = ordinal_did(
        frame, "answer", "pilot", "post", "commune", "commune", inference="bootstrap",
        n_boot=4, seed=1,
    )  # fmt: skip
    again = ordinal_did(
        frame, "answer", "pilot", "post", "commune", "commune", inference="bootstrap",
        n_boot=4, seed=1,
    )  # fmt: skip
    other = ordinal_did(
        frame, "answer", "pilot", "post", "commune", "commune", inference="bootstrap",
        n_boot=4, seed=2,
    )  # fmt: skip
    pd.testing.assert_frame_equal(first.draws, again.draws)
    assert not np.allclose(first.draws.to_numpy(), other.draws.to_numpy())
    assert "bootstrap" in first.inference
    assert first.draws.shape == (4, 6)


@pytest.mark.slow
def test_bootstrap_and_delta_standard_errors_agree():
    frame = _ballots(communes=60, per_period=25, seed=8)
    delta = ordinal_did(frame, "answer", "pilot", "post", "commune", "commune")
    boot = ordinal_did(
        frame, "answer", "pilot", "post", "commune", "commune", inference="bootstrap",
        n_boot=199, seed=3,
    )  # fmt: skip
    ratio = boot.shifts["std_error"] / delta.shifts["std_error"]
    # 199 draws estimate an SE to about +-10%; 14 resampled pilot communes add more noise.
    assert ratio.between(0.7, 1.4).all()


def test_bad_input_raises_clear_errors():
    frame = _ballots(communes=30, per_period=10)
    with pytest.raises(ValueError, match="'nope' is not a column"):
        ordinal_did(frame, "nope", "pilot", "post", "commune", "commune")
    with pytest.raises(ValueError, match="outside levels"):
        ordinal_did(frame.assign(answer=frame["answer"] + 1), "answer", "pilot", "post",
                    "commune", "commune")  # fmt: skip
    with pytest.raises(ValueError, match="never occur"):
        ordinal_did(frame, "answer", "pilot", "post", "commune", "commune", levels=range(1, 7))
    with pytest.raises(ValueError, match="must hold only 0 and 1"):
        ordinal_did(frame.assign(post=frame["post"] * 3), "answer", "pilot", "post", "commune",
                    "commune")  # fmt: skip
    with pytest.raises(ValueError, match="constant within"):
        ordinal_did(frame.assign(pilot=frame["post"]), "answer", "pilot", "post", "commune",
                    "commune")  # fmt: skip


@pytest.mark.parametrize("language", ["vi", "en"])
def test_likert_figures_draw_in_both_languages(language):
    from matplotlib.figure import Figure

    from evaluation.report.figures_likert import (
        likert_distribution_figure,
        likert_shift_figure,
    )
    from evaluation.report.style import close

    frame = _ballots(communes=30, per_period=10, seed=6)
    result = ordinal_did(frame, "answer", "pilot", "post", "commune", "commune")
    fig = likert_shift_figure(result, language=language)
    assert isinstance(fig, Figure)
    labels = [tick.get_text() for tick in fig.axes[0].get_yticklabels()]
    expected = "Hài lòng (4–5)" if language == "vi" else "Satisfied (4–5)"
    assert labels[-1] == expected
    assert labels[0].startswith("1 – ")
    close(fig)
    frame["group"] = np.where(frame["pilot"] == 1, "pilot", "comparison")
    fig = likert_distribution_figure(frame, "answer", ["group", "post"], language)
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == 4
    # five stacked segments per bar, each bar summing to 100%
    widths = np.array([patch.get_width() for patch in ax.patches]).reshape(5, 4)
    assert widths.sum(axis=0) == pytest.approx([100.0] * 4)
    close(fig)
    with pytest.raises(ValueError, match="not a column"):
        likert_distribution_figure(frame, "answer", "nope", language)


def test_likert_wording_exists_in_both_languages():
    from evaluation.i18n import messages

    keys = {lang: {k for k in messages(lang) if k.startswith("likert.")} for lang in ("vi", "en")}
    assert keys["vi"] == keys["en"]
    assert "likert.shift.title" in keys["vi"]
