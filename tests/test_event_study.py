"""Event study equals pyfixest's i(rel_time, ref=-1); pre-trend Wald test; effect figures."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
from matplotlib.figure import Figure
from scipy import stats

from evaluation.estimators.event_study import event_study, event_term, parse_event_term
from evaluation.estimators.twfe import twfe
from evaluation.report.figures_effects import event_study_figure, headline_effect_figure
from evaluation.report.style import close

TOL = 1e-8


def _staggered(seed: int, n_communes: int = 70, n_waves: int = 12, keep: float = 0.9):
    """Unbalanced commune-wave panel; 25 communes start between waves 4 and 9, others never."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        [(c, w) for c in range(n_communes) for w in range(1, n_waves + 1)],
        columns=["commune", "wave"],
    )
    start = np.where(np.arange(n_communes) < 25, rng.integers(4, 10, n_communes), np.nan)
    frame["first_wave"] = start[frame["commune"]]
    frame["pilot_active"] = (frame["wave"] >= frame["first_wave"]).astype(int)
    frame["ballots"] = rng.integers(5, 40, len(frame)).astype(float)
    frame["satisfaction"] = (
        3.0
        + 0.1 * (frame["wave"] - frame["first_wave"]).clip(0, 5).fillna(0)
        + 0.2 * frame["pilot_active"]
        + rng.normal(0, 0.4, n_communes)[frame["commune"]]
        + 0.03 * frame["wave"]
        + rng.normal(0, 0.5, len(frame))
    )
    return frame.sample(frac=keep, random_state=seed).reset_index(drop=True)


def _pyfixest_event(frame: pd.DataFrame, leads: int, lags: int, weights: str | None = None):
    rel = (frame["wave"] - frame["first_wave"]).clip(-leads, lags)
    data = frame.assign(rel_time=rel.fillna(-1).astype(int))  # never-treated -> reference
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pf.feols(
            "satisfaction ~ i(rel_time, ref=-1) | commune + wave",
            data,
            vcov={"CRV1": "commune"},
            weights=weights,
            fixef_tol=1e-13,
        )


def _pyfixest_terms(fit) -> list[str]:
    return [event_term(int(name.split("::")[1].rstrip("]"))) for name in fit._coefnames]


@pytest.mark.parametrize("weights", [None, "ballots"])
def test_binned_event_study_equals_pyfixest(weights: str | None) -> None:
    frame = _staggered(1)
    estimate = event_study(
        frame, "satisfaction", "commune", "wave", "first_wave", weights=weights, leads=3, lags=4
    )
    fit = _pyfixest_event(frame, 3, 4, weights)
    assert list(estimate.terms.index) == ["e-3", "e-2", "e+0", "e+1", "e+2", "e+3", "e+4"]
    assert _pyfixest_terms(fit) == list(estimate.terms.index)
    np.testing.assert_allclose(estimate.terms["estimate"], fit.coef().to_numpy(), rtol=TOL)
    np.testing.assert_allclose(estimate.terms["std_error"], fit.se().to_numpy(), rtol=TOL)
    np.testing.assert_allclose(estimate.terms["p_value"], fit.pvalue().to_numpy(), rtol=1e-6)
    assert estimate.n_obs == fit._N
    assert estimate.n_treated_clusters == 25


def test_pretrend_wald_equals_pyfixest() -> None:
    frame = _staggered(2)
    estimate = event_study(frame, "satisfaction", "commune", "wave", "first_wave")
    fit = _pyfixest_event(frame, 4, 4)
    leads = [i for i, name in enumerate(_pyfixest_terms(fit)) if parse_event_term(name) < 0]
    restriction = np.zeros((len(leads), len(fit._coefnames)))
    restriction[np.arange(len(leads)), leads] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyfixest switches to chi2 for a non-identity R
        fit.wald_test(R=restriction)
    f_stat = fit._wald_statistic / len(leads)
    d = estimate.diagnostics
    assert d["pretrend_df"] == len(leads) == 3
    assert d["pretrend_df_denom"] == estimate.n_clusters - 1
    np.testing.assert_allclose(d["pretrend_wald"], f_stat, rtol=1e-8)
    np.testing.assert_allclose(
        d["pretrend_p_value"], stats.f.sf(f_stat, len(leads), estimate.n_clusters - 1), rtol=1e-8
    )


def test_unbinned_window_drops_outside_rows_like_pyfixest() -> None:
    frame = _staggered(3)
    estimate = event_study(
        frame,
        "satisfaction",
        "commune",
        "wave",
        "first_wave",
        leads=2,
        lags=2,
        bin_endpoints=False,
    )
    rel = frame["wave"] - frame["first_wave"]
    inside = frame[rel.isna() | rel.between(-2, 2)]
    fit = _pyfixest_event(inside, 2, 2)
    np.testing.assert_allclose(estimate.terms["estimate"], fit.coef().to_numpy(), rtol=TOL)
    np.testing.assert_allclose(estimate.terms["std_error"], fit.se().to_numpy(), rtol=TOL)
    assert estimate.n_obs == len(inside)
    assert any("outside the event window" in note for note in estimate.notes)


def test_single_window_equals_static_twfe() -> None:
    # With no leads kept apart and every post period pooled, the event study is the static TWFE.
    frame = _staggered(4)
    estimate = event_study(
        frame, "satisfaction", "commune", "wave", "first_wave", leads=1, lags=0, reference=-1
    )
    static = twfe(frame, "satisfaction", "pilot_active", "commune", "wave")
    assert list(estimate.terms.index) == ["e+0"]
    np.testing.assert_allclose(estimate.estimate, static.estimate, rtol=TOL)
    np.testing.assert_allclose(estimate.std_error, static.std_error, rtol=TOL)
    assert np.isnan(estimate.diagnostics["pretrend_p_value"])


def test_term_names_round_trip_and_bad_input() -> None:
    assert [event_term(e) for e in (-4, 0, 3)] == ["e-4", "e+0", "e+3"]
    assert [parse_event_term(n) for n in ("e-4", "e+0", "e+3")] == [-4, 0, 3]
    frame = _staggered(5)
    with pytest.raises(ValueError, match="reference"):
        event_study(frame, "satisfaction", "commune", "wave", "first_wave", reference=-6)
    with pytest.raises(ValueError, match="first_treated"):
        event_study(frame, "satisfaction", "commune", "wave", "start")
    with pytest.raises(ValueError, match="integer"):
        event_study(
            frame.assign(wave=frame["wave"] + 0.5), "satisfaction", "commune", "wave", "first_wave"
        )


@pytest.mark.parametrize("language", ["vi", "en"])
def test_figures(language: str) -> None:
    frame = _staggered(6)
    estimate = event_study(frame, "satisfaction", "commune", "wave", "first_wave")
    fig = event_study_figure(estimate, language=language)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    # Eight event-time points plus the reference, all on the axis ticks.
    assert len(ax.get_xticks()) == 9
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    assert labels[0] == "≤−4" and labels[-1] == "≥+4"
    close(fig)
    from_tidy = event_study_figure(estimate.tidy(), language=language)
    close(from_tidy)
    static = twfe(frame, "satisfaction", "pilot_active", "commune", "wave")
    head = headline_effect_figure([static, static], language=language, labels=["A", "B"])
    position = dict(
        zip(
            [t.get_text() for t in head.axes[0].get_yticklabels()],
            head.axes[0].get_yticks(),
            strict=True,
        )
    )
    assert position["A"] > position["B"]  # first estimate on top
    close(head)
    with pytest.raises(ValueError, match="labels"):
        headline_effect_figure(static, language=language, labels=["A", "B"])
