"""The "where it works" page (``05_where_it_works``): does the effect differ between communes?

Each function answers one question of the page with one or two library calls
(:mod:`evaluation.estimators.heterogeneity`) on the commune-wave panel of the comparison window
(:func:`evaluation.report.effects.window_panel`), where only the pilot communes are treated.

Moderators are commune characteristics measured **before** the pilot (baseline means over the
waves before it started): one-stop-shop staff per 1,000 households, share of condolence letters
sent on time, apology letters per 100 dossiers and baseline satisfaction; plus commune type and
district. Condolence and apology letters are part of the model itself, so their pilot-period
values are outcomes of the model: an interaction with them is shown for description only and is
never used to predict an effect elsewhere (a commune not yet under the model has no pilot-period
value, and the values a pilot reached are partly the effect itself).

With 14 pilot communes every moderator is estimated from 14 treated clusters; a category with
1-3 pilot communes is flagged "inference weak" by the library.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evaluation.config import Params
from evaluation.estimators.heterogeneity import (
    WEAK_TREATED_MAX,
    dose_response,
    effect_by_moderator,
)
from evaluation.estimators.result import EffectEstimate
from evaluation.i18n import Language, format_number, format_p_value, t
from evaluation.inference.multiple_testing import holm
from evaluation.inference.randomization import randomization_inference
from evaluation.inference.trust import flag_subgroups
from evaluation.prepare import Prepared
from evaluation.report.effects import (
    BALLOT_LEVEL,
    format_effect,
    outcome_label,
    twfe_communes,
    window_panel,
)
from evaluation.scaling.prediction import predict_effects

#: Fidelity measures of the model (commune-wave columns of the panel).
FIDELITY = ("one_stop_staff_per_1000", "pct_condolence_on_time", "apology_per_100_dossiers")
#: Fidelity measures that the model itself changes: their pilot-period values are outcomes.
MODEL_PRACTICES = ("pct_condolence_on_time", "apology_per_100_dossiers")
#: Categorical moderators.
CATEGORICAL = ("commune_type", "district_name")
#: Outcomes the commune predictions are written for (the scaling page needs both).
PREDICTION_OUTCOMES = ("satisfaction_index", "pct_satisfied")
#: Columns of ``tables/commune_predictions.csv``.
PREDICTION_COLUMNS = [
    "commune_code",
    "commune_name",
    "district_name",
    "commune_type",
    "pilot",
    "outcome",
    "model",
    "moderator",
    "moderator_value",
    "predicted_effect",
    "std_error",
    "conf_low",
    "conf_high",
    "extrapolated",
]


def _weights(outcome: str) -> str | None:
    # commune-wave means of ballot answers are weighted by ballots returned, as on page 03
    return "n_ballots" if outcome in BALLOT_LEVEL or outcome.startswith("factor_") else None


def commune_moderators(prepared: Prepared) -> pd.DataFrame:
    """One row per commune: type, district, baseline fidelity and satisfaction, pilot-period practice.

    ``baseline_<measure>`` is the commune's mean over the waves before the pilot started;
    ``pilot_period_<measure>`` (condolence and apology letters only) its mean over the window's
    waves from the pilot start on (an outcome of the model in pilot communes).
    """
    panel = prepared.panel.copy()
    panel["commune_code"] = panel["commune_code"].astype(str)
    pilot_wave = prepared.meta["pilot_wave"]
    info_cols = [
        c
        for c in ("full_name", "commune_name", "district_name", "commune_type", "pilot")
        if c in panel
    ]
    out = panel.groupby("commune_code")[info_cols].first()
    if "full_name" not in out and "commune_name" not in out:
        out["commune_name"] = out.index
    out["commune_name"] = out["full_name"] if "full_name" in out else out["commune_name"]
    out = out.drop(columns=[c for c in ("full_name",) if c in out])
    pre = panel[panel["wave_index"] < pilot_wave]
    post = prepared.in_window(panel)
    post = post[post["wave_index"] >= pilot_wave]
    for col in FIDELITY:
        if col in panel and panel[col].notna().any():
            out[f"baseline_{col}"] = pre.groupby("commune_code")[col].mean()
            if col in MODEL_PRACTICES:
                out[f"pilot_period_{col}"] = post.groupby("commune_code")[col].mean()
    base = prepared.baseline.copy()
    if "commune_code" in base and "baseline_index" in base:
        out["baseline_index"] = base.assign(
            commune_code=base["commune_code"].astype(str)
        ).set_index("commune_code")["baseline_index"]
    out["pilot"] = out["pilot"].astype(bool) if "pilot" in out else False
    return out.reset_index()


def moderator_panel(prepared: Prepared) -> pd.DataFrame:
    """The window's commune-wave panel with the commune moderators attached."""
    frame = window_panel(prepared)
    mods = commune_moderators(prepared)
    extra = [c for c in mods.columns if c not in frame.columns or c == "commune_code"]
    return frame.merge(mods[extra], on="commune_code", how="left")


