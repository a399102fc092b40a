"""Wording and number formats in Vietnamese (default) and English.

Every sentence a reader sees comes from the YAML files in ``messages/<language>/`` through
:func:`t` (one file per topic, the same files in each language), so a missing key is caught by a
test, not by a board member.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Literal

import yaml

Language = Literal["vi", "en"]
LANGUAGES: tuple[Language, ...] = ("vi", "en")
#: No-break space: keeps a number with its unit ("0,44 điểm", "< 0,001") on one line in tables.
NBSP = "\u00a0"


@cache
def messages(language: Language) -> dict[str, str]:
    """All messages of one language, flattened to dotted keys (``"banner.simulated"``)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    folder = resources.files("evaluation.messages").joinpath(language)
    flat: dict[str, str] = {}
    for item in sorted(folder.iterdir(), key=lambda f: f.name):
        if not item.name.endswith(".yaml"):
            continue
        for key, value in _flatten(yaml.safe_load(item.read_text("utf-8")) or {}).items():
            if key in flat:
                raise ValueError(f"message {key!r} is defined twice in messages/{language}/")
            flat[key] = value
    return flat


def _flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = str(value)
    return flat


def t(key: str, language: Language = "vi", **values: object) -> str:
    """The message ``key`` in ``language``, with ``{placeholders}`` filled from ``values``."""
    table = messages(language)
    if key not in table:
        raise KeyError(f"message {key!r} is missing from messages/{language}/")
    text = table[key].format(**values) if values else table[key]
    # Messages say "p = {p}"; a p-value below the shown precision arrives as "< 0,001".
    return text.replace("= < ", "< ").replace(f"= <{NBSP}", f"<{NBSP}")


def format_number(value: float | int | None, language: Language = "vi", decimals: int = 2) -> str:
    """A number with the language's separators: ``1.234,5`` in Vietnamese, ``1,234.5`` in English."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:,.{decimals}f}"
    if language == "vi":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text.replace("-", "−") if text.startswith("-") else text


def format_p_value(p: float | None, language: Language = "vi") -> str:
    """A p-value to three decimals; below 0.001 as ``< 0,001``."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    return (
        f"<{NBSP}{format_number(0.001, language, 3)}"
        if p < 0.001
        else format_number(p, language, 3)
    )


def format_percent(share: float | None, language: Language = "vi", decimals: int = 1) -> str:
    """A share (0.123) as a percentage (``12,3%``)."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "–"
    return f"{format_number(100 * share, language, decimals)}%"


def format_points(value: float | None, language: Language = "vi", decimals: int = 1) -> str:
    """A difference of shares in percentage points, signed (``+3,2 điểm %``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    sign = "+" if value >= 0 else ""
    return f"{sign}{format_number(100 * value, language, decimals)}{NBSP}{t('units.percentage_points', language)}"


def format_vnd(amount: float | None, language: Language = "vi") -> str:
    """An amount of Vietnamese đồng, rounded to the đồng (``12.500.000 đ``)."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "–"
    return f"{format_number(round(amount), language, 0)}{NBSP}{t('units.vnd', language)}"


def format_billion_vnd(amount: float | None, language: Language = "vi") -> str:
    """A large amount of đồng in billions (``2,95 tỷ đồng`` / ``VND 2.95 billion``)."""
    if amount is None or not math.isfinite(amount):
        return "–"
    return t("units.billion_vnd", language, value=format_number(amount / 1e9, language, 2))


def format_quarter(label: str, language: Language = "vi") -> str:
    """A quarter as readers write it: ``Q4/2019`` in Vietnamese, ``Q4 2019`` in English.

    Anything that is not a ``yyyyQn`` quarter (a generic panel's period) is returned unchanged.
    """
    match = re.fullmatch(r"(\d{4})Q([1-4])", label)
    if match is None:
        return label
    return f"Q{match[2]}/{match[1]}" if language == "vi" else f"Q{match[2]} {match[1]}"


def format_date(value: date | datetime | str, language: Language = "vi") -> str:
    """A date as dd/mm/yyyy in Vietnamese, yyyy-mm-dd in English."""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%d/%m/%Y" if language == "vi" else "%Y-%m-%d")
