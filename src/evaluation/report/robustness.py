"""The robustness page (``04_robustness``): does the answer hold?

Every check re-estimates the headline effect (``params.analysis.headline_outcome``) at the
commune-quarter level: two-way fixed effects on commune-wave means weighted by ballots
returned, which gives the same point estimate as the household-level regression (every
regressor is constant within a commune-wave) and is fast enough to refit many times. The
checks:

* pre-period event-study coefficients and their joint test;
* Rambachan & Roth (2023) sensitivity of the average post-start effect (``theta`` = mean of the
  event-time coefficients ``e+0 .. e+lags``) to violations of parallel trends, under relative
  magnitudes (:data:`MBAR_GRID`) and smoothness (:data:`M_GRID_SE` times the SE of ``theta``),
  with breakdown values;
* placebos: a fake start :data:`FAKE_SHIFT` quarters early on pre-pilot waves only (fewer when
  the data have fewer pre-pilot waves; the shift used is reported), and outcomes the model
  should not move (:data:`PLACEBO_OUTCOMES`, household characteristics on the ballots);
* leave-one-district-out, and excluding communes touched by the 2020 map change;
* mean score against share satisfied (Roth & Sant'Anna 2023: parallel trends depend on the
  scale);
* Holm and Romano-Wolf adjusted p-values across the SIPAS factors, the model's own index and
  the administrative outcomes (unweighted TWFE by demeaning, pairs cluster bootstrap of the
  demeaned data by commune, at most :data:`MAX_BOOT` draws);
* a specification chart of the headline effect across these choices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.config import Params
from evaluation.estimators.event_study import parse_event_term
from evaluation.estimators.fixed_effects import absorb
from evaluation.estimators.result import TIDY_COLUMNS, EffectEstimate, term_frame
from evaluation.estimators.twfe import twfe
from evaluation.i18n import Language, format_number, format_p_value, t
from evaluation.inference.cluster_robust import cr2
from evaluation.inference.honest_did import (
    EventStudyCoefficients,
    breakdown_value,
    original_ci,
    sensitivity_rm,
    sensitivity_sd,
)
from evaluation.inference.multiple_testing import cluster_bootstrap_t, multiple_testing_frame
from evaluation.prepare import Prepared
from evaluation.report import effects as fx
from evaluation.report.comparison import ipw_twfe

#: Relative-magnitude bounds Mbar tried (1 = post-start violations as large as the largest
#: pre-start one).
MBAR_GRID: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
#: Smoothness bounds M tried, in multiples of the standard error of the target ``theta``.
M_GRID_SE: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0)
#: Quarters by which the placebo start precedes the real one (a year).
FAKE_SHIFT = 4
#: Household characteristics the model cannot change (placebo outcomes), where present.
PLACEBO_OUTCOMES: tuple[str, ...] = ("respondent_female",)
#: Administrative outcomes in the multiple-testing family, where present.
ADMIN_FAMILY: tuple[str, ...] = (
    "pct_dossiers_on_time",
    "pct_condolence_on_time",
    "complaints_per_1000",
    "apology_per_100_dossiers",
)
#: Outcomes compared for the functional form (mean score against share satisfied).
FORM_OUTCOMES: tuple[str, ...] = ("satisfaction_index", "pct_satisfied")
#: Cap on bootstrap draws (the page must run in about a minute; 999 draws resolve p = 0.01).
MAX_BOOT = 999
#: Columns of :func:`specification_frame`.
SPECIFICATION_COLUMNS = [
    "specification",
    "estimate",
    "conf_low",
    "conf_high",
    "p_value",
    "group",
    "estimator",
    "outcome",
]


def outcome_name(outcome: str, language: Language) -> str:
    """Reader label of an outcome: effects page, else data-quality factor names, else this page."""
    label = fx.outcome_label(outcome, language)
    if label != outcome:
        return label
    for key in (f"dq.{outcome}", f"robustness_page.outcome_labels.{outcome}"):
        try:
            return t(key, language)
        except KeyError:
            continue
    return outcome


def p_text(p: float, language: Language) -> str:
    """``= 0,023`` or ``< 0,001``, to follow a ``p`` (no sentence reads ``p = < 0,001``)."""
    text = format_p_value(p, language)
    return text if text.startswith("<") else f"= {text}"


def _outcome(params: Params, outcome: str | None) -> str:
    return outcome or params.analysis.headline_outcome


def _ballot_weighted(outcome: str, frame: pd.DataFrame) -> bool:
    return (outcome in fx.BALLOT_LEVEL or outcome.startswith("factor_")) and "n_ballots" in frame


def twfe_panel(
    frame: pd.DataFrame,
    params: Params,
    outcome: str,
    estimator: str,
    treatment: str = "treated",
    weighted: bool = True,
) -> EffectEstimate:
    """TWFE on commune-wave rows as the effects page does it (ballot weights for ballot scores)."""
    weights = "n_ballots" if weighted and _ballot_weighted(outcome, frame) else None
    return twfe(
        frame,
        outcome,
        treatment,
        unit="commune_code",
        time="wave_index",
        cluster="commune_code",
        weights=weights,
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
        estimator=estimator,
    )


def with_cr2(
    estimate: EffectEstimate,
    frame: pd.DataFrame,
    treatment: str,
    weights: str | None,
    alpha: float,
) -> EffectEstimate:
    """The same TWFE estimate with CR2 (Bell-McCaffrey) standard error, interval and p-value.

    Placebos are judged by a p-value, and with 14 pilot communes CRV1 rejects a true null
    placebo too often (9.0% at 5% for the fake start over 300 simulated demos; CR2 6.7%, within
    Monte Carlo error: ``tests/test_placebo_size.py``).
    """
    result = cr2(
        frame,
        estimate.outcome,
        treatment,
        "commune_code",
        "wave_index",
        cluster="commune_code",
        weights=weights,
        alpha=alpha,
    )
    if not math.isclose(result.estimate, estimate.estimate, rel_tol=1e-7, abs_tol=1e-10):
        raise RuntimeError(
            f"CR2 and TWFE disagree on {estimate.estimator} ({result.estimate} vs "
            f"{estimate.estimate}): they must fit the same regression"
        )
    terms = estimate.terms.copy()
    terms.iloc[0, terms.columns.get_indexer(["std_error", "conf_low", "conf_high", "p_value"])] = [
        result.std_error,
        result.conf_low,
        result.conf_high,
        result.p_value,
    ]
    return replace(
        estimate,
        terms=terms,
        inference=(
            f"CR2 (Bell-McCaffrey) by commune_code, Bell-McCaffrey/Imbens-Kolesar df = "
            f"{result.df:.1f}; G = {result.n_clusters}"
        ),
    )


# -- pre-trends and HonestDiD ----------------------------------------------------------------


def event_study(prepared: Prepared, params: Params, outcome: str | None = None) -> EffectEstimate:
    """The effects page's event study of the headline outcome (commune-wave, ballot-weighted)."""
    return fx.event_study_estimate(prepared, params, _outcome(params, outcome))


