"""Design-based analysis of a randomised phase-in against its peers, in one run.

Two sizes: the province (Hà Nam's 109 communes of the 2020 map, dealt by page 06's own
stepped-wedge lot: its strata, steps and seed, outcomes simulated with the noise of page 06's
power section, as :func:`evaluation.analysis.phase_in.phase_in_check` does; on the small demo
page 06's own lot holds only the 14 candidate communes still untreated) and 3,000 simulated
units in 30 strata and 8 steps (random start periods, hundreds of units per step).

(a) ``efficient_staggered`` (Roth & Sant'Anna 2023, plug-in ``beta*``, refined SE, ``simple``
    estimand) against

    * diff-diff ``EfficientDiD`` (Chen, Sant'Anna & Xie; PT-All, last cohort as comparison):
      the closest external peer. Same target (the cohort-size weighted average of the
      identified ATT(g, t)), other identifying assumption (parallel trends, not random timing)
      and other estimator, so its estimate differs from ours;
    * our Callaway-Sant'Anna (``group_time_att``, not-yet-treated comparisons, outcome
      regression, then the cohort-size weighted average): the same-estimand baseline, which
      ``efficient_staggered`` equals at ``beta = 1`` by construction (checked here).

(b) ``stepped_wedge_test`` (Fisher randomisation test, statistic ``did``, as page 06 runs it)
    against :func:`baseline_randomisation_test`, written here: the same generator and seed
    stream, then a plain loop that re-labels the panel and refits the estimator per draw. Same
    draws, so the p-values must be equal.

Each method runs in its own subprocess that imports only what the method needs: a warm-up call
on a tiny phase-in, the data loaded, the timed call. Peak = the process's own high-water mark of
resident memory (imports, data and call); "call" = its rise during the timed call alone (the
mark is reset through ``/proc/self/clear_refs`` just before it). Both are read as ``VmHWM``
from ``/proc/self/status``, the counter ``ru_maxrss`` reports, because on Linux a child's
``ru_maxrss`` starts at its parent's peak (kept across fork and exec): read in a worker it gave
the parent's 334 MB for every method. Elsewhere ``ru_maxrss`` is used. Run::

    nice -n 10 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_stepped_wedge.py
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

# The project's modules are imported inside the functions that use them, so that each worker
# process loads only its own method's modules (their memory is part of its peak).
if TYPE_CHECKING:
    from evaluation.inference.stepped_wedge import WedgeRandomisation

#: Re-draws at 3,000 units (the province's size takes page 06's ``phase_in.MAX_DRAWS``); chosen
#: so that the whole benchmark stays within about 6 minutes on 2 shared cores.
LARGE_DRAWS = 499
#: Size of the large case.
LARGE_UNITS, LARGE_STRATA, LARGE_STEPS = 3_000, 30, 8
#: A re-draw counts as extreme when ``|T_b| >= |T_obs| (1 - TIE_TOLERANCE)`` (rounding ties).
TIE_TOLERANCE = 1e-9
METHODS = ("efficient", "edid", "cs_beta1", "ri_ours", "ri_baseline")
OUTCOME, TIME, UNIT, START = "outcome", "period", "commune_code", "start_period"


@dataclass
class PhaseIn:
    """A recorded lot and the simulated outcomes of its phase."""

    label: str
    design: pd.DataFrame  # the recorded order, as page 06 writes it
    strata: str
    n_steps: int
    panel: pd.DataFrame  # one row per unit and period

    def lot(self) -> WedgeRandomisation:
        """The recorded lot read back by :meth:`WedgeRandomisation.from_design`."""
        from evaluation.inference.stepped_wedge import WedgeRandomisation

        return WedgeRandomisation.from_design(self.design, self.strata, self.n_steps, unit=UNIT)


# --------------------------------------------------------------------------------------------
# Data


def simulated_units(n_units: int, n_strata: int) -> pd.DataFrame:
    """``n_units`` commune codes spread evenly over ``n_strata`` districts."""
    codes = np.arange(n_units)
    return pd.DataFrame(
        {
            UNIT: [f"{c:05d}" for c in codes],
            "district_name": [f"d{c % n_strata:02d}" for c in codes],
        }
    )


def recorded_order(units: pd.DataFrame, n_steps: int, seed: int, start_period: int) -> pd.DataFrame:
    """The lot drawn by the project's generator, stratified by district, as page 06 records it."""
    from evaluation.scaling.rollout_design import stepped_wedge

    design = stepped_wedge(
        units[[UNIT, "district_name"]].rename(columns={"district_name": "stratum"}),
        strata="stratum",
        n_steps=n_steps,
        seed=seed,
        start_period=start_period,
        unit=UNIT,
    )
    return design.rename(columns={"stratum": "district_name"})


