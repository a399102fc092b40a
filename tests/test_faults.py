"""Faults as tests: a run killed or interrupted at any moment, two runs at once, a full disk.

Each case checks the same promises: no folder that lacks ``.partial`` or ``-FAILED`` in its name
unless it is complete, the raw input files unchanged (sha256 before and after), and for Ctrl-C
(SIGINT) a ``-FAILED`` folder, one clear line, a non-zero exit code and no kernel left running.

Runs go through the real command line in a subprocess (``python -m evaluation.cli run``) with
its own ``TMPDIR``, so that its kernels (their connection files live there) can be found by
their command line. A moment is hit by watching the run folder or the progress lines, then
freezing the run with SIGSTOP, checking the moment, and only then sending the signal.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import yaml
from conftest import DEFAULT_PARAMS

from evaluation.config import PROJECT_ROOT, ParamsError
from evaluation.i18n import t

#: The run's one line on Ctrl-C.
INTERRUPTED = re.compile(
    r"^interrupted \((?P<signal>SIG\w+)\): the run stopped and its kernels were shut down; "
    r"the unfinished run is in (?P<folder>\S+)$"
)
#: A small demo (4 quarters, few ballots) so that one page runs in seconds.
TINY_DEMO = {
    "demo": {
        "first_wave": "2019Q3",
        "last_wave": "2020Q2",
        "rollout_waves": ["2020Q2"],
        "ballots_min": 5,
        "ballots_max": 10,
    }
}
#: The command line, as a subprocess.
CLI = [sys.executable, "-m", "evaluation.cli"]
#: Seconds a run may take to stop or finish before the test gives up.
PATIENCE = 180


# -- helpers -----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _input_hashes(params_file: Path) -> dict[str, str]:
    """sha256 of every raw input a run reads: the params files, the registry and the data."""
    from evaluation.config import load_params
    from evaluation.prepare import resolve_demo_paths
    from evaluation.runner import _data_files

    params = resolve_demo_paths(load_params(params_file), PROJECT_ROOT / "data" / "demo")
    files = [params_file, DEFAULT_PARAMS, *params.input_files(), *_data_files(params)]
    d = params.data
    files += [p for p in (d.rollout, d.ballots, d.admin, d.costs) if p is not None]
    return {str(p): _sha256(p) for p in dict.fromkeys(files)}


def _write_params(folder: Path, name: str = "params.yaml", **tree: object) -> Path:
    """A scenario extending params/default.yaml with the tiny demo and ``tree``'s keys."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    content = {"extends": str(DEFAULT_PARAMS), **TINY_DEMO, **tree}
    path.write_text(yaml.safe_dump(content, allow_unicode=True), "utf-8")
    return path


def _assert_every_folder_marked(parent: Path) -> None:
    """No folder looks complete unless it is: every name carries ``.partial`` or ``-FAILED``,
    or the folder's manifest says complete and every output it lists has its recorded hash."""
    for folder in parent.iterdir():
        if folder.name.endswith(".partial"):
            assert folder.name.startswith("."), folder  # hidden while unfinished
            continue
        if folder.name.endswith("-FAILED"):
            # the manifest is written once, at the end: on a full disk only the name says it
            path = folder / "manifest.json"
            if path.exists():
                assert json.loads(path.read_text("utf-8"))["status"] == "failed", folder
            continue
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        assert manifest["status"] == "complete", folder
        for entry in manifest["notebooks"]:
            assert entry["status"] == "ok", (folder, entry)
            assert (folder / f"{entry['name']}.html").is_file(), (folder, entry)
        for relative, digest in manifest["outputs"].items():
            assert _sha256(folder / relative) == digest, (folder, relative)