def _varies_among_pilots(frame: pd.DataFrame, column: str) -> bool:
    pilots = frame.loc[frame["pilot"] > 0].groupby("commune_code")[column].first().dropna()
    return pilots.nunique() >= 2


def continuous_moderators(prepared: Prepared, frame: pd.DataFrame | None = None) -> list[str]:
    """Baseline moderators present and varying among pilot communes (usable for prediction)."""
    frame = moderator_panel(prepared) if frame is None else frame
    names = [f"baseline_{c}" for c in FIDELITY] + ["baseline_index"]
    return [c for c in names if c in frame and _varies_among_pilots(frame, c)]


def practice_moderators(prepared: Prepared, frame: pd.DataFrame | None = None) -> list[str]:
    """Pilot-period practice moderators (descriptive only: post-treatment)."""
    frame = moderator_panel(prepared) if frame is None else frame
    names = [f"pilot_period_{c}" for c in MODEL_PRACTICES]
    return [c for c in names if c in frame and _varies_among_pilots(frame, c)]


def categorical_moderators(prepared: Prepared, frame: pd.DataFrame | None = None) -> list[str]:
    """Commune type and district, when pilots fall in at least two categories."""
    frame = moderator_panel(prepared) if frame is None else frame
    return [c for c in CATEGORICAL if c in frame and _varies_among_pilots(frame, c)]


def moderator_estimate(
    frame: pd.DataFrame, params: Params, outcome: str, moderator: str
) -> EffectEstimate:
    """TWFE DiD with the treatment interacted with one commune moderator (commune-wave panel)."""
    return effect_by_moderator(
        frame,
        outcome,
        "treated",
        unit="commune_code",
        time="wave_index",
        moderator=moderator,
        cluster="commune_code",
        weights=_weights(outcome),
        alpha=params.analysis.alpha,
    )


def moderator_estimates(
    frame: pd.DataFrame, params: Params, outcome: str, moderators: Sequence[str]
) -> dict[str, EffectEstimate]:
    """One interaction model per moderator, keyed by moderator."""
    return {m: moderator_estimate(frame, params, outcome, m) for m in moderators}


def effects_rows(estimate: EffectEstimate, categories: pd.DataFrame | None = None) -> pd.DataFrame:
    """Tidy rows for ``tables/effects.csv``; the estimator names the moderator.

    Every continuous model has an ``effect`` term: without the moderator in the estimator name
    the rows of different moderators would replace one another in the effects table. With
    ``categories`` (:func:`category_table` of the same estimate) each category's row counts its
    own pilot communes, and a second row per category carries the randomisation-inference
    p-value (no interval: with 1-3 pilots none can be trusted).
    """
    tidy = estimate.tidy()
    tidy["estimator"] = f"twfe_by_{estimate.model.moderator}"
    if categories is None:
        return tidy
    tidy["n_treated_clusters"] = categories["n_treated_communes"].to_numpy()
    ri = tidy.copy()
    ri[["std_error", "conf_low", "conf_high"]] = np.nan
    ri["p_value"] = categories["ri_p_value"].to_numpy()
    ri["inference"] = (
        "randomisation inference on the CRV1 t statistic: the category's pilots re-assigned "
        f"among its communes (strata: {estimate.model.moderator})"
    )
    return pd.concat([tidy, ri], ignore_index=True)


