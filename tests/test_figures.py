"""Every figure the pages draw, built from the small demo as the notebooks build it.

Checked with matplotlib's own renderer, in both languages: no legend covers plotted data (line
vertices and segments, scatter and marker points, bars, interval segments, bands), and each
axis's tick labels read differently for different values. The dose figures of page 05 say
"larger", "smaller" or "no clear difference" from the same Holm-adjusted p-value as the table
beside them.

The overlap test measures the data itself here (not through the report's placement helper),
so it judges the placement rather than repeating it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo
from matplotlib.cbook import STEP_LOOKUP_MAP
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure

from evaluation.analysis import applies, rollout
from evaluation.analysis import comparison as acmp
from evaluation.analysis import data_quality as adq
from evaluation.analysis import effects as ef
from evaluation.analysis import how_sure as hs
from evaluation.analysis import robustness as ar
from evaluation.analysis import scaling as sc
from evaluation.analysis import where_it_works as aw
from evaluation.i18n import format_p_value
from evaluation.report import comparison as cmp
from evaluation.report import data_quality as dq
from evaluation.report import effects as fx
from evaluation.report import robustness as rb
from evaluation.report import rollout_waves as rw
from evaluation.report import scaling_page as sp
from evaluation.report import where_it_works as ww
from evaluation.report.figures_effects import event_study_figure, headline_effect_figure
from evaluation.report.figures_inference import inference_panel_figure, size_figure
from evaluation.report.figures_robustness import (
    love_plot,
    overlap_plot,
    sensitivity_plot,
    specification_chart,
)
from evaluation.report.figures_scaling import (
    cost_effectiveness_heatmap,
    gain_cost_curve_figure,
    power_curve_figure,
)
from evaluation.report.style import close, localise_numbers

LANGUAGES = ("vi", "en")

# -- the pages' figures, built as the notebooks build them ------------------------------------


@pytest.fixture(scope="module")
def demo():
    return small_demo("vi")


class PageResults:
    """Each page's analysis results on the small demo, computed once, on first use."""

    def __init__(self, params, prepared) -> None:  # noqa: ANN001
        self.params, self.prepared = params, prepared
        self._cache: dict[str, object] = {}

    def get(self, name: str, build: Callable[[], object]) -> object:
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]


@pytest.fixture(scope="module")
def results(demo):
    return PageResults(*demo)


def _page01(r: PageResults, language: str) -> dict[str, Figure]:
    coverage = r.get("coverage", lambda: adq.coverage(r.prepared, r.params))
    assert applies(coverage)
    return {"coverage_by_wave": dq.coverage_figure(coverage, r.prepared, language)}


def _page02(r: PageResults, language: str) -> dict[str, Figure]:
    p, d = r.params, r.prepared
    weights = r.get("weights", lambda: acmp.comparison_weights(d, p))
    before = r.get("before", lambda: acmp.baseline_balance(d, p))
    after = r.get("after", lambda: acmp.weighted_balance(d, p, weights))
    assert applies(weights) and applies(before) and applies(after)
    scores, group, keep = weights.overlap_inputs()
    labels = cmp.love_labels(before.characteristics, p, language)
    return {
        "propensity_overlap": overlap_plot(scores, group, language, keep=keep),
        "love_plot": love_plot(before.table, after.table, language, labels=labels),
    }


def _page03(r: PageResults, language: str) -> dict[str, Figure]:
    p, d = r.params, r.prepared
    headline = r.get("headline", lambda: ef.headline(d, p))
    check = r.get("check", lambda: hs.how_sure(d, p, headline))
    table = r.get("did_table", lambda: ef.did_table(d, p, headline.design))
    robust = r.get("robust", lambda: ef.doubly_robust(d, p, headline.outcome))
    dynamic = r.get("dynamic", lambda: ef.event_study_estimate(d, p, headline.outcome))
    assert all(applies(x) for x in (headline, check, table, robust, dynamic))
    assert len(check.sizes)
    words = fx.nouns(p, language)
    level = 1 - p.analysis.alpha
    rows = fx.headline_figure_rows(headline, check.trusted, [table.estimate, *robust.estimates])
    return {
        "inference_panel": inference_panel_figure(
            check.comparison, language, headline=check.trusted.method, level=level
        ),
        "size_by_method": size_figure(check.sizes, tuple(p.inference.size_band), language),
        "event_study": event_study_figure(
            dynamic, language, intervals=False, period=words["period"]
        ),
        "headline_effect": headline_effect_figure(
            rows,
            language,
            labels=[fx.estimator_label(e, language) for e in rows["estimator"]],
            level=level,
            nouns=(words["treated"], words["units"]),
        ),
    }


