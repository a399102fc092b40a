"""Scenario sweeps on Dask: ``evaluation sweep SWEEP.yaml``.

A sweep file names a base parameter file and either a ``grid:`` (dotted key -> list of values;
every combination is a scenario) or a list of ``scenarios:`` (a name and its overrides)::

    name: budget_conditions          # optional: prefix of the sweep folder (default: file name)
    base: ../default.yaml            # read from the sweep file's folder
    overrides:                       # optional: applied to every scenario
      report.notebooks: [06_scaling, 00_summary]
    grid:
      scaling.budget_vnd: [500000000, 1000000000]
      scaling.conditions.min_condolence_on_time: [0.35, 0.5]

Every key and every scenario is validated (:func:`load_sweep`) before anything runs. Each
scenario is one whole :func:`evaluation.runner.run`, submitted as one Dask task
(``client.map``) into its own subfolder of one sweep folder. By default the tasks run on a
``distributed.LocalCluster`` sized to the machine; with ``scheduler=`` (``--scheduler``) or the
environment variable ``DASK_SCHEDULER_ADDRESS`` the same sweep runs on an existing cluster
(whose workers must see this project and the ``--out`` folder: a shared file system). Only
small results travel back: each scenario's status, run folder and the numbers its pages wrote.

The sweep folder is built as ``<out>/.<name>-<time>.partial`` and renamed ``<name>-<time>`` once
every scenario has ended and ``scenarios.csv``, ``scenarios.xlsx``, ``sweep.html`` and
``sweep.json`` are written; an interrupted or crashed sweep is renamed ``-FAILED`` and a killed
one stays ``.partial``. A failed scenario is one ``failed`` row with its error (its run folder is
the runner's ``-FAILED`` one); the others carry on.

REQUIRES: a sweep YAML file and the base params file (and its inputs) it names.
CREATES: ``<out>/<name>-<time>/`` with one subfolder per scenario (its run folder and
``progress.log``), ``scenarios.csv``, ``scenarios.xlsx``, ``sweep.html``, ``figures/`` and
``sweep.json``.
"""

from __future__ import annotations

import difflib
import itertools
import json
import logging
import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from evaluation.config import (
    PROJECT_ROOT,
    Params,
    ParamsError,
    load_params,
    read_params_tree,
)
from evaluation.i18n import Language, t
from evaluation.report.sweep_page import BUDGET_KEY

__all__ = [
    "SCENARIO_COLUMNS",
    "Scenario",
    "ScenarioTask",
    "Sweep",
    "SweepError",
    "SweepInterrupted",
    "SweepResult",
    "check_key",
    "flat_keys",
    "load_sweep",
    "nest",
    "param_keys",
    "run_scenario",
    "run_sweep",
]

#: Keys a sweep file may have.
SWEEP_KEYS = ("name", "base", "overrides", "grid", "scenarios")
#: Keys of one entry of ``scenarios:``.
SCENARIO_KEYS = ("name", "overrides")
#: A scenario's name becomes a folder name.
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
#: The numbers read from each scenario's pages (keys of ``run_comparison.RESULT_ROWS``), in the
#: order of the scenario table.
SCENARIO_COLUMNS = (
    "effect_estimate",
    "plan_n_communes",
    "plan_communes",
    "plan_cost_vnd",
    "plan_gain_per_year",
    "plan_unspent_vnd",
)
#: How long to try reaching an existing scheduler.
CONNECT_TIMEOUT = "20s"
#: Environment variable naming an existing Dask scheduler (Dask's own convention).
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


class SweepError(ParamsError):
    """A sweep file that cannot be used; the message (in the base params' language) names the
    key and, for a misspelt one, the nearest valid key."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a sweep; its folder was renamed ``-FAILED``. ``str()`` is the
    one line to show the user."""

    def __init__(self, message: str, folder: Path) -> None:
        super().__init__(message)
        self.folder = folder