def moderator_label(moderator: str, language: Language) -> str:
    """The reader's name of a moderator column."""
    try:
        return t(f"where_it_works.moderators.{moderator}", language)
    except KeyError:
        return moderator


def category_label(moderator: str, category: str, language: Language) -> str:
    """The reader's name of a category (commune types are translated; districts are names)."""
    if moderator == "commune_type":
        try:
            return t(f"where_it_works.commune_types.{category}", language)
        except KeyError:
            return category
    return category


def interaction_table(estimates: dict[str, EffectEstimate]) -> pd.DataFrame:
    """Tidy summary of continuous interaction models: the effect at the average pilot, the slope.

    Returns
    -------
    pandas.DataFrame
        ``moderator, outcome, effect, effect_low, effect_high, slope, slope_std_error, slope_low,
        slope_high, slope_p_value, slope_p_holm, centre, treated_min, treated_max,
        n_treated_communes``; Holm adjusts the slope p-values over the models given.
    """
    rows = []
    for moderator, est in estimates.items():
        fit = est.model
        slope = est.terms.iloc[1]
        rows.append(
            {
                "moderator": moderator,
                "outcome": est.outcome,
                "effect": est.estimate,
                "effect_low": est.conf_int[0],
                "effect_high": est.conf_int[1],
                "slope": float(slope["estimate"]),
                "slope_std_error": float(slope["std_error"]),
                "slope_low": float(slope["conf_low"]),
                "slope_high": float(slope["conf_high"]),
                "slope_p_value": float(slope["p_value"]),
                "centre": float(fit.centre),
                "treated_min": float(fit.treated_range[0]),
                "treated_max": float(fit.treated_range[1]),
                "n_treated_communes": int(est.n_treated_clusters),
            }
        )
    out = pd.DataFrame(rows)
    if len(out):
        out.insert(
            out.columns.get_loc("slope_p_value") + 1, "slope_p_holm", holm(out["slope_p_value"])
        )
    return out


def interaction_display(
    table: pd.DataFrame, language: Language, during_pilot: bool = False
) -> pd.DataFrame:
    """The interaction summary for reading (one row per moderator).

    ``during_pilot`` labels the first column as pilot-period values instead of baseline values.
    """
    col = lambda key: t(f"where_it_works.col_{key}", language)  # noqa: E731
    first = col("moderator_during" if during_pilot else "moderator")
    rows = []
    for r in table.itertuples():
        # slope per unit of moderator; a share moderator reads better per 10 percentage points
        per, unit_key = (0.1, "per_10_points") if "pct_" in r.moderator else (1.0, "per_unit")
        rows.append(
            {
                first: moderator_label(r.moderator, language),
                col("range"): f"{format_number(r.treated_min, language, 2)} – "
                f"{format_number(r.treated_max, language, 2)}",
                col("effect_centre"): format_effect(r.outcome, r.effect, language),
                col("slope"): f"{format_effect(r.outcome, per * r.slope, language)} "
                f"{t(f'where_it_works.{unit_key}', language)}",
                col("ci"): f"{format_effect(r.outcome, per * r.slope_low, language)} – "
                f"{format_effect(r.outcome, per * r.slope_high, language)}",
                col("p"): format_p_value(r.slope_p_value, language),
                col("p_holm"): format_p_value(r.slope_p_holm, language),
            }
        )
    return pd.DataFrame(rows)


