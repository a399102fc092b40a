"""Wording and table of page 06's section on judging the next phase by its design.

The statistics live in :mod:`evaluation.analysis.phase_in`; this module turns its rehearsal
(:class:`~evaluation.analysis.phase_in.PhaseInCheck`) into sentences for the board. Every
number it shows is from simulated outcomes, and the section says so before the table.
"""

from __future__ import annotations

import pandas as pd

from evaluation.analysis.phase_in import PhaseInCheck
from evaluation.config import Params
from evaluation.i18n import Language, format_number, format_p_value, format_percent, t
from evaluation.report.effects import format_effect
from evaluation.report.wording import is_hanam
from evaluation.report.wording import noun_values as nouns


def say(key: str, params: Params, language: Language, /, **values: object) -> str:
    """``phase_in.<key>.<contract>`` when it exists, else ``phase_in.<key>``; nouns filled."""
    values = {**nouns(params, language), **values}
    contract = "hanam" if is_hanam(params) else "panel"
    try:
        return t(f"phase_in.{key}.{contract}", language, **values)
    except KeyError:
        return t(f"phase_in.{key}", language, **values)


def heading(params: Params, language: Language) -> str:
    return say("heading", params, language)


def intro(check: PhaseInCheck, params: Params, language: Language) -> str:
    """Why the lot makes a clean test possible, and the estimator beside it, in plain words."""
    draws = format_number(int(check.table["n_draws"].min()), language, 0)
    return say("intro", params, language, draws=draws) + " " + say("estimator", params, language)


def simulation_label(check: PhaseInCheck, params: Params, language: Language) -> str:
    """The banner above the numbers: a simulation of the future phase, not a result."""
    return say(
        "simulation_label",
        params,
        language,
        n=check.n_units,
        steps=check.n_steps,
        seed=check.seed,
    )


def _p(p: float, error: float, language: Language) -> str:
    return t(
        "phase_in.p_with_error",
        language,
        p=format_p_value(p, language),
        error=format_p_value(error, language),
    )


def display(check: PhaseInCheck, params: Params, language: Language) -> pd.DataFrame:
    """One row per simulated scenario: true effect, estimate, interval, lot-test p-value."""
    level = format_percent(1 - check.alpha, language, 0)

    def effect(value: float) -> str:
        return format_effect(check.outcome, value, language)

    rows = []
    for r in check.table.itertuples(index=False):
        row = {
            say("col_scenario", params, language): say(f"scenario_{r.scenario}", params, language),
            say("col_true", params, language): effect(r.true_effect),
        }
        if check.estimator_applies:
            row[say("col_estimate", params, language)] = effect(r.estimate)
            row[say("col_interval", params, language, level=level)] = (
                f"{effect(r.conf_low)} – {effect(r.conf_high)}"
            )
        row[say("col_p", params, language)] = _p(r.p_value, r.p_mc_error, language)
        rows.append(row)
    return pd.DataFrame(rows)


def reading(check: PhaseInCheck, params: Params, language: Language) -> str:
    """What the rehearsal found with the powered effect and with none (and, for a small
    order, why it cannot find much)."""
    table = check.table.set_index("scenario")
    powered, none = table.loc["powered"], table.loc["none"]
    draws = format_number(int(table["n_draws"].min()), language, 0)
    key = "reading" if check.estimator_applies else "reading_test_only"
    text = say(
        key,
        params,
        language,
        true=format_effect(check.outcome, float(powered["true_effect"]), language),
        estimate=format_effect(check.outcome, float(powered["estimate"]), language),
        p=_p(float(powered["p_value"]), float(powered["p_mc_error"]), language),
        p_none=_p(float(none["p_value"]), float(none["p_mc_error"]), language),
        draws=draws,
    )
    if check.estimator_applies:
        return text
    few = say("few_units", params, language, n=check.n_units, smallest=check.smallest_step)
    return f"{text} {few}"