def pretrend_table(study: EffectEstimate, language: Language) -> pd.DataFrame:
    """The pre-start coefficients for reading: quarters before the start, estimate, CI, p."""
    rows = []
    for term, r in study.terms.iterrows():
        e = parse_event_term(str(term))
        if e >= 0:
            continue
        rows.append(
            {
                t("robustness_page.col_quarter", language): format_number(e, language, 0),
                t("robustness_page.col_estimate", language): fx.format_effect(
                    study.outcome, r["estimate"], language
                ),
                t("robustness_page.col_ci", language): _ci_text(
                    study.outcome, r["conf_low"], r["conf_high"], language
                ),
                t("robustness_page.col_p", language): format_p_value(r["p_value"], language),
            }
        )
    return pd.DataFrame(rows)


def event_coefficients(study: EffectEstimate) -> EventStudyCoefficients:
    """``betahat`` and ``sigma`` of the event terms from the study's model; target = post mean.

    Raises ValueError unless the terms are contiguous leads ``e-leads .. e-2`` (reference
    ``e-1`` omitted) and lags ``e+0 .. e+lags``, the layout Rambachan & Roth assume.
    """
    names = [str(n) for n in study.terms.index]
    times = [parse_event_term(n) for n in names]
    pre = [e for e in times if e < 0]
    post = [e for e in times if e >= 0]
    if (
        not pre
        or not post
        or pre != list(range(min(pre), -1))
        or post != list(range(0, max(post) + 1))
    ):
        raise ValueError(
            f"event terms {names} are not contiguous leads up to e-2 and lags from e+0; "
            "HonestDiD needs the reference period e-1 and no empty event time"
        )
    params = study.model.params
    cov = study.model.cov_params()
    betahat = np.asarray(params.loc[names], float)
    sigma = np.asarray(cov.loc[names, names], float)
    return EventStudyCoefficients.build(
        betahat, sigma, len(pre), len(post), np.full(len(post), 1.0 / len(post))
    )


@dataclass(frozen=True)
class Sensitivity:
    """HonestDiD results for the average post-start effect.

    Attributes
    ----------
    coefficients : EventStudyCoefficients
    relative_magnitudes, smoothness : pandas.DataFrame
        :func:`~evaluation.inference.honest_did.sensitivity_rm` / ``sensitivity_sd`` frames
        (the first row is the original interval).
    breakdown_rm : float
        Smallest Mbar at which the robust interval includes 0.
    breakdown_sd : float
        Smallest M at which the smoothness interval includes 0.
    """

    coefficients: EventStudyCoefficients
    relative_magnitudes: pd.DataFrame
    smoothness: pd.DataFrame
    breakdown_rm: float
    breakdown_sd: float

    @property
    def theta(self) -> float:
        return self.coefficients.theta_hat


