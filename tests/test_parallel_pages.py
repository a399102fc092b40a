"""Pages run side by side in the order their dependencies allow; warm kernels; one manifest."""

from __future__ import annotations

import json
import shutil
import threading
import time
import types
from pathlib import Path

import nbformat
import psutil
import pytest

from evaluation import runner
from evaluation.config import PROJECT_ROOT, RUN_DATE_ENV
from evaluation.kernels import KernelPool, PageJob, notebook_imports

DEFAULT_PARAMS = PROJECT_ROOT / "params" / "default.yaml"
TINY_DEMO = {
    "demo": {
        "first_wave": "2019Q3",
        "last_wave": "2020Q2",
        "rollout_waves": ["2020Q2"],
        "ballots_min": 5,
        "ballots_max": 10,
    }
}


class _NoKernels:
    """Stands in for the kernel pool: the fake pages below need no kernel."""

    def __init__(self, modules: list[str], threads: int | None = None) -> None:
        self.modules = modules

    def take(self) -> object:
        ready = threading.Event()
        ready.set()
        return types.SimpleNamespace(ready=ready)

    def prewarm(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass

    def kill(self) -> None:
        pass


@pytest.fixture
def timed_pages(monkeypatch):
    """Pages that only sleep (and copy their template), recording when each ran."""
    spans: dict[str, tuple[float, float]] = {}
    envs: dict[str, dict[str, str]] = {}
    lock = threading.Lock()

    def execute(notebook: Path, target: Path, timeout: int | None, kernel, env) -> None:
        start = time.monotonic()
        time.sleep(0.6)
        shutil.copyfile(notebook, target)
        with lock:
            spans[notebook.stem] = (start, time.monotonic())
            envs[notebook.stem] = env

    monkeypatch.setattr(runner, "_execute_notebook", execute)
    monkeypatch.setattr(runner, "KernelPool", _NoKernels)
    writes = []
    real_write = runner._write_manifest
    monkeypatch.setattr(
        runner, "_write_manifest", lambda folder, m: (writes.append(folder), real_write(folder, m))
    )
    return spans, envs, writes


def _after(spans: dict, later: str, earlier: str) -> bool:
    return spans[later][0] >= spans[earlier][1]


def test_pages_run_side_by_side_in_dependency_order(tmp_path, timed_pages):
    spans, envs, writes = timed_pages
    result = runner.run(
        DEFAULT_PARAMS,
        out=tmp_path / "runs",
        overrides=TINY_DEMO,
        progress=lambda _: None,
        cache=False,
        jobs=2,
    )
    assert result.ok, result.message
    pages = [p.stem for p in runner.notebook_order()]
    assert set(spans) == set(pages)
    assert _after(spans, "04_robustness", "02_comparison")  # reads the comparison's weights
    assert _after(spans, "06_scaling", "05_where_it_works")  # reads the predicted effects
    for page in pages:
        if page != "00_summary":
            assert _after(spans, "00_summary", page)
    overlapping = [
        (a, b)
        for a in pages
        for b in pages
        if a < b and spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]
    ]
    assert overlapping, "with two jobs, some pages must run at the same time"
    assert all(
        len([p for p in pages if spans[p][0] <= t < spans[p][1]]) <= 2 for t in _starts(spans)
    )
    day = result.manifest["started"][:10]
    assert {env[RUN_DATE_ENV] for env in envs.values()} == {day}
    assert len(writes) == 1  # the manifest is written once, at the end
    manifest = json.loads((result.run_dir / "manifest.json").read_text("utf-8"))
    assert [e["status"] for e in manifest["notebooks"]] == ["ok"] * len(pages)


def _starts(spans: dict) -> list[float]:
    return [start for start, _ in spans.values()]


def test_one_job_runs_one_page_at_a_time(tmp_path, timed_pages):
    spans, _, _ = timed_pages
    result = runner.run(
        DEFAULT_PARAMS,
        out=tmp_path / "runs",
        notebooks=["01_data_quality", "02_comparison", "04_robustness", "00_summary"],
        overrides=TINY_DEMO,
        progress=lambda _: None,
        cache=False,
        jobs=1,
    )
    assert result.ok, result.message
    ordered = sorted(spans.values())
    assert all(later[0] >= earlier[1] for earlier, later in zip(ordered, ordered[1:], strict=False))


def test_a_failed_page_stops_the_pages_not_started(tmp_path, monkeypatch, timed_pages):
    spans, _, writes = timed_pages
    fake = runner._execute_notebook

    def fails_on_02(notebook, target, timeout, kernel, env):
        if notebook.stem == "02_comparison":
            shutil.copyfile(notebook, target)
            raise RuntimeError("cell 3 failed")
        fake(notebook, target, timeout, kernel, env)

    monkeypatch.setattr(runner, "_execute_notebook", fails_on_02)
    result = runner.run(
        DEFAULT_PARAMS,
        out=tmp_path / "runs",
        notebooks=["02_comparison", "04_robustness", "00_summary"],
        overrides=TINY_DEMO,
        progress=lambda _: None,
        cache=False,
        jobs=2,
        on_error="stop",
    )
    assert not result.ok and result.run_dir.name.endswith("-FAILED")
    statuses = {e["name"]: e["status"] for e in result.manifest["notebooks"]}
    assert statuses == {
        "02_comparison": "failed",
        "04_robustness": "skipped",
        "00_summary": "skipped",
    }
    assert "04_robustness" not in spans
    assert len(writes) == 1


