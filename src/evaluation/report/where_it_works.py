"""The "where it works" page (``05_where_it_works``): wording, tables and figures.

The statistics live in :mod:`evaluation.analysis.where_it_works`; this module only turns its
results into the reader's tables, figure titles and sentences. Figure titles and the reading
come from the same result object as the tables (:meth:`InteractionResult.direction`), so a
title can never say "no clear difference" beside a table whose test says otherwise.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.analysis.base import NotApplicable, applies
from evaluation.analysis.where_it_works import (  # noqa: F401  (re-exported for page 06)
    PREDICTION_COLUMNS,
    GroupResult,
    InteractionResult,
    PredictionResult,
    WhereItWorks,
    commune_predictions,
    prediction_outcomes,
)
from evaluation.config import Params
from evaluation.i18n import Language, format_number, format_p_value, format_percent, t
from evaluation.report.effects import format_effect, outcome_label
from evaluation.report.style import COMPARISON_COLOUR, PILOT_COLOUR, new_figure, percent_axis
from evaluation.report.wording import noun_values as nouns
from evaluation.report.wording import unit_noun

_RI_INFERENCE = "randomisation inference on the CRV1 t statistic"
#: Characters per figure title line.
TITLE_WIDTH = 62


def _w(key: str, language: Language, **values: object) -> str:
    return t(f"where_it_works.{key}", language, **values)


def level_label(alpha: float, language: Language) -> str:
    """``95%`` for ``alpha = 0.05``: the confidence level every interval label uses."""
    return format_percent(1 - alpha, language, 0)


def moderator_label(moderator: str, language: Language) -> str:
    """The reader's name of a moderator column (a panel's ``baseline_<outcome>`` included)."""
    try:
        return _w(f"moderators.{moderator}", language)
    except KeyError:
        pass
    if moderator.startswith("baseline_"):
        outcome = moderator.removeprefix("baseline_")
        return _w("moderators.baseline_level", language, outcome=outcome_label(outcome, language))
    return moderator


def group_label(moderator: str, params: Params, language: Language) -> str:
    """Name of a group moderator: commune type, district, or the panel's strata column."""
    if moderator == "district_name" and params.data.source == "panel":
        spec = params.data.panel
        return _w("strata_label", language, column=spec.strata if spec else "")
    return moderator_label(moderator, language)


def category_label(moderator: str, category: str, language: Language) -> str:
    """The reader's name of a category (commune types are translated; districts are names)."""
    if moderator == "commune_type":
        try:
            return _w(f"commune_types.{category}", language)
        except KeyError:
            return category
    return category


def _effect(outcome: str, value: float, language: Language) -> str:
    return format_effect(outcome, value, language) if np.isfinite(value) else "–"


def _interval(outcome: str, low: float, high: float, language: Language) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "–"
    return f"{format_effect(outcome, low, language)} – {format_effect(outcome, high, language)}"


def _p(value: float, language: Language) -> str:
    return format_p_value(value, language) if np.isfinite(value) else "–"


# -- sentences about what is missing and what is trusted -------------------------------------


def skipped_sentences(result: InteractionResult | GroupResult, language: Language) -> list[str]:
    """One sentence per family of values the data cannot offer."""
    return [na.message(language) for na in result.skipped]


def interaction_trust(result: InteractionResult, language: Language) -> str:
    """One sentence: which intervals passed the size check on this design, and what is shown."""
    table = result.table
    band = (
        format_percent(result.size_band[0], language, 0),
        format_percent(result.size_band[1], language, 0),
    )
    values = {
        "alpha": format_percent(result.alpha, language, 0),
        "low": band[0],
        "high": band[1],
        "sims": result.n_sims,
    }
    checked = int(table["size_checked"].sum())
    if checked == len(table):
        return _w("trust_all", language, **values)
    worst = table.loc[~table["size_checked"].astype(bool), "slope_size"].dropna()
    rate = format_percent(float(worst.max()), language, 0) if len(worst) else "–"
    key = "trust_none" if checked == 0 else "trust_some"
    return _w(key, language, rate=rate, n=checked, total=len(table), **values)


