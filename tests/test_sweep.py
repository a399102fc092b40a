"""Scenario sweeps on Dask (``evaluation sweep``): the sweep file's checks, the page, and whole
sweeps of the small demo on a 2-worker LocalCluster and on a real ``dask scheduler`` and
``dask worker`` started (and stopped) by the test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml
from _demo import SMALL_DEMO

from evaluation import sweep as sweep_module
from evaluation.analysis import board
from evaluation.analysis.run_comparison import result_values
from evaluation.cli import main
from evaluation.config import PROJECT_ROOT
from evaluation.report.sweep_page import FIGURE, sweep_figure, write_sweep_page
from evaluation.sweep import (
    SCENARIO_COLUMNS,
    SweepError,
    SweepInterrupted,
    flat_keys,
    load_sweep,
    run_sweep,
    scheduler_address,
)

DEFAULT = PROJECT_ROOT / "params" / "default.yaml"
EXAMPLE = PROJECT_ROOT / "params" / "sweeps" / "budget_conditions.yaml"
#: The small demo, with the fewest simulations the parameters allow (the plan does not use them).
SMALL = {**flat_keys(SMALL_DEMO), "inference.size_sims": 20, "inference.power_sims": 20}
#: A window start the data cannot read: valid as a parameter, refused when the run prepares.
BAD_WINDOW = {"analysis.window_start": "2019X9"}


def _write(path: Path, tree: dict) -> Path:
    path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def _sweep_file(folder: Path, pages: list[str], budgets: list[int], name: str = "s") -> Path:
    """Two budget scenarios of the small demo and one whose run fails."""
    scenarios = [
        {"name": f"b{b // 10**6}", "overrides": {"scaling.budget_vnd": b}} for b in budgets
    ]
    scenarios.append({"name": "bad_window", "overrides": BAD_WINDOW})
    return _write(
        folder / f"{name}.yaml",
        {
            "name": name,
            "base": os.path.relpath(DEFAULT, folder),
            "overrides": {**SMALL, "report.notebooks": pages},
            "scenarios": scenarios,
        },
    )


# -- the sweep file ---------------------------------------------------------------------------


def test_the_example_grid_is_every_combination():
    sweep = load_sweep(EXAMPLE)
    tree = yaml.safe_load(EXAMPLE.read_text("utf-8"))["grid"]
    budgets = tree["scaling.budget_vnd"]
    thresholds = tree["scaling.conditions.min_condolence_on_time"]
    assert len(sweep.scenarios) == len(budgets) * len(thresholds)
    assert sweep.varied == ["scaling.budget_vnd", "scaling.conditions.min_condolence_on_time"]
    assert len({s.name for s in sweep.scenarios}) == len(sweep.scenarios)
    seen = {
        (p.scaling.budget_vnd, p.scaling.conditions["min_condolence_on_time"])
        for p in sweep.params.values()
    }
    assert seen == {(float(b), t) for b in budgets for t in thresholds}
    # the other condition of the base is kept (overrides merge into scaling.conditions)
    assert all("min_one_stop_staff_per_1000" in p.scaling.conditions for p in sweep.params.values())
    assert sweep.base == DEFAULT and sweep.language == "vi"


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        ({"grid": {"scaling.budget_vnds": [1]}}, ["'scaling.budget_vnds'", "'scaling.budget_vnd'"]),
        (
            {"grid": {"scalng.horizon_years": [2]}},
            ["'scalng.horizon_years'", "'scaling.horizon_years'"],
        ),
        ({"grids": {"scaling.budget_vnd": [1]}}, ["'grids'", "'grid'"]),
        ({"grid": {"scaling.budget_vnd.low": [1]}}, ["'scaling.budget_vnd' is a single value"]),
        ({"grid": {"scaling.budget_vnd": 5}}, ["'grid.scaling.budget_vnd'", "non-empty list"]),
        ({"grid": {"scaling.budget_vnd": [1]}, "scenarios": []}, ["either grid:"]),
        ({}, ["either grid:"]),
        (
            {"scenarios": [{"name": "a", "overrides": {"scaling.budget_vnd": -5}}]},
            ["scenario 'a'", "scaling.budget_vnd"],
        ),
        (
            {"scenarios": [{"name": "a"}, {"name": "a"}]},
            ["'a' is used twice"],
        ),
        ({"scenarios": [{"name": "a b"}]}, ["'a b'"]),
        (
            {"scenarios": [{"name": "a", "override": {}}]},
            ["'scenarios[1].override'", "'overrides'"],
        ),
    ],
)
def test_a_malformed_sweep_file_is_refused_with_the_key(tmp_path, tree, expected):
    base = _write(tmp_path / "base.yaml", {"extends": str(DEFAULT), "language": "en"})
    path = _write(tmp_path / "sweep.yaml", {"base": base.name, **tree})
    with pytest.raises(SweepError) as caught:
        load_sweep(path)
    for part in expected:
        assert part in str(caught.value)


def test_keys_below_a_free_mapping_are_the_data_s_own(tmp_path):
    """``scaling.conditions`` holds criteria named after data columns: any name is a key."""
    path = _write(
        tmp_path / "sweep.yaml",
        {"base": str(DEFAULT), "grid": {"scaling.conditions.min_staff_trained": [0.5]}},
    )
    (params,) = load_sweep(path).params.values()
    assert params.scaling.conditions["min_staff_trained"] == 0.5


def test_the_command_line_refuses_a_malformed_sweep_before_anything_runs(tmp_path, capsys):
    path = _write(
        tmp_path / "sweep.yaml", {"base": str(DEFAULT), "grid": {"scaling.budgetvnd": [1]}}
    )
    code = main(["sweep", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "lỗi tệp kịch bản" in err and "sweep file error" in err
    assert "'scaling.budgetvnd'" in err and "'scaling.budget_vnd'" in err  # the nearest key
    assert not (tmp_path / "out").exists()


def test_the_scheduler_address_comes_from_the_flag_then_the_environment(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    assert scheduler_address(None) is None
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://10.0.0.1:8786")
    assert scheduler_address(None) == "tcp://10.0.0.1:8786"
    assert scheduler_address("tcp://127.0.0.1:1") == "tcp://127.0.0.1:1"


# -- the page ---------------------------------------------------------------------------------


def _table() -> pd.DataFrame:
    rows = []
    for budget in (5e8, 1e9):
        for threshold in (0.35, 0.5):
            gain = budget / 1e6 * (2 if threshold == 0.35 else 1)
            rows.append(
                {
                    "scenario": f"b{budget:g}_t{threshold}",
                    "scaling.budget_vnd": budget,
                    "scaling.conditions.min_condolence_on_time": threshold,
                    "status": "complete",
                    "effect_outcome": "satisfaction_index",
                    "effect_estimate": 0.44,
                    "plan_n_communes": 2,
                    "plan_communes": "Xã Liêm Tuyền; =HYPERLINK(1)",
                    "plan_cost_vnd": budget * 0.9,
                    "plan_gain_per_year": gain,
                    "plan_unspent_vnd": budget * 0.1,
                    "run_dir": f"b{budget:g}/demo-1",
                    "error": "",
                }
            )
    rows.append(
        {
            **rows[0],
            "scenario": "broken",
            "status": "failed",
            "plan_gain_per_year": None,
            "run_dir": None,
            "error": "window <2019X9> refused",
        }
    )
    return pd.DataFrame(rows)


def test_the_page_table_and_figure(tmp_path):
    table = _table()
    varied = ["scaling.budget_vnd", "scaling.conditions.min_condolence_on_time"]
    fig = sweep_figure(table, varied, "en")
    lines = {line.get_label(): line.get_ydata().tolist() for line in fig.axes[0].get_lines()}
    assert lines == {
        "min_condolence_on_time = 0.35": [1000.0, 2000.0],
        "min_condolence_on_time = 0.5": [500.0, 1000.0],
    }
    assert fig.axes[0].get_legend() is not None or fig.legends  # placed by place_legend

    page = write_sweep_page(table, tmp_path, varied, "en", "sweep.yaml", "default.yaml")
    text = page.read_text("utf-8")
    assert "Xã Liêm Tuyền" in text and "window &lt;2019X9&gt; refused" in text
    assert 'href="b1e+09/demo-1/index.html"' in text
    assert pd.read_csv(tmp_path / "scenarios.csv").shape == (5, len(table.columns))
    book = pd.read_excel(tmp_path / "scenarios.xlsx")
    assert "Satisfied households gained per year" in book.columns
    assert book["Communes chosen, in starting order"].iloc[0].endswith("=HYPERLINK(1)")  # text
    svg = (tmp_path / "figures" / f"{FIGURE}.svg").read_bytes()
    assert (tmp_path / "figures" / f"{FIGURE}.png").is_file()
    write_sweep_page(table, tmp_path, varied, "en", "sweep.yaml", "default.yaml")
    assert (tmp_path / "figures" / f"{FIGURE}.svg").read_bytes() == svg  # same bytes on a rerun


def test_the_page_in_vietnamese_without_a_priced_plan(tmp_path):
    table = _table().assign(status="failed", plan_gain_per_year=None)
    assert sweep_figure(table, ["scaling.budget_vnd"], "vi") is None
    text = write_sweep_page(table, tmp_path, ["scaling.budget_vnd"], "vi", "s", "b").read_text()
    assert "Không kịch bản nào hoàn tất" in text and "thất bại" in text


# -- whole sweeps -----------------------------------------------------------------------------


def _check_sweep(result, budgets: list[int], numbers: bool) -> None:
    """Every scenario's row against its own run folder; the failing one reported, not complete."""
    folder = result.folder
    assert folder.is_dir() and not folder.name.endswith("FAILED")
    assert not list(folder.parent.glob(".*.partial"))
    manifest = json.loads((folder / "sweep.json").read_text("utf-8"))
    assert manifest["status"] == "complete"
    table = pd.read_csv(folder / "scenarios.csv", dtype={"run_dir": str})
    assert list(table["scenario"]) == [f"b{b // 10**6}" for b in budgets] + ["bad_window"]
    assert list(table["status"]) == ["complete"] * len(budgets) + ["failed"]
    bad = table.iloc[-1]
    assert "analysis.window_start" in bad["error"] and "2019X9" in bad["error"]
    assert bad["run_dir"].endswith("-FAILED")  # the runner's failed folder, never complete
    for _, row in table.iloc[:-1].iterrows():
        run_dir = folder / row["run_dir"]
        assert run_dir.parent == folder / row["scenario"]
        run_manifest = json.loads((run_dir / "manifest.json").read_text("utf-8"))
        assert run_manifest["status"] == "complete"
        if numbers:  # the table holds what the run's own pages show
            own = result_values(board.collect(run_dir), 3)
            assert row["plan_n_communes"] == own["plan_n_communes"] >= 1
            assert row["plan_communes"] == "; ".join(own["plan_communes"])
            assert row["plan_gain_per_year"] == pytest.approx(own["plan_gain_per_year"])
            budget = row["scaling.budget_vnd"]
            assert row["plan_unspent_vnd"] == pytest.approx(budget - row["plan_cost_vnd"])
    if numbers:
        gains = table["plan_gain_per_year"].iloc[:-1]
        assert gains.is_monotonic_increasing and gains.iloc[-1] > gains.iloc[0]  # more money
        page = (folder / "sweep.html").read_text("utf-8")
        for names in table["plan_communes"].iloc[:-1]:
            assert names.split("; ")[0] in page
        assert (folder / "figures" / f"{FIGURE}.svg").is_file()


