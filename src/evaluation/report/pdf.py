"""Optional PDF copies of the report pages, printed by headless Chromium (``report.pdf: true``).

The HTML pages already carry an A4 print stylesheet (``page.css``); Chromium's
``--print-to-pdf`` applies it, so the PDF is what a reader would get from "Print" in a browser.
Each call starts a fresh browser with its own empty profile folder (no state shared between
pages or runs) and the flags of ``/work/shared/ENGINEERING_NOTES.md``; the pages are
self-contained, and the browser is kept from fetching anything else.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

#: The Debian package's browser; Playwright drives the same binary in tests.
CHROMIUM = Path("/usr/bin/chromium")
#: Flags for a headless, offline, stateless browser (the profile folder is added per call).
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    # Nothing outside the file: every host name resolves to nowhere.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
#: Extra flags for printing: no date/URL header or footer on the A4 pages.
PRINT_FLAGS: tuple[str, ...] = ("--no-pdf-header-footer", "--run-all-compositor-stages-before-draw")


def chromium_available(executable: str | Path = CHROMIUM) -> bool:
    """Whether ``executable`` exists and can be run."""
    path = Path(executable)
    return path.is_file() or shutil.which(str(executable)) is not None


def _check_executable(executable: str | Path) -> str:
    if not chromium_available(executable):
        raise ValueError(
            f"report.pdf is true but the browser {str(executable)!r} was not found; install the "
            "Debian package `chromium` (apt-get install chromium) or set report.pdf: false"
        )
    return str(executable)


def html_to_pdf(
    page: str | Path,
    target: str | Path | None = None,
    executable: str | Path = CHROMIUM,
    timeout: float = 120.0,
    extra_flags: Sequence[str] = (),
) -> Path:
    """Print one HTML page to PDF (A4, as its print stylesheet lays it out).

    Parameters
    ----------
    page : path
        The HTML file (a page of a run folder).
    target : path, optional
        The PDF to write; default: ``page`` with suffix ``.pdf``.
    executable : path
        The Chromium binary.
    timeout : float
        Seconds before the browser is stopped and an error raised.
    extra_flags : sequence of str
        More Chromium flags (for example ``--virtual-time-budget=5000``).

    Returns
    -------
    Path
        The PDF written.
    """
    page = Path(page).resolve()
    if not page.is_file() or page.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"page {str(page)!r} is not an HTML file; pass a page of a run folder")
    target = Path(target).resolve() if target is not None else page.with_suffix(".pdf")
    target.parent.mkdir(parents=True, exist_ok=True)
    binary = _check_executable(executable)
    # Write beside the target first, so a half-printed file never carries the final name.
    partial = target.with_name(f".{target.name}.partial")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            binary,
            *CHROMIUM_FLAGS,
            *PRINT_FLAGS,
            *extra_flags,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={partial}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            partial.unlink(missing_ok=True)
            raise RuntimeError(
                f"Chromium did not finish printing {page.name} within {timeout:.0f} s; "
                "raise the timeout or check the page opens in a browser"
            ) from err
    if done.returncode != 0 or not partial.is_file() or partial.read_bytes()[:5] != b"%PDF-":
        partial.unlink(missing_ok=True)
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(
            f"Chromium could not print {page.name} to PDF (exit code {done.returncode}): {tail}"
        )
    partial.replace(target)
    return target


def write_pdfs(
    run_dir: str | Path,
    executable: str | Path = CHROMIUM,
    timeout: float = 120.0,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Print every page of a run folder (``<page>.html``) to ``pdf/<page>.pdf``.

    The index page is included (``pdf/index.pdf``) when it exists already.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run_dir {str(run_dir)!r} is not a folder; pass the run folder")
    _check_executable(executable)
    pages = sorted(run_dir.glob("*.html"))
    written = []
    for page in pages:
        if progress is not None:
            progress(f"  [pdf] {page.name}")
        written.append(html_to_pdf(page, run_dir / "pdf" / f"{page.stem}.pdf", executable, timeout))
    return written
