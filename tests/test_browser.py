"""The rendered pages as a reader's browser shows them (real headless Chromium via Playwright).

A small simulated run of every page is made in each language, then every HTML
page of the run is opened offline — every request that is not a file is aborted and counted —
and checked: no broken image, no code visible, the simulated-data banner visible, the document
language right, the wording in the run's language. A full-page screenshot of each page is saved
into the run folder (``screenshots/<page>.png``) for a person to look at.

Runs in the default suite (CI); skipped only when ``/usr/bin/chromium`` is missing.
Never run ``playwright install``: the Debian browser is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _demo import SMALL_DEMO

from evaluation.i18n import LANGUAGES, t
from evaluation.report.pdf import CHROMIUM, CHROMIUM_FLAGS, html_to_pdf, write_pdfs

pytestmark = pytest.mark.browser

PROJECT = Path(__file__).resolve().parents[1]
#: Every page template of the package (the run renders them all).
NOTEBOOKS = sorted(p.stem for p in (PROJECT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: Elements that hold code in nbconvert's lab template (none may be visible).
CODE_SELECTOR = (
    ".jp-InputArea, .jp-CodeCell .jp-Cell-inputWrapper, .jp-InputPrompt, .jp-CodeMirrorEditor"
)
#: Python object representations that leak when a cell's last line returns something.
LEAKS = ("PosixPath(", "<Figure size", "Styler object", "<IPython.core", "Traceback (most recent")


@dataclass
class PageView:
    """What the browser showed for one page."""

    name: str
    lang: str
    blocked: list[str] = field(default_factory=list)
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    visible_code: int = 0
    banner_visible: bool = False
    banner_text: str = ""
    text: str = ""
    screenshot: Path | None = None


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(
            f"{CHROMIUM} is missing: install the Debian package `chromium` to run the browser "
            "checks (never `playwright install`)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS)
        )
        yield instance
        instance.close()


def _look(browser, page_file: Path) -> PageView:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    view = PageView(name=page_file.stem, lang="")

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith(("file://", "data:", "blob:", "about:")):
            request_route.continue_()
        else:
            view.blocked.append(url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(page_file.as_uri(), wait_until="load")
    view.lang = page.evaluate("document.documentElement.lang")
    view.images = page.evaluate("document.images.length")
    view.broken_images = page.evaluate(
        "Array.from(document.images)"
        ".filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.alt || i.src.slice(0, 80))"
    )
    view.visible_code = page.evaluate(
        "sel => Array.from(document.querySelectorAll(sel))"
        ".filter(e => { const r = e.getBoundingClientRect();"
        " return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; })"
        ".length",
        CODE_SELECTOR,
    )
    banner = page.locator(".simulated-banner").first
    view.banner_visible = banner.count() > 0 and banner.is_visible()
    view.banner_text = banner.inner_text().strip() if banner.count() else ""
    view.text = page.inner_text("body")
    shots = page_file.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    view.screenshot = shots / f"{page_file.stem}.png"
    page.screenshot(path=str(view.screenshot), full_page=True)
    context.close()
    return view


@pytest.fixture(scope="module", params=LANGUAGES)
def viewed(request, browser, tmp_path_factory) -> tuple[str, Path, dict[str, PageView]]:
    """(language, run folder, page name -> what the browser showed) of one small run."""
    from evaluation.runner import run

    language = request.param
    result = run(
        PROJECT / "params" / "default.yaml",
        out=tmp_path_factory.mktemp(f"runs-{language}"),
        notebooks=NOTEBOOKS,
        overrides={**SMALL_DEMO, "language": language},
        progress=lambda _message: None,
    )
    assert result.ok, result.message
    pages = sorted(result.run_dir.glob("*.html"))
    return language, result.run_dir, {p.stem: _look(browser, p) for p in pages}


def test_every_interval_in_the_effects_table_carries_its_method_and_measured_size(viewed):
    """tables/effects.csv: a row with an interval marked size-checked names its method and
    carries a measured rejection rate inside the band; no row marked checked lacks its rate."""
    import pandas as pd

    from evaluation.config import load_params

    _, run_dir, _ = viewed
    low, high = load_params(run_dir / "params.yaml").inference.size_band
    table = pd.read_csv(run_dir / "tables" / "effects.csv")
    checked = table["size_checked"].astype(str).eq("True")
    assert checked.any()
    rows = table[checked]
    assert rows["inference"].notna().all()
    assert rows["size_rate"].between(low, high).all(), rows[["estimator", "term", "size_rate"]]
    # a rate is only ever the measured one: never outside [0, 1]
    assert table["size_rate"].dropna().between(0, 1).all()


def test_every_page_was_rendered(viewed):
    _, run_dir, views = viewed
    assert sorted(views) == sorted([*NOTEBOOKS, "index"])
    for view in views.values():
        assert view.screenshot is not None and view.screenshot.stat().st_size > 10_000


def test_pages_load_nothing_from_the_network(viewed):
    _, _, views = viewed
    blocked = {name: v.blocked for name, v in views.items() if v.blocked}
    assert not blocked, f"pages tried to fetch: {blocked}"


def test_no_broken_images(viewed):
    _, _, views = viewed
    assert {n: v.broken_images for n, v in views.items() if v.broken_images} == {}
    # The pages with figures really show them (2 on page 01... at least one each).
    for name in NOTEBOOKS:
        assert views[name].images >= 1, name
    assert views["00_summary"].images >= 3  # the three figures that matter


def test_no_code_visible(viewed):
    _, _, views = viewed
    assert {n: v.visible_code for n, v in views.items() if v.visible_code} == {}
    for name, view in views.items():
        assert "ctx." not in view.text and "import " not in view.text, name


def test_simulated_banner_visible_on_every_page(viewed):
    language, _, views = viewed
    for name, view in views.items():
        assert view.banner_visible, name
        assert t("banner.simulated", language) in view.banner_text, name


def test_document_language(viewed):
    language, _, views = viewed
    assert {n: v.lang for n, v in views.items()} == {n: language for n in views}


def test_summary_wording_follows_the_language(viewed):
    language, _, views = viewed
    other = next(x for x in LANGUAGES if x != language)
    text = views["00_summary"].text
    for key in (
        "summary.title",
        "summary.answer_heading",
        "summary.figures_heading",
        "summary.caveats_heading",
        "summary.decision_heading",
    ):
        assert t(key, language).lstrip("# ") in text, key
        assert t(key, other).lstrip("# ") not in text, key
    assert "**" not in text  # Markdown rendered, not shown raw
    assert t("summary.label_effect", language) in views["index"].text  # the index headline


def test_no_python_output_leaks_into_pages(viewed):
    _, _, views = viewed
    leaks = {n: [s for s in LEAKS if s in v.text] for n, v in views.items()}
    assert {n: s for n, s in leaks.items() if s} == {}


def test_no_code_identifiers_in_the_reading(viewed):
    """snake_case words on a page are file or column names the wording itself gives, never a
    raw identifier from the code (a model name, a method code) left untranslated."""
    import re

    from evaluation.i18n import messages

    language, _, views = viewed
    snake = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
    allowed = {w for text in messages(language).values() for w in snake.findall(text)}
    found = {n: sorted(set(snake.findall(v.text)) - allowed) for n, v in views.items()}
    assert {n: w for n, w in found.items() if w} == {}


def test_summary_page_prints_to_pdf(viewed, tmp_path):
    _, run_dir, _ = viewed
    pdf = html_to_pdf(run_dir / "00_summary.html", tmp_path / "summary.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.count(b"/Type /Page") - data.count(b"/Type /Pages") >= 2  # A4: several pages


def test_pdf_bad_input_is_named(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html lang='vi'><body>Xin chào</body></html>", "utf-8")
    with pytest.raises(ValueError, match="report.pdf is true but the browser"):
        html_to_pdf(page, executable=tmp_path / "no-chromium")
    with pytest.raises(ValueError, match="is not an HTML file"):
        html_to_pdf(tmp_path / "missing.html")
    with pytest.raises(ValueError, match="run_dir"):
        write_pdfs(tmp_path / "no-run")


def test_every_page_of_a_run_prints(viewed, tmp_path):
    _, run_dir, views = viewed
    copy = tmp_path / "run"
    copy.mkdir()
    for name in views:
        (copy / f"{name}.html").write_bytes((run_dir / f"{name}.html").read_bytes())
    written = write_pdfs(copy)
    assert sorted(p.name for p in written) == sorted(f"{n}.pdf" for n in views)
    assert all(p.parent == copy / "pdf" and p.read_bytes()[:5] == b"%PDF-" for p in written)
    assert not list((copy / "pdf").glob(".*partial"))


def test_every_table_has_an_excel_twin_and_every_figure_an_svg(viewed):
    _, run_dir, _ = viewed
    tables = {p.stem for p in (run_dir / "tables").glob("*.csv")}
    assert "effects" in tables
    assert tables == {p.stem for p in (run_dir / "tables").glob("*.xlsx")}
    figures = {p.stem for p in (run_dir / "figures").glob("*.png")}
    assert figures and figures == {p.stem for p in (run_dir / "figures").glob("*.svg")}


#: Words that must not appear on the board's pages (index and summary): method names,
#: estimator and software names, citations. The method behind a number is on its own page.
BOARD_FORBIDDEN = (
    "CR2",
    "CRV1",
    "CV3",
    "Bell",
    "McCaffrey",
    "Imbens",
    "Kolesar",
    "HonestDiD",
    "Honest DiD",
    "M̄",
    "cobalt",
    "iebaltab",
    "ATT",
    "TWFE",
    "DiD",
    "Callaway",
    "Sant'Anna",
    "Sun-Abraham",
    "Sun–Abraham",
    "Goodman",
    "Bacon",
    "Romano",
    "Holm",
    "bootstrap",
    "Crump",
    "Mitnik",
    "Welch",
    "jackknife",
    "et al",
    "propensity",
    "ipw",
    "KTC",
)


def board_text_problems(text: str) -> list[str]:
    """Forbidden words, Greek letters, code identifiers and citations in a board page's text."""
    import re

    found = [word for word in BOARD_FORBIDDEN if re.search(rf"(?<!\w){re.escape(word)}", text)]
    found += re.findall(r"[\u0370-\u03ff]", text)  # Greek letters
    found += re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", text)  # snake_case identifiers
    found += re.findall(r"[A-Z][a-z][\w'’-]*,? \(?(?:19|20)\d{2}\)", text)  # "Crump (2009)"
    return found


