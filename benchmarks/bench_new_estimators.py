"""Speed and peak memory of the new estimators against their peers, in the same run.

* synthetic DiD with its placebo SE (200 draws) vs diff-diff ``SyntheticDiD`` (synthdid-py only
  at the province's size: it solves each placebo in a Python loop);
* the imputation estimator vs diff-diff ``ImputationDiD`` and pyfixest ``did2s`` (estimates);
* pre-trend power vs diff-diff's ``PreTrendsPower`` (Wald form).

At the province's size (the small demo's 109 communes) and at 3,000 simulated units. Prints the
seconds and the tracemalloc peak of each, and peer / ours ratios. Run:
``.venv/bin/python benchmarks/bench_new_estimators.py``.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
warnings.simplefilter("ignore")

from _demo import small_demo  # noqa: E402

from evaluation.analysis import rollout  # noqa: E402
from evaluation.estimators.imputation import imputation_did  # noqa: E402
from evaluation.estimators.synthetic_did import synthetic_did  # noqa: E402
from evaluation.inference.pretrend_power import pretrend_power  # noqa: E402


def measure(function, *args, warm: bool = True, **kwargs) -> tuple[float, float]:
    """Seconds and peak MB (tracemalloc) of one call (after one warm-up call unless ``warm`` is
    False: a peer that takes minutes per call is timed once)."""
    if warm:
        function(*args, **kwargs)
    tracemalloc.start()
    start = time.perf_counter()
    function(*args, **kwargs)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return seconds, peak


def report(label: str, ours: tuple[float, float], peers: dict[str, tuple[float, float]]) -> None:
    print(f"{label}: ours {ours[0]:.3f} s, {ours[1]:.1f} MB")
    for name, (s, mb) in peers.items():
        print(
            f"    {name}: {s:.3f} s, {mb:.1f} MB  (time x{s / ours[0]:.1f}, memory x{mb / ours[1]:.1f})"
        )


def simulated(n_units: int, n_periods: int = 10, seed: int = 1) -> pd.DataFrame:
    """A staggered panel: a fifth never treated, cohorts adopting in periods 4..8."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_periods)
    year = np.tile(np.arange(1, n_periods + 1), n_units)
    g = rng.choice([0, 4, 5, 6, 7, 8], size=n_units, p=[0.2, 0.2, 0.15, 0.15, 0.15, 0.15])
    g = np.repeat(g, n_periods)
    treated = (g > 0) & (year >= g)
    y = rng.normal(size=n_units).repeat(n_periods) + 0.1 * year + 0.5 * treated
    y = y + rng.normal(scale=0.5, size=len(y))
    frame = pd.DataFrame({"unit": unit, "year": year, "g": g, "y": y, "treat": treated.astype(int)})
    frame["first"] = frame["g"].replace(0, np.nan).astype(float)
    frame["pilot"] = (frame["g"] == 4).astype(int)
    return frame


def bench_imputation(frame: pd.DataFrame, label: str) -> None:
    from diff_diff import ImputationDiD
    from pyfixest.did.did2s import _did2s_estimate

    ours = measure(imputation_did, frame, "y", "unit", "year", "first", max_event_time=3)
    peers = {
        "diff-diff ImputationDiD": measure(
            lambda: ImputationDiD().fit(frame, "y", "unit", "year", "g").aggregate("event_study")
        ),
        "pyfixest did2s (estimates)": measure(
            lambda: _did2s_estimate(
                data=frame.copy(),
                yname="y",
                _first_stage="~0|unit+year",
                _second_stage="~treat",
                treatment="treat",
                weights=None,
            )
        ),
    }
    report(f"imputation, {label}", ours, peers)


def bench_sdid(frame: pd.DataFrame, start: int, label: str, with_synthdid: bool) -> None:
    """The first cohort (adopting at ``start``) against units untreated until the next cohort."""
    from diff_diff import SyntheticDiD

    later = np.sort(frame.loc[frame["g"] > start, "g"].unique())
    end = later[0] if len(later) else frame["year"].max() + 1
    block = frame[frame["year"] < end].copy()
    block["ever"] = (block["g"] == start).astype(int)
    post = list(range(start, int(block["year"].max()) + 1))
    ours = measure(synthetic_did, block, "y", "unit", "year", "ever", start, n_draws=200, seed=1)
    peers = {
        "diff-diff SyntheticDiD": measure(
            lambda: SyntheticDiD(variance_method="placebo", n_bootstrap=200, seed=1).fit(
                block, "y", "ever", "unit", "year", post_periods=post
            )
        )
    }
    report(f"synthetic DiD + 200 placebo draws, {label}", ours, peers)
    if with_synthdid:
        # synthdid-py solves each placebo in a Python loop (minutes for 200 draws): compared
        # at 20 draws, each side timed once.
        import synthdid

        def peer() -> float:
            panel = synthdid.panel_matrices(
                block.assign(t=((block["ever"] == 1) & (block["year"] >= start)).astype(int))[
                    ["unit", "year", "y", "t"]
                ], "unit", "year", "y", "t",
            )  # fmt: skip
            est = synthdid.synthdid_estimate(panel.Y, panel.N0, panel.T0)
            return est.se(method="placebo", replications=20, random_state=1)

        few = measure(
            synthetic_did, block, "y", "unit", "year", "ever", start, n_draws=20, seed=1, warm=False
        )
        report(
            f"synthetic DiD + 20 placebo draws, {label}",
            few,
            {"synthdid-py": measure(peer, warm=False)},
        )


def bench_power(label: str, k: int) -> None:
    from diff_diff.pretrends import PreTrendsPower

    rng = np.random.default_rng(0)
    root = rng.normal(size=(k, k))
    cov = root @ root.T / k + np.eye(k) * 0.01
    d = -np.arange(k, 0, -1, dtype=float)
    ours = measure(pretrend_power, d, cov)
    peer = PreTrendsPower(pretest_form="wald")
    weights = np.abs(d)
    peers = {"diff-diff PreTrendsPower (wald)": measure(
        lambda: (peer._compute_mdv_wald(weights, cov), peer._compute_power_wald(1.0, weights, cov))
    )}  # fmt: skip
    report(f"pre-trend power, {label} ({k} leads)", ours, peers)


def main() -> None:
    params, prepared = small_demo("en")
    demo = rollout.staggered_panel(prepared, params).rename(columns={"wave_index": "year"})
    outcome = rollout.headline_outcome(prepared, params)
    demo = demo.dropna(subset=[outcome]).assign(
        y=lambda f: f[outcome], unit=lambda f: pd.factorize(f["commune_code"])[0],
        first=lambda f: f["first_treated_wave"], g=lambda f: f["first_treated_wave"].fillna(0).astype(int),
    )  # fmt: skip
    demo["treat"] = ((demo["g"] > 0) & (demo["year"] >= demo["g"])).astype(int)
    first = int(demo.loc[demo["g"] > 0, "g"].min())
    print(f"province size: {demo['unit'].nunique()} units x {demo['year'].nunique()} periods")
    bench_imputation(demo, "province size")
    bench_sdid(demo, first, "province size", with_synthdid=True)
    bench_power("province size", 3)
    big = simulated(3000)
    print(f"simulated: {big['unit'].nunique()} units x {big['year'].nunique()} periods")
    bench_imputation(big, "3,000 units")
    bench_sdid(big, 4, "3,000 units", with_synthdid=False)
    bench_power("3,000 units", 8)


if __name__ == "__main__":
    main()
