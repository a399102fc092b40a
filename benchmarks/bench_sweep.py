"""A sweep of budget scenarios on a Dask LocalCluster against the same runs one after another.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sweep.py [--scenarios 8]
     [--pages 06_scaling 00_summary] [--small] [--workers N]

Both arms run the same scenarios (``scaling.budget_vnd`` from 0.25 to 2 billion VND) of
``params/default.yaml`` into temporary folders, in this one script: first sequentially with
:func:`evaluation.runner.run` (the baseline: uncached, when the runner has a result cache), then
as one ``evaluation sweep`` on a ``LocalCluster`` (``min(scenarios, cores)`` single-threaded
workers; with a fresh result cache its scenarios share, when the runner has one). Printed: each
arm's wall time, their ratio, and the load average before and after (the machine is shared).
Goal (issue 14): 8 budget scenarios of the whole demo in at most 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from evaluation.config import PROJECT_ROOT
from evaluation.runner import run
from evaluation.sweep import flat_keys, nest, run_sweep

DEFAULT = PROJECT_ROOT / "params" / "default.yaml"


def _small_demo() -> dict:
    sys.path.insert(0, str(PROJECT_ROOT / "tests"))
    from _demo import SMALL_DEMO

    return flat_keys(SMALL_DEMO)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenarios", type=int, default=8)
    parser.add_argument("--pages", nargs="+", default=None, help="default: every page")
    parser.add_argument("--small", action="store_true", help="the tests' small demo")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    budgets = [int(250_000_000 * (k + 1)) for k in range(args.scenarios)]
    common = _small_demo() if args.small else {}
    if args.pages:
        common["report.notebooks"] = args.pages
    accepts = inspect.signature(run).parameters
    cached = "cache" in accepts and "cache_dir" in accepts
    print(f"cores: {os.cpu_count()}   load before: {_load()}")
    print(
        f"{len(budgets)} budget scenarios, pages: {' '.join(args.pages or ['all'])}, "
        f"demo: {'small' if args.small else 'default'}, result cache in the runner: {cached}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as folder:
        root = Path(folder)
        t0 = time.perf_counter()
        for budget in budgets:
            overrides = {**common, "scaling.budget_vnd": budget}
            extra = {"cache": False} if cached else {}
            result = run(
                DEFAULT,
                out=root / "sequential",
                overrides=nest(overrides),
                progress=lambda _: None,
                **extra,
            )
            if not result.ok:
                raise SystemExit(f"sequential run failed: {result.message}")
        sequential = time.perf_counter() - t0
        print(f"sequential: {sequential:.1f} s   load now: {_load()}")

        sweep_file = root / "budgets.yaml"
        sweep_file.write_text(
            yaml.safe_dump(
                {
                    "name": "bench",
                    "base": str(DEFAULT),
                    "overrides": common or None,
                    "grid": {"scaling.budget_vnd": budgets},
                }
            ),
            "utf-8",
        )
        options = {"cache_dir": str(root / "cache")} if cached else {}
        t0 = time.perf_counter()
        swept = run_sweep(
            sweep_file,
            out=root / "sweep",
            workers=args.workers,
            progress=lambda _: None,
            run_options=options,
        )
        wall = time.perf_counter() - t0
        if not swept.ok:
            raise SystemExit(f"sweep scenarios failed: {[r['error'] for r in swept.failed]}")
    seconds = [float(r["seconds"]) for r in swept.rows]
    print(f"sweep on a LocalCluster: {wall:.1f} s   load after: {_load()}")
    print(
        f"one scenario: {sequential / len(budgets):.1f} s on average sequentially, "
        f"{sum(seconds) / len(seconds):.1f} s on average inside the sweep (concurrent scenarios share "
        "the cores with each other and with the machine's other load)"
    )
    print(
        f"ratio sweep / sequential: {wall / sequential:.2f}   "
        f"goal (8 scenarios, whole demo): <= 60 s -> {'met' if wall <= 60 else 'not met'} "
        f"({wall / 60:.2f} of it)"
    )


if __name__ == "__main__":
    main()
