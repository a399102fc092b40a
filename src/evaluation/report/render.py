"""Executed notebooks to HTML pages that board staff can open offline, and the run's index page.

Pages hide the code, embed their images, set the document language, carry an A4 print
stylesheet and load nothing from the network.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path

import nbformat
from jinja2 import Environment, select_autoescape
from nbconvert import HTMLExporter

from evaluation.data.io import write_text
from evaluation.i18n import Language, format_date, t

_CDN_SCRIPT = re.compile(r"<script[^>]+src=\"https?://[^\"]+\"[^>]*>\s*</script>", re.IGNORECASE)
_CDN_LINK = re.compile(r"<link[^>]+href=\"https?://[^\"]+\"[^>]*>", re.IGNORECASE)


def page_css() -> str:
    """The stylesheet added to every page (screen and A4 print)."""
    return resources.files("evaluation.report").joinpath("page.css").read_text("utf-8")


def notebook_to_html(notebook: Path, target: Path, language: Language, title: str) -> Path:
    """Render an executed notebook to a self-contained HTML page without code."""
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


_INDEX = """<!DOCTYPE html>
<html lang="{{ language }}">
<head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{{ css | safe }}</style></head>
<body class="index-page">
<main>
{% if banner %}<div class="simulated-banner" role="note">⚠ {{ banner }}</div>{% endif %}
<h1>{{ title }}</h1>
{% if headline %}<section class="headline"><h2>{{ headline_title }}</h2>
<ul>{% for line in headline %}<li>{{ line }}</li>{% endfor %}</ul></section>{% endif %}
<h2>{{ pages_title }}</h2>
<table class="pages">
<thead><tr><th>{{ col_page }}</th><th>{{ col_status }}</th><th>{{ col_finding }}</th></tr></thead>
<tbody>
{% for page in pages %}<tr><td>{% if page.html %}<a href="{{ page.html }}">{{ page.title }}</a>{% else %}{{ page.title }}{% endif %}</td>
<td class="status-{{ page.status }}">{{ page.status_text }}</td><td>{{ page.finding }}</td></tr>
{% endfor %}</tbody></table>
<p class="meta">{{ meta }}</p>
</main></body></html>
"""


def page_title(notebook: str, language: Language, panel: bool = False) -> str:
    """A page's title for readers (``1. Chất lượng dữ liệu``), its file name when none is written.

    ``panel=True`` gives the generic panel's titles (no communes, no Hà Nam).
    """
    for key in ([f"pages_panel.{notebook}"] if panel else []) + [f"pages.{notebook}"]:
        try:
            return t(key, language)
        except KeyError:
            continue
    return notebook


def write_index(
    run_dir: Path, manifest: dict, language: Language, simulated: bool, panel: bool = False
) -> Path:
    """The run's front page: headline numbers, then each page with its one-line finding."""
    env = Environment(autoescape=select_autoescape(default=True))
    results_path = run_dir / "results.json"
    results = json.loads(results_path.read_text("utf-8")) if results_path.is_file() else {}
    pages = []
    for entry in manifest["notebooks"]:
        name = entry["name"]
        finding_path = run_dir / "findings" / f"{name}.txt"
        html_name = f"{name}.html"
        pages.append(
            {
                "name": name,
                "title": page_title(name, language, panel),
                "html": html_name if (run_dir / html_name).is_file() else None,
                "status": entry["status"],
                "status_text": t(f"run.status_{entry['status']}", language),
                "finding": finding_path.read_text("utf-8") if finding_path.is_file() else "",
            }
        )
    text = env.from_string(_INDEX).render(
        language=language,
        title=t("run.index_title_panel" if panel else "run.index_title", language),
        css=page_css(),
        banner=t("banner.simulated", language) if simulated else "",
        headline=results.get("headline_lines", {}).get(language, []),
        headline_title=t("run.headline_title", language),
        pages_title=t("run.pages_title", language),
        col_page=t("run.col_page", language),
        col_status=t("run.col_status", language),
        col_finding=t("run.col_finding", language),
        pages=pages,
        meta=t(
            "run.meta_line",
            language,
            started=f"{format_date(manifest['started'], language)} {manifest['started'][11:16]}",
            commit=manifest.get("git_commit") or "-",
        ),
    )
    return write_text(text, run_dir / "index.html")