def honest_sensitivity(study: EffectEstimate, params: Params) -> Sensitivity:
    """Relative-magnitudes (C-LF) and smoothness (FLCI) sensitivity with breakdown values."""
    es = event_coefficients(study)
    args = (es.betahat, es.sigma, es.num_pre, es.num_post)
    alpha, seed = params.analysis.alpha, params.inference.seed
    rm = sensitivity_rm(*args, list(MBAR_GRID), l_vec=es.l_vec, alpha=alpha, seed=seed)
    m_values = [m * es.theta_se for m in M_GRID_SE]
    sd = sensitivity_sd(*args, m_values, l_vec=es.l_vec, alpha=alpha)
    return Sensitivity(
        coefficients=es,
        relative_magnitudes=rm,
        smoothness=sd,
        breakdown_rm=breakdown_value(
            *args, "relative_magnitudes", l_vec=es.l_vec, alpha=alpha, seed=seed
        ),
        breakdown_sd=breakdown_value(*args, "smoothness", l_vec=es.l_vec, alpha=alpha),
    )


def event_average(
    study: EffectEstimate, sensitivity: Sensitivity, params: Params
) -> EffectEstimate:
    """The mean of the post-start event-time coefficients with its Wald interval (normal)."""
    es = sensitivity.coefficients
    ci = original_ci(es.betahat, es.sigma, es.num_pre, es.num_post, es.l_vec, params.analysis.alpha)
    z = es.theta_hat / es.theta_se
    return EffectEstimate(
        outcome=study.outcome,
        estimand="ATT",
        estimator="event_study_post_average",
        terms=term_frame(
            ["post_average"],
            [es.theta_hat],
            [es.theta_se],
            [ci.conf_low],
            [ci.conf_high],
            [2 * stats.norm.sf(abs(z))],
        ),
        n_obs=study.n_obs,
        n_clusters=study.n_clusters,
        n_treated_clusters=study.n_treated_clusters,
        inference=(
            f"mean of e+0..e+{es.num_post - 1} of the event study; Wald interval, normal "
            f"reference; {study.inference}"
        ),
    )


def sensitivity_effects(study: EffectEstimate, sensitivity: Sensitivity) -> pd.DataFrame:
    """HonestDiD robust intervals as effects.csv rows (one per bound; p-value not defined)."""
    rows = []
    for frame, name in (
        (sensitivity.relative_magnitudes, "honest_did_relative_magnitudes"),
        (sensitivity.smoothness, "honest_did_smoothness"),
    ):
        for r in frame[frame["method"] != "original"].itertuples(index=False):
            bound = "Mbar" if name.endswith("magnitudes") else "M"
            rows.append(
                {
                    "outcome": study.outcome,
                    "estimand": "ATT (mean of post-start event times)",
                    "estimator": name,
                    "term": f"{bound}={r.m:.6g}",
                    "estimate": sensitivity.theta,
                    "std_error": sensitivity.coefficients.theta_se,
                    "conf_low": r.conf_low,
                    "conf_high": r.conf_high,
                    "p_value": float("nan"),
                    "n_obs": study.n_obs,
                    "n_clusters": study.n_clusters,
                    "n_treated_clusters": study.n_treated_clusters,
                    "inference": (
                        f"Rambachan-Roth {r.method} robust confidence set, {bound} = {r.m:.6g}, "
                        f"level {1 - r.alpha:.2f}"
                    ),
                }
            )
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def sensitivity_display(sensitivity: Sensitivity, outcome: str, language: Language) -> pd.DataFrame:
    """Both sensitivity tables side by side for reading."""
    rows = []
    for frame in (sensitivity.relative_magnitudes, sensitivity.smoothness):
        for r in frame.itertuples(index=False):
            restriction = "none" if r.method == "original" else r.restriction
            decimals = 2 if restriction == "relative_magnitudes" else 4
            rows.append(
                {
                    t("robustness_page.col_restriction", language): t(
                        f"robustness_page.restriction_{restriction}", language
                    ),
                    t("robustness_page.col_bound", language): (
                        "–" if restriction == "none" else format_number(r.m, language, decimals)
                    ),
                    t("robustness_page.col_ci", language): _ci_text(
                        outcome, r.conf_low, r.conf_high, language
                    ),
                    t("robustness_page.col_zero", language): t(
                        "robustness_page.yes" if r.includes_zero else "robustness_page.no",
                        language,
                    ),
                }
            )
    out = pd.DataFrame(rows)
    return out.drop_duplicates().reset_index(drop=True)


# -- placebos --------------------------------------------------------------------------------


def fake_start_placebo(
    prepared: Prepared, params: Params, outcome: str | None = None, shift: int = FAKE_SHIFT
) -> EffectEstimate:
    """Pretend the pilot began ``shift`` quarters early, using only waves before the real start.

    With fewer than ``shift + 1`` pre-pilot waves the largest shift that leaves one wave before
    the fake start is used (``diagnostics["fake_shift"]``). Estimator
    ``placebo_fake_start_twfe_commune_wave``; the true effect is zero by construction. Its
    interval and p-value are CR2 (:func:`with_cr2`).
    """
    outcome = _outcome(params, outcome)
    pilot_wave = prepared.meta["pilot_wave"]
    frame = fx.window_panel(prepared)
    frame = frame[frame["wave_index"] < pilot_wave].copy()
    waves = sorted(frame["wave_index"].unique())
    if len(waves) < 2:
        raise ValueError(
            "a fake-start placebo needs at least two waves before the pilot start; "
            "widen analysis.window_start"
        )
    used = int(min(shift, len(waves) - 1))
    fake = pilot_wave - used
    frame["fake_treated"] = ((frame["pilot"] > 0) & (frame["wave_index"] >= fake)).astype(float)
    estimate = twfe_panel(
        frame, params, outcome, "placebo_fake_start_twfe_commune_wave", "fake_treated"
    )
    weights = "n_ballots" if _ballot_weighted(outcome, frame) else None
    estimate = with_cr2(estimate, frame, "fake_treated", weights, params.analysis.alpha)
    notes = (f"fake start {used} quarters before the real one, pre-pilot waves only",)
    return replace(
        estimate,
        notes=estimate.notes + notes,
        diagnostics={**estimate.diagnostics, "fake_shift": float(used), "fake_start": float(fake)},
    )