def test_time_left_counts_parallel_pages_and_pages_last_executed(tmp_path):
    older = tmp_path / "demo-20261129-100000"
    newer = tmp_path / "demo-20261129-110000"
    for folder, pages in (
        (
            older,
            [
                {"name": "01_data_quality", "status": "ok", "execute_seconds": 8.0},
                {"name": "03_effects", "status": "ok", "execute_seconds": 40.0},
            ],
        ),
        (newer, [{"name": "03_effects", "status": "ok", "page_cache": {"key": "k"}}]),
    ):
        folder.mkdir()
        (folder / "manifest.json").write_text(json.dumps({"notebooks": pages}), "utf-8")
    time.sleep(0.01)
    (newer / "manifest.json").touch()
    previous = runner._previous_timings(tmp_path, "demo")
    assert previous == {"01_data_quality": 8.0, "03_effects": 40.0}  # copied pages say nothing
    pages = ["01_data_quality", "03_effects"]
    assert runner._time_left(previous, pages, jobs=2) == "; about 40 s left, as last time"
    assert runner._time_left(previous, pages, jobs=1) == "; about 48 s left, as last time"


# -- warm kernels ---------------------------------------------------------------------------------


def test_notebook_imports_are_the_modules_the_pages_use():
    modules = notebook_imports(sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")))
    assert "evaluation.report.run_context" in modules
    assert "evaluation.report.summary" in modules  # from evaluation.report import summary as sm
    assert "pandas" in modules
    assert not any(m.endswith((".sm", ".as")) for m in modules)


def test_a_warm_kernel_runs_a_page_with_its_environment_and_leaves_nothing(tmp_path, monkeypatch):
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("run_dir = None")
    parameters.metadata["tags"] = ["parameters"]
    probe = (
        "import os, sys\n"
        "print(os.getcwd(), os.environ['PAGE_PROBE'], run_dir, 'pandas' in sys.modules)\n"
        "print('threads', os.environ.get('OPENBLAS_NUM_THREADS'))\n"
        "print(sorted(k for k in globals() if not k.startswith('_')))"
    )
    notebook.cells = [parameters, nbformat.v4.new_code_cell(probe)]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    template = tmp_path / "page.ipynb"
    nbformat.write(notebook, template)
    (tmp_path / "run" / "notebooks").mkdir(parents=True)
    target = tmp_path / "run" / "notebooks" / "page.ipynb"

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    pool = KernelPool(["pandas"], threads=1)
    pool.prewarm(1)
    kernel = pool.take()
    assert kernel.ready.wait(120) and kernel.error is None
    kernel.execute(PageJob(template, target, 120, {"PAGE_PROBE": "page-env"}))
    pool.close()
    executed = nbformat.read(target, as_version=4)
    text = executed.cells[-1].outputs[0]["text"]
    assert f"{target.parent} page-env .. True" in text
    assert "threads 1" in text  # pages side by side: one linear-algebra thread each
    # no name of the warm-up or the page set-up is left for the page to see
    assert "['In', 'Out', 'exit', 'get_ipython', 'open', 'os', 'quit', 'run_dir', 'sys']" in text
    assert [c.get("execution_count") for c in executed.cells] == [1, 2, 3]
    assert kernel.finished.is_set()
    left = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not [p for p in left if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not Path(kernel.manager._ipc_folder).exists()  # type: ignore[union-attr]


def test_the_longest_page_starts_first(tmp_path, timed_pages):
    spans, _, _ = timed_pages
    pages = ["01_data_quality", "05_where_it_works", "07_rollout_waves", "00_summary"]
    common = {
        "out": tmp_path / "runs",
        "notebooks": pages,
        "overrides": TINY_DEMO,
        "progress": lambda _: None,
        "cache": False,
        "jobs": 1,
    }
    assert runner.run(DEFAULT_PARAMS, **common).ok
    # no earlier run: the pages that simulate their intervals' size go first
    assert min(spans, key=lambda p: spans[p][0]) == "07_rollout_waves"
    # an earlier run says page 05 took longest: it goes first
    (earlier,) = (tmp_path / "runs").iterdir()
    manifest = json.loads((earlier / "manifest.json").read_text("utf-8"))
    for entry in manifest["notebooks"]:
        entry["execute_seconds"] = 90.0 if entry["name"] == "05_where_it_works" else 1.0
    (earlier / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    spans.clear()
    assert runner.run(DEFAULT_PARAMS, **common).ok
    order = sorted(spans, key=lambda p: spans[p][0])
    assert order[0] == "05_where_it_works" and order[-1] == "00_summary"
