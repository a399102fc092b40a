"""Read input tables as the people who send them write them: CSV, Excel .xlsx or Parquet.

Every cell arrives as text (codes keep their leading zeros; ``13285`` never becomes ``13285.0``),
Vietnamese text is normalised to Unicode NFC (a name typed in NFD still matches), and the index
holds the row number a person sees in the file (the header is row 1), so that a validation
problem can point at the exact row to fix. Raw files are only ever read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

READABLE_SUFFIXES = (".csv", ".xlsx", ".parquet")


class InputFileError(ValueError):
    """A file that cannot be read at all (missing, wrong format, empty, ambiguous header).

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What is wrong, in plain words.
    fix : str
        How to fix it.
    rule : str
        Name of the rule in ``messages/<language>/validation.yaml`` (the problem table's row
        carries that rule's fixed wording; ``value`` carries the particulars).
    row, column, value : str
        Where, when the problem sits at one place (``row`` "1 (header)" for a header problem).

    The message is ``"<path>: <what>; <fix>"``.
    """

    def __init__(
        self,
        path: str | Path,
        what: str,
        fix: str = "",
        rule: str = "file_damaged",
        row: str = "file",
        column: str = "",
        value: str = "",
    ) -> None:
        self.path, self.what, self.fix, self.rule = Path(path), what, fix, rule
        self.row, self.column, self.value = row, column, value
        super().__init__(f"{path}: {what}" + (f"; {fix}" if fix else ""))


def nfc(value: object) -> object:
    """Unicode NFC form of a string, stripped of surrounding spaces; other values unchanged."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value).strip()
    return value


def _cell_to_text(value: object) -> object:
    """Excel and Parquet cells as text: integral floats lose their ``.0``, missing stays missing."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return pd.NA
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()[:10]
    return nfc(str(value))


def read_table(
    path: str | Path, sheet: str | int = 0, required: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a CSV (UTF-8, with or without BOM), Excel .xlsx or Parquet file as text.

    Parameters
    ----------
    path : path-like
        The file. Its suffix decides the reader.
    sheet : str or int
        Excel sheet name or position.
    required : sequence of str, optional
        Columns the table must have. In a workbook they choose the sheet (the first sheet
        holding them, when the first does not) and the header row (title rows above it are
        skipped).

    Returns
    -------
    pandas.DataFrame
        Every column as text (missing cells are ``<NA>``), column names NFC-normalised and
        stripped, index = row number in the file (header = 1, so the first record is row 2).

    Raises
    ------
    InputFileError
        A file that cannot be read as a table: missing, empty, not UTF-8, malformed, a column
        name written twice, cells merged across rows; the message says what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            path, "file not found", "check the path in the params file", rule="file_not_found"
        )
    suffix = path.suffix.lower()
    if suffix not in READABLE_SUFFIXES:
        raise InputFileError(
            path,
            f"cannot read '{suffix}' files",
            f"save it as one of {', '.join(READABLE_SUFFIXES)}",
            rule="file_kind",
            value=suffix,
        )
    if path.stat().st_size == 0:
        raise InputFileError(path, "the file is empty", _EMPTY_FIX, rule="file_empty")
    if suffix == ".xlsx":
        return _read_xlsx(path, sheet, required)
    try:
        if suffix == ".csv":
            separator = _separator(path)
            _check_header(path, _csv_header(path, separator))
            # utf-8-sig strips a BOM when there is one and reads plain UTF-8 otherwise.
            frame = pd.read_csv(
                path,
                dtype=str,
                encoding="utf-8-sig",
                keep_default_na=False,
                na_values=[""],
                sep=separator,
            )
            if separator == ";":  # a Vietnamese-locale Excel export: decimal commas
                frame = frame.apply(_decimal_comma_to_dot)
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as err:
        raise InputFileError(
            path,
            f"not UTF-8 text ({err.reason} at byte {err.start})",
            "save it as 'CSV UTF-8' (Excel: File > Save As > CSV UTF-8)",
            rule="file_encoding",
            value=f"byte {err.start}",
        ) from None
    except InputFileError:
        raise
    except pd.errors.EmptyDataError:
        raise InputFileError(path, "the file is empty", _EMPTY_FIX, rule="file_empty") from None
    except pd.errors.ParserError as err:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
        if found:
            expected, line, saw = found.groups()
            raise InputFileError(
                path,
                f"line {line} has {saw} cells but the header has {expected}",
                "a cell probably contains the separator: put that cell in double quotes, or "
                "save the sheet again as 'CSV UTF-8' from Excel",
                rule="csv_cells",
                row=line,
                value=f"{saw} cells, header {expected}",
            ) from None
        raise InputFileError(
            path,
            "not a readable CSV table",
            "save it again as 'CSV UTF-8' from Excel",
            rule="file_damaged",
            value=suffix,
        ) from None
    except Exception:  # pandas and pyarrow raise many types for a malformed file
        raise InputFileError(
            path,
            f"could not be read as {suffix} (the file is damaged or is not really a {suffix} file)",
            "open it in the program that made it and save it again",
            value=suffix,
        ) from None
    frame.columns = [str(nfc(str(c))) for c in frame.columns]
    if suffix == ".csv":  # already text: only strip and NFC-normalise the non-ASCII cells (fast)
        frame = frame.astype("string")
        for col in frame.columns:
            values = frame[col].str.strip()
            non_ascii = values.notna() & ~values.str.isascii().fillna(True)
            if non_ascii.any():
                values = values.where(~non_ascii, values[non_ascii].map(nfc))
            frame[col] = values
    else:
        frame = frame.apply(lambda col: col.map(_cell_to_text)).astype("string")
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="row")
    return frame


_EMPTY_FIX = "save the table again with its header row and its records"


def _csv_header(path: Path, separator: str) -> list[str]:
    """The header cells of a CSV file as written (pandas renames a repeated name silently)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle, delimiter=separator), [])
    return [str(nfc(cell)) for cell in header]