def group_trust(result: GroupResult, language: Language) -> str:
    """One sentence: which group intervals passed the size check, and why the others are withheld."""
    table = result.combined
    values = {
        "alpha": format_percent(result.alpha, language, 0),
        "low": format_percent(result.size_band[0], language, 0),
        "high": format_percent(result.size_band[1], language, 0),
        "sims": result.n_sims,
        "checked": int(table["size_checked"].sum()),
        "total": len(table),
        "weak": int(table["inference_weak"].sum()),
    }
    return _w("group_trust", language, **values)


# -- tables ----------------------------------------------------------------------------------


def interaction_display(
    result: InteractionResult, language: Language, during_pilot: bool = False
) -> pd.DataFrame:
    """The interaction summary for reading (one row per moderator).

    The interval and the CRV1 p-value are shown only where their test's size was measured in
    the band; the permutation p-value is always shown, and the Holm-adjusted p-value adjusts
    the test shown.
    """
    col = lambda key, **v: _w(f"col_{key}", language, **v)  # noqa: E731
    first = col("moderator_during" if during_pilot else "moderator")
    level = level_label(result.alpha, language)
    rows = []
    for r in result.table.itertuples():
        # slope per unit of moderator; a share moderator reads better per 10 percentage points
        per, unit_key = (0.1, "per_10_points") if "pct_" in r.moderator else (1.0, "per_unit")
        rows.append(
            {
                first: moderator_label(r.moderator, language),
                col("range"): f"{format_number(r.treated_min, language, 2)} – "
                f"{format_number(r.treated_max, language, 2)}",
                col("effect_centre"): _effect(r.outcome, r.effect, language),
                col("slope"): f"{_effect(r.outcome, per * r.slope, language)} "
                f"{_w(unit_key, language)}",
                col("ci", level=level): _interval(
                    r.outcome, per * r.slope_low, per * r.slope_high, language
                ),
                col("p"): _p(r.slope_p_value, language),
                col("ri_p"): _p(r.slope_ri_p_value, language),
                col("size"): format_percent(r.slope_size, language, 0)
                if np.isfinite(r.slope_size)
                else "–",
                col("p_holm"): _p(r.slope_p_holm, language),
            }
        )
    return pd.DataFrame(rows)


def category_display(table: pd.DataFrame, params: Params, language: Language) -> pd.DataFrame:
    """Effects by group for reading. The interval appears only where its method's size was
    measured in the band on the group's design; weak groups (1-3 pilots) show only the
    permutation p-value."""
    col = lambda key, **v: _w(f"col_{key}", language, **v)  # noqa: E731
    level = level_label(params.analysis.alpha, language)
    noun = nouns(params, language)
    return pd.DataFrame(
        {
            col("category"): [
                category_label(m, str(k), language)
                for m, k in zip(table["moderator"], table["category"], strict=True)
            ],
            col("effect"): [
                _effect(o, v, language)
                for o, v in zip(table["outcome"], table["estimate"], strict=True)
            ],
            col("ci", level=level): [
                _interval(o, lo, hi, language)
                for o, lo, hi in zip(
                    table["outcome"], table["conf_low"], table["conf_high"], strict=True
                )
            ],
            col("ri_p"): [_p(p, language) for p in table["ri_p_value"]],
            col("pilots", treated=noun["treated"]): table["n_treated_communes"]
            .astype(int)
            .astype(str)
            .to_numpy(),
            col("strength"): [
                _w("weak", language) if w else _w("checked" if c else "unchecked", language)
                for w, c in zip(table["inference_weak"], table["size_checked"], strict=True)
            ],
        }
    )


def prediction_display(summary: pd.DataFrame, params: Params, language: Language) -> pd.DataFrame:
    """The spread of predicted effects for reading (one row per outcome)."""
    col = lambda key, **v: _w(f"col_{key}", language, **v)  # noqa: E731
    rows = []
    for r in summary.itertuples():
        rows.append(
            {
                col("outcome"): outcome_label(r.outcome, language),
                col("communes", units=unit_noun(params, language)): str(int(r.n_communes)),
                col("min"): _effect(r.outcome, r.min, language),
                col("median"): _effect(r.outcome, r.median, language),
                col("max"): _effect(r.outcome, r.max, language),
                col("extrapolated"): str(int(r.n_extrapolated)),
            }
        )
    return pd.DataFrame(rows)


# -- figure ----------------------------------------------------------------------------------


