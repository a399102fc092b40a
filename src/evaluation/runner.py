"""One entry point reruns everything: parameters + input data -> a complete run folder.

A run is built in a hidden folder (``runs/.<name>-<time>.partial``) and renamed to
``runs/<name>-<time>`` only when every notebook succeeded; a failed run is renamed
``runs/<name>-<time>-FAILED`` and keeps its partial notebooks. A folder without either mark
never looks complete. Each run is a pure function of (params, input files), so many can be
farmed out in parallel with different ``--out`` folders; two runs to the same ``--out`` each
create their own folder exclusively and only ever rename their own.

Ctrl-C (SIGINT) or SIGTERM stops a run: its kernel is shut down, its folder renamed ``-FAILED``
and :class:`RunInterrupted` raised. A full disk ends the run ``-FAILED`` with a message naming
the folder and the fix. Two runs of the same parameters and data give byte-identical files
(executed notebooks included) except the times in ``manifest.json``.

REQUIRES: a params YAML file (and the input files it names).
CREATES: ``params.yaml``, ``prepared/``, ``notebooks/`` (executed), ``<notebook>.html``,
``figures/`` (PNG + SVG), ``tables/`` (CSV + XLSX, ``effects.csv``), ``results.json``,
``findings/``, ``index.html``, ``manifest.json``.

Analysis results are reused from a content-addressed cache (``runs/.cache/`` by default, see
:mod:`evaluation.cache`): a rerun recomputes only the analyses whose inputs or parameter
sections changed, and the manifest lists, per page, the results reused (key and entry path)
and those computed. A run of some pages only (``--only``) copies the outputs of the other pages
from an earlier complete run (``--reuse RUN_DIR``, else the newest complete run of the same
name in ``--out`` whose inputs and parameters those pages read are the same), so the summary
page is complete; the manifest marks those pages ``reused`` and names the run they came from.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path

from evaluation.analysis import CATALOGUE, skipped_sections
from evaluation.analysis.base import DEFAULT_READS, load_catalogue
from evaluation.analysis.checks import check_design
from evaluation.cache import code_fingerprint, kernel_environment, prepared_digest, read_log
from evaluation.config import (
    PROJECT_ROOT,
    RUN_DATE_ENV,
    Params,
    ParamsError,
    load_params,
    params_to_yaml,
)
from evaluation.data.io import atomic_path, sha256, write_table, write_text
from evaluation.data.problems import DataValidationError
from evaluation.kernels import KernelPool, PageJob, PageKernel, notebook_imports
from evaluation.page_cache import PageCache, page_key, prepared_key, upstream, upstream_files
from evaluation.prepare import prepare_inputs, resolve_demo_paths, save_prepared
from evaluation.report.parts import LAST_PAGES, PARTS, assemble, page_writes
from evaluation.report.render import (
    make_reproducible,
    notebook_to_html,
    page_title,
    write_index,
)

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
#: Where analysis results are cached unless ``cache_dir`` (``--cache-dir``) says otherwise.
DEFAULT_CACHE_DIR = PROJECT_ROOT / "runs" / ".cache"
#: Environment variable that moves the default cache folder (a read-only checkout, the tests).
CACHE_HOME_ENV = "EVALUATION_CACHE_HOME"
#: What a page writes into the run folder, copied for the pages an ``--only`` run reuses.
PAGE_OUTPUTS = ("results", "findings", "figures", "tables", "results.json", PARTS)
#: Pages that simulate the size of their intervals (minutes of work on the province's data):
#: started first when no earlier run says how long each page takes.
SLOW_PAGES = ("07_rollout_waves", "03_effects", "04_robustness")
#: The summary page reads what the others wrote, so it runs last.
RUN_LAST = LAST_PAGES
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
    """The notebooks to run: all in ``notebooks/`` (or ``names``), the summary last.

    Raises
    ------
    ParamsError
        A name that is not a notebook of ``notebooks/`` (a path such as ``../x`` never is).
    """
    found = sorted(p for p in NOTEBOOK_DIR.glob("*.ipynb") if not p.name.startswith("."))
    if names:
        wanted = {n.removesuffix(".ipynb") for n in names}
        unknown = wanted - {p.stem for p in found}
        if unknown:
            raise ParamsError(
                f"report.notebooks / --only names {sorted(unknown)}, which are not in notebooks/; "
                f"choose from {[p.stem for p in found]}"
            )
        found = [p for p in found if p.stem in wanted]
    return [p for p in found if p.stem not in RUN_LAST] + [p for p in found if p.stem in RUN_LAST]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped a run; its kernel was shut down and its folder renamed
    ``-FAILED``. ``str()`` is the one line to show the user."""

    def __init__(self, folder: Path, signal_name: str) -> None:
        super().__init__(
            f"interrupted ({signal_name}): the run stopped and its kernels were shut down; "
            f"the unfinished run is in {folder}"
        )
        self.folder = folder
        self.signal_name = signal_name