def phase_in_case(
    label: str,
    units: pd.DataFrame,
    *,
    n_steps: int,
    lot_seed: int,
    start_period: int,
    effect: float,
    between_sd: float,
    noise_sd: float,
    pre_periods: int,
    effect_spread: float,
    seed: int,
) -> PhaseIn:
    """Draw the lot for ``units`` and simulate its phase (:func:`demo.simulate_phase_in`)."""
    from evaluation.demo import simulate_phase_in

    design = recorded_order(units, n_steps, lot_seed, start_period)
    panel = simulate_phase_in(
        design[[UNIT, START]],
        effect=effect,
        between_sd=between_sd,
        noise_sd=noise_sd,
        pre_periods=pre_periods,
        effect_spread=effect_spread,
        seed=seed,
        unit=UNIT,
    )
    return PhaseIn(label, design, "district_name", n_steps, panel)


def province_and_large(large_units: int = LARGE_UNITS) -> tuple[PhaseIn, PhaseIn, dict]:
    """The province's 109 communes under page 06's lot settings, and ``large_units`` units.

    Both use the small demo's noise (page 06's power section), its powered effect, page 06's
    pre-periods and effect spread, the lot seed ``scaling.rollout_seed`` and the simulation seed
    ``inference.seed``.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from _demo import small_demo

    from evaluation.analysis import phase_in
    from evaluation.analysis import scaling as sc
    from evaluation.analysis.base import applies

    params, prepared = small_demo("en")
    headline = sc.headline_effects(prepared, params)
    candidates = sc.candidate_predictions(prepared, params, headline)
    power = sc.power_analysis(prepared, params, headline, candidates)
    if not applies(power):
        raise RuntimeError(f"page 06's power section did not apply: {power}")
    between_sd, noise_sd = phase_in.noise_levels(power)
    common = {
        "lot_seed": int(params.scaling.rollout_seed),
        "start_period": sc.last_period(prepared) + 1,
        "effect": float(power.target_effect),
        "between_sd": between_sd,
        "noise_sd": noise_sd,
        "pre_periods": phase_in.PRE_PERIODS,
        "effect_spread": phase_in.EFFECT_SPREAD,
        "seed": int(params.inference.seed),
    }
    province = phase_in_case(
        "province", sc.unit_info(prepared), n_steps=int(params.scaling.rollout_steps), **common
    )
    large = phase_in_case(
        f"{large_units:,} units",
        simulated_units(large_units, LARGE_STRATA),
        n_steps=LARGE_STEPS,
        **common,
    )
    return province, large, {**common, "stream": int(params.inference.seed) + 1}


def tiny_case(seed: int = 0) -> PhaseIn:
    """24 units, 3 steps: the warm-up call of every worker."""
    return phase_in_case(
        "tiny", simulated_units(24, 2), n_steps=3, lot_seed=seed, start_period=3, effect=0.2,
        between_sd=0.3, noise_sd=0.15, pre_periods=2, effect_spread=0.5, seed=seed,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Baselines


def cs_simple(panel: pd.DataFrame, event_times: tuple[int, ...] = ()) -> dict[str, float]:
    """Our Callaway-Sant'Anna with not-yet-treated comparisons, aggregated as ``staggered`` does.

    The cohort-size weighted average of ATT(g, t) over ``g <= t`` before the last start
    (``simple``), and per event time ``e`` over ``t = g + e`` (``event_<e>``).
    """
    from evaluation.estimators.staggered import group_time_att

    att = group_time_att(
        panel, OUTCOME, UNIT, TIME, START,
        control_group="not_yet_treated", method="reg", base_period="universal",
    ).att_gt  # fmt: skip
    sizes = panel.groupby(UNIT)[START].first().value_counts()
    post = att[(att["time"] >= att["group"]) & (att["time"] < panel[START].max())]
    out = {"simple": float(np.average(post["estimate"], weights=post["group"].map(sizes)))}
    for e in event_times:
        cells = post[post["time"] - post["group"] == e]
        out[f"event_{e}"] = float(np.average(cells["estimate"], weights=cells["group"].map(sizes)))
    return out


def draw_seed_plain(stream: int, draw: int) -> int:
    """The documented seed of re-draw ``draw`` of ``stream``: ``SeedSequence([stream, draw])``."""
    return int(np.random.SeedSequence([stream, draw]).generate_state(1)[0])


def _refit(panel: pd.DataFrame, starts: pd.Series, statistic: str) -> float:
    """The statistic with the panel's start periods replaced by ``starts`` (refit from scratch)."""
    from evaluation.estimators.efficient_staggered import efficient_staggered

    relabelled = panel.assign(**{START: panel[UNIT].astype(str).map(starts).to_numpy()})
    try:
        fit = efficient_staggered(
            relabelled, OUTCOME, unit=UNIT, time=TIME, first_treated=START,
            estimands=("simple",), beta=1.0 if statistic == "did" else None,
        )  # fmt: skip
    except ValueError:  # no contrast identified under this order
        return float("nan")
    row = fit.table.iloc[0]
    if statistic == "did":
        return float(row["estimate"])
    # the refined standard error only (the test leaves a draw out when it is not positive)
    return float(row["estimate"] / row["std_error"]) if row["se_method"] == "refined" else np.nan


