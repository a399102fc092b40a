"""Wall time and peak memory of drdid() and ordinal_did() against their peers, in one run.

Run: .venv/bin/python benchmarks/bench_doubly_robust.py
Peers: drdid 1.1.7 kernels (arrays in, no data handling) and csdid 0.4.3 ATTgt for the DR DiD;
a direct statsmodels OrderedModel fit with clustered covariance for the ordered logit.
"""

from __future__ import annotations

import time
import tracemalloc
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from csdid.att_gt import ATTgt
from drdid import drdid as peer_dr
from statsmodels.miscmodels.ordinal_model import OrderedModel

from evaluation.estimators.doubly_robust import drdid
from evaluation.estimators.ordinal import ordinal_did


def measure(function: Callable[[], object], repeat: int = 3) -> tuple[float, float]:
    """Best wall time of ``repeat`` calls (s) and peak traced memory of one call (MB)."""
    function()  # warm caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return min(times), peak


def simulate(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    d = rng.binomial(1, 1 / (1 + np.exp(-(-1.5 + x @ [0.5, 0.3, -0.2]))))
    y0 = x @ [1.0, 0.5, 0.2] + rng.normal(size=n)
    y1 = y0 + 0.3 * x[:, 0] + 0.5 * d + rng.normal(size=n)
    return {"x": x, "d": d.astype(float), "y0": y0, "y1": y1, "t": rng.binomial(1, 0.5, n)}


def row(label: str, ours: tuple[float, float], peer: tuple[float, float]) -> str:
    return (
        f"| {label} | {ours[0]:.3f} | {ours[1]:.0f} | {peer[0]:.3f} | {peer[1]:.0f} "
        f"| {ours[0] / peer[0]:.2f} |"
    )


COVARIATES = ("x0", "x1", "x2")


def main() -> None:
    warnings.simplefilter("ignore")
    lines = [
        "| case | ours s | ours MB | peer s | peer MB | time ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for n in (2_000, 20_000):
        s = simulate(n)
        frame = pd.DataFrame(
            {
                "unit": np.tile(np.arange(n), 2),
                "post": np.repeat([0, 1], n),
                "y": np.r_[s["y0"], s["y1"]],
                "pilot": np.tile(s["d"], 2).astype(int),
                **{f"x{j}": np.tile(s["x"][:, j], 2) for j in range(3)},
                "commune": np.tile(np.arange(n) % 109, 2),
            }
        )
        ours = measure(
            lambda f=frame: drdid(f, "y", "unit", "post", "pilot", COVARIATES, method="dr_trad")
        )
        peer = measure(lambda s=s: peer_dr.drdid_panel(s["y1"], s["y0"], s["d"], s["x"]))
        lines.append(row(f"panel dr_trad, {n:,} units vs drdid_panel", ours, peer))
        frame["wave"] = frame["post"] + 1
        frame["first"] = np.where(frame["pilot"] == 1, 2, 0)

        def run_csdid(f=frame):
            ATTgt(
                yname="y", tname="wave", idname="unit", gname="first", data=f,
                xformla="y~x0+x1+x2", clustervar="commune",
            ).fit(est_method="dr", bstrap=False)  # fmt: skip

        ours = measure(
            lambda f=frame: drdid(
                f, "y", "unit", "post", "pilot", COVARIATES, method="dr_trad", cluster="commune"
            )
        )
        lines.append(
            row(f"panel dr_trad clustered, {n:,} units vs csdid", ours, measure(run_csdid))
        )
        ours = measure(
            lambda f=frame: drdid(f, "y", "unit", "post", "pilot", COVARIATES, method="dr")
        )
        lines.append(row(f"panel dr (improved), {n:,} units vs drdid_panel", ours, peer))

    for n in (20_000, 200_000):
        s = simulate(n, seed=1)
        y = np.where(s["t"] == 1, s["y1"], s["y0"])
        rc = pd.DataFrame(
            {"ballot": np.arange(n), "post": s["t"], "y": y, "pilot": s["d"].astype(int)}
            | {f"x{j}": s["x"][:, j] for j in range(3)}
        )
        peer = measure(lambda s=s, y=y: peer_dr.drdid_rc(y, s["t"], s["d"], s["x"]))
        ours = measure(
            lambda f=rc: drdid(
                f, "y", "ballot", "post", "pilot", COVARIATES, method="dr_trad", panel=False
            )
        )
        lines.append(row(f"ballots dr_trad, {n:,} rows vs drdid_rc", ours, peer))
        ours = measure(
            lambda f=rc: drdid(
                f, "y", "ballot", "post", "pilot", COVARIATES, method="dr", panel=False
            )
        )
        lines.append(row(f"ballots dr (improved), {n:,} rows vs drdid_rc", ours, peer))

    rng = np.random.default_rng(2)
    n = 20_000
    commune = rng.integers(0, 109, n)
    pilot = (commune < 14).astype(int)
    post = rng.binomial(1, 0.5, n)
    latent = 0.3 * pilot + 0.2 * post + 0.5 * pilot * post + rng.logistic(size=n)
    ballots = pd.DataFrame(
        {
            "answer": 1 + np.searchsorted([-2.0, -0.8, 0.5, 1.8], latent),
            "pilot": pilot,
            "post": post,
            "commune": commune,
        }
    )
    exog = pd.DataFrame({"pilot": pilot, "post": post, "pilot_post": pilot * post}, dtype=float)

    def direct():
        OrderedModel(ballots["answer"], exog, distr="logit").fit(
            method="bfgs", disp=False, cov_type="cluster", cov_kwds={"groups": commune}
        )

    ours = measure(
        lambda: ordinal_did(ballots, "answer", "pilot", "post", "commune", "commune"), repeat=2
    )
    lines.append(row(f"ordinal_did, {n:,} ballots vs OrderedModel fit", ours, measure(direct, 2)))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
