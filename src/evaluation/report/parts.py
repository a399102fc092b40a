"""Each page's own part of the run folder's shared files, and what each page wrote.

Three files of a run folder gather what several pages write: ``results.json`` (key numbers,
read by the summary and the index), ``tables/effects.csv`` (+ ``.xlsx``: every estimate) and
``figures/alt_text.json`` (every figure's alt text). Pages may run at the same time, and a page
may be taken whole from the page cache, so no page edits those files in place: each page writes
its own part under ``parts/<page>/`` and the shared file is assembled from the parts of every
page, in the pages' order (the summary last), under a lock. The result does not depend on which
page finished first: two runs of the same parameters and data give the same bytes.

``parts/<page>/writes.txt`` lists every file the page wrote (one path per line, relative to the
run folder): what the page cache stores and what ``--reuse`` copies.

REQUIRES: a run folder. CREATES: ``parts/<page>/{results.json,effects.csv,alt_text.json,
writes.txt}``, ``results.json``, ``tables/effects.{csv,xlsx}``, ``figures/alt_text.json``.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from evaluation.config import Params
from evaluation.data.io import write_table, write_text
from evaluation.estimators.result import TIDY_COLUMNS
from evaluation.i18n import Language
from evaluation.report.workbook import write_workbook

PARTS = "parts"
#: Pages whose parts are assembled last (the summary reads what the others wrote).
LAST_PAGES = ("00_summary",)
EFFECT_KEY = ["outcome", "estimator", "term", "inference"]
#: Columns of ``tables/effects.csv``: the tidy columns, whether the interval's method had its
#: size measured on this design and found inside ``inference.size_band``, and the measured
#: rejection rate under no effect (empty when not measured).
EFFECTS_COLUMNS = [*TIDY_COLUMNS, "size_checked", "size_rate"]
RESULTS = "results.json"
EFFECTS = "effects.csv"
ALT_TEXT = "alt_text.json"
WRITES = "writes.txt"
#: The shared files and the part each is assembled from.
SHARED = {
    RESULTS: RESULTS,
    f"tables/{EFFECTS}": EFFECTS,
    f"tables/{Path(EFFECTS).stem}.xlsx": EFFECTS,
    f"figures/{ALT_TEXT}": ALT_TEXT,
}


def page_order(pages: list[str]) -> list[str]:
    """Pages sorted by name, :data:`LAST_PAGES` last (the order parts are assembled in)."""
    return sorted(pages, key=lambda p: (p in LAST_PAGES, p))


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's parts lock (one writer of shared files at a time, across kernels)."""
    folder = Path(run_dir) / PARTS
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def part_path(run_dir: Path, page: str, name: str) -> Path:
    return Path(run_dir) / PARTS / page / name


def record_writes(run_dir: Path, page: str, paths: list[Path]) -> None:
    """Add ``paths`` (files in the run folder) to the list of what ``page`` wrote."""
    run_dir = Path(run_dir)
    listed = part_path(run_dir, page, WRITES)
    with _locked(run_dir):
        known = page_writes(run_dir, page)
        new = [Path(p).resolve().relative_to(run_dir.resolve()).as_posix() for p in paths]
        merged = sorted(set(known) | set(new))
        if merged != known:
            write_text("".join(f"{p}\n" for p in merged), listed)


def page_writes(run_dir: Path, page: str) -> list[str]:
    """What ``page`` wrote (paths relative to the run folder), its parts included."""
    listed = part_path(run_dir, page, WRITES)
    try:
        lines = listed.read_text("utf-8").splitlines()
    except OSError:
        return []
    return sorted({*(line for line in lines if line), f"{PARTS}/{page}/{WRITES}"})


def pages_with_parts(run_dir: Path) -> list[str]:
    folder = Path(run_dir) / PARTS
    if not folder.is_dir():
        return []
    return page_order([p.name for p in folder.iterdir() if p.is_dir()])


# -- the page's part of each shared file ------------------------------------------------------


def update_results(run_dir: Path, page: str, values: dict, default: object = None) -> None:
    """Merge ``values`` into ``page``'s part of ``results.json``, then assemble the file."""
    path = part_path(run_dir, page, RESULTS)
    with _locked(run_dir):
        own = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        own.update(values)
        write_text(json.dumps(own, indent=2, ensure_ascii=False, default=default), path)
        _assemble_results(Path(run_dir))
    record_writes(run_dir, page, [path])


def add_effects(
    run_dir: Path, page: str, tidy: pd.DataFrame, language: Language, params: Params
) -> None:
    """Add estimates to ``page``'s part of the effects table (rows with the same key replaced),
    then assemble ``tables/effects.csv`` and ``.xlsx``."""
    path = part_path(run_dir, page, EFFECTS)
    with _locked(run_dir):
        old = _read_effects(path)
        merged = pd.concat([old, tidy.reindex(columns=EFFECTS_COLUMNS)], ignore_index=True)
        write_table(merged.drop_duplicates(EFFECT_KEY, keep="last"), path)
        _assemble_effects(Path(run_dir), language, params)
    record_writes(run_dir, page, [path])


def add_alt_text(run_dir: Path, page: str, figure: str, alt: str) -> None:
    """Record a figure's alt text in ``page``'s part, then assemble ``figures/alt_text.json``."""
    path = part_path(run_dir, page, ALT_TEXT)
    with _locked(run_dir):
        own = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        own[figure] = alt
        write_text(json.dumps(own, indent=2, ensure_ascii=False), path)
        _assemble_alt_text(Path(run_dir))
    record_writes(run_dir, page, [path])


def assemble(run_dir: Path, language: Language, params: Params) -> None:
    """Rebuild every shared file from the parts present (after pages were copied in)."""
    run_dir = Path(run_dir)
    with _locked(run_dir):
        _assemble_results(run_dir)
        _assemble_effects(run_dir, language, params)
        _assemble_alt_text(run_dir)


def _read_effects(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=EFFECTS_COLUMNS)
    return pd.read_csv(path, dtype={"term": str, "size_checked": "object"})


def _assemble_results(run_dir: Path) -> None:
    merged: dict = {}
    for page in pages_with_parts(run_dir):
        path = part_path(run_dir, page, RESULTS)
        if path.is_file():
            merged.update(json.loads(path.read_text("utf-8")))
    if merged or (run_dir / RESULTS).is_file():
        write_text(json.dumps(merged, indent=2, ensure_ascii=False), run_dir / RESULTS)


def _assemble_effects(run_dir: Path, language: Language, params: Params) -> None:
    frames = [
        _read_effects(part_path(run_dir, page, EFFECTS))
        for page in pages_with_parts(run_dir)
        if part_path(run_dir, page, EFFECTS).is_file()
    ]
    if not frames:
        return
    merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    merged = merged.reindex(columns=EFFECTS_COLUMNS).drop_duplicates(EFFECT_KEY, keep="last")
    path = run_dir / "tables" / EFFECTS
    write_table(merged, path)
    # staff who work in Excel: the same rows, headers in the run's language
    write_workbook(merged, path.with_suffix(".xlsx"), "effects", language, params)


def _assemble_alt_text(run_dir: Path) -> None:
    merged: dict = {}
    for page in pages_with_parts(run_dir):
        path = part_path(run_dir, page, ALT_TEXT)
        if path.is_file():
            merged.update(json.loads(path.read_text("utf-8")))
    if merged:
        write_text(json.dumps(merged, indent=2, ensure_ascii=False), run_dir / "figures" / ALT_TEXT)
