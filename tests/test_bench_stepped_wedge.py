"""The baselines of ``benchmarks/bench_stepped_wedge.py`` still compute what ours compute.

The benchmark times our stepped-wedge randomisation test against a plain loop (one generator
call and one refit per draw) and our efficient estimator at ``beta = 1`` against our
Callaway-Sant'Anna; both comparisons are only fair while the baselines give the same numbers.
No timing here.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from evaluation.config import PROJECT_ROOT
from evaluation.estimators.efficient_staggered import efficient_staggered
from evaluation.inference.stepped_wedge import stepped_wedge_test


def _load_benchmark():
    path = PROJECT_ROOT / "benchmarks" / "bench_stepped_wedge.py"
    spec = importlib.util.spec_from_file_location("bench_stepped_wedge", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()


def small_case(n_units: int, n_strata: int, n_steps: int, effect: float, seed: int):
    return bench.phase_in_case(
        "test", bench.simulated_units(n_units, n_strata), n_steps=n_steps, lot_seed=seed,
        start_period=5, effect=effect, between_sd=0.3, noise_sd=0.2, pre_periods=2,
        effect_spread=0.5, seed=seed + 1,
    )  # fmt: skip


@pytest.mark.parametrize("statistic", ["did", "efficient_t"])
def test_baseline_p_value_equals_ours(statistic):
    case = small_case(12, 2, 3, effect=0.3, seed=4)
    n_draws, stream = 60, 9
    ours = stepped_wedge_test(
        case.panel, bench.OUTCOME, time=bench.TIME, randomisation=case.lot(),
        statistic=statistic, n_draws=n_draws, stream=stream,
    )  # fmt: skip
    base = bench.baseline_randomisation_test(case, n_draws, stream, statistic)
    assert base["n_draws"] == ours.n_draws
    assert base["observed"] == pytest.approx(ours.observed, abs=1e-12)
    assert np.allclose(base["draws"], ours.draws, atol=1e-12, rtol=0, equal_nan=True)
    assert base["p_value"] == ours.p_value
    # the draws differ from each other (a constant statistic would make any p-value agree)
    assert np.unique(np.round(ours.draws, 9)).size > n_draws // 2


def test_ties_with_the_recorded_order_count_alike():
    # 6 units in 2 steps: 20 possible orders, so some re-draws repeat the recorded one and
    # tie with the observed statistic up to rounding; both tests must count them as extreme
    case = small_case(6, 1, 2, effect=0.0, seed=3)
    n_draws, stream = 200, 1
    ours = stepped_wedge_test(
        case.panel, bench.OUTCOME, time=bench.TIME, randomisation=case.lot(),
        n_draws=n_draws, stream=stream,
    )  # fmt: skip
    base = bench.baseline_randomisation_test(case, n_draws, stream)
    ties = np.isclose(base["draws"], base["observed"], rtol=0, atol=1e-12)
    assert ties.sum() >= 1
    assert base["p_value"] == ours.p_value


def test_a_different_stream_gives_other_draws():
    case = small_case(12, 2, 3, effect=0.3, seed=4)
    one = bench.baseline_randomisation_test(case, 20, stream=1)
    two = bench.baseline_randomisation_test(case, 20, stream=2)
    assert not np.allclose(one["draws"], two["draws"])


def test_callaway_santanna_baseline_equals_ours_at_beta_one():
    case = small_case(30, 3, 4, effect=0.3, seed=6)
    events = (0, 1, 2)
    cs = bench.cs_simple(case.panel, events)
    ours = efficient_staggered(
        case.panel, bench.OUTCOME, unit=bench.UNIT, time=bench.TIME, first_treated=bench.START,
        estimands=("simple",), event_times=events, beta=1.0,
    ).table.set_index("term")["estimate"]  # fmt: skip
    for term, value in cs.items():
        assert ours[term] == pytest.approx(value, abs=1e-12)