def baseline_randomisation_test(
    case: PhaseIn, n_draws: int, stream: int, statistic: str = "did"
) -> dict[str, object]:
    """A plain Fisher randomisation test: one generator call and one refit per draw.

    Re-draw ``b`` calls :func:`stepped_wedge` with the recorded lot's units, strata, steps and
    first start, and seed ``draw_seed_plain(stream, b)``; the panel is re-labelled with the new
    start periods and the estimator refitted (``did``: ``efficient_staggered`` at ``beta = 1``;
    ``efficient_t``: its plug-in estimate over the refined SE). Two-sided p-value
    ``(1 + #{|T_b| >= |T_obs|}) / (1 + B)`` over the draws whose statistic is defined. Needs
    two units in every step: ``efficient_staggered`` drops one-unit cohorts, which the test's
    ``did`` statistic keeps.
    """
    from evaluation.scaling.rollout_design import stepped_wedge

    design = case.design
    units = design[[UNIT, case.strata]].astype(str).rename(columns={case.strata: "stratum"})
    first_start = int(design.loc[design["step"] == design["step"].min(), START].iloc[0])

    def draw(seed: int) -> pd.Series:
        order = stepped_wedge(
            units, strata="stratum", n_steps=case.n_steps, seed=seed,
            start_period=first_start, unit=UNIT,
        )  # fmt: skip
        return order.set_index(UNIT)[START]

    recorded = design.assign(**{UNIT: design[UNIT].astype(str)}).set_index(UNIT)[START]
    again = draw(int(design["seed"].iloc[0]))
    if not again.sort_index().equals(recorded.sort_index()):
        raise ValueError("the generator does not reproduce the recorded order from its seed")
    observed = _refit(case.panel, recorded, statistic)
    values = np.array(
        [
            _refit(case.panel, draw(draw_seed_plain(stream, b)), statistic)
            for b in range(1, n_draws + 1)
        ]
    )
    defined = values[np.isfinite(values)]
    extreme = int(np.sum(np.abs(defined) >= np.abs(observed) * (1 - TIE_TOLERANCE)))
    return {
        "observed": observed,
        "p_value": (1 + extreme) / (1 + defined.size),
        "n_draws": int(defined.size),
        "draws": values,
    }


# --------------------------------------------------------------------------------------------
# Workers (one per method, each in its own process)