def test_board_pages_speak_without_method_names(viewed):
    """Index and summary carry no method names, Greek letters, code identifiers or citations."""
    _, _, views = viewed
    problems = {n: board_text_problems(views[n].text) for n in ("index", "00_summary")}
    assert {n: p for n, p in problems.items() if p} == {}


def test_the_forbidden_terms_check_can_fail():
    assert board_text_problems("KTC 95% theo CR2 (Bell-McCaffrey)") == [
        "CR2",
        "Bell",
        "McCaffrey",
        "KTC",
    ]
    assert board_text_problems("giá trị phá vỡ M̄ và α") == ["M̄", "α"]
    assert board_text_problems("Crump, Hotz, Imbens và Mitnik (2009): ipw_weight") != []
    assert board_text_problems("Tháng 10/2019, 14 xã thí điểm (Q1/2021)") == []


def test_summary_numbers_are_their_source_pages_numbers(viewed):
    """Every number of the answer is the value its source result holds, and is printed the
    same way on the source page; the index shows the summary's own sentences."""
    import json

    from evaluation.i18n import format_billion_vnd, format_number, format_percent
    from evaluation.report.effects import format_effect

    language, run_dir, views = viewed
    results = json.loads((run_dir / "results.json").read_text("utf-8"))
    summary, headline = results["summary"], results["headline"]
    text = views["00_summary"].text.replace("\u00a0", " ")
    source = views["03_effects"].text.replace("\u00a0", " ")
    assert summary["estimate"] == headline["estimate"]
    effect = format_effect(headline["outcome"], headline["estimate"], language).replace(
        "\u00a0", " "
    )
    assert effect in text and effect in source
    if summary["interval"] is not None:
        assert summary["interval"] == headline["few_cluster_conf_int"]
        for bound in summary["interval"]:
            shown = format_effect(headline["outcome"], bound, language).replace("\u00a0", " ")
            assert shown in text and shown in source
    scaling = results["scaling"]
    plan = next(
        o
        for o in summary["options"]
        if o["option"] in ("conditions_budget", "no_conditions_budget")
    )
    assert plan["cost_vnd"] == scaling["plan_total_cost_vnd"]
    assert plan["gain_per_year"] == scaling["plan_total_gain"]
    page06 = views["06_scaling"].text.replace("\u00a0", " ")
    gain = format_number(plan["gain_per_year"], language, 0)
    assert gain in text and gain in page06
    assert format_billion_vnd(plan["cost_vnd"], language).replace("\u00a0", " ") in text
    share = results["rollout_waves"].get("later_share_of_pilot")
    if summary["later_share_of_pilot"] is not None:
        assert summary["later_share_of_pilot"] == share
        assert format_percent(share, language, 0) in text
        assert format_percent(share, language, 0) in views["07_rollout_waves"].text
    index = views["index"].text.replace("\u00a0", " ")
    for line in results["headline_lines"][language]:
        assert line.replace("\u00a0", " ") in index
    assert [line.split(":")[0] for line in results["headline_lines"][language]] == [
        t(f"summary.label_{k}", language) for k in ("effect", "sure", "next")
    ]


