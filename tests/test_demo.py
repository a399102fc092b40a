"""The simulated demo: deterministic, calibrated on the real unit lists, honest about itself."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import DEFAULT_PARAMS, HOP_LY, UNITS_2019, UNITS_2020

from evaluation.config import load_params
from evaluation.data.io import read_table
from evaluation.demo import demo_folder, ensure_demo, generate_demo

#: Fewer waves and ballots than the default (4 quarters around the 2020 map change).
SMALL = {
    "demo": {
        "first_wave": "2019Q3",
        "last_wave": "2020Q2",
        "rollout_waves": ["2020Q2"],
        "ballots_min": 5,
        "ballots_max": 10,
    }
}
MERGE_CODES = {"13594", "13597", "13603", "13564"}  # parts and absorbing units of the mergers


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small_params():
    return load_params(DEFAULT_PARAMS, SMALL)


@pytest.fixture(scope="module")
def demo(small_params, tmp_path_factory):
    files = generate_demo(small_params, tmp_path_factory.mktemp("demo") / "a")
    return {
        "files": files,
        "ballots": read_table(files.ballots).reset_index(drop=True),
        "rollout": read_table(files.rollout).reset_index(drop=True),
        "admin": read_table(files.admin).reset_index(drop=True),
        "truth": json.loads(files.true_parameters.read_text("utf-8")),
    }


@pytest.fixture(scope="module")
def units():
    return (
        read_table(UNITS_2019).reset_index(drop=True),
        read_table(UNITS_2020).reset_index(drop=True),
    )


def test_same_seed_gives_identical_files(small_params, demo, tmp_path):
    again = generate_demo(small_params, tmp_path / "b")
    first = _hashes(demo["files"].folder)
    assert set(first) >= {"ballots.csv", "rollout.csv", "admin.csv", "costs.csv", "COMPLETE"}
    assert _hashes(again.folder) == first


def test_another_seed_gives_other_ballots(demo, tmp_path):
    other = load_params(DEFAULT_PARAMS, {"demo": {**SMALL["demo"], "seed": 1}})
    files = generate_demo(other, tmp_path / "c")
    assert _hashes(files.folder)["ballots.csv"] != _hashes(demo["files"].folder)["ballots.csv"]


def test_demo_folder_is_keyed_by_the_demo_params(small_params, default_params, tmp_path):
    assert demo_folder(tmp_path, small_params.demo) == demo_folder(tmp_path, small_params.demo)
    assert demo_folder(tmp_path, small_params.demo) != demo_folder(tmp_path, default_params.demo)
    assert demo_folder(tmp_path, small_params.demo).name.startswith("seed20191001-")


def test_ensure_demo_does_not_regenerate_a_complete_set(small_params, demo, tmp_path):
    folder = demo_folder(tmp_path, small_params.demo)
    folder.mkdir(parents=True)
    (folder / "COMPLETE").write_text("ok\n")
    files = ensure_demo(small_params, tmp_path)
    assert files.folder == folder
    assert not files.ballots.exists()  # trusted the COMPLETE mark, wrote nothing


def test_ensure_demo_generates_when_incomplete(small_params, tmp_path):
    folder = demo_folder(tmp_path, small_params.demo)
    folder.mkdir(parents=True)
    (folder / "ballots.csv").write_text("half", "utf-8")  # a crashed earlier generation
    files = ensure_demo(small_params, tmp_path)
    assert (folder / "COMPLETE").is_file()
    assert files.ballots.read_text("utf-8-sig").startswith("ballot_id,")


def test_116_units_before_2020_and_109_after(demo, units):
    before, after = units
    ballots = demo["ballots"]
    wave = ballots["wave"]
    assert set(ballots.loc[wave < "2020Q1", "commune_code"]) == set(before["commune_code"])
    assert ballots.loc[wave < "2020Q1", "commune_code"].nunique() == 116
    assert set(ballots.loc[wave == "2020Q2", "commune_code"]) == set(after["commune_code"])
    assert ballots.loc[wave == "2020Q2", "commune_code"].nunique() == 109
    # In the first quarter of the new map some ballots still carry a merged part's old code.
    assert set(ballots.loc[wave == "2020Q1", "commune_code"]) <= set(after["commune_code"]) | {
        "13597",
        "13603",
    }
    # The rollout calendar is written on the 2020 map.
    assert set(demo["rollout"]["commune_code"]) == set(after["commune_code"])


def test_14_pilots_in_all_6_districts_including_hop_ly(demo, units):
    before, _ = units
    pilots = demo["truth"]["pilot_codes"]
    assert len(pilots) == 14 == demo["truth"]["n_pilot"]
    districts = before.set_index("commune_code").loc[pilots, "district_name"]
    assert districts.nunique() == 6 == before["district_name"].nunique()
    assert HOP_LY in pilots
    name = before.set_index("commune_code").loc[HOP_LY]
    assert (name["commune_name"], name["district_name"]) == ("Hợp Lý", "Lý Nhân")
    rollout = demo["rollout"].set_index("commune_code")
    assert set(rollout.index[rollout["start_date"] == "2019-10-01"]) == set(pilots)
    # Pilots only among units the map change left intact.
    assert not set(pilots) & MERGE_CODES


def test_ballots_per_commune_wave_within_bounds(demo, small_params):
    ballots = demo["ballots"]
    unmerged = ballots[~ballots["commune_code"].isin(MERGE_CODES)]
    counts = unmerged.groupby(["commune_code", "wave"]).size()
    assert counts.min() >= small_params.demo.ballots_min
    assert counts.max() <= small_params.demo.ballots_max
    # 107 units untouched by a merger, every wave; 5 dissolved into an unknown neighbour, 2019 only.
    assert len(counts) == 107 * 4 + 5 * 2
    assert ballots["ballot_id"].is_unique


def test_coverage_below_one(demo):
    ballots = demo["ballots"].groupby(["commune_code", "wave"]).size().rename("n")
    admin = demo["admin"].assign(roster=lambda f: f["ballot_roster"].astype(int))
    merged = admin.set_index(["commune_code", "period"])["roster"]
    merged.index = merged.index.set_names(["commune_code", "wave"])
    coverage = (ballots / merged).dropna()
    assert len(coverage) > 400
    assert (coverage < 1).all()
    assert coverage.mean() < 0.6


def test_answers_are_valid_likert_or_no_opinion(demo, small_params):
    items = small_params.ballot.items
    values = set(pd.unique(demo["ballots"][items].to_numpy().ravel()))
    assert values <= {"0", "1", "2", "3", "4", "5", "9"}
    assert {"0", "9"} <= values  # some no-opinion answers


def test_truth_and_readme_say_simulated(demo):
    truth = demo["truth"]
    assert truth["simulated"] is True
    assert "not facts about Hà Nam" in truth["note"]
    assert truth["att_index_pilot_window_ballots"] > 0
    readme = (demo["files"].folder / "README.txt").read_text("utf-8")
    assert readme.startswith("SIMULATED DATA / DỮ LIỆU MÔ PHỎNG")
    effects = read_table(demo["files"].true_effects)
    assert len(effects) == 116
    assert effects["pilot"].value_counts()["True"] == 14