def category_ri(frame: pd.DataFrame, params: Params, outcome: str, moderator: str) -> pd.DataFrame:
    """Randomisation-inference p-value of each category's effect (the only honest one with 1-3
    pilot communes).

    A category's pilots are compared with every non-pilot commune, and the test re-assigns which
    communes *of that category* were the pilots (as many as there were): a district's p-value
    asks how often its own communes, drawn at random, would look as good as its pilots did.
    Exact enumeration when the assignments fit ``inference.ri_draws``.
    """
    pilot = frame.groupby("commune_code")["treated"].transform("max") > 0
    groups = frame[moderator].astype("string")
    rows = []
    for category in sorted(groups[pilot].dropna().unique()):
        sample = frame[~pilot | (groups == category)]
        result = randomization_inference(
            sample,
            outcome,
            "treated",
            unit="commune_code",
            time="wave_index",
            cluster="commune_code",
            strata=moderator,
            weights=_weights(outcome),
            budget=params.inference.ri_draws,
            seed=params.inference.seed,
            alpha=params.analysis.alpha,
            confint=False,
        )
        rows.append(
            {
                "category": str(category),
                "ri_p_value": result.p_value,
                "ri_assignments": result.n_assignments,
                "ri_enumerated": result.enumerated,
            }
        )
    return pd.DataFrame(rows, columns=["category", "ri_p_value", "ri_assignments", "ri_enumerated"])