def placebo_outcome_names(prepared: Prepared) -> list[str]:
    """Household characteristics on the ballots usable as placebo outcomes."""
    if not prepared.has_ballots:
        return []
    ballots = prepared.ballots
    return [
        c
        for c in PLACEBO_OUTCOMES
        if c in ballots and pd.to_numeric(ballots[c], errors="coerce").notna().sum() > 2
    ]


def placebo_outcomes(prepared: Prepared, params: Params) -> list[EffectEstimate]:
    """TWFE on commune-wave shares of each placebo outcome (weighted by ballots answering it),
    judged by CR2 (:func:`with_cr2`).

    Estimator ``placebo_outcome_twfe_commune_wave``; empty list when the ballots carry none.
    """
    names = placebo_outcome_names(prepared)
    if not names:
        return []
    ballots = fx.window_ballots(prepared)
    panel = fx.window_panel(prepared)
    out = []
    for name in names:
        values = ballots[["commune_code", "wave_index"]].assign(
            _v=pd.to_numeric(ballots[name], errors="coerce").astype(float)
        )
        cells = (
            values.dropna()
            .groupby(["commune_code", "wave_index"])["_v"]
            .agg(["mean", "size"])
            .rename(columns={"mean": name, "size": f"{name}_n"})
            .reset_index()
        )
        frame = panel.drop(columns=[name], errors="ignore").merge(
            cells, on=["commune_code", "wave_index"], how="inner"
        )
        estimate = twfe(
            frame,
            name,
            "treated",
            unit="commune_code",
            time="wave_index",
            cluster="commune_code",
            weights=f"{name}_n",
            ssc=params.analysis.ssc,
            alpha=params.analysis.alpha,
            estimator="placebo_outcome_twfe_commune_wave",
        )
        out.append(with_cr2(estimate, frame, "treated", f"{name}_n", params.analysis.alpha))
    return out


# -- samples ---------------------------------------------------------------------------------


def leave_one_district_out(
    prepared: Prepared, params: Params, outcome: str | None = None
) -> list[EffectEstimate]:
    """The headline TWFE without each district in turn (``twfe_commune_wave_without_district[X]``).

    Districts whose removal leaves no pilot commune are skipped.
    """
    outcome = _outcome(params, outcome)
    frame = fx.window_panel(prepared)
    out = []
    for district in sorted(frame["district_name"].dropna().astype(str).unique()):
        rest = frame[frame["district_name"].astype(str) != district]
        if not (rest["treated"] > 0).any():
            continue
        out.append(
            twfe_panel(rest, params, outcome, f"twfe_commune_wave_without_district[{district}]")
        )
    return out


def dropped_district(estimate: EffectEstimate) -> str:
    """The district named in a leave-one-district-out estimator name."""
    name = estimate.estimator
    return name[name.index("[") + 1 : name.rindex("]")]


def map_change_communes(prepared: Prepared) -> list[str]:
    """Communes of the target map touched by the map change: merged parts or re-coded sources."""
    communes = prepared.communes
    touched: set[str] = set()
    if "parts" in communes:
        parts = communes["parts"].astype(str).str.split(r"[,;|\s]+", regex=True)
        touched |= set(communes.loc[parts.str.len() > 1, "commune_code"].astype(str))
    report = prepared.harmonisation
    if {"how", "target_code"} <= set(report.columns):
        moved = report[(report["how"].astype(str) != "same") & report["target_code"].notna()]
        touched |= set(moved["target_code"].astype(str))
    return sorted(touched)


def unchanged_map_estimate(
    prepared: Prepared, params: Params, outcome: str | None = None
) -> EffectEstimate | None:
    """The headline TWFE without communes touched by the map change (None if none was)."""
    touched = set(map_change_communes(prepared))
    if not touched:
        return None
    frame = fx.window_panel(prepared)
    rest = frame[~frame["commune_code"].astype(str).isin(touched)]
    estimate = twfe_panel(
        rest, params, _outcome(params, outcome), "twfe_commune_wave_unchanged_map"
    )
    return replace(
        estimate,
        notes=(*estimate.notes, f"{len(touched)} communes touched by the map change left out"),
    )


# -- functional form -------------------------------------------------------------------------


