"""Excel workbooks for people: headers in the run's language, and documents the board signs.

CSV files under ``tables/`` keep their snake_case columns for machines; their ``.xlsx`` twins
are for staff who work in Excel and carry the run's language:

* every table gets one label per column (:func:`column_label`: the table's own dictionary in
  ``messages/<language>/workbook.yaml``, then the shared one, else a readable form of the
  snake_case name), a frozen header row and column widths (:func:`write_workbook`);
* the two documents the board signs, the rollout plan and the stepped-wedge start order
  (:data:`SIGNABLE`), also get a title row (document, run, date, data source), values rounded
  as they are read (whole đồng, whole households, shares as percent, quarters and dates as the
  language writes them) and Excel number formats with thousands separators
  (:func:`write_signable`).

Every text cell is written as text, never as a formula: a commune name such as
``=HYPERLINK(...)`` coming from an input file stays inert text.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from evaluation.config import Params
from evaluation.data.io import _FIXED_TIME, _zip_with_fixed_times, atomic_path
from evaluation.i18n import Language, format_date, format_quarter, messages, t
from evaluation.report.wording import is_hanam, noun_values

#: Excel number formats. Excel shows ``#,##0`` with the reader's own thousands separator
#: (``1.234.567`` on a Vietnamese system, ``1,234,567`` on an English one).
WHOLE = "#,##0"
IDENTIFIER = "0"  # order, step, seed: no thousands separator (a seed 2026 is not "2,026")
PERCENT = "0.0%"
DATE_FORMATS: dict[Language, str] = {"vi": "dd/mm/yyyy", "en": "yyyy-mm-dd"}

#: Widths of a column, in characters (Excel's unit).
MIN_WIDTH, MAX_WIDTH = 8, 48
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")


@dataclass(frozen=True)
class Column:
    """One column of a signable document: the table's column and how a reader sees it.

    Attributes
    ----------
    key : str
        The column of the CSV table.
    kind : str
        ``text``, ``code`` (identifiers kept as text: leading zeros), ``identifier`` (whole
        number without separator), ``households`` (whole number), ``vnd`` (whole đồng),
        ``share`` (percent), ``quarter``, ``date``, ``yes_no``, ``criteria`` (failed criteria
        in words) or ``pool`` (the group the units were drawn from, in words).
    """

    key: str
    kind: str


#: The documents the board signs: the columns shown, in order. Columns of the CSV not listed
#: are for machines (``start_period`` is an internal period number) or withheld from readers
#: as on page 06 (the plan's gain band is model-based and its size was never checked).
SIGNABLE: dict[str, tuple[Column, ...]] = {
    "rollout_plan": (
        Column("order", "identifier"),
        Column("commune_code", "code"),
        Column("commune_name", "text"),
        Column("district_name", "text"),
        Column("setup_vnd", "vnd"),
        Column("yearly_vnd", "vnd"),
        Column("cost_vnd", "vnd"),
        Column("cumulative_cost_vnd", "vnd"),
        Column("expected_gain", "households"),
        Column("cumulative_gain", "households"),
        Column("has_conditions", "yes_no"),
        Column("failed_criteria", "criteria"),
        Column("pool", "pool"),
        Column("horizon_years", "identifier"),
        Column("discount_rate", "share"),
    ),
    "stepped_wedge": (
        Column("step", "identifier"),
        Column("start_wave", "quarter"),
        Column("start_date", "date"),
        Column("district_name", "text"),
        Column("commune_code", "code"),
        Column("commune_name", "text"),
        Column("pool", "pool"),
        Column("seed", "identifier"),
    ),
}
#: Row order of a signable document (the CSV keeps the analysis's order).
SIGNABLE_ORDER: dict[str, list[str]] = {
    "rollout_plan": ["order"],
    "stepped_wedge": ["step", "district_name", "commune_name"],
}
#: Running totals recomputed from the rounded values they add up, so that the rounded
#: column sums to its rounded running total to the đồng and the household.
CUMULATIVE = {"cumulative_cost_vnd": "cost_vnd", "cumulative_gain": "expected_gain"}
#: Kinds written as numbers, with their Excel number format.
NUMBER_FORMATS = {"identifier": IDENTIFIER, "households": WHOLE, "vnd": WHOLE, "share": PERCENT}

#: Words of a snake_case name that a readable header spells differently.
_READABLE_WORDS = {"vnd": "VND", "pct": "%", "att": "ATT", "id": "ID", "se": "SE", "ci": "CI"}


# --------------------------------------------------------------------------------------------
# Labels


def readable(column: str) -> str:
    """A readable header from a snake_case name (``cost_per_unit`` -> ``Cost per unit``).

    Used only for a column no dictionary names, so that no raw snake_case reaches a reader.
    """
    words = [w for w in re.split(r"[_\s]+", str(column).strip()) if w]
    if not words:
        return str(column)
    if words[0].lower() == "n" and len(words) > 1:  # n_ballots: a count
        words = ["number", "of", *words[1:]]
    words = [_READABLE_WORDS.get(w.lower(), w) for w in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _message(keys: Sequence[str], language: Language, values: dict[str, str]) -> str | None:
    table = messages(language)
    for key in keys:
        if key in table:
            return t(key, language, **values) if "{" in table[key] else table[key]
    return None


def column_label(table: str, column: str, language: Language, params: Params | None = None) -> str:
    """The reader's header of ``column`` of ``table`` in ``language``.

    Looks up ``workbook.columns.<table>.<column>`` then ``workbook.columns.common.<column>``
    (each with a ``.hanam`` / ``.panel`` variant when the words differ), with the data's nouns
    (communes, or a panel's own units) filled in; a column no dictionary names gets
    :func:`readable`.
    """
    contract = "hanam" if params is None or is_hanam(params) else "panel"
    values = noun_values(params, language) if params is not None else _hanam_nouns(language)
    keys = [
        f"workbook.columns.{group}.{column}{suffix}"
        for group in (table, "common")
        for suffix in (f".{contract}", "")
    ]
    return _message(keys, language, values) or _prefixed_label(column, language) or readable(column)


def name_label(name: str, language: Language) -> str:
    """The reader's name of an outcome, criterion or characteristic key (readable otherwise)."""
    table = messages(language)
    groups = ("workbook.names", "outcomes", "scaling_page.criteria")
    for group in (*groups, "comparison.characteristics"):
        if f"{group}.{name}" in table:
            return table[f"{group}.{name}"]
    return readable(name)


def _prefixed_label(column: str, language: Language) -> str | None:
    """A header for a column named by a prefix and a key (``effect_pct_satisfied``,
    ``met_min_condolence_on_time``): ``workbook.prefixes.<prefix>`` with the key's name."""
    table = messages(language)
    prefixes = sorted(
        (k.removeprefix("workbook.prefixes.") for k in table if k.startswith("workbook.prefixes.")),
        key=len,
        reverse=True,
    )
    for prefix in prefixes:
        if column.startswith(f"{prefix}_") and len(column) > len(prefix) + 1:
            name = name_label(column[len(prefix) + 1 :], language)
            return t(f"workbook.prefixes.{prefix}", language, name=name)
    return None


def _hanam_nouns(language: Language) -> dict[str, str]:
    """Hà Nam's nouns (communes, pilot communes) when no parameters are at hand."""
    values = {
        "units": t("wording.communes", language),
        "unit": t("wording.commune", language),
        "treated": t("wording.pilot_communes", language),
        "comparison": t("wording.comparison_communes", language),
    }
    return {**values, **{f"{k}_cap": v[:1].upper() + v[1:] for k, v in values.items()}}


def column_labels(
    table: str, columns: Sequence[str], language: Language, params: Params | None = None
) -> list[str]:
    """:func:`column_label` of each column; a label two columns share gets its column's name
    in brackets, so every header stays unique."""
    labels = [column_label(table, c, language, params) for c in columns]
    counts = pd.Series(labels).value_counts()
    return [
        f"{label} ({readable(c)})" if counts[label] > 1 else label
        for label, c in zip(labels, columns, strict=True)
    ]


def data_source(params: Params, language: Language) -> str:
    """Where the numbers come from, in words: the simulated demo, or the input files' names."""
    d = params.data
    if d.source == "demo":
        return t("workbook.source_demo", language)
    if d.source == "panel" and d.panel is not None:
        files = [d.panel.path]
    else:
        files = [p for p in (d.ballots, d.rollout, d.admin, d.costs) if p is not None]
    text = t("workbook.source_files", language, files=", ".join(Path(p).name for p in files))
    return text + (t("workbook.source_simulated", language) if d.simulated else "")


def title_line(table: str, params: Params, language: Language, day: date) -> str:
    """The title row of a signable document: what it is, the run, the date and the data."""
    return t(
        "workbook.title_line",
        language,
        document=t(f"workbook.documents.{table}", language),
        run=params.run_name,
        date=format_date(day, language),
        source=data_source(params, language),
    )


# --------------------------------------------------------------------------------------------
# Values as readers see them


def is_vnd(column: str) -> bool:
    """Whether a column holds amounts of đồng (``cost_vnd``, ``vnd_per_tenth_point``...)."""
    return column.endswith("_vnd") or column.startswith("vnd_") or column == "pv_cost"


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _criteria_words(value: object, language: Language) -> str:
    if _missing(value) or not str(value).strip():
        return ""
    words = []
    for key in str(value).split(";"):
        key = key.strip()
        if key:
            name = f"scaling_page.criteria.{key}"
            words.append(t(name, language) if name in messages(language) else readable(key))
    return "; ".join(words)


def _pool_words(value: object, params: Params | None, language: Language) -> str:
    if _missing(value):
        return ""
    values = noun_values(params, language) if params is not None else _hanam_nouns(language)
    label = _message([f"workbook.pool.{value}"], language, values)
    return label if label is not None else readable(str(value))


def reader_values(
    frame: pd.DataFrame, table: str, language: Language, params: Params | None = None
) -> pd.DataFrame:
    """The signable columns of ``frame`` as they are written: rounded numbers, words, dates.

    Whole đồng and whole households are rounded here (not only shown rounded), so the number
    a reader copies out of the cell is the number they see.
    """
    out = {}
    for column in SIGNABLE[table]:
        if column.key not in frame:
            continue
        values = frame[column.key]
        kind = column.kind
        if kind in ("identifier", "households", "vnd"):
            numbers = pd.to_numeric(values, errors="coerce")
            out[column.key] = [None if pd.isna(v) else int(round(float(v))) for v in numbers]
        elif kind == "share":
            numbers = pd.to_numeric(values, errors="coerce")
            out[column.key] = [None if pd.isna(v) else float(v) for v in numbers]
        elif kind == "quarter":
            out[column.key] = [
                None if _missing(v) else format_quarter(str(v), language) for v in values
            ]
        elif kind == "date":
            out[column.key] = [None if _missing(v) else pd.Timestamp(v).date() for v in values]
        elif kind == "yes_no":
            word = {True: t("workbook.word_yes", language), False: t("workbook.word_no", language)}
            out[column.key] = [
                None if _missing(v) else word[str(v).strip().lower() in ("true", "1", "1.0")]
                for v in values
            ]
        elif kind == "criteria":
            out[column.key] = [_criteria_words(v, language) for v in values]
        elif kind == "pool":
            out[column.key] = [_pool_words(v, params, language) for v in values]
        else:  # text, code
            out[column.key] = [None if _missing(v) else str(v) for v in values]
    result = pd.DataFrame(out, index=frame.index)
    for total, part in CUMULATIVE.items():
        if total in result and part in result and result[part].notna().all():
            result[total] = result[part].astype("int64").cumsum().astype(object)
    return result


# --------------------------------------------------------------------------------------------
# Writing


def _cell_value(value: object) -> object:
    """A pandas/numpy value as openpyxl writes it (missing -> empty cell)."""
    if _missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, int | float | bool | str | date):
        return value
    return str(value)