def _kernels_of(tmpdir: Path) -> list[psutil.Process]:
    """Kernel processes started by a run whose TMPDIR is ``tmpdir`` (their connection file)."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(str(tmpdir) in part for part in cmdline) and "ipykernel_launcher" in cmdline:
            found.append(process)
    return found


class Run:
    """``evaluation run`` in a subprocess, its progress lines collected as they come."""

    def __init__(self, tmp_path: Path, params_file: Path, pages: list[str], out: Path) -> None:
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir(exist_ok=True)
        self.out = out
        self.lines: list[str] = []
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(self.tmpdir)}
        self.process = subprocess.Popen(
            # --no-cache: every page must really run (the moments below wait for its kernel)
            [*CLI, "run", str(params_file), "--out", str(out), "--no-cache", "--only", *pages],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
            start_new_session=True,  # a signal for the run never reaches pytest
        )
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def partial(self) -> Path | None:
        found = list(self.out.glob(".*.partial")) if self.out.is_dir() else []
        return found[0] if found else None

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float = PATIENCE) -> None:
        """Poll until ``ready()``, then freeze the run (SIGSTOP) so the moment holds."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise AssertionError(f"the run ended before {what}: {self.lines}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s: {self.lines}")
            time.sleep(0.01)
        self.process.send_signal(signal.SIGSTOP)

    def signal_and_wait(self, number: int) -> int:
        """Send ``number`` to the frozen run, let it go on, and wait for it to end."""
        self.process.send_signal(number)
        self.process.send_signal(signal.SIGCONT)
        self.process.wait(PATIENCE)
        self._reader.join(10)
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()
        return self.process.returncode

    def finish(self) -> int:
        self.process.wait(PATIENCE)
        self._reader.join(10)
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()
        return self.process.returncode

    def cleanup(self) -> None:
        """Stop what this test started: the run and, after SIGKILL, its orphaned kernels."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        for kernel in _kernels_of(self.tmpdir):
            kernel.kill()


@pytest.fixture
def tiny(tmp_path):
    """A tiny demo scenario, its inputs' hashes, and the runs started (cleaned up after)."""
    params_file = _write_params(tmp_path / "params")
    before = _input_hashes(params_file)  # also generates the demo data before any run
    runs: list[Run] = []

    def start(pages: list[str], out: Path | None = None) -> Run:
        run = Run(tmp_path, params_file, pages, out or tmp_path / "runs")
        runs.append(run)
        return run

    yield start, params_file, before
    for run in runs:
        run.cleanup()


def _in_prepare(run: Run) -> Callable[[], bool]:
    def ready() -> bool:
        work = run.partial()
        return bool(work and (work / "params.yaml").is_file())

    return ready


def _mid_notebook(run: Run, page: str) -> Callable[[], bool]:
    def ready() -> bool:
        work = run.partial()
        return bool(
            work and (work / "notebooks" / f"{page}.ipynb").is_file() and _kernels_of(run.tmpdir)
        )

    return ready


def _rendering(run: Run, page: str) -> Callable[[], bool]:
    """The page's notebook has run (its "done in" line) and its HTML is being written."""

    def ready() -> bool:
        lines = list(run.lines)
        begun = [i for i, line in enumerate(lines) if line.startswith(f"[1/2] {page} ")]
        return bool(begun) and any(line.startswith("  done in") for line in lines[begun[0] :])

    return ready


