"""The effects page (``03_effects``): every estimate of the pilot's effect, from the prepared data.

Each function answers one question of the page with one call and returns an
:class:`~evaluation.estimators.result.EffectEstimate`, a table or a figure. The comparison
window (``analysis.window_*``) keeps later adopters as not-yet-treated controls: inside it only
the pilot communes are ever treated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.config import Params
from evaluation.estimators.did_table import DidTable, did_2x2_table
from evaluation.estimators.doubly_robust import drdid, two_period_panel
from evaluation.estimators.event_study import event_study
from evaluation.estimators.ordinal import OrdinalDidResult, ordinal_did
from evaluation.estimators.result import EffectEstimate
from evaluation.estimators.twfe import twfe
from evaluation.i18n import NBSP, Language, format_number, format_p_value, format_percent, t
from evaluation.prepare import Prepared

BALLOT_LEVEL = ("satisfaction_index", "pct_satisfied", "pct_dissatisfied", "model_index")
PERCENT_OUTCOMES = (
    "pct_satisfied",
    "pct_dissatisfied",
    "coverage",
    "pct_dossiers_on_time",
    "pct_condolence_on_time",
    "respondent_female",  # a placebo outcome on page 04
)
#: Scores on the 1-5 ballot scale (with ``factor_*``): effects are in points.
SCORE_OUTCOMES = ("satisfaction_index", "model_index")
#: Counts per households or dossiers: effects are in the rate's own unit.
RATE_UNITS = {
    "complaints_per_1000": "units.per_1000_households",
    "apology_per_100_dossiers": "units.per_100_dossiers",
}


def outcome_label(outcome: str, language: Language) -> str:
    """The reader's name of an outcome column."""
    key = f"outcomes.{outcome}"
    try:
        return t(key, language)
    except KeyError:
        return outcome


def format_effect(outcome: str, value: float, language: Language) -> str:
    """An effect in the outcome's unit.

    Percentage points for shares, points for the 1-5 scores, the rate's own unit for counts per
    households or dossiers, and a bare number for any other outcome (a generic panel's).
    """
    if outcome in PERCENT_OUTCOMES:
        return f"{format_number(100 * value, language, 1)}{NBSP}{t('units.percentage_points', language)}"
    if outcome in RATE_UNITS:
        return f"{format_number(value, language, 2)}{NBSP}{t(RATE_UNITS[outcome], language)}"
    if outcome in SCORE_OUTCOMES or outcome.startswith("factor_"):
        return f"{format_number(value, language, 2)}{NBSP}{t('units.points', language)}"
    return format_number(value, language, 2)


def window_ballots(prepared: Prepared) -> pd.DataFrame:
    """Ballots inside the comparison window with ``post`` and ``pilot`` as 0/1 numbers."""
    frame = prepared.in_window(prepared.ballots).copy()
    return _flags(frame, prepared)


def window_panel(prepared: Prepared) -> pd.DataFrame:
    """Commune-wave rows inside the window, with ``post``, ``pilot`` and baseline covariates."""
    frame = prepared.in_window(prepared.panel).copy()
    frame = _flags(frame, prepared)
    base = prepared.baseline.set_index("commune_code")
    for col in ("baseline_index",):
        if col in base:
            frame[col] = frame["commune_code"].map(base[col])
    return frame


def _flags(frame: pd.DataFrame, prepared: Prepared) -> pd.DataFrame:
    frame["post"] = (frame["wave_index"] >= prepared.meta["pilot_wave"]).astype(float)
    frame["pilot"] = frame["pilot"].astype(float)
    frame["treated"] = frame["treated"].astype(float)
    frame["commune_code"] = frame["commune_code"].astype(str)
    return frame


def _weights(params: Params, level: str) -> str | None:
    if params.analysis.weighting == "survey" and level == "ballot":
        return "weight"
    if params.analysis.weighting == "nonresponse" and level == "ballot":
        return "nonresponse_weight"
    return "n_ballots" if level == "commune_wave" else None


def _with_nonresponse(frame: pd.DataFrame) -> pd.DataFrame:
    if "coverage" in frame:
        frame = frame.assign(nonresponse_weight=1.0 / frame["coverage"].clip(lower=0.05))
    return frame


def twfe_ballots(prepared: Prepared, params: Params, outcome: str) -> EffectEstimate:
    """Two-way fixed effects (commune, wave) on household ballots, clustered by commune."""
    frame = _with_nonresponse(window_ballots(prepared))
    return twfe(
        frame,
        outcome,
        "treated",
        unit="commune_code",
        time="wave_index",
        cluster="commune_code",
        weights=_weights(params, "ballot"),
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
        estimator="twfe_household",
    )