def _sensitivity(r: PageResults):  # noqa: ANN202
    trends = r.get("trends", lambda: ar.pretrends(r.prepared, r.params))
    return trends, r.get("sensitivity", lambda: ar.honest_did(r.prepared, r.params, trends))


def _page04(r: PageResults, language: str) -> dict[str, Figure]:
    p, d = r.params, r.prepared
    _, sensitivity = _sensitivity(r)
    base = r.get("base", lambda: ar.base_effect(d, p))
    leave_out = r.get("leave_out", lambda: ar.leave_one_out(d, p))
    unchanged = r.get("unchanged", lambda: ar.unchanged_map(d, p))
    specs = r.get(
        "specs", lambda: ar.specifications(d, p, base, sensitivity, leave_out, unchanged, None)
    )
    assert applies(sensitivity) and applies(specs)
    alpha = p.analysis.alpha
    return {
        "honest_relative_magnitudes": sensitivity_plot(
            sensitivity.relative_magnitudes,
            language,
            breakdown=sensitivity.breakdown_rm,
            alpha=alpha,
        ),
        "honest_smoothness": sensitivity_plot(
            sensitivity.smoothness, language, breakdown=sensitivity.breakdown_sd, alpha=alpha
        ),
        "specification_chart": specification_chart(
            rb.specification_frame(specs, p, language), language, alpha=alpha
        ),
    }


def _baseline(r: PageResults):  # noqa: ANN202
    def build():  # noqa: ANN202
        frame = aw.moderator_panel(r.prepared)
        return aw.baseline_interactions(r.prepared, r.params, "satisfaction_index", frame)

    return r.get("baseline", build)


def _page05(r: PageResults, language: str) -> dict[str, Figure]:
    baseline = _baseline(r)
    assert applies(baseline)
    return {
        f"dose_response_{m}": ww.dose_figure(baseline, m, language)
        for m in baseline.table["moderator"]
    }


def _page06(r: PageResults, language: str) -> dict[str, Figure]:
    p, d = r.params, r.prepared
    headline = r.get("sc_headline", lambda: sc.headline_effects(d, p))
    candidates = r.get("candidates", lambda: sc.candidate_predictions(d, p, headline, None))
    screen = r.get("screen", lambda: sc.conditions_screen(d, p, candidates))
    ce = r.get("ce", lambda: sc.cost_effectiveness_analysis(d, p, candidates))
    plan = r.get("plan", lambda: sc.budget_plan(d, p, ce, screen))
    power = r.get("power", lambda: sc.power_analysis(d, p, headline, candidates))
    assert applies(ce) and ce.typical.gain_positive and applies(plan) and len(plan.table)
    assert applies(power)
    return {
        "cost_sensitivity": cost_effectiveness_heatmap(
            ce.sensitivity, "vnd_per_satisfied_household", language
        ),
        "gain_cost_curve": gain_cost_curve_figure(
            sp.curve_without_band(plan), plan.budget, language
        ),
        "power_curves": power_curve_figure(
            power.curves,
            power.target_power,
            sp.effect_label(power, language),
            language,
            units=sp.figure_units(power, p, language),
        ),
    }


