"""Notebook kernels for a run: started and warmed ahead of need, one fresh kernel per page.

A page's kernel spends about 3 s importing pandas, statsmodels, matplotlib and the report
modules before its first cell does any work. A :class:`KernelPool` starts kernels in the
background and imports, in each, every module the notebooks import (read from the notebooks
themselves), so that a page handed to a kernel starts at once; pages can run side by side, each
in its own kernel. A kernel serves one page and is then shut down: no page sees another's
variables.

Kernels talk over IPC sockets in a private temporary folder (no TCP ports to collide when runs
go in parallel) that goes with the kernel. A run stopped by a signal kills every kernel's
process group (:meth:`KernelPool.kill`).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import shutil
import signal
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

#: Longest IPC socket path the kernel can bind (sockaddr_un.sun_path is 108 bytes with its NUL).
_IPC_PATH_MAX = 107
#: Seconds a kernel may take to start and import the notebooks' modules.
START_TIMEOUT = 120


def _ipc_parent() -> str | None:
    """Where a kernel's IPC sockets go: the temporary folder, unless its path is so long that a
    socket path in it (``.../evaluation-kernel-XXXXXXXX/ipc-NN``) would not fit; then ``/tmp``."""
    base = tempfile.gettempdir()
    longest = len(os.path.join(base, "evaluation-kernel-xxxxxxxx", "ipc-99"))
    return base if longest <= _IPC_PATH_MAX or not os.path.isdir("/tmp") else "/tmp"


def _ipc_kernel_manager() -> type:
    """A kernel manager on IPC sockets whose folder is removed with the kernel."""
    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.transport = "ipc"
            self._ipc_folder = Path(
                tempfile.mkdtemp(prefix="evaluation-kernel-", dir=_ipc_parent())
            )
            self.ip = str(self._ipc_folder / "ipc")

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:  # the IPC sockets' folder goes with the kernel
                shutil.rmtree(self._ipc_folder, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources

    return IpcKernelManager


def notebook_imports(notebooks: list[Path]) -> list[str]:
    """Modules the notebooks import (``import x`` and ``from x import y``, with ``x.y`` when it
    is a module), for a kernel to import before it is given a page."""
    found: dict[str, None] = {}
    pattern = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import\s+([\w\s,()]+)|import\s+([\w.]+))")
    for path in notebooks:
        try:
            cells = json.loads(path.read_text("utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        for cell in cells:
            if cell.get("cell_type") != "code":
                continue
            for line in "".join(cell.get("source", "")).splitlines():
                match = pattern.match(line)
                if match is None:
                    continue
                if match.group(3):
                    found[match.group(3)] = None
                    continue
                found[match.group(1)] = None
                for item in match.group(2).strip("() ").split(","):
                    name = item.split(" as ")[0].strip()
                    if name.isidentifier():
                        found[f"{match.group(1)}.{name}"] = None
    return list(found)


def _warm_code(modules: list[str]) -> str:
    """Import ``modules`` (names that are not modules are skipped), leaving no name behind."""
    return (
        "def __evaluation_warm(names):\n"
        "    import importlib\n"
        "    for name in names:\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "        except ImportError:\n"
        "            pass\n"
        f"__evaluation_warm({modules!r})\n"
        "del __evaluation_warm\n"
    )


def _page_code(env: dict[str, str], cwd: Path) -> str:
    """Give the kernel the page's environment and working folder, leaving no name behind."""
    return f"import os as __os\n__os.environ.update({env!r})\n__os.chdir({str(cwd)!r})\ndel __os\n"


class KernelError(RuntimeError):
    """A kernel could not start or warm up (the message says why)."""


@dataclass
class PageJob:
    """A page for a warm kernel: the notebook, where its executed copy goes, its environment."""

    notebook: Path
    target: Path
    timeout: int | None
    env: dict[str, str]


