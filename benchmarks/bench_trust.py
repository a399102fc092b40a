"""Benchmark: the trust verdict's size simulation and randomisation inference.

Province-sized simulated ballots: 109 communes in 6 districts x 16 waves, 5-60 Likert (1-5)
ballots per commune-wave (about 38,000 rows), 14 pilot communes from wave 8.

Timed (BLAS single-threaded, like the other benchmarks on this shared 2-core machine):

1. ``measure_size`` with S simulated data sets per null design (both designs), all seven
   methods (wild bootstraps with B = 399, RI with 199 re-assignments per data set), from the
   ballot-level DataFrame. Goal: S = 500 in under 60 s.
2. Randomisation inference with 10,000 re-assignments and its test-inversion interval, against
   the naive peer: re-estimating pyfixest ``feols(... | commune + wave, vcov=CRV1)`` for each
   re-assignment on the commune-wave cells (timed on 100 and scaled to 10,000).
3. CRV1 + CV3 for one simulated data set: ours (per-data-set cost inside ``measure_size``)
   against pyfixest ``feols`` with ``vcov={"CRV3": ...}`` (leave-one-cluster-out re-fits).

Peak memory: tracemalloc peak (Python + NumPy allocations) of each timed call.

Run: ``.venv/bin/python benchmarks/bench_trust.py [--sims 500]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from evaluation.inference.randomization import randomization_inference  # noqa: E402
from evaluation.inference.trust import choose_headline, measure_size  # noqa: E402


def make_ballots(seed: int = 0) -> pd.DataFrame:
    """Likert ballots with commune effects, commune-wave shocks and no true effect."""
    rng = np.random.default_rng(seed)
    rows = []
    for commune in range(109):
        level = rng.normal(scale=0.4)
        size = rng.integers(5, 60)
        for wave in range(16):
            shock = rng.normal(scale=0.15)
            n = max(1, int(rng.poisson(size)))
            latent = 3.4 + level + shock + 0.01 * wave + rng.normal(scale=0.9, size=n)
            rows.append(
                pd.DataFrame(
                    {
                        "commune": commune,
                        "district": commune % 6,
                        "wave": wave,
                        "pilot_active": int(commune % 8 == 0 and commune < 112 and wave >= 8),
                        "satisfaction": np.clip(np.round(latent), 1, 5),
                    }
                )
            )
    frame = pd.concat(rows, ignore_index=True)
    assert frame.loc[frame["pilot_active"] == 1, "commune"].nunique() == 14
    return frame


def timed(func, *args, **kwargs):
    tracemalloc.start()
    start = time.perf_counter()
    out = func(*args, **kwargs)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=500)
    opts = parser.parse_args()
    ballots = make_ballots()
    args = ("satisfaction", "pilot_active", "commune", "wave")
    print(f"ballots: {len(ballots):,} rows, 109 communes x 16 waves, 14 pilots")

    # 1. size simulation, all methods, both null designs
    table, seconds, peak = timed(measure_size, ballots, *args, n_sims=opts.sims, seed=1)
    print(
        f"\nmeasure_size S={opts.sims} x 2 null designs, 7 methods: {seconds:.1f} s, "
        f"peak {peak:.0f} MB"
    )
    print(table.drop(columns=["label", "alpha"]).to_string(index=False))
    verdict = choose_headline(table)
    print(f"headline: {verdict.method} -- {verdict.reason}")

    # 2. randomisation inference, 10,000 re-assignments with interval vs pyfixest re-fits
    ri, seconds_ri, peak_ri = timed(randomization_inference, ballots, *args, budget=10_000, seed=0)
    print(
        f"\nRI 10,000 re-assignments + CI: {seconds_ri:.2f} s, peak {peak_ri:.0f} MB; "
        f"p = {ri.p_value:.4f}, CI [{ri.conf_low:.4f}, {ri.conf_high:.4f}]"
    )
    import pyfixest as pf

    cells = ballots.groupby(["commune", "wave"], as_index=False).agg(
        satisfaction=("satisfaction", "mean"),
        pilot_active=("pilot_active", "first"),
        ballots=("satisfaction", "size"),
    )
    cells["cl"] = cells["commune"].astype(str) + "c"
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf.feols("satisfaction ~ pilot_active | commune + wave", cells, vcov={"CRV1": "cl"})
        start = time.perf_counter()
        for _ in range(100):
            pilots = rng.choice(109, size=14, replace=False)
            cells["placebo"] = (cells["commune"].isin(pilots) & (cells["wave"] >= 8)).astype(int)
            pf.feols(
                "satisfaction ~ placebo | commune + wave",
                cells,
                vcov={"CRV1": "cl"},
                weights="ballots",
            ).tstat()
        peer = (time.perf_counter() - start) * 100
    print(
        f"pyfixest re-fit per re-assignment (p-value only, no CI): {peer:.1f} s for 10,000 "
        f"(100 timed); time ratio ours/peer = {seconds_ri / peer:.4f}"
    )

    # 3. CRV1 + CV3 per simulated data set
    small = 100
    _, ours, _ = timed(
        measure_size, ballots, *args, methods=("crv1", "cv3"), n_sims=small, nulls=("placebo",)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        for _ in range(10):
            pilots = rng.choice(109, size=14, replace=False)
            cells["placebo"] = (cells["commune"].isin(pilots) & (cells["wave"] >= 8)).astype(int)
            fit = pf.feols(
                "satisfaction ~ placebo | commune + wave",
                cells,
                vcov={"CRV3": "cl"},
                weights="ballots",
            )
            fit.vcov({"CRV1": "cl"})
        peer3 = (time.perf_counter() - start) / 10
    print(
        f"\nCRV1 + CV3 per data set: ours {1000 * ours / small:.1f} ms (incl. design), "
        f"pyfixest CRV3 + CRV1 {1000 * peer3:.0f} ms; ratio {ours / small / peer3:.3f}"
    )


if __name__ == "__main__":
    main()
