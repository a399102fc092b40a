"""Executed notebooks to HTML pages that board staff can open offline, and the run's index page.

Pages hide the code, embed their images, set the document language, carry an A4 print
stylesheet and load nothing from the network. Executed notebooks are first stripped of what
differs between two executions (times, random ids), so a rerun gives the same bytes.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path

from jinja2 import Environment, select_autoescape

from evaluation.data.io import write_text
from evaluation.i18n import Language, t
from evaluation.report.wording import board_name

_CDN_SCRIPT = re.compile(r"<script[^>]+src=\"https?://[^\"]+\"[^>]*>\s*</script>", re.IGNORECASE)
_CDN_LINK = re.compile(r"<link[^>]+href=\"https?://[^\"]+\"[^>]*>", re.IGNORECASE)


def page_css() -> str:
    """The stylesheet added to every page (screen and A4 print)."""
    return resources.files("evaluation.report").joinpath("page.css").read_text("utf-8")


#: A pandas Styler table's id: ``T_`` and a random hex uuid, also used in its CSS selectors.
_STYLER_TABLE_ID = re.compile(r'<table id="T_([0-9a-f]+)"')
#: An object's default repr (``<pandas...Styler at 0x7f67...>``) carries its memory address.
_MEMORY_ADDRESS = re.compile(r"(<[\w.]+(?: object)?) at 0x[0-9a-f]+>")
#: Per-cell papermill metadata that records when a cell ran.
_CELL_TIMES = ("start_time", "end_time", "duration")


def make_reproducible(executed: Path, source: Path | None = None) -> Path:
    """Remove from an executed notebook everything that differs between two executions.

    That is execution times (papermill's and Jupyter's per-cell timestamps), the random id
    papermill gives the injected-parameters cell, the random ids pandas gives Styler tables
    (numbered in order instead), memory addresses in object reprs and absolute paths of the
    source and output notebooks.

    Parameters
    ----------
    executed : path
        The executed notebook, rewritten in place.
    source : path, optional
        The template it was executed from (recorded by name only).
    """
    import nbformat  # here, not at the top: 2 s of imports a rerun of copied pages never needs

    node = nbformat.read(executed, as_version=4)
    papermill = node.metadata.get("papermill")
    if papermill is not None:
        for key in _CELL_TIMES:
            papermill.pop(key, None)
        papermill["input_path"] = f"notebooks/{(source or executed).name}"
        papermill["output_path"] = executed.name
    tables = 0
    for cell in node.cells:
        cell.metadata.pop("execution", None)
        for key in _CELL_TIMES:
            cell.metadata.get("papermill", {}).pop(key, None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"
        for output in cell.get("outputs", []):
            if isinstance(output.get("text"), str):  # stream output
                output["text"] = _MEMORY_ADDRESS.sub(r"\1>", output["text"])
            plain = output.get("data", {}).get("text/plain")
            if isinstance(plain, str):
                output["data"]["text/plain"] = _MEMORY_ADDRESS.sub(r"\1>", plain)
            markup = output.get("data", {}).get("text/html")
            if not isinstance(markup, str):
                continue
            for uuid in dict.fromkeys(_STYLER_TABLE_ID.findall(markup)):
                tables += 1
                markup = re.sub(rf"\bT_{uuid}(?![0-9a-f])", f"T_table{tables}", markup)
            output["data"]["text/html"] = markup
    return write_text(nbformat.writes(node), executed)


def notebook_to_html(notebook: Path, target: Path, language: Language, title: str) -> Path:
    """Render an executed notebook to a self-contained HTML page without code."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    node = nbformat.read(notebook, as_version=4)
    body, _ = exporter.from_notebook_node(node, resources={"metadata": {"name": title}})
    # Offline: drop every script or stylesheet fetched from the web (MathJax, require.js).
    body = _CDN_SCRIPT.sub("", body)
    body = _CDN_LINK.sub("", body)
    body = re.sub(r"<html[^>]*>", f'<html lang="{language}">', body, count=1)
    body = body.replace("</head>", f"<style>{page_css()}</style>\n</head>", 1)
    body = re.sub(
        r"<title>.*?</title>", f"<title>{html.escape(title)}</title>", body, count=1, flags=re.S
    )
    return write_text(body, target)


