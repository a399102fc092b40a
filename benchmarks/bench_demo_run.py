"""Wall time of the whole demo run, split into kernel start-up, computation and rendering.

Run: .venv/bin/python benchmarks/bench_demo_run.py [--params params/default.yaml]

Kernel start-up is measured by executing an empty notebook with papermill in the same run
(the same cost every notebook pays); computation is a notebook's execution time minus that;
rendering is nbconvert's HTML export. Goal (issue 2): the whole demo run under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbformat
import papermill as pm

from evaluation.runner import run


def kernel_startup_seconds(repeats: int = 3) -> float:
    """Median time papermill needs to start a python3 kernel and run one empty cell."""
    times = []
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "empty.ipynb"
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.cells.append(nbformat.v4.new_code_cell("pass"))
        nbformat.write(nb, empty)
        for _ in range(repeats):
            t0 = time.perf_counter()
            pm.execute_notebook(
                str(empty),
                str(Path(folder) / "out.ipynb"),
                kernel_name="python3",
                progress_bar=False,
            )
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params/default.yaml")
    args = parser.parse_args()
    startup = kernel_startup_seconds()
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = run(args.params, out=out, progress=lambda _: None)
        wall = time.perf_counter() - t0
    manifest = result.manifest
    print(
        f"status: {manifest['status']}   wall time: {wall:.1f} s   goal: < 60 s  (ratio {wall / 60:.2f})"
    )
    print(
        f"prepare (read, validate, harmonise, measure): {manifest['timings_seconds']['prepare']:.1f} s"
    )
    print(f"kernel start-up per notebook (empty notebook, median of 3): {startup:.1f} s")
    print(f"{'notebook':<22}{'start-up':>10}{'compute':>10}{'render':>10}{'total':>10}")
    for nb in manifest["notebooks"]:
        execute = nb.get("execute_seconds", 0.0)
        render = nb.get("render_seconds", 0.0)
        compute = max(execute - startup, 0.0)
        print(
            f"{nb['name']:<22}{startup:>10.1f}{compute:>10.1f}{render:>10.1f}{execute + render:>10.1f}   {nb['status']}"
        )


if __name__ == "__main__":
    main()
