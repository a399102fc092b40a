"""Fisher randomisation test of a stepped-wedge lot, and page 06's rehearsal of the next phase."""

from __future__ import annotations

import dataclasses
import itertools
import json
import types
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from _demo import small_demo
from scipy import stats

from evaluation.analysis import scaling as sc
from evaluation.analysis.base import NotApplicable, applies, to_jsonable
from evaluation.analysis.phase_in import phase_in_check
from evaluation.estimators.efficient_staggered import efficient_staggered
from evaluation.i18n import LANGUAGES
from evaluation.inference.stepped_wedge import (
    WedgeRandomisation,
    draw_orders,
    draw_seed,
    stepped_wedge_test,
    wedge_statistic,
)
from evaluation.report import phase_in as pp
from evaluation.scaling import rollout_design
from evaluation.scaling.rollout_design import stepped_wedge

NA = NotApplicable("scaling.test", "scaling_no_conditions")


def lot(codes: list[str], strata: list[str], n_steps: int, seed: int, start: int = 10):
    units = pd.DataFrame({"commune_code": codes, "district_name": strata})
    design = stepped_wedge(
        units, strata="district_name", n_steps=n_steps, seed=seed, start_period=start
    )
    design["district_name"] = design["stratum"]
    return design, WedgeRandomisation.from_design(design, strata="district_name", n_steps=n_steps)


def outcomes(codes: list[str], periods: np.ndarray, seed: int, starts=None, effect=0.0):
    rng = np.random.default_rng(seed)
    level = rng.normal(0, 1, len(codes))
    rows = []
    for i, code in enumerate(codes):
        for t in periods:
            treated = starts is not None and t >= starts[code]
            y = level[i] + 0.05 * t + rng.normal(0, 0.5) + effect * treated
            rows.append({"commune_code": code, "wave_index": int(t), "y": y})
    return pd.DataFrame(rows)


# -- the recorded lot --------------------------------------------------------------------------


def test_recorded_lot_is_reproduced_and_an_edited_one_is_refused():
    codes = [f"{i:05d}" for i in range(12)]
    design, randomisation = lot(codes, ["A"] * 5 + ["B"] * 7, n_steps=3, seed=2026)
    assert randomisation.reproduces()
    assert randomisation.start_period == 10 and randomisation.n_strata == 2
    # rows in any order, codes read back as text: still the same lot
    shuffled = design.sample(frac=1, random_state=1)
    again = WedgeRandomisation.from_design(shuffled, strata="district_name", n_steps=3)
    assert again.reproduces()
    edited = design.copy()
    first, last = edited.index[0], edited.index[-1]
    edited.loc[[first, last], ["step", "start_period"]] = edited.loc[
        [last, first], ["step", "start_period"]
    ].to_numpy()
    moved = WedgeRandomisation.from_design(edited, strata="district_name", n_steps=3)
    assert not moved.reproduces()
    data = outcomes(codes, np.arange(8, 13), seed=1)
    with pytest.raises(ValueError, match="does not reproduce"):
        stepped_wedge_test(data, "y", time="wave_index", randomisation=moved, n_draws=5)


def test_redraws_come_from_the_generator_with_the_seed_stream():
    codes = [f"{i:05d}" for i in range(11)]
    design, randomisation = lot(codes, ["A"] * 4 + ["B"] * 7, n_steps=3, seed=5)
    draws = draw_orders(randomisation, 30, stream=9)
    assert len(set(draws.seeds)) == 30
    for b in range(30):  # the re-draws are the generator's own orders, every one
        direct = stepped_wedge(
            design[["commune_code", "stratum"]],
            strata="stratum",
            n_steps=3,
            seed=draw_seed(9, b + 1),
            start_period=10,
        ).set_index("commune_code")["start_period"]
        assert (draws.starts[b] == direct.reindex(draws.units).to_numpy()).all()
    # every draw keeps each district's step sizes within one of each other
    strata = randomisation.units.set_index("commune_code")["stratum"].reindex(draws.units)
    for row in draws.starts:
        for s in ("A", "B"):
            counts = pd.Series(row[(strata == s).to_numpy()]).value_counts()
            assert counts.max() - counts.min() <= 1
    assert len({tuple(r) for r in draws.starts}) > 10


