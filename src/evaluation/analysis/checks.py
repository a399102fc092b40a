"""Checks of the design before anything runs: what would make every page impossible.

``validate`` and ``run`` call :func:`check_design` after the files passed the data contract. A
design no analysis can use (no treated unit in the window, no unit to compare with, an outcome
the data do not have) is a problem table row with a fix, exactly like a bad cell; a section
that only some analyses need is not a problem here but a skipped section
(:func:`evaluation.analysis.base.skipped_sections`).
"""

from __future__ import annotations

import difflib

import pandas as pd

from evaluation.analysis.facts import DataFacts, data_facts
from evaluation.analysis.sample import is_panel
from evaluation.config import Params
from evaluation.data.problems import DataValidationError, combine, problem_frame
from evaluation.prepare import Prepared


def _choose_from(value: str, valid: list[str]) -> str:
    """``did you mean 'x'? choose one of: ...`` (the nearest valid name first, when close)."""
    close = difflib.get_close_matches(value, valid, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}choose one of: {', '.join(valid)}"


def _params_row(key: str, value: object, rule: str, fix: str) -> pd.DataFrame:
    return problem_frame("params", [key], key, [value], rule, fix)


def _outcome_rows(facts: DataFacts, params: Params) -> list[pd.DataFrame]:
    rows = []
    available = [o for o in facts.outcomes if o not in _BOOKKEEPING]
    wanted = [("analysis.headline_outcome", params.analysis.headline_outcome)]
    wanted += [("analysis.outcomes", o) for o in params.analysis.outcomes]
    for key, outcome in wanted:
        if outcome in facts.outcomes:
            continue
        if facts.contract == "hanam" and outcome in _HANAM_MEASURES:
            continue  # a measure whose source file was not supplied: its sections say so
        rows.append(
            _params_row(
                key,
                outcome,
                "the outcome is not in the prepared data",
                _choose_from(outcome, available),
            )
        )
    return rows


#: Measures the Hà Nam contract computes when their source (ballots, admin file) is supplied.
_HANAM_MEASURES = {
    "satisfaction_index",
    "pct_satisfied",
    "pct_dissatisfied",
    "model_index",
    "coverage",
    "pct_dossiers_on_time",
    "pct_condolence_on_time",
    "complaints_per_1000",
    "one_stop_staff_per_1000",
    "apology_per_100_dossiers",
}

#: Prepared columns that are bookkeeping, not outcomes a user would name.
_BOOKKEEPING = {
    "wave_index",
    "pilot",
    "first_treated_wave",
    "pilot_share",
    "mixed_pilot",
    "drop_mixed",
    "treated",
    "n_ballots",
    "ballot_roster",
    "households_total",
}


def _column_rows(prepared: Prepared, params: Params) -> list[pd.DataFrame]:
    """``analysis.cluster`` and ``inference.strata`` must name columns the data have."""
    if is_panel(prepared):
        return []  # a panel names its cluster and strata in data.panel (checked on reading)
    columns = [
        c for c in prepared.panel.columns if not pd.api.types.is_float_dtype(prepared.panel[c])
    ]
    rows = []
    for key, value in (
        ("analysis.cluster", params.analysis.cluster),
        ("inference.strata", params.inference.strata),
    ):
        if value is None or value in prepared.panel:
            continue
        rows.append(
            _params_row(
                key,
                value,
                "not a column of the prepared commune data",
                _choose_from(value, columns)
                + ("; or null for no strata" if key == "inference.strata" else ""),
            )
        )
    return rows


def design_problems(prepared: Prepared, params: Params) -> pd.DataFrame:
    """Problems of the design as problem-table rows (empty when every page can run)."""
    facts = data_facts(prepared, params)
    rows = _outcome_rows(facts, params) + _column_rows(prepared, params)
    unit = "units" if is_panel(prepared) else "communes"
    if facts.n_treated == 0:
        rows.append(
            _params_row(
                "analysis.window_start",
                params.analysis.window_start,
                f"no treated {unit} have rows in the comparison window",
                "check the start dates (rollout or first_treated) and widen the window",
            )
        )
    if facts.n_comparison == 0:
        rows.append(
            _params_row(
                "analysis.window_end",
                params.analysis.window_end,
                f"every {unit[:-1]} in the comparison window is treated from the first start on: "
                "there is nothing to compare with",
                "add data from units not yet treated at the start (e.g. later adopters or "
                "units that never adopted); with only treated units no effect can be estimated",
            )
        )
    return combine(rows)


def check_design(prepared: Prepared, params: Params) -> None:
    """Raise :class:`DataValidationError` listing every design problem (see module doc)."""
    found = design_problems(prepared, params)
    if len(found):
        raise DataValidationError(found)
