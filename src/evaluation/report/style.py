"""One look for every figure: large labels for board staff, a font with Vietnamese diacritics.

Figure functions elsewhere take data and return a :class:`matplotlib.figure.Figure`; they call
:func:`new_figure` so the style is set in one place.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")  # figures are rendered to files and notebooks, never to a screen

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.ticker import Formatter, ScalarFormatter  # noqa: E402

#: Fonts tried in order; DejaVu Sans ships with matplotlib and covers Vietnamese.
FONT_FAMILY = ["DejaVu Sans", "Noto Sans", "Arial"]

#: Colours with a fixed meaning across the reports.
PILOT_COLOUR = "#1b6ca8"
COMPARISON_COLOUR = "#9a9a9a"
EFFECT_COLOUR = "#d1495b"
PALETTE = [PILOT_COLOUR, COMPARISON_COLOUR, EFFECT_COLOUR, "#edae49", "#00798c", "#30638e"]

_RC = {
    "font.family": "sans-serif",
    "font.sans-serif": FONT_FAMILY,
    "font.size": 13,
    "axes.titlesize": 15,
    "axes.titleweight": "bold",
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "svg.fonttype": "none",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def apply_style() -> None:
    """Set the package's seaborn theme and matplotlib defaults."""
    sns.set_theme(style="whitegrid", palette=PALETTE, rc=_RC)


def new_figure(width: float = 9.0, height: float = 5.0, ncols: int = 1, nrows: int = 1):
    """A styled figure and its axes (``plt.subplots`` with the package style)."""
    apply_style()
    fig, axes = plt.subplots(
        nrows=nrows, ncols=ncols, figsize=(width, height), layout="constrained"
    )
    return fig, axes


def font_has_vietnamese(text: str = "Chính quyền thân thiện vì nhân dân phục vụ ạẫỹđ") -> bool:
    """Whether the first available font of :data:`FONT_FAMILY` draws every character of ``text``."""
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(font_manager.FontProperties(family=FONT_FAMILY))
    font = FT2Font(path)
    charmap = font.get_charmap()
    return all(ord(ch) in charmap for ch in text if not ch.isspace())


def close(fig: Figure) -> None:
    """Release a figure's memory once it has been saved or displayed."""
    plt.close(fig)


def number_axis(ax, language: str = "vi", axis: str = "y", decimals: int = 0) -> None:
    """Tick labels with the language's separators (10.000 in Vietnamese, 10,000 in English).

    ``decimals`` is the least number of decimals; more are used when the ticks need them to
    read differently (see :func:`tick_decimals`).
    """
    formatter = LocalisedFormatter(language, minimum=decimals)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def percent_axis(ax, language: str = "vi", axis: str = "y", decimals: int = 0) -> None:
    """Tick labels of shares as percentages (``0.25 -> 25%``), as precise as the ticks need."""
    formatter = LocalisedFormatter(language, minimum=decimals, percent=True)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def tick_decimals(
    values: Iterable[float], minimum: int = 0, maximum: int = 6, tolerance: float = 0.05
) -> int:
    """The fewest decimals (at least ``minimum``) at which the values read as what they are.

    Distinct values must print differently, and rounding may move a value by at most
    ``tolerance`` times the smallest gap between distinct values (a single value: times its
    size). The bounds ``0, 0.0075, 0.0112, 0.0187`` thus get four decimals, where two printed
    ``0.00, 0.01, 0.01, 0.02``; nice ticks ``0, 0.25, 0.5`` get two, ``0, 2000, 4000`` none.

    Parameters
    ----------
    values : iterable of float
        Tick values (non-finite ones are ignored).
    minimum, maximum : int
        Bounds on the number of decimals.
    tolerance : float
        Largest rounding shift, as a share of the smallest gap.

    Returns
    -------
    int
    """
    finite = sorted({float(v) for v in values if np.isfinite(v)})
    if not finite:
        return minimum
    gaps = np.diff(finite)
    scale = float(gaps.min()) if len(gaps) else abs(finite[0])
    if scale == 0.0:
        return minimum
    for d in range(minimum, maximum + 1):
        rounded = [round(v, d) for v in finite]
        shift = max(abs(r - v) for r, v in zip(rounded, finite, strict=True))
        if len(set(rounded)) == len(finite) and shift <= tolerance * scale + 1e-12:
            return d
    return maximum