def test_a_sweep_on_a_two_worker_local_cluster(tmp_path):
    """Two budgets and a scenario whose run fails, pages 06 and 00, on 2 worker processes."""
    budgets = [300_000_000, 2_000_000_000]
    path = _sweep_file(tmp_path, ["06_scaling", "00_summary"], budgets)
    lines: list[str] = []
    result = run_sweep(path, out=tmp_path / "out", workers=2, progress=lines.append)
    assert "LocalCluster(2 × 1)" in lines[0]
    assert not result.ok and [r["name"] for r in result.failed] == ["bad_window"]
    _check_sweep(result, budgets, numbers=True)
    workers = {r["worker"] for r in result.rows}
    assert len(workers) >= 2 and f"{socket.gethostname()}:{os.getpid()}" not in workers


def test_an_interrupted_sweep_leaves_no_folder_that_looks_complete(tmp_path):
    path = _sweep_file(tmp_path, ["00_summary"], [500_000_000])

    def stop(line: str) -> None:
        raise KeyboardInterrupt("SIGINT")

    with pytest.raises(SweepInterrupted) as caught:
        run_sweep(path, out=tmp_path / "out", workers=1, progress=stop)
    (folder,) = (tmp_path / "out").iterdir()
    assert folder.name.endswith("-FAILED") and caught.value.folder == folder
    assert json.loads((folder / "sweep.json").read_text("utf-8"))["status"] == "interrupted"
    assert not (folder / "sweep.html").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_is_named_and_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_module, "CONNECT_TIMEOUT", "2s")
    address = f"tcp://127.0.0.1:{_free_port()}"
    path = _sweep_file(tmp_path, ["00_summary"], [500_000_000])
    with pytest.raises(SweepError, match=address):
        run_sweep(path, out=tmp_path / "out", scheduler=address, progress=lambda _: None)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.fixture
