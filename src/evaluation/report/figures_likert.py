"""Figures of Likert (1-5) answers: shifts in answer probabilities and shares of answers.

Both return a :class:`matplotlib.figure.Figure` made with :func:`evaluation.report.style.new_figure`;
every word comes from ``messages/<language>/likert.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.estimators.ordinal import OrdinalDidResult, answer_term, satisfied_term
from evaluation.i18n import Language, format_number, format_points, messages, t
from evaluation.report.style import EFFECT_COLOUR, LocalisedFormatter, new_figure, place_legend

__all__ = ["answer_label", "likert_distribution_figure", "likert_shift_figure"]

#: Diverging colours for answers 1..5 (dissatisfied red, neutral grey, satisfied blue).
ANSWER_COLOURS = ["#b2182b", "#ef8a62", "#bababa", "#67a9cf", "#2166ac"]


def answer_label(level: int, language: Language = "vi") -> str:
    """Reader label of an answer (``"4 – Hài lòng"``); the bare number for other scales."""
    key = f"likert.answer.{level}"
    return t(key, language) if key in messages(language) else str(level)


def _colours(levels: Sequence[int]) -> list[str]:
    if len(levels) == len(ANSWER_COLOURS):
        return list(ANSWER_COLOURS)
    positions = np.linspace(0, len(ANSWER_COLOURS) - 1, len(levels)).round().astype(int)
    return [ANSWER_COLOURS[i] for i in positions]


def likert_shift_figure(
    result: OrdinalDidResult, language: Language = "vi", title: str | None = None
) -> Figure:
    """Dot plot of the change in each answer's probability for pilot communes, with intervals.

    Parameters
    ----------
    result : OrdinalDidResult
        Output of :func:`evaluation.estimators.ordinal.ordinal_did`.
    language : {"vi", "en"}
        Language of labels.
    title : str, optional
        Overrides the default title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(result, OrdinalDidResult):
        raise ValueError(
            f"result must be an OrdinalDidResult from ordinal_did(), got {type(result).__name__}"
        )
    levels = list(result.levels)
    satisfied = result.satisfied
    terms = [answer_term(v) for v in levels] + [satisfied_term(satisfied)]
    shifts = result.shifts.loc[terms]
    labels = [answer_label(v, language) for v in levels] + [
        t("likert.satisfied", language, low=min(satisfied), high=max(satisfied))
    ]
    colours = [*_colours(levels), EFFECT_COLOUR]
    # Answers top to bottom 1..5, a gap, then the satisfied share.
    positions = np.r_[np.arange(len(levels))[::-1] + 1.6, 0.0]

    fig, ax = new_figure(width=9.0, height=5.2)
    ax.axvline(0.0, color="#444444", linewidth=1)
    estimate = 100 * shifts["estimate"].to_numpy()
    low = 100 * shifts["conf_low"].to_numpy()
    high = 100 * shifts["conf_high"].to_numpy()
    for y, est, lo, hi, colour in zip(positions, estimate, low, high, colours, strict=True):
        ax.plot([lo, hi], [y, y], color=colour, linewidth=3, solid_capstyle="round")
        ax.plot([est], [y], "o", color=colour, markersize=10, markeredgecolor="white")
    span = np.nanmax(np.abs(np.r_[low, high])) if np.isfinite(np.r_[low, high]).any() else 1.0
    # Values in one column right of the intervals, so they never sit on the zero line.
    for y, value in zip(positions, shifts["estimate"].to_numpy(), strict=True):
        ax.annotate(
            format_points(value, language),
            (1.1 * span, y),
            va="center",
            ha="left",
            fontsize=11,
        )
    ax.set_xlim(-1.15 * span, 1.75 * span)
    # No ticks or grid lines under the column of values.
    ax.set_xticks([tick for tick in ax.get_xticks() if abs(tick) <= 1.05 * span])
    ax.set_xlim(-1.15 * span, 1.75 * span)
    ax.set_yticks(positions, labels)
    ax.set_ylim(positions.min() - 0.7, positions.max() + 0.7)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(t("likert.shift.x_label", language, level=round(100 * result.level)))
    ax.set_title(title or t("likert.shift.title", language), loc="left")
    ax.xaxis.set_major_formatter(LocalisedFormatter(language))
    fig.text(
        0.0,
        -0.02,
        t(
            "likert.shift.note",
            language,
            treated=result.n_treated_clusters,
            clusters=result.n_clusters,
        ),
        fontsize=10,
        color="#555555",
        ha="left",
        va="top",
        wrap=True,
    )
    return fig