def functional_form(prepared: Prepared, params: Params) -> list[tuple[EffectEstimate, float]]:
    """Mean score and share satisfied: (commune-wave TWFE, event-study pre-trend p) for each."""
    out = []
    for outcome in FORM_OUTCOMES:
        if outcome not in prepared.panel:
            continue
        estimate = fx.twfe_communes(prepared, params, outcome)
        study = fx.event_study_estimate(prepared, params, outcome)
        out.append((estimate, float(study.diagnostics["pretrend_p_value"])))
    return out


def functional_form_reading(forms: list[tuple[EffectEstimate, float]], language: Language) -> str:
    """Do the two scales agree (sign and significance) and do both pass the pre-trend test?"""
    if len(forms) < 2:
        return t("robustness_page.form_missing", language)
    (a, pa), (b, pb) = forms[:2]
    alpha = 0.05
    same_sign = np.sign(a.estimate) == np.sign(b.estimate)
    same_verdict = (a.p_value < alpha) == (b.p_value < alpha)
    key = (
        "robustness_page.form_agree"
        if same_sign and same_verdict
        else "robustness_page.form_disagree"
    )
    return t(
        key,
        language,
        score=fx.format_effect(a.outcome, a.estimate, language),
        score_p=p_text(a.p_value, language),
        share=fx.format_effect(b.outcome, b.estimate, language),
        share_p=p_text(b.p_value, language),
        score_trend=p_text(pa, language),
        share_trend=p_text(pb, language),
    )


# -- multiple outcomes -----------------------------------------------------------------------


def outcome_family(prepared: Prepared) -> list[str]:
    """SIPAS factors, the model's own index and the administrative outcomes present."""
    panel = prepared.panel
    names = [c for c in panel.columns if c.startswith("factor_")]
    names += [c for c in ("model_index", *ADMIN_FAMILY) if c in panel]
    return [c for c in names if pd.to_numeric(panel[c], errors="coerce").notna().any()]


def boot_draws(params: Params) -> int:
    """Bootstrap draws for the multiple-testing step: ``inference.n_boot`` capped at MAX_BOOT."""
    return int(min(params.inference.n_boot, MAX_BOOT))


def demeaned_family(prepared: Prepared, outcomes: Sequence[str]) -> pd.DataFrame:
    """Commune-wave rows complete in every outcome, each column demeaned by commune and wave."""
    frame = fx.window_panel(prepared)
    cols = [*outcomes, "treated"]
    data = frame[["commune_code", "wave_index", *cols]].dropna().reset_index(drop=True)
    data[cols] = data[cols].astype(float)
    absorbed = absorb(data, cols, ["commune_code", "wave_index"])
    out = pd.DataFrame(absorbed.values, columns=list(absorbed.columns))
    out["commune_code"] = data.loc[absorbed.keep, "commune_code"].to_numpy()
    return out


def multiple_outcomes(prepared: Prepared, params: Params) -> pd.DataFrame:
    """Holm and Romano-Wolf adjusted p-values of the pilot effect across the outcome family.

    Unweighted TWFE on commune-wave rows complete in every outcome (one joint bootstrap needs
    one sample and one weighting). The estimate and CR1 t-statistic come from OLS on the
    demeaned data (equal to the TWFE coefficient by Frisch-Waugh-Lovell); p-values use t with
    G - 1 degrees of freedom; Romano-Wolf resamples communes of the demeaned data (the fixed
    effects are not re-estimated in each draw). ``attrs``: ``n_boot``, ``seed``, ``n_obs``,
    ``n_clusters``.
    """
    outcomes = outcome_family(prepared)
    if not outcomes:
        raise ValueError("the panel holds none of the factor_*, model_index or admin outcomes")
    data = demeaned_family(prepared, outcomes)
    n_boot, seed = boot_draws(params), params.inference.seed
    est, t_stats, t_boot = cluster_bootstrap_t(
        data, outcomes, "treated", "commune_code", n_boot, seed
    )
    n_clusters = int(data["commune_code"].nunique())
    df = n_clusters - 1
    p_values = 2 * stats.t.sf(np.abs(t_stats), df)
    frame = multiple_testing_frame(outcomes, est, t_stats, p_values, t_boot)
    se = np.abs(est / t_stats)
    crit = stats.t.ppf(1 - params.analysis.alpha / 2, df)
    frame["std_error"] = se
    frame["conf_low"] = est - crit * se
    frame["conf_high"] = est + crit * se
    frame.attrs.update(
        {"n_boot": n_boot, "seed": seed, "n_obs": int(len(data)), "n_clusters": n_clusters}
    )
    return frame


