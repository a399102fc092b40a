"""Plausibility: values the data contract allows that cannot be right, as problem-table rows.

The contract (:mod:`evaluation.data.schemas`) checks each cell's form; these checks look at
values against each other, the unit map, the calendar and the parameters: money entered in
millions, numbers with thousands separators, parts above their totals, a household answering
twice in a wave, monthly and quarterly rows for the same quarter, dates after today or far from
every other wave, a pilot commune that no longer existed on its start date, more ballots than
households. Each finding is one row of the problem table with its fix. Rules listed in
:data:`evaluation.data.schemas.WARNING_RULES` are warnings (the run goes on and page 01
repeats them); every other rule stops the run like a bad cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.config import Params
from evaluation.data.io import InputFileError
from evaluation.data.problems import PROBLEM_COLUMNS, combine, empty_problems, problem_frame
from evaluation.data.registry import Registry
from evaluation.data.schemas import ADMIN_COUNTS, RULES

#: Quarters between a wave (or a start) and the nearest other wave beyond which it is "far".
FAR_QUARTERS = 4
#: A wave far from the others is suspect only when it holds fewer than this share of ballots.
FAR_WAVE_SHARE = 0.05
#: A cost column whose typical amount is below ``budget x MILLIONS_RATIO`` looks like millions.
MILLIONS_RATIO = 1e-6

#: Whole numbers (counts, VND amounts) written with dots or commas every three digits.
_GROUPED = re.compile(r"^-?\d{1,3}([.,]\d{3})+$")
#: Any number with two or more separator groups (``1.234.567``, ``1,234,567``) or comma groups.
_MULTI_GROUPED = re.compile(r"^-?\d{1,3}(([.]\d{3}){2,}|(,\d{3})+)$")
#: Numeric columns of each Hà Nam table that hold whole numbers.
WHOLE_NUMBER_COLUMNS = {
    "admin": ADMIN_COUNTS,
    "costs": ("setup_vnd", "yearly_vnd"),
}
#: Numeric columns that may hold decimals.
DECIMAL_COLUMNS = {"ballots": ("weight",)}
#: (part, total) pairs of the admin file: a part above its total is a share above 100%.
PARTS_OF_TOTALS = (
    ("dossiers_on_time", "dossiers_received"),
    ("condolence_on_time", "condolence_due"),
    ("ballot_roster", "households_total"),
)


def rule_rows(
    file: str | Path,
    rows: Iterable[object],
    column: str,
    values: Iterable[object],
    rule: str,
) -> pd.DataFrame:
    """Problem rows of the named rule (its English wording from the messages)."""
    what, fix = RULES[rule]
    return problem_frame(file, rows, column, values, what, fix)


def file_error_row(err: InputFileError) -> pd.DataFrame:
    """A file that cannot be read, as one row of the problem table."""
    what, fix = RULES.get(err.rule, (err.what, err.fix))
    return pd.DataFrame(
        [(str(err.path), err.row, err.column, err.value, what, fix)], columns=PROBLEM_COLUMNS
    ).astype("string")


def today() -> date:
    """Today's date (one place, so tests can reason about "after today")."""
    return date.today()


# --------------------------------------------------------------------------------------------
# Checks on the text as read (before the contract converts it)


def separator_problems(raw: pd.DataFrame, table: str, file: str | Path) -> pd.DataFrame:
    """Numbers written with thousands separators (``2.431``, ``20.000.000``, ``1,234,567``).

    In a whole-number column (counts, VND) any dot or comma every three digits is a separator;
    in a decimal column only forms no decimal number takes (two dot groups, comma groups).
    """
    found = []
    for columns, pattern in (
        (WHOLE_NUMBER_COLUMNS.get(table, ()), _GROUPED),
        (DECIMAL_COLUMNS.get(table, ()), _MULTI_GROUPED),
    ):
        for column in columns:
            if column not in raw:
                continue
            text = raw[column].astype("string").str.strip()
            hits = text.str.match(pattern).fillna(False).astype(bool)
            if hits.any():
                found.append(
                    rule_rows(file, raw.index[hits], column, text[hits], "thousands_separator")
                )
    return combine(found)


def numeric_separator_cells(values: pd.Series) -> pd.Series:
    """Cells of a numeric column of a generic panel written with thousands separators."""
    text = values.astype("string").str.strip()
    return text.str.match(_MULTI_GROUPED).fillna(False).astype(bool)


def without_cells_of(problems: pd.DataFrame, found: pd.DataFrame) -> pd.DataFrame:
    """``problems`` minus the rows about the cells ``found`` already explains better."""
    if not len(found) or not len(problems):
        return problems
    cells = set(zip(found["row"], found["column"], strict=True))
    keep = [
        (row, column) not in cells
        for row, column in zip(problems["row"], problems["column"], strict=True)
    ]
    return problems[keep]


def no_records_problem(raw: pd.DataFrame, file: str | Path) -> pd.DataFrame:
    """A file with a header and no record."""
    if len(raw):
        return empty_problems()
    return rule_rows(file, ["2"], "", [""], "no_records")


