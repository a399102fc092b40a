"""Periods as the data write them: years, quarters, months, or plain integers.

Every period becomes an integer index that counts consecutive periods (a year is itself; a
quarter or a month is its pandas ``Period`` ordinal), so estimators can compare and subtract
periods whatever their frequency. :func:`period_text` turns an index back into the data's own
label (``2007``, ``2019Q4``, ``2019-10``).
"""

from __future__ import annotations

import re
from typing import Literal

import pandas as pd

PeriodFormat = Literal["integer", "quarter", "month"]

_QUARTER = [
    re.compile(r"^(?P<year>\d{4})\s*[-/ ]?\s*[Qq](?P<q>[1-4])$"),  # 2019Q4, 2019 Q4, 2019-Q4
    re.compile(r"^[Qq](?P<q>[1-4])\s*[-/ ]?\s*(?P<year>\d{4})$"),  # Q4/2019, Q4 2019
]
_MONTH = [
    re.compile(r"^(?P<year>\d{4})[-/.](?P<m>\d{1,2})$"),  # 2019-10, 2019/10
    re.compile(r"^(?P<m>\d{1,2})[-/.](?P<year>\d{4})$"),  # 10/2019
]
#: What the problem table lists as the accepted forms.
ACCEPTED_FORMS = "a whole number such as 2007, a quarter such as 2019Q4, 2019 Q4 or Q4/2019, or a month such as 2019-10"


def _integer(text: str) -> int | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _quarter(text: str) -> int | None:
    for pattern in _QUARTER:
        match = pattern.match(text)
        if match:
            return pd.Period(year=int(match["year"]), quarter=int(match["q"]), freq="Q").ordinal
    return None


def _month(text: str) -> int | None:
    for pattern in _MONTH:
        match = pattern.match(text)
        if match and 1 <= int(match["m"]) <= 12:
            return pd.Period(year=int(match["year"]), month=int(match["m"]), freq="M").ordinal
    return None


_PARSERS = {"integer": _integer, "quarter": _quarter, "month": _month}


def detect_format(values: pd.Series) -> PeriodFormat:
    """The format that reads the most non-missing values (integers first, then quarters, months)."""
    texts = values.dropna().astype(str).str.strip()
    best: PeriodFormat = "integer"
    best_count = -1
    for name in ("integer", "quarter", "month"):
        count = int(texts.map(lambda v, p=_PARSERS[name]: p(v) is not None).sum())
        if count > best_count:
            best, best_count = name, count  # type: ignore[assignment]
    return best


def parse_periods(values: pd.Series, period_format: PeriodFormat) -> pd.Series:
    """Integer period indexes of ``values`` (float, NaN where a value cannot be read)."""
    parse = _PARSERS[period_format]
    texts = values.astype("string").str.strip()
    return pd.Series(
        [
            float("nan")
            if pd.isna(v)
            else (lambda r: float("nan") if r is None else float(r))(parse(str(v)))
            for v in texts
        ],
        index=values.index,
        dtype="float64",
    )


def parse_period(value: str | int, period_format: PeriodFormat) -> int | None:
    """One period (e.g. a window bound from params) in ``period_format``; None if unreadable."""
    return _PARSERS[period_format](str(value).strip())


def period_text(index: int | float, period_format: PeriodFormat) -> str:
    """The data's own label of a period index: ``2007``, ``2019Q4`` or ``2019-10``."""
    if period_format == "quarter":
        return str(pd.Period(ordinal=int(index), freq="Q"))
    if period_format == "month":
        return str(pd.Period(ordinal=int(index), freq="M"))
    return str(int(index))


def frequency_format(frequency: str) -> PeriodFormat | None:
    """The period format a ``data.panel.frequency`` implies (None: detect from the data)."""
    return {"year": "integer", "quarter": "quarter", "month": "month"}.get(frequency)


def canonical_labels(values: pd.Series, months: bool = False) -> pd.Series:
    """Quarter labels written another way (``2019 Q4``, ``Q4/2019``, ``2019-Q4``) as ``2019Q4``,
    and with ``months`` month labels (``2019/10``, ``10/2019``) as ``2019-10``.

    Cells that are neither stay as written, so that the contract reports them with their row.
    """
    texts = values.astype("string")

    def canonical(text: object) -> object:
        if pd.isna(text):
            return text
        quarter = _quarter(str(text).strip())
        if quarter is not None:
            return str(pd.Period(ordinal=quarter, freq="Q"))
        if months:
            month = _month(str(text).strip())
            if month is not None:
                return str(pd.Period(ordinal=month, freq="M"))
        return text

    unusual = texts.notna() & ~texts.str.fullmatch(r"\d{4}Q[1-4]|\d{4}-\d{2}").fillna(False)
    if not unusual.any():
        return values
    out = texts.copy()
    out[unusual] = texts[unusual].map(canonical)
    return out.astype("string")