def test_did_statistic_is_the_not_yet_treated_did():
    codes = [f"{i:05d}" for i in range(16)]
    design, randomisation = lot(codes, ["A"] * 8 + ["B"] * 8, n_steps=4, seed=3)
    starts = randomisation.recorded
    data = outcomes(codes, np.arange(8, 14), seed=2, starts=starts, effect=0.2)
    data["start"] = data["commune_code"].map(starts)
    did = efficient_staggered(
        data,
        "y",
        unit="commune_code",
        time="wave_index",
        first_treated="start",
        estimands=("simple",),
        beta=1,
    )
    test = stepped_wedge_test(data, "y", time="wave_index", randomisation=randomisation, n_draws=20)
    assert test.observed == pytest.approx(did.table["estimate"].iloc[0], abs=1e-12)
    p, b = test.p_value, test.n_draws
    assert b == 20 and test.mc_std_error == pytest.approx(np.sqrt(p * (1 - p) / b))
    extreme = np.sum(np.abs(test.draws) >= abs(test.observed) * (1 - 1e-9))
    assert p == pytest.approx((1 + extreme) / (1 + b))
    assert list(test.tidy().columns)[:5] == [
        "outcome",
        "statistic",
        "event_time",
        "observed",
        "p_value",
    ]


def test_a_large_effect_is_detected_and_the_efficient_t_works():
    codes = [f"{i:05d}" for i in range(24)]
    _, randomisation = lot(codes, ["A"] * 12 + ["B"] * 12, n_steps=3, seed=11)
    data = outcomes(codes, np.arange(8, 13), seed=4, starts=randomisation.recorded, effect=1.5)
    draws = draw_orders(randomisation, 99, stream=1)
    for statistic in ("did", "efficient_t"):
        test = stepped_wedge_test(
            data,
            "y",
            time="wave_index",
            randomisation=randomisation,
            draws=draws,
            statistic=statistic,
        )
        assert test.p_value <= 0.02, statistic
    late = stepped_wedge_test(
        data, "y", time="wave_index", randomisation=randomisation, draws=draws, event_time=1
    )
    assert late.p_value <= 0.05 and late.event_time == 1


class _ScriptedRng:
    """Stands in for numpy's generator: returns the offset and permutations it is given."""

    def __init__(self, offset: int, permutations: list[np.ndarray]) -> None:
        self.offset, self.permutations = offset, list(permutations)

    def integers(self, n: int) -> int:
        return self.offset

    def permutation(self, codes: np.ndarray) -> np.ndarray:
        out = self.permutations.pop(0)
        assert sorted(out) == sorted(codes)
        return np.asarray(out)


def enumerate_lots(randomisation: WedgeRandomisation, monkeypatch) -> list[pd.Series]:
    """Every equally likely outcome of the generator's random choices, dealt by the generator.

    The generator draws one uniform offset and one uniform permutation per stratum (sorted
    order); scripting those choices makes its own code deal every possible lot once.
    """
    units = randomisation.units
    strata = sorted(units["stratum"].unique(), key=str)
    per_stratum = [
        list(itertools.permutations(sorted(units.loc[units["stratum"] == s, "commune_code"])))
        for s in strata
    ]
    proxy = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    monkeypatch.setattr(rollout_design, "np", proxy)
    out = []
    for offset in range(randomisation.n_steps):
        for combo in itertools.product(*per_stratum):
            proxy.random = types.SimpleNamespace(
                default_rng=lambda seed, o=offset, c=combo: _ScriptedRng(o, list(c))
            )
            out.append(randomisation.draw(0))
    monkeypatch.undo()
    return out


def test_randomisation_distribution_equals_the_exhaustive_enumeration(monkeypatch):
    codes = ["101", "102", "103", "201", "202"]
    _, randomisation = lot(codes, ["A", "A", "A", "B", "B"], n_steps=2, seed=8)
    lots = enumerate_lots(randomisation, monkeypatch)
    assert len(lots) == 2 * 6 * 2
    periods = np.arange(8, 12)
    data = outcomes(codes, periods, seed=6, starts=randomisation.recorded, effect=0.4)
    wide = data.pivot(index="commune_code", columns="wave_index", values="y")
    y = wide.to_numpy()

    def statistic(starts: pd.Series) -> float:
        from evaluation.estimators.efficient_staggered import cohort_codes

        return wedge_statistic(y, cohort_codes(starts.reindex(wide.index).to_numpy(), periods))

    exact = np.array([statistic(s) for s in lots])
    observed = statistic(randomisation.recorded)
    p_exact = np.mean(np.abs(exact) >= abs(observed) * (1 - 1e-9))
    test = stepped_wedge_test(
        data, "y", time="wave_index", randomisation=randomisation, n_draws=400, stream=4
    )
    assert test.observed == pytest.approx(observed)
    # same support and the same frequencies as the enumeration
    drawn = Counter(np.round(test.draws, 10))
    expected = Counter(np.round(exact, 10))
    assert set(drawn) == set(expected)
    keys = sorted(expected)
    freq = np.array([drawn[k] for k in keys])
    chi = stats.chisquare(
        freq, f_exp=np.array([expected[k] for k in keys]) / len(exact) * freq.sum()
    )
    assert chi.pvalue > 1e-3
    assert abs(test.p_value - p_exact) < 4 * np.sqrt(p_exact * (1 - p_exact) / 400) + 2 / 400