def dose_title(result: InteractionResult, moderator: str, language: Language) -> str:
    """The dose figure's title, from the moderator's own test in ``result`` (as the table)."""
    row = result.row(moderator)
    return _w(
        f"dose_title_{result.direction(moderator)}",
        language,
        moderator=moderator_label(moderator, language),
        p_holm=_p(float(row["slope_p_holm"]), language),
    )


def dose_figure(result: InteractionResult, moderator: str, language: Language) -> Figure:
    """Effect in each third of the treated units by ``moderator``.

    A bar shows a third's interval only where its size was checked on these data; hollow points
    rest on 1-3 treated units. The title is the moderator's own test in the same result.
    """
    dose = result.dose[result.dose["moderator"] == moderator].sort_values("moderator_median")
    label = moderator_label(moderator, language)
    fig, ax = new_figure(9, 5.5)
    x = dose["moderator_median"].to_numpy(float)
    y = dose["estimate"].to_numpy(float)
    checked = dose["size_checked"].to_numpy(bool)
    if checked.any():
        low = dose["conf_low"].to_numpy(float)[checked]
        high = dose["conf_high"].to_numpy(float)[checked]
        err = np.vstack([y[checked] - low, high - y[checked]])
        ax.errorbar(
            x[checked],
            y[checked],
            yerr=err,
            fmt="none",
            ecolor=PILOT_COLOUR,
            elinewidth=2.5,
            capsize=6,
        )
    weak = dose["inference_weak"].to_numpy(bool)
    ax.scatter(x[~weak], y[~weak], s=120, color=PILOT_COLOUR, zorder=3)
    ax.scatter(x[weak], y[weak], s=120, facecolor="white", edgecolor=PILOT_COLOUR, lw=2.5, zorder=3)
    for xi, yi, n, p in zip(x, y, dose["n_treated_communes"], dose["ri_p_value"], strict=True):
        p_text = _p(float(p), language)
        text = f"n = {int(n)}, p " + (p_text if p_text.startswith("<") else f"= {p_text}")
        ax.annotate(text, (xi, yi), xytext=(10, 8), textcoords="offset points", fontsize=12)
    ax.axhline(0, color=COMPARISON_COLOUR, lw=1.5, ls="--")
    if "pct_" in moderator:  # a share: read as 36%, not 0,36 (as precise as the ticks need)
        percent_axis(ax, language, "x")
    ax.set_xlabel(label)
    ax.set_ylabel(_w("dose_y_label", language, outcome=outcome_label(result.outcome, language)))
    ax.set_title(textwrap.fill(dose_title(result, moderator, language), TITLE_WIDTH), loc="left")
    return fig


def dose_alt(result: InteractionResult, moderator: str, language: Language) -> str:
    """Alternative text of the dose figure."""
    return _w(
        "dose_alt",
        language,
        outcome=outcome_label(result.outcome, language),
        moderator=moderator_label(moderator, language),
        title=dose_title(result, moderator, language),
    )


# -- effects rows ----------------------------------------------------------------------------


def interaction_effects_rows(result: InteractionResult) -> pd.DataFrame:
    """Rows for ``tables/effects.csv``: each model's effect at the centre (no interval: not
    size-checked) and slope (interval only when size-checked), plus the slope's permutation
    p-value. ``size_checked`` is True exactly for the rows that carry an interval."""
    parts = []
    for moderator, est in result.estimates.items():
        row = result.row(moderator)
        tidy = est.tidy()
        tidy["estimator"] = f"twfe_by_{moderator}"
        tidy[["std_error", "conf_low", "conf_high", "p_value"]] = tidy[
            ["std_error", "conf_low", "conf_high", "p_value"]
        ].astype(float)
        tidy.loc[0, ["conf_low", "conf_high"]] = np.nan
        tidy.loc[1, "conf_low"] = row["slope_low"]
        tidy.loc[1, "conf_high"] = row["slope_high"]
        tidy.loc[1, "p_value"] = row["slope_p_value"]
        tidy["size_checked"] = [None, True if row["size_checked"] else None]
        tidy["size_rate"] = [np.nan, row["slope_size"]]
        ri = tidy.iloc[[1]].copy()
        ri[["std_error", "conf_low", "conf_high"]] = np.nan
        ri["p_value"] = row["slope_ri_p_value"]
        ri["size_checked"] = None
        ri["size_rate"] = np.nan
        ri["inference"] = (
            f"{_RI_INFERENCE}: the average effect removed, treated units re-assigned "
            f"({result.n_sims} draws)"
        )
        parts += [tidy, ri]
    return pd.concat(parts, ignore_index=True)