def dask_cluster(tmp_path):
    """A real ``dask scheduler`` and ``dask worker`` (1 process, 1 thread) on loopback, started
    as separate processes and stopped by their PIDs (also when the test fails)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    # a run starts processes of its own (notebook kernels): the worker must not be daemonic
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    started: list[subprocess.Popen] = []
    logs = [open(tmp_path / name, "wb") for name in ("scheduler.log", "worker.log")]  # noqa: SIM115
    try:
        started.append(
            subprocess.Popen(
                [
                    dask,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--dashboard-address",
                    ":0",
                    "--no-show",
                ],
                env=env,
                stdout=logs[0],
                stderr=subprocess.STDOUT,
            )
        )
        started.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--memory-limit",
                    "0",
                ],
                env=env,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        )
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=120)
            worker_pids = set(client.run(os.getpid).values())
        yield address, worker_pids
    finally:
        for process in reversed(started):
            children = []
            with contextlib.suppress(psutil.NoSuchProcess):
                children = psutil.Process(process.pid).children(recursive=True)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            for child in children:  # the worker process its nanny started
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        for log in logs:
            log.close()


def test_a_sweep_on_a_real_scheduler_through_the_environment(
    dask_cluster, tmp_path, monkeypatch, capsys
):
    """``DASK_SCHEDULER_ADDRESS`` sends the sweep to the running cluster: the scenarios run in
    the ``dask worker`` process, not here (summary page only, to stay quick)."""
    address, worker_pids = dask_cluster
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    path = _sweep_file(tmp_path, ["00_summary"], [500_000_000])
    code = main(["sweep", str(path), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 1  # one scenario failed
    assert f"trên {address}" in out and "bad_window: THẤT BẠI" in out
    (folder,) = (tmp_path / "out").iterdir()
    manifest = json.loads((folder / "sweep.json").read_text("utf-8"))
    assert manifest["cluster"] == address
    pids = {int(s["worker"].rsplit(":", 1)[1]) for s in manifest["scenarios"]}
    assert pids <= worker_pids
    table = pd.read_csv(folder / "scenarios.csv")
    assert list(table["status"]) == ["complete", "failed"]
    assert table[list(SCENARIO_COLUMNS)].iloc[0].isna().all()  # pages 03 and 06 did not run


@pytest.mark.slow
def test_the_same_sweep_on_a_real_scheduler(dask_cluster, tmp_path):
    """The LocalCluster test's sweep through ``--scheduler``: the same table."""
    address, worker_pids = dask_cluster
    budgets = [300_000_000, 2_000_000_000]
    path = _sweep_file(tmp_path, ["06_scaling", "00_summary"], budgets)
    result = run_sweep(path, out=tmp_path / "out", scheduler=address, progress=lambda _: None)
    _check_sweep(result, budgets, numbers=True)
    assert {int(r["worker"].rsplit(":", 1)[1]) for r in result.rows} <= worker_pids