class LocalisedFormatter(Formatter):
    """Plain tick numbers in the language's separators, with as many decimals as the ticks need.

    Replaces matplotlib's default ``ScalarFormatter`` (which always writes ``0.5``) so that a
    Vietnamese figure reads ``0,5`` and ``10.000``. The decimals come from
    :func:`tick_decimals` over the visible ticks, so two ticks never print alike.

    Parameters
    ----------
    language : {"vi", "en"}
    minimum : int
        Least number of decimals.
    percent : bool
        Shares written as percentages (``0.25 -> 25%``).
    absolute : bool
        Write the size without its sign (mirrored axes, e.g. counts drawn downwards).
    """

    def __init__(
        self, language: str, minimum: int = 0, percent: bool = False, absolute: bool = False
    ) -> None:
        self.language = language
        self.minimum = minimum
        self.percent = percent
        self.absolute = absolute
        self.decimals = minimum

    def _scaled(self, x: float) -> float:
        x = 100 * x if self.percent else x
        return abs(x) if self.absolute else x

    def set_locs(self, locs) -> None:  # noqa: ANN001 - matplotlib's signature
        super().set_locs(locs)
        shown = list(locs)
        if self.axis is not None:  # ticks outside the view are never drawn
            low, high = sorted(self.axis.get_view_interval())
            pad = 1e-9 * max(1.0, abs(low), abs(high))
            shown = [v for v in shown if low - pad <= v <= high + pad] or shown
        self.decimals = tick_decimals([self._scaled(v) for v in shown], self.minimum)

    def __call__(self, x: float, pos: int | None = None) -> str:
        from evaluation.i18n import format_number

        value = self._scaled(0.0 if abs(x) < 1e-12 else x)
        text = format_number(value, self.language, self.decimals)  # type: ignore[arg-type]
        return f"{text}%" if self.percent else text


def localise_numbers(fig: Figure, language: str) -> Figure:
    """Give every axis still on matplotlib's default number format the language's separators.

    Axes with their own formatter (categories, percentages, VND, dates, log scales) are left as
    they are. Called on every figure a report saves.
    """
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if type(axis.get_major_formatter()) is ScalarFormatter:
                axis.set_major_formatter(LocalisedFormatter(language))
    return fig


#: A cell reads as a number when it starts like one: a digit, a sign, "<" or the missing dash.
_NUMBER_START = tuple("0123456789+-−<–")


def text_columns(frame: pd.DataFrame) -> list[str]:
    """Columns whose cells mostly read as words, not numbers (they are left-aligned)."""
    out = []
    for column in frame.columns:
        cells = [str(v).strip() for v in frame[column] if str(v).strip() not in ("", "nan")]
        words = sum(not c.startswith(_NUMBER_START) for c in cells)
        if cells and words > len(cells) / 2:
            out.append(column)
    return out


def table_styler(frame: pd.DataFrame, numeric: Iterable[str] | None = None):  # noqa: ANN201
    """A reader's table (pandas Styler): no index, words left-aligned, numbers right-aligned
    and kept on one line.

    ``numeric`` names the number columns; by default every column that is not
    :func:`text_columns`. Inline alignment, because the notebook theme right-aligns every cell,
    which makes sentences in a table hard to read.
    """
    text = text_columns(frame) if numeric is None else [c for c in frame if c not in set(numeric)]
    numbers = [c for c in frame.columns if c not in text]
    # Cells may hold names from input files (communes, districts): shown as text, never markup.
    styler = frame.style.hide(axis="index").format(escape="html")
    if text:
        styler = styler.set_properties(subset=text, **{"text-align": "left"})
    if numbers:
        styler = styler.set_properties(
            subset=numbers, **{"text-align": "right", "white-space": "nowrap"}
        )
    headers = [
        {"selector": f"th.col_heading.col{i}", "props": [("text-align", "left")]}
        for i, c in enumerate(frame.columns)
        if c in text
    ]
    return styler.set_table_styles(headers, overwrite=False)


