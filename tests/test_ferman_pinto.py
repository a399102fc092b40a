"""Ferman-Pinto permutation test (evaluation.inference.ferman_pinto)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.inference.ferman_pinto import (
    draw_permutations,
    ferman_pinto,
    fp_p_value,
    fp_reference,
    variance_model,
)
from evaluation.inference.trust import measure_size


def _cells(ballots: np.ndarray, seed: int = 0, shock: float = 0.3) -> pd.DataFrame:
    """Commune x wave cells: 16 communes in 2 districts, 4 waves, pilots starting in wave 2
    (communes 0-2) and wave 3 (commune 8); cell means with noise ~ 1 / sqrt(ballots)."""
    rng = np.random.default_rng(seed)
    rows = []
    start = {0: 2, 1: 2, 2: 2, 8: 3}
    for c in range(16):
        level = rng.normal()
        for wave in range(4):
            m = ballots[c]
            y = level + 0.2 * wave + rng.normal(scale=shock) + rng.normal() / np.sqrt(m)
            treated = int(c in start and wave >= start[c])
            rows.append((f"c{c:02d}", f"d{c // 8}", wave, y, treated, m))
    return pd.DataFrame(rows, columns=["commune", "district", "wave", "y", "treated", "n"])


def _plain_permutation(data: pd.DataFrame, perms: np.ndarray) -> tuple[float, np.ndarray]:
    """Brute force: the commune-level DiD (ballot-weighted commune means, start waves weighted
    by their pilots) of the real assignment and of each permuted one (commune j takes the
    start wave of the commune it is permuted from)."""
    communes = np.sort(data["commune"].unique())
    first = data[data["treated"] == 1].groupby("commune")["wave"].min()
    starts = np.sort(first.unique())
    label = np.array([0 if c not in first.index else 1 + int(np.searchsorted(starts, first[c]))
                      for c in communes])  # fmt: skip
    change = np.empty((len(communes), len(starts)))
    for k, s in enumerate(starts):
        for j, c in enumerate(communes):
            rows = data[data["commune"] == c]
            post, pre = rows[rows["wave"] >= s], rows[rows["wave"] < s]
            change[j, k] = np.average(post["y"], weights=post["n"]) - np.average(
                pre["y"], weights=pre["n"]
            )

    def did(lab: np.ndarray) -> float:
        treated = lab > 0
        total = 0.0
        for k in range(len(starts)):
            in_k = lab == k + 1
            if in_k.any():
                gap = change[in_k, k].mean() - change[lab == 0, k].mean()
                total += in_k.sum() / treated.sum() * gap
        return total

    reference = []
    for sigma in perms:
        permuted = np.empty_like(label)
        permuted[sigma] = label  # the residual of commune sigma[j] sits where label[j] is
        reference.append(did(permuted))
    return did(label), np.array(reference)


def test_equal_ballots_give_the_plain_permutation_test_exactly():
    data = _cells(np.full(16, 40.0), seed=1)
    result = ferman_pinto(
        data, "y", "treated", "commune", "wave", ballots="n", strata="district", weights="n",
        n_permutations=299, seed=5, confint=False,
    )  # fmt: skip
    strata = (np.arange(16) >= 8).astype(int)
    perms = draw_permutations(strata, 299, np.random.default_rng(5))
    observed, reference = _plain_permutation(data, perms)
    assert result.estimate == pytest.approx(observed, abs=1e-12)
    p_plain = (1 + np.sum(np.abs(reference) >= abs(observed) * (1 - 1e-9))) / 300
    assert result.p_value == p_plain
    assert result.variance_slope == 0.0


def test_unequal_ballots_change_the_reference_and_the_interval_brackets_the_estimate():
    ballots = np.tile([10.0, 30.0, 100.0, 400.0], 4)
    ballots[:3] = 8.0
    data = _cells(ballots, seed=2, shock=0.02)
    kw = dict(ballots="n", strata="district", weights="n", n_permutations=299, seed=5)
    fp = ferman_pinto(data, "y", "treated", "commune", "wave", **kw)
    strata = (np.arange(16) >= 8).astype(int)
    perms = draw_permutations(strata, 299, np.random.default_rng(5))
    observed, reference = _plain_permutation(data, perms)
    assert fp.estimate == pytest.approx(observed, abs=1e-12)
    p_plain = (1 + np.sum(np.abs(reference) >= abs(observed) * (1 - 1e-9))) / 300
    assert fp.p_value != p_plain
    assert fp.variance_slope > 0
    assert fp.conf_low < fp.estimate < fp.conf_high
    # The interval is where the test does not reject.
    at_edge = ferman_pinto(data, "y", "treated", "commune", "wave", null_value=fp.conf_high + 1e-3,
                           confint=False, **kw)  # fmt: skip
    assert at_edge.p_value <= 0.05


def test_variance_model_recovers_a_and_b():
    rng = np.random.default_rng(0)
    h = rng.uniform(0.01, 1.0, 20_000)
    e = rng.normal(size=h.size) * np.sqrt(0.5 + 2.0 * h)
    a, b = variance_model(e, h)
    assert a == pytest.approx(0.5, rel=0.1) and b == pytest.approx(2.0, rel=0.05)


def _rejection_rates(n_sims: int, n_perm: int, seed: int) -> tuple[float, float]:
    """Few small treated communes among controls of every size; commune-wave shocks small
    against the ballot noise: the plain permutation test over-rejects, Ferman-Pinto should not."""
    rng = np.random.default_rng(seed)
    n, n_treated = 60, 3
    m = np.exp(rng.uniform(np.log(10), np.log(1000), n))
    m[:n_treated] = rng.uniform(10, 20, n_treated)  # the pilots are small communes
    h = (2 / m)[:, None]
    labels = np.zeros(n, dtype=int)
    labels[:n_treated] = 1
    strata = np.zeros(n, dtype=int)
    reject = np.zeros((n_sims, 2), dtype=bool)
    for s in range(n_sims):
        changes = (rng.normal(scale=0.05, size=n) + rng.normal(size=n) * np.sqrt(h[:, 0]))[:, None]
        perms = draw_permutations(strata, n_perm, rng)
        reject[s, 0] = fp_p_value(changes, h, labels, perms, rescale=False) <= 0.05
        reject[s, 1] = fp_p_value(changes, h, labels, perms) <= 0.05
    rates = reject.mean(axis=0)
    return float(rates[0]), float(rates[1])


def test_heteroskedastic_design_plain_over_rejects_and_corrected_does_not():
    plain, corrected = _rejection_rates(n_sims=150, n_perm=99, seed=11)
    # Loose bounds: 150 simulations (Monte Carlo SE about 2-3 points).
    assert plain > 0.11
    assert corrected < 0.10


@pytest.mark.slow
def test_ferman_pinto_size_with_many_simulations():
    plain, corrected = _rejection_rates(n_sims=2_000, n_perm=199, seed=12)
    assert plain > 0.15
    assert 0.03 <= corrected <= 0.07


def test_reference_with_rescale_false_is_the_plain_statistic():
    rng = np.random.default_rng(3)
    changes, h = rng.normal(size=(10, 1)), rng.uniform(0.1, 1, (10, 1))
    labels = np.array([1, 1] + [0] * 8)
    perms = draw_permutations(np.zeros(10, dtype=int), 50, rng)
    observed, reference, _ = fp_reference(changes, h, labels, perms, rescale=False)
    expected = [changes[p][:2].mean() - changes[p][2:].mean() for p in perms]
    assert observed == pytest.approx(changes[:2].mean() - changes[2:].mean())
    np.testing.assert_allclose(reference, expected, atol=1e-12)


def test_measure_size_reports_ferman_pinto_on_a_cell_panel():
    ballots = np.where(np.arange(16) % 3 == 0, 10.0, 200.0)
    data = _cells(ballots, seed=4)
    sizes = measure_size(
        data, "y", "treated", "commune", "wave", strata="district", weights="n",
        methods=("ferman_pinto", "crv1"), nulls=("effect_removed",), n_sims=40, n_ri=39,
        ballots="n",
    )  # fmt: skip
    row = sizes.set_index("method").loc["ferman_pinto"]
    assert row["n_valid"] == 40 and 0 <= row["rejection_rate"] <= 1
    assert "Ferman-Pinto" in row["label"]


@pytest.mark.slow
def test_ferman_pinto_size_on_the_demo_design():
    """Size on the small demo's headline design (S = 1,000 per null design), reported."""
    from _demo import small_demo

    from evaluation.analysis import effects, how_sure

    params, prepared = small_demo("en")
    on = effects.headline(prepared, params).design
    sizes = measure_size(
        on.frame, **on.spec(0.05), methods=("ferman_pinto",), n_sims=1_000, seed=0,
        ballots=how_sure._ballots(on),
    )  # fmt: skip
    print(sizes[["null_design", "rejection_rate", "mc_se"]].to_string())
    assert (sizes["n_valid"] == 1_000).all()
    assert sizes["rejection_rate"].between(*params.inference.size_band).all()
