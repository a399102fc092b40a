"""Benchmark the scaling library against its peers, in one run.

Run: ``.venv/bin/python benchmarks/bench_scaling.py``. Prints wall time (best of 3) and peak
Python memory (tracemalloc) of each step, and the ratio to the peer measured in the same run.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyfixest as pf

from evaluation.estimators.heterogeneity import effect_by_moderator
from evaluation.scaling.budget import plan_rollout
from evaluation.scaling.power import (
    VarianceComponents,
    estimate_variance_components,
    simulate_power,
)


def measure(fn: Callable[[], object], repeat: int = 3) -> tuple[float, float]:
    """Best wall time (s) over ``repeat`` calls and peak traced memory (MB) of one call."""
    fn()  # warm-up (pyfixest JIT, imports)
    best = min(_timed(fn) for _ in range(repeat))
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak / 1e6


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def panel(n_communes: int, n_waves: int = 16, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    staff = rng.gamma(4, 0.25, n_communes)
    pilot = rng.random(n_communes) < 0.13
    g = np.repeat(np.arange(n_communes), n_waves)
    t = np.tile(np.arange(n_waves), n_communes)
    d = (pilot[g] & (t >= n_waves // 2)).astype(int)
    y = 3 + 0.02 * t + d * (0.2 + 0.3 * (staff[g] - 1)) + rng.normal(0, 0.2, g.size)
    return pd.DataFrame({"commune": g, "wave": t, "d": d, "y": y, "staff": staff[g]})


def row(step: str, ours: tuple[float, float], peer: tuple[float, float], peer_name: str) -> None:
    print(
        f"{step:<44} ours {ours[0] * 1e3:9.1f} ms {ours[1]:8.1f} MB | {peer_name:<22} "
        f"{peer[0] * 1e3:9.1f} ms {peer[1]:8.1f} MB | time ratio {ours[0] / peer[0]:5.2f}"
    )


def main() -> None:
    for n in (109, 500):
        data = panel(n)

        def ours(data: pd.DataFrame = data) -> object:
            return effect_by_moderator(data, "y", "d", "commune", "wave", "staff", "commune")

        centre = ours().model.centre
        data2 = data.assign(dm=data["d"] * (data["staff"] - centre))

        def peer(data2: pd.DataFrame = data2) -> object:
            return pf.feols(
                "y ~ d + dm | commune + wave",
                data2,
                vcov={"CRV1": "commune"},
                ssc=pf.ssc(k_fixef="full"),
            )

        row(f"effect_by_moderator {n}x16 rows", measure(ours), measure(peer), "pyfixest.feols")

    rng = np.random.default_rng(1)
    g, waves, m = 109, 4, 30
    u = rng.normal(0, 0.55, g)
    v = rng.normal(0, 0.3, (g, waves))
    gi = np.repeat(np.arange(g), waves * m)
    ti = np.tile(np.repeat(np.arange(waves), m), g)
    ballots = pd.DataFrame(
        {"commune": gi, "wave": ti, "score": u[gi] + v[gi, ti] + rng.normal(0, 0.9, gi.size)}
    )
    row(
        f"variance components ANOVA ({len(ballots):,} ballots)",
        measure(lambda: estimate_variance_components(ballots, "score", "commune", "wave")),
        measure(
            lambda: estimate_variance_components(ballots, "score", "commune", "wave", "mixedlm"),
            repeat=1,
        ),
        "statsmodels MixedLM",
    )

    vc = VarianceComponents(0.3, 0.1, 0.8, 50, 109, 4, "bench")
    row(
        "simulate_power 14+14 communes, 2,000 sims",
        measure(lambda: simulate_power(vc, 14, 14, 50, 0.3, n_sims=2000, seed=1)),
        measure(lambda: simulate_power(vc, 14, 14, 50, 0.3, n_sims=2000, seed=1)),
        "(no peer: self)",
    )

    cand = pd.DataFrame(
        {
            "commune_code": np.arange(95),
            "cost": rng.integers(100, 400, 95) * 1e6,
            "expected_gain": rng.gamma(2, 100, 95),
        }
    )
    small = cand.head(20)
    row(
        "plan_rollout DP, 20 communes (1M VND unit)",
        measure(lambda: plan_rollout(small, 2e9, method="dynamic_programming")),
        measure(lambda: plan_rollout(small, 2e9, method="brute_force"), repeat=1),
        "brute force 2^20",
    )
    row(
        "plan_rollout DP vs greedy, 95 communes, 10 bn",
        measure(lambda: plan_rollout(cand, 10e9, method="dynamic_programming")),
        measure(lambda: plan_rollout(cand, 10e9, method="greedy")),
        "greedy",
    )
    dp = plan_rollout(cand, 10e9, method="dynamic_programming")
    greedy = plan_rollout(cand, 10e9, method="greedy")
    print(
        f"95 communes, 10 bn VND: DP gain {dp.total_gain:,.1f}, greedy {greedy.total_gain:,.1f}, "
        f"LP bound {greedy.upper_bound:,.1f} (greedy/DP = {greedy.total_gain / dp.total_gain:.4f})"
    )


if __name__ == "__main__":
    main()
