"""Figures of estimated effects: the event-study plot and the headline-effect plot.

Both take an :class:`~evaluation.estimators.result.EffectEstimate` (or its ``.tidy()`` frame)
and return a :class:`matplotlib.figure.Figure` styled by :func:`evaluation.report.style.new_figure`;
every word comes from ``messages/<language>/effects.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.estimators.event_study import parse_event_term
from evaluation.estimators.result import EffectEstimate
from evaluation.i18n import Language, format_number, format_p_value, t
from evaluation.report.style import (
    COMPARISON_COLOUR,
    EFFECT_COLOUR,
    PILOT_COLOUR,
    new_figure,
    place_legend,
)

__all__ = ["event_study_figure", "headline_effect_figure"]


def _as_tidy(estimate: EffectEstimate | pd.DataFrame) -> pd.DataFrame:
    if isinstance(estimate, EffectEstimate):
        return estimate.tidy()
    if isinstance(estimate, pd.DataFrame):
        needed = ["term", "estimate", "conf_low", "conf_high"]
        missing = [c for c in needed if c not in estimate.columns]
        if missing:
            raise ValueError(
                f"the effects table lacks columns {missing}; pass EffectEstimate.tidy() output."
            )
        return estimate.reset_index(drop=True)
    raise ValueError(
        f"expected an EffectEstimate or its tidy DataFrame, got {type(estimate).__name__}."
    )


def _level(estimate: EffectEstimate | pd.DataFrame, level: float | None) -> str:
    if level is None:
        level = (
            float(estimate.diagnostics.get("confidence_level", 0.95))
            if isinstance(estimate, EffectEstimate)
            else 0.95
        )
    return f"{100 * level:g}"


def event_study_figure(
    estimate: EffectEstimate | pd.DataFrame,
    language: Language = "vi",
    reference: int | None = None,
    level: float | None = None,
    title: str | None = None,
    intervals: bool = True,
    period: str | None = None,
) -> Figure:
    """Event-time effects with confidence intervals, the reference period at zero.

    Parameters
    ----------
    estimate : EffectEstimate or pandas.DataFrame
        Output of :func:`evaluation.estimators.event_study.event_study` (terms ``"e-4"`` ...), or
        its ``.tidy()`` frame.
    language : {"vi", "en"}
        Language of labels.
    reference : int, optional
        Omitted event time; read from ``estimate.diagnostics`` when possible, else -1.
    level : float, optional
        Confidence level of the intervals (default: from diagnostics, else 0.95).
    title : str, optional
        Overrides the default title.
    intervals : bool
        Draw the intervals (False: points only, when their method was not size-checked on
        this design).
    period : str, optional
        What one period is called (``quarter``, ``year``): the axis says "periods" otherwise.

    Returns
    -------
    matplotlib.figure.Figure
    """
    tidy = _as_tidy(estimate)
    diagnostics = estimate.diagnostics if isinstance(estimate, EffectEstimate) else {}
    if reference is None:
        reference = int(diagnostics.get("reference", -1))
    rows = [(parse_event_term(str(term)), i) for i, term in enumerate(tidy["term"])]
    if not rows:
        raise ValueError("the estimate has no event-time terms to plot.")
    event = np.array([e for e, _ in rows])
    idx = [i for _, i in rows]
    est = tidy["estimate"].to_numpy(float)[idx]
    low = tidy["conf_low"].to_numpy(float)[idx]
    high = tidy["conf_high"].to_numpy(float)[idx]

    fig, ax = new_figure(9.0, 5.8)
    ax.axhline(0.0, color="#444444", linewidth=1)
    ax.axvline(-0.5, color="#444444", linewidth=1, linestyle="--")
    pct = _level(estimate, level)
    for mask, colour, key in [
        (event < 0, COMPARISON_COLOUR, "effects.event_study.before"),
        (event >= 0, EFFECT_COLOUR, "effects.event_study.after"),
    ]:
        if mask.any():
            ax.errorbar(
                event[mask],
                est[mask],
                yerr=[est[mask] - low[mask], high[mask] - est[mask]] if intervals else None,
                fmt="o",
                color=colour,
                capsize=4,
                markersize=7,
                linewidth=2,
                label=t(key, language),
            )
    ax.plot(
        [reference],
        [0.0],
        marker="o",
        markerfacecolor="white",
        markeredgecolor=PILOT_COLOUR,
        markersize=8,
        linestyle="none",
        label=t("effects.event_study.reference", language, reference=_signed(reference)),
    )
    ticks = sorted({*event.tolist(), reference})
    labels = [_signed(e) for e in ticks]
    if diagnostics.get("binned_endpoints", 0.0):
        leads, lags = diagnostics.get("leads"), diagnostics.get("lags")
        for j, e in enumerate(ticks):
            if leads is not None and e == -int(leads):
                labels[j] = t("effects.event_study.binned_low", language, value=_signed(e))
            if lags is not None and e == int(lags):
                labels[j] = t("effects.event_study.binned_high", language, value=_signed(e))
    ax.set_xticks(ticks, labels)
    ax.set_xlabel(
        t("effects.event_study.x_label_period", language, period=period)
        if period
        else t("effects.event_study.x_label", language)
    )
    ax.set_ylabel(t("effects.event_study.y_label", language, reference=_signed(reference)))
    ax.set_title(title or t("effects.event_study.title", language))
    ax.text(
        0.99,
        0.02,
        t("effects.event_study.interval", language, level=pct)
        if intervals
        else t("effects.event_study.no_interval", language),
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=11,
        color="#444444",
    )
    # The legend, headed by the pre-trend test, where it covers no estimate or interval.
    p_value = diagnostics.get("pretrend_p_value")
    legend_title = None
    if p_value is not None and np.isfinite(p_value):
        legend_title = t(
            "effects.event_study.pretrend",
            language,
            f=format_number(diagnostics.get("pretrend_wald"), language, 2),
            p=format_p_value(p_value, language),
        )
    place_legend(ax, title=legend_title, fontsize=11, title_fontsize=11)
    return fig


def headline_effect_figure(
    estimates: EffectEstimate | pd.DataFrame | Sequence[EffectEstimate],
    language: Language = "vi",
    labels: Sequence[str] | None = None,
    level: float | None = None,
    title: str | None = None,
    nouns: tuple[str, str] | None = None,
) -> Figure:
    """The headline effect(s) as points with confidence intervals around a zero line.

    Parameters
    ----------
    estimates : EffectEstimate, sequence of EffectEstimate, or pandas.DataFrame
        One or several estimates (e.g. TWFE, 2x2 DiD, Callaway-Sant'Anna), or a tidy
        ``tables/effects.csv``-style frame; every row (term) becomes a line of the plot.
    language : {"vi", "en"}
        Language of labels.
    labels : sequence of str, optional
        Row labels (default: ``estimator`` or ``estimator: term``).
    level : float, optional
        Confidence level of the intervals (default: from the first estimate, else 0.95).
    title : str, optional
        Overrides the default title.
    nouns : tuple of str, optional
        What the treated units and all units are called (default: pilot communes, communes).
        A row whose interval is NaN is drawn as a point only.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if nouns is None:
        nouns = (t("wording.pilot_communes", language), t("wording.communes", language))
    if isinstance(estimates, EffectEstimate | pd.DataFrame):
        items = [estimates]
    else:
        items = list(estimates)
        if not items:
            raise ValueError("estimates: give at least one EffectEstimate.")
    tidy = pd.concat([_as_tidy(item) for item in items], ignore_index=True)
    if tidy.empty:
        raise ValueError("estimates: nothing to plot (no terms).")
    if labels is None:
        if "estimator" in tidy.columns:
            labels = [
                f"{row.estimator}"
                if tidy["estimator"].eq(row.estimator).sum() == 1
                else f"{row.estimator}: {row.term}"
                for row in tidy.itertuples(index=False)
            ]
        else:
            labels = [str(term) for term in tidy["term"]]
    labels = list(labels)
    if len(labels) != len(tidy):
        raise ValueError(f"labels: expected {len(tidy)} labels (one per row), got {len(labels)}.")

    est = tidy["estimate"].to_numpy(float)
    low = tidy["conf_low"].to_numpy(float)
    high = tidy["conf_high"].to_numpy(float)
    y = np.arange(len(tidy))[::-1]
    fig, ax = new_figure(9.0, 1.6 + 0.9 * len(tidy))
    ax.axvline(0.0, color="#444444", linewidth=1)
    has = np.isfinite(low) & np.isfinite(high)
    # A row without an interval (its method was not size-checked here) is a point only.
    ax.errorbar(
        est,
        y,
        xerr=[np.where(has, est - low, 0.0), np.where(has, high - est, 0.0)],
        fmt="o",
        color=EFFECT_COLOUR,
        capsize=5,
        markersize=9,
        linewidth=2.5,
    )
    decimals = 3 if np.nanmax(np.abs(est)) < 0.1 else 2
    for yi, e, row, ok in zip(y, est, tidy.itertuples(index=False), has, strict=True):
        text = format_number(e, language, decimals)
        if not ok:
            text += f"  ({t('effects.headline.no_interval', language)})"
        if {"n_treated_clusters", "n_clusters"} <= set(tidy.columns):
            text += (
                "  ("
                + t(
                    "effects.headline.clusters",
                    language,
                    treated=int(row.n_treated_clusters),
                    clusters=int(row.n_clusters),
                    treated_noun=nouns[0],
                    units=nouns[1],
                )
                + ")"
            )
        ax.annotate(
            text,
            (e, yi),
            xytext=(0, 10),
            textcoords="offset points",
            ha="center",
            fontsize=11,
        )
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.7, len(tidy) - 0.3)
    pct = _level(items[0] if isinstance(items[0], EffectEstimate) else tidy, level)
    ax.set_xlabel(t("effects.headline.x_label", language, level=pct))
    ax.set_title(title or t("effects.headline.title", language))
    return fig


def _signed(e: int) -> str:
    """Event time with its sign, using a true minus sign: ``-2 -> "−2"``, ``1 -> "+1"``."""
    return f"{int(e):+d}".replace("-", "−")