# --------------------------------------------------------------------------------------------
# Checks on each table once it passed the contract


def ballot_problems(ballots: pd.DataFrame, file: str | Path, params: Params) -> pd.DataFrame:
    """Repeated household x wave, dates after today, waves far from every other wave."""
    found = []
    key = ["commune_code", "household_id", "wave"]
    repeated = ballots.duplicated(key, keep="first")
    if repeated.any():
        first_row = ballots.reset_index().groupby(key)["row"].transform("min")
        first_row.index = ballots.index
        values = [
            f"{h} {w} (also row {r})"
            for h, w, r in zip(
                ballots.loc[repeated, "household_id"],
                ballots.loc[repeated, "wave"],
                first_row[repeated],
                strict=True,
            )
        ]
        found.append(
            rule_rows(
                file, ballots.index[repeated], "household_id", values, "duplicate_household_wave"
            )
        )
    dates = pd.to_datetime(ballots["survey_date"])
    future = (dates > pd.Timestamp(today())).to_numpy()
    if future.any():
        shown = [
            f"{d.date()} ({w})"
            for d, w in zip(dates[future], ballots.loc[future, "wave"], strict=True)
        ]
        found.append(rule_rows(file, ballots.index[future], "survey_date", shown, "date_in_future"))
    found.append(_far_waves(ballots[~future], file, params))
    return combine(found)


def _far_waves(ballots: pd.DataFrame, file: str | Path, params: Params) -> pd.DataFrame:
    """Ballots in a small wave more than :data:`FAR_QUARTERS` from every other wave, unless an
    explicit comparison window leaves that wave out."""
    if not len(ballots):
        return empty_problems()
    index = ballots["wave"].map(_quarter_ordinals(ballots["wave"]))
    counts = index.value_counts().sort_index()
    if len(counts) < 2:
        return empty_problems()
    waves = counts.index.to_numpy()
    far = []
    for wave in waves:
        others = waves[waves != wave]
        gap = int(np.abs(others - wave).min())
        small = counts[wave] < FAR_WAVE_SHARE * len(ballots)
        if gap > FAR_QUARTERS and small and not _outside_window(int(wave), params):
            far.append(wave)
    if not far:
        return empty_problems()
    rows = index.isin(far)
    return rule_rows(
        file, ballots.index[rows], "wave", ballots.loc[rows, "wave"], "wave_far_from_others"
    )


def _quarter_ordinals(waves: pd.Series) -> dict[str, int]:
    """Quarter label -> period ordinal, computed once per distinct label (a million ballots
    hold a few dozen)."""
    return {w: pd.Period(str(w), "Q").ordinal for w in waves.dropna().unique()}


def _outside_window(wave: int, params: Params) -> bool:
    """Whether an explicit ``analysis.window_start``/``window_end`` leaves the quarter out."""
    start, end = params.analysis.window_start, params.analysis.window_end
    bounds = []
    for value, side in ((start, "start"), (end, "end")):
        if value is None or value == "before_next_rollout":
            continue
        try:
            bounds.append((pd.Period(str(value).replace(" ", ""), "Q").ordinal, side))
        except (ValueError, TypeError):
            continue  # an unreadable bound is reported when the window is computed
    return any(
        (side == "start" and wave < bound) or (side == "end" and wave > bound)
        for bound, side in bounds
    )


def rollout_problems(
    rollout: pd.DataFrame,
    file: str | Path,
    registry: Registry,
    ballot_waves: Sequence[str] = (),
) -> pd.DataFrame:
    """No start date at all; a start on a unit that no longer existed then; starts after today
    (a warning: counted as not started) or far before the first ballots."""
    starts = pd.to_datetime(rollout["start_date"])
    if starts.isna().all():
        return rule_rows(file, ["all"], "start_date", [""], "no_start_date")
    found = []
    listed = starts.notna()
    gone, values = [], []
    for row, code, start in zip(
        rollout.index[listed], rollout.loc[listed, "commune_code"], starts[listed], strict=True
    ):
        if code in set(registry.map_at(start)["commune_code"]):
            continue
        gone.append(row)
        values.append(_what_became_of(registry, str(code), start))
    if gone:
        found.append(rule_rows(file, gone, "commune_code", values, "pilot_not_on_map"))
    future = listed & (starts.dt.date > today())
    if future.any():
        found.append(
            rule_rows(
                file, rollout.index[future], "start_date", starts[future].dt.date, "start_in_future"
            )
        )
    if len(ballot_waves):
        quarters = pd.Series([pd.Period(str(w), "Q").ordinal for w in ballot_waves])
        first = int(quarters.min())
        start_q = starts.dt.to_period("Q").map(lambda p: p.ordinal if pd.notna(p) else np.nan)
        early = listed & (start_q < first - FAR_QUARTERS)
        if early.any():
            found.append(
                rule_rows(
                    file,
                    rollout.index[early],
                    "start_date",
                    starts[early].dt.date,
                    "start_far_before_data",
                )
            )
    return combine(found)