def _check_header(path: Path, header: Sequence[str]) -> None:
    """Refuse an empty header or a column name written twice (which value would count?)."""
    if not any(header):
        raise InputFileError(
            path, "the file is empty (no header row)", _EMPTY_FIX, rule="file_empty"
        )
    named = [h for h in header if h]
    repeated = sorted({h for h in named if named.count(h) > 1})
    if repeated:
        raise InputFileError(
            path,
            f"column name '{repeated[0]}' appears {named.count(repeated[0])} times in the header",
            "rename or delete the repeated column, so that each name is used once",
            rule="duplicate_column",
            row="1 (header)",
            value=f"{named.count(repeated[0])} times",
            column=repeated[0],
        )


#: Workbooks larger than this are streamed (read-only) rather than loaded whole.
_FULL_LOAD_BYTES = 30_000_000
#: Rows of a sheet searched for the header (title rows above it are common in Excel).
_HEADER_SEARCH_ROWS = 10


def _read_xlsx(path: Path, sheet: str | int, required: Sequence[str]) -> pd.DataFrame:
    """One sheet of a workbook as text, with the header row found and merged cells refused."""
    from openpyxl import load_workbook

    # Only a full load knows the merged cells; a very large workbook is streamed (read-only)
    # to keep memory in bounds, and its merged cells go unchecked.
    streamed = path.stat().st_size > _FULL_LOAD_BYTES
    try:
        book = load_workbook(path, data_only=True, read_only=streamed)
    except Exception:  # openpyxl and zipfile raise many types for a damaged workbook
        raise InputFileError(
            path,
            "could not be read as .xlsx (the file is damaged or is not really a .xlsx file)",
            "open it in Excel and save it again as an Excel workbook (.xlsx)",
            value=".xlsx",
        ) from None
    names = book.sheetnames
    wanted = {str(nfc(c)) for c in required}
    if isinstance(sheet, str):
        if sheet not in names:
            raise InputFileError(
                path,
                f"has no sheet named '{sheet}'",
                f"use one of: {', '.join(names)}",
                rule="no_table_sheet",
                value=", ".join(names),
            )
        candidates = [sheet]
    else:
        candidates = [names[sheet], *(n for n in names if n != names[sheet])]
    chosen = None
    for name in candidates:
        rows = list(book[name].iter_rows(values_only=True))
        header_at = _header_row(rows, wanted)
        if header_at is not None:
            chosen = (name, rows, header_at)
            break
    if chosen is None:
        if wanted and len(names) > 1:
            raise InputFileError(
                path,
                f"none of its sheets ({', '.join(names)}) has a header row with the columns "
                f"{', '.join(sorted(wanted))}",
                "put the table, with its header in the first row, in the first sheet",
                rule="no_table_sheet",
                row="1 (header)",
                value=", ".join(names),
            )
        name = candidates[0]
        chosen = (name, list(book[name].iter_rows(values_only=True)), 0)
    name, rows, header_at = chosen
    if not rows or not any(v is not None for v in rows[header_at]):
        raise InputFileError(path, f"sheet '{name}' is empty", _EMPTY_FIX, rule="file_empty")
    width = max(len(r) for r in rows)  # a streamed sheet may give rows of unequal length
    rows = [tuple(r) + (None,) * (width - len(r)) for r in rows]
    header = ["" if v is None else str(nfc(str(v))) for v in rows[header_at]]
    _check_header(path, header)
    if streamed:
        book.close()  # a read-only workbook keeps its file open until closed
    else:
        _refuse_merged_cells(path, book[name], header, header_at + 1)
    body = rows[header_at + 1 :]
    row_numbers = range(header_at + 2, header_at + 2 + len(body))
    frame = pd.DataFrame(body, columns=range(len(header)), index=row_numbers, dtype=object)
    frame = frame.loc[frame.notna().any(axis=1)]  # blank formatted rows at the end of a sheet
    keep = [i for i, h in enumerate(header) if h or frame[i].notna().any()]
    frame = frame[keep]
    frame.columns = [header[i] or f"(column {i + 1} without a name)" for i in keep]
    frame = frame.apply(lambda col: col.map(_cell_to_text)).astype("string")
    frame.index.name = "row"
    return frame


