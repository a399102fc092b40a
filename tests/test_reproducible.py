"""Two runs of the same parameters and data give the same bytes in every file of the run folder
(pages, figures, tables, workbooks, results, executed notebooks), except the times in
``manifest.json``; and nothing a run writes lies outside its run folder."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from conftest import DEFAULT_PARAMS

from evaluation.runner import RunResult, run

#: A small demo (4 quarters, few ballots) so that a page runs in seconds.
TINY_DEMO = {
    "demo": {
        "first_wave": "2019Q3",
        "last_wave": "2020Q2",
        "rollout_waves": ["2020Q2"],
        "ballots_min": 5,
        "ballots_max": 10,
    }
}
#: Keys of manifest.json that hold times (the run's name carries its start time), and the
#: record of which results the second run reused from the cache the first one filled.
TIMES = ("run", "started", "finished", "timings_seconds", "cache")
NOTEBOOK_TIMES = ("execute_seconds", "render_seconds", "kernel_wait_seconds", "analyses")


def _quiet(_: str) -> None:
    pass


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _manifest_without_times(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    for key in TIMES:
        manifest.pop(key)
    for entry in manifest["notebooks"]:
        for key in NOTEBOOK_TIMES:
            entry.pop(key)
    return manifest


def _twice(out: Path, pages: list[str] | None) -> tuple[RunResult, RunResult]:
    """Two runs that both execute every page (no page cache: the point is that executing
    again gives the same bytes; a page copied from the cache is compared in test_cache)."""
    kwargs = {"notebooks": pages, "overrides": TINY_DEMO, "progress": _quiet, "cache": False}
    first = run(DEFAULT_PARAMS, out=out, **kwargs)
    second = run(DEFAULT_PARAMS, out=out, **kwargs)
    assert first.ok and second.ok, (first.message, second.message)
    assert first.run_dir != second.run_dir
    return first, second


def _assert_same_bytes(first: Path, second: Path) -> dict[str, bytes]:
    files, again = _files(first), _files(second)
    assert sorted(files) == sorted(again)
    differ = [name for name in files if files[name] != again[name]]
    assert differ == ["manifest.json"], differ
    assert _manifest_without_times(first) == _manifest_without_times(second)
    return files


def _assert_nothing_outside(out: Path, runs: list[Path]) -> None:
    """``out`` holds the run folders only; no file in them is a link or names the folder."""
    assert sorted(out.iterdir()) == sorted(runs)
    for folder in runs:
        for path in folder.rglob("*"):
            assert not path.is_symlink(), path
            assert path.resolve().is_relative_to(folder.resolve()), path
            if path.is_file() and path.suffix in (".html", ".ipynb", ".json", ".csv", ".yaml"):
                # no absolute or temporary path of the run (it would differ on a rerun)
                assert str(out) not in path.read_text("utf-8"), path


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return out, _twice(out, ["01_data_quality"])


def test_two_runs_give_the_same_bytes_except_the_manifest_times(two_runs):
    _, (first, second) = two_runs
    files = _assert_same_bytes(first.run_dir, second.run_dir)
    # every kind of output was compared, not an empty folder
    suffixes = {Path(name).suffix for name in files}
    assert {".html", ".svg", ".png", ".csv", ".xlsx", ".json", ".ipynb", ".parquet"} <= suffixes
    assert "01_data_quality.html" in files and "index.html" in files
    assert first.manifest["outputs"] == second.manifest["outputs"]


def test_executed_notebook_keeps_no_time_random_id_or_run_path(two_runs):
    _, (first, _) = two_runs
    node = nbformat.read(first.run_dir / "notebooks" / "01_data_quality.ipynb", as_version=4)
    injected = [c for c in node.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and injected[0].id == "injected-parameters"
    assert 'run_dir = ".."' in injected[0].source  # reruns by hand where it lies
    assert "start_time" not in node.metadata["papermill"]
    assert node.metadata["papermill"]["input_path"] == "notebooks/01_data_quality.ipynb"
    for cell in node.cells:
        assert "execution" not in cell.metadata
        assert "start_time" not in cell.metadata.get("papermill", {})
    text = (first.run_dir / "notebooks" / "01_data_quality.ipynb").read_text("utf-8")
    assert " at 0x" not in text
    page = (first.run_dir / "01_data_quality.html").read_text("utf-8")
    assert 'id="T_table1"' in page  # Styler tables numbered, not random


def test_index_page_carries_no_time(two_runs):
    _, (first, _) = two_runs
    index = (first.run_dir / "index.html").read_text("utf-8")
    started = first.manifest["started"]
    assert started[11:16] not in index and f"{started[8:10]}/{started[5:7]}" not in index
    assert "manifest.json" in index


def test_nothing_is_written_outside_the_run_folders(two_runs):
    out, (first, second) = two_runs
    _assert_nothing_outside(out, [first.run_dir, second.run_dir])


@pytest.mark.slow
def test_every_page_twice_gives_the_same_bytes(tmp_path):
    """All pages of the tiny demo, twice (about 6 minutes on a loaded machine)."""
    first, second = _twice(tmp_path, None)
    files = _assert_same_bytes(first.run_dir, second.run_dir)
    assert sum(name.endswith(".html") for name in files) == 9  # 8 pages and the index
    _assert_nothing_outside(tmp_path, [first.run_dir, second.run_dir])
