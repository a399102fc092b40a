"""Benchmark the staggered-adoption estimators against their peers (run: python benchmarks/bench_staggered.py).

Prints wall time and peak traced memory (tracemalloc: Python and NumPy allocations) for
Callaway-Sant'Anna (ours vs csdid 0.4.3, analytic SEs, all four aggregations), Sun-Abraham
(ours vs pyfixest 0.60 saturated event study) and the Bacon decomposition (no peer installed),
with the ratio ours / peer measured in the same run. BLAS runs single-threaded (see below).
"""

# ruff: noqa: E402  (BLAS thread settings must precede the numpy import)
from __future__ import annotations

import os

# One BLAS thread for ours and the peers alike: on this 2-core machine shared with other jobs,
# threaded BLAS oversubscribes and makes small QR/SVD calls 2-10x slower and noisy.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import time
import tracemalloc
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from evaluation.estimators.bacon import bacon_decomposition
from evaluation.estimators.staggered import aggregate, group_time_att
from evaluation.estimators.sun_abraham import sun_abraham


def simulate(n_units: int, periods: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cohort = rng.choice([0, 3, 5, 7], size=n_units, p=[0.4, 0.2, 0.2, 0.2])
    unit = np.repeat(np.arange(1, n_units + 1), periods)
    wave = np.tile(np.arange(1, periods + 1), n_units)
    g = cohort[unit - 1]
    x = rng.normal(size=n_units)[unit - 1]
    effect = np.where((g > 0) & (wave >= g), 1 + 0.2 * (wave - g), 0.0)
    y = (
        rng.normal(size=n_units)[unit - 1]
        + 0.1 * wave
        + 0.3 * x
        + effect
        + rng.normal(size=len(unit))
    )
    return pd.DataFrame(
        {
            "unit": unit,
            "wave": wave,
            "first_wave": g,
            "y": y,
            "x": x,
            "commune": ((unit - 1) % 109) + 1,
        }
    )


def measure(func: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall time (s) over ``repeat`` runs and peak traced memory (MB) of one run."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return best, peak


def ours_cs(frame: pd.DataFrame) -> None:
    result = group_time_att(
        frame, "y", "unit", "wave", "first_wave", covariates=["x"], cluster="commune"
    )
    for kind in ("simple", "group", "dynamic", "calendar"):
        aggregate(result, kind)


def peer_cs(frame: pd.DataFrame) -> None:
    from csdid.att_gt import ATTgt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ATTgt(
            yname="y",
            tname="wave",
            idname="unit",
            gname="first_wave",
            data=frame,
            xformla="y ~ x",
            clustervar="commune",
        ).fit(est_method="dr", bstrap=False)
        for kind in ("simple", "group", "dynamic", "calendar"):
            fit.aggte(typec=kind, bstrap=False)


def ours_sa(frame: pd.DataFrame) -> None:
    sun_abraham(frame, "y", "unit", "wave", "first_wave", cluster="commune")


def peer_sa(frame: pd.DataFrame) -> None:
    import pyfixest as pf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.event_study(
            frame,
            yname="y",
            idname="unit",
            tname="wave",
            gname="first_wave",
            estimator="saturated",
            cluster="commune",
        )
        fit.aggregate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--periods", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    import contextlib
    import io

    rows = []
    for n_units in args.units:
        frame = simulate(n_units, args.periods)
        for name, mine, peer, label in (
            ("callaway_santanna_dr_x", ours_cs, peer_cs, "csdid 0.4.3"),
            ("sun_abraham", ours_sa, peer_sa, "pyfixest 0.60"),
        ):
            with contextlib.redirect_stdout(io.StringIO()):  # csdid prints summaries
                peer(frame)  # warm-up (imports, numba JIT)
                t_ours, m_ours = measure(lambda f=mine, d=frame: f(d), args.repeat)
                t_peer, m_peer = measure(lambda f=peer, d=frame: f(d), args.repeat)
            rows.append((name, n_units, len(frame), t_ours, m_ours, label, t_peer, m_peer))
        t_bacon, m_bacon = measure(
            lambda d=frame: bacon_decomposition(d, "y", "unit", "wave", "first_wave"), args.repeat
        )
        rows.append(("bacon", n_units, len(frame), t_bacon, m_bacon, "-", np.nan, np.nan))
    table = pd.DataFrame(
        rows,
        columns=["estimator", "units", "rows", "ours_s", "ours_mb", "peer", "peer_s", "peer_mb"],
    )
    table["time_ratio"] = table["ours_s"] / table["peer_s"]
    table["memory_ratio"] = table["ours_mb"] / table["peer_mb"]
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