def twfe_communes(prepared: Prepared, params: Params, outcome: str) -> EffectEstimate:
    """Two-way fixed effects on commune-wave means, weighted by ballots returned."""
    frame = window_panel(prepared)
    weights = "n_ballots" if outcome in BALLOT_LEVEL or outcome.startswith("factor_") else None
    return twfe(
        frame,
        outcome,
        "treated",
        unit="commune_code",
        time="wave_index",
        cluster="commune_code",
        weights=weights,
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
        estimator="twfe_commune_wave",
    )


def did_table(prepared: Prepared, params: Params, outcome: str) -> DidTable:
    """The 2x2 table: pilot / non-pilot x before / after, first differences and the DiD."""
    frame = _with_nonresponse(window_ballots(prepared))
    return did_2x2_table(
        frame,
        outcome,
        pilot="pilot",
        post="post",
        cluster="commune_code",
        weights=_weights(params, "ballot"),
        alpha=params.analysis.alpha,
    )


def did_table_display(table: DidTable, outcome: str, language: Language) -> pd.DataFrame:
    """The 2x2 table laid out for reading: rows pilot / non-pilot / difference, columns before / after / change."""
    rows = table.table
    fmt = (
        (lambda v: format_number(100 * v, language, 1))
        if outcome in PERCENT_OUTCOMES
        else (lambda v: format_number(v, language, 3))
    )

    def cell(quantity: str, group: str, period: str) -> str:
        hit = rows[
            (rows["quantity"] == quantity) & (rows["group"] == group) & (rows["period"] == period)
        ]
        if hit.empty:
            return ""
        r = hit.iloc[0]
        return f"{fmt(r['estimate'])} ({fmt(r['std_error'])})"

    groups = sorted(set(rows["group"]) - {"difference"})
    out = []
    for group in ["pilot", "comparison"]:
        if group not in groups:
            continue
        out.append(
            {
                "": t(f"effects_page.group_{group}", language),
                t("effects_page.before", language): cell("mean", group, "before"),
                t("effects_page.after", language): cell("mean", group, "after"),
                t("effects_page.change", language): cell("first_difference", group, "change"),
            }
        )
    did = rows[rows["quantity"] == "difference_in_differences"].iloc[0]
    out.append(
        {
            "": t("effects_page.did_row", language),
            t("effects_page.before", language): "",
            t("effects_page.after", language): "",
            t("effects_page.change", language): f"{fmt(did['estimate'])} ({fmt(did['std_error'])})",
        }
    )
    return pd.DataFrame(out)


def event_study_estimate(prepared: Prepared, params: Params, outcome: str) -> EffectEstimate:
    """Leads and lags around the pilot start (commune-wave means weighted by ballots)."""
    frame = window_panel(prepared)
    frame["first_treated_window"] = np.where(
        frame["pilot"] > 0, prepared.meta["pilot_wave"], np.nan
    )
    return event_study(
        frame,
        outcome,
        unit="commune_code",
        time="wave_index",
        first_treated="first_treated_window",
        cluster="commune_code",
        weights="n_ballots",
        leads=params.analysis.event_leads,
        lags=params.analysis.event_lags,
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
    )


def doubly_robust(prepared: Prepared, params: Params, outcome: str) -> list[EffectEstimate]:
    """Sant'Anna-Zhao DiD with baseline commune covariates: doubly robust, IPW, outcome regression."""
    frame = window_panel(prepared)
    covariates = [
        c for c in params.analysis.baseline_covariates if c in frame and frame[c].notna().any()
    ]
    pilot_wave = prepared.meta["pilot_wave"]
    waves = sorted(frame["wave_index"].unique())
    two = two_period_panel(
        frame,
        outcome,
        unit="commune_code",
        time="wave_index",
        pilot="pilot",
        pre_periods=[w for w in waves if w < pilot_wave],
        post_periods=[w for w in waves if w >= pilot_wave],
        covariates=covariates,
        weights="n_ballots",
    )
    out = []
    for method in ("dr", "ipw", "reg"):
        out.append(
            drdid(
                two,
                outcome,
                unit="commune_code",
                post="post",
                pilot="pilot",
                covariates=covariates,
                method=method,
                panel=True,
                alpha=params.analysis.alpha,
            )
        )
    return out


def likert_shift(prepared: Prepared, params: Params) -> OrdinalDidResult:
    """Ordered-logit DiD of one ballot question: how the probability of each answer moved."""
    frame = window_ballots(prepared)
    item = params.analysis.likert_item
    if item not in frame:
        raise ValueError(
            f"analysis.likert_item {item!r} is not a ballot item; choose one of {params.ballot.items}"
        )
    return ordinal_did(
        frame.dropna(subset=[item]).astype({item: int}),
        item,
        pilot="pilot",
        post="post",
        unit="commune_code",
        cluster="commune_code",
        weights=_weights(params, "ballot") if params.analysis.weighting == "survey" else None,
        alpha=params.analysis.alpha,
    )


