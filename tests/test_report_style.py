"""The shared report style: figure input checks, tick numbers in the language, reader tables."""

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


def _tick_texts(language: str) -> tuple[list[str], list[str], list[str]]:
    from matplotlib.ticker import PercentFormatter

    from evaluation.report.style import close, localise_numbers, new_figure

    fig, (left, right) = new_figure(ncols=2)
    left.plot([0.0, 0.5], [0.0, 12_000.0])
    right.bar(["xã", "phường"], [0.25, 0.75])
    right.yaxis.set_major_formatter(PercentFormatter(1.0))  # a figure's own format stays
    localise_numbers(fig, language)
    fig.canvas.draw()
    texts = (
        [t.get_text() for t in left.get_xticklabels()],
        [t.get_text() for t in left.get_yticklabels()],
        [t.get_text() for t in right.get_xticklabels()] + [right.get_yticklabels()[1].get_text()],
    )
    close(fig)
    return texts


def test_default_tick_numbers_follow_the_language():
    x, y, other = _tick_texts("vi")
    assert "0,5" in x and "0.5" not in x
    assert "10.000" in y
    assert other[:2] == ["xã", "phường"] and other[2].endswith("%")
    x, y, _ = _tick_texts("en")
    assert "0.5" in x and "10,000" in y


def test_reader_tables_left_align_words_and_right_align_numbers():
    from evaluation.report.style import table_styler, text_columns

    frame = pd.DataFrame(
        {
            "Xã": ["Xã Văn Xá", "Phường Lam Hạ"],
            "Tác động": ["0,36\u00a0điểm", "−0,10\u00a0điểm"],
            "p": ["<\u00a00,001", "0,200"],
            "Đủ điều kiện": ["có", "không"],
            "Số xã": ["14 / 109", "–"],
        }
    )
    assert text_columns(frame) == ["Xã", "Đủ điều kiện"]
    html = table_styler(frame).to_html()
    assert html.count("text-align: left") >= 1 and "0,36" in html
    assert '<th class="blank' not in html  # the index is hidden


def test_dose_response_of_a_share_reads_in_percent():
    from evaluation.report.figures_scaling import dose_response_figure
    from evaluation.report.style import close

    dose = pd.DataFrame(
        {
            "moderator": ["baseline_pct_condolence_on_time"] * 3,
            "moderator_median": [0.35, 0.385, 0.44],
            "estimate": [0.44, 0.34, 0.28],
            "conf_low": [0.3, 0.1, 0.0],
            "conf_high": [0.6, 0.6, 0.6],
            "inference_weak": [False, False, True],
            "n_treated_communes": [5, 4, 3],
        }
    )
    fig = dose_response_figure(dose, "thư chia buồn gửi kịp thời", language="vi")
    fig.canvas.draw()
    ticks = [tick.get_text() for tick in fig.axes[0].get_xticklabels()]
    close(fig)
    assert "40%" in ticks and not any("," in tick for tick in ticks)


def test_reader_tables_show_markup_from_inputs_as_text():
    from evaluation.report.style import table_styler

    frame = pd.DataFrame({"district": ["Duy Tiên<svg onload=alert(5)>", "<script>x()</script>"]})
    html = table_styler(frame).to_html()
    assert "<svg" not in html and "<script>" not in html
    assert "Duy Tiên&lt;svg onload=alert(5)&gt;" in html
