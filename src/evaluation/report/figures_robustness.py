"""Figures for the comparison group and robustness checks.

Each function takes tidy frames produced by :mod:`evaluation.estimators.balance`,
:mod:`evaluation.estimators.propensity` and :mod:`evaluation.inference.honest_did` (or any frame
with the same columns) and returns a :class:`matplotlib.figure.Figure` built with
:func:`evaluation.report.style.new_figure`; wording comes from ``messages/*/robustness.yaml``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.i18n import Language, format_number, t
from evaluation.report.style import (
    COMPARISON_COLOUR,
    EFFECT_COLOUR,
    PALETTE,
    PILOT_COLOUR,
    LocalisedFormatter,
    new_figure,
    place_legend,
    require_columns,
    tick_decimals,
)


def love_plot(
    before: pd.DataFrame,
    after: pd.DataFrame | None = None,
    language: Language = "vi",
    threshold: float = 0.1,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """Absolute standardised mean differences before (and after) weighting, one row a covariate.

    ``before``/``after`` are :func:`~evaluation.estimators.balance.balance_table` outputs
    (columns ``covariate`` and ``smd``); ``labels`` maps covariate names to reader labels.
    """
    require_columns(
        before, ["covariate", "smd"], "before", "the output of estimators.balance.balance_table"
    )
    if after is not None:
        require_columns(
            after, ["covariate", "smd"], "after", "the output of estimators.balance.balance_table"
        )
    order = before.assign(a=before["smd"].abs()).sort_values("a")["covariate"].tolist()
    names = [(labels or {}).get(c, c) for c in order]
    fig, ax = new_figure(width=8.0, height=max(3.0, 0.45 * len(order) + 1.6))
    y = np.arange(len(order))
    b = before.set_index("covariate").loc[order, "smd"].abs()
    ax.scatter(b, y, color=COMPARISON_COLOUR, s=60, label=t("robustness.love.before", language))
    if after is not None:
        a = after.set_index("covariate").reindex(order)["smd"].abs()
        ax.scatter(a, y, color=PILOT_COLOUR, s=60, label=t("robustness.love.after", language))
        for yi, x0, x1 in zip(y, b, a, strict=True):
            ax.plot([x0, x1], [yi, yi], color="#cccccc", lw=1, zorder=0)
    thr = format_number(threshold, language, 2)
    # The threshold goes in the legend: a label on the plot collided with the title.
    ax.axvline(threshold, color=EFFECT_COLOUR, ls="--", lw=1.2,
               label=t("robustness.love.threshold", language, threshold=thr))  # fmt: skip
    ax.set_yticks(y, names)
    ax.set_xlim(left=0)
    ax.set_xlabel(t("robustness.love.x_label", language))
    ax.set_title(t("robustness.love.title", language))
    place_legend(ax)  # where it hides no covariate's points (inside, it once hid the last ones)
    return fig


def overlap_plot(
    scores: pd.Series,
    group: pd.Series | np.ndarray,
    language: Language = "vi",
    keep: pd.Series | None = None,
    bins: int = 20,
) -> Figure:
    """Histograms of propensity scores, pilot above and comparison mirrored below the axis.

    ``keep`` (from :func:`~evaluation.estimators.propensity.overlap_trim`) adds the trimming
    bounds stored in its ``attrs``.
    """
    s = pd.Series(scores, dtype=float)
    d = group.reindex(s.index) if isinstance(group, pd.Series) else pd.Series(group, index=s.index)
    if d.isna().any():
        raise ValueError("group has no value for some rows of scores; align them by index.")
    edges = np.linspace(0, 1, bins + 1)
    fig, ax = new_figure(width=9.0, height=5.0)
    h1, _ = np.histogram(s[d == 1], edges)
    h0, _ = np.histogram(s[d == 0], edges)
    width = edges[1] - edges[0]
    ax.bar(edges[:-1], h1, width=width, align="edge", color=PILOT_COLOUR, alpha=0.85,
           label=t("robustness.overlap.pilot", language))  # fmt: skip
    ax.bar(edges[:-1], -h0, width=width, align="edge", color=COMPARISON_COLOUR, alpha=0.85,
           label=t("robustness.overlap.comparison", language))  # fmt: skip
    ax.axhline(0, color="black", lw=0.8)
    if keep is not None and "lower" in keep.attrs:
        for i, x in enumerate((keep.attrs["lower"], keep.attrs["upper"])):
            ax.axvline(x, color=EFFECT_COLOUR, ls="--", lw=1.2,
                       label=t("robustness.overlap.bounds", language) if i == 0 else None)  # fmt: skip
    top = max(h1.max(initial=1), h0.max(initial=1))
    ax.set_ylim(-top * 1.1, top * 1.1)
    # counts below the axis are the comparison group's: written without the sign
    ax.yaxis.set_major_formatter(LocalisedFormatter(language, absolute=True))
    ax.set_xlim(0, 1)
    ax.set_xlabel(t("robustness.overlap.x_label", language))
    ax.set_ylabel(t("robustness.overlap.y_label", language))
    ax.set_title(t("robustness.overlap.title", language))
    place_legend(ax)
    return fig


def sensitivity_plot(
    frame: pd.DataFrame,
    language: Language = "vi",
    breakdown: float | None = None,
    alpha: float = 0.05,
) -> Figure:
    """Robust confidence intervals against the bound ``m`` (HonestDiD sensitivity plot).

    ``alpha`` names the intervals' level in the axis label (``1 - alpha``).

    ``frame`` is :func:`~evaluation.inference.honest_did.sensitivity_rm` or ``sensitivity_sd``
    output (columns ``restriction, method, m, conf_low, conf_high``); the ``original`` row is
    drawn to the left of the smallest ``m``.
    """
    require_columns(
        frame,
        ["restriction", "method", "m", "conf_low", "conf_high"],
        "frame",
        "the frame built by evaluation.report.robustness",
    )
    robust = frame[frame["method"] != "original"].sort_values("m")
    if robust.empty:
        raise ValueError("frame has no robust rows (method other than 'original').")
    restriction = str(robust["restriction"].iloc[0])
    if restriction not in ("relative_magnitudes", "smoothness"):
        raise ValueError(f"unknown restriction {restriction!r} in frame.")
    ms = robust["m"].to_numpy(float)
    gap = float(np.min(np.diff(ms))) if ms.size > 1 else max(abs(ms[0]), 1.0) * 0.5
    fig, ax = new_figure(width=9.0, height=5.0)
    centre = (robust["conf_low"] + robust["conf_high"]) / 2
    ax.errorbar(ms, centre, yerr=[centre - robust["conf_low"], robust["conf_high"] - centre],
                fmt="none", ecolor=PILOT_COLOUR, elinewidth=2.5, capsize=6,
                label=t("robustness.sensitivity.robust", language))  # fmt: skip
    original = frame[frame["method"] == "original"]
    if not original.empty:
        row = original.iloc[0]
        x0 = ms.min() - gap
        mid = (row["conf_low"] + row["conf_high"]) / 2
        ax.errorbar([x0], [mid], yerr=[[mid - row["conf_low"]], [row["conf_high"] - mid]],
                    fmt="none", ecolor=EFFECT_COLOUR, elinewidth=2.5, capsize=6,
                    label=t("robustness.sensitivity.original", language))  # fmt: skip
    # as many decimals as the bounds need to read differently (0,0075 and 0,0187, not 0,01/0,02)
    decimals = tick_decimals(ms, minimum=1)
    ticks = list(ms)
    tick_labels = ["0" if v == 0 else format_number(v, language, decimals) for v in ms]
    if not original.empty:
        ticks.insert(0, ms.min() - gap)
        tick_labels.insert(0, "•")  # the original interval, named in the legend
    ax.set_xticks(ticks, tick_labels)
    ax.axhline(0, color="black", lw=0.8)
    if breakdown is not None and np.isfinite(breakdown):
        least = 2 if restriction == "relative_magnitudes" else 3
        value = format_number(breakdown, language, max(decimals, least))
        ax.axvline(breakdown, color=COMPARISON_COLOUR, ls=":", lw=1.5,
                   label=t("robustness.sensitivity.breakdown", language, value=value))  # fmt: skip
    ax.set_xlabel(t(f"robustness.sensitivity.x_label_{restriction}", language))
    ax.set_ylabel(t("robustness.sensitivity.y_label", language, level=_level(alpha, language)))
    ax.set_title(t(f"robustness.sensitivity.title_{restriction}", language))
    place_legend(ax)
    return fig


def _level(alpha: float, language: Language) -> str:
    return f"{format_number(100 * (1 - alpha), language, 0)}%"


def specification_chart(
    frame: pd.DataFrame, language: Language = "vi", alpha: float = 0.05
) -> Figure:
    """Headline effect across specifications, sorted, with a description panel.

    An interval is drawn only for rows whose ``size_checked`` column is True (the method's size
    was measured on that design inside the band); other rows show the estimate alone. Without a
    ``size_checked`` column no interval is drawn. ``alpha`` names the level in the axis label.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per specification with ``specification, estimate, conf_low, conf_high, group``.
        ``group`` colours the estimates (e.g. estimator family). ``specification`` describes the
        choices; write several as ``"estimator=TWFE; sample=all communes"`` and the lower panel
        gets one row per choice (grouped by the part before ``=``), marked for the
        specifications that use it. Plain labels get one row each.
    """
    require_columns(
        frame,
        ["specification", "estimate", "conf_low", "conf_high", "group"],
        "frame",
        "the frame built by evaluation.report.robustness",
    )
    if frame.empty:
        raise ValueError("frame has no specifications.")
    data = frame.sort_values("estimate", kind="stable").reset_index(drop=True)
    choices_per_spec = [
        [c.strip() for c in str(s).split(";") if c.strip()] for s in data["specification"]
    ]
    all_choices: list[str] = []
    for choices in choices_per_spec:
        for c in choices:
            if c not in all_choices:
                all_choices.append(c)
    first_seen = {c: i for i, c in enumerate(all_choices)}
    all_choices.sort(key=lambda c: (c.split("=")[0].strip() if "=" in c else "", first_seen[c]))
    n_rows = len(all_choices)
    fig, (top, bottom) = new_figure(width=max(8.0, 0.35 * len(data) + 4), height=6 + 0.3 * n_rows,
                                    nrows=2)  # fmt: skip
    top.get_gridspec().set_height_ratios([3, max(1.0, 0.35 * n_rows)])
    x = np.arange(len(data))
    groups = list(dict.fromkeys(data["group"].astype(str)))
    colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    checked = (
        data["size_checked"].fillna(False).astype(bool).to_numpy()
        if "size_checked" in data
        else np.zeros(len(data), bool)
    )
    for g in groups:
        sel = (data["group"].astype(str) == g).to_numpy()
        top.plot(x[sel], data.loc[sel, "estimate"], "o", color=colours[g], label=g)
        ci = sel & checked
        if ci.any():
            top.errorbar(x[ci], data.loc[ci, "estimate"],
                         yerr=[data.loc[ci, "estimate"] - data.loc[ci, "conf_low"],
                               data.loc[ci, "conf_high"] - data.loc[ci, "estimate"]],
                         fmt="none", ecolor=colours[g], capsize=3)  # fmt: skip
    top.axhline(0, color="black", lw=0.8)
    top.set_xticks(x, [])
    top.set_xlim(-0.6, len(data) - 0.4)
    # wrapped: on one line the label ran down over the lower panel's choice names
    y_label = t("robustness.specification.y_label", language, level=_level(alpha, language))
    top.set_ylabel(textwrap.fill(y_label, 32))
    top.set_title(t("robustness.specification.title", language))
    for xi, choices in zip(x, choices_per_spec, strict=True):
        rows = [n_rows - 1 - all_choices.index(c) for c in choices]
        bottom.scatter([xi] * len(rows), rows, color="black", s=25, marker="s")
    bottom.set_yticks(range(n_rows), [c.replace("=", ": ") for c in reversed(all_choices)])
    bottom.set_xticks(x, [str(i + 1) for i in x])
    bottom.set_xlim(-0.6, len(data) - 0.4)
    bottom.set_ylim(-0.6, n_rows - 0.4)
    bottom.set_xlabel(t("robustness.specification.panel_label", language))
    bottom.grid(axis="x", visible=False)
    if len(groups) > 1:  # beside the estimates' panel when no corner of it is free
        place_legend(top, outside="right upper")
    return fig
