"""Words that depend on the data: what a unit, a treated unit and a period are called.

Hà Nam's contract speaks of communes, pilot communes and quarters; a generic panel speaks of
its own units (``data.panel.unit_label``) and periods (``data.panel.frequency``). Pages take
these nouns from here so no Hà Nam word appears on another programme's data.
"""

from __future__ import annotations

from evaluation.config import Params
from evaluation.i18n import Language, t


def is_hanam(params: Params) -> bool:
    """Whether the run uses the Hà Nam contract (demo or files), not a generic panel."""
    return params.data.source != "panel"


def unit_noun(params: Params, language: Language, plural: bool = True) -> str:
    """``communes`` / ``xã`` (Hà Nam), the panel's ``unit_label``, else ``units`` / ``đơn vị``."""
    if is_hanam(params):
        return t(f"wording.commune{'s' if plural else ''}", language)
    spec = params.data.panel
    if spec is not None and spec.unit_label.get(language):
        return spec.unit_label[language]
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