def _page07(r: PageResults, language: str) -> dict[str, Figure]:
    p, d = r.params, r.prepared
    bacon = r.get("bacon", lambda: rollout.twfe_decomposition(d, p))
    effects = r.get("rollout", lambda: rollout.rollout_effects(d, p))
    assert applies(bacon) and applies(effects)
    figures = {
        "bacon_decomposition": rw.bacon_chart(bacon, p, language),
        "group_time_att": rw.group_time_chart(effects, p, language),
    }
    figures.update({name: fig for fig, name, _ in rw.dynamic_charts(effects, p, language)})
    return figures


PAGES: dict[str, Callable[[PageResults, str], dict[str, Figure]]] = {
    "01": _page01,
    "02": _page02,
    "03": _page03,
    "04": _page04,
    "05": _page05,
    "06": _page06,
    "07": _page07,
}

#: Figures each page must draw on the small demo (so no check passes on a missing figure).
EXPECTED = {
    "01": {"coverage_by_wave"},
    "02": {"propensity_overlap", "love_plot"},
    "03": {"inference_panel", "size_by_method", "event_study", "headline_effect"},
    "04": {"honest_relative_magnitudes", "honest_smoothness", "specification_chart"},
    "05": {f"dose_response_{m}" for m in ("baseline_one_stop_staff_per_1000", "baseline_index")},
    "06": {"cost_sensitivity", "gain_cost_curve", "power_curves"},
    "07": {"bacon_decomposition", "group_time_att", "dynamic_cs"},
}


def page_figures(results: PageResults, page: str, language: str) -> dict[str, Figure]:
    """The page's figures as saved: numbers in the language's format, laid out and drawn."""
    figures = PAGES[page](results, language)
    assert EXPECTED[page] <= set(figures)
    for fig in figures.values():
        localise_numbers(fig, language)  # as RunContext.save_figure does before saving
        fig.canvas.draw()
    return figures


# -- what is drawn from the data, in pixels (measured here, independently of the report) ------


def _pixels(fig: Figure, points: float) -> float:
    return points * fig.dpi / 72.0


def _dense(xy: np.ndarray, step: float = 1.0) -> np.ndarray:
    """Points every ``step`` pixels along the polyline ``xy`` (its vertices included)."""
    out = [xy[:1]]
    for a, b in zip(xy[:-1], xy[1:], strict=True):
        n = max(1, math.ceil(float(np.hypot(*(b - a))) / step))
        out.append(a + np.outer(np.linspace(0, 1, n + 1)[1:], b - a))
    return np.concatenate(out)


def data_marks(ax) -> tuple[list[tuple[np.ndarray, float]], list]:  # noqa: ANN001
    """``(points, areas)`` of everything drawn from data on ``ax``, in display pixels.

    ``points`` are ``(array of xy, radius)``: vertices and the segments between them (sampled
    every pixel), scatter and marker centres with their marker radius, interval segments.
    ``areas`` are display paths of bars and bands. Lines and bands placed in axes coordinates
    (``axhline``, ``axvspan``) span the whole plot and are references, not data.
    """
    fig = ax.figure
    points: list[tuple[np.ndarray, float]] = []
    areas: list = []

    def on_data(artist) -> bool:  # noqa: ANN001
        return artist.get_visible() and artist.get_transform().contains_branch(ax.transData)

    def keep(xy: np.ndarray, radius: float) -> None:
        xy = np.asarray(xy, float).reshape(-1, 2)
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy):
            points.append((xy, radius))

    for line in ax.lines:
        if not on_data(line):
            continue
        x, y = (np.asarray(v, float) for v in line.get_data(orig=False))
        if line.get_linestyle() not in ("None", "", " ") and len(x) > 1:
            sx, sy = STEP_LOOKUP_MAP[line.get_drawstyle()](x, y)
            xy = line.get_transform().transform(np.column_stack([sx, sy]))
            ok = np.isfinite(xy).all(axis=1)
            for run in np.split(np.arange(len(xy)), np.where(~ok)[0]):
                run = run[ok[run]]
                if len(run) > 1:
                    keep(_dense(xy[run]), _pixels(fig, line.get_linewidth()) / 2)
        if line.get_marker() not in ("None", "", " ", None):
            xy = line.get_transform().transform(np.column_stack([x, y]))
            keep(xy, _pixels(fig, line.get_markersize()) / 2)
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):
            if coll.get_offset_transform().contains_branch(ax.transData):
                radius = _pixels(fig, float(np.sqrt(np.max(coll.get_sizes()))) / 2)
                keep(coll.get_offset_transform().transform(coll.get_offsets()), radius)
        elif isinstance(coll, LineCollection) and on_data(coll):
            for segment in coll.get_segments():
                if len(segment) > 1:
                    keep(_dense(coll.get_transform().transform(segment)), 1.0)
        elif on_data(coll):
            areas += [coll.get_transform().transform_path(path) for path in coll.get_paths()]
    areas += [p.get_transform().transform_path(p.get_path()) for p in ax.patches if on_data(p)]
    return points, areas


