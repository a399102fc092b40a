"""The page of ``evaluation sweep``: every scenario side by side, in the base params' language.

Writes into the sweep folder ``scenarios.csv`` (machine columns, raw values), ``scenarios.xlsx``
(the same rows, headers in the page's language), ``figures/sweep_budget_gain.{png,svg}``
(budget against households gained per year, one line per set of the other settings) and
``sweep.html`` (the figure, then one table row per scenario with the communes it chose, then
the scenarios that failed and why). Renders only: the values are the runs' own, gathered by
:func:`evaluation.sweep.scenario_table`.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure

from evaluation.data.io import atomic_path, write_table, write_text
from evaluation.i18n import Language, format_billion_vnd, format_number, t
from evaluation.report.effects import format_effect
from evaluation.report.render import standalone_page
from evaluation.report.run_context import SAME_BYTES_RC
from evaluation.report.style import (
    PALETTE,
    close,
    localise_numbers,
    new_figure,
    number_axis,
    place_legend,
)

__all__ = [
    "BUDGET_KEY",
    "FIGURE",
    "condition_sets",
    "display_rows",
    "save_figure",
    "sweep_figure",
    "write_sweep_page",
]

#: The x-axis of the figure (a column of the scenario table).
BUDGET_KEY = "scaling.budget_vnd"
#: The figure's file name (without suffix) under ``figures/``.
FIGURE = "sweep_budget_gain"
#: Scenario table column -> message key of its header (the varied keys keep their own names).
HEADERS = {
    "scenario": "sweep.col.scenario",
    "status": "sweep.col.status",
    "effect_outcome": "sweep.col.effect_outcome",
    "effect_estimate": "sweep.col.effect",
    "plan_n_communes": "sweep.col.n_communes",
    "plan_communes": "sweep.col.communes",
    "plan_cost_vnd": "sweep.col.cost",
    "plan_gain_per_year": "sweep.col.gain",
    "plan_unspent_vnd": "sweep.col.unspent",
    "run_dir": "sweep.col.run_dir",
    "error": "sweep.col.error",
}

_PAGE = """<h1>{{ title }}</h1>
<p>{{ intro }}</p>
<h2>{{ figure_heading }}</h2>
{% if figure %}<figure><img src="data:image/png;base64,{{ figure }}" alt="{{ alt }}" style="max-width:100%">
<figcaption>{{ caption }} <a href="{{ svg }}">SVG</a></figcaption></figure>
{% else %}<p>{{ no_figure }}</p>{% endif %}
<h2>{{ table_heading }}</h2>
<table class="pages">
<thead><tr>{% for h in headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr>{% for cell in row.cells %}<td>{{ cell }}</td>{% endfor %}
<td>{% if row.link %}<a href="{{ row.link }}">{{ open_word }}</a>{% else %}–{% endif %}</td></tr>
{% endfor %}</tbody></table>
{% if failed %}<h2>{{ failed_heading }}</h2>
<ul>{% for row in failed %}<li><strong>{{ row.name }}</strong>: {{ row.error }}</li>{% endfor %}</ul>{% endif %}
<p class="meta">{{ meta }}</p>
"""


def _value_text(value: Any, language: Language) -> str:
    """A setting's value as the page writes it (decimal comma in Vietnamese)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    text = f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if language == "vi":  # 1,234.5 -> 1.234,5
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def _setting_text(key: str, value: Any, language: Language) -> str:
    if key == BUDGET_KEY and isinstance(value, int | float) and not isinstance(value, bool):
        return format_billion_vnd(float(value), language)
    return _value_text(value, language)


def condition_sets(table: pd.DataFrame, varied: list[str], language: Language) -> pd.Series:
    """Each scenario's label of its other settings (every varied key but the budget), e.g.
    ``min_condolence_on_time = 0,35``; empty when only the budget varies."""
    others = [k for k in varied if k != BUDGET_KEY]
    if not others:
        return pd.Series([""] * len(table), index=table.index)
    return table.apply(
        lambda row: "; ".join(
            f"{k.rsplit('.', 1)[-1]} = {_value_text(row[k], language)}" for k in others
        ),
        axis=1,
    )


def sweep_figure(table: pd.DataFrame, varied: list[str], language: Language) -> Figure | None:
    """Budget (billion VND) against satisfied households gained per year, one line per set of
    the other settings (complete scenarios with a gain only). None when no scenario has one."""
    gain = pd.to_numeric(table["plan_gain_per_year"], errors="coerce")
    budget = pd.to_numeric(table[BUDGET_KEY], errors="coerce")
    usable = (table["status"] == "complete") & gain.notna() & budget.notna()
    if not usable.any():
        return None
    labels = condition_sets(table, varied, language)
    frame = pd.DataFrame(
        {"budget": budget[usable] / 1e9, "gain": gain[usable], "set": labels[usable]}
    )
    fig, ax = new_figure(9, 5.5)
    for number, (label, group) in enumerate(frame.groupby("set", sort=False)):
        group = group.sort_values("budget")
        ax.plot(
            group["budget"],
            group["gain"],
            "-o",
            color=PALETTE[number % len(PALETTE)],
            lw=2.5,
            ms=7,
            label=label or None,
        )
    ax.set_xlabel(t("sweep.figure.x_label", language))
    ax.set_ylabel(t("sweep.figure.y_label", language))
    ax.set_title(t("sweep.figure.title", language))
    ax.set_ylim(bottom=0)
    number_axis(ax, language, "x", 1)
    number_axis(ax, language, "y")
    if frame["set"].ne("").any():
        place_legend(ax, title=t("sweep.figure.legend_title", language))
    return fig


def save_figure(fig: Figure, folder: Path, name: str, language: Language) -> Path:
    """Save ``fig`` as PNG and SVG under ``folder`` the way every page does: localised ticks,
    no creation date and fixed SVG ids (the same figure gives the same bytes on a rerun)."""
    localise_numbers(fig, language)
    for suffix in (".png", ".svg"):
        with atomic_path(folder / f"{name}{suffix}") as tmp, rc_context(SAME_BYTES_RC):
            fig.savefig(
                tmp, format=suffix[1:], metadata={"Date": None} if suffix == ".svg" else None
            )
    return folder / f"{name}.png"


def _communes_text(row: pd.Series, language: Language) -> str:
    n = row["plan_n_communes"]
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "–"
    names = row["plan_communes"]
    names = names if isinstance(names, str) and names else ""
    count = format_number(float(n), language, 0)
    return f"{count}: {names.replace('; ', ', ')}" if names else count


def display_rows(
    table: pd.DataFrame, varied: list[str], language: Language
) -> list[dict[str, Any]]:
    """The scenario table as the page shows it: settings, status, effect, communes chosen (count
    and names), cost, households gained per year, unspent budget, and a link to the run."""
    rows = []
    for _, row in table.iterrows():
        outcome = row.get("effect_outcome") or "satisfaction_index"
        effect = row["effect_estimate"]
        cells = [
            row["scenario"],
            *(_setting_text(k, row[k], language) for k in varied),
            t(f"sweep.status.{row['status']}", language),
            "–" if not _finite(effect) else format_effect(str(outcome), float(effect), language),
            _communes_text(row, language),
            _money(row["plan_cost_vnd"], language),
            "–"
            if not _finite(row["plan_gain_per_year"])
            else format_number(float(row["plan_gain_per_year"]), language, 0),
            _money(row["plan_unspent_vnd"], language),
        ]
        run_dir = row["run_dir"]
        link = (
            f"{run_dir}/index.html"
            if row["status"] == "complete" and isinstance(run_dir, str)
            else None
        )
        rows.append({"cells": cells, "link": link})
    return rows


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _money(value: Any, language: Language) -> str:
    return format_billion_vnd(float(value), language) if _finite(value) else "–"


def write_sweep_page(
    table: pd.DataFrame,
    folder: Path,
    varied: list[str],
    language: Language,
    sweep_file: str,
    base: str,
) -> Path:
    """Write ``scenarios.csv``, ``scenarios.xlsx``, the figure and ``sweep.html`` into
    ``folder``; returns the page's path.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`evaluation.sweep.scenario_table`: ``scenario``, one column per varied key,
        ``scaling.budget_vnd``, ``status``, ``effect_outcome``, the numbers, ``run_dir``,
        ``error``.
    varied : list of str
        The dotted keys that differ between scenarios.
    """
    folder.mkdir(parents=True, exist_ok=True)
    write_table(table, folder / "scenarios.csv")
    headers = {c: t(HEADERS[c], language) if c in HEADERS else c for c in table.columns}
    write_table(table.rename(columns=headers), folder / "scenarios.xlsx")

    fig = sweep_figure(table, varied, language)
    figure = None
    if fig is not None:
        png = save_figure(fig, folder / "figures", FIGURE, language)
        close(fig)
        figure = base64.b64encode(png.read_bytes()).decode()
    n_failed = int((table["status"] != "complete").sum())
    failed = [
        {"name": r.scenario, "error": r.error or "–"}
        for r in table.itertuples()
        if r.status != "complete"
    ]
    text = standalone_page(
        _PAGE,
        language=language,
        title=t("sweep.page.title", language),
        intro=t(
            "sweep.page.intro",
            language,
            sweep=sweep_file,
            base=base,
            n=len(table),
            complete=len(table) - n_failed,
            failed=n_failed,
        ),
        figure_heading=t("sweep.page.figure_heading", language),
        figure=figure,
        alt=t("sweep.figure.alt", language, n=int((table["status"] == "complete").sum())),
        caption=t("sweep.page.caption", language),
        svg=f"figures/{FIGURE}.svg",
        no_figure=t("sweep.page.no_figure", language),
        table_heading=t("sweep.page.table_heading", language),
        headers=[
            t("sweep.col.scenario", language),
            *varied,
            t("sweep.col.status", language),
            t("sweep.col.effect", language),
            t("sweep.col.communes", language),
            t("sweep.col.cost", language),
            t("sweep.col.gain", language),
            t("sweep.col.unspent", language),
            t("sweep.col.run_dir", language),
        ],
        rows=display_rows(table, varied, language),
        open_word=t("sweep.page.open_run", language),
        failed_heading=t("sweep.page.failed_heading", language),
        failed=failed,
        meta=t("sweep.page.meta", language, csv="scenarios.csv", xlsx="scenarios.xlsx"),
    )
    return write_text(text, folder / "sweep.html")
