"""Stepped-wedge rollout: reproducible from the seed, balanced within districts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.scaling.rollout_design import step_balance, stepped_wedge


@pytest.fixture
def communes() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    sizes = {"Duy Tiên": 17, "Kim Bảng": 13, "Lý Nhân": 21, "Thanh Liêm": 16, "Bình Lục": 14}
    district = np.concatenate([[d] * k for d, k in sizes.items()])
    return pd.DataFrame(
        {
            "commune_code": np.arange(district.size) * 3 + 1000,
            "district_name": district,
            "households": rng.integers(800, 4000, district.size),
        }
    )


@pytest.mark.parametrize("n_steps", [2, 3, 4, 5, 7])
def test_balanced_within_strata_and_overall(communes: pd.DataFrame, n_steps: int) -> None:
    design = stepped_wedge(communes, n_steps=n_steps, seed=42)
    assert len(design) == len(communes)
    assert set(design["commune_code"]) == set(communes["commune_code"])
    counts = design.groupby(["stratum", "step"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=range(1, n_steps + 1), fill_value=0)
    assert (counts.max(axis=1) - counts.min(axis=1)).max() <= 1
    overall = design["step"].value_counts().reindex(range(1, n_steps + 1), fill_value=0)
    assert overall.max() - overall.min() <= 1
    # every commune stays in its own district
    merged = design.merge(communes, on="commune_code")
    assert (merged["stratum"] == merged["district_name"]).all()


def test_reproducible_from_seed_whatever_the_row_order(communes: pd.DataFrame) -> None:
    first = stepped_wedge(communes, n_steps=4, seed=2024, first_date="2026-01-01")
    shuffled = communes.sample(frac=1.0, random_state=1)
    again = stepped_wedge(shuffled, n_steps=4, seed=2024, first_date="2026-01-01")
    pd.testing.assert_frame_equal(first, again)
    assert first.attrs["seed"] == 2024 and (first["seed"] == 2024).all()
    other = stepped_wedge(communes, n_steps=4, seed=2025)
    assert not first["step"].equals(
        other.set_index("commune_code").loc[first["commune_code"], "step"].reset_index(drop=True)
    )


def test_periods_and_dates(communes: pd.DataFrame) -> None:
    design = stepped_wedge(
        communes, n_steps=3, seed=1, start_period=8, periods_per_step=2, first_date="2026-01-01"
    )
    by_step = design.drop_duplicates("step").set_index("step").sort_index()
    assert by_step["start_period"].tolist() == [8, 10, 12]
    assert by_step["start_date"].tolist() == ["2026-01-01", "2026-07-01", "2027-01-01"]


def test_assignment_looks_random(communes: pd.DataFrame) -> None:
    # over many seeds each commune lands in step 1 about 1/n_steps of the time
    hits = np.zeros(len(communes))
    n_seeds = 200
    for seed in range(n_seeds):
        design = stepped_wedge(communes, n_steps=4, seed=seed)
        first = set(design.loc[design["step"] == 1, "commune_code"])
        hits += communes["commune_code"].isin(first).to_numpy()
    share = hits / n_seeds
    assert abs(share.mean() - 0.25) < 0.02
    assert share.min() > 0.12 and share.max() < 0.38


def test_step_balance_and_bad_input(communes: pd.DataFrame) -> None:
    design = stepped_wedge(communes, n_steps=3, seed=9)
    table = step_balance(design, communes, ["households"])
    assert table["n_communes"].sum() == len(communes)
    assert list(table.columns) == ["step", "covariate", "mean", "n_communes"]
    with pytest.raises(ValueError, match="strata='district'"):
        stepped_wedge(communes, strata="district", n_steps=3, seed=1)
    with pytest.raises(ValueError, match="duplicated"):
        stepped_wedge(pd.concat([communes, communes.head(1)]), n_steps=3, seed=1)
    with pytest.raises(ValueError, match="n_steps"):
        stepped_wedge(communes, n_steps=0, seed=1)