def require_columns(
    frame: pd.DataFrame,
    columns: Iterable[str],
    argument: str,
    source: str,
    allow_empty: bool = True,
) -> None:
    """Raise a clear error when a figure's input is not a frame with ``columns``.

    ``source`` names what to pass instead (e.g. ``"the output of trust.measure_size"``).
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{argument} must be a pandas DataFrame, got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{argument} lacks columns {missing}; pass {source}.")
    if frame.empty and not allow_empty:
        raise ValueError(f"{argument} has no rows to plot.")


# -- legends off the data ---------------------------------------------------------------------

#: Pixels (at 100 dpi) kept free between a legend and the nearest data, marker or label: room
#: for the small shifts of the layout when the figure is saved at another size.
LEGEND_MARGIN = 6.0

#: Corners and edge middles tried, in order, for a legend inside the axes.
LEGEND_INSIDE = (
    "upper right",
    "upper left",
    "lower right",
    "lower left",
    "upper center",
    "lower center",
    "center right",
    "center left",
)


def _on_data(artist, ax) -> bool:  # noqa: ANN001
    """Whether ``artist`` is placed in data coordinates (not a reference line or band spanning
    the axes, such as ``axhline`` or ``axvspan``)."""
    return bool(artist.get_visible()) and artist.get_transform().contains_branch(ax.transData)


def _points_to_pixels(fig: Figure, points: float) -> float:
    return points * fig.dpi / 72.0


def data_footprint(ax, renderer=None) -> list[tuple[str, MplPath, float]]:  # noqa: ANN001
    """Everything drawn from the data of ``ax``, in display (pixel) coordinates.

    Each item is ``(kind, path, radius)``: ``"points"`` (markers, with their radius in pixels),
    ``"line"`` (lines and interval segments, with half their width) or ``"area"`` (bars,
    bands, images). Reference lines and shaded bands spanning the whole axes are not data and
    are left out. With a ``renderer``, text placed on the plot (value labels, notes) is
    included as areas, so a legend does not cover it either.
    """
    from matplotlib.cbook import STEP_LOOKUP_MAP
    from matplotlib.collections import LineCollection, PathCollection

    fig = ax.figure
    out: list[tuple[str, MplPath, float]] = []

    def finite(xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, float).reshape(-1, 2)
        return xy[np.isfinite(xy).all(axis=1)]

    def box(artist) -> MplPath:  # noqa: ANN001
        return MplPath(artist.get_window_extent(renderer).corners()[[0, 1, 3, 2]], closed=True)

    for line in ax.lines:
        if not _on_data(line, ax):
            continue
        x, y = (np.asarray(v, float) for v in line.get_data(orig=False))
        if x.size == 0:
            continue
        if line.get_linestyle() not in ("None", "none", "", " ") and x.size > 1:
            sx, sy = STEP_LOOKUP_MAP[line.get_drawstyle() or "default"](x, y)
            xy = line.get_transform().transform(np.column_stack([sx, sy]))
            good = np.isfinite(xy).all(axis=1)
            # one path per run of finite points: a NaN breaks the line
            for run in np.split(np.arange(len(xy)), np.where(~good)[0]):
                run = run[good[run]]
                if len(run) > 1:
                    width = _points_to_pixels(fig, line.get_linewidth()) / 2
                    out.append(("line", MplPath(xy[run]), width))
        if line.get_marker() not in ("None", "none", "", " ", None):
            xy = finite(line.get_transform().transform(np.column_stack([x, y])))
            if len(xy):
                radius = _points_to_pixels(fig, line.get_markersize()) / 2
                out.append(("points", MplPath(xy), radius))
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):  # scatter: markers at the offsets
            offsets = coll.get_offsets()
            if len(offsets) and coll.get_offset_transform().contains_branch(ax.transData):
                sizes = coll.get_sizes()
                radius = (
                    _points_to_pixels(fig, float(np.sqrt(sizes.max())) / 2) if len(sizes) else 3.0
                )
                xy = finite(coll.get_offset_transform().transform(offsets))
                if len(xy):
                    out.append(("points", MplPath(xy), radius))
            continue
        if not _on_data(coll, ax):
            continue
        kind = "line" if isinstance(coll, LineCollection) else "area"
        for path in coll.get_paths():
            if len(path.vertices):
                out.append((kind, coll.get_transform().transform_path(path), 1.0))
    for patch in ax.patches:
        if _on_data(patch, ax):
            out.append(("area", patch.get_transform().transform_path(patch.get_path()), 0.0))
    if renderer is not None:
        for image in ax.images:
            if image.get_visible():
                out.append(("area", box(image), 0.0))
        for text in ax.texts:
            if text.get_visible() and text.get_text().strip():
                out.append(("area", box(text), 0.0))
    return out


def reference_footprint(ax) -> list[tuple[str, MplPath, float]]:  # noqa: ANN001
    """Reference lines and bands spanning the axes (``axhline``, ``axvline``, ``axvspan``), in
    display coordinates, as items of :func:`data_footprint`: not data, but better left whole."""
    out: list[tuple[str, MplPath, float]] = []
    for line in ax.lines:
        if line.get_visible() and not _on_data(line, ax):
            width = _points_to_pixels(ax.figure, line.get_linewidth()) / 2
            out.append(("line", line.get_transform().transform_path(line.get_path()), width))
    for patch in ax.patches:
        if patch.get_visible() and not _on_data(patch, ax):
            out.append(("area", patch.get_transform().transform_path(patch.get_path()), 0.0))
    return out


def covers_data(box, footprint: list[tuple[str, MplPath, float]], margin: float = 0.0) -> bool:  # noqa: ANN001
    """Whether the display-coordinate box ``box`` touches any item of ``footprint`` (each item
    counted with its radius, and ``margin`` pixels more)."""
    for kind, path, radius in footprint:
        grown = box.padded(margin + radius)
        if kind == "points":
            v = path.vertices
            if (
                (v[:, 0] >= grown.x0)
                & (v[:, 0] <= grown.x1)
                & (v[:, 1] >= grown.y0)
                & (v[:, 1] <= grown.y1)
            ).any():
                return True
        elif path.intersects_bbox(grown, filled=kind == "area"):
            return True
    return False


def place_legend(
    ax,  # noqa: ANN001
    handles: list | None = None,
    labels: list[str] | None = None,
    *,
    inside: bool = True,
    outside: str = "lower center",
    ncols: int | None = None,
    **kwargs: object,
):  # noqa: ANN201
    """Put the legend of ``ax`` where it hides no data; every figure's legend goes through here.

    The corners and edge middles of the axes are tried in turn (:data:`LEGEND_INSIDE`); the
    first whose box, measured by matplotlib's renderer, keeps :data:`LEGEND_MARGIN` pixels
    from every line, marker, bar, interval and label of :func:`data_footprint` is kept. When
    none is free (or ``inside`` is False) the legend goes outside the axes, at the figure's
    ``outside`` edge (``"lower center"``, ``"right upper"`` ...), where the constrained layout
    makes room for it.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes whose artists are described (and, for an inside legend, the legend's parent).
    handles, labels : list, optional
        Legend entries (default: those of ``ax``).
    inside : bool
        Try the inside positions first.
    outside : str
        Edge used when no inside position is free.
    ncols : int, optional
        Columns of entries (default: one inside; outside, as many as fit in one or two rows).
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.legend` (``title``, ``fontsize`` ...).

    Returns
    -------
    matplotlib.legend.Legend or None
        None when there is nothing to name.
    """
    if handles is None or labels is None:
        found_handles, found_labels = ax.get_legend_handles_labels()
        handles = found_handles if handles is None else handles
        labels = found_labels if labels is None else labels
    if not handles:
        return None
    fig = ax.figure
    if inside:
        fig.draw_without_rendering()  # the layout fixes where the axes and its ticks sit
        renderer = fig.canvas.get_renderer()
        footprint = data_footprint(ax, renderer)
        margin = _points_to_pixels(fig, LEGEND_MARGIN * 72.0 / 100.0)
        # first a spot that also leaves the reference lines and bands whole, then any spot
        # off the data
        for obstacles in (footprint + reference_footprint(ax), footprint):
            for loc in LEGEND_INSIDE:
                legend = ax.legend(handles, labels, loc=loc, ncols=ncols or 1, **kwargs)
                if not covers_data(legend.get_window_extent(renderer), obstacles, margin):
                    return legend
                legend.remove()
    if ncols is None:
        width = sum(len(str(label)) for label in labels)
        ncols = len(labels) if width <= 70 else max(1, (len(labels) + 1) // 2)
        if outside.startswith(("right", "left")):
            ncols = 1
    kwargs.setdefault("frameon", False)
    return fig.legend(handles, labels, loc=f"outside {outside}", ncols=ncols, **kwargs)
