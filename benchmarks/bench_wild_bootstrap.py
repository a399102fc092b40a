"""Benchmark: restricted wild cluster bootstrap (WCR, Rademacher, B=9,999) against wildboottest.

Two problem sizes, each run in fresh worker processes so times and peak memory do not mix:

* province: 109 communes x 16 waves x 40 ballots (69,760 rows), 14 pilot communes;
* national: 10,000 communes x 12 waves x 30 ballots (3.6M rows), 1,400 pilot communes
  (``--small``: 1,000 communes, 360,000 rows).

Model: satisfaction on the pilot-after indicator with commune and wave fixed effects, clustered
by commune. Ours is timed from the DataFrame (design, absorption, bootstrap, p-value; with and
without the test-inversion interval). wildboottest 0.3.2 is timed on its bootstrap only, after
a warm-up call on a small problem: on the province size through ``wildboottest()`` on a
statsmodels OLS with commune and wave dummies; on the national size through ``WildboottestCL``
on the commune-demeaned design (3.6M x 10,011 dummies do not fit in memory; the result is the
same). Its numba kernel is defined inside a method, so every call compiles it again.

Run: ``.venv/bin/python benchmarks/bench_wild_bootstrap.py [--small] [--peer-timeout 600]``.
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

B = 9999


def make_ballots(n_communes: int, n_waves: int, ballots: int, seed: int = 0) -> pd.DataFrame:
    """Likert 1-5 ballots; the first 12.8% of communes are pilots from the middle wave on."""
    rng = np.random.default_rng(seed)
    n = n_communes * n_waves * ballots
    commune = np.repeat(np.arange(n_communes, dtype=np.int64), n_waves * ballots)
    wave = np.tile(np.repeat(np.arange(n_waves, dtype=np.int64), ballots), n_communes)
    n_pilot = max(1, round(n_communes * 14 / 109))
    treat = ((commune < n_pilot) & (wave >= n_waves // 2)).astype(np.float64)
    latent = (
        3.2
        + 0.1 * treat
        + rng.normal(0, 0.4, n_communes)[commune]
        + 0.03 * wave
        + rng.normal(0, 1.0, n)
    )
    satisfaction = np.clip(np.rint(latent), 1, 5)
    return pd.DataFrame(
        {"commune": commune, "wave": wave, "treat": treat, "satisfaction": satisfaction}
    )


SIZES = {
    "province": (109, 16, 40),
    "national": (10_000, 12, 30),
    "national_small": (1_000, 12, 30),
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_ours(size: str) -> dict[str, float]:
    from evaluation.inference.wild_bootstrap import wild_cluster_bootstrap

    frame = make_ballots(*SIZES[size])
    warm = make_ballots(20, 4, 5)
    wild_cluster_bootstrap(warm, "satisfaction", "treat", "commune", ("commune", "wave"), n_boot=99)
    out: dict[str, float] = {}
    for confint in (False, True):
        before = _peak_mb()
        times = []
        for _ in range(3 if size == "province" else 1):
            start = time.perf_counter()
            result = wild_cluster_bootstrap(
                frame,
                "satisfaction",
                "treat",
                "commune",
                fixed_effects=("commune", "wave"),
                n_boot=B,
                seed=1,
                confint=confint,
            )
            times.append(time.perf_counter() - start)
        key = "ci" if confint else "p"
        out[f"time_{key}"] = min(times)
        out[f"peak_extra_mb_{key}"] = max(0.0, _peak_mb() - before)
    out.update(
        p_value=result.p_value,
        t_stat=result.t_stat,
        conf_low=result.conf_low,
        conf_high=result.conf_high,
        rows=len(frame),
    )
    return out


def _peer_cl(x: np.ndarray, y: np.ndarray, cluster: np.ndarray, seed: int) -> float:
    from wildboottest.wildboottest import WildboottestCL

    r_vec = np.zeros(x.shape[1])
    r_vec[0] = 1.0
    boot = WildboottestCL(X=x, Y=y, cluster=cluster, R=r_vec, B=B, seed=seed)
    boot.get_scores(bootstrap_type="11", impose_null=True)
    boot.get_weights(weights_type="rademacher")
    boot.get_numer()
    boot.get_denom()
    boot.get_tboot()
    boot.get_vcov()
    boot.get_tstat()
    boot.get_pvalue(pval_type="two-tailed")
    return float(boot.pvalue)


def worker_peer(size: str) -> dict[str, float]:
    import statsmodels.api as sm
    from wildboottest.wildboottest import wildboottest

    from evaluation.inference.wild_bootstrap import _prepare_design

    frame = make_ballots(*SIZES[size])
    warm = make_ballots(20, 4, 5)
    warm_x = pd.concat(
        [warm[["treat"]], pd.get_dummies(warm["commune"], prefix="c", dtype=float)], axis=1
    )
    wildboottest(sm.OLS(warm["satisfaction"], warm_x), B=99, cluster=warm["commune"].to_numpy(),
                 param="treat", seed=1, show=False)  # fmt: skip
    if size == "province":
        x = pd.concat(
            [
                frame[["treat"]],
                pd.get_dummies(frame["commune"], prefix="c", dtype=float),
                pd.get_dummies(frame["wave"], prefix="w", drop_first=True, dtype=float),
            ],
            axis=1,
        )
        model = sm.OLS(frame["satisfaction"], x)
        cluster = frame["commune"].to_numpy()
        before = _peak_mb()
        start = time.perf_counter()
        table = wildboottest(model, B=B, cluster=cluster, param="treat", seed=1, show=False)
        elapsed = time.perf_counter() - start
        p_value = float(table["p-value"].iloc[0])
    else:
        design = _prepare_design(
            frame, "satisfaction", "treat", "commune", ("commune", "wave"), (), None
        )
        x, y, cluster = design.x, design.y, design.codes
        del frame
        before = _peak_mb()
        start = time.perf_counter()
        p_value = _peer_cl(x, y, cluster, seed=1)
        elapsed = time.perf_counter() - start
    return {"time_p": elapsed, "peak_extra_mb_p": max(0.0, _peak_mb() - before), "p_value": p_value}


def run_worker(role: str, size: str, timeout: float | None) -> dict[str, float] | None:
    """Run one worker in a fresh interpreter; None when it exceeds ``timeout`` seconds."""
    command = [sys.executable, __file__, "--worker", role, "--size", size]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"{role} worker failed on {size}:\n{error.stderr}") from error
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="1,000 instead of 10,000 communes")
    parser.add_argument("--peer-timeout", type=float, default=600.0, help="seconds per peer run")
    parser.add_argument("--worker", choices=["ours", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--size", choices=sorted(SIZES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        work = worker_ours if args.worker == "ours" else worker_peer
        print(json.dumps(work(args.size)))
        return

    sizes = ["province", "national_small" if args.small else "national"]
    print(f"WCR, Rademacher, B={B:,}; commune + wave fixed effects; clustered by commune")
    for size in sizes:
        n_communes, n_waves, ballots = SIZES[size]
        rows = n_communes * n_waves * ballots
        print(f"\n{size}: {n_communes:,} communes x {n_waves} waves x {ballots} ballots "
              f"= {rows:,} rows")  # fmt: skip
        ours = run_worker("ours", size, None)
        peer = run_worker("peer", size, args.peer_timeout)
        print(f"  ours, p-value only   : {ours['time_p']:8.2f} s   "
              f"peak +{ours['peak_extra_mb_p']:7.0f} MB   p = {ours['p_value']:.4f}")  # fmt: skip
        print(f"  ours, p-value and CI : {ours['time_ci']:8.2f} s   "
              f"peak +{ours['peak_extra_mb_ci']:7.0f} MB   "
              f"CI [{ours['conf_low']:.4f}, {ours['conf_high']:.4f}]")  # fmt: skip
        if peer is None:
            print(f"  wildboottest         : > {args.peer_timeout:.0f} s (stopped at the timeout)")
            print(f"  ratio wildboottest / ours (p-value only): > "
                  f"{args.peer_timeout / ours['time_p']:,.0f}x")  # fmt: skip
        else:
            print(f"  wildboottest         : {peer['time_p']:8.2f} s   "
                  f"peak +{peer['peak_extra_mb_p']:7.0f} MB   p = {peer['p_value']:.4f}")  # fmt: skip
            print(f"  ratio wildboottest / ours: p-value only "
                  f"{peer['time_p'] / ours['time_p']:,.1f}x, ours with CI "
                  f"{peer['time_p'] / ours['time_ci']:,.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