def _as_text(sheet: Worksheet) -> None:
    """Every string cell stays a string cell: openpyxl would store ``=...`` as a formula."""
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"


def _width(values: Sequence[object], header: str) -> float:
    longest = max(
        [len(header)]
        + [len(v.strftime("%d/%m/%Y")) if isinstance(v, date) else len(str(v)) for v in values]
    )
    return float(min(MAX_WIDTH, max(MIN_WIDTH, longest + 2)))


def _save(book: Workbook, path: str | Path) -> Path:
    """Save atomically with fixed times, so the same table gives the same bytes on a rerun."""
    book.properties.created = _FIXED_TIME
    buffer = io.BytesIO()
    book.save(buffer)
    with atomic_path(path) as tmp:
        _zip_with_fixed_times(buffer.getvalue(), tmp)
    return Path(path)


def _sheet(
    headers: list[str],
    rows: pd.DataFrame,
    formats: Sequence[str | None],
    title: str | None = None,
    sheet_name: str = "Sheet1",
) -> Workbook:
    """A workbook of one sheet: an optional title row, the header row (frozen), the rows."""
    book = Workbook()
    sheet = book.active
    sheet.title = sheet_name[:31]
    first = 1
    if title:
        sheet.append([title])
        sheet.cell(row=1, column=1).font = Font(bold=True, size=13)
        first = 2
    sheet.append(headers)
    for cell in sheet[first]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows.itertuples(index=False):
        sheet.append([_cell_value(v) for v in row])
    for j, (header, number_format) in enumerate(zip(headers, formats, strict=True), start=1):
        values = [v for v in rows.iloc[:, j - 1] if not _missing(v)]
        sheet.column_dimensions[get_column_letter(j)].width = _width(values, header)
        if number_format is not None:
            for (cell,) in sheet.iter_rows(
                min_row=first + 1, max_row=first + len(rows), min_col=j, max_col=j
            ):
                cell.number_format = number_format
    sheet.freeze_panes = sheet.cell(row=first + 1, column=1)  # header stays when scrolling
    _as_text(sheet)
    return book