def item_label(params: Params, item: str, language: Language) -> str:
    """The reader's wording of a ballot question (from params ballot.item_labels)."""
    return params.ballot.item_labels.get(item, {}).get(language, item)


_INFERENCE_KINDS = (
    # Most specific first: the randomisation label mentions CRV1, the bootstrap labels Webb.
    ("randomisation", "ri"),
    ("wcr-rademacher", "wcr_rademacher"),
    ("wild cluster restricted bootstrap, rademacher", "wcr_rademacher"),
    ("wcr-webb", "wcr_webb"),
    ("wild cluster restricted bootstrap, webb", "wcr_webb"),
    ("wcu-rademacher", "wcu_rademacher"),
    ("wcu-webb", "wcu_webb"),
    ("welch", "aggregated"),
    ("cr2", "cr2"),
    ("cv3", "cv3"),
    ("uniform band", "uniform_band"),
    ("influence function", "influence_function"),
    ("crv1", "crv1"),
)


def inference_label(inference: str, language: Language) -> str:
    """A short name of an inference method in the reader's language (full text stays in effects.csv)."""
    for prefix, key in _INFERENCE_KINDS:
        if prefix.lower() in str(inference).lower():
            return t(f"inference_kinds.{key}", language)
    return str(inference)


def estimates_table(estimates: list[EffectEstimate], language: Language) -> pd.DataFrame:
    """Several estimates as one readable table (outcome, method, estimate, CI, p, clusters)."""
    rows = []
    for est in estimates:
        low, high = est.conf_int
        rows.append(
            {
                t("effects_page.col_outcome", language): outcome_label(est.outcome, language),
                t("effects_page.col_estimator", language): estimator_label(est.estimator, language),
                t("effects_page.col_estimate", language): format_effect(
                    est.outcome, est.estimate, language
                ),
                t(
                    "effects_page.col_ci", language
                ): f"{format_effect(est.outcome, low, language)} – {format_effect(est.outcome, high, language)}",
                t("effects_page.col_p", language): format_p_value(est.p_value, language),
                t(
                    "effects_page.col_clusters", language
                ): f"{est.n_treated_clusters} / {est.n_clusters}",
            }
        )
    return pd.DataFrame(rows)


def inference_table(rows: pd.DataFrame, language: Language) -> pd.DataFrame:
    """Tidy rows of one estimate under several inference methods, for reading."""
    out = pd.DataFrame(
        {
            t("effects_page.col_inference", language): [
                inference_label(i, language) for i in rows["inference"]
            ],
            t("effects_page.col_estimate", language): [
                format_effect(o, v, language)
                for o, v in zip(rows["outcome"], rows["estimate"], strict=True)
            ],
            t("effects_page.col_ci", language): [
                f"{format_effect(o, lo, language)} – {format_effect(o, hi, language)}"
                for o, lo, hi in zip(
                    rows["outcome"], rows["conf_low"], rows["conf_high"], strict=True
                )
            ],
            t("effects_page.col_p", language): [
                format_p_value(p, language) for p in rows["p_value"]
            ],
        }
    )
    return out


def covariate_label(name: str, language: Language) -> str:
    """The reader's name of a baseline covariate (its column name when none is written)."""
    try:
        return t(f"covariates.{name}", language)
    except KeyError:
        return name


def estimator_label(estimator: str, language: Language) -> str:
    """The reader's name of an estimator (its machine name when none is written)."""
    try:
        return t(f"estimators.{estimator}", language)
    except KeyError:
        return estimator


def headline_summary(
    estimate: EffectEstimate, few_cluster: pd.DataFrame, prepared: Prepared, language: Language
) -> dict:
    """The numbers and sentences the summary page and the index show (one language)."""
    label = outcome_label(estimate.outcome, language)
    trusted = few_cluster.iloc[0] if len(few_cluster) else None
    low, high = (
        (trusted["conf_low"], trusted["conf_high"]) if trusted is not None else estimate.conf_int
    )
    p = float(trusted["p_value"]) if trusted is not None else estimate.p_value
    sentence = t(
        "effects_page.headline_sentence",
        language,
        outcome=label,
        effect=format_effect(estimate.outcome, estimate.estimate, language),
        low=format_effect(estimate.outcome, low, language),
        high=format_effect(estimate.outcome, high, language),
        p=format_p_value(p, language),
        method=inference_label(
            trusted["inference"] if trusted is not None else estimate.inference, language
        ),
        pilots=estimate.n_treated_clusters,
        communes=estimate.n_clusters,
    )
    return {"sentence": sentence, "outcome_label": label}


def percent(value: float, language: Language) -> str:
    return format_percent(value, language)