#: Environment variables that set the threads of numpy's linear algebra libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_environment(threads: int | None) -> dict[str, str]:
    """The linear-algebra threads of a kernel: ``threads`` unless the user set them already (pages
    side by side must not each start as many threads as the machine has cores)."""
    if threads is None:
        return {}
    return {name: str(threads) for name in THREAD_VARIABLES if name not in os.environ}


class PageKernel:
    """One kernel, started and warmed in its own thread, that executes one page and stops."""

    def __init__(self, name: str, modules: list[str], threads: int | None = None) -> None:
        self.name = name
        self.modules = modules
        self.threads = threads
        self.manager: object | None = None
        self.ready = threading.Event()
        self.finished = threading.Event()
        self.killed = threading.Event()
        self.error: BaseException | None = None
        self.warm_seconds = float("nan")
        self._jobs: queue.Queue[PageJob | None] = queue.Queue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def execute(self, job: PageJob) -> None:
        """Execute ``job`` in this kernel (blocks until done); raises what the page raised."""
        self._jobs.put(job)
        while not self.finished.wait(0.2):
            pass
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Stop a kernel that will not be given a page."""
        self._jobs.put(None)

    def _main(self) -> None:
        from jupyter_core.utils import run_sync

        try:
            started = time.perf_counter()
            manager = _ipc_kernel_manager()()
            self.manager = manager
            run_sync(manager.start_kernel)(env={**os.environ, **thread_environment(self.threads)})
            self._run_code(_warm_code(self.modules), wait_ready=True)
            self.warm_seconds = time.perf_counter() - started
            self.ready.set()
            job = self._jobs.get()
            if job is not None:
                self._execute(manager, job)
        except BaseException as err:  # handed to the thread that waits for the page
            self.error = err
        finally:
            self.ready.set()
            self._shutdown()
            self.finished.set()

    def _run_code(self, code: str, wait_ready: bool = False) -> None:
        """Run ``code`` silently in this kernel through a client of its own."""
        from jupyter_core.utils import run_sync

        client = self.manager.client()  # type: ignore[union-attr]
        client.start_channels()
        try:
            if wait_ready:
                run_sync(client.wait_for_ready)(timeout=START_TIMEOUT)
            _run_silently(client, code, self.killed)
        finally:
            client.stop_channels()

    def _execute(self, manager: object, job: PageJob) -> None:
        import papermill as pm

        self._run_code(_page_code(job.env, job.target.parent))
        # The page's notebook is written when it starts (the template) and when it ends, not
        # after every cell: rewriting a notebook full of images after each cell cost seconds.
        shutil.copyfile(job.notebook, job.target)
        pm.execute_notebook(
            str(job.notebook),
            str(job.target),
            parameters={"run_dir": ".."},
            kernel_name="python3",
            execution_timeout=job.timeout,
            progress_bar=False,
            request_save_on_cell_execute=False,
            km=manager,
        )

    def _shutdown(self) -> None:
        manager = self.manager
        if manager is None:
            return
        from jupyter_core.utils import run_sync

        log = logging.getLogger("traitlets")
        with suppress(Exception):
            if manager.has_kernel:  # type: ignore[attr-defined]
                was, log.disabled = log.disabled, True
                try:
                    run_sync(manager.shutdown_kernel)(now=True)  # type: ignore[attr-defined]
                finally:
                    log.disabled = was
        kill_kernel(manager)

    def kill(self) -> None:
        """Kill the kernel's process group (a run stopped by a signal)."""
        self.killed.set()
        if self.manager is not None:
            kill_kernel(self.manager)
        self._jobs.put(None)