def _check_interrupted(
    run: Run, code: int, before: dict, params_file: Path, name: str = "SIGINT"
) -> Path:
    """The promises of Ctrl-C: exit code, one line, a -FAILED folder, no kernel, inputs intact."""
    assert code == 130, (code, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    last = [line for line in run.stderr.splitlines() if line.strip()][-1]
    found = INTERRUPTED.match(last)
    assert found and found["signal"] == name, run.stderr
    folder = Path(found["folder"])
    assert folder.parent == run.out and folder.name.endswith("-FAILED") and folder.is_dir()
    assert [p.name for p in run.out.iterdir()] == [folder.name]
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert manifest["status"] == "failed"
    assert manifest["error"] == f"interrupted by {name}"
    assert all(
        e["status"] != "ok" or (folder / f"{e['name']}.html").is_file()
        for e in manifest["notebooks"]
    )
    _assert_every_folder_marked(run.out)
    assert _kernels_of(run.tmpdir) == []
    # the kernels' sockets and connection files went with them
    assert sorted(p.name for p in run.tmpdir.iterdir()) == []
    assert _input_hashes(params_file) == before
    return folder


# -- SIGINT and SIGKILL at several moments ----------------------------------------------------


def test_sigint_mid_notebook_stops_the_run_and_its_kernel(tiny):
    start, params_file, before = tiny
    run = start(["01_data_quality", "00_summary"])
    run.wait_for("kernel running page 01", _mid_notebook(run, "01_data_quality"))
    kernels = _kernels_of(run.tmpdir)
    assert not (run.partial() / "01_data_quality.html").exists()  # the moment: mid-notebook
    code = run.signal_and_wait(signal.SIGINT)
    folder = _check_interrupted(run, code, before, params_file)
    assert all(not k.is_running() or k.status() == psutil.STATUS_ZOMBIE for k in kernels)
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert [e["status"] for e in manifest["notebooks"]] == ["failed", "skipped"]
    assert not (folder / "index.html").exists()


@pytest.mark.slow
def test_sigterm_mid_notebook_stops_the_run_like_ctrl_c(tiny):
    start, params_file, before = tiny
    run = start(["01_data_quality"])
    run.wait_for("kernel running page 01", _mid_notebook(run, "01_data_quality"))
    code = run.signal_and_wait(signal.SIGTERM)
    _check_interrupted(run, code, before, params_file, name="SIGTERM")


def test_sigint_during_prepare_gives_a_failed_folder(tiny):
    start, params_file, before = tiny
    run = start(["01_data_quality"])
    run.wait_for("the prepare step", _in_prepare(run))
    assert not (run.partial() / "prepared" / "meta.json").exists()  # the moment: preparing
    code = run.signal_and_wait(signal.SIGINT)
    folder = _check_interrupted(run, code, before, params_file)
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert [e["status"] for e in manifest["notebooks"]] == ["skipped"]


def test_sigkill_during_prepare_leaves_only_a_partial_folder(tiny):
    start, params_file, before = tiny
    run = start(["01_data_quality"])
    run.wait_for("the prepare step", _in_prepare(run))
    assert not (run.partial() / "prepared" / "meta.json").exists()
    assert run.signal_and_wait(signal.SIGKILL) == -signal.SIGKILL
    names = [p.name for p in run.out.iterdir()]
    assert len(names) == 1 and names[0].startswith(".") and names[0].endswith(".partial")
    _assert_every_folder_marked(run.out)
    assert _input_hashes(params_file) == before


@pytest.mark.slow
def test_sigkill_mid_notebook_leaves_only_a_partial_folder(tiny):
    start, params_file, before = tiny
    run = start(["01_data_quality", "00_summary"])
    run.wait_for("kernel running page 01", _mid_notebook(run, "01_data_quality"))
    assert not (run.partial() / "01_data_quality.html").exists()
    assert run.signal_and_wait(signal.SIGKILL) == -signal.SIGKILL
    names = [p.name for p in run.out.iterdir()]
    assert len(names) == 1 and names[0].endswith(".partial"), names
    _assert_every_folder_marked(run.out)
    assert _input_hashes(params_file) == before
    # Nothing can clean up after SIGKILL, but the orphaned kernel notices its parent is gone
    deadline = time.monotonic() + 20
    while _kernels_of(run.tmpdir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [k for k in _kernels_of(run.tmpdir) if k.status() != psutil.STATUS_ZOMBIE] == []


@pytest.mark.slow
@pytest.mark.parametrize("number", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_signal_while_a_page_is_rendered(tiny, number):
    start, params_file, before = tiny
    run = start(["01_data_quality", "00_summary"])
    run.wait_for("page 01 rendering", _rendering(run, "01_data_quality"))
    work = run.partial()
    assert (work / "notebooks" / "01_data_quality.ipynb").is_file()
    assert not (work / "01_data_quality.html").exists(), "the moment was missed: page written"
    code = run.signal_and_wait(number)
    if number == signal.SIGKILL:
        assert code == -signal.SIGKILL
        names = [p.name for p in run.out.iterdir()]
        assert len(names) == 1 and names[0].endswith(".partial"), names
        _assert_every_folder_marked(run.out)
        assert _input_hashes(params_file) == before
    else:
        folder = _check_interrupted(run, code, before, params_file)
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        assert manifest["notebooks"][0]["status"] == "failed"  # its page was never written
        assert (
            manifest["notebooks"][0]["error"] == "its page was not written: the run stopped first"
        )
        assert manifest["notebooks"][1]["status"] == "skipped"


# -- two runs at once ---------------------------------------------------------------------------

#: The child waits, imports done, for the go file, so both runs take their time stamp together.
_BARRIER = """
import sys, time
from pathlib import Path
import evaluation.cli, evaluation.runner
go = Path(sys.argv[1])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.002)
sys.exit(evaluation.cli.main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_two_runs_with_different_params_started_in_the_same_second(tmp_path):
    """A Vietnamese and an English run to the same --out: each complete folder holds only its
    own pages (the folder name collides; the second run takes the next suffix)."""
    out = tmp_path / "runs"
    go = tmp_path / "go"
    files = {lang: _write_params(tmp_path / lang, language=lang) for lang in ("vi", "en")}
    before = {lang: _input_hashes(path) for lang, path in files.items()}
    pages = ["01_data_quality", "02_comparison"]
    children = {
        lang: subprocess.Popen(
            [
                sys.executable,
                "-c",
                _BARRIER,
                str(go),
                "run",
                str(path),
                "--out",
                str(out),
                "--only",
                *pages,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TMPDIR": str(tmp_path)},
            start_new_session=True,
        )
        for lang, path in files.items()
    }
    try:
        for child in children.values():
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        while time.time() % 1 > 0.05:  # go at the start of a second
            time.sleep(0.005)
        go.touch()
        results = {
            lang: child.communicate(timeout=2 * PATIENCE) for lang, child in children.items()
        }
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
    for lang, child in children.items():
        assert child.returncode == 0, results[lang]
    folders = sorted(out.iterdir())
    assert len(folders) == 2
    stamps = {re.fullmatch(r"demo-(\d{8}-\d{6})(-2)?", p.name)[1] for p in folders}
    assert len(stamps) == 1, [p.name for p in folders]  # the same second: the names collided
    _assert_every_folder_marked(out)
    seen = set()
    for folder in folders:
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        lang = yaml.safe_load((folder / "params.yaml").read_text("utf-8"))["language"]
        seen.add(lang)
        assert manifest["params_file"] == str(files[lang])
        assert manifest["status"] == "complete"
        for page in pages:
            text = (folder / f"{page}.html").read_text("utf-8")
            assert f'<html lang="{lang}">' in text, (folder, page)
            assert f"<title>{t(f'pages.{page}', lang)}</title>" in text, (folder, page)
        assert f'<html lang="{lang}">' in (folder / "index.html").read_text("utf-8")
        assert sorted(p.name for p in (folder / "notebooks").iterdir()) == [
            f"{p}.ipynb" for p in pages
        ]
    assert seen == {"vi", "en"}
    for lang, path in files.items():
        assert _input_hashes(path) == before[lang]


# -- a full disk --------------------------------------------------------------------------------


def _disk_full(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_while_preparing_gives_a_failed_folder_and_the_fix(tmp_path, monkeypatch):
    from evaluation import runner

    params_file = _write_params(tmp_path / "params")
    before = _input_hashes(params_file)
    monkeypatch.setattr(runner, "save_prepared", _disk_full)
    lines: list[str] = []
    result = runner.run(
        params_file,
        out=tmp_path / "runs",
        notebooks=["01_data_quality"],
        progress=lines.append,
        cache=False,  # the data must be prepared here, not copied from another test's cache
    )
    assert result.ok is False
    assert result.run_dir.name.endswith("-FAILED") and result.run_dir.is_dir()
    assert result.message == lines[-1]
    assert "Errno" not in result.message and "OSError" not in result.message
    assert f"the disk holding {tmp_path / 'runs'} is full" in result.message
    assert str(result.run_dir) in result.message
    assert "Free some space" in result.message and "--out" in result.message
    manifest = json.loads((result.run_dir / "manifest.json").read_text("utf-8"))
    assert manifest["status"] == "failed"
    _assert_every_folder_marked(tmp_path / "runs")
    assert _input_hashes(params_file) == before


def test_a_full_disk_while_writing_a_page_never_marks_it_ok(tmp_path, monkeypatch):
    """The page's HTML cannot be written: the page is "failed", the run ``-FAILED``, and the
    manifest still tells (it could be written: only the page's file hit the full disk)."""
    from evaluation import runner
    from evaluation.report import render

    params_file = _write_params(tmp_path / "params")
    before = _input_hashes(params_file)
    real_write = render.write_text

    def write_text(text: str, target: Path) -> Path:
        if Path(target).suffix == ".html":
            _disk_full()
        return real_write(text, target)

    monkeypatch.setattr(render, "write_text", write_text)

    def execute(notebook: Path, target: Path, timeout: int | None, *_: object) -> None:
        shutil.copyfile(notebook, target)  # the page's template stands in for its execution

    monkeypatch.setattr(runner, "_execute_notebook", execute)
    lines: list[str] = []
    result = runner.run(
        params_file,
        out=tmp_path / "runs",
        notebooks=["01_data_quality", "00_summary"],
        progress=lines.append,
        cache=False,  # the page must be written, not copied from another test's page cache
    )
    assert result.ok is False
    assert result.run_dir.name.endswith("-FAILED")
    assert f"the disk holding {tmp_path / 'runs'} is full" in result.message
    assert str(result.run_dir) in result.message
    manifest = json.loads((result.run_dir / "manifest.json").read_text("utf-8"))
    statuses = {e["name"]: e["status"] for e in manifest["notebooks"]}
    assert statuses == {"01_data_quality": "failed", "00_summary": "skipped"}
    assert "could not be written" in manifest["notebooks"][0]["error"]
    assert not (result.run_dir / "01_data_quality.html").exists()
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [result.run_dir.name]
    assert _input_hashes(params_file) == before


def _can_mount_tmpfs(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.slow
def test_a_real_full_disk_gives_a_failed_folder_and_the_fix(tiny, tmp_path):
    """A 640 KB tmpfs as --out: the prepared data fit, the first page does not."""
    disk = tmp_path / "disk"
    if not _can_mount_tmpfs(disk):
        pytest.skip("mounting a tmpfs needs root rights here")
    try:
        start, params_file, before = tiny
        run = start(["01_data_quality"], out=disk)
        code = run.finish()
        assert code == 1, (run.lines, run.stderr)
        assert "Traceback" not in run.stderr, run.stderr
        message = run.lines[-1]
        assert message.startswith(f"FAILED: the disk holding {disk} is full"), run.lines
        assert "Free some space" in message
        folders = list(disk.iterdir())
        assert len(folders) == 1 and folders[0].name.endswith("-FAILED"), folders
        assert str(folders[0]) in message
        _assert_every_folder_marked(disk)
        assert _kernels_of(run.tmpdir) == []
        assert _input_hashes(params_file) == before
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


# -- bad parameters never touch the disk --------------------------------------------------------


def test_params_with_a_python_object_are_refused_and_never_executed(tmp_path):
    marker = tmp_path / "executed"
    params_file = tmp_path / "evil.yaml"
    params_file.write_text(
        f'extends: {DEFAULT_PARAMS}\nrun_name: !!python/object/apply:os.system ["touch {marker}"]\n',
        "utf-8",
    )
    done = subprocess.run(
        [*CLI, "run", str(params_file), "--out", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{params_file}: not valid YAML" in done.stderr
    assert "python/object/apply:os.system" in done.stderr
    assert not marker.exists()
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("notebooks", "overrides", "refusal"),
    [
        (["../../../tmp/escape"], {}, r"--only names \['../../../tmp/escape'\]"),
        (["01_data_quality", "../notebooks/00_summary"], {}, r"not in notebooks/"),
        (None, {"run_name": "../escape"}, r"run_name"),
        (None, {"run_name": "/tmp/escape"}, r"run_name"),
        (None, {"report": {"notebooks": ["../../x"]}}, r"--only names \['../../x'\]"),
    ],
    ids=["only-parent", "only-path", "run-name-parent", "run-name-absolute", "report-notebooks"],
)
def test_no_output_path_escapes_the_run_folder(tmp_path, notebooks, overrides, refusal):
    """A notebook name or run name that is a path is refused before any folder is made."""
    from evaluation.runner import run

    params_file = _write_params(tmp_path / "params")
    out = tmp_path / "runs"
    with pytest.raises(ParamsError, match=refusal):
        run(params_file, out=out, notebooks=notebooks, overrides=overrides, progress=print)
    assert not out.exists() or list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params"]


def test_out_that_is_a_file_is_refused_on_the_command_line(tmp_path):
    params_file = _write_params(tmp_path / "params")
    target = tmp_path / "a-file"
    target.write_text("not a folder", "utf-8")
    done = subprocess.run(
        [*CLI, "run", str(params_file), "--out", str(target)],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"--out {target} is a file; give a folder for the run folders" in done.stderr
    assert target.read_text("utf-8") == "not a folder"


def test_a_run_renames_only_its_own_folder(tmp_path):
    """Should another run have taken the final name meanwhile (even as an empty folder, which
    rename(2) would silently replace), the run takes a numbered name instead."""
    from evaluation.runner import _rename_own

    other = tmp_path / "demo-20261129-101500-FAILED"
    (other / "notebooks").mkdir(parents=True)
    empty = tmp_path / "demo-20261129-101501"
    empty.mkdir()
    mine = tmp_path / ".demo-20261129-101500.partial"
    (mine / "notebooks").mkdir(parents=True)
    (mine / "manifest.json").write_text("{}", "utf-8")
    final = _rename_own(mine, tmp_path, "demo-20261129-101500", failed=True)
    assert final.name == "demo-20261129-101500-2-FAILED"
    assert (final / "manifest.json").is_file() and not (other / "manifest.json").exists()
    second = tmp_path / ".demo-20261129-101501.partial"
    second.mkdir()
    assert _rename_own(second, tmp_path, "demo-20261129-101501").name == "demo-20261129-101501-2"
    assert empty.is_dir() and not mine.exists() and not second.exists()


def test_kernel_sockets_go_where_their_path_fits(monkeypatch, tmp_path):
    """A long temporary folder (deep pytest folders, macOS's TMPDIR) must not stop the kernel
    from binding its IPC socket (at most 107 bytes): the sockets then go to /tmp."""
    import tempfile

    from evaluation import kernels

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert kernels._ipc_parent() == str(tmp_path) or len(str(tmp_path)) > 70
    deep = tmp_path / ("x" * 90)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    assert kernels._ipc_parent() == "/tmp"
