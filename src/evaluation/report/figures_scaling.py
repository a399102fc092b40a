"""Figures for the scaling decision, one message each, Vietnamese by default.

Each function takes the tidy frame produced by the scaling layer and returns a
:class:`matplotlib.figure.Figure` made with :func:`evaluation.report.style.new_figure`; the title
states the figure's one message, worded from ``messages/<language>/scaling.yaml``.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.i18n import Language, format_number, format_p_value, format_percent, format_vnd, t
from evaluation.report.style import (
    COMPARISON_COLOUR,
    EFFECT_COLOUR,
    PALETTE,
    PILOT_COLOUR,
    new_figure,
    number_axis,
    percent_axis,
    place_legend,
    require_columns,
    tick_decimals,
)

#: Characters per title line: long messages wrap instead of widening the figure.
TITLE_WIDTH = 62


def _title(ax, text: str) -> None:
    ax.set_title(textwrap.fill(text, TITLE_WIDTH), loc="left")


def dose_response_figure(
    dose: pd.DataFrame,
    moderator_label: str | None = None,
    outcome_label: str = "",
    language: Language = "vi",
    *,
    test: tuple[float, float] | None = None,
    alpha: float = 0.05,
) -> Figure:
    """Effect (with 95% interval) by moderator bin, from :func:`dose_response`.

    Bins with few pilot communes are drawn hollow and marked.

    Parameters
    ----------
    dose : pandas.DataFrame
        Effect by moderator bin.
    moderator_label, outcome_label : str
        Reader names of the moderator and the outcome.
    language : {"vi", "en"}
    test : tuple of float, optional
        ``(slope, adjusted p-value)`` of the moderator's own interaction test, as the table
        beside the figure shows it. A figure drawn beside such a table must pass it: the title
        then says "larger"/"smaller" exactly when that p-value is below ``alpha`` (and prints
        it), so it cannot contradict the table. Without it, the title only reads the drawn
        bins: a difference when the first and last bins' intervals exclude each other's
        estimates.
    alpha : float
        Level of the test in ``test``.
    """
    require_columns(
        dose,
        ["moderator", "moderator_median", "estimate", "conf_low", "conf_high", "inference_weak"],
        "dose",
        "the frame produced by the scaling layer",
    )
    label = moderator_label or str(dose["moderator"].iloc[0])
    d = dose.dropna(subset=["estimate"]).sort_values("moderator_median")
    first, last = d.iloc[0], d.iloc[-1]
    if test is not None:
        slope, p_adjusted = float(test[0]), float(test[1])
        direction = "unclear" if not p_adjusted < alpha else ("larger" if slope > 0 else "smaller")
        title = t(
            f"where_it_works.dose_title_{direction}",
            language,
            moderator=label,
            p_holm=format_p_value(p_adjusted, language) if np.isfinite(p_adjusted) else "–",
        )
    elif last["estimate"] > first["conf_high"] and first["estimate"] < last["conf_low"]:
        title = t("scaling.dose_response.title_increasing", language, moderator=label)
    elif last["estimate"] < first["conf_low"] and first["estimate"] > last["conf_high"]:
        title = t("scaling.dose_response.title_decreasing", language, moderator=label)
    else:
        title = t("scaling.dose_response.title_flat", language, moderator=label)
    fig, ax = new_figure(9, 5.5)
    x = d["moderator_median"].to_numpy(float)
    y = d["estimate"].to_numpy(float)
    err = np.vstack([y - d["conf_low"].to_numpy(float), d["conf_high"].to_numpy(float) - y])
    ax.errorbar(x, y, yerr=err, fmt="none", ecolor=PILOT_COLOUR, elinewidth=2.5, capsize=6)
    weak = d["inference_weak"].to_numpy(bool)
    ax.scatter(x[~weak], y[~weak], s=120, color=PILOT_COLOUR, zorder=3)
    ax.scatter(x[weak], y[weak], s=120, facecolor="white", edgecolor=PILOT_COLOUR, lw=2.5, zorder=3)
    for xi, yi, w, n in zip(x, y, weak, d["n_treated_communes"], strict=True):
        text = f"n = {int(n)}" + (f" ({t('scaling.dose_response.weak', language)})" if w else "")
        ax.annotate(text, (xi, yi), xytext=(10, 8), textcoords="offset points", fontsize=12)
    ax.axhline(0, color=COMPARISON_COLOUR, lw=1.5, ls="--")
    if "pct_" in str(d["moderator"].iloc[0]):  # a share: read as 36%, not 0,36
        percent_axis(ax, language, "x")
    ax.set_xlabel(t("scaling.dose_response.x_label", language, moderator=label))
    ax.set_ylabel(t("scaling.dose_response.y_label", language, outcome=outcome_label).strip())
    _title(ax, title)
    return fig


def cost_effectiveness_heatmap(
    grid: pd.DataFrame,
    metric: str = "vnd_per_satisfied_household",
    language: Language = "vi",
) -> Figure:
    """Heatmap of a cost-effectiveness ratio (million VND) over cost x effect multipliers."""
    require_columns(
        grid,
        ["cost_multiplier", "effect_multiplier", metric],
        "grid",
        "the frame produced by the scaling layer",
    )
    table = grid.pivot(index="cost_multiplier", columns="effect_multiplier", values=metric) / 1e6
    table = table.sort_index(ascending=False)
    fig, ax = new_figure(9.5, 5.5)
    values = table.to_numpy(float)
    shown = np.where(np.isfinite(values), values, np.nan)
    image = ax.imshow(shown, cmap="YlOrRd", aspect="auto")
    for (r, c), value in np.ndenumerate(values):
        text = (
            format_number(value, language, 1)
            if np.isfinite(value)
            else t("scaling.cost_heatmap.no_gain", language)
        )
        # white text on the dark end of the colour map only
        colour = "white" if np.isfinite(value) and image.norm(value) > 0.6 else "black"
        ax.text(c, r, text, ha="center", va="center", fontsize=12, color=colour)
    # multipliers with as many decimals as they need to read differently
    for set_ticks, values in ((ax.set_xticks, table.columns), (ax.set_yticks, table.index)):
        decimals = tick_decimals(values, minimum=1)
        set_ticks(range(len(values)), [format_number(v, language, decimals) for v in values])
    ax.set_xlabel(t("scaling.cost_heatmap.x_label", language))
    ax.set_ylabel(t("scaling.cost_heatmap.y_label", language))
    ax.grid(False)
    fig.colorbar(image, ax=ax, shrink=0.85)
    base = grid.loc[
        np.isclose(grid["cost_multiplier"], 1.0) & np.isclose(grid["effect_multiplier"], 1.0),
        metric,
    ]
    base_text = format_number(float(base.iloc[0]) / 1e6, language, 1) if len(base) else "–"
    key = "title" if metric.startswith("vnd_per_satisfied") else "title_point"
    _title(ax, t(f"scaling.cost_heatmap.{key}", language, base=base_text))
    return fig


def gain_cost_curve_figure(
    curve: pd.DataFrame,
    budget: float | None = None,
    language: Language = "vi",
) -> Figure:
    """Cumulative expected gain against cumulative cost, communes by gain per VND.

    ``curve`` is :func:`evaluation.scaling.budget.gain_cost_curve` or a ``RolloutPlan.plan``.
    With ``budget`` a vertical line marks it and the title reads off the gain within it.
    """
    require_columns(
        curve,
        ["cumulative_cost", "cumulative_gain"],
        "curve",
        "the frame produced by the scaling layer",
    )
    fig, ax = new_figure(9, 5.5)
    x = np.concatenate([[0.0], curve["cumulative_cost"].to_numpy(float) / 1e9])
    y = np.concatenate([[0.0], curve["cumulative_gain"].to_numpy(float)])
    ax.plot(x, y, color=PILOT_COLOUR, lw=3, drawstyle="steps-post" if len(x) < 8 else "default")
    ax.plot(x[1:], y[1:], "o", color=PILOT_COLOUR, ms=5)
    if {"cumulative_gain_low", "cumulative_gain_high"} <= set(curve.columns) and curve[
        "cumulative_gain_low"
    ].notna().any():
        low = np.concatenate([[0.0], curve["cumulative_gain_low"].to_numpy(float)])
        high = np.concatenate([[0.0], curve["cumulative_gain_high"].to_numpy(float)])
        ax.fill_between(
            x,
            low,
            high,
            color=PILOT_COLOUR,
            alpha=0.18,
            label=t("scaling.gain_curve.band", language),
        )
    title = t("scaling.gain_curve.title", language)
    if budget is not None:
        ax.axvline(budget / 1e9, color=EFFECT_COLOUR, lw=2.5, ls="--")
        ax.annotate(
            t("scaling.gain_curve.budget_line", language),
            (budget / 1e9, 0.02),
            xycoords=("data", "axes fraction"),
            xytext=(6, 0),
            textcoords="offset points",
            color=EFFECT_COLOUR,
            fontsize=13,
        )
        within = curve.loc[curve["cumulative_cost"] <= budget * (1 + 1e-12)]
        gain = float(within["cumulative_gain"].iloc[-1]) if len(within) else 0.0
        title = t(
            "scaling.gain_curve.title_budget",
            language,
            budget=format_vnd(budget, language),
            gain=format_number(gain, language, 0),
            n=len(within),
        )
    ax.set_xlabel(t("scaling.gain_curve.x_label", language))
    ax.set_ylabel(t("scaling.gain_curve.y_label", language))
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=min(0.0, float(np.nanmin(y))))
    number_axis(ax, language, "y")
    number_axis(ax, language, "x", decimals=1)
    _title(ax, title)
    place_legend(ax)  # where neither the curve nor the budget label is
    return fig


def power_curve_figure(
    curves: pd.DataFrame,
    target_power: float = 0.8,
    effect_label: str | None = None,
    language: Language = "vi",
    units: str | None = None,
) -> Figure:
    """Power against the number of new treated communes, one line per ballots per commune.

    ``curves`` is :func:`evaluation.scaling.power.power_curves`; simulated power (if present) is
    drawn as points with Monte Carlo error bars over the closed-form lines. With ``units`` (a
    generic panel's noun, one value per unit and period) the words are the panel's and the
    single line has no ballots legend.
    """
    prefix = "scaling.power" if units is None else "scaling.power.panel"
    words = {} if units is None else {"units": units}
    require_columns(
        curves,
        ["n_treated", "n_control", "ballots_per_commune", "power", "effect"],
        "curves",
        "the frame produced by the scaling layer",
    )
    fig, ax = new_figure(9, 5.5)
    for colour, (m, part) in zip(PALETTE, curves.groupby("ballots_per_commune"), strict=False):
        part = part.sort_values("n_treated")
        ax.plot(
            part["n_treated"],
            part["power"],
            color=colour,
            lw=3,
            label=(
                t("scaling.power.legend", language, m=format_number(m, language, 0))
                if units is None
                else None
            ),
        )
        if "power_simulated" in part.columns:
            ax.errorbar(
                part["n_treated"],
                part["power_simulated"],
                yerr=1.96 * part["power_mc_se"],
                fmt="o",
                color=colour,
                ms=6,
                capsize=3,
            )
    target_text = format_percent(target_power, language, 0)
    ax.axhline(target_power, color=COMPARISON_COLOUR, ls="--", lw=1.8)
    ax.annotate(
        t("scaling.power.target", language, target=target_text),
        (0.01, target_power),
        xycoords=("axes fraction", "data"),
        xytext=(0, 5),
        textcoords="offset points",
        fontsize=12,
        color="#555555",
    )
    ax.set_ylim(0, 1.02)
    percent_axis(ax, language, "y")
    ax.set_xlabel(t(f"{prefix}.x_label", language, **words))
    ax.set_ylabel(t("scaling.power.y_label", language))
    effect = effect_label or format_number(float(curves["effect"].iloc[0]), language, 2)
    # the message: the smallest design (most ballots) reaching the target
    best = curves.loc[curves["ballots_per_commune"] == curves["ballots_per_commune"].max()]
    reached = best.loc[best["power"] >= target_power].sort_values("n_treated")
    if len(reached):
        row = reached.iloc[0]
        title = t(
            f"{prefix}.title_reached",
            language,
            n=int(row["n_treated"]),
            n_control=int(row["n_control"]),
            effect=effect,
            **words,
        )
    else:
        title = t(
            f"{prefix}.title_not_reached",
            language,
            n=int(curves["n_treated"].max()),
            effect=effect,
            target=target_text,
            **words,
        )
    _title(ax, title)
    if units is None:
        place_legend(ax)  # where no curve, error bar or the target's label is
    return fig