def _header_row(rows: list[tuple], wanted: set[str]) -> int | None:
    """Index of the first of the top rows holding every ``wanted`` name (0 when none wanted)."""
    if not wanted:
        return 0
    for index, row in enumerate(rows[:_HEADER_SEARCH_ROWS]):
        cells = {str(nfc(str(v))) for v in row if v is not None}
        if wanted <= cells:
            return index
    return None


def _refuse_merged_cells(path: Path, sheet: Any, header: list[str], header_line: int) -> None:
    """Cells merged below the header hold their value in the first row only: refuse them."""
    merged = sorted(
        (r for r in sheet.merged_cells.ranges if r.max_row > header_line),
        key=lambda r: (r.min_row, r.min_col),
    )
    if not merged:
        return
    first = merged[0]
    column = header[first.min_col - 1] if first.min_col <= len(header) else ""
    value = sheet.cell(first.min_row, first.min_col).value
    more = f" (and {len(merged) - 1} more merged ranges)" if len(merged) > 1 else ""
    raise InputFileError(
        path,
        f"cells {first.coord} are merged: a merged cell holds its value in its first row only, "
        f"so the other rows would read as empty{more}",
        "unmerge the cells (Excel: Home > Merge & Center) and write the value in every row",
        rule="merged_cells",
        row=f"{first.min_row}-{first.max_row}",
        column=column,
        value=f"{first.coord}: {'' if value is None else value}{more}",
    )


def _separator(path: Path) -> str:
    """``;`` when the header line has more semicolons than commas (Excel in a locale whose
    decimal mark is the comma, as in Vietnam, saves CSV that way), else ``,``."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        header = handle.readline()
    return ";" if header.count(";") > header.count(",") else ","


_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


def _decimal_comma_to_dot(column: pd.Series) -> pd.Series:
    """``0,45`` -> ``0.45`` in a semicolon-separated file (other cells unchanged)."""
    text = column.astype("string")
    hits = text.str.match(_DECIMAL_COMMA).fillna(False)
    return text.where(~hits, text.str.replace(",", ".", regex=False)) if hits.any() else column


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it only if the block succeeds.

    A crash leaves no half-written file that looks complete.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)  # mkstemp creates owner-only files; outputs are for everyone
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_table(frame: pd.DataFrame, target: str | Path) -> Path:
    """Write a table atomically as CSV (UTF-8 with BOM, so Excel shows Vietnamese) or Parquet."""
    target = Path(target)
    with atomic_path(target) as tmp:
        if target.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        elif target.suffix == ".csv":
            frame.to_csv(tmp, index=False, encoding="utf-8-sig")
        elif target.suffix == ".xlsx":
            _write_xlsx_as_text(frame, tmp)
        else:
            raise ValueError(f"{target}: write CSV, Parquet or XLSX")
    return target


#: The creation time written into every workbook (a fixed value keeps reruns byte-identical).
_FIXED_TIME = datetime(2000, 1, 1)
#: A cell starting with one of these is a formula to Excel: text from input files must stay text.
FORMULA_STARTS = ("=", "+", "-", "@")


def _write_xlsx_as_text(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` to XLSX; every text cell is a string cell, never a formula (a commune
    name such as ``=HYPERLINK(...)`` from an input file stays inert text)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
                cells.append(None)
            elif isinstance(value, np.generic):
                cells.append(value.item())
            elif isinstance(value, pd.Timestamp):
                cells.append(value.to_pydatetime())
            elif isinstance(value, int | float | bool | str):
                cells.append(value)
            else:
                cells.append(str(value))
        sheet.append(cells)
    for row in sheet.iter_rows(min_row=1):
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
                cell.data_type = "s"  # openpyxl would otherwise store it as a formula
    book.properties.created = _FIXED_TIME  # same bytes on a rerun
    buffer = io.BytesIO()
    book.save(buffer)
    _zip_with_fixed_times(buffer.getvalue(), path)


def _zip_with_fixed_times(data: bytes, path: str | Path) -> None:
    """Rewrite a zip (an XLSX) with every member dated :data:`_FIXED_TIME`, so identical
    tables give identical files."""
    stamp = _FIXED_TIME.timetuple()[:6]
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for member in source.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            content = source.read(member.filename)
            if member.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(<)",
                    rb"\g<1>" + _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>",
                    content,
                )
            target.writestr(info, content)


def sha256(path: str | Path) -> str:
    """The file's SHA-256 (hex), read in blocks (inputs can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text(text: str, target: str | Path) -> Path:
    """Write text atomically (UTF-8)."""
    with atomic_path(target) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(target)