def hidden_marks(box, ax) -> int:  # noqa: ANN001
    """How many data points and areas of ``ax`` the display box ``box`` covers."""
    points, areas = data_marks(ax)
    hidden = 0
    for xy, radius in points:
        grown = box.padded(radius)
        hidden += int(
            (
                (xy[:, 0] > grown.x0)
                & (xy[:, 0] < grown.x1)
                & (xy[:, 1] > grown.y0)
                & (xy[:, 1] < grown.y1)
            ).sum()
        )
    hidden += sum(path.intersects_bbox(box, filled=True) for path in areas)
    return hidden


def legends(fig: Figure) -> list:
    return [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)


# -- legends hide no data -----------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", sorted(PAGES))
def test_no_legend_covers_data(results, page, language):
    figures = page_figures(results, page, language)
    problems = []
    for name, fig in figures.items():
        renderer = fig.canvas.get_renderer()
        for legend in legends(fig):
            box = legend.get_window_extent(renderer)
            for i, ax in enumerate(fig.axes):
                if n := hidden_marks(box, ax):
                    problems.append(f"{name}: the legend covers {n} data marks of axes {i}")
        close(fig)
    assert not problems, problems


def test_the_overlap_check_sees_a_legend_on_the_data():
    # the check itself: a legend over the points is caught, the same legend off them is not
    from evaluation.report.style import new_figure

    fig, ax = new_figure()
    ax.plot([0, 1, 2, 3], [0, 1, 2, 3], "o-", label="pilot")
    ax.bar([0.5], [0.4], width=0.2, label="bar")
    legend = ax.legend(loc="center")
    fig.canvas.draw()
    assert hidden_marks(legend.get_window_extent(fig.canvas.get_renderer()), ax) > 0
    legend.remove()
    legend = fig.legend(loc="outside lower center")
    fig.canvas.draw()
    assert hidden_marks(legend.get_window_extent(fig.canvas.get_renderer()), ax) == 0
    close(fig)


# -- tick labels read differently for different values -------------------------------------------


def _visible_tick_labels(axis) -> list[tuple[float, str]]:  # noqa: ANN001
    low, high = sorted(axis.get_view_interval())
    pad = 1e-9 * max(1.0, abs(low), abs(high))
    return [
        (float(tick.get_loc()), tick.label1.get_text())
        for tick in axis.get_major_ticks()
        if tick.label1.get_visible() and low - pad <= tick.get_loc() <= high + pad
    ]


def repeated_labels(fig: Figure) -> list[str]:
    """Tick labels written alike for ticks of different size, on every axis of ``fig``.

    The same label on ``v`` and ``-v`` is allowed (a mirrored axis writes counts unsigned).
    """
    out = []
    for i, ax in enumerate(fig.axes):
        for axis in (ax.xaxis, ax.yaxis):
            by_label: dict[str, set[float]] = {}
            for loc, text in _visible_tick_labels(axis):
                if text.strip():
                    by_label.setdefault(text, set()).add(round(abs(loc), 12))
            out += [
                f"axes {i} {axis.axis_name}: {text!r} at {len(sizes)} values"
                for text, sizes in by_label.items()
                if len(sizes) > 1
            ]
    return out


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", sorted(PAGES))
def test_tick_labels_differ(results, page, language):
    problems = []
    for name, fig in page_figures(results, page, language).items():
        problems += [f"{name}: {p}" for p in repeated_labels(fig)]
        close(fig)
    assert not problems, problems


