"""Read input tables as the people who send them write them: CSV, Excel .xlsx or Parquet.

Every cell arrives as text (codes keep their leading zeros; ``13285`` never becomes ``13285.0``),
Vietnamese text is normalised to Unicode NFC (a name typed in NFD still matches), and the index
holds the row number a person sees in the file (the header is row 1), so that a validation
problem can point at the exact row to fix. Raw files are only ever read.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

READABLE_SUFFIXES = (".csv", ".xlsx", ".parquet")


class InputFileError(ValueError):
    """A file that cannot be read at all (missing, wrong format, empty)."""


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


def read_table(path: str | Path, sheet: str | int = 0) -> pd.DataFrame:
    """Read a CSV (UTF-8, with or without BOM), Excel .xlsx or Parquet file as text.

    Parameters
    ----------
    path : path-like
        The file. Its suffix decides the reader.
    sheet : str or int
        Excel sheet name or position.

    Returns
    -------
    pandas.DataFrame
        Every column as text (missing cells are ``<NA>``), column names NFC-normalised and
        stripped, index = row number in the file (header = 1, so the first record is row 2).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            separator = _separator(path)
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
        elif suffix == ".xlsx":
            frame = pd.read_excel(path, sheet_name=sheet, dtype=object, engine="openpyxl")
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            raise InputFileError(
                f"{path}: cannot read '{suffix}' files; save it as one of {', '.join(READABLE_SUFFIXES)}"
            )
    except UnicodeDecodeError as err:
        raise InputFileError(
            f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); "
            "save it as 'CSV UTF-8' (Excel: File > Save As > CSV UTF-8)"
        ) from err
    except InputFileError:
        raise
    except pd.errors.ParserError as err:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
        if found:
            expected, line, saw = found.groups()
            raise InputFileError(
                f"{path}: line {line} has {saw} cells but the header has {expected}; a cell "
                "probably contains the separator: put that cell in double quotes, or save the "
                "sheet again as 'CSV UTF-8' from Excel"
            ) from None
        raise InputFileError(
            f"{path}: not a readable CSV table ({err}); save it again as CSV UTF-8"
        ) from None
    except Exception as err:  # pandas raises many types for a malformed file
        raise InputFileError(f"{path}: could not be read as {suffix}: {err}") from err
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