def category_table(estimate: EffectEstimate, frame: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Effect per category of a categorical moderator: pilots, weak flag, and the
    randomisation-inference p-value (:func:`category_ri`)."""
    fit = estimate.model
    terms = estimate.terms.reset_index(names="term")
    terms["category"] = [str(k) for k in fit.categories]
    terms["n_treated_communes"] = [fit.treated_per_category[k] for k in fit.categories]
    flagged = flag_subgroups(terms, "n_treated_communes", weak_max=WEAK_TREATED_MAX)
    terms["inference_weak"] = flagged["weak"].to_numpy()
    terms["show"] = flagged["show"].to_numpy()
    terms.insert(0, "moderator", fit.moderator)
    terms.insert(1, "outcome", estimate.outcome)
    ri = category_ri(frame, params, estimate.outcome, fit.moderator)
    terms = terms.merge(ri, on="category", how="left")
    return terms[
        [
            "moderator",
            "outcome",
            "category",
            "estimate",
            "std_error",
            "conf_low",
            "conf_high",
            "p_value",
            "ri_p_value",
            "n_treated_communes",
            "inference_weak",
            "show",
        ]
    ]


def category_display(table: pd.DataFrame, language: Language) -> pd.DataFrame:
    """Effects by category for reading. Weak categories (1-3 pilots) say so and show only the
    randomisation-inference p-value, not a confidence interval that cannot be trusted."""
    col = lambda key: t(f"where_it_works.col_{key}", language)  # noqa: E731
    weak = table["inference_weak"].astype(bool).to_numpy()
    return pd.DataFrame(
        {
            col("category"): [
                category_label(m, str(k), language)
                for m, k in zip(table["moderator"], table["category"], strict=True)
            ],
            col("effect"): [
                format_effect(o, v, language)
                for o, v in zip(table["outcome"], table["estimate"], strict=True)
            ],
            col("ci"): [
                "–" if w else f"{format_effect(o, lo, language)} – {format_effect(o, hi, language)}"
                for o, lo, hi, w in zip(
                    table["outcome"], table["conf_low"], table["conf_high"], weak, strict=True
                )
            ],
            col("ri_p"): [format_p_value(p, language) for p in table["ri_p_value"]],
            col("pilots"): table["n_treated_communes"].astype(int).astype(str).to_numpy(),
            col("strength"): [
                t("where_it_works.weak" if w else "where_it_works.usable", language) for w in weak
            ],
        }
    )


def dose_response_frame(
    frame: pd.DataFrame, params: Params, outcome: str, moderator: str, n_bins: int = 3
) -> pd.DataFrame:
    """Effect by third (``n_bins`` quantile bins over pilots) of a continuous moderator."""
    pilots = frame.loc[frame["treated"] > 0].groupby("commune_code")[moderator].first().nunique()
    return dose_response(
        frame,
        outcome,
        "treated",
        unit="commune_code",
        time="wave_index",
        moderator=moderator,
        cluster="commune_code",
        n_bins=int(min(n_bins, pilots)),
        weights=_weights(outcome),
        alpha=params.analysis.alpha,
    )


def choose_moderator(table: pd.DataFrame, alpha: float) -> str | None:
    """The pre-stated rule for the prediction model.

    Among the baseline moderators, the one whose interaction has the smallest Holm-adjusted
    p-value, if that is below ``alpha``; otherwise None (every commune gets the average effect).
    Holm pays for having looked at several moderators; with 14 pilots a looser rule would pick
    noise.
    """
    if table.empty:
        return None
    best = table.sort_values(["slope_p_holm", "slope_p_value"]).iloc[0]
    return str(best["moderator"]) if best["slope_p_holm"] < alpha else None


def prediction_outcomes(frame: pd.DataFrame, headline: str) -> list[str]:
    """The headline outcome and the outcomes the scaling page prices, those the data have."""
    wanted = dict.fromkeys([headline, *PREDICTION_OUTCOMES])
    return [o for o in wanted if o in frame]


def commune_predictions(
    prepared: Prepared,
    params: Params,
    moderator: str | None,
    outcomes: Sequence[str] = PREDICTION_OUTCOMES,
    frame: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Predicted effect with SE and interval for every commune, from the chosen model.

    With ``moderator`` the interaction model's prediction at the commune's baseline value
    (:func:`~evaluation.scaling.prediction.predict_effects`); with None the commune-wave TWFE
    average effect for every commune (page 03's ``twfe_commune_wave``).

    Returns
    -------
    pandas.DataFrame
        Long: one row per commune and outcome, columns :data:`PREDICTION_COLUMNS`.
    """
    frame = moderator_panel(prepared) if frame is None else frame
    communes = commune_moderators(prepared)
    parts = []
    for outcome in [o for o in outcomes if o in frame]:
        if moderator is None:
            est = twfe_communes(prepared, params, outcome)
            model = "average_effect"
        else:
            est = moderator_estimate(frame, params, outcome, moderator)
            model = f"twfe_by_{moderator}"
        usable = communes if moderator is None else communes.dropna(subset=[moderator])
        pred = predict_effects(
            est, usable, unit="commune_code", alpha=params.analysis.alpha, include_in_model=True
        )
        pred = pred.merge(
            usable[
                [
                    c
                    for c in (
                        "commune_code",
                        "commune_name",
                        "district_name",
                        "commune_type",
                        "pilot",
                    )
                    if c in usable
                ]
            ],
            on="commune_code",
            how="left",
        )
        pred["outcome"] = outcome
        pred["model"] = model
        pred["moderator"] = moderator if moderator else ""
        pred["moderator_value"] = pred[moderator] if moderator else np.nan
        parts.append(pred.reindex(columns=PREDICTION_COLUMNS))
    if not parts:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def prediction_summary(predictions: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Spread of the predicted effect over communes not in the pilot (min, median, max, extrapolated)."""
    rows = predictions[(predictions["outcome"] == outcome) & ~predictions["pilot"].astype(bool)]
    return pd.DataFrame(
        {
            "outcome": [outcome],
            "n_communes": [len(rows)],
            "min": [rows["predicted_effect"].min()],
            "median": [rows["predicted_effect"].median()],
            "max": [rows["predicted_effect"].max()],
            "n_extrapolated": [int(rows["extrapolated"].astype(bool).sum())],
            "n_interval_above_zero": [int((rows["conf_low"] > 0).sum())],
        }
    )


def reading(
    table: pd.DataFrame,
    categories: dict[str, pd.DataFrame],
    chosen: str | None,
    summary: pd.DataFrame,
    n_pilot: int,
    alpha: float,
    language: Language,
) -> str:
    """The plain reading: where the effect looks larger, how sure, and what the prediction uses."""
    parts = [t("where_it_works.reading_pilots", language, pilots=n_pilot)]
    if len(table):
        best = table.sort_values("slope_p_holm").iloc[0]
        key = "reading_clear" if best["slope_p_holm"] < alpha else "reading_unclear"
        direction = t(
            "where_it_works.larger" if best["slope"] > 0 else "where_it_works.smaller", language
        )
        parts.append(
            t(
                f"where_it_works.{key}",
                language,
                moderator=moderator_label(str(best["moderator"]), language),
                direction=direction,
                p=format_p_value(float(best["slope_p_value"]), language),
                p_holm=format_p_value(float(best["slope_p_holm"]), language),
                n=len(table),
            )
        )
    for moderator, cats in categories.items():
        ok = cats[~cats["inference_weak"]]
        weak = int(cats["inference_weak"].sum())
        parts.append(
            t(
                "where_it_works.reading_categories",
                language,
                moderator=moderator_label(moderator, language),
                n=len(cats),
                weak=weak,
                usable=len(ok),
            )
        )
    if len(summary):
        s = summary.iloc[0]
        outcome = str(s["outcome"])
        if chosen is None:
            parts.append(
                t(
                    "where_it_works.reading_prediction_average",
                    language,
                    effect=format_effect(outcome, float(s["median"]), language),
                )
            )
        else:
            parts.append(
                t(
                    "where_it_works.reading_prediction_model",
                    language,
                    moderator=moderator_label(chosen, language),
                    low=format_effect(outcome, float(s["min"]), language),
                    high=format_effect(outcome, float(s["max"]), language),
                    extrapolated=int(s["n_extrapolated"]),
                    n=int(s["n_communes"]),
                )
            )
    return " ".join(parts)


def finding(table: pd.DataFrame, n_pilot: int, alpha: float, language: Language) -> str:
    """One line for the run's index page."""
    if table.empty:
        return t("where_it_works.finding_none", language)
    best = table.sort_values("slope_p_holm").iloc[0]
    key = "finding_clear" if best["slope_p_holm"] < alpha else "finding_unclear"
    return t(
        f"where_it_works.{key}",
        language,
        moderator=moderator_label(str(best["moderator"]), language),
        direction=t(
            "where_it_works.larger" if best["slope"] > 0 else "where_it_works.smaller", language
        ),
        p_holm=format_p_value(float(best["slope_p_holm"]), language),
        pilots=n_pilot,
    )


def results_entry(
    table: pd.DataFrame,
    categories: dict[str, pd.DataFrame],
    chosen: str | None,
    summary: pd.DataFrame,
    n_pilot: int,
) -> dict:
    """Key numbers of the page for ``results.json`` (JSON-serialisable)."""
    return {
        "n_pilot": int(n_pilot),
        "chosen_moderator": chosen,
        "interactions": [
            {
                "moderator": r["moderator"],
                "outcome": r["outcome"],
                "slope": float(r["slope"]),
                "slope_low": float(r["slope_low"]),
                "slope_high": float(r["slope_high"]),
                "p_value": float(r["slope_p_value"]),
                "p_holm": float(r["slope_p_holm"]),
            }
            for _, r in table.iterrows()
        ],
        "categories": {
            m: [
                {
                    "category": str(r["category"]),
                    "estimate": float(r["estimate"]),
                    "conf_low": float(r["conf_low"]),
                    "conf_high": float(r["conf_high"]),
                    "n_pilots": int(r["n_treated_communes"]),
                    "weak": bool(r["inference_weak"]),
                }
                for _, r in cats.iterrows()
            ]
            for m, cats in categories.items()
        },
        "prediction": {
            k: (v.item() if hasattr(v, "item") else v)
            for k, v in (summary.iloc[0].to_dict() if len(summary) else {}).items()
        },
    }


def prediction_display(summary: pd.DataFrame, language: Language) -> pd.DataFrame:
    """The spread of predicted effects for reading (one row per outcome)."""
    col = lambda key: t(f"where_it_works.col_{key}", language)  # noqa: E731
    rows = []
    for r in summary.itertuples():
        rows.append(
            {
                col("outcome"): outcome_label(r.outcome, language),
                col("communes"): str(int(r.n_communes)),
                col("min"): format_effect(r.outcome, r.min, language),
                col("median"): format_effect(r.outcome, r.median, language),
                col("max"): format_effect(r.outcome, r.max, language),
                col("extrapolated"): str(int(r.n_extrapolated)),
                col("above_zero"): str(int(r.n_interval_above_zero)),
            }
        )
    return pd.DataFrame(rows)
