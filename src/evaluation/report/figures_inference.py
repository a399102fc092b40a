"""Figures of few-cluster inference: every method's interval, and each method's measured size.

Both take the tidy tables of :mod:`evaluation.inference.trust` (``compare_methods`` and
``measure_size``) and return a :class:`matplotlib.figure.Figure`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from evaluation.i18n import Language, format_number, format_p_value, format_percent, t
from evaluation.report.style import (
    COMPARISON_COLOUR,
    EFFECT_COLOUR,
    PALETTE,
    new_figure,
    percent_axis,
    place_legend,
    require_columns,
)

__all__ = ["inference_panel_figure", "size_figure"]


def _method_label(method: str, language: Language) -> str:
    try:
        return t(f"inference.method.{method}", language)
    except KeyError:
        return method


def inference_panel_figure(
    table: pd.DataFrame,
    language: Language = "vi",
    headline: str | None = None,
    level: float = 0.95,
    title: str | None = None,
) -> Figure:
    """Each method's estimate, confidence interval and p-value for the headline effect.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`evaluation.inference.trust.compare_methods` (columns ``method,
        estimate, conf_low, conf_high, p_value``).
    language : {"vi", "en"}
        Language of labels.
    headline : str, optional
        Method shown to the board (from ``choose_headline``), drawn in the effect colour.
        With a boolean ``interval_shown`` column, only those methods' intervals are drawn
        (a method that failed the size check shows its point and p-value only).
    level : float
        Confidence level of the intervals (for the axis label).
    title : str, optional
        Overrides the default title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_columns(
        table,
        ["method", "estimate", "conf_low", "conf_high", "p_value"],
        "compare_methods",
        "the output of trust.compare_methods",
        allow_empty=False,
    )
    rows = table.reset_index(drop=True)
    y = np.arange(len(rows))[::-1]
    fig, ax = new_figure(10.0, 1.6 + 0.8 * len(rows))
    ax.axvline(0.0, color="#444444", linewidth=1)
    est = rows["estimate"].to_numpy(float)
    low = rows["conf_low"].to_numpy(float)
    high = rows["conf_high"].to_numpy(float)
    shown = (
        rows["interval_shown"].to_numpy(bool)
        if "interval_shown" in rows
        else np.isfinite(low) | np.isfinite(high)
    )
    low = np.where(shown, low, np.nan)
    high = np.where(shown, high, np.nan)
    finite = np.concatenate([low[np.isfinite(low)], high[np.isfinite(high)], est])
    span = float(np.ptp(finite)) or 1.0
    right = float(np.max(finite)) + 0.05 * span
    notes: list[str] = []
    for yi, row, e, lo, hi, draw in zip(
        y, rows.itertuples(index=False), est, low, high, shown, strict=True
    ):
        chosen = headline is not None and row.method == headline
        colour = EFFECT_COLOUR if chosen else COMPARISON_COLOUR
        if draw:
            # An unbounded randomisation interval is drawn to the plot edge.
            lo_draw = lo if np.isfinite(lo) else float(np.min(finite)) - 0.05 * span
            hi_draw = hi if np.isfinite(hi) else right
            ax.plot([lo_draw, hi_draw], [yi, yi], color=colour, linewidth=3 if chosen else 2)
        ax.plot([e], [yi], "o", color=colour, markersize=10 if chosen else 8)
        text = t("inference.figure.p_value", language, p=format_p_value(row.p_value, language))
        if not draw:
            text += f"  ({t('inference.figure.no_interval', language)})"
        if chosen:
            text += f"  ({t('inference.figure.headline', language)})"
        notes.append(text)
    # Each method's p-value (and why it has no interval) under its name: tick labels take part
    # in the layout, so a long note never spills off the figure.
    ax.set_yticks(
        y,
        [f"{_method_label(m, language)}\n{n}" for m, n in zip(rows["method"], notes, strict=True)],
    )
    for label, method in zip(ax.get_yticklabels(), rows["method"], strict=True):
        if headline is not None and method == headline:
            label.set_fontweight("bold")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(right=right + 0.05 * span)
    ax.set_xlabel(t("inference.figure.panel_x_label", language, level=f"{100 * level:g}"))
    ax.set_title(title or t("inference.figure.panel_title", language))
    return fig


def size_figure(
    size_table: pd.DataFrame,
    band: tuple[float, float] = (0.03, 0.07),
    language: Language = "vi",
    title: str | None = None,
) -> Figure:
    """Rejection rate of each method under a true null, with the acceptable band.

    Parameters
    ----------
    size_table : pandas.DataFrame
        Output of :func:`evaluation.inference.trust.measure_size` (columns ``null_design,
        method, rejection_rate, mc_se, alpha``).
    band : tuple of float
        Acceptable rejection rates, shaded.
    language : {"vi", "en"}
        Language of labels.
    title : str, optional
        Overrides the default title.

    Returns
    -------
    matplotlib.figure.Figure
        Points at the rejection rate with +-1.96 Monte Carlo SE bars, one colour per null design.
    """
    require_columns(
        size_table,
        ["null_design", "method", "rejection_rate", "mc_se", "alpha"],
        "measure_size",
        "the output of trust.measure_size",
        allow_empty=False,
    )
    methods = list(dict.fromkeys(size_table["method"]))
    designs = list(dict.fromkeys(size_table["null_design"]))
    alpha = float(size_table["alpha"].iloc[0])
    y_of = {m: i for i, m in enumerate(methods[::-1])}
    fig, ax = new_figure(10.0, 1.8 + 0.7 * len(methods))
    ax.axvspan(band[0], band[1], color="#2e933c", alpha=0.15, linewidth=0)
    ax.axvline(alpha, color="#444444", linewidth=1, linestyle="--")
    offsets = np.linspace(-0.18, 0.18, len(designs)) if len(designs) > 1 else [0.0]
    handles = []
    for k, (design, offset) in enumerate(zip(designs, offsets, strict=True)):
        part = size_table[size_table["null_design"] == design]
        ys = np.array([y_of[m] for m in part["method"]]) + offset
        colour = PALETTE[(k + 2) % len(PALETTE)] if k else PALETTE[0]
        label = (
            t(f"inference.null_design.{design}", language)
            if design in ("placebo", "effect_removed")
            else str(design)
        )
        handles.append(
            ax.errorbar(
                part["rejection_rate"],
                ys,
                xerr=1.96 * part["mc_se"].to_numpy(float),
                fmt="o",
                color=colour,
                capsize=4,
                markersize=8,
                label=label,
            )
        )
    band_label = t(
        "inference.figure.size_band",
        language,
        low=format_percent(band[0], language, 0),
        high=format_percent(band[1], language, 0),
    )
    handles.append(Patch(color="#2e933c", alpha=0.15, label=band_label))
    ax.set_yticks(list(y_of.values()), [_method_label(m, language) for m in y_of])
    ax.set_ylim(-0.7, len(methods) - 0.3)
    percent_axis(ax, language, "x")
    ax.set_xlim(left=0.0)
    ax.set_xlabel(
        t("inference.figure.size_x_label", language, alpha=format_number(alpha, language, 2))
    )
    ax.set_title(title or t("inference.figure.size_title", language))
    # inside only where it covers no method's rate; else below the axes
    place_legend(ax, handles, [h.get_label() for h in handles])
    return fig