def _peak_mb() -> float:
    """This process's own high-water mark of resident memory, MB (``VmHWM``; see the module)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    # ru_maxrss is in kilobytes on Linux (where it would include the parent's peak)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _call(method: str, case: PhaseIn, n_draws: int, stream: int) -> dict[str, object]:
    """One call of ``method`` on ``case``; what it returns, as plain numbers."""
    if method == "efficient":
        from evaluation.estimators.efficient_staggered import efficient_staggered

        fit = efficient_staggered(
            case.panel, OUTCOME, unit=UNIT, time=TIME, first_treated=START, estimands=("simple",)
        )
        row = fit.table.iloc[0]
        return {"estimate": float(row["estimate"]), "std_error": float(row["std_error"])}
    if method == "edid":
        from diff_diff import EfficientDiD

        result = EfficientDiD(pt_assumption="all", control_group="last_cohort").fit(
            case.panel, OUTCOME, UNIT, TIME, START
        )
        return {"estimate": float(result.overall_att), "std_error": float(result.overall_se)}
    if method == "cs_beta1":
        return {"estimate": cs_simple(case.panel)["simple"], "std_error": float("nan")}
    if method == "ri_ours":
        from evaluation.inference.stepped_wedge import stepped_wedge_test

        test = stepped_wedge_test(
            case.panel, OUTCOME, time=TIME, randomisation=case.lot(), n_draws=n_draws, stream=stream
        )
        return {"observed": test.observed, "p_value": test.p_value, "n_draws": test.n_draws,
                "draws": test.draws.tolist()}  # fmt: skip
    if method == "ri_baseline":
        out = baseline_randomisation_test(case, n_draws, stream)
        return {**out, "draws": np.asarray(out["draws"]).tolist()}
    raise ValueError(f"unknown method {method!r}")


def _reset_peak() -> bool:
    """Reset this process's high-water mark of resident memory to the current RSS (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _worker(method: str, data: Path, n_draws: int, stream: int) -> dict[str, object]:
    warnings.simplefilter("ignore")
    with data.open("rb") as handle:
        tiny, case = pickle.load(handle)
    _call(method, tiny, 5, stream)  # warm-up: imports, first calls
    so_far = _peak_mb()  # imports, warm-up and data
    reset = _reset_peak()
    before = _peak_mb()
    start = time.perf_counter()
    result = _call(method, case, n_draws, stream)
    seconds = time.perf_counter() - start
    after = _peak_mb()
    return {"method": method, "seconds": seconds, "peak_mb": max(so_far, after),
            "call_mb": after - before if reset else float("nan"), **result}  # fmt: skip


