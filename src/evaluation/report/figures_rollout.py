"""Figures of the staggered rollout: Bacon decomposition, ATT(g, t) by cohort, dynamic effects.

Each function takes an estimator output and returns a :class:`matplotlib.figure.Figure` styled by
:func:`evaluation.report.style.new_figure`; every word comes from
``messages/<language>/rollout.yaml``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.estimators.bacon import COMPARISON_TYPES, BaconDecomposition
from evaluation.estimators.result import EffectEstimate
from evaluation.estimators.staggered import GroupTimeResult
from evaluation.i18n import Language, format_number, t
from evaluation.report.style import (
    COMPARISON_COLOUR,
    EFFECT_COLOUR,
    PALETTE,
    PILOT_COLOUR,
    new_figure,
    place_legend,
)
from evaluation.report.wording import generic_noun_values

__all__ = ["bacon_figure", "dynamic_effects_figure", "group_time_figure"]

_MARKERS = {
    "treated_vs_never": "o",
    "earlier_vs_later": "^",
    "later_vs_earlier": "v",
    "later_vs_always_treated": "s",
}
_EVENT_TERM = re.compile(r"^e([+-]\d+)$")


def bacon_figure(
    decomposition: BaconDecomposition | pd.DataFrame,
    language: Language = "vi",
    nouns: dict[str, str] | None = None,
    twfe_estimate: float | None = None,
) -> Figure:
    """Scatter of the 2x2 DiD estimates against their weights, by comparison type.

    Parameters
    ----------
    decomposition : BaconDecomposition or pandas.DataFrame
        Output of :func:`evaluation.estimators.bacon.bacon_decomposition`, or its
        ``comparisons`` table (then pass ``twfe_estimate``).
    language : {"vi", "en"}
    nouns : dict, optional
        Data-dependent nouns (``units`` ...) of :mod:`evaluation.report.wording`.
    twfe_estimate : float, optional
        The TWFE coefficient, when ``decomposition`` is a table.

    Returns
    -------
    matplotlib.figure.Figure
    """
    nouns = nouns or generic_noun_values(language)
    if isinstance(decomposition, BaconDecomposition):
        table, twfe_estimate = decomposition.comparisons, decomposition.twfe_estimate
    elif isinstance(decomposition, pd.DataFrame) and twfe_estimate is not None:
        table = decomposition
    else:
        raise ValueError(
            "decomposition must be the BaconDecomposition returned by bacon_decomposition() or "
            f"its comparisons table with twfe_estimate=, got {type(decomposition).__name__}"
        )
    fig, ax = new_figure(width=10, height=5.5)
    colours = dict(zip(COMPARISON_TYPES, PALETTE, strict=False))
    for kind in COMPARISON_TYPES:
        rows = table.loc[table["type"] == kind]
        if rows.empty:
            continue
        ax.scatter(
            rows["weight"],
            rows["estimate"],
            s=70,
            marker=_MARKERS[kind],
            color=colours[kind],
            label=t(f"rollout.bacon.types.{kind}", language, **nouns),
            edgecolor="white",
            linewidth=0.6,
        )
    ax.axhline(
        twfe_estimate,
        color=EFFECT_COLOUR,
        linestyle="--",
        linewidth=1.5,
        label=t(
            "rollout.bacon.twfe_line",
            language,
            value=format_number(twfe_estimate, language, 3),
        ),
    )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel(t("rollout.bacon.x_label", language))
    ax.set_ylabel(t("rollout.bacon.y_label", language))
    ax.set_title(t("rollout.bacon.title", language))
    place_legend(ax, fontsize=10)  # "best" once hid a comparison's point
    return fig


def group_time_figure(
    att_gt: GroupTimeResult | pd.DataFrame,
    language: Language = "vi",
    level: float = 0.95,
    nouns: dict[str, str] | None = None,
    show_intervals: bool = True,
) -> Figure:
    """ATT(g, t) with confidence intervals, one panel per adoption cohort.

    Parameters
    ----------
    att_gt : GroupTimeResult or pandas.DataFrame
        Result of :func:`evaluation.estimators.staggered.group_time_att` or its ``att_gt``
        table (columns ``group, time, estimate, conf_low, conf_high``).
    language : {"vi", "en"}
    level : float
        Confidence level of the intervals, for the legend (read from the result if given).
    nouns : dict, optional
        Data-dependent nouns (``units``, ``period`` ...) of :mod:`evaluation.report.wording`.
    show_intervals : bool
        False draws the point estimates only (intervals withheld by the size check).

    Returns
    -------
    matplotlib.figure.Figure
    """
    nouns = nouns or generic_noun_values(language)
    if isinstance(att_gt, GroupTimeResult):
        level = 1 - att_gt.alpha
        att_gt = att_gt.att_gt
    needed = ["group", "time", "estimate", "conf_low", "conf_high"]
    if not isinstance(att_gt, pd.DataFrame) or any(c not in att_gt.columns for c in needed):
        raise ValueError(f"att_gt must be a GroupTimeResult or a DataFrame with columns {needed}")
    groups = sorted(att_gt["group"].unique())
    fig, axes = new_figure(width=10, height=2.4 * len(groups) + 1, nrows=len(groups))
    axes = np.atleast_1d(axes)
    for ax, g in zip(axes, groups, strict=True):
        rows = att_gt.loc[att_gt["group"] == g].sort_values("time")
        post = rows["time"] >= g
        for mask, colour, key in (
            (~post, COMPARISON_COLOUR, "before"),
            (post, PILOT_COLOUR, "after"),
        ):
            part = rows.loc[mask]
            yerr = (
                [part["estimate"] - part["conf_low"], part["conf_high"] - part["estimate"]]
                if show_intervals
                else None
            )
            ax.errorbar(
                part["time"],
                part["estimate"],
                yerr=yerr,
                fmt="o",
                color=colour,
                capsize=3,
                label=t(f"rollout.group_time.{key}", language),
            )
        ax.axhline(0, color="black", linewidth=0.8)
        ax.axvline(g - 0.5, color=EFFECT_COLOUR, linestyle=":", linewidth=1)
        ax.set_title(t("rollout.group_time.cohort", language, group=g, **nouns), fontsize=12)
        ax.set_xticks(sorted(att_gt["time"].unique()))
    axes[-1].set_xlabel(t("rollout.group_time.x_label", language, **nouns))
    fig.supylabel(t("rollout.group_time.y_label", language))
    fig.suptitle(t("rollout.group_time.title", language, **nouns), fontweight="bold")
    handles, labels = axes[0].get_legend_handles_labels()
    # one legend for every cohort's panel, below them all
    place_legend(
        axes[0],
        handles,
        labels,
        inside=False,
        ncols=2,
        title=(
            t("rollout.group_time.interval", language, level=round(100 * level))
            if show_intervals
            else t("rollout.group_time.no_interval", language)
        ),
    )
    return fig


def dynamic_effects_figure(
    estimate: EffectEstimate,
    language: Language = "vi",
    level: float = 0.95,
    nouns: dict[str, str] | None = None,
    show_intervals: bool = True,
) -> Figure:
    """Effects by event time (``e-2``, ``e+0`` ... terms) with their intervals or uniform band.

    Parameters
    ----------
    estimate : EffectEstimate
        From :func:`evaluation.estimators.staggered.aggregate` with ``kind="dynamic"`` or from
        :func:`evaluation.estimators.sun_abraham.sun_abraham`.
    language : {"vi", "en"}
    level : float
        Confidence level, for the legend.
    nouns : dict, optional
        Data-dependent nouns (``periods`` ...) of :mod:`evaluation.report.wording`.
    show_intervals : bool
        False draws the point estimates only (intervals withheld by the size check).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(estimate, EffectEstimate):
        raise ValueError(
            f"estimate must be an EffectEstimate with event-time terms, got {type(estimate).__name__}"
        )
    terms = estimate.terms
    event = [(_EVENT_TERM.match(str(name)), name) for name in terms.index]
    rows = [(int(m.group(1)), name) for m, name in event if m]
    if not rows:
        raise ValueError(
            "estimate has no event-time terms ('e-1', 'e+0' ...); use aggregate(kind='dynamic') "
            "or sun_abraham()"
        )
    nouns = nouns or generic_noun_values(language)
    frame = terms.loc[[name for _, name in rows]].assign(event_time=[e for e, _ in rows])
    frame = frame.loc[np.isfinite(frame["estimate"].to_numpy(float))]
    uniform = "inference" in terms.columns and frame["inference"].str.contains("uniform").any()
    key = "band" if uniform else "interval"
    fig, ax = new_figure(width=10, height=5.5)
    post = frame["event_time"] >= 0
    for mask, colour, label in (
        (~post, COMPARISON_COLOUR, "before"),
        (post, PILOT_COLOUR, "after"),
    ):
        part = frame.loc[mask]
        if part.empty:
            continue
        ok = np.isfinite(part["conf_low"]) & np.isfinite(part["conf_high"])
        ax.errorbar(
            part["event_time"],
            part["estimate"],
            yerr=[
                np.where(ok, part["estimate"] - part["conf_low"], 0.0),
                np.where(ok, part["conf_high"] - part["estimate"], 0.0),
            ]
            if show_intervals
            else None,
            fmt="o",
            color=colour,
            capsize=4,
            markersize=7,
            label=t(f"rollout.dynamic.{label}", language),
        )
    if show_intervals:
        ax.fill_between(
            frame["event_time"],
            frame["conf_low"],
            frame["conf_high"],
            color=PILOT_COLOUR,
            alpha=0.12,
            label=t(f"rollout.dynamic.{key}", language, level=round(100 * level)),
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color=EFFECT_COLOUR, linestyle=":", linewidth=1)
    ax.set_xticks(sorted(frame["event_time"]))
    ax.set_xlabel(t("rollout.dynamic.x_label", language, **nouns))
    ax.set_ylabel(t("rollout.dynamic.y_label", language))
    method = "sun_abraham" if estimate.estimator == "sun_abraham" else "callaway_santanna"
    ax.set_title(
        t("rollout.dynamic.title_by", language, method=t(f"rollout.dynamic.{method}", language))
    )
    place_legend(ax)
    return fig