#: The frame of the package's stand-alone pages (index, run comparison, sweep): offline, the
#: pages' CSS; each fills in its own body (a Jinja template).
_STANDALONE_HEAD = """<!DOCTYPE html>
<html lang="{{ language }}">
<head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{{ css | safe }}</style></head>
<body class="index-page">
<main>
"""
_STANDALONE_TAIL = """</main></body></html>
"""


def standalone_page(body: str, **values: object) -> str:
    """A stand-alone HTML page (no notebook behind it): the shared head and CSS around the
    Jinja template ``body``; every value is HTML-escaped unless marked safe."""
    env = Environment(autoescape=select_autoescape(default=True))
    template = env.from_string(_STANDALONE_HEAD + body + _STANDALONE_TAIL)
    return template.render(css=page_css(), **values)


_INDEX = """{% if banner %}<div class="simulated-banner" role="note">⚠ {{ banner }}</div>{% endif %}
<h1>{{ title }}</h1>
{% if headline %}<section class="headline"><h2>{{ headline_title }}</h2>
<ul>{% for line in headline %}<li>{{ line }}</li>{% endfor %}</ul></section>{% endif %}
<h2>{{ pages_title }}</h2>
<table class="pages">
<thead><tr><th>{{ col_page }}</th><th>{{ col_finding }}</th></tr></thead>
<tbody>
{% for page in pages %}<tr><td>{% if page.html %}<a href="{{ page.html }}">{{ page.title }}</a>{% else %}{{ page.title }}{% endif %}</td>
<td>{{ page.finding }}</td></tr>
{% endfor %}</tbody></table>
<p class="meta">{{ meta }}</p>
"""


def page_title(notebook: str, language: Language, panel: bool = False) -> str:
    """A page's title for readers (``1. Chất lượng dữ liệu``), its file name when none is written.

    ``panel=True`` gives the generic panel's titles (no communes, no Hà Nam).
    """
    for key in ([f"pages_panel.{notebook}"] if panel else []) + [f"pages.{notebook}"]:
        try:
            return t(key, language, board=board_name(language))
        except KeyError:
            continue
    return notebook


def write_index(
    run_dir: Path, manifest: dict, language: Language, simulated: bool, panel: bool = False
) -> Path:
    """The run's front page: headline numbers, then each page with its one-line finding.

    The summary (``00``) comes first, then the pages in their order. The board needs no
    status column (each page's status stays in ``manifest.json``); a page that was not made
    says so in place of its finding.
    """
    results_path = run_dir / "results.json"
    results = json.loads(results_path.read_text("utf-8")) if results_path.is_file() else {}
    pages = []
    for entry in sorted(manifest["notebooks"], key=lambda e: e["name"]):
        name = entry["name"]
        finding_path = run_dir / "findings" / f"{name}.txt"
        html_name = f"{name}.html"
        made = (run_dir / html_name).is_file()
        finding = finding_path.read_text("utf-8") if finding_path.is_file() else ""
        pages.append(
            {
                "name": name,
                "title": page_title(name, language, panel),
                "html": html_name if made else None,
                "finding": finding if made else t("run.page_not_made", language),
            }
        )
    text = standalone_page(
        _INDEX,
        language=language,
        title=t("run.index_title_panel" if panel else "run.index_title", language),
        banner=t("banner.simulated", language) if simulated else "",
        headline=results.get("headline_lines", {}).get(language, []),
        headline_title=t("run.headline_title", language),
        pages_title=t("run.pages_title", language),
        col_page=t("run.col_page", language),
        col_finding=t("run.col_finding", language),
        pages=pages,
        # No start time on the page (it is in manifest.json): a rerun gives the same bytes.
        meta=t("run.meta_line", language, commit=manifest.get("git_commit") or "-"),
    )
    return write_text(text, run_dir / "index.html")