def _run_worker(method: str, data: Path, n_draws: int, stream: int) -> dict[str, object]:
    command = [sys.executable, __file__, "--worker", method, "--data", str(data),
               "--draws", str(n_draws), "--stream", str(stream)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# The run


def _ratio(ours: float, peer: float) -> str:
    return f"{ours / peer:.2f}" if peer > 0 else "-"


def _line(name: str, r: dict, ours: dict | None) -> str:
    text = (
        f"    {name:<44} {r['seconds']:8.3f} s  peak {r['peak_mb']:5.0f} MB, "
        f"call {r['call_mb']:6.1f} MB"
    )
    if ours is not None:
        call = _ratio(ours["call_mb"], r["call_mb"]) if r["call_mb"] >= 1 else "-"
        text += (
            f"   ours/peer: time {_ratio(ours['seconds'], r['seconds'])}, "
            f"peak {_ratio(ours['peak_mb'], r['peak_mb'])}, call {call}"
        )
    return text


def bench_case(case: PhaseIn, n_draws: int, stream: int, folder: Path) -> None:
    """Every method on ``case``, each in its own process, and the equality checks."""
    from evaluation.estimators.efficient_staggered import efficient_staggered

    path = folder / f"{case.label.replace(' ', '_').replace(',', '')}.pkl"
    with path.open("wb") as handle:
        pickle.dump((tiny_case(), case), handle)
    sizes = case.design.groupby(START).size()
    print(
        f"\n{case.label}: {case.panel[UNIT].nunique():,} units x {case.panel[TIME].nunique()} "
        f"periods, {case.design[case.strata].nunique()} strata, {case.n_steps} steps "
        f"(units per step {sizes.min()}-{sizes.max()}), {n_draws:,} re-draws"
    )
    r = {m: _run_worker(m, path, n_draws, stream) for m in METHODS}
    eff = r["efficient"]
    print("  (a) estimator")
    print(_line("efficient_staggered (beta*, refined SE)", eff, None))
    print(_line("diff-diff EfficientDiD (PT-All, last cohort)", r["edid"], eff))
    print(_line("our Callaway-Sant'Anna (= ours at beta=1)", r["cs_beta1"], eff))
    print(
        f"    estimates: ours {eff['estimate']:.6f} (SE {eff['std_error']:.6f}), "
        f"EfficientDiD {r['edid']['estimate']:.6f} (SE {r['edid']['std_error']:.6f}), "
        f"CS {r['cs_beta1']['estimate']:.6f}"
    )
    # same-estimand checks (untimed): ours at beta = 1 against our CS, simple and event times
    events = tuple(range(case.n_steps - 1))
    at_one = efficient_staggered(
        case.panel, OUTCOME, unit=UNIT, time=TIME, first_treated=START,
        estimands=("simple",), event_times=events, beta=1.0,
    ).table.set_index("term")["estimate"]  # fmt: skip
    cs = pd.Series(cs_simple(case.panel, events))
    print(
        f"    ours at beta=1 vs CS (simple, event 0-{events[-1]}): max abs difference "
        f"{np.max(np.abs(at_one.reindex(cs.index) - cs)):.2e}"
    )
    # and against diff-diff under PT-Post with the last cohort (Sun-Abraham-type comparison)
    from diff_diff import EfficientDiD

    warnings.simplefilter("ignore")
    post = EfficientDiD(pt_assumption="post", control_group="last_cohort").fit(
        case.panel, OUTCOME, UNIT, TIME, START
    )
    last = efficient_staggered(
        case.panel, OUTCOME, unit=UNIT, time=TIME, first_treated=START,
        estimands=("simple",), beta=1.0, use_last_treated_only=True,
    ).table["estimate"].iloc[0]  # fmt: skip
    print(
        "    ours at beta=1, last cohort only vs EfficientDiD PT-Post, last cohort: abs "
        f"difference {abs(last - post.overall_att):.2e}"
    )
    ours, base = r["ri_ours"], r["ri_baseline"]
    print("  (b) randomisation test, statistic did")
    print(_line("stepped_wedge_test", ours, None))
    print(_line("plain loop: generator + refit per draw", base, ours))
    diff = np.nanmax(np.abs(np.asarray(ours["draws"]) - np.asarray(base["draws"], dtype=float)))
    print(
        f"    p-values: ours {ours['p_value']:.6f}, baseline {base['p_value']:.6f}, difference "
        f"{abs(ours['p_value'] - base['p_value']):.1e}; draws defined {ours['n_draws']} / "
        f"{base['n_draws']}; observed {ours['observed']:.6f} / {base['observed']:.6f}; "
        f"max abs difference of the re-drawn statistics {diff:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--province-draws", type=int, help="default: page 06's MAX_DRAWS")
    parser.add_argument("--large-draws", type=int, default=LARGE_DRAWS)
    parser.add_argument("--large-units", type=int, default=LARGE_UNITS)
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--draws", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.data, args.draws, args.stream)))
        return
    from evaluation.analysis.phase_in import MAX_DRAWS

    warnings.simplefilter("ignore")
    began = time.perf_counter()
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    province, large, settings = province_and_large(args.large_units)
    print(
        f"simulated phase-in: effect {settings['effect']:.4f}, between-unit SD "
        f"{settings['between_sd']:.4f}, unit-period SD {settings['noise_sd']:.4f}, "
        f"{settings['pre_periods']} pre-periods, lot seed {settings['lot_seed']}, "
        f"simulation seed {settings['seed']}, re-draw stream {settings['stream']}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-stepped-wedge-") as folder:
        province_draws = args.province_draws or MAX_DRAWS
        bench_case(province, province_draws, settings["stream"], Path(folder))
        bench_case(large, args.large_draws, settings["stream"], Path(folder))
    print(
        f"\nload average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
        f"whole benchmark {time.perf_counter() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
