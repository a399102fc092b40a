"""Wording and number formats: both languages complete, same placeholders, Vietnamese formats.

The key comparison reads the YAML files themselves (not the cached :func:`messages`), so a key
added to one language only, or a file present in one folder only, fails here before a board
member sees a ``KeyError`` or an English sentence in a Vietnamese report.
"""

from __future__ import annotations

import io
import re
import string
import warnings
from datetime import date, datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml

from evaluation.i18n import (
    LANGUAGES,
    format_date,
    format_number,
    format_p_value,
    format_percent,
    format_points,
    format_vnd,
    messages,
    t,
)

MESSAGES = Path(str(resources.files("evaluation.messages")))
#: Letters that only Vietnamese (among vi/en) writes: a Vietnamese sentence without any is suspect.
VIETNAMESE_LETTERS = re.compile(r"[àáâãèéêìíòóôõùúýăđĩũơưạ-ỹÀ-ÃÈ-ÊÌÍÒ-ÕÙÚÝĂĐĨŨƠƯẠ-Ỹ]")
SAMPLE = "Chính quyền thân thiện vì nhân dân phục vụ — Hà Nam: ạảãàáâầấậẩẫăằắặẳẵđĐơờớợởỡưừứựửữỹ"


def flat_files(folder: Path) -> dict[str, dict[str, str]]:
    """File name -> {dotted key: message} for every YAML file of one language folder."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.yaml")):
        tree = yaml.safe_load(path.read_text("utf-8")) or {}
        out[path.name] = _flatten(tree)
    return out


def _flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def key_differences(vi_folder: Path, en_folder: Path) -> list[str]:
    """Every file or key present in one language folder and not the other, as readable lines."""
    vi, en = flat_files(vi_folder), flat_files(en_folder)
    problems = [f"file {name} only in {vi_folder.name}/" for name in sorted(set(vi) - set(en))]
    problems += [f"file {name} only in {en_folder.name}/" for name in sorted(set(en) - set(vi))]
    all_vi = {k: name for name, keys in vi.items() for k in keys}
    all_en = {k: name for name, keys in en.items() for k in keys}
    problems += [f"{k} ({all_vi[k]}) missing in en/" for k in sorted(set(all_vi) - set(all_en))]
    problems += [f"{k} ({all_en[k]}) missing in vi/" for k in sorted(set(all_en) - set(all_vi))]
    return problems


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def all_messages(language: str) -> dict[str, str]:
    return {k: v for keys in flat_files(MESSAGES / language).values() for k, v in keys.items()}


# -- both languages complete -----------------------------------------------------------------


def test_every_key_exists_in_both_languages():
    problems = key_differences(MESSAGES / "vi", MESSAGES / "en")
    assert not problems, "messages differ between languages:\n" + "\n".join(problems)


def test_the_key_check_catches_a_missing_key_in_either_language(tmp_path):
    # The check above must be able to fail: drop one key from each side of a copy.
    for missing_in in LANGUAGES:
        for lang in LANGUAGES:
            (tmp_path / missing_in / lang).mkdir(parents=True)
            tree = {"page": {"title": "x", "nested": {"a": "y", "b": "z"}}}
            if lang == missing_in:
                del tree["page"]["nested"]["b"]
            (tmp_path / missing_in / lang / "page.yaml").write_text(yaml.safe_dump(tree), "utf-8")
        problems = key_differences(tmp_path / missing_in / "vi", tmp_path / missing_in / "en")
        assert problems == [f"page.nested.b (page.yaml) missing in {missing_in}/"]
    only_vi = tmp_path / "files"
    (only_vi / "vi").mkdir(parents=True)
    (only_vi / "en").mkdir()
    (only_vi / "vi" / "extra.yaml").write_text("extra: {k: v}\n", "utf-8")
    assert "file extra.yaml only in vi/" in key_differences(only_vi / "vi", only_vi / "en")


def test_same_files_in_both_languages():
    assert sorted(p.name for p in (MESSAGES / "vi").glob("*.yaml")) == sorted(
        p.name for p in (MESSAGES / "en").glob("*.yaml")
    )


def _nouns(text: str) -> set[str]:
    """Placeholders with ``_cap`` folded: a noun capitalised in one language (a sentence that
    starts with it) may be lower-case in the other; the code passes both forms."""
    return {name.removesuffix("_cap") for name in placeholders(text)}


def test_placeholders_match_between_languages():
    vi, en = all_messages("vi"), all_messages("en")
    mismatched = {
        k: (sorted(placeholders(vi[k])), sorted(placeholders(en[k])))
        for k in sorted(set(vi) & set(en))
        if _nouns(vi[k]) != _nouns(en[k])
    }
    assert not mismatched, f"placeholders differ (vi, en): {mismatched}"


def test_the_placeholder_check_sees_a_difference():
    assert placeholders("Ở {pilots} xã, {effect}") != placeholders("In {pilots} communes")
    assert _nouns("Số {periods} kể từ") == _nouns("{periods_cap} since")
    assert _nouns("Số {periods} kể từ") != _nouns("{units_cap} since")
    assert placeholders("{a} {b:.2f} {{literal}}") == {"a", "b"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_formats_with_its_placeholders(language):
    # A stray brace or a positional {} would only crash when a page fills the sentence.
    for key, text in messages(language).items():
        values = {name: "X" for name in placeholders(text)}
        filled = t(key, language, **values) if values else t(key, language)
        assert "{" not in filled.replace("{{", ""), key


def test_vietnamese_messages_are_written_in_vietnamese():
    vi, en = all_messages("vi"), all_messages("en")
    suspects = []
    for key, text in vi.items():
        words = re.findall(r"[^\W\d_]+", re.sub(r"\{[^}]*\}", "", text))
        if len(words) >= 4 and not VIETNAMESE_LETTERS.search(text):
            suspects.append(f"{key}: no Vietnamese letter in {text[:60]!r}")
        if len(words) >= 5 and text == en.get(key):
            suspects.append(f"{key}: same text as English")
    assert not suspects, "\n".join(suspects)


def test_a_missing_key_names_the_language_folder():
    with pytest.raises(KeyError, match="messages/en/"):
        t("summary.no_such_key", "en")
    with pytest.raises(ValueError, match="language must be one of"):
        messages("fr")  # type: ignore[arg-type]


# -- number and date formats -----------------------------------------------------------------


def test_format_number_vietnamese_decimal_comma_and_thousands_dot():
    assert format_number(1234567.891, "vi") == "1.234.567,89"
    assert format_number(1234567.891, "en") == "1,234,567.89"
    assert format_number(0.4360, "vi", 2) == "0,44"
    assert format_number(71534, "vi", 0) == "71.534"
    assert format_number(-1234.5, "vi", 1) == "−1.234,5"
    assert format_number(-1234.5, "en", 1) == "−1,234.5"
    assert format_number(float("nan"), "vi") == "–"
    assert format_number(None, "en") == "–"
    assert format_number(np.float64(2.5), "vi", 1) == "2,5"


def test_format_percent_and_points():
    assert format_percent(0.1234, "vi") == "12,3%"
    assert format_percent(0.1234, "en") == "12.3%"
    assert format_percent(0.76231, "vi", 2) == "76,23%"
    assert format_percent(None, "vi") == "–"
    assert format_points(0.032, "vi") == "+3,2\u00a0điểm\u00a0%"  # no-break: one line in tables
    assert format_points(-0.032, "en").startswith("−3.2")


def test_format_p_value():
    assert format_p_value(0.0234, "vi") == "0,023"
    assert format_p_value(0.0234, "en") == "0.023"
    assert format_p_value(0.00001, "vi") == "<\u00a00,001"
    assert format_p_value(float("nan"), "en") == "–"


def test_format_vnd():
    assert format_vnd(12_500_000, "vi") == "12.500.000\u00a0đ"
    assert format_vnd(12_500_000.4, "en") == "12,500,000\u00a0VND"
    assert format_vnd(3_000_000_000, "vi") == "3.000.000.000\u00a0đ"
    assert format_vnd(float("nan"), "vi") == "–"


def test_format_date_dd_mm_yyyy_in_vietnamese():
    assert format_date(date(2019, 10, 1), "vi") == "01/10/2019"
    assert format_date(datetime(2021, 3, 9, 14, 30), "vi") == "09/03/2021"
    assert format_date("2020-01-01", "vi") == "01/01/2020"
    assert format_date("2020-01-01T08:00:00", "vi") == "01/01/2020"
    assert format_date(date(2019, 10, 1), "en") == "2019-10-01"


# -- figures draw Vietnamese letters -------------------------------------------------------


def test_the_figure_font_has_every_vietnamese_letter():
    from evaluation.report.style import font_has_vietnamese

    assert font_has_vietnamese()
    assert font_has_vietnamese(SAMPLE)
    # The check itself can fail: a private-use character is in no font.
    assert not font_has_vietnamese("a\ue000")


def _render(text: str) -> np.ndarray:
    from evaluation.report.style import close, new_figure

    fig, ax = new_figure(1.2, 0.8)
    ax.set_axis_off()
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=28)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="rgba", dpi=40, bbox_inches=None)
    close(fig)
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def test_a_figure_with_vietnamese_text_renders_every_letter():
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    from evaluation.report.style import close, new_figure

    # 1. A real figure with Vietnamese title, labels and legend: no "Glyph missing" warning,
    #    and the font matplotlib picks for each text has every character.

    fig, ax = new_figure()
    ax.plot([1, 2, 3], [1, 3, 2], label="Xã thí điểm")
    ax.set_title("Tác động ước lượng của mô hình")
    ax.set_xlabel("Số kỳ khảo sát so với kỳ bắt đầu thí điểm")
    ax.set_ylabel("Điểm hài lòng (thang 1–5)")
    ax.legend(title="Nhóm xã — phường, thị trấn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png", dpi=50)
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    assert not missing, missing
    texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_legend().get_texts()]
    for artist in texts:
        charmap = FT2Font(font_manager.findfont(artist.get_fontproperties())).get_charmap()
        absent = [c for c in artist.get_text() if not c.isspace() and ord(c) not in charmap]
        assert not absent, (artist.get_text(), absent)
    close(fig)

    # 2. Rendered pixels: every letter draws a glyph of its own, not the "missing" box.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the private-use character warns, by design
        tofu = _render("\ue000")
    blank = _render(" ")
    for letter in sorted(set(SAMPLE) - {" "}):
        pixels = _render(letter)
        assert not np.array_equal(pixels, tofu), f"{letter!r} renders as the missing-glyph box"
        assert not np.array_equal(pixels, blank), f"{letter!r} renders as nothing"
    # Diacritics change the picture: 'a', 'ạ', 'ẫ' ... are all different images.
    accents = "aạảãàáâầấậẩẫăằắặẳẵ"
    assert len({_render(c).tobytes() for c in accents}) == len(accents)


def test_quarters_as_readers_write_them():
    from evaluation.i18n import format_quarter

    assert format_quarter("2019Q4", "vi") == "Q4/2019"
    assert format_quarter("2019Q4", "en") == "Q4 2019"
    assert format_quarter("2014", "vi") == "2014"  # a generic panel's period is left alone
