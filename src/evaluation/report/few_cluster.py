"""The "how sure are we" section of the effects page: few-treated-cluster inference side by side.

Every method is run on the headline regression (household ballots in the comparison window,
commune and wave effects, clustered by commune); the size of each method is then *measured on
this design* by simulation under a true null, and the headline interval shown to the board comes
from a method whose measured size lies in ``inference.size_band``.
"""

from __future__ import annotations

import pandas as pd

from evaluation.config import Params
from evaluation.estimators.result import TIDY_COLUMNS, EffectEstimate
from evaluation.i18n import Language, format_number, format_p_value, format_percent, t
from evaluation.inference.trust import (
    HeadlineVerdict,
    choose_headline,
    compare_methods,
    few_cluster_warnings,
    measure_size,
)
from evaluation.prepare import Prepared
from evaluation.report.effects import format_effect, window_ballots


def _design(prepared: Prepared, params: Params) -> tuple[pd.DataFrame, dict]:
    frame = window_ballots(prepared)
    weights = "weight" if params.analysis.weighting == "survey" else None
    strata = params.inference.strata if params.inference.strata in frame else None
    spec = {
        "outcome": params.analysis.headline_outcome,
        "treatment": "treated",
        "unit": "commune_code",
        "time": "wave_index",
        "cluster": "commune_code",
        "strata": strata,
        "weights": weights,
        "alpha": params.analysis.alpha,
    }
    return frame, spec


def method_comparison(prepared: Prepared, params: Params) -> pd.DataFrame:
    """Every method's estimate, interval and p-value for the headline effect."""
    frame, spec = _design(prepared, params)
    return compare_methods(
        frame,
        **spec,
        n_boot=params.inference.n_boot,
        ri_budget=params.inference.ri_draws,
        seed=params.inference.seed,
    )


def size_table(prepared: Prepared, params: Params) -> pd.DataFrame:
    """Each method's rejection rate at 5% under a true null, simulated on this design."""
    frame, spec = _design(prepared, params)
    return measure_size(
        frame, **spec, n_sims=params.inference.size_sims, seed=params.inference.seed
    )


def verdict(sizes: pd.DataFrame, params: Params) -> HeadlineVerdict:
    """Which method the board's interval comes from, and why."""
    return choose_headline(sizes, band=tuple(params.inference.size_band))


def method_label(method: str, language: Language) -> str:
    try:
        return t(f"inference.method.{method}", language)
    except KeyError:
        return method


def effect_rows(
    comparison: pd.DataFrame, estimate: EffectEstimate, verdict: HeadlineVerdict
) -> pd.DataFrame:
    """The comparison as ``tables/effects.csv`` rows, the board's method first."""
    order = [verdict.method] + [m for m in comparison["method"] if m != verdict.method]
    ordered = comparison.set_index("method").loc[order].reset_index()
    out = pd.DataFrame(
        {
            "outcome": estimate.outcome,
            "estimand": estimate.estimand,
            "estimator": estimate.estimator,
            "term": str(estimate.terms.index[0]),
            "estimate": ordered["estimate"],
            "std_error": ordered["std_error"],
            "conf_low": ordered["conf_low"],
            "conf_high": ordered["conf_high"],
            "p_value": ordered["p_value"],
            "n_obs": estimate.n_obs,
            "n_clusters": estimate.n_clusters,
            "n_treated_clusters": estimate.n_treated_clusters,
            "inference": ordered["label"],
        }
    )
    return out[TIDY_COLUMNS]


def comparison_display(
    comparison: pd.DataFrame, verdict: HeadlineVerdict, outcome: str, language: Language
) -> pd.DataFrame:
    """The methods side by side for reading, with each one's measured size and whether it is trusted."""
    rows = []
    for r in comparison.itertuples(index=False):
        rate = verdict.rates.get(r.method, float("nan"))
        rows.append(
            {
                t("few_cluster.col_method", language): method_label(r.method, language),
                t(
                    "few_cluster.col_ci", language
                ): f"{format_effect(outcome, r.conf_low, language)} – {format_effect(outcome, r.conf_high, language)}",
                t("few_cluster.col_p", language): format_p_value(r.p_value, language),
                t("few_cluster.col_size", language): format_percent(rate, language),
                t("few_cluster.col_trusted", language): t(
                    "few_cluster.board"
                    if r.method == verdict.method
                    else (
                        "few_cluster.passed"
                        if r.method in verdict.passed_methods
                        else "few_cluster.failed"
                    ),
                    language,
                ),
            }
        )
    return pd.DataFrame(rows)


def warnings(prepared: Prepared, params: Params) -> tuple[str, ...]:
    """Warnings the reader must see (treated clusters < 20, one cluster with > 20% of treated ballots)."""
    frame, spec = _design(prepared, params)
    return few_cluster_warnings(
        frame, "treated", "commune_code", weights=spec["weights"], language=params.language
    )


def reading(
    verdict: HeadlineVerdict, comparison: pd.DataFrame, sizes: pd.DataFrame, language: Language
) -> str:
    """Plain-language paragraph for board staff."""
    crv1 = sizes.loc[sizes["method"] == "crv1", "rejection_rate"]
    chosen = comparison.set_index("method").loc[verdict.method]
    return t(
        "few_cluster.reading",
        language,
        method=method_label(verdict.method, language),
        crv1_rate=format_percent(float(crv1.max()) if len(crv1) else float("nan"), language),
        rate=format_percent(verdict.worst_rate, language),
        p=format_p_value(float(chosen["p_value"]), language),
        n_sims=format_number(int(sizes["n_sims"].max()), language, 0),
        reason=verdict.explain(language),
    )