def _read_number(text: str, language: str) -> float:
    text = text.replace("\u2212", "-").replace("%", "")
    vi = language == "vi"
    return float(text.replace(".", "").replace(",", ".") if vi else text.replace(",", ""))


@pytest.mark.parametrize("language", LANGUAGES)
def test_smoothness_bounds_read_as_their_values(results, language):
    # page 04 showed the bounds 0.0075 and 0.0187 as "0.01" and "0.02"
    _, sensitivity = _sensitivity(results)
    ms = np.sort(sensitivity.smoothness.query("method != 'original'")["m"].to_numpy(float))
    gap = float(np.min(np.diff(ms)))
    fig = sensitivity_plot(sensitivity.smoothness, language, breakdown=sensitivity.breakdown_sd)
    fig.canvas.draw()
    shown = {loc: text for loc, text in _visible_tick_labels(fig.axes[0].xaxis) if text != "•"}
    close(fig)
    assert len(shown) == len(ms)
    for loc, text in shown.items():
        assert _read_number(text, language) == pytest.approx(loc, abs=0.05 * gap), text


def test_sensitivity_ticks_for_close_bounds():
    # bounds whose two-decimal labels coincide read differently, and close to their values
    frame = pd.DataFrame(
        {
            "restriction": "smoothness",
            "method": ["original"] + ["FLCI"] * 4,
            "m": [0.0, 0.0, 0.0075, 0.0112, 0.0187],
            "conf_low": [0.1, 0.1, 0.05, 0.0, -0.05],
            "conf_high": [0.5, 0.5, 0.55, 0.6, 0.65],
        }
    )
    fig = sensitivity_plot(frame, "vi")
    fig.canvas.draw()
    texts = [text for _, text in _visible_tick_labels(fig.axes[0].xaxis) if text != "•"]
    close(fig)
    assert texts == ["0", "0,0075", "0,0112", "0,0187"]


# -- titles agree with their own test --------------------------------------------------------------


def _title(fig: Figure) -> str:
    return fig.axes[0].get_title(loc="left").replace("\n", " ")


@pytest.mark.parametrize("language", LANGUAGES)
def test_dose_titles_follow_the_holm_p_of_the_table_beside_them(results, language):
    """Each page-05 dose figure says "larger"/"smaller" exactly when the table's Holm p-value
    is below alpha, and prints that same p-value."""
    baseline = _baseline(results)
    table = baseline.table
    # Force one clear and one unclear moderator whatever the demo's draw gives, the clear one
    # with bins whose intervals overlap (the old title rule would have said "no difference").
    holm = table["slope_p_holm"].to_numpy(float).copy()
    holm[0], holm[-1] = 0.0004, 0.62
    forced = replace(baseline, table=table.assign(slope_p_holm=holm))
    shown = ww.interaction_display(forced, language)
    holm_column = ww._w("col_p_holm", language)
    messages = {
        key: ww._w(f"dose_title_{key}", language, moderator="\x00", p_holm="\x01")
        .split("\x00")[0]
        .strip()
        for key in ("larger", "smaller", "unclear")
    }
    for i, moderator in enumerate(forced.table["moderator"]):
        row = forced.table.iloc[i]
        fig = ww.dose_figure(forced, moderator, language)
        title = _title(fig)
        close(fig)
        clear = row["slope_p_holm"] < forced.alpha
        expected = ("larger" if row["slope"] > 0 else "smaller") if clear else "unclear"
        assert title.startswith(messages[expected]), (moderator, title)
        # the p-value printed in the title is the table's Holm cell of the same row
        assert str(shown.iloc[i][holm_column]) in title
        assert format_p_value(float(row["slope_p_holm"]), language) in title