def write_workbook(
    frame: pd.DataFrame,
    path: str | Path,
    table: str,
    language: Language,
    params: Params | None = None,
) -> Path:
    """Write any table as ``.xlsx`` with headers in ``language`` (values unchanged).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as saved to CSV (snake_case columns).
    path : path-like
        The ``.xlsx`` file.
    table : str
        The table's name (``effects``, ``cost_effectiveness``...): picks its column dictionary.
    language : {"vi", "en"}
    params : Params, optional
        The run's parameters (a panel's own unit nouns); Hà Nam's nouns without.
    """
    headers = column_labels(table, [str(c) for c in frame.columns], language, params)
    # amounts of đồng shown whole and thousands-separated (the cell keeps its exact value)
    formats = [
        WHOLE if is_vnd(str(c)) and pd.api.types.is_numeric_dtype(frame[c]) else None
        for c in frame.columns
    ]
    book = _sheet(headers, frame, formats, sheet_name=table)
    return _save(book, path)


def write_signable(
    frame: pd.DataFrame,
    path: str | Path,
    table: str,
    language: Language,
    params: Params,
    day: date,
) -> Path:
    """Write a document the board signs (:data:`SIGNABLE`) as ``.xlsx``.

    A title row (document, run name, ``day`` in the language's format, data source), headers
    in words, the frozen header, column widths, whole đồng and households with thousands
    separators, shares as percent, quarters and dates as the language writes them.
    """
    if table not in SIGNABLE:
        raise ValueError(f"{table!r} is not a signable document; use one of {sorted(SIGNABLE)}")
    order = [c for c in SIGNABLE_ORDER[table] if c in frame]
    ordered = frame.sort_values(order, kind="stable") if order else frame
    values = reader_values(ordered, table, language, params)
    kinds = {c.key: c.kind for c in SIGNABLE[table]}
    formats = [
        DATE_FORMATS[language] if kinds[c] == "date" else NUMBER_FORMATS.get(kinds[c])
        for c in values.columns
    ]
    headers = column_labels(table, list(values.columns), language, params)
    title = title_line(table, params, language, day)
    book = _sheet(
        headers, values, formats, title=title, sheet_name=t(f"workbook.sheets.{table}", language)
    )
    return _save(book, path)