def group_effects_rows(result: GroupResult) -> pd.DataFrame:
    """Rows for ``tables/effects.csv``: each group's effect (CRV1 interval only when
    size-checked) and its permutation p-value."""
    rows = []
    for table in result.tables.values():
        for r in table.itertuples():
            base = {
                "outcome": r.outcome,
                "estimand": "ATT by moderator",
                "estimator": f"twfe_by_{r.moderator}",
                "term": f"effect[{r.category}]",
                "estimate": r.estimate,
                "n_obs": r.n_obs,
                "n_clusters": r.n_clusters,
                "n_treated_clusters": r.n_treated_communes,
            }
            rows.append(
                {
                    **base,
                    "std_error": r.std_error,
                    "conf_low": r.conf_low,
                    "conf_high": r.conf_high,
                    "p_value": r.p_value,
                    "inference": "CRV1, t(G-1); group's treated units vs all never-treated units",
                    "size_checked": True if r.size_checked else None,
                    "size_rate": r.size_rate,
                }
            )
            rows.append(
                {
                    **base,
                    "std_error": np.nan,
                    "conf_low": np.nan,
                    "conf_high": np.nan,
                    "p_value": r.ri_p_value,
                    "inference": f"{_RI_INFERENCE}: the group's treated units re-assigned "
                    f"among its units (strata: {r.moderator})",
                    "size_checked": None,
                }
            )
    return pd.DataFrame(rows)


# -- the reading -----------------------------------------------------------------------------


def _direction_word(result: InteractionResult, moderator: str, language: Language) -> str:
    slope = float(result.row(moderator)["slope"])
    return _w("larger" if slope > 0 else "smaller", language)


def reading(result: WhereItWorks, params: Params, language: Language) -> str:
    """The plain reading: where the effect looks larger, how sure, and what the prediction uses."""
    noun = nouns(params, language)
    parts = [_w("reading_pilots", language, pilots=result.n_treated, **noun)]
    base = result.baseline
    if applies(base) and len(base.table):
        best = base.strongest()
        moderator = str(best["moderator"])
        key = "reading_clear" if base.direction(moderator) != "unclear" else "reading_unclear"
        parts.append(
            _w(
                key,
                language,
                moderator=moderator_label(moderator, language),
                direction=_direction_word(base, moderator, language),
                p=_p(float(best["test_p_value"]), language),
                p_holm=_p(float(best["slope_p_holm"]), language),
                n=len(base.table),
            )
        )
    groups = result.groups
    if applies(groups):
        for moderator, cats in groups.tables.items():
            parts.append(
                _w(
                    "reading_categories",
                    language,
                    moderator=group_label(moderator, params, language),
                    n=len(cats),
                    weak=int(cats["inference_weak"].sum()),
                    usable=int(cats["size_checked"].sum()),
                    **noun,
                )
            )
    pred = result.prediction
    if applies(pred):
        s = pred.summary[pred.summary["outcome"] == pred.outcome]
        if len(s):
            s = s.iloc[0]
            if pred.chosen is None:
                parts.append(
                    _w(
                        "reading_prediction_average",
                        language,
                        effect=_effect(pred.outcome, float(s["median"]), language),
                        **noun,
                    )
                )
            else:
                parts.append(
                    _w(
                        "reading_prediction_model",
                        language,
                        moderator=moderator_label(pred.chosen, language),
                        low=_effect(pred.outcome, float(s["min"]), language),
                        high=_effect(pred.outcome, float(s["max"]), language),
                        extrapolated=int(s["n_extrapolated"]),
                        n=int(s["n_communes"]),
                        **noun,
                    )
                )
    return " ".join(parts)


