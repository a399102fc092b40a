"""Every figure function names the argument, the missing columns and what to pass instead."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.report import figures_inference, figures_robustness, figures_scaling
from evaluation.report.style import require_columns

WRONG = pd.DataFrame({"x": [1.0]})


@pytest.mark.parametrize(
    ("figure", "argument", "source"),
    [
        (figures_robustness.love_plot, "before", "balance_table"),
        (figures_robustness.sensitivity_plot, "frame", "report.robustness"),
        (figures_robustness.specification_chart, "frame", "report.robustness"),
        (figures_scaling.cost_effectiveness_heatmap, "grid", "scaling layer"),
        (figures_scaling.gain_cost_curve_figure, "curve", "scaling layer"),
        (figures_scaling.power_curve_figure, "curves", "scaling layer"),
        (figures_inference.inference_panel_figure, "compare_methods", "trust.compare_methods"),
        (figures_inference.size_figure, "measure_size", "trust.measure_size"),
    ],
)
def test_wrong_frame_is_named(figure, argument, source):
    with pytest.raises(ValueError, match=rf"^{argument} lacks columns \[.*\]; pass .*{source}"):
        figure(WRONG)


def test_require_columns_checks_type_and_emptiness():
    with pytest.raises(ValueError, match="must be a pandas DataFrame, got list"):
        require_columns([1], ["x"], "table", "a frame")  # type: ignore[arg-type]
    require_columns(WRONG.iloc[:0], ["x"], "table", "a frame")  # empty is fine by default
    with pytest.raises(ValueError, match="table has no rows to plot"):
        require_columns(WRONG.iloc[:0], ["x"], "table", "a frame", allow_empty=False)