def likert_distribution_figure(
    frame: pd.DataFrame,
    item: str,
    group: str | Sequence[str],
    language: Language = "vi",
    weights: str | None = None,
    levels: Sequence[int] = (1, 2, 3, 4, 5),
    item_label: str | None = None,
) -> Figure:
    """Stacked horizontal bars of the shares of answers 1-5, one bar per group (and period).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per ballot.
    item : str
        Answer column.
    group : str or sequence of str
        Column(s) defining the bars, e.g. ``["group_label", "period_label"]``; values are shown
        as they are, joined by " · " (pass reader-facing labels).
    language : {"vi", "en"}
        Language of labels.
    weights : str, optional
        Ballot weights for the shares.
    levels : sequence of int
        The answer scale.
    item_label : str, optional
        Reader name of the item for the title (default: the column name).

    Returns
    -------
    matplotlib.figure.Figure
    """
    groups = [group] if isinstance(group, str) else list(group)
    for argument, column in [("item", item), ("weights", weights)] + [
        (f"group[{i}]", g) for i, g in enumerate(groups)
    ]:
        if column is not None and column not in frame.columns:
            raise ValueError(
                f"{argument}={column!r} is not a column of frame; pass an existing one"
            )
    if not groups:
        raise ValueError("group must name at least one column")
    levels = list(levels)
    data = frame.loc[frame[[item, *groups]].notna().all(axis=1)]
    answers = pd.to_numeric(data[item], errors="coerce")
    if not answers.isin(levels).all():
        raise ValueError(f"column {item!r} has values outside levels={tuple(levels)}; recode them")
    w = data[weights].astype(float) if weights else pd.Series(1.0, index=data.index)
    keys = data[groups].astype(str).agg(" · ".join, axis=1)
    table = (
        pd.DataFrame({"key": keys, "answer": answers.astype(int), "w": w})
        .pivot_table(index="key", columns="answer", values="w", aggfunc="sum", sort=False)
        .reindex(columns=levels, fill_value=0.0)
        .fillna(0.0)
    )
    counts = keys.value_counts().reindex(table.index)
    shares = table.div(table.sum(axis=1), axis=0)

    height = 1.6 + 0.7 * len(shares)
    fig, ax = new_figure(width=10.0, height=height)
    positions = np.arange(len(shares))[::-1]
    left = np.zeros(len(shares))
    for level, colour in zip(levels, _colours(levels), strict=True):
        values = 100 * shares[level].to_numpy()
        ax.barh(
            positions, values, left=left, color=colour, edgecolor="white",
            label=answer_label(level, language), height=0.7,
        )  # fmt: skip
        for y, x0, v in zip(positions, left, values, strict=True):
            if v >= 6:
                ax.text(
                    x0 + v / 2, y, format_number(v, language, 0), ha="center", va="center",
                    fontsize=10, color="white" if colour in (ANSWER_COLOURS[0], ANSWER_COLOURS[-1]) else "black",
                )  # fmt: skip
        left += values
    labels = [
        f"{key}\n{t('likert.distribution.count', language, n=format_number(n, language, 0))}"
        for key, n in zip(shares.index, counts.to_numpy(), strict=True)
    ]
    ax.set_yticks(positions, labels)
    ax.set_xlim(0, 100)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(t("likert.distribution.x_label", language))
    ax.set_title(t("likert.distribution.title", language, item=item_label or item), loc="left")
    # the bars fill the axes, so the legend finds its place below them
    place_legend(
        ax, title=t("likert.distribution.legend", language), ncols=len(levels), fontsize=10
    )
    return fig
