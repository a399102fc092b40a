"""The "how sure are we" section of the effects page: wording and tables only.

The statistics (every few-cluster method on the headline design, each one's false-alarm rate
measured on it, the verdict and the interval the reader may see) are
:func:`evaluation.analysis.how_sure.how_sure`. Here they become a table, a reading and the
warnings; an interval appears only for a method whose measured size lies in the band.
"""

from __future__ import annotations

import math

import pandas as pd

from evaluation.analysis.how_sure import HowSure
from evaluation.config import Params
from evaluation.i18n import Language, format_number, format_p_value, format_percent, t
from evaluation.report import wording
from evaluation.report.effects import (
    confidence_level,
    format_effect,
    interval_text,
    method_name,
    withheld_sentence,
)


def method_label(method: str, language: Language) -> str:
    """The reader's short name of a method."""
    return method_name(method, language)


def heading(check: HowSure, params: Params, language: Language) -> str:
    """``How sure can we be with only <n> pilot communes?`` with the count from the data."""
    return t(
        "few_cluster.heading",
        language,
        n=check.n_treated_clusters,
        treated=wording.treated_noun(params, language, plural=check.n_treated_clusters != 1),
    )


def intro(check: HowSure, params: Params, language: Language) -> str:
    """What the section does: the methods, the simulations, the band."""
    low, high = params.inference.size_band
    return t(
        "few_cluster.intro",
        language,
        n_sims=format_number(check.n_sims, language, 0),
        low=format_percent(low, language, 0),
        high=format_percent(high, language, 0),
        alpha=format_percent(params.analysis.alpha, language, 0),
        treated=wording.treated_noun(params, language),
    )


def comparison_display(check: HowSure, params: Params, language: Language) -> pd.DataFrame:
    """The methods side by side: interval only where the method passed the size check."""
    outcome = check.outcome
    rows = []
    status_key = {
        "board": "few_cluster.board",
        "passed": "few_cluster.passed",
        "failed": "few_cluster.failed",
        "not_measured": "few_cluster.not_measured",
    }
    for r in check.comparison.itertuples(index=False):
        shown = bool(r.interval_shown)
        rows.append(
            {
                t("few_cluster.col_method", language): method_label(r.method, language),
                t("few_cluster.col_ci", language, level=confidence_level(params.analysis.alpha)): (
                    interval_text(outcome, r.conf_low, r.conf_high, language)
                    if shown
                    else t("few_cluster.withheld_cell", language)
                ),
                t("few_cluster.col_p", language): format_p_value(r.p_value, language),
                t(
                    "few_cluster.col_size",
                    language,
                    alpha=format_percent(params.analysis.alpha, language, 0),
                ): format_percent(r.rate, language),
                t("few_cluster.col_trusted", language): t(status_key[r.status], language),
            }
        )
    return pd.DataFrame(rows)


def left_out_lines(check: HowSure, params: Params, language: Language) -> str:
    """One line per method that cannot run on this design, with the reason."""
    nouns = {
        "treated": wording.treated_noun(params, language),
        "treated_one": wording.treated_noun(params, language, plural=False),
        "units": wording.unit_noun(params, language),
    }
    lines = [
        f"- {method_label(r.method, language)}: {t(r.reason, language, **nouns)}"
        for r in check.left_out.itertuples(index=False)
    ]
    return "\n".join(lines)


def effect_value(check: HowSure, language: Language) -> str:
    """The point estimate in the outcome's unit."""
    return format_effect(check.outcome, check.trusted.estimate, language)


def warnings(check: HowSure, params: Params, language: Language) -> tuple[str, ...]:
    """What the reader must know before trusting a cluster-robust p-value: few treated
    clusters (< 20), one cluster holding more than 20% of the treated rows."""
    out = []
    nouns = {
        "treated": wording.treated_noun(params, language, plural=check.n_treated_clusters != 1),
        "units": wording.unit_noun(params, language),
        "unit": wording.unit_noun(params, language, plural=False),
    }
    if check.n_treated_clusters < 20:
        out.append(
            t(
                "few_cluster.warning_few",
                language,
                n=check.n_treated_clusters,
                threshold=20,
                **nouns,
            )
        )
    if check.dominant_cluster is not None and math.isfinite(check.dominant_share):
        out.append(
            t(
                "few_cluster.warning_dominant",
                language,
                cluster=check.dominant_cluster,
                share=format_percent(check.dominant_share, language),
                threshold=format_percent(0.2, language, 0),
                **nouns,
            )
        )
    return tuple(out)


def reading(check: HowSure, params: Params, language: Language) -> str:
    """Plain-language paragraph for board staff: which method, its measured size, the p-value,
    and the interval or why it is withheld."""
    trusted = check.trusted
    crv1 = check.comparison.loc[check.comparison["method"] == "crv1", "rate"]
    if check.verdict is None:
        text = t(
            "few_cluster.reading_not_measured",
            language,
            method=method_label(trusted.method or "", language),
            p=format_p_value(trusted.p_value, language),
        )
    else:
        text = t(
            "few_cluster.reading",
            language,
            method=method_label(trusted.method or "", language),
            rate=format_percent(trusted.rate, language),
            p=format_p_value(trusted.p_value, language),
            n_sims=format_number(check.n_sims, language, 0),
        )
        if len(crv1) and trusted.method != "crv1" and math.isfinite(float(crv1.iloc[0])):
            text += " " + t(
                "few_cluster.reading_crv1",
                language,
                crv1_rate=format_percent(float(crv1.iloc[0]), language),
            )
        text += " " + check.verdict.explain(language)
    extra = withheld_sentence(trusted, params, language)
    return f"{text} {extra}".strip()
