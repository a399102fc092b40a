"""One look for every figure: large labels for board staff, a font with Vietnamese diacritics.

Figure functions elsewhere take data and return a :class:`matplotlib.figure.Figure`; they call
:func:`new_figure` so the style is set in one place.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")  # figures are rendered to files and notebooks, never to a screen

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
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
    """Tick labels with the language's separators (10.000 in Vietnamese, 10,000 in English)."""
    from matplotlib.ticker import FuncFormatter

    from evaluation.i18n import format_number

    formatter = FuncFormatter(lambda value, _: format_number(value, language, decimals))  # type: ignore[arg-type]
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


class LocalisedFormatter(Formatter):
    """Plain tick numbers in the language's separators, with as few decimals as the ticks need.

    Replaces matplotlib's default ``ScalarFormatter`` (which always writes ``0.5``) so that a
    Vietnamese figure reads ``0,5`` and ``10.000``.
    """

    def __init__(self, language: str) -> None:
        self.language = language
        self.decimals = 0

    def set_locs(self, locs) -> None:  # noqa: ANN001 - matplotlib's signature
        super().set_locs(locs)
        self.decimals = next(
            (
                d
                for d in range(7)
                if all(abs(round(v, d) - v) < 1e-9 * max(1.0, abs(v)) for v in locs)
            ),
            6,
        )

    def __call__(self, x: float, pos: int | None = None) -> str:
        from evaluation.i18n import format_number

        return format_number(0.0 if abs(x) < 1e-12 else x, self.language, self.decimals)  # type: ignore[arg-type]


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