class _StopRun(KeyboardInterrupt):
    """Raised in the main thread by the SIGINT/SIGTERM handler of a run."""


@contextmanager
def _signals_stop_the_run() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`_StopRun` in the main thread for the whole run.

    Notebooks execute in a worker thread (see :func:`_execute_notebook`) so that papermill's
    client cannot install its own SIGINT handler, which only shut the kernel down and let the
    run carry on to a "complete" folder. Outside the main thread (a Dask worker) signals are
    not ours to handle and nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise _StopRun(signal.Signals(signum).name)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def _shielded() -> Iterator[None]:
    """Ignore a second Ctrl-C while the run folder is being marked and renamed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _execute_notebook(
    notebook: Path, target: Path, timeout: int | None, kernel: PageKernel, env: dict[str, str]
) -> None:
    """Execute ``notebook`` into ``target`` with papermill, in ``kernel`` (already warm).

    Runs in a page's worker thread. The kernel works in ``target``'s folder (``notebooks/`` of
    the run) and receives ``run_dir = ".."``: the executed notebook names no absolute or
    temporary path and reruns by hand where it lies. ``env`` is the page's environment (the
    result cache's folder and log, the run's day).
    """
    kernel.execute(PageJob(notebook, target, timeout, env))


def default_jobs() -> int:
    """Pages run at once by default: the machine's cores (at most 4: beyond that the pages
    wait on the summary and on memory)."""
    return max(1, min(4, os.cpu_count() or 1))


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


#: errno values that mean "the disk (or the user's quota) is full".
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full_in(text: str) -> bool:
    """Whether a notebook's error text says the disk is full (an OSError raised in the kernel)."""
    return any(f"[Errno {code}]" in text for code in _DISK_FULL) or "No space left" in text


def _write_failure_message(err: OSError, parent: Path, folder: Path) -> str:
    """One plain sentence for a write that failed: what happened, where, and what to do."""
    if err.errno in _DISK_FULL:
        return (
            f"FAILED: the disk holding {parent} is full (no space left on device); the run "
            f"stopped and its unfinished folder is {folder}. Free some space on that disk, or "
            "give --out a folder on a disk with room, then run again."
        )
    where = f" ({err.filename})" if err.filename else ""
    return (
        f"FAILED: could not write in the run folder{where}: {err.strerror or err}; the "
        f"unfinished run is in {folder}. Check that {parent} is writable and has free space, "
        "then run again."
    )


def _run_parent(out: str | Path | None) -> Path:
    """The folder that holds the run folders, created if needed (absolute: notebooks run with
    their own working directory)."""
    parent = Path(out).resolve() if out else PROJECT_ROOT / "runs"
    if parent.exists() and not parent.is_dir():
        raise ParamsError(f"--out {parent} is a file; give a folder for the run folders")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ParamsError(
            f"--out {parent}: the folder cannot be created ({err.strerror or err}); "
            "give a folder you can write to"
        ) from None
    return parent