# -- the sweep file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One run of the sweep.

    Attributes
    ----------
    name : str
        Its folder's name inside the sweep folder.
    overrides : dict
        Dotted key -> value, the scenario's own (the table's columns).
    """

    name: str
    overrides: dict[str, Any]


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file.

    Attributes
    ----------
    path : Path
        The sweep file.
    name : str
        Prefix of the sweep folder.
    base : Path
        The base params file (absolute).
    common : dict
        Dotted overrides applied to every scenario (``overrides:``).
    scenarios : list of Scenario
    varied : list of str
        The dotted keys that differ between scenarios, in the file's order.
    language : str
        The base params' language (of the page, the table headers and messages).
    params : dict
        Scenario name -> its validated :class:`~evaluation.config.Params`.
    """

    path: Path
    name: str
    base: Path
    common: dict[str, Any]
    scenarios: list[Scenario]
    varied: list[str]
    language: Language
    params: dict[str, Params] = field(repr=False)

    def overrides(self, scenario: Scenario) -> dict:
        """The nested overrides of one scenario (common ones first) for ``load_params``."""
        return nest({**self.common, **scenario.overrides})


def nest(dotted: dict[str, Any]) -> dict:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (the form :func:`load_params` merges)."""
    tree: dict = {}
    for key, value in dotted.items():
        node = tree
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return tree


def flat_keys(tree: dict, prefix: str = "") -> dict[str, Any]:
    """Nested mappings of an ``overrides:`` block -> dotted keys (values that are lists stay)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat_keys(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (``Model``, ``Model | None``), else None."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_mapping(annotation: Any) -> bool:
    """A free mapping (``dict[str, Any]``, optional or not): any sub-key is the data's own."""
    return any(
        candidate is dict or get_origin(candidate) is dict
        for candidate in (annotation, *get_args(annotation))
    )


def param_keys(model: type[BaseModel] = Params, prefix: str = "") -> list[str]:
    """Every dotted key of :class:`~evaluation.config.Params` (sections and values)."""
    keys = []
    for name, info in model.model_fields.items():
        dotted = f"{prefix}{name}"
        keys.append(dotted)
        inner = _model_of(info.annotation)
        if inner is not None:
            keys.extend(param_keys(inner, dotted + "."))
    return keys


def _nearest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return close[0] if close else None


def check_key(key: str, source: str, language: Language) -> None:
    """Refuse a dotted key that is not a key of the parameters (naming the nearest valid one).

    Below a free mapping (``scaling.conditions``, ``harmonise.manual_mappings``) any name is
    allowed: its entries are checked when the scenario's parameters are validated or its run
    reads them.
    """
    model: type[BaseModel] | None = Params
    parts = key.split(".")
    for depth, part in enumerate(parts):
        fields = model.model_fields if model is not None else {}
        if part not in fields:
            nearest = _nearest(key, param_keys()) or "–"
            raise SweepError(
                t("sweep.error.unknown_param", language, source=source, param=key, nearest=nearest)
            )
        annotation = fields[part].annotation
        if _is_mapping(annotation):
            return
        model = _model_of(annotation)
        if model is None and depth < len(parts) - 1:
            raise SweepError(
                t(
                    "sweep.error.not_a_section",
                    language,
                    source=source,
                    param=key,
                    section=".".join(parts[: depth + 1]),
                )
            )


def _language_of(base: Path | None) -> Language:
    """The base params' language (``vi`` when it cannot be read yet)."""
    if base is None:
        return "vi"
    try:
        language = read_params_tree(base).get("language", "vi")
    except ParamsError:
        return "vi"
    return language if language in ("vi", "en") else "vi"


def _read_yaml(path: Path) -> dict:
    """The sweep file's mapping (its YAML errors as :class:`SweepError`)."""
    import yaml

    if not path.is_file():
        raise SweepError(t("sweep.error.not_found", "vi", path=path))
    try:
        tree = yaml.safe_load(path.read_text("utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise SweepError(t("sweep.error.not_yaml", "vi", path=path, error=err)) from None
    if not isinstance(tree, dict):
        raise SweepError(t("sweep.error.not_mapping", "vi", path=path))
    return tree


def _grid_scenarios(grid: Any, source: str, language: Language) -> list[Scenario]:
    if not isinstance(grid, dict) or not grid:
        raise SweepError(t("sweep.error.grid_empty", language, source=source))
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SweepError(t("sweep.error.grid_values", language, source=source, param=key))
    keys = list(grid)
    scenarios = []
    for number, combo in enumerate(itertools.product(*(grid[k] for k in keys)), 1):
        label = "_".join(
            f"{k.rsplit('.', 1)[-1]}-{_value_label(v)}" for k, v in zip(keys, combo, strict=True)
        )
        scenarios.append(Scenario(f"{number:02d}_{label}", dict(zip(keys, combo, strict=True))))
    return scenarios


def _value_label(value: Any) -> str:
    """A value as it may appear in a folder name (``1e+09`` -> ``1000000000``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
        value = int(value)
    return re.sub(r"[^A-Za-z0-9.]+", "-", str(value)).strip("-") or "x"


def _listed_scenarios(entries: Any, source: str, language: Language) -> list[Scenario]:
    if not isinstance(entries, list) or not entries:
        raise SweepError(t("sweep.error.scenarios_empty", language, source=source))
    scenarios: list[Scenario] = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or "name" not in entry:
            raise SweepError(t("sweep.error.scenario_shape", language, source=source, n=number))
        unknown = [k for k in entry if k not in SCENARIO_KEYS]
        if unknown:
            raise SweepError(
                t(
                    "sweep.error.unknown_key",
                    language,
                    source=source,
                    param=f"scenarios[{number}].{unknown[0]}",
                    nearest=_nearest(str(unknown[0]), list(SCENARIO_KEYS)) or "–",
                    valid=", ".join(SCENARIO_KEYS),
                )
            )
        name = str(entry["name"])
        if not _NAME.match(name):
            raise SweepError(t("sweep.error.scenario_name", language, source=source, name=name))
        if any(s.name == name for s in scenarios):
            raise SweepError(t("sweep.error.scenario_twice", language, source=source, name=name))
        overrides = entry.get("overrides") or {}
        if not isinstance(overrides, dict):
            raise SweepError(
                t("sweep.error.overrides_mapping", language, source=source, where=name)
            )
        scenarios.append(Scenario(name, flat_keys(overrides)))
    return scenarios


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file: its keys, every dotted key, and every scenario's
    parameters (``load_params(base, overrides)``), before anything runs.

    Raises
    ------
    SweepError
        The first problem found, naming the key (and the nearest valid key when misspelt) or
        the scenario whose parameters are refused.
    """
    path = Path(path)
    tree = _read_yaml(path)
    source = str(path)
    base_value = tree.get("base")
    base = (path.resolve().parent / str(base_value)).resolve() if base_value else None
    language = _language_of(base)
    unknown = [k for k in tree if k not in SWEEP_KEYS]
    if unknown:
        raise SweepError(
            t(
                "sweep.error.unknown_key",
                language,
                source=source,
                param=unknown[0],
                nearest=_nearest(str(unknown[0]), list(SWEEP_KEYS)) or "–",
                valid=", ".join(SWEEP_KEYS),
            )
        )
    if base is None:
        raise SweepError(t("sweep.error.no_base", language, source=source))
    if not base.is_file():
        raise SweepError(t("sweep.error.base_missing", language, source=source, base=base))
    if ("grid" in tree) == ("scenarios" in tree):
        raise SweepError(t("sweep.error.grid_or_scenarios", language, source=source))
    common = tree.get("overrides") or {}
    if not isinstance(common, dict):
        raise SweepError(
            t("sweep.error.overrides_mapping", language, source=source, where="overrides")
        )
    common = flat_keys(common)
    if "grid" in tree:
        scenarios = _grid_scenarios(tree["grid"], source, language)
    else:
        scenarios = _listed_scenarios(tree["scenarios"], source, language)
    for key in [*common, *(k for s in scenarios for k in s.overrides)]:
        check_key(key, source, language)
    name = str(tree.get("name") or path.stem)
    if not _NAME.match(name):
        raise SweepError(t("sweep.error.sweep_name", language, source=source, name=name))
    sweep = Sweep(
        path=path.resolve(),
        name=name,
        base=base,
        common=common,
        scenarios=scenarios,
        varied=list(dict.fromkeys(k for s in scenarios for k in s.overrides)),
        language=language,
        params={},
    )
    for scenario in scenarios:
        try:
            sweep.params[scenario.name] = load_params(base, sweep.overrides(scenario))
        except ParamsError as err:
            raise SweepError(
                t("sweep.error.scenario_invalid", language, name=scenario.name, error=err)
            ) from None
    # the page's language: the base params' (or the one every scenario is given)
    language = common.get("language", language)
    return Sweep(**{**sweep.__dict__, "language": language if language in ("vi", "en") else "vi"})


# -- one scenario, on a worker ----------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioTask:
    """What a worker needs to run one scenario (small and picklable).

    Attributes
    ----------
    name : str
    params_file : str
        The base params file (absolute).
    overrides : dict
        Nested overrides (common and the scenario's).
    folder : str
        The scenario's subfolder of the sweep folder (absolute): the run's ``--out``.
    language : str
        Of the error sentences.
    run_options : dict
        More keyword arguments of :func:`evaluation.runner.run` (none by default: each run
        uses the runner's own defaults, its result cache included).
    """

    name: str
    params_file: str
    overrides: dict
    folder: str
    language: Language = "vi"
    run_options: dict = field(default_factory=dict)


class _Log:
    """The runner's progress lines, appended to the scenario's ``progress.log``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, line: str) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{datetime.now():%H:%M:%S} {line}\n")


def run_scenario(task: ScenarioTask) -> dict[str, Any]:
    """Run one scenario (on a Dask worker) and return its small result.

    The run goes into ``task.folder`` (the runner claims its own ``.partial`` folder there and
    renames it complete or ``-FAILED``); the numbers come from what its pages wrote
    (:func:`evaluation.analysis.board.collect`). Nothing raises: a failure is ``status:
    failed`` with its error, so one scenario never spoils the others.

    Returns
    -------
    dict
        ``name, status (complete | failed), run_dir (absolute or None), error, seconds,
        worker`` and the :data:`SCENARIO_COLUMNS` values (None where a page gave none).
    """
    import socket

    from evaluation.runner import run

    folder = Path(task.folder)
    folder.mkdir(parents=True, exist_ok=True)
    log = _Log(folder / "progress.log")
    started = time.perf_counter()
    out: dict[str, Any] = {
        "name": task.name,
        "status": "failed",
        "run_dir": None,
        "error": "",
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "effect_outcome": None,
        **dict.fromkeys(SCENARIO_COLUMNS),
    }
    try:
        result = run(
            task.params_file,
            out=folder,
            overrides=task.overrides,
            progress=log,
            **task.run_options,
        )
        out["run_dir"] = str(result.run_dir)
        if result.ok:
            out.update(_scenario_values(result.run_dir))
            out["status"] = "complete"
        else:
            out["error"] = result.message or "the run failed; see its manifest.json"
    except KeyboardInterrupt as err:  # the runner renamed its folder -FAILED first
        out["error"] = str(err) or "interrupted"
    except ParamsError as err:  # a parameter its data refuse (a window the data do not have)
        out["error"] = str(err)
    except Exception as err:  # reported as this scenario's failure, never the sweep's
        out["error"] = t(
            "sweep.error.run_crashed", task.language, error=f"{type(err).__name__}: {err}"
        )
    if out["status"] != "complete":
        log(f"FAILED: {out['error']}")
        if out["run_dir"] is None:  # the runner renamed its own folder -FAILED before raising
            failed = sorted(folder.glob("*-FAILED"))
            out["run_dir"] = str(failed[-1]) if failed else None
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _scenario_values(run_dir: Path) -> dict[str, Any]:
    """The :data:`SCENARIO_COLUMNS` of one complete run, as its pages show them."""
    import yaml

    from evaluation.analysis import board
    from evaluation.analysis.run_comparison import result_values

    tree = yaml.safe_load((run_dir / "params.yaml").read_text("utf-8")) or {}
    years = int(((tree.get("scaling") or {}).get("horizon_years")) or 1)
    outputs = board.collect(run_dir)
    values = result_values(outputs, years)
    return {
        **{key: values[key] for key in SCENARIO_COLUMNS},
        "effect_outcome": outputs.headline.get("outcome"),
    }


# -- the sweep, on the client -----------------------------------------------------------------


@dataclass
class SweepResult:
    """What a sweep produced.

    Attributes
    ----------
    folder : Path
        The sweep folder (renamed complete, or ``-FAILED`` when the sweep itself failed).
    rows : list of dict
        One per scenario, in the sweep file's order (see :func:`run_scenario`; ``run_dir``
        relative to ``folder``).
    page : Path or None
        ``sweep.html``.
    """

    folder: Path
    rows: list[dict[str, Any]]
    page: Path | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The rows of scenarios that did not complete."""
        return [r for r in self.rows if r["status"] != "complete"]

    @property
    def ok(self) -> bool:
        """Every scenario completed."""
        return not self.failed


@contextmanager
def _signals_stop_the_sweep() -> Iterator[None]:
    """SIGTERM stops the sweep like Ctrl-C (a KeyboardInterrupt in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def scheduler_address(scheduler: str | None) -> str | None:
    """``--scheduler``, else ``DASK_SCHEDULER_ADDRESS``, else None (a local cluster)."""
    return scheduler or os.environ.get(SCHEDULER_ENV) or None


@contextmanager
def dask_client(
    n_scenarios: int,
    scheduler: str | None = None,
    workers: int | None = None,
    language: Language = "vi",
) -> Iterator[tuple[Any, str]]:
    """A Dask client and a description of where it runs (for the manifest and the page).

    Without an address: a ``LocalCluster`` of ``min(scenarios, cores)`` single-threaded worker
    processes (or ``workers``), closed at the end. Worker processes are not daemonic so that a
    run may start processes of its own (notebook kernels, analysis workers).
    """
    import dask
    from distributed import Client, LocalCluster

    address = scheduler_address(scheduler)
    if address:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as err:
            raise SweepError(
                t("sweep.error.no_scheduler", language, address=address, error=err)
            ) from None
        try:
            yield client, address
        finally:
            client.close()
        return
    n = workers or max(1, min(n_scenarios, os.cpu_count() or 1))
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit=0,  # a whole run per task: no memory-based pausing or restarts
            silence_logs=logging.ERROR,
        )
    client = Client(cluster)
    try:
        yield client, f"LocalCluster({n} × 1)"
    finally:
        client.close()
        cluster.close()


def _claim(parent: Path, base: str) -> tuple[str, Path]:
    """A sweep name and its ``.partial`` folder, created exclusively."""
    suffix = 1
    while True:
        name = base if suffix == 1 else f"{base}-{suffix}"
        if not (parent / name).exists() and not (parent / f"{name}-FAILED").exists():
            work = parent / f".{name}.partial"
            try:
                work.mkdir(parents=True)
                return name, work
            except FileExistsError:
                pass
        suffix += 1


def _rename(work: Path, parent: Path, name: str, failed: bool) -> Path:
    target = parent / (f"{name}-FAILED" if failed else name)
    os.rename(work, target)
    return target


def _prepare_demo_data(sweep: Sweep) -> None:
    """Generate each distinct simulated demo once, before the scenarios start together."""
    from evaluation.prepare import resolve_demo_paths

    seen = set()
    for params in sweep.params.values():
        key = params.demo.model_dump_json()
        if params.data.source == "demo" and key not in seen:
            seen.add(key)
            resolve_demo_paths(params, PROJECT_ROOT / "data" / "demo")


def _manifest(
    sweep: Sweep, status: str, where: str, started: str, rows: list[dict[str, Any]]
) -> dict:
    return {
        "sweep": sweep.name,
        "sweep_file": str(sweep.path),
        "base": str(sweep.base),
        "status": status,
        "started": started,
        "finished": None if status == "running" else datetime.now().isoformat(timespec="seconds"),
        "cluster": where,
        "common_overrides": sweep.common,
        "scenarios": [
            {
                "name": s.name,
                "overrides": s.overrides,
                **next(
                    (
                        {k: r.get(k) for k in ("status", "run_dir", "error", "seconds", "worker")}
                        for r in rows
                        if r["name"] == s.name
                    ),
                    {"status": "pending"},
                ),
            }
            for s in sweep.scenarios
        ],
    }


def _write_manifest(folder: Path, manifest: dict) -> None:
    from evaluation.data.io import write_text

    write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False, default=str), folder / "sweep.json"
    )


def run_sweep(
    sweep_file: str | Path | Sweep,
    out: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] = print,
    run_options: dict | None = None,
) -> SweepResult:
    """Run every scenario of a sweep file on Dask and write the scenario table and page.

    Parameters
    ----------
    sweep_file : path or Sweep
        The sweep YAML (validated first with :func:`load_sweep`).
    out : path, optional
        Parent of the sweep folder (default ``runs/``).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://HOST:8786``); default
        ``DASK_SCHEDULER_ADDRESS``, else a local cluster.
    workers : int, optional
        Worker processes of the local cluster (default ``min(scenarios, cores)``).
    progress : callable
        Receives one line per event.
    run_options : dict, optional
        More keyword arguments of :func:`evaluation.runner.run` for every scenario (e.g. a
        benchmark's own result cache folder); none by default.

    Returns
    -------
    SweepResult

    Raises
    ------
    SweepError
        An invalid sweep file (before any folder is made) or an unreachable scheduler.
    SweepInterrupted
        Ctrl-C or SIGTERM: the scenarios were cancelled and the sweep folder renamed ``-FAILED``.
    """
    sweep = sweep_file if isinstance(sweep_file, Sweep) else load_sweep(sweep_file)
    lang = sweep.language
    parent = Path(out).resolve() if out else PROJECT_ROOT / "runs"
    if parent.exists() and not parent.is_dir():
        raise SweepError(t("sweep.error.out_is_file", lang, path=parent))
    _prepare_demo_data(sweep)
    # the cluster first: an unreachable scheduler leaves no folder behind
    with (
        _signals_stop_the_sweep(),
        dask_client(len(sweep.scenarios), scheduler, workers, lang) as (client, where),
    ):
        started = datetime.now()
        name, work = _claim(parent, f"{sweep.name}-{started:%Y%m%d-%H%M%S}")
        rows: list[dict[str, Any]] = []
        stamp = started.isoformat(timespec="seconds")
        try:
            _write_manifest(work, _manifest(sweep, "running", where, stamp, rows))
            progress(t("sweep.progress.start", lang, n=len(sweep.scenarios), where=where))
            rows = _run_on(client, sweep, work, progress, run_options or {})
            rows = [_relative(r, work) for r in rows]
            page = _write_outputs(sweep, work, rows)
            _write_manifest(work, _manifest(sweep, "complete", where, stamp, rows))
        except BaseException as err:
            final = _close_failed(sweep, work, parent, name, where, stamp, rows, err)
            if isinstance(err, KeyboardInterrupt):
                raise SweepInterrupted(
                    t("sweep.progress.interrupted", lang, folder=final), final
                ) from None
            raise
        final = _rename(work, parent, name, failed=False)
    n_failed = sum(r["status"] != "complete" for r in rows)
    progress(
        t("sweep.progress.finished", lang, n=len(rows) - n_failed, failed=n_failed, folder=final)
    )
    progress(t("sweep.progress.open", lang, page=final / page.name))
    return SweepResult(folder=final, rows=rows, page=final / page.name)


def _close_failed(
    sweep: Sweep,
    work: Path,
    parent: Path,
    name: str,
    where: str,
    stamp: str,
    rows: list[dict[str, Any]],
    err: BaseException,
) -> Path:
    """Mark a stopped or crashed sweep and rename its folder ``-FAILED``."""
    manifest = _manifest(
        sweep, "interrupted" if isinstance(err, KeyboardInterrupt) else "failed", where, stamp, rows
    )
    manifest["error"] = str(err) or type(err).__name__
    with suppress(OSError):  # a full disk: the -FAILED name alone says it
        _write_manifest(work, manifest)
    return _rename(work, parent, name, failed=True)


def _run_on(
    client: Any,
    sweep: Sweep,
    work: Path,
    progress: Callable[[str], None],
    run_options: dict,
) -> list[dict[str, Any]]:
    """Run the first scenario alone, with every core of its worker for its pages, then the
    others side by side, one page at a time each, and gather their small results as they
    finish.

    The first scenario fills the cache: most pages depend on no swept parameter (a budget
    changes only the scaling page and the summary), so the others copy those pages instead of
    computing them again, each at once.
    """
    tasks = [
        ScenarioTask(
            name=s.name,
            params_file=str(sweep.base),
            overrides=sweep.overrides(s),
            folder=str(work / s.name),
            language=sweep.language,
            run_options=run_options if i == 0 else {"jobs": 1, **run_options},
        )
        for i, s in enumerate(sweep.scenarios)
    ]
    done: dict[str, dict[str, Any]] = {}
    for batch in (tasks[:1], tasks[1:]):
        if batch:
            _gather(client, batch, work, done, len(tasks), sweep.language, progress)
    return [done[s.name] for s in sweep.scenarios]


def _gather(
    client: Any,
    tasks: list[ScenarioTask],
    work: Path,
    done: dict[str, dict[str, Any]],
    total: int,
    lang: Language,
    progress: Callable[[str], None],
) -> None:
    """Submit one Dask task per scenario of ``tasks`` and put each result in ``done``."""
    from distributed import as_completed

    futures = client.map(
        run_scenario,
        tasks,
        key=[f"scenario-{work.name}-{task.name}" for task in tasks],
        pure=False,
    )
    by_key = {f.key: task for f, task in zip(futures, tasks, strict=True)}
    try:
        for future in as_completed(futures):
            task = by_key[future.key]
            try:
                row = future.result()
            except Exception as err:  # the worker itself died (KilledWorker) or vanished
                row = {
                    "name": task.name,
                    "status": "failed",
                    "run_dir": None,
                    "error": t(
                        "sweep.error.worker_lost", lang, error=f"{type(err).__name__}: {err}"
                    ),
                    "seconds": None,
                    **dict.fromkeys(SCENARIO_COLUMNS),
                }
            done[task.name] = row
            key = (
                "sweep.progress.done_one"
                if row["status"] == "complete"
                else "sweep.progress.failed_one"
            )
            progress(
                t(
                    key,
                    lang,
                    k=len(done),
                    n=total,
                    name=task.name,
                    seconds=row.get("seconds") or 0,
                    error=row.get("error", ""),
                )
            )
    except BaseException:
        client.cancel(futures, force=True)
        raise


def _relative(row: dict[str, Any], work: Path) -> dict[str, Any]:
    """``run_dir`` relative to the sweep folder (which is renamed at the end)."""
    run_dir = row.get("run_dir")
    if run_dir:
        path = Path(run_dir)
        row = {
            **row,
            "run_dir": str(path.relative_to(work)) if path.is_relative_to(work) else str(path),
        }
    return row


def scenario_table(sweep: Sweep, rows: list[dict[str, Any]]) -> Any:
    """One row per scenario: its overrides, status, the numbers its pages wrote, its run folder
    (relative to the sweep folder) and error. Values are the runs' own; nothing is estimated."""
    import pandas as pd

    records = []
    for scenario, row in zip(sweep.scenarios, rows, strict=True):
        params = sweep.params[scenario.name]
        record: dict[str, Any] = {"scenario": scenario.name}
        tree = params.model_dump(mode="json")
        # a key the scenario does not set shows the value its run used (the base's)
        record.update(
            {key: scenario.overrides.get(key, _value_at(tree, key)) for key in sweep.varied}
        )
        if BUDGET_KEY not in sweep.varied:  # the figure's x-axis: the budget each run used
            record[BUDGET_KEY] = params.scaling.budget_vnd
        record["status"] = row["status"]
        record["effect_outcome"] = row.get("effect_outcome")
        for key in SCENARIO_COLUMNS:
            value = row.get(key)
            if key == "plan_communes" and isinstance(value, list | tuple):
                value = "; ".join(str(v) for v in value)
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            record[key] = value
        record["run_dir"] = row.get("run_dir")
        record["error"] = row.get("error") or ""
        records.append(record)
    return pd.DataFrame.from_records(records)


def _value_at(tree: dict, key: str) -> Any:
    """The value of a dotted key in a parameter tree (None where absent)."""
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _write_outputs(sweep: Sweep, work: Path, rows: list[dict[str, Any]]) -> Path:
    """``scenarios.csv``, ``scenarios.xlsx`` and ``sweep.html`` (with its figure)."""
    from evaluation.report.sweep_page import write_sweep_page

    table = scenario_table(sweep, rows)
    return write_sweep_page(
        table,
        work,
        varied=[k for k in sweep.varied],
        language=sweep.language,
        sweep_file=str(sweep.path),
        base=str(sweep.base),
    )
