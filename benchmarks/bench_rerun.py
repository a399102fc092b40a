"""A policy advisor's rerun: the demo run cold, after a budget change, and identical.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_rerun.py [--params params/default.yaml]
     [--only PAGE ...]

Four runs of the command line (``python -m evaluation run``, so Python's start-up and imports
count, as for the advisor) into one temporary folder and one temporary cache, one after another:

1. the reference: every page executed one after another, no cache (``--jobs 1 --no-cache``);
2. cold: an empty cache, pages side by side in warm kernels (the default);
3. ``scaling.budget_vnd`` halved (a scenario file that extends the params): the scaling page and
   the summary executed, the other pages copied from the page cache;
4. an identical rerun: every page copied from the page cache.

Each is printed in seconds and as a ratio to the reference measured in this script, with the
pages executed and copied and the analyses computed and reused (from the manifest), and the
load average before and after, since this 2-core machine is shared. Goals (issue 14): cold <=
30 s, budget change <= 8 s, identical rerun <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from evaluation.config import PROJECT_ROOT, load_params


def _timed(label: str, reference: float | None, params: Path, out: Path, *extra: str) -> float:
    load = os.getloadavg()[0]
    before = set(out.glob("*")) if out.is_dir() else set()
    command = [sys.executable, "-m", "evaluation", "run", str(params), "--out", str(out), *extra]
    t0 = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=PROJECT_ROOT)
    wall = time.perf_counter() - t0
    (folder,) = set(out.glob("*")) - before
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    cache = manifest.get("cache", {})
    pages = manifest["notebooks"]
    copied = sum("page_cache" in e for e in pages)
    ratio = f"{wall / reference:5.2f}" if reference else " 1.00"
    print(
        f"{label:<34}{wall:>7.1f} s  ratio {ratio}  pages executed {len(pages) - copied}"
        f" copied {copied}  analyses computed {cache.get('computed', 0):>3}"
        f" reused {cache.get('reused', 0):>3}  {manifest['status']}"
        f"  load {load:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    times = "  ".join(
        f"{e['name'][:2]} {e.get('execute_seconds', e.get('copy_seconds', 0)):.1f}" for e in pages
    )
    print(f"{'':<34}seconds per page (executed, or copied): {times}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--only", nargs="+", default=None, metavar="PAGE")
    args = parser.parse_args()
    params = (PROJECT_ROOT / args.params).resolve()
    budget = load_params(params).scaling.budget_vnd
    only = ["--only", *args.only] if args.only else []
    print(f"cores: {os.cpu_count()}   load average at the start (1, 5, 15 min): {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        out, cache = Path(folder) / "runs", ["--cache-dir", str(Path(folder) / "cache")]
        halved = Path(folder) / "budget_halved.yaml"
        halved.write_text(
            yaml.safe_dump({"extends": str(params), "scaling": {"budget_vnd": budget / 2}}), "utf-8"
        )
        reference = _timed(
            "one by one, no cache (reference)",
            None,
            params,
            out,
            "--jobs",
            "1",
            "--no-cache",
            *only,
        )
        _timed("cold (empty cache)", reference, params, out, *cache, *only)
        _timed("scaling.budget_vnd halved", reference, halved, out, *cache, *only)
        _timed("identical rerun", reference, params, out, *cache, *only)
    print(f"load average at the end (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
