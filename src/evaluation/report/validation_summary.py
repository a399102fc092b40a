"""What ``evaluation validate`` says when the data passed: a short summary a person can check.

Units and pilots, periods as the data write them, ballots, the files read with their sha256,
and every section the data cannot support (with its one sentence), in the run's language.
"""

from __future__ import annotations

from pathlib import Path

from evaluation.analysis.base import NotApplicable
from evaluation.analysis.facts import DataFacts
from evaluation.config import Params
from evaluation.data.io import sha256
from evaluation.i18n import Language, format_number, t
from evaluation.measures import period_label
from evaluation.prepare import Prepared
from evaluation.report.wording import period_noun, treated_noun, unit_noun


def _period(prepared: Prepared, index: int, language: Language) -> str:
    meta = prepared.meta
    return period_label(index, meta.get("source", ""), language, meta.get("period_format"))


def validation_summary(
    params: Params,
    prepared: Prepared,
    facts: DataFacts,
    skipped: list[NotApplicable],
    files: list[Path],
) -> str:
    """The summary as plain text lines in ``params.language``."""
    lang = params.language
    meta = prepared.meta
    waves = sorted(prepared.panel["wave_index"].unique())
    # Never-treated units among the units with data (not every unit of the map), so the
    # numbers of one sentence add up.
    with_data = (
        prepared.communes["commune_code"]
        .astype(str)
        .isin(set(prepared.panel["commune_code"].astype(str)))
    )
    never = int(prepared.communes.loc[with_data, "first_treated_wave"].isna().sum())
    lines = [
        t("validate.valid", lang),
        t(
            "validate.units",
            lang,
            n=format_number(facts.n_units, lang, 0),
            units=unit_noun(params, lang),
            treated=format_number(facts.n_treated, lang, 0),
            treated_noun=treated_noun(params, lang),
            never=format_number(never, lang, 0),
        ),
        t(
            "validate.periods",
            lang,
            n=len(waves),
            periods=period_noun(params, lang, plural=True),
            first=_period(prepared, waves[0], lang),
            last=_period(prepared, waves[-1], lang),
            start=_period(prepared, meta["pilot_wave"], lang),
            window_start=_period(prepared, meta["window_start"], lang),
            window_end=_period(prepared, meta["window_end"], lang),
        ),
    ]
    if prepared.ballots is not None and meta.get("source") != "panel":
        lines.append(t("validate.ballots", lang, n=format_number(len(prepared.ballots), lang, 0)))
    lines.append(t("validate.files", lang))
    lines += [f"  {path}  sha256 {sha256(path)}" for path in files]
    if skipped:
        lines.append(t("validate.skipped", lang, n=len(skipped)))
        lines += [f"  - {item.message(lang)} ({item.analysis})" for item in skipped]
    else:
        lines.append(t("validate.nothing_skipped", lang))
    return "\n".join(lines)