# -- page 06's rehearsal ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page():
    params, prepared = small_demo("en")
    params = params.model_copy(
        update={"inference": params.inference.model_copy(update={"ri_draws": 99})}
    )
    headline = sc.headline_effects(prepared, params)
    candidates = sc.candidate_predictions(prepared, params, headline)
    power = sc.power_analysis(prepared, params, headline, candidates)
    wedge = sc.stepped_wedge_analysis(prepared, params, candidates, NA, NA)
    return params, prepared, power, wedge


def test_phase_in_rehearsal_runs_both_analyses(page):
    params, prepared, power, wedge = page
    check = phase_in_check(prepared, params, wedge, power)
    assert applies(check) and check.simulated and check.estimator_applies
    table = check.table.set_index("scenario")
    assert list(table.index) == ["powered", "none"]
    assert table.loc["none", "true_effect"] == 0
    assert table.loc["powered", "true_effect"] > 0
    assert (table["n_draws"] == 99).all()
    assert (table["conf_low"] < table["estimate"]).all() and (table["std_error"] > 0).all()
    assert check.n_units == len(wedge.design) and check.seed == params.scaling.rollout_seed
    json.dumps(to_jsonable(check))  # saved as results/phase_in.json
    for language in LANGUAGES:
        shown = pp.display(check, params, language)
        assert len(shown) == 2 and shown.shape[1] == 5
        label = pp.simulation_label(check, params, language)
        assert str(check.seed) in label and ("SIMULATION" in label or "MÔ PHỎNG" in label)
        assert "99" in pp.intro(check, params, language)
        assert pp.reading(check, params, language)


def test_phase_in_without_a_recorded_order_says_why(page):
    params, prepared, power, wedge = page
    check = phase_in_check(prepared, params, NA, power)
    assert not applies(check) and check.reason == "phase_in_no_order"
    texts = {language: check.message(language) for language in LANGUAGES}
    assert "lot" in texts["en"] and "bốc thăm" in texts["vi"]
    edited = wedge.design.copy()
    steps = edited["step"].to_numpy()
    first, other = 0, int(np.flatnonzero(steps != steps[0])[0])
    cols = ["step", "start_period"]
    edited.loc[[first, other], cols] = edited.loc[[other, first], cols].to_numpy()
    changed = phase_in_check(prepared, params, dataclasses.replace(wedge, design=edited), power)
    assert changed.reason == "phase_in_not_reproducible"
    assert str(wedge.seed) in changed.message("vi")


def test_small_orders_run_the_test_only(page):
    # A budget plan of five communes in four steps: steps of one cannot carry the estimator's
    # variance, the lot test still runs and the page says why it cannot find much.
    params, prepared, power, wedge = page
    units = wedge.design[["commune_code", "commune_name", "district_name"]].head(5)
    design = sc.stepped_wedge_design(units, prepared, params, "plan")
    small = dataclasses.replace(wedge, design=design, pool_label="plan")
    check = phase_in_check(prepared, params, small, power)
    assert applies(check) and not check.estimator_applies and check.smallest_step == 1
    assert check.table["estimate"].isna().all() and check.table["p_value"].between(0, 1).all()
    for language in LANGUAGES:
        assert pp.display(check, params, language).shape[1] == 3
    assert "at least two per step" in pp.reading(check, params, "en")


@pytest.mark.slow
def test_size_of_the_randomisation_test_under_no_effect():
    # Under no effect the test rejects at about its level: each simulation draws new outcomes
    # and a new recorded lot (a random seed), re-draws shared (they do not depend on either).
    codes = [f"{i:05d}" for i in range(30)]
    strata = ["A"] * 10 + ["B"] * 12 + ["C"] * 8
    _, base = lot(codes, strata, n_steps=4, seed=0)
    draws = draw_orders(base, 199, stream=77)
    rng = np.random.default_rng(1)
    rejections, sims = 0, 1000
    for s in range(sims):
        _, randomisation = lot(codes, strata, n_steps=4, seed=int(rng.integers(2**31)))
        data = outcomes(codes, np.arange(8, 14), seed=s)
        test = stepped_wedge_test(
            data, "y", time="wave_index", randomisation=randomisation, draws=draws
        )
        rejections += test.p_value <= 0.05
    rate = rejections / sims
    assert 0.03 <= rate <= 0.07, rate