@pytest.mark.parametrize("language", LANGUAGES)
def test_dose_response_title_comes_from_the_test_not_the_bins(language):
    from evaluation.report.figures_scaling import dose_response_figure

    # bins that do not overlap: the first bin's interval is far below the last one's
    dose = pd.DataFrame(
        {
            "moderator": ["baseline_apology_per_100_dossiers"] * 3,
            "moderator_median": [1.0, 1.5, 2.0],
            "estimate": [0.1, 0.3, 0.6],
            "conf_low": [0.05, 0.2, 0.5],
            "conf_high": [0.15, 0.4, 0.7],
            "inference_weak": [False, False, False],
            "n_treated_communes": [5, 4, 5],
        }
    )
    unclear = ww._w("dose_title_unclear", language, moderator="X", p_holm="0,200")
    smaller = ww._w("dose_title_smaller", language, moderator="X", p_holm="\x01").split("X")[0]
    # Holm p = 0.20: no clear difference, although the bins alone look increasing
    fig = dose_response_figure(dose, "X", "", language, test=(0.5, 0.20))
    assert _title(fig) == unclear.replace("0,200", format_p_value(0.20, language))
    close(fig)
    # Holm p < 0.001 and a negative slope: "smaller", whatever the bins show
    fig = dose_response_figure(dose, "X", "", language, test=(-0.3, 0.0004))
    assert _title(fig).startswith(smaller) and format_p_value(0.0004, language) in _title(fig)
    close(fig)


@pytest.mark.parametrize("language", LANGUAGES)
def test_event_study_legend_states_the_same_pretrend_test_as_the_reading(results, language):
    p, d = results.params, results.prepared
    headline = results.get("headline", lambda: ef.headline(d, p))
    dynamic = results.get("dynamic", lambda: ef.event_study_estimate(d, p, headline.outcome))
    fig = event_study_figure(dynamic, language, intervals=False)
    legend = legends(fig)[0]
    p_text = format_p_value(dynamic.diagnostics["pretrend_p_value"], language)
    assert p_text in legend.get_title().get_text()
    assert p_text in fx.event_reading(dynamic, p, language)
    close(fig)


# -- figures whose data can fill every corner ------------------------------------------------------


def _assert_no_legend_on_data(fig: Figure) -> None:
    localise_numbers(fig, "vi")
    fig.canvas.draw()
    found = legends(fig)
    assert found, "the figure has no legend to check"
    for legend in found:
        box = legend.get_window_extent(fig.canvas.get_renderer())
        assert all(hidden_marks(box, ax) == 0 for ax in fig.axes)
    close(fig)


@pytest.mark.parametrize("language", LANGUAGES)
def test_bacon_legend_leaves_points_in_every_corner_visible(language):
    # "best" once hid a comparison's point: with points in every corner no inside spot is free
    from evaluation.estimators.bacon import COMPARISON_TYPES
    from evaluation.report.figures_rollout import bacon_figure

    weight, estimate = np.meshgrid(np.linspace(0.01, 0.3, 6), np.linspace(-0.5, 0.8, 6))
    table = pd.DataFrame(
        {
            "type": [COMPARISON_TYPES[i % 4] for i in range(weight.size)],
            "weight": weight.ravel(),
            "estimate": estimate.ravel(),
        }
    )
    _assert_no_legend_on_data(bacon_figure(table, language, twfe_estimate=0.2))


def test_likert_distribution_legend_sits_off_the_bars(demo):
    from evaluation.report.figures_likert import likert_distribution_figure

    params, prepared = demo
    ballots = prepared.ballots.assign(group=prepared.ballots["pilot"].map({True: "A", False: "B"}))
    item = params.analysis.likert_item
    _assert_no_legend_on_data(likert_distribution_figure(ballots, item, "group", "vi"))


def test_tick_decimals_make_close_values_differ():
    from evaluation.report.style import tick_decimals

    assert tick_decimals([0.0, 0.0075, 0.0112, 0.0187]) == 4  # two decimals gave 0,01 twice
    assert tick_decimals([0.0, 0.25, 0.5]) == 2
    assert tick_decimals([0.0, 2000.0, 4000.0]) == 0
    assert tick_decimals([0.8, 1.0, 1.2], minimum=1) == 1
