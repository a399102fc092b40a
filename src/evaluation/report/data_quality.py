"""Tables, figures and readings of the data-quality page (``01_data_quality``).

The counts come from :mod:`evaluation.analysis.data_quality`; this module lays them out in the
run's language with the data's own nouns (:mod:`evaluation.report.wording`).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from evaluation.analysis import data_quality as adq
from evaluation.analysis.base import applies
from evaluation.config import Params
from evaluation.data.schemas import RULE_NAMES, rule_text
from evaluation.i18n import Language, format_number, format_percent, t
from evaluation.measures import period_label
from evaluation.prepare import Prepared
from evaluation.report.effects import outcome_label
from evaluation.report.style import COMPARISON_COLOUR, PILOT_COLOUR, new_figure, place_legend
from evaluation.report.wording import (
    is_hanam,
    noun_values,
)


def validation_failed(prepared: Prepared) -> bool:
    return bool(prepared.meta.get("validation_failed"))


def say(key: str, params: Params, language: Language, **values: object) -> str:
    """``dq.<key>`` for Hà Nam, ``dq.panel.<key>`` (when written) for a generic panel, with the
    data's nouns (:func:`evaluation.report.wording.noun_values`) filled in."""
    values = {**noun_values(params, language), **values}
    if not is_hanam(params):
        try:
            return t(f"dq.panel.{key}", language, **values)
        except KeyError:
            pass
    return t(f"dq.{key}", language, **values)


def _period(prepared: Prepared, index: float, language: Language) -> str:
    meta = prepared.meta
    return period_label(index, meta.get("source", ""), language, meta.get("period_format"))


def inputs_display(
    inputs: adq.Inputs, prepared: Prepared, params: Params, language: Language
) -> pd.DataFrame:
    """What came in: units, treated units, strata, ballots, periods, start, comparison window."""

    def period(index: float) -> str:
        return _period(prepared, index, language)

    rows = [
        ("n_communes", format_number(inputs.n_units, language, 0)),
        ("n_pilot", format_number(inputs.n_treated, language, 0)),
    ]
    if inputs.n_strata:
        rows.append(("n_districts", format_number(inputs.n_strata, language, 0)))
    if inputs.n_ballots:
        rows.append(("n_ballots", format_number(inputs.n_ballots, language, 0)))
    rows += [
        ("n_rows", format_number(inputs.n_rows, language, 0)),
        ("n_waves", format_number(inputs.n_periods, language, 0)),
        ("first_last_wave", f"{period(inputs.first_period)} – {period(inputs.last_period)}"),
        ("pilot_wave", period(inputs.start_period)),
        ("window", f"{period(inputs.window_start)} – {period(inputs.window_end)}"),
    ]
    return pd.DataFrame(
        {
            t("dq.col_what", language): [say(k, params, language) for k, _ in rows],
            t("dq.col_value", language): [v for _, v in rows],
        }
    )


def inputs_summary(prepared: Prepared, params: Params, language: Language) -> pd.DataFrame:
    """:func:`inputs_display` of :func:`evaluation.analysis.data_quality.inputs` in one call."""
    return inputs_display(adq.inputs(prepared, params), prepared, params, language)


def outcomes_display(inputs: adq.Inputs, params: Params, language: Language) -> pd.DataFrame:
    """How complete each outcome is over the unit-period rows."""
    frame = inputs.outcomes
    return pd.DataFrame(
        {
            t("dq.col_outcome", language): [outcome_label(o, language) for o in frame["outcome"]],
            say("col_present", params, language): [
                format_number(n, language, 0) for n in frame["n_present"]
            ],
            t("dq.col_missing", language): [
                format_percent(v, language) for v in frame["share_missing"]
            ],
        }
    )


def problems_table(prepared: Prepared, language: Language) -> pd.DataFrame:
    """Validation problems in the page's language (empty when the data passed).

    The problem table is written in English (terminal, ``data_problems.csv``); each known rule
    and its fix are shown here in the run's language.
    """
    words = {}
    for name in RULE_NAMES:
        english, local = rule_text(name, "en"), rule_text(name, language)
        words.update(dict(zip(english, local, strict=True)))
    frame = prepared.problems.copy()
    for column in ("rule", "how_to_fix"):
        frame[column] = frame[column].map(lambda text: words.get(text, text))
    headers = {
        c: t(f"dq.problem_{c}", language)
        for c in ("file", "row", "column", "value", "rule", "how_to_fix")
    }
    return frame.rename(columns=headers)


def coverage_summary(result: adq.Coverage, language: Language) -> pd.DataFrame:
    """Coverage by group and period (before / after the start)."""
    s = result.summary
    out = pd.DataFrame(
        {
            "group": [t("dq.pilot" if g else "dq.non_pilot", language) for g in s["pilot"]],
            "period": [t("dq.after" if a else "dq.before", language) for a in s["after"]],
            "ballots": [format_number(v, language, 0) for v in s["ballots"]],
            "mean_coverage": [format_percent(v, language) for v in s["mean_coverage"]],
            "min_coverage": [format_percent(v, language) for v in s["min_coverage"]],
        }
    )
    return out.rename(columns={c: t(f"dq.col_{c}", language) for c in out.columns})