def test_citations_and_software_names_sit_in_the_researchers_part(viewed):
    """Every other page reads plainly first: references ("Roth (2022)", "Crump, Hotz, Imbens
    and Mitnik (2009)") and software names appear only after the "For researchers" heading."""
    import re

    language, _, views = viewed
    heading = t("researchers.heading", language).lstrip("# ").strip()
    # "Roth (2022)", "Crump, Hotz, Imbens and Mitnik (2009)"; not a quarter like "Q4 2019)".
    citation = re.compile(r"[A-Z][a-z][\w'’–-]*,? \(?(?:19|20)\d{2}[,)]")
    software = re.compile(r"\b(?:iebaltab|cobalt|csdid|pyfixest|wildboottest|synthdid|HonestDiD)\b")
    for name in NOTEBOOKS:
        if name == "00_summary":
            continue
        text = views[name].text
        reading = text.split(heading)[0]
        found = citation.findall(reading) + software.findall(reading)
        assert not found, f"{name}: {found}"
        if heading in text:
            assert text.index(heading) > len(text) // 3, name  # a part at the end, not the top


def test_household_ids_never_reach_a_rendered_page(viewed):
    """Privacy: the households' ids (in the prepared ballots) appear on no page or index."""
    import pandas as pd

    _, run_dir, views = viewed
    ids = pd.read_parquet(run_dir / "prepared" / "ballots.parquet", columns=["household_id"])
    sample = set(ids["household_id"].astype(str).drop_duplicates().head(500))
    assert sample and all(len(i) >= 6 for i in sample)  # ids long enough not to match numbers
    html = {p.stem: p.read_text("utf-8") for p in run_dir.glob("*.html")}
    leaked = {n: [i for i in sample if i in text] for n, text in html.items()}
    assert {n: ids[:3] for n, ids in leaked.items() if ids} == {}
