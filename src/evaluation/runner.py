"""One entry point reruns everything: parameters + input data -> a complete run folder.

A run is built in a hidden folder (``runs/.<name>-<time>.partial``) and renamed to
``runs/<name>-<time>`` only when every notebook succeeded; a failed run is renamed
``runs/<name>-<time>-FAILED`` and keeps its partial notebooks. A folder without either mark
never looks complete. Each run is a pure function of (params, input files), so many can be
farmed out in parallel with different ``--out`` folders.

REQUIRES: a params YAML file (and the input files it names).
CREATES: ``params.yaml``, ``prepared/``, ``notebooks/`` (executed), ``<notebook>.html``,
``figures/`` (PNG + SVG), ``tables/`` (CSV + XLSX, ``effects.csv``), ``results.json``,
``findings/``, ``index.html``, ``manifest.json``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path

from evaluation.analysis import CATALOGUE, skipped_sections
from evaluation.analysis.checks import check_design
from evaluation.config import PROJECT_ROOT, Params, load_params, params_to_yaml
from evaluation.data.io import sha256, write_table, write_text
from evaluation.data.problems import DataValidationError
from evaluation.prepare import prepare_inputs, resolve_demo_paths, save_prepared
from evaluation.report.render import notebook_to_html, page_title, write_index

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
#: The summary page reads what the others wrote, so it runs last.
RUN_LAST = ("00_summary",)
PACKAGES = (
    "hanam-evaluation",
    "numpy",
    "scipy",
    "pandas",
    "statsmodels",
    "pandera",
    "pydantic",
    "papermill",
    "nbconvert",
    "matplotlib",
    "seaborn",
)


@dataclass
class RunResult:
    """What a run produced and whether it succeeded."""

    run_dir: Path
    ok: bool
    manifest: dict = field(default_factory=dict)
    message: str = ""


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "")


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def notebook_order(names: list[str] | None = None) -> list[Path]:
    """The notebooks to run: all in ``notebooks/`` (or ``names``), the summary last."""
    found = sorted(p for p in NOTEBOOK_DIR.glob("*.ipynb") if not p.name.startswith("."))
    if names:
        wanted = {n.removesuffix(".ipynb") for n in names}
        unknown = wanted - {p.stem for p in found}
        if unknown:
            raise ValueError(
                f"report.notebooks names {sorted(unknown)}, which are not in notebooks/; "
                f"choose from {[p.stem for p in found]}"
            )
        found = [p for p in found if p.stem in wanted]
    return [p for p in found if p.stem not in RUN_LAST] + [p for p in found if p.stem in RUN_LAST]


def _ipc_kernel_manager() -> type:
    """A kernel manager on IPC sockets: no TCP ports to collide when runs go in parallel, and no
    ipykernel warning about unencrypted TCP on every start."""
    import tempfile

    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.transport = "ipc"
            self._ipc_folder = Path(tempfile.mkdtemp(prefix="evaluation-kernel-"))
            self.ip = str(self._ipc_folder / "ipc")

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:  # the IPC sockets' folder goes with the kernel
                shutil.rmtree(self._ipc_folder, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources

    return IpcKernelManager


def _write_manifest(folder: Path, manifest: dict) -> None:
    write_text(json.dumps(manifest, indent=2, ensure_ascii=False), folder / "manifest.json")


def _first_failed_cell(notebook: Path) -> str:
    import nbformat

    try:
        node = nbformat.read(notebook, as_version=4)
    except (OSError, ValueError):
        return "unknown cell"
    for index, cell in enumerate(node.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                return f"cell {index} ({first_line[:60]!r}): {output.get('ename')}: {output.get('evalue')}"
    return "unknown cell"


def run(
    params_path: str | Path,
    out: str | Path | None = None,
    notebooks: list[str] | None = None,
    on_error: str | None = None,
    overrides: dict | None = None,
    progress: Callable[[str], None] = print,
) -> RunResult:
    """Run the whole evaluation for one parameter file.

    Parameters
    ----------
    params_path : path
        The parameter file (``params/default.yaml`` or a scenario).
    out : path, optional
        Parent folder of the run folder (default ``runs/``).
    notebooks : list of str, optional
        Run only these notebooks (default: ``report.notebooks`` or all).
    on_error : {"stop", "continue"}, optional
        Override ``report.on_error``.
    overrides : dict, optional
        Parameter keys applied last (for sweeps and tests).
    """
    import papermill as pm

    params: Params = load_params(params_path, overrides)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    # absolute: notebooks run with the run folder as their working directory
    parent = Path(out).resolve() if out else PROJECT_ROOT / "runs"
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"--out {parent} is a file; give a folder for the run folders")
    parent.mkdir(parents=True, exist_ok=True)
    name, work = _claim_run_folder(parent, f"{params.run_name}-{stamp}")
    on_error = on_error or params.report.on_error
    order = notebook_order(notebooks or params.report.notebooks)
    started = time.perf_counter()
    manifest: dict = {
        "run": name,
        "status": "running",
        "started": datetime.now().isoformat(timespec="seconds"),
        "finished": None,
        "git_commit": _git_commit(),
        "versions": _versions(),
        "params_file": str(Path(params_path)),
        "simulated_data": params.simulated,
        "inputs": {},
        "notebooks": [{"name": p.stem, "status": "pending"} for p in order],
        "timings_seconds": {},
    }
    _write_manifest(work, manifest)

    try:
        progress(f"[prepare] reading and validating inputs ({params.data.source})")
        t0 = time.perf_counter()
        params = resolve_demo_paths(params, PROJECT_ROOT / "data" / "demo")
        write_text(params_to_yaml(params), work / "params.yaml")
        manifest["inputs"] = {str(p): sha256(p) for p in params.input_files() + _data_files(params)}
        ok = True
        message = ""
        try:
            prepared = prepare_inputs(params)
            check_design(prepared, params)
            save_prepared(prepared, work / "prepared")
            skipped = skipped_sections(prepared, params)
            manifest["skipped_sections"] = [
                {
                    "analysis": s.analysis,
                    "page": CATALOGUE[s.analysis].page,
                    "reason": s.reason,
                    "message": s.message(params.language),
                }
                for s in skipped
            ]
            for section in skipped:
                progress(f"[prepare] skipped: {section.analysis}: {section.message('en')}")
        except DataValidationError as err:
            ok = False
            message = str(err)
            write_table(err.problems, work / "tables" / "data_problems.csv")
            progress(message)
            # Only the data-quality page can say something useful about invalid data.
            order = [p for p in order if p.stem == "01_data_quality"]
            manifest["notebooks"] = [{"name": p.stem, "status": "pending"} for p in order]
            _save_failed_validation(work, err)
        except (ValueError, OSError) as err:  # unreadable file, harmonisation or window error
            ok = False
            message = f"{type(err).__name__}: {err}"
            progress(f"FAILED while preparing the inputs: {message}")
            order = []
            for entry in manifest["notebooks"]:
                entry["status"] = "skipped"
            manifest["error"] = message
        manifest["timings_seconds"]["prepare"] = round(time.perf_counter() - t0, 2)
        _write_manifest(work, manifest)

        previous = _previous_timings(parent, params.run_name)
        for index, notebook in enumerate(order):
            entry = manifest["notebooks"][index]
            left = _time_left(previous, [p.stem for p in order[index:]])
            progress(
                f"[{index + 1}/{len(order)}] {notebook.stem} "
                f"(elapsed {time.perf_counter() - started:.0f} s{left})"
            )
            target = work / "notebooks" / notebook.name
            target.parent.mkdir(exist_ok=True)
            t0 = time.perf_counter()
            try:
                pm.execute_notebook(
                    str(notebook),
                    str(target),
                    parameters={"run_dir": str(work)},
                    kernel_name="python3",
                    execution_timeout=params.report.execution_timeout,
                    progress_bar=False,
                    cwd=str(work),
                    kernel_manager_class=_ipc_kernel_manager(),
                )
                entry["status"] = "ok"
            except Exception as err:  # papermill raises for any failing cell; keep going per flag
                entry["status"] = "failed"
                entry["error"] = (
                    _first_failed_cell(target)
                    if target.exists()
                    else f"{type(err).__name__}: {err}"
                )
                ok = False
                message = f"notebook {notebook.stem} failed at {entry['error']}"
                progress(f"  FAILED: {message}")
            entry["execute_seconds"] = round(time.perf_counter() - t0, 2)
            if entry["status"] == "ok":
                progress(f"  done in {entry['execute_seconds']:.1f} s")
            if target.exists():
                t1 = time.perf_counter()
                title = page_title(notebook.stem, params.language, params.data.source == "panel")
                notebook_to_html(target, work / f"{notebook.stem}.html", params.language, title)
                entry["render_seconds"] = round(time.perf_counter() - t1, 2)
            _write_manifest(work, manifest)
            if entry["status"] == "failed" and on_error == "stop":
                for later in manifest["notebooks"][index + 1 :]:
                    later["status"] = "skipped"
                break

        if ok and params.report.pdf:
            from evaluation.report.pdf import write_pdfs

            manifest["pdf"] = [
                str(p.relative_to(work)) for p in write_pdfs(work, progress=progress)
            ]
        manifest["status"] = "complete" if ok else "failed"
        manifest["finished"] = datetime.now().isoformat(timespec="seconds")
        manifest["timings_seconds"]["total"] = round(time.perf_counter() - started, 2)
        if ok:
            manifest["outputs"] = {
                str(p.relative_to(work)): sha256(p)
                for p in sorted(work.rglob("*"))
                if p.is_file() and p.name != "manifest.json" and "prepared" not in p.parts
            }
        write_index(
            work, manifest, params.language, params.simulated, params.data.source == "panel"
        )
        _write_manifest(work, manifest)
    except BaseException as err:  # any crash: the folder must not look complete
        manifest["status"] = "failed"
        manifest["error"] = f"{type(err).__name__}: {err}"
        manifest["finished"] = datetime.now().isoformat(timespec="seconds")
        _write_manifest(work, manifest)
        os.replace(work, parent / f"{name}-FAILED")
        raise
    final = parent / (name if ok else f"{name}-FAILED")
    os.replace(work, final)
    progress(f"{'done' if ok else 'FAILED'}: {final}")
    if (final / "index.html").is_file():
        progress(f"open {final / 'index.html'}")
    return RunResult(run_dir=final, ok=ok, manifest=manifest, message=message)


def _previous_timings(parent: Path, run_name: str) -> dict[str, float]:
    """Seconds each page took (execute + render) in the newest complete run of this name."""
    manifests = sorted(
        (
            p
            for p in parent.glob(f"{run_name}-*/manifest.json")
            if not p.parent.name.endswith("FAILED")
        ),
        key=lambda p: p.stat().st_mtime,
    )
    for path in reversed(manifests):
        try:
            entries = json.loads(path.read_text("utf-8")).get("notebooks", [])
        except (OSError, ValueError):
            continue
        return {
            e["name"]: float(e.get("execute_seconds", 0)) + float(e.get("render_seconds", 0))
            for e in entries
            if e.get("status") == "ok"
        }
    return {}


def _time_left(previous: dict[str, float], pages: list[str]) -> str:
    """``; about N s left`` from the previous run's timings, or nothing without them."""
    if not previous or any(p not in previous for p in pages):
        return ""
    return f"; about {sum(previous[p] for p in pages):.0f} s left, as last time"


def _claim_run_folder(parent: Path, base: str) -> tuple[str, Path]:
    """A run name and its ``.partial`` folder, created exclusively: two runs started in the same
    second never share a folder (``mkdir`` fails for the second, which takes the next suffix)."""
    suffix = 1
    while True:
        name = base if suffix == 1 else f"{base}-{suffix}"
        taken = (parent / name).exists() or (parent / f"{name}-FAILED").exists()
        if not taken:
            work = parent / f".{name}.partial"
            try:
                work.mkdir()
                return name, work
            except FileExistsError:
                pass
        suffix += 1


def _data_files(params: Params) -> list[Path]:
    d = params.data
    if d.source != "demo":
        return []
    return [p for p in (d.rollout, d.ballots, d.admin, d.costs) if p is not None]


def _save_failed_validation(work: Path, err: DataValidationError) -> None:
    """A prepared folder that holds only the problems, so the data-quality page can show them."""
    folder = work / "prepared"
    folder.mkdir(parents=True, exist_ok=True)
    write_table(err.problems, folder / "problems.parquet")
    write_text(json.dumps({"validation_failed": True}), folder / "meta.json")
