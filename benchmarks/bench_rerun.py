"""A policy advisor's rerun: the demo run cold, after a budget change, and identical, with the cache.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_rerun.py [--params params/default.yaml]
     [--only PAGE ...]

Four runs into one temporary folder, one after another:

1. the sequential run without the result cache (``cache=False``): the reference;
2. cold: an empty cache (every analysis computed and stored);
3. the same parameters with ``scaling.budget_vnd`` halved (only the scaling analyses computed);
4. an identical rerun (every analysis reused, every page rendered again).

Each is printed in seconds and as a ratio to the reference measured in this script, with the
analyses computed and reused (from the manifest) and the load average before and after, since
this 2-core machine is shared. Goals (issue 14): cold <= 30 s, budget change <= 8 s, identical
rerun <= 5 s; the cache alone does not remove the per-page kernel start-up and rendering.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from evaluation.config import load_params
from evaluation.runner import run


def _timed(label: str, reference: float | None, **kwargs: object) -> float:
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = run(progress=lambda _: None, **kwargs)  # type: ignore[arg-type]
    wall = time.perf_counter() - t0
    cache = result.manifest.get("cache", {})
    ratio = f"{wall / reference:5.2f}" if reference else " 1.00"
    print(
        f"{label:<34}{wall:>8.1f} s   ratio {ratio}   computed {cache.get('computed', 0):>3}"
        f"   reused {cache.get('reused', 0):>3}   {result.manifest['status']}"
        f"   load {load:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    pages = "  ".join(
        f"{e['name'][:2]} {e.get('execute_seconds', 0) + e.get('render_seconds', 0):.0f}"
        for e in result.manifest["notebooks"]
    )
    print(f"{'':<34}seconds per page (execute + render): {pages}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--only", nargs="+", default=None, metavar="PAGE")
    args = parser.parse_args()
    budget = load_params(args.params).scaling.budget_vnd
    print(f"load average at the start (1, 5, 15 min): {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        common = {
            "params_path": args.params,
            "out": Path(folder) / "runs",
            "notebooks": args.only,
            "cache_dir": Path(folder) / "cache",
        }
        reference = _timed("sequential, no cache (reference)", None, cache=False, **common)
        _timed("cold (empty cache)", reference, **common)
        changed = {"scaling": {"budget_vnd": budget / 2}}
        _timed("scaling.budget_vnd halved", reference, overrides=changed, **common)
        _timed("identical rerun", reference, **common)
    print(f"load average at the end (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
