"""The page of ``evaluation compare``: two runs side by side, in run B's language.

Writes ``comparison.html`` (the parameters that differ, then every headline number and decision
with an arrow and the page it comes from) and ``comparison.csv`` (the same rows, raw values, for
machines). Renders only: the values come from
:func:`evaluation.analysis.run_comparison.compare_runs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.analysis.run_comparison import RunComparison
from evaluation.data.io import write_table, write_text
from evaluation.i18n import (
    Language,
    format_billion_vnd,
    format_number,
    format_percent,
    t,
)
from evaluation.report.effects import format_effect
from evaluation.report.render import standalone_page

#: The arrow shown for each kind of change.
ARROWS = {"up": "↑", "down": "↓", "same": "=", "changed": "≠", "new": "+", "gone": "−"}

_PAGE = """<h1>{{ title }}</h1>
<p>{{ intro }}</p>
<h2>{{ params_heading }}</h2>
{% if params %}<table class="pages">
<thead><tr><th>{{ col_param }}</th><th>A</th><th>B</th></tr></thead>
<tbody>{% for row in params %}<tr><td><code>{{ row.key }}</code></td><td>{{ row.a }}</td><td>{{ row.b }}</td></tr>
{% endfor %}</tbody></table>{% else %}<p>{{ params_none }}</p>{% endif %}
<h2>{{ results_heading }}</h2>
<p>{{ results_intro }}</p>
<table class="pages">
<thead><tr><th>{{ col_what }}</th><th>A</th><th></th><th>B</th><th>{{ col_page }}</th></tr></thead>
<tbody>{% for row in results %}<tr{% if row.change != "same" %} style="font-weight:bold"{% endif %}>
<td>{{ row.label }}</td><td>{{ row.a }}</td><td title="{{ row.change_word }}">{{ row.arrow }}</td><td>{{ row.b }}</td><td>{{ row.page }}</td></tr>
{% endfor %}</tbody></table>
<p class="meta">{{ meta }}</p>
"""


def _shown(value: Any, kind: str, outcome: str | None, language: Language) -> str:
    """A value as the pages write it (``–`` when the run has none)."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if kind == "effect":
        return format_effect(outcome or "satisfaction_index", float(value), language)
    if kind == "vnd":
        return format_billion_vnd(float(value), language)
    if kind == "count":
        return format_number(float(value), language, 0)
    if kind == "share":
        return format_percent(float(value), language, 0)
    if kind == "names":
        return ", ".join(str(v) for v in value) or "–"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _page_name(page: str, language: Language) -> str:
    try:
        return t(f"summary.pages.p{page}", language)
    except KeyError:
        return page


def display_rows(comparison: RunComparison, language: Language) -> list[dict[str, str]]:
    """The result rows as the page shows them (changed ones first, then the unchanged)."""
    rows = []
    for row in comparison.results.itertuples():
        rows.append(
            {
                "label": t(f"compare.rows.{row.key}", language),
                "a": _shown(row.value_a, row.kind, comparison.outcome, language),
                "b": _shown(row.value_b, row.kind, comparison.outcome, language),
                "arrow": ARROWS[row.change],
                "change": row.change,
                "change_word": t(f"compare.change.{row.change}", language),
                "page": _page_name(row.page, language),
            }
        )
    return sorted(rows, key=lambda r: r["change"] == "same")


def write_comparison(comparison: RunComparison, out: Path) -> Path:
    """Write ``comparison.html`` and ``comparison.csv`` into ``out``; returns the page's path."""
    language: Language = comparison.language if comparison.language in ("vi", "en") else "vi"  # type: ignore[assignment]
    out.mkdir(parents=True, exist_ok=True)
    tidy = comparison.tidy()
    tidy["value_a"] = tidy["value_a"].map(_csv_value)
    tidy["value_b"] = tidy["value_b"].map(_csv_value)
    write_table(tidy, out / "comparison.csv")
    params = [
        {
            "key": r.key,
            "a": _shown(r.value_a, "text", None, language),
            "b": _shown(r.value_b, "text", None, language),
        }
        for r in comparison.params.itertuples()
    ]
    n_changed = len(comparison.changed)
    text = standalone_page(
        _PAGE,
        language=language,
        title=t("compare.title", language),
        intro=t("compare.intro", language, a=str(comparison.run_a), b=str(comparison.run_b)),
        params_heading=t("compare.params_heading", language),
        params_none=t("compare.params_none", language),
        col_param=t("compare.col_param", language),
        params=params,
        results_heading=t("compare.results_heading", language),
        results_intro=t("compare.results_intro", language, n=n_changed),
        col_what=t("compare.col_what", language),
        col_page=t("compare.col_page", language),
        results=display_rows(comparison, language),
        meta=t("compare.meta", language, csv="comparison.csv"),
    )
    return write_text(text, out / "comparison.html")


def _csv_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return value


__all__ = ["ARROWS", "display_rows", "write_comparison"]
