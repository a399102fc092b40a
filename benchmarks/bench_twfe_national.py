"""TWFE at national scale: ``evaluation.estimators.twfe.twfe`` against pyfixest ``feols``.

Simulates 10,000 communes x 12 waves x 30 ballots = 3.6 million ballots with staggered
adoption, and times ``satisfaction ~ pilot_active | commune + wave`` with commune-clustered SEs.
Each method runs in its own subprocess so the peak memory (``ru_maxrss``) of one does not hide
the other's; each does a small warm-up call first (pyfixest compiles with numba on first use).

Run::

    .venv/bin/python benchmarks/bench_twfe_national.py          # 3.6M rows
    .venv/bin/python benchmarks/bench_twfe_national.py --small  # 100,000 rows, a quick check
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd


def simulate(n_communes: int, n_waves: int, n_ballots: int, seed: int) -> pd.DataFrame:
    """Household ballots: commune and wave effects, a quarter of communes adopt in waves 4-10."""
    rng = np.random.default_rng(seed)
    n = n_communes * n_waves * n_ballots
    commune = np.repeat(np.arange(n_communes, dtype=np.int64), n_waves * n_ballots)
    wave = np.tile(np.repeat(np.arange(1, n_waves + 1, dtype=np.int64), n_ballots), n_communes)
    start = np.where(rng.random(n_communes) < 0.25, rng.integers(4, 11, n_communes), n_waves + 100)
    pilot_active = (wave >= start[commune]).astype(np.int64)
    satisfaction = (
        3.2
        + 0.25 * pilot_active
        + rng.normal(0.0, 0.4, n_communes)[commune]
        + 0.03 * wave
        + rng.normal(0.0, 0.9, n)
    )
    return pd.DataFrame(
        {
            "commune": commune,
            "wave": wave,
            "pilot_active": pilot_active,
            "satisfaction": satisfaction,
        }
    )


def _peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(method: str, n_communes: int, n_waves: int, n_ballots: int, seed: int) -> dict:
    if method == "twfe":
        from evaluation.estimators.twfe import twfe

        def call(frame: pd.DataFrame) -> tuple[float, float]:
            est = twfe(frame, "satisfaction", "pilot_active", "commune", "wave")
            return est.estimate, est.std_error
    else:
        import warnings

        import pyfixest as pf

        warnings.filterwarnings("ignore")

        def call(frame: pd.DataFrame) -> tuple[float, float]:
            fit = pf.feols(
                "satisfaction ~ pilot_active | commune + wave",
                frame,
                vcov={"CRV1": "commune"},
            )
            return float(fit.coef().iloc[0]), float(fit.se().iloc[0])

    call(simulate(200, n_waves, 5, seed + 1))  # warm-up (numba JIT, imports)
    frame = simulate(n_communes, n_waves, n_ballots, seed)
    peak_before = _peak_mb()
    start = time.perf_counter()
    estimate, std_error = call(frame)
    seconds = time.perf_counter() - start
    return {
        "method": method,
        "rows": len(frame),
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "peak_mb_before_call": peak_before,
        "estimate": estimate,
        "std_error": std_error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="1,000 communes x 12 x ~8 ballots")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--worker", choices=["twfe", "pyfixest"], help=argparse.SUPPRESS)
    parser.add_argument("--size", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = (1_000, 12, 8) if args.small else (10_000, 12, 30)
    if args.worker:
        size = tuple(int(v) for v in args.size.split(","))
        print(json.dumps(_run(args.worker, *size, args.seed)))
        return

    results = {}
    for method in ("twfe", "pyfixest"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                method,
                "--size",
                ",".join(map(str, size)),
                "--seed",
                str(args.seed),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[method] = json.loads(out.stdout.strip().splitlines()[-1])
    ours, peer = results["twfe"], results["pyfixest"]
    print(f"rows: {ours['rows']:,} ({size[0]:,} communes x {size[1]} waves x {size[2]} ballots)")
    for r in (ours, peer):
        print(
            f"{r['method']:>9}: {r['seconds']:6.2f} s   peak RSS {r['peak_mb']:7.0f} MB "
            f"(data alone {r['peak_mb_before_call']:6.0f} MB)   "
            f"estimate {r['estimate']:.6f}  SE {r['std_error']:.6f}"
        )
    print(
        f"ratio twfe/pyfixest: time {ours['seconds'] / peer['seconds']:.2f}, "
        f"peak memory {ours['peak_mb'] / peer['peak_mb']:.2f}"
    )
    print(
        f"same estimate: {abs(ours['estimate'] - peer['estimate']) < 1e-8}, "
        f"same SE: {abs(ours['std_error'] - peer['std_error']) < 1e-8}"
    )


if __name__ == "__main__":
    main()