def multiple_outcomes_effects(frame: pd.DataFrame, n_treated_clusters: int) -> pd.DataFrame:
    """effects.csv rows: each outcome with its raw, Holm and Romano-Wolf p-values (3 rows)."""
    base = (
        f"unweighted TWFE by demeaning on the outcome family's common sample; CR1 by commune, "
        f"G = {frame.attrs['n_clusters']}, t with G-1 df"
    )
    kinds = (
        ("p_value", base),
        ("p_holm", f"{base}; Holm-adjusted across {len(frame)} outcomes"),
        (
            "p_romano_wolf",
            f"{base}; Romano-Wolf adjusted across {len(frame)} outcomes, pairs cluster "
            f"bootstrap B = {frame.attrs['n_boot']}, seed {frame.attrs['seed']}",
        ),
    )
    rows = []
    for r in frame.itertuples(index=False):
        for column, inference in kinds:
            rows.append(
                {
                    "outcome": r.outcome,
                    "estimand": "ATT",
                    "estimator": "twfe_commune_wave_unweighted_family",
                    "term": "treated",
                    "estimate": r.estimate,
                    "std_error": r.std_error,
                    "conf_low": r.conf_low,
                    "conf_high": r.conf_high,
                    "p_value": getattr(r, column),
                    "n_obs": frame.attrs["n_obs"],
                    "n_clusters": frame.attrs["n_clusters"],
                    "n_treated_clusters": n_treated_clusters,
                    "inference": inference,
                }
            )
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def multiple_outcomes_display(frame: pd.DataFrame, language: Language) -> pd.DataFrame:
    """The family table for reading."""
    return pd.DataFrame(
        {
            t("robustness_page.col_outcome", language): [
                outcome_name(o, language) for o in frame["outcome"]
            ],
            t("robustness_page.col_estimate", language): [
                fx.format_effect(o, v, language)
                for o, v in zip(frame["outcome"], frame["estimate"], strict=True)
            ],
            t("robustness_page.col_p", language): [
                format_p_value(p, language) for p in frame["p_value"]
            ],
            t("robustness_page.col_p_holm", language): [
                format_p_value(p, language) for p in frame["p_holm"]
            ],
            t("robustness_page.col_p_rw", language): [
                format_p_value(p, language) for p in frame["p_romano_wolf"]
            ],
        }
    )


# -- specification chart ---------------------------------------------------------------------


def headline_specifications(
    prepared: Prepared,
    params: Params,
    sensitivity_average: EffectEstimate,
    districts: Sequence[EffectEstimate],
    unchanged: EffectEstimate | None,
    weights: pd.DataFrame | None = None,
) -> list[tuple[dict[str, str], EffectEstimate]]:
    """Every specification of the headline effect: (choices, estimate), one per chart column.

    Choices use machine values (``estimator``, ``level``, ``weights``, ``sample``) translated
    by :func:`specification_frame`. ``weights`` is the comparison page's commune weights
    table (``tables/comparison_weights.csv``); without it the IPW row is left out.
    """
    outcome = params.analysis.headline_outcome
    panel = fx.window_panel(prepared)
    entries: list[tuple[dict[str, str], EffectEstimate]] = []
    if prepared.has_ballots and outcome in fx.BALLOT_LEVEL:
        entries.append(
            (
                {"estimator": "twfe", "level": "household", "weights": "none", "sample": "all"},
                fx.twfe_ballots(prepared, params, outcome),
            )
        )
    weighted = _ballot_weighted(outcome, panel)
    base_weights = "ballots" if weighted else "none"
    entries.append(
        (
            {
                "estimator": "twfe",
                "level": "commune_wave",
                "weights": base_weights,
                "sample": "all",
            },
            fx.twfe_communes(prepared, params, outcome),
        )
    )
    if weighted:
        entries.append(
            (
                {"estimator": "twfe", "level": "commune_wave", "weights": "none", "sample": "all"},
                twfe_panel(panel, params, outcome, "twfe_commune_wave_unweighted", weighted=False),
            )
        )
    if weights is not None:
        entries.append(
            (
                {
                    "estimator": "twfe",
                    "level": "commune_wave",
                    "weights": "ipw",
                    "sample": "overlap",
                },
                ipw_twfe(prepared, params, weights, outcome),
            )
        )
    entries.append(
        (
            {"estimator": "dr", "level": "commune_wave", "weights": base_weights, "sample": "all"},
            fx.doubly_robust(prepared, params, outcome)[0],
        )
    )
    entries.append(
        (
            {
                "estimator": "event",
                "level": "commune_wave",
                "weights": base_weights,
                "sample": "all",
            },
            sensitivity_average,
        )
    )
    for est in districts:
        entries.append(
            (
                {
                    "estimator": "twfe",
                    "level": "commune_wave",
                    "weights": base_weights,
                    "sample": f"without:{dropped_district(est)}",
                },
                est,
            )
        )
    if unchanged is not None:
        entries.append(
            (
                {
                    "estimator": "twfe",
                    "level": "commune_wave",
                    "weights": base_weights,
                    "sample": "unchanged_map",
                },
                unchanged,
            )
        )
    return entries


def _choice_text(key: str, value: str, language: Language) -> str:
    label = t(f"robustness_page.spec.{key}", language)
    if value.startswith("without:"):
        text = t("robustness_page.spec.without", language, district=value.split(":", 1)[1])
    else:
        text = t(f"robustness_page.spec.{key}_{value}", language)
    return f"{label}={text}"


