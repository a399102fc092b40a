"""A content-addressed cache of whole pages: a rerun that changes nothing a page depends on
copies the page instead of executing it.

A page (its executed notebook, its HTML, and every file it wrote: figures, tables, results,
findings and its parts of the shared files, see :mod:`evaluation.report.parts`) is a function of

- the page's notebook template and the whole package's code, and the versions of the libraries
  that draw and write it;
- the prepared data (their content, :func:`evaluation.cache.prepared_digest`);
- the parameters, except those only the scaling page reads (``scaling``) for the pages that do
  not read it (:data:`PAGE_NEEDS_SCALING`), and except the run-control keys of ``report`` that
  change no page (:data:`RUN_CONTROL`);
- the day the run started (signable workbooks carry it);
- the bytes of the files the page reads from other pages (:data:`PAGE_NEEDS`).

The key is the sha256 of all of them. An entry is a folder ``pages/<key[:2]>/<key>/`` holding
the files and ``entry.json`` with each file's sha256; it is built aside and renamed into place
(readers see a whole entry or none), and an entry whose files do not match their sha256 is
deleted and the page executed again, never copied.

REQUIRES: a run folder whose page has finished. CREATES: ``<cache>/pages/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path

from evaluation.config import Params
from evaluation.data.io import atomic_path, sha256
from evaluation.report.parts import page_writes

#: Pages that read files other pages wrote: the page -> the pages it reads (the summary reads
#: every page; a page not listed reads none). The runner runs a page after those it reads.
PAGE_NEEDS: dict[str, tuple[str, ...]] = {
    "04_robustness": ("02_comparison",),  # the comparison's weights
    "06_scaling": ("05_where_it_works",),  # the communes' predicted effects
    "00_summary": ("*",),
}
#: Pages that read the ``scaling`` section (the others' keys leave it out).
PAGE_NEEDS_SCALING = ("06_scaling", "00_summary")
#: ``report`` keys that decide how a run goes, not what a page shows.
RUN_CONTROL = ("notebooks", "on_error", "execution_timeout", "pdf")
FORMAT = "evaluation-page-1"


def upstream(page: str, pages: list[str]) -> list[str]:
    """The pages of ``pages`` whose files ``page`` reads."""
    needs = PAGE_NEEDS.get(page, ())
    if "*" in needs:
        return [p for p in pages if p != page]
    return [p for p in needs if p in pages]


def package_fingerprint() -> str:
    """sha256 of the package's source and messages (anything a page shows may change).

    Computed afresh at each call (8 ms): a long-lived Python session that edits the code
    between two runs must not be served the pages of the old code."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yaml", ".yml", ".json", ".txt"):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _key(versions: dict[str, str], params: dict, **parts: object) -> str:
    """sha256 of ``parts`` with the entry format, the package's code, the library versions and
    the parameters (the common part of every key here)."""
    text = json.dumps(
        {
            "format": FORMAT,
            "code": package_fingerprint(),
            "versions": versions,
            "params": params,
            **parts,
        },
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _params_for_key(params: Params) -> dict:
    """The parameters as plain values, without the ``report`` keys that change no output."""
    values = params.model_dump(mode="json")
    report = dict(values.get("report") or {})
    for key in RUN_CONTROL:
        report.pop(key, None)
    values["report"] = report
    return values


def page_key(
    page: str,
    notebook: Path,
    params: Params,
    prepared_digest: str,
    run_day: str,
    upstream_files: dict[str, str],
    versions: dict[str, str],
) -> str:
    """The page's cache key (see the module's description).

    Parameters
    ----------
    upstream_files : dict
        Path (relative to the run folder) -> sha256 of every file the page reads from other
        pages.
    versions : dict
        Library versions (the runner's manifest ``versions``).
    """
    values = _params_for_key(params)
    if page not in PAGE_NEEDS_SCALING:
        values.pop("scaling", None)
    return _key(
        versions,
        values,
        page=page,
        notebook=sha256(notebook),
        prepared=prepared_digest,
        run_day=run_day,
        upstream=dict(sorted(upstream_files.items())),
    )


def upstream_files(run_dir: Path, pages: list[str]) -> dict[str, str]:
    """sha256 of every file ``pages`` wrote in ``run_dir`` (what a page downstream reads)."""
    out = {}
    for page in pages:
        for rel in page_writes(run_dir, page):
            path = Path(run_dir) / rel
            if path.is_file():
                out[rel] = sha256(path)
    return out


class PageCache:
    """Entries of files on disk under ``folder/<kind>/<key[:2]>/<key>/`` (``pages``: whole pages;
    ``prepared``: a run's prepared data, see :func:`prepared_key`), each with a small record."""

    def __init__(self, folder: Path, kind: str = "pages") -> None:
        self.folder = Path(folder) / kind

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / key

    def get(self, key: str, run_dir: Path) -> list[str] | None:
        """Copy the entry's files into ``run_dir``; the files copied, or None when there is no
        sound entry (a damaged one is deleted first)."""
        found = self.get_with_record(key, run_dir)
        return None if found is None else found[0]

    def get_with_record(self, key: str, run_dir: Path) -> tuple[list[str], dict] | None:
        """As :meth:`get`, with the record stored beside the files."""
        entry = self.path(key)
        try:
            record = json.loads((entry / "entry.json").read_text("utf-8"))
            files: dict[str, str] = record["files"]
            sound = (
                record.get("format") == FORMAT
                and record.get("key") == key
                and all(sha256(entry / "files" / rel) == digest for rel, digest in files.items())
            )
        except (OSError, ValueError, KeyError, TypeError):
            sound = False
        if not sound:
            if entry.exists():
                shutil.rmtree(entry, ignore_errors=True)
            return None
        for rel in sorted(files):
            target = Path(run_dir) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                shutil.copyfile(entry / "files" / rel, tmp)
        return sorted(files), dict(record.get("record") or {})

    def put(
        self, key: str, run_dir: Path, files: list[str], record: dict | None = None
    ) -> Path | None:
        """Store ``files`` (relative to ``run_dir``) and ``record`` under ``key``; None when it
        cannot be written (not fatal: the work is done again next time)."""
        entry = self.path(key)
        if entry.exists():
            return entry
        building = None
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=entry.parent))
            digests = {}
            for rel in files:
                source = Path(run_dir) / rel
                if not source.is_file():
                    continue
                target = building / "files" / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                digests[rel] = sha256(target)
            text = json.dumps(
                {"format": FORMAT, "key": key, "files": digests, "record": record or {}},
                indent=1,
                ensure_ascii=False,
            )
            (building / "entry.json").write_text(text, "utf-8")
            os.rename(building, entry)  # readers see a whole entry or none
            building = None
        except OSError:
            return None
        finally:
            if building is not None:
                with suppress(OSError):
                    shutil.rmtree(building)
        return entry


def prepared_key(params: Params, inputs: dict[str, str], versions: dict[str, str]) -> str:
    """The key of a run's prepared data and the analyses its data cannot support.

    They depend on the input files' bytes (``inputs``: path -> sha256), the package's code,
    the library versions and the parameters, of which the ``scaling`` section only through the
    names of its conditions (validated against the data) and the run-control keys of
    ``report`` not at all.
    """
    values = _params_for_key(params)
    scaling = values.pop("scaling", None) or {}
    values["scaling_condition_names"] = sorted(scaling.get("conditions") or {})
    return _key(versions, values, kind="prepared", inputs=dict(sorted(inputs.items())))