def _run_silently(client: object, code: str, killed: threading.Event | None = None) -> None:
    """Execute ``code`` without output or history; raise :class:`KernelError` if it fails, if
    the kernel does not answer within :data:`START_TIMEOUT` or once ``killed`` is set."""
    from jupyter_core.utils import run_sync

    msg_id = client.execute(code, silent=True, store_history=False, allow_stdin=False)  # type: ignore[attr-defined]
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if killed is not None and killed.is_set():
            raise KernelError("the kernel was stopped")
        if time.monotonic() > deadline:
            raise KernelError(f"the kernel did not answer within {START_TIMEOUT} s")
        try:  # short waits: a kernel killed meanwhile never answers
            reply = run_sync(client.get_shell_msg)(timeout=0.5)  # type: ignore[attr-defined]
        except queue.Empty:
            continue
        if reply.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        content = reply.get("content", {})
        if content.get("status") != "ok":
            raise KernelError(
                f"the kernel could not prepare: {content.get('ename')}: {content.get('evalue')}"
            )
        return


def kill_kernel(manager: object) -> None:
    """Kill a kernel's process group and remove its sockets and connection file."""
    provisioner = getattr(manager, "provisioner", None)
    pgid = getattr(provisioner, "pgid", None)
    pid = getattr(provisioner, "pid", None)
    try:
        if pgid:
            os.killpg(pgid, signal.SIGKILL)
        elif pid:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone
    shutil.rmtree(getattr(manager, "_ipc_folder", ""), ignore_errors=True)
    with suppress(OSError, TypeError):
        os.remove(manager.connection_file)  # type: ignore[attr-defined]


class KernelPool:
    """Kernels started ahead of need, each warmed with the notebooks' imports.

    Parameters
    ----------
    modules : list of str
        Modules each kernel imports before it is given a page (:func:`notebook_imports`).
    threads : int, optional
        Linear-algebra threads of each kernel (:func:`thread_environment`); None leaves them.
    """

    def __init__(self, modules: list[str], threads: int | None = None) -> None:
        self.modules = modules
        self.threads = threads
        self._idle: list[PageKernel] = []
        self._all: list[PageKernel] = []
        self._count = 0
        self._lock = threading.Lock()

    def prewarm(self, n: int) -> None:
        """Have at least ``n`` kernels started or starting that no page has taken yet."""
        with self._lock:
            while len(self._idle) < n:
                self._idle.append(self._new())

    def take(self) -> PageKernel:
        """A kernel for one page (the one warming longest, or a new one)."""
        with self._lock:
            kernel = self._idle.pop(0) if self._idle else self._new()
        return kernel

    def _new(self) -> PageKernel:
        self._count += 1
        kernel = PageKernel(
            f"evaluation-kernel-{id(self):x}-{self._count}", self.modules, self.threads
        )
        self._all.append(kernel)
        return kernel

    def close(self, wait: float = 30.0) -> None:
        """Stop the kernels that have no page to run and wait until every kernel has stopped."""
        with self._lock:
            self._idle = []
        for kernel in self._all:  # a kernel taken but never given its page stops too
            kernel.close()
        deadline = time.monotonic() + wait
        for kernel in self._all:
            kernel.finished.wait(max(0.0, deadline - time.monotonic()))

    def kill(self, wait: float = 30.0) -> None:
        """Kill every kernel (a run stopped by a signal) and wait for their threads to end.

        papermill's log is muted meanwhile: its "Kernel died" error is the intended outcome
        here, and the user gets one line saying the run was interrupted.
        """
        log = logging.getLogger("papermill")
        was_disabled, log.disabled = log.disabled, True
        try:
            deadline = time.monotonic() + wait
            while True:
                for kernel in self._all:
                    kernel.kill()
                if all(k.finished.wait(0.2) for k in self._all) or time.monotonic() > deadline:
                    break
            _kill_children()
            for kernel in self._all:  # when a thread could not clean up in time
                if kernel.manager is not None:
                    kill_kernel(kernel.manager)
        finally:
            log.disabled = was_disabled


def _kill_children(wait: float = 5.0) -> None:
    """Kill every process this run started that is still alive (a kernel caught while it was
    starting has no process group known yet) and wait for them, so that none outlives the run
    or prints after its last line."""
    import psutil  # a dependency of ipykernel

    children = psutil.Process().children(recursive=True)
    for child in children:
        with suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=wait)