def _what_became_of(registry: Registry, code: str, start: pd.Timestamp) -> str:
    """``13603 -> 13594 (merged, map of 2020-01-01)``: the change that removed ``code``."""
    when = registry.effective_date_of(start)
    changes = registry.changes
    hit = changes[changes["old_code"].astype("string") == code] if len(changes) else changes
    if len(hit):
        new = hit["new_code"].iloc[0]
        target = "an unknown unit" if pd.isna(new) else str(new)
        return f"{code} -> {target} ({hit['change'].iloc[0]}, map of {when})"
    return f"{code} (not on the map of {when})"


def admin_problems(admin: pd.DataFrame, file: str | Path) -> pd.DataFrame:
    """Parts above their totals, monthly and quarterly rows for the same quarter, periods after
    today."""
    found = []
    for part, total in PARTS_OF_TOTALS:
        if part not in admin or total not in admin:
            continue
        above = (admin[part].astype(float) > admin[total].astype(float)).fillna(False)
        if above.any():
            values = [
                f"{part} {p:g} > {total} {t:g}"
                for p, t in zip(admin.loc[above, part], admin.loc[above, total], strict=True)
            ]
            found.append(rule_rows(file, admin.index[above], part, values, "part_above_total"))
    monthly = ~admin["period"].astype(str).str.contains("Q")
    kinds = monthly.groupby([admin["commune_code"], admin["wave"]]).transform("nunique")
    mixed = kinds > 1
    if mixed.any():
        found.append(
            rule_rows(
                file, admin.index[mixed], "period", admin.loc[mixed, "period"], "mixed_frequency"
            )
        )
    ordinal_today = pd.Period(today(), "Q").ordinal
    future = admin["wave"].map(_quarter_ordinals(admin["wave"])) > ordinal_today
    if future.any():
        found.append(
            rule_rows(
                file, admin.index[future], "period", admin.loc[future, "period"], "date_in_future"
            )
        )
    return combine(found)


def cost_problems(costs: pd.DataFrame, file: str | Path, params: Params) -> pd.DataFrame:
    """Amounts that look like millions of VND against ``scaling.budget_vnd``, or a budget that
    looks like millions against amounts in VND."""
    budget = float(params.scaling.budget_vnd)
    found = []
    amounts = []
    for column in ("setup_vnd", "yearly_vnd"):
        values = costs[column].astype(float)
        nonzero = values[values > 0]
        amounts.append(nonzero)
        threshold = budget * MILLIONS_RATIO if budget > 0 else 1000.0
        if len(nonzero) and nonzero.median() < threshold:
            small = (values > 0) & (values < threshold)
            found.append(
                rule_rows(
                    file,
                    costs.index[small],
                    column,
                    values[small].map("{:g}".format),
                    "money_in_millions",
                )
            )
    every = pd.concat(amounts)
    if not found and 0 < budget < 1e6 and len(every) and every.median() >= 1e6:
        found.append(
            rule_rows(
                "params",
                ["scaling.budget_vnd"],
                "scaling.budget_vnd",
                [f"{budget:g}"],
                "budget_in_millions",
            )
        )
    return combine(found)


def coverage_problems(panel: pd.DataFrame, file: str | Path) -> pd.DataFrame:
    """More ballots than households on the roster (warning) or in the commune (error), per
    commune and wave on the target map."""
    found = []
    for column, rule in (
        ("ballot_roster", "ballots_above_roster"),
        ("households_total", "ballots_above_households"),
    ):
        if column not in panel or "n_ballots" not in panel:
            continue
        count = panel[column].astype(float)
        above = (panel["n_ballots"].astype(float) > count).fillna(False) & count.notna()
        if not above.any():
            continue
        rows = panel.loc[above]
        values = [
            f"{c} {w}: {int(n)} ballots, {k:g} households"
            for c, w, n, k in zip(
                rows["commune_code"], rows["wave"], rows["n_ballots"], rows[column], strict=True
            )
        ]
        found.append(rule_rows(file, ["-"] * len(rows), column, values, rule))
    return combine(found)


def share_problems(raw: pd.DataFrame, columns: Iterable[str], file: str | Path) -> pd.DataFrame:
    """Shares of a generic panel (columns named ``pct_*``, ``share_*``, ``percent*``) above 100%,
    or above 1 where the column's shares are written from 0 to 1."""
    found = []
    for column in columns:
        if column not in raw or not str(column).lower().startswith(("pct", "share", "percent")):
            continue
        values = pd.to_numeric(raw[column], errors="coerce")
        present = values.dropna()
        if not len(present):
            continue
        limit = 1.0 if present.quantile(0.9) <= 1.0 else 100.0
        above = (values > limit).fillna(False)
        if above.any():
            found.append(
                rule_rows(file, raw.index[above], column, raw.loc[above, column], "share_above_one")
            )
    return combine(found)