def specification_frame(
    entries: Sequence[tuple[Mapping[str, str], EffectEstimate]], language: Language
) -> pd.DataFrame:
    """One row per specification for :func:`~evaluation.report.figures_robustness.specification_chart`."""
    rows = []
    for choices, est in entries:
        low, high = est.conf_int
        rows.append(
            {
                "specification": "; ".join(
                    _choice_text(k, v, language) for k, v in choices.items()
                ),
                "estimate": est.estimate,
                "conf_low": low,
                "conf_high": high,
                "p_value": est.p_value,
                "group": t(f"robustness_page.spec.estimator_{choices['estimator']}", language),
                "estimator": est.estimator,
                "outcome": est.outcome,
            }
        )
    return pd.DataFrame(rows, columns=SPECIFICATION_COLUMNS)


# -- display and readings --------------------------------------------------------------------


def _ci_text(outcome: str, low: float, high: float, language: Language) -> str:
    return (
        f"{fx.format_effect(outcome, low, language)} – {fx.format_effect(outcome, high, language)}"
    )


def checks_display(rows: Sequence[tuple[str, EffectEstimate]], language: Language) -> pd.DataFrame:
    """Several estimates with reader labels: check, outcome, effect, CI, p, pilots / communes."""
    out = []
    for label, est in rows:
        low, high = est.conf_int
        out.append(
            {
                t("robustness_page.col_check", language): label,
                t("robustness_page.col_outcome", language): outcome_name(est.outcome, language),
                t("robustness_page.col_estimate", language): fx.format_effect(
                    est.outcome, est.estimate, language
                ),
                t("robustness_page.col_ci", language): _ci_text(est.outcome, low, high, language),
                t("robustness_page.col_p", language): format_p_value(est.p_value, language),
                t(
                    "robustness_page.col_clusters", language
                ): f"{est.n_treated_clusters} / {est.n_clusters}",
            }
        )
    return pd.DataFrame(out)


def pretrend_reading(study: EffectEstimate, language: Language) -> str:
    p = float(study.diagnostics["pretrend_p_value"])
    return t(
        "robustness_page.pretrend_ok" if p >= 0.05 else "robustness_page.pretrend_bad",
        language,
        p=p_text(p, language),
        f=format_number(study.diagnostics["pretrend_wald"], language, 2),
        q=int(study.diagnostics["pretrend_df"]),
    )


def _bound_text(value: float, language: Language, decimals: int) -> str:
    return "∞" if not math.isfinite(value) else format_number(value, language, decimals)


def sensitivity_reading(sensitivity: Sensitivity, outcome: str, language: Language) -> str:
    """What the breakdown values mean, in words."""
    rm = sensitivity.breakdown_rm
    if rm == 0:
        key = "robustness_page.honest_zero"
    elif rm >= 1:
        key = "robustness_page.honest_strong"
    else:
        key = "robustness_page.honest_fragile"
    return t(
        key,
        language,
        theta=fx.format_effect(outcome, sensitivity.theta, language),
        mbar=_bound_text(rm, language, 2),
        m=(
            fx.format_effect(outcome, sensitivity.breakdown_sd, language)
            if math.isfinite(sensitivity.breakdown_sd)
            else "∞"
        ),
    )


def placebo_reading(placebo: EffectEstimate, language: Language) -> str:
    key = (
        "robustness_page.placebo_fake_ok"
        if placebo.p_value >= 0.05
        else "robustness_page.placebo_fake_bad"
    )
    return t(
        key,
        language,
        shift=int(placebo.diagnostics.get("fake_shift", FAKE_SHIFT)),
        effect=fx.format_effect(placebo.outcome, placebo.estimate, language),
        p=p_text(placebo.p_value, language),
    )


def placebo_outcome_reading(estimates: Sequence[EffectEstimate], language: Language) -> str:
    if not estimates:
        return t("robustness_page.placebo_outcome_missing", language)
    moved = [e for e in estimates if e.p_value < 0.05]
    parts = [
        t(
            "robustness_page.placebo_outcome_item",
            language,
            outcome=outcome_name(e.outcome, language),
            effect=fx.format_effect(e.outcome, e.estimate, language),
            p=p_text(e.p_value, language),
        )
        for e in estimates
    ]
    key = "robustness_page.placebo_outcome_bad" if moved else "robustness_page.placebo_outcome_ok"
    return t(key, language, items="; ".join(parts))


def districts_reading(
    base: EffectEstimate, districts: Sequence[EffectEstimate], language: Language
) -> str:
    values = [d.estimate for d in districts]
    lows = [d.conf_int[0] for d in districts]
    highs = [d.conf_int[1] for d in districts]
    all_clear = all(lo > 0 for lo in lows) or all(hi < 0 for hi in highs)
    return t(
        "robustness_page.districts_stable" if all_clear else "robustness_page.districts_fragile",
        language,
        n=len(districts),
        low=fx.format_effect(base.outcome, min(values), language),
        high=fx.format_effect(base.outcome, max(values), language),
        base=fx.format_effect(base.outcome, base.estimate, language),
    )


def map_reading(
    base: EffectEstimate, unchanged: EffectEstimate | None, n_touched: int, language: Language
) -> str:
    if unchanged is None:
        return t("robustness_page.map_none", language)
    return t(
        "robustness_page.map_result",
        language,
        n=n_touched,
        effect=fx.format_effect(base.outcome, unchanged.estimate, language),
        base=fx.format_effect(base.outcome, base.estimate, language),
        p=p_text(unchanged.p_value, language),
    )