def finding(result: WhereItWorks, params: Params, language: Language) -> str:
    """One line for the run's index page."""
    base = result.baseline
    if not applies(base) or base.table.empty:
        return _w("finding_none", language)
    best = base.strongest()
    moderator = str(best["moderator"])
    key = "finding_clear" if base.direction(moderator) != "unclear" else "finding_unclear"
    return _w(
        key,
        language,
        moderator=moderator_label(moderator, language),
        direction=_direction_word(base, moderator, language),
        p_holm=_p(float(best["slope_p_holm"]), language),
        pilots=result.n_treated,
        **nouns(params, language),
    )


def _number(value: object) -> float | None:
    value = float(value)  # type: ignore[arg-type]
    return value if np.isfinite(value) else None


def results_entry(result: WhereItWorks) -> dict:
    """Key numbers of the page for ``results.json`` (JSON-serialisable; a section that does
    not apply is null with its reason under ``<section>_reason``)."""
    out: dict = {"n_pilot": int(result.n_treated)}
    base, groups, pred = result.baseline, result.groups, result.prediction
    out["chosen_moderator"] = pred.chosen if applies(pred) else None
    if applies(base):
        out["interactions"] = [
            {
                "moderator": r["moderator"],
                "outcome": r["outcome"],
                "slope": float(r["slope"]),
                "slope_low": _number(r["slope_low"]),
                "slope_high": _number(r["slope_high"]),
                "p_value": _number(r["test_p_value"]),
                "p_holm": _number(r["slope_p_holm"]),
                "test": r["test"],
                "size_checked": bool(r["size_checked"]),
            }
            for _, r in base.table.iterrows()
        ]
    else:
        out["interactions"], out["interactions_reason"] = None, base.reason
    if applies(groups):
        out["categories"] = {
            m: [
                {
                    "category": str(r["category"]),
                    "estimate": float(r["estimate"]),
                    "conf_low": _number(r["conf_low"]),
                    "conf_high": _number(r["conf_high"]),
                    "ri_p_value": _number(r["ri_p_value"]),
                    "n_pilots": int(r["n_treated_communes"]),
                    "weak": bool(r["inference_weak"]),
                    "size_checked": bool(r["size_checked"]),
                }
                for _, r in cats.iterrows()
            ]
            for m, cats in groups.tables.items()
        }
    else:
        out["categories"], out["categories_reason"] = None, groups.reason
    if applies(pred):
        s = pred.summary[pred.summary["outcome"] == pred.outcome]
        out["prediction"] = {
            k: (v.item() if hasattr(v, "item") else v)
            for k, v in (s.iloc[0].to_dict() if len(s) else {}).items()
        }
    else:
        out["prediction"], out["prediction_reason"] = None, pred.reason
    if not applies(result.practice):
        out["practice_reason"] = result.practice.reason
    return out


def intro(params: Params, outcome: str, n_treated: int, language: Language) -> str:
    """The page's opening paragraph (nouns and counts from the data)."""
    key = "intro" if params.data.source != "panel" else "intro_panel"
    return _w(
        key,
        language,
        outcome=outcome_label(outcome, language),
        pilots=n_treated,
        **nouns(params, language),
    )


def moderators_intro(
    result: InteractionResult | NotApplicable, params: Params, pilot_wave: str, language: Language
) -> str:
    """Which values are compared and why values before the start."""
    if isinstance(result, NotApplicable):
        return result.message(language)
    names = ", ".join(moderator_label(m, language) for m in result.table["moderator"])
    return _w(
        "moderators_intro",
        language,
        pilot_wave=pilot_wave,
        names=names,
        **nouns(params, language),
    )


def groups_heading(params: Params, language: Language) -> str:
    """Heading of the groups section (commune type and district, or the panel's groups)."""
    return _w(
        "categories_heading" if params.data.source != "panel" else "categories_heading_panel",
        language,
    )


def group_heading(moderator: str, params: Params, language: Language) -> str:
    """Sub-heading of one group moderator."""
    if params.data.source == "panel":
        return _w(
            "category_heading_panel", language, label=group_label(moderator, params, language)
        )
    return _w(f"category_heading_{moderator}", language)


def prediction_rule(result: PredictionResult, alpha: float, language: Language) -> str:
    """The pre-stated rule and what it gave."""
    choice = (
        _w("prediction_choice_model", language, moderator=moderator_label(result.chosen, language))
        if result.chosen
        else _w("prediction_choice_average", language)
    )
    return _w("prediction_rule", language, alpha=format_number(alpha, language, 2), choice=choice)
