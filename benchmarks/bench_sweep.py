"""A sweep of budget scenarios on a Dask LocalCluster against the same runs one after another.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sweep.py [--scenarios 8]
     [--pages 06_scaling 00_summary] [--small] [--workers N] [--sequential-runs K]

Arms, all in this one script, into temporary folders:

1. the reference: ``K`` of the scenarios (default 1) run one after another with
   :func:`evaluation.runner.run`, one page at a time and without any cache; the time of all
   ``N`` scenarios run that way is ``N`` times their mean (printed as such: whole-demo runs take
   minutes each);
2. ``evaluation sweep`` of the ``N`` scenarios (``scaling.budget_vnd`` from 0.25 to 2 billion
   VND) on a ``LocalCluster`` with an empty cache: the first scenario fills it, the others copy
   every page the budget does not change;
3. the same sweep after one plain run of the base parameters filled the cache (the advisor's
   case: the evaluation was run once, then budgets are explored).

Printed: each arm's wall time, its ratio to the reference, and the load average before and
after (the machine is shared). Goal (issue 14): 8 budget scenarios of the whole demo in at most
60 s on 2 cores.
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
    parser.add_argument("--sequential-runs", type=int, default=1)
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
        for budget in budgets[: args.sequential_runs]:
            overrides = {**common, "scaling.budget_vnd": budget}
            extra = {"cache": False, "jobs": 1} if cached else {}
            result = run(
                DEFAULT,
                out=root / "sequential",
                overrides=nest(overrides),
                progress=lambda _: None,
                **extra,
            )
            if not result.ok:
                raise SystemExit(f"sequential run failed: {result.message}")
        one = (time.perf_counter() - t0) / args.sequential_runs
        reference = one * len(budgets)
        print(
            f"reference: one scenario alone, one page at a time, no cache: {one:.1f} s "
            f"(mean of {args.sequential_runs}); {len(budgets)} of them: {reference:.1f} s   "
            f"load now: {_load()}"
        )
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

        def sweep(label: str, cache: Path) -> None:
            options = {"cache_dir": str(cache)} if cached else {}
            t0 = time.perf_counter()
            swept = run_sweep(
                sweep_file,
                out=root / label,
                workers=args.workers,
                progress=lambda _: None,
                run_options=options,
            )
            wall = time.perf_counter() - t0
            if not swept.ok:
                raise SystemExit(f"sweep scenarios failed: {[r['error'] for r in swept.failed]}")
            seconds = ", ".join(f"{float(r['seconds']):.0f}" for r in swept.rows)
            print(
                f"{label}: {wall:.1f} s   ratio to the reference {wall / reference:.2f}   "
                f"goal <= 60 s: {'met' if wall <= 60 else 'not met'}   load after: {_load()}"
            )
            print(f"  seconds per scenario (first one alone, then side by side): {seconds}")

        sweep("sweep, empty cache", root / "cache-empty")
        filled = root / "cache-filled"
        t0 = time.perf_counter()
        result = run(
            DEFAULT,
            out=root / "plain",
            overrides=nest(common),
            progress=lambda _: None,
            **({"cache_dir": filled} if cached else {}),
        )
        if not result.ok:
            raise SystemExit(f"plain run failed: {result.message}")
        print(
            f"(a plain run of the base parameters filled the cache in {time.perf_counter() - t0:.1f} s)"
        )
        sweep("sweep, cache filled by that run", filled)


if __name__ == "__main__":
    main()