def run(
    params_path: str | Path,
    out: str | Path | None = None,
    notebooks: list[str] | None = None,
    on_error: str | None = None,
    overrides: dict | None = None,
    progress: Callable[[str], None] = print,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    reuse: str | Path | None = None,
    jobs: int | None = None,
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
    cache : bool
        Reuse and store analysis results and unchanged pages in the cache (``--no-cache``:
        False, every page executed and every analysis computed).
    cache_dir : path, optional
        The cache's folder (default ``$EVALUATION_CACHE_HOME``, else ``runs/.cache``, whatever
        ``out`` is).
    reuse : path, optional
        An earlier complete run whose outputs stand in for the pages this run does not run.
        Without it, a run of some pages only reuses the newest complete run of the same name
        in ``out`` whose inputs and parameters those pages read are the same (if any).
    jobs : int, optional
        Pages run at once, each in its own kernel (default: the machine's cores, at most 4).

    Returns
    -------
    RunResult
        ``ok=False`` with a one-line ``message`` for invalid data, a failing notebook or a
        write that failed (a full disk); the folder is then named ``-FAILED``.

    Raises
    ------
    ParamsError
        Invalid parameters, ``--only`` names, ``--out`` or ``--reuse`` (not a complete run, or
        one made with other inputs or parameters): refused before any folder is made.
    RunInterrupted
        SIGINT or SIGTERM stopped the run (its folder is renamed ``-FAILED`` first).
    """
    params: Params = load_params(params_path, overrides)
    order = notebook_order(notebooks or params.report.notebooks)
    parent = _run_parent(out)
    reused = _reuse_source(params, order, parent, reuse, progress)
    default_cache = os.environ.get(CACHE_HOME_ENV) or DEFAULT_CACHE_DIR
    cache_folder = None if not cache else Path(cache_dir or default_cache).resolve()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name, work = _claim_run_folder(parent, f"{params.run_name}-{stamp}")
    on_error = on_error or params.report.on_error
    started = time.perf_counter()
    manifest: dict = {
        "run": name,
        "status": "running",
        "started": datetime.now().isoformat(timespec="seconds"),
        "finished": None,
        "git_commit": None,
        "versions": {},
        "params_file": str(Path(params_path)),
        "simulated_data": params.simulated,
        "inputs": {},
        "notebooks": [{"name": p.stem, "status": "pending"} for p in order],
        "cache": {"folder": str(cache_folder) if cache_folder else None},
        "timings_seconds": {},
    }
    logs = Path(tempfile.mkdtemp(prefix="evaluation-cache-log-"))
    with _signals_stop_the_run():  # from the claim on, a stopped run renames its folder
        try:
            manifest["git_commit"] = _git_commit()
            manifest["versions"] = _versions()
            code = code_fingerprint() if cache_folder else ""
            setup = _RunSetup(cache_folder, logs, reused, code, jobs or default_jobs())
            ok, message = _run_in(work, parent, params, order, on_error, manifest, progress, setup)
            manifest["timings_seconds"]["total"] = round(time.perf_counter() - started, 2)
            _write_manifest(work, manifest)
        except BaseException as err:  # any crash: the folder must not look complete
            with _shielded():
                final = _close_failed(work, parent, name, manifest, err)
            if isinstance(err, KeyboardInterrupt):
                signal_name = (
                    str(err.args[0]) if isinstance(err, _StopRun) and err.args else "SIGINT"
                )
                raise RunInterrupted(final, signal_name) from None
            if isinstance(err, OSError):
                message = _write_failure_message(err, parent, final)
                progress(message)
                return RunResult(run_dir=final, ok=False, manifest=manifest, message=message)
            raise
        finally:
            shutil.rmtree(logs, ignore_errors=True)
        with _shielded():
            final = _rename_own(work, parent, name, failed=not ok)
    progress(f"{'done' if ok else 'FAILED'}: {final}")
    if (final / "index.html").is_file():
        progress(f"open {final / 'index.html'}")
    return RunResult(run_dir=final, ok=ok, manifest=manifest, message=message)


@dataclass(frozen=True)
class _RunSetup:
    """Where a run's kernels cache results and log their use, the run it reuses pages of, and
    how many pages may run at once."""

    cache_folder: Path | None
    logs: Path
    reused: Path | None
    code: str = ""
    jobs: int = 1


def _run_in(
    work: Path,
    parent: Path,
    params: Params,
    order: list[Path],
    on_error: str,
    manifest: dict,
    progress: Callable[[str], None],
    setup: _RunSetup | None = None,
) -> tuple[bool, str]:
    """The run's stages, all in ``work``: prepare the inputs, copy the pages reused from an
    earlier run, run the pages (in parallel, as their dependencies allow; a page unchanged
    since an earlier run comes from the page cache), then the PDFs, the index and the list of
    outputs. ``manifest`` is filled in; the caller writes it once.

    Returns whether every step succeeded and the message of the last failure. An ``OSError``
    while writing (a full disk) stops everything and is raised after marking the page failed.
    """
    setup = setup or _RunSetup(None, work, None)
    # Kernels start warming while the inputs are prepared: every page when nothing can come
    # from the page cache, else one (a rerun after a change executes a page or two).
    threads = max(1, (os.cpu_count() or 1) // setup.jobs)
    pool = KernelPool(notebook_imports(order), threads)
    pool.prewarm(min(len(order), setup.jobs if setup.cache_folder is None else 1))
    try:
        return _stages(work, parent, params, order, on_error, manifest, progress, setup, pool)
    except BaseException:
        with _shielded():
            pool.kill()
        raise
    finally:
        pool.close()


def _stages(
    work: Path,
    parent: Path,
    params: Params,
    order: list[Path],
    on_error: str,
    manifest: dict,
    progress: Callable[[str], None],
    setup: _RunSetup,
    pool: KernelPool,
) -> tuple[bool, str]:
    started = time.perf_counter()
    params = resolve_demo_paths(params, PROJECT_ROOT / "data" / "demo")
    digest, ok, message, order = _prepare_stage(
        work, params, order, manifest, progress, setup.cache_folder
    )
    if "prepared_cache" not in manifest:  # new data: every page will be executed
        pool.prewarm(min(len(order), setup.jobs))
    if ok and setup.reused is not None:
        for entry in _copy_reused_pages(setup.reused, work, [p.stem for p in order]):
            manifest["notebooks"].append(entry)
            progress(f"[reuse] {entry['name']} from {setup.reused}")
        assemble(work, params.language, params)
    if order:
        pages_ok, pages_message = _PageScheduler(
            work,
            parent,
            params,
            order,
            on_error,
            manifest,
            progress,
            setup,
            digest,
            started,
            pool,
        ).run()
        if not pages_ok:
            ok, message = False, pages_message
    if ok and params.report.pdf:
        from evaluation.report.pdf import write_pdfs

        manifest["pdf"] = [str(p.relative_to(work)) for p in write_pdfs(work, progress=progress)]
    manifest.setdefault("cache", {}).update(_cache_counts(manifest["notebooks"]))
    manifest["status"] = "complete" if ok else "failed"
    manifest["finished"] = datetime.now().isoformat(timespec="seconds")
    write_index(work, manifest, params.language, params.simulated, params.data.source == "panel")
    if ok:
        manifest["outputs"] = {
            str(p.relative_to(work)): sha256(p)
            for p in sorted(work.rglob("*"))
            if p.is_file()
            and p.name != "manifest.json"
            and "prepared" not in p.parts
            and p.name != ".lock"
        }
    return ok, message


def _prepare_stage(
    work: Path,
    params: Params,
    order: list[Path],
    manifest: dict,
    progress: Callable[[str], None],
    cache_folder: Path | None = None,
) -> tuple[str | None, bool, str, list[Path]]:
    """Read, validate and prepare the inputs into ``work/prepared`` (copied from the cache when
    the same inputs, parameters and code prepared them before). ``params`` has the demo's
    paths resolved.

    Returns the prepared data's digest (None when they failed; "" without a cache), whether they
    are sound, the message of a failure and the notebooks still to run (only the data-quality
    page for invalid data, none for unreadable inputs).
    """
    progress(f"[prepare] reading and validating inputs ({params.data.source})")
    t0 = time.perf_counter()
    write_text(params_to_yaml(params), work / "params.yaml")
    manifest["inputs"] = {str(p): sha256(p) for p in params.input_files() + _data_files(params)}
    store = PageCache(cache_folder, "prepared") if cache_folder is not None else None
    key = prepared_key(params, manifest["inputs"], manifest["versions"]) if store else ""
    found = store.get_with_record(key, work) if store else None
    if found is not None:
        record = found[1]
        manifest["skipped_sections"] = record["skipped_sections"]
        manifest["prepared_cache"] = {"key": key, "entry": str(store.path(key))}  # type: ignore[union-attr]
        for line in record["progress"]:
            progress(line)
        manifest["timings_seconds"]["prepare"] = round(time.perf_counter() - t0, 2)
        return str(record["prepared_digest"]), True, "", order
    digest: str | None = None
    ok, message = True, ""
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
        lines = [f"[prepare] skipped: {s.analysis}: {s.message('en')}" for s in skipped]
        for line in lines:
            progress(line)
        digest = prepared_digest(prepared) if store else ""
        if store is not None:
            files = [
                p.relative_to(work).as_posix()
                for p in sorted((work / "prepared").rglob("*"))
                if p.is_file()
            ]
            record = {
                "prepared_digest": digest,
                "skipped_sections": manifest["skipped_sections"],
                "progress": lines,
            }
            store.put(key, work, files, record)
    except DataValidationError as err:
        ok, message = False, str(err)
        write_table(err.problems, work / "tables" / "data_problems.csv")
        progress(message)
        # Only the data-quality page can say something useful about invalid data.
        order = [p for p in order if p.stem == "01_data_quality"]
        manifest["notebooks"] = [{"name": p.stem, "status": "pending"} for p in order]
        _save_failed_validation(work, err)
    except (ValueError, OSError) as err:  # unreadable file, harmonisation or window error
        if isinstance(err, OSError) and err.errno in _DISK_FULL:
            raise  # not a problem of the inputs: the run folder cannot be written
        ok = False
        message = f"{type(err).__name__}: {err}"
        progress(f"FAILED while preparing the inputs: {message}")
        order = []
        for entry in manifest["notebooks"]:
            entry["status"] = "skipped"
        manifest["error"] = message
    manifest["timings_seconds"]["prepare"] = round(time.perf_counter() - t0, 2)
    return digest, ok, message, order


class _PageScheduler:
    """Runs a run's pages: each as soon as the pages it reads are done (the summary last), up to
    ``setup.jobs`` at once, each in its own warm kernel; a page whose key is in the page cache
    is copied instead. The main thread waits on a queue so that Ctrl-C stays immediate.
    """

    def __init__(
        self,
        work: Path,
        parent: Path,
        params: Params,
        order: list[Path],
        on_error: str,
        manifest: dict,
        progress: Callable[[str], None],
        setup: _RunSetup,
        digest: str | None,
        started: float,
        pool: KernelPool,
    ) -> None:
        self.work, self.params, self.order, self.on_error = work, params, order, on_error
        self.manifest, self.progress, self.setup, self.started = manifest, progress, setup, started
        self.entries = {e["name"]: e for e in manifest["notebooks"][: len(order)]}
        self.names = [p.stem for p in order]
        reused = [e["name"] for e in manifest["notebooks"] if e.get("status") == "reused"]
        self.done: set[str] = set(reused)
        #: Every page of the run folder: those run now and those reused from an earlier run.
        self.pages = self.names + reused
        # no page comes from the cache for data that failed validation
        self.pages_cache = (
            PageCache(setup.cache_folder) if setup.cache_folder is not None and digest else None
        )
        self.prepared_digest = digest or ""
        self.previous = _previous_timings(parent, params.run_name)
        self.finished: queue.Queue[tuple[str, BaseException | None]] = queue.Queue()
        self.running: dict[str, float] = {}
        #: Page cache key of each page executing now (stored under it when it succeeds).
        self.keys: dict[str, str | None] = {}
        self.pool = pool
        self.ok, self.message = True, ""
        self.stopped = False
        self.count = 0
        # pages copied from the page cache since the shared files were last assembled
        self.unassembled = False

    def run(self) -> tuple[bool, str]:
        """Run every page; the caller stops the kernels (killed if this raises)."""
        pending = list(self.order)
        while pending or self.running:
            pending = self._start_what_can_start(pending)
            if not self.running:
                if pending:  # nothing runs and nothing can start: a page waits on a skip
                    for notebook in pending:
                        self.entries[notebook.stem]["status"] = "skipped"
                break
            with suppress(queue.Empty):
                name, error = self.finished.get(timeout=0.2)
                self._page_finished(name, error)
                if self.stopped:
                    for notebook in pending:
                        self.entries[notebook.stem]["status"] = "skipped"
                    pending = []
        self._assemble()
        return self.ok, self.message

    def _assemble(self) -> None:
        """Rebuild the shared files once pages were copied from the page cache."""
        if self.unassembled:
            assemble(self.work, self.params.language, self.params)
            self.unassembled = False

    # -- starting pages --------------------------------------------------------------------

    def _ready(self, notebook: Path) -> bool:
        return all(n in self.done for n in upstream(notebook.stem, self.pages))

    def _start_what_can_start(self, pending: list[Path]) -> list[Path]:
        left = list(pending)
        progressed = True
        while progressed and not self.stopped:
            progressed = False
            for notebook in sorted(left, key=self._priority):
                if not self._ready(notebook):
                    continue
                key = self._key(notebook)
                if key is not None and self._from_page_cache(notebook, key):
                    left.remove(notebook)
                    progressed = True
                    break  # a page done may let an earlier one start
                if len(self.running) >= self.setup.jobs:
                    return left
                self._start(notebook, key)
                left.remove(notebook)
                progressed = True
                break
        return left

    def _priority(self, notebook: Path) -> tuple:
        """Longest page first, so that no long page starts last and leaves a core idle: by the
        seconds each page took when last executed, else pages with size simulations first."""
        name = notebook.stem
        timed = all(p.stem in self.previous for p in self.order)
        if timed:
            return (-self.previous[name], self.names.index(name))
        hint = SLOW_PAGES.index(name) if name in SLOW_PAGES else len(SLOW_PAGES)
        return (hint, self.names.index(name))

    def _key(self, notebook: Path) -> str | None:
        if self.pages_cache is None:
            return None
        needs = upstream(notebook.stem, self.pages)
        return page_key(
            notebook.stem,
            notebook,
            self.params,
            self.prepared_digest,
            self.manifest["started"][:10],
            upstream_files(self.work, [n for n in needs if n in self.done]),
            self.manifest.get("versions", {}),
        )

    def _announce(self, notebook: Path, what: str) -> None:
        self.count += 1
        self.progress(f"[{self.count}/{len(self.order)}] {notebook.stem} {what}")

    def _from_page_cache(self, notebook: Path, key: str) -> bool:
        assert self.pages_cache is not None
        t0 = time.perf_counter()
        copied = self.pages_cache.get(key, self.work)
        if copied is None:
            return False
        self.unassembled = True
        entry = self.entries[notebook.stem]
        entry.update(
            status="ok",
            page_cache={"key": key, "entry": str(self.pages_cache.path(key))},
            copy_seconds=round(time.perf_counter() - t0, 2),
            writes=_page_outputs(copied),
            analyses={"reused": [], "computed": []},
        )
        self.done.add(notebook.stem)
        self._announce(notebook, "unchanged: copied from the page cache")
        return True

    def _start(self, notebook: Path, key: str | None) -> None:
        self._assemble()  # a page running now may read the shared files
        entry = self.entries[notebook.stem]
        entry["status"] = "running"
        self.keys[notebook.stem] = key
        left = _time_left(self.previous, self._not_done(), self.setup.jobs)
        self._announce(notebook, f"(elapsed {time.perf_counter() - self.started:.0f} s{left})")
        kernel = self.pool.take()
        waiting = len(self.order) - len(self.done) - len(self.running) - 1
        self.pool.prewarm(min(self.setup.jobs, max(0, waiting)))  # the next pages' kernels
        target = self.work / "notebooks" / notebook.name
        target.parent.mkdir(exist_ok=True)
        log = self.setup.logs / f"{notebook.stem}.jsonl"
        env = {
            **kernel_environment(self.setup.cache_folder, log, self.setup.code),
            RUN_DATE_ENV: self.manifest["started"][:10],
        }
        self.running[notebook.stem] = time.perf_counter()

        def page() -> None:
            error = None
            kernel.ready.wait()
            entry["kernel_wait_seconds"] = round(
                time.perf_counter() - self.running[notebook.stem], 2
            )
            try:
                _execute_notebook(
                    notebook, target, self.params.report.execution_timeout, kernel, env
                )
            except BaseException as err:  # handed to the main thread
                error = err
            self.finished.put((notebook.stem, error))

        threading.Thread(target=page, name=f"page {notebook.stem}", daemon=True).start()

    def _not_done(self) -> list[str]:
        return [n for n in self.names if n not in self.done]

    # -- a page finished -------------------------------------------------------------------

    def _page_finished(self, name: str, error: BaseException | None) -> None:
        notebook = next(p for p in self.order if p.stem == name)
        entry = self.entries[name]
        target = self.work / "notebooks" / notebook.name
        entry["execute_seconds"] = round(time.perf_counter() - self.running.pop(name), 2)
        self.done.add(name)
        log = self.setup.logs / f"{name}.jsonl"
        entry["analyses"] = _analyses_record(read_log(log))
        entry["writes"] = _page_outputs(page_writes(self.work, name))
        if error is None:
            entry["status"] = "ok"
            self.progress(f"  done in {entry['execute_seconds']:.1f} s ({name})")
        else:
            entry["status"] = "failed"
            if isinstance(error, OSError) and error.errno in _DISK_FULL:
                entry["error"] = f"the executed notebook could not be written: {error.strerror}"
                raise error  # the run folder cannot be written: stop everything
            entry["error"] = (
                _first_failed_cell(target)
                if target.exists()
                else f"{type(error).__name__}: {error}"
            )
            self.ok = False
            self.message = f"notebook {name} failed at {entry['error']}"
            self.progress(f"  FAILED: {self.message}")
        if target.exists():
            t1 = time.perf_counter()
            try:
                make_reproducible(target, notebook)
                title = page_title(name, self.params.language, self.params.data.source == "panel")
                notebook_to_html(target, self.work / f"{name}.html", self.params.language, title)
            except OSError as err:
                entry["status"] = "failed"  # its page was not written: never "ok"
                entry["error"] = f"its page could not be written: {err.strerror or err}"
                raise
            entry["render_seconds"] = round(time.perf_counter() - t1, 2)
        if "error" in entry and _disk_full_in(entry["error"]):  # the kernel hit a full disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.work))
        key = self.keys.pop(name, None)
        if entry["status"] == "ok" and key is not None and self.pages_cache is not None:
            files = [*page_writes(self.work, name), f"notebooks/{notebook.name}", f"{name}.html"]
            self.pages_cache.put(key, self.work, files)
        if entry["status"] == "failed" and self.on_error == "stop":
            self.stopped = True


def _close_failed(work: Path, parent: Path, name: str, manifest: dict, err: BaseException) -> Path:
    """Mark a crashed run failed and rename its folder ``-FAILED`` (even on a full disk)."""
    manifest["status"] = "failed"
    if isinstance(err, _StopRun):
        manifest["error"] = f"interrupted by {err.args[0] if err.args else 'SIGINT'}"
    elif isinstance(err, KeyboardInterrupt):
        manifest["error"] = "interrupted by SIGINT"
    else:
        manifest["error"] = f"{type(err).__name__}: {err}"
    manifest["finished"] = datetime.now().isoformat(timespec="seconds")
    for entry in manifest["notebooks"]:
        if entry["status"] in ("pending", "running"):
            entry["status"] = "skipped" if entry["status"] == "pending" else "failed"
        elif entry["status"] == "ok" and not (work / f"{entry['name']}.html").is_file():
            entry["status"] = "failed"  # stopped while its page was being written
            entry["error"] = "its page was not written: the run stopped first"
    with suppress(OSError):  # a full disk: the -FAILED name alone says it
        _write_manifest(work, manifest)
    return _rename_own(work, parent, name, failed=True)


def _rename_own(work: Path, parent: Path, name: str, failed: bool = False) -> Path:
    """Rename this run's ``.partial`` folder to ``name`` (``name-FAILED`` if ``failed``), never
    onto another run's folder.

    ``name`` was free when the run started; should another run have taken it since (a run that
    started in the same second and failed at once), a numbered name is used instead
    (``name-2-FAILED``: a failed run's name always ends ``-FAILED``).
    """
    suffix = 1
    while True:
        numbered = name if suffix == 1 else f"{name}-{suffix}"
        target = parent / (f"{numbered}-FAILED" if failed else numbered)
        if not target.exists():
            try:
                # rename(2) would silently replace an empty folder of the same name: checked above
                os.rename(work, target)
                return target
            except OSError as err:
                if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        suffix += 1


def _previous_timings(parent: Path, run_name: str) -> dict[str, float]:
    """Seconds each page took (execute + render) the last time it was executed, in the complete
    runs of this name (a page copied from the page cache says nothing of its time)."""
    manifests = sorted(
        (
            p
            for p in parent.glob(f"{run_name}-*/manifest.json")
            if not p.parent.name.endswith("FAILED")
        ),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    timings: dict[str, float] = {}
    for path in manifests:
        try:
            entries = json.loads(path.read_text("utf-8")).get("notebooks", [])
        except (OSError, ValueError):
            continue
        for e in entries:
            if e.get("status") == "ok" and "execute_seconds" in e and e["name"] not in timings:
                timings[e["name"]] = float(e["execute_seconds"]) + float(e.get("render_seconds", 0))
    return timings


def _time_left(previous: dict[str, float], pages: list[str], jobs: int = 1) -> str:
    """``; about N s left`` from the previous run's timings (pages running ``jobs`` at once, but
    never less than the longest page), or nothing without them."""
    if not previous or any(p not in previous for p in pages):
        return ""
    times = [previous[p] for p in pages]
    left = max(sum(times) / max(1, jobs), max(times, default=0.0))
    return f"; about {left:.0f} s left, as last time"


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


# --------------------------------------------------------------------------------------------
# What each page wrote, what it reused from the cache, and pages reused from an earlier run


def _page_outputs(files: list[str]) -> list[str]:
    """The files of ``files`` that are page outputs (:data:`PAGE_OUTPUTS`)."""
    return [f for f in files if f.startswith(PAGE_OUTPUTS)]


def _analyses_record(events: list) -> dict[str, list]:
    """The manifest's record of a page's analyses: reused (with key and cache entry) or computed."""
    return {
        "reused": [
            {"analysis": e.analysis, "key": e.key, "path": e.path}
            for e in events
            if e.status == "reused"
        ],
        "computed": [
            {"analysis": e.analysis, "key": e.key} for e in events if e.status == "computed"
        ],
    }


def _cache_counts(entries: list[dict]) -> dict[str, int]:
    """How many analysis results the pages of this run reused and computed."""
    run_here = [e.get("analyses") or {} for e in entries if e.get("status") != "reused"]
    return {
        "reused": sum(len(a.get("reused", [])) for a in run_here),
        "computed": sum(len(a.get("computed", [])) for a in run_here),
    }


def _complete_manifest(folder: Path) -> dict | None:
    """The manifest of a complete run folder, None for anything else."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("status") != "complete":
        return None
    return manifest


def _sections_read(pages: list[str]) -> set[str]:
    """The parameter sections the analyses of ``pages`` read, and the language they are in."""
    sections = {*DEFAULT_READS, "language"}
    for spec in load_catalogue().values():
        if spec.page in pages:
            sections.update(spec.reads)
    return sections


def _reuse_mismatch(params: Params, earlier: Path, manifest: dict, pages: list[str]) -> str | None:
    """Why ``earlier``'s pages ``pages`` cannot stand in this run (None when they can): other
    input files, other values of a parameter section those pages read, or a run made before
    pages kept their own parts of the shared files."""
    if not (earlier / PARTS).is_dir():
        return "it was made by an older version of the package (it has no parts/ folder)"
    try:
        current = {sha256(p) for p in params.input_files() + _data_files(params)}
    except OSError:
        return "this run's input files cannot be read"
    if current != set((manifest.get("inputs") or {}).values()):
        return "its input files differ"
    try:
        before = load_params(earlier / "params.yaml").model_dump(mode="json")
    except (OSError, ValueError):
        return "its params.yaml cannot be read"
    now = params.model_dump(mode="json")
    differ = sorted(s for s in _sections_read(pages) if before.get(s) != now.get(s))
    return f"parameter section(s) {', '.join(differ)} differ" if differ else None


def _reused_pages(manifest: dict, run_pages: list[str]) -> list[str]:
    return [
        e["name"]
        for e in manifest.get("notebooks", [])
        if e.get("status") in ("ok", "reused") and e["name"] not in run_pages
    ]


def _reuse_source(
    params: Params,
    order: list[Path],
    parent: Path,
    reuse: str | Path | None,
    progress: Callable[[str], None],
) -> Path | None:
    """The earlier complete run whose pages stand in for the pages this run does not run.

    ``reuse`` must be such a run (else :class:`ParamsError`). Without it, a run of every page
    reuses nothing, and a run of some pages the newest complete run of the same name in
    ``parent`` made from the same inputs and the same parameters its pages read.
    """
    run_pages = [p.stem for p in order]
    every_page = {p.stem for p in notebook_order()}
    if reuse is None and every_page <= set(run_pages):
        return None
    candidates = sorted(
        (p.parent for p in parent.glob(f"{params.run_name}-*/manifest.json")),
        key=_modified,
        reverse=True,
    )
    if reuse is not None or candidates:  # the demo files the run will read, for their hashes
        params = resolve_demo_paths(params, PROJECT_ROOT / "data" / "demo")
    if reuse is not None:
        earlier = Path(reuse).resolve()
        manifest = _complete_manifest(earlier)
        if manifest is None:
            raise ParamsError(
                f"--reuse {earlier}: not a complete run folder (its manifest.json must say "
                "'complete'); give the folder of a run that finished"
            )
        why = _reuse_mismatch(params, earlier, manifest, _reused_pages(manifest, run_pages))
        if why is not None:
            raise ParamsError(
                f"--reuse {earlier}: {why}, so its pages would not match this run; run every "
                "page, or reuse a run made with these inputs and parameters"
            )
        return earlier
    for earlier in candidates:
        if earlier.name.endswith("-FAILED"):
            continue
        manifest = _complete_manifest(earlier)
        if manifest is None:
            continue
        pages = _reused_pages(manifest, run_pages)
        if pages and _reuse_mismatch(params, earlier, manifest, pages) is None:
            return earlier
    progress(
        "[reuse] no earlier complete run in this folder has the same inputs and parameters: "
        "the pages not run this time are missing from this run"
    )
    return None


def _modified(folder: Path) -> float:
    """When a run folder's manifest was last written (0 if it went away meanwhile)."""
    try:
        return (folder / "manifest.json").stat().st_mtime
    except OSError:
        return 0.0


def _copy_reused_pages(earlier: Path, work: Path, run_pages: list[str]) -> list[dict]:
    """Copy into ``work`` what ``earlier``'s pages not in ``run_pages`` wrote (their own files
    and parts, ``parts/<page>/writes.txt``; the shared files are assembled afterwards), and
    give their manifest entries (status ``reused``, where from, their analyses' record)."""
    manifest = _complete_manifest(earlier) or {}
    pages = [e for e in manifest.get("notebooks", []) if e.get("status") in ("ok", "reused")]
    entries = []
    for e in pages:
        name = e["name"]
        if name in run_pages:
            continue
        writes = page_writes(earlier, name)
        for rel in (*writes, f"{name}.html", f"notebooks/{name}.ipynb"):
            if (earlier / rel).is_file():
                _copy(earlier / rel, work / rel)
        entries.append(
            {
                "name": name,
                "status": "reused",
                "reused_from": str(e.get("reused_from") or earlier),
                "writes": _page_outputs(writes),
                "analyses": e.get("analyses", {}),
            }
        )
    return entries


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