def multiple_reading(frame: pd.DataFrame, alpha: float, language: Language) -> str:
    return t(
        "robustness_page.multiple_result",
        language,
        n=len(frame),
        raw=int((frame["p_value"] < alpha).sum()),
        holm=int((frame["p_holm"] < alpha).sum()),
        rw=int((frame["p_romano_wolf"] < alpha).sum()),
        boot=frame.attrs.get("n_boot", 0),
    )


def specification_reading(spec: pd.DataFrame, outcome: str, language: Language) -> str:
    clear = int(((spec["conf_low"] > 0) | (spec["conf_high"] < 0)).sum())
    same_sign = int((np.sign(spec["estimate"]) == np.sign(spec["estimate"].median())).sum())
    return t(
        "robustness_page.spec_result",
        language,
        n=len(spec),
        low=fx.format_effect(outcome, float(spec["estimate"].min()), language),
        high=fx.format_effect(outcome, float(spec["estimate"].max()), language),
        clear=clear,
        same_sign=same_sign,
    )


@dataclass(frozen=True)
class Checks:
    """The page's results gathered for the final reading and ``results.json``."""

    base: EffectEstimate
    study: EffectEstimate
    sensitivity: Sensitivity
    placebo: EffectEstimate
    placebo_outcomes: tuple[EffectEstimate, ...]
    districts: tuple[EffectEstimate, ...]
    unchanged: EffectEstimate | None
    family: pd.DataFrame
    specifications: pd.DataFrame


def verdict_key(checks: Checks) -> str:
    """``holds``, ``holds_with_caveats`` or ``fragile``: how the checks add up."""
    spec = checks.specifications
    clear_all = bool(((spec["conf_low"] > 0) | (spec["conf_high"] < 0)).all())
    same_sign = bool((np.sign(spec["estimate"]) == np.sign(checks.base.estimate)).all())
    warnings = [
        float(checks.study.diagnostics["pretrend_p_value"]) < 0.05,
        checks.placebo.p_value < 0.05,
        any(e.p_value < 0.05 for e in checks.placebo_outcomes),
        checks.sensitivity.breakdown_rm < 1,
    ]
    n_warnings = sum(warnings)
    if not same_sign or n_warnings >= 2:
        return "fragile"
    if not clear_all or n_warnings == 1:
        return "holds_with_caveats"
    return "holds"


def final_reading(checks: Checks, language: Language) -> str:
    """The plain-language reading of the whole page."""
    outcome = checks.base.outcome
    parts = [
        t(
            f"robustness_page.final_{verdict_key(checks)}",
            language,
            outcome=fx.outcome_label(outcome, language),
            effect=fx.format_effect(outcome, checks.base.estimate, language),
        ),
        pretrend_reading(checks.study, language),
        sensitivity_reading(checks.sensitivity, outcome, language),
        placebo_reading(checks.placebo, language),
        specification_reading(checks.specifications, outcome, language),
    ]
    return " ".join(parts)


def finding(checks: Checks, language: Language) -> str:
    spec = checks.specifications
    return t(
        f"robustness_page.finding_{verdict_key(checks)}",
        language,
        n=len(spec),
        low=fx.format_effect(checks.base.outcome, float(spec["estimate"].min()), language),
        high=fx.format_effect(checks.base.outcome, float(spec["estimate"].max()), language),
        mbar=_bound_text(checks.sensitivity.breakdown_rm, language, 2),
    )


def page_results(checks: Checks) -> dict:
    """The page's key numbers for ``results.json`` (JSON-serialisable)."""

    def finite(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    spec = checks.specifications
    return {
        "verdict": verdict_key(checks),
        "outcome": checks.base.outcome,
        "base_estimate": checks.base.estimate,
        "pretrend_p_value": float(checks.study.diagnostics["pretrend_p_value"]),
        "post_average": checks.sensitivity.theta,
        "breakdown_mbar": finite(checks.sensitivity.breakdown_rm),
        "breakdown_m": finite(checks.sensitivity.breakdown_sd),
        "placebo_fake_start": {
            "estimate": checks.placebo.estimate,
            "p_value": checks.placebo.p_value,
            "shift_quarters": int(checks.placebo.diagnostics.get("fake_shift", FAKE_SHIFT)),
        },
        "placebo_outcomes": {
            e.outcome: {"estimate": e.estimate, "p_value": e.p_value}
            for e in checks.placebo_outcomes
        },
        "leave_one_district_out": {dropped_district(e): e.estimate for e in checks.districts},
        "unchanged_map": None if checks.unchanged is None else checks.unchanged.estimate,
        "family": {
            r.outcome: {"p": r.p_value, "p_holm": r.p_holm, "p_romano_wolf": r.p_romano_wolf}
            for r in checks.family.itertuples(index=False)
        },
        "n_specifications": int(len(spec)),
        "specification_range": [float(spec["estimate"].min()), float(spec["estimate"].max())],
        "specifications_clear": int(((spec["conf_low"] > 0) | (spec["conf_high"] < 0)).sum()),
    }