def coverage_figure(result: adq.Coverage, prepared: Prepared, language: Language) -> Figure:
    """Mean ballot coverage per wave, pilot vs non-pilot communes, with the start marked."""
    by_wave = result.by_wave.pivot(index="wave_index", columns="pilot", values="coverage")
    fig, ax = new_figure(10, 4.8)
    x = by_wave.index.to_numpy()
    for is_pilot, marker, colour, key in (
        (1, "o", PILOT_COLOUR, "dq.pilot"),
        (0, "s", COMPARISON_COLOUR, "dq.non_pilot"),
    ):
        if is_pilot in by_wave:
            series = 100 * by_wave[is_pilot]
            ax.plot(x, series, marker=marker, color=colour, lw=2.5, label=t(key, language))
    start = prepared.meta["pilot_wave"]
    ax.axvline(start - 0.5, color="black", ls="--", lw=1)
    ax.text(start - 0.4, ax.get_ylim()[1], t("dq.pilot_starts", language), va="top", fontsize=11)
    ax.set_xticks(x, [_period(prepared, w, language) for w in x], rotation=45, ha="right")
    ax.set_ylabel(t("dq.coverage_axis", language))
    ax.set_title(t("dq.coverage_title", language))
    place_legend(ax)  # "lower left" hid the first waves' points
    return fig


def map_change_table(result: adq.MapChange, language: Language) -> pd.DataFrame:
    """Each unit the 2020 map change touched: where its records went and how many."""
    out = result.changes.copy()
    out["how"] = out["how"].map(lambda v: t(f"dq.how_{v}", language))
    out["action"] = out["action"].map(
        lambda v: t("dq.action_kept" if v == "kept" else "dq.action_dropped", language)
    )
    return out.rename(columns={c: t(f"dq.map_{c}", language) for c in out.columns})


def pilots_by_district(
    result: adq.PilotsByDistrict, params: Params, language: Language
) -> pd.DataFrame:
    """Treated and comparison units per district (or stratum), for reading."""
    return result.table.rename(
        columns={
            "district": say("district", params, language),
            "pilot": say("pilot", params, language),
            "non_pilot": say("non_pilot", params, language),
            "total": t("dq.total", language),
        }
    )


def reliability_table(result: adq.Reliability, language: Language) -> pd.DataFrame:
    """Cronbach's alpha per factor, with the usual reading (>= 0.7 acceptable)."""
    rel = result.table

    def reading(alpha: float, consistent: bool) -> str:
        if alpha != alpha:  # undefined: too few answers
            return t("dq.alpha_undefined", language)
        return t("dq.alpha_ok" if consistent else "dq.alpha_low", language)

    return pd.DataFrame(
        {
            t("dq.col_factor", language): [t(f"dq.factor_{f}", language) for f in rel["factor"]],
            t("dq.col_items", language): rel["n_items"].astype(int),
            t("dq.col_alpha", language): [
                format_number(a, language, 2) for a in rel["cronbach_alpha"]
            ],
            t("dq.col_alpha_reading", language): [
                reading(a, c) for a, c in zip(rel["cronbach_alpha"], rel["consistent"], strict=True)
            ],
        }
    )


def reading(result: adq.DataQuality, params: Params, language: Language) -> str:
    """Plain-language reading of the data-quality page."""
    inputs = result.inputs
    counts = {
        "ballots": format_number(inputs.n_ballots, language, 0),
        "communes": inputs.n_units,
        "pilots": inputs.n_treated,
        "rows": format_number(inputs.n_rows, language, 0),
        "n_periods": inputs.n_periods,
        "missing": format_number(int(inputs.outcomes["n_missing"].sum()), language, 0),
    }
    parts = [
        say("reading_counts" if inputs.n_ballots else "reading_rows", params, language, **counts)
    ]
    if applies(result.coverage):
        parts.append(
            t(
                "dq.reading_coverage",
                language,
                coverage=format_percent(result.coverage.mean_coverage, language),
                low_cells=format_number(result.coverage.n_low_cells, language, 0),
            )
        )
    if applies(result.map_change):
        parts.append(
            t(
                "dq.reading_dropped",
                language,
                dropped=format_number(result.map_change.n_dropped, language, 0),
            )
        )
    return " ".join(parts)


def finding(result: adq.DataQuality, params: Params, language: Language) -> str:
    """The page's one-line finding for the run's index."""
    inputs = result.inputs
    values = {
        "ballots": format_number(inputs.n_ballots, language, 0),
        "communes": inputs.n_units,
        "pilots": inputs.n_treated,
        "rows": format_number(inputs.n_rows, language, 0),
        "n_periods": inputs.n_periods,
    }
    text = say("finding" if inputs.n_ballots else "finding_rows", params, language, **values)
    if applies(result.coverage):
        coverage = format_percent(result.coverage.mean_coverage, language)
        text = f"{text} {t('dq.finding_coverage', language, coverage=coverage)}"
    return text


def page_results(result: adq.DataQuality) -> dict:
    """The page's key numbers for ``results.json``."""
    inputs = result.inputs
    out = {
        "n_units": inputs.n_units,
        "n_treated": inputs.n_treated,
        "n_ballots": inputs.n_ballots,
        "n_rows": inputs.n_rows,
        "n_periods": inputs.n_periods,
        "missing_outcome_values": {
            r.outcome: int(r.n_missing) for r in inputs.outcomes.itertuples(index=False)
        },
    }
    if applies(result.coverage):
        out["mean_coverage"] = result.coverage.mean_coverage
        out["n_low_coverage_cells"] = result.coverage.n_low_cells
    return out
