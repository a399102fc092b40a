"""Words that depend on the data: what a unit, a treated unit and a period are called.

Hà Nam's contract speaks of communes, pilot communes and quarters; a generic panel speaks of
its own units (``data.panel.unit_label``) and periods (``data.panel.frequency``). Pages take
these nouns from here so no Hà Nam word appears on another programme's data.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from evaluation.config import Params
from evaluation.i18n import Language, format_date, format_quarter, t

#: A value that is a date or a quarter in the data's own form (``2020-01-01``, ``2022Q3``).
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_QUARTER = re.compile(r"\d{4}Q[1-4]")


def is_hanam(params: Params) -> bool:
    """Whether the run uses the Hà Nam contract (demo or files), not a generic panel."""
    return params.data.source != "panel"


def unit_noun(params: Params, language: Language, plural: bool = True) -> str:
    """``communes`` / ``xã`` (Hà Nam), the panel's ``unit_label``, else ``units`` / ``đơn vị``."""
    if is_hanam(params):
        return t(f"wording.commune{'s' if plural else ''}", language)
    spec = params.data.panel
    label = spec.unit_label.get(language) if spec is not None else None
    if isinstance(label, str) and label:
        return label
    if isinstance(label, tuple | list) and len(label) == 2:
        return label[1] if plural else label[0]
    return t(f"wording.unit{'s' if plural else ''}", language)


def treated_noun(params: Params, language: Language, plural: bool = True) -> str:
    """``pilot communes`` (Hà Nam) or ``treated <units>`` (a generic panel)."""
    if is_hanam(params):
        return t(f"wording.pilot_commune{'s' if plural else ''}", language)
    return t("wording.treated_units", language, units=unit_noun(params, language, plural))


def comparison_noun(params: Params, language: Language, plural: bool = True) -> str:
    """``non-pilot communes`` (Hà Nam) or ``untreated <units>`` (a generic panel)."""
    if is_hanam(params):
        return t(f"wording.comparison_commune{'s' if plural else ''}", language)
    return t("wording.untreated_units", language, units=unit_noun(params, language, plural))


def period_noun(params: Params, language: Language, plural: bool = False) -> str:
    """``quarter`` (Hà Nam ballots) or the panel's period: year, quarter, month or period."""
    frequency = "quarter"
    if not is_hanam(params) and params.data.panel is not None:
        frequency = params.data.panel.frequency
    return t(f"wording.period.{frequency}{'_plural' if plural else ''}", language)


def reader_value(value: object, language: Language) -> object:
    """A value for a reader's sentence: a date or an ISO date string as the language writes
    dates (``01/01/2020`` in Vietnamese), a ``2022Q3`` quarter as the language writes quarters
    (``Q3/2022``); anything else unchanged.

    Pages pass dates and periods in the data's form (params and tables use it); converting
    them here means no sentence shows ``bản đồ 2020-01-01`` or ``2022Q3`` to a reader.
    """
    if isinstance(value, datetime | date):
        return format_date(value, language)
    if isinstance(value, str):
        if _ISO_DATE.fullmatch(value):
            try:
                return format_date(value, language)
            except ValueError:  # not a calendar date (2020-13-45): leave it as written
                return value
        if _QUARTER.fullmatch(value):
            return format_quarter(value, language)
    return value


def board_name(language: Language) -> str:
    """The board the summary is written for, in one place (``common.yaml``: ``board.name``)."""
    return t("board.name", language)


def _cap(word: str) -> str:
    return word[:1].upper() + word[1:]


def noun_values(params: Params, language: Language, n_treated: int = 2) -> dict[str, str]:
    """The data's nouns as message placeholders: ``units``, ``unit``, ``treated``
    (``treated_one``), ``comparison``, ``period``, ``periods``, ``programme`` and the
    capitalised ``*_cap`` forms for a sentence or label that starts with one."""
    values = {
        "units": unit_noun(params, language, plural=True),
        "unit": unit_noun(params, language, plural=False),
        "treated": treated_noun(params, language, plural=n_treated != 1),
        "treated_one": treated_noun(params, language, plural=False),
        "comparison": comparison_noun(params, language),
        "period": period_noun(params, language),
        "periods": period_noun(params, language, plural=True),
        # What was adopted: Hà Nam's model, or a panel's programme.
        "programme": t(f"wording.programme_{'hanam' if is_hanam(params) else 'panel'}", language),
    }
    return {**values, **{f"{k}_cap": _cap(v) for k, v in values.items()}}


def generic_noun_values(language: Language) -> dict[str, str]:
    """:func:`noun_values` without params (a figure drawn outside a run): units and periods."""
    units, unit = t("wording.units", language), t("wording.unit", language)
    values = {
        "units": units,
        "unit": unit,
        "treated": t("wording.treated_units", language, units=units),
        "treated_one": t("wording.treated_units", language, units=unit),
        "comparison": t("wording.untreated_units", language, units=units),
        "period": t("wording.period.as_given", language),
        "periods": t("wording.period.as_given_plural", language),
    }
    return {**values, **{f"{k}_cap": _cap(v) for k, v in values.items()}}
