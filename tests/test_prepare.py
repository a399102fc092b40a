"""From parameters to analysis-ready tables: every file checked, all problems reported at once."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import (
    ADMIN_HEADER,
    BALLOT_COMMUNES,
    BALLOT_HEADER,
    BALLOTS_PER_CELL,
    DEFAULT_PARAMS,
    HOP_LY,
    LATER,
    PILOTS,
    WAVES,
    admin_rows,
    ballot_rows,
    rollout_rows,
    write_csv,
)

from evaluation.config import load_params
from evaluation.data.problems import DataValidationError
from evaluation.data.schemas import RULES
from evaluation.prepare import (
    PREPARED_TABLES,
    load_prepared,
    prepare_inputs,
    resolve_demo_paths,
    save_prepared,
)


@pytest.fixture
def prepared(small_data):
    return prepare_inputs(small_data.params())


def test_small_data_prepared(prepared):
    meta = prepared.meta
    assert meta["source"] == "files"
    assert meta["simulated"] is False
    assert meta["n_communes"] == 109  # on the 2020 map
    assert meta["n_pilot"] == len(PILOTS)
    assert meta["n_ballots"] == len(BALLOT_COMMUNES) * len(WAVES) * BALLOTS_PER_CELL
    assert meta["n_waves"] == 4
    assert meta["pilot_wave"] == pd.Period("2019Q4", "Q").ordinal
    # Up to the wave before the next adoption (2020Q3): 2019Q3..2020Q2.
    assert (meta["window_start"], meta["window_end"]) == (
        pd.Period("2019Q3", "Q").ordinal,
        pd.Period("2020Q2", "Q").ordinal,
    )
    assert meta["target_map"] == "2020-01-01"
    assert prepared.has_ballots and prepared.has_admin and prepared.has_costs
    assert len(prepared.problems) == 0
    pilots = set(prepared.communes.loc[prepared.communes["pilot"], "commune_code"])
    assert pilots == set(PILOTS)
    assert HOP_LY in pilots


def test_ballots_are_scored_and_placed(prepared):
    ballots = prepared.ballots
    assert {"satisfaction_index", "pct_satisfied", "treated", "coverage", "district_name"} <= set(
        ballots.columns
    )
    hop_ly = ballots[ballots["commune_code"] == HOP_LY]
    assert hop_ly.loc[hop_ly["wave"] == "2019Q3", "treated"].eq(0).all()
    assert hop_ly.loc[hop_ly["wave"] == "2020Q1", "treated"].eq(1).all()
    # No-opinion answers (9 in the first item of every second ballot) are missing, not 9.
    assert ballots["access_location"].max() <= 5
    assert ballots["access_location"].isna().sum() == len(ballots) // BALLOTS_PER_CELL
    # Coverage = ballots / roster (3 of 6) where the admin file has the commune.
    assert ballots.loc[ballots["commune_code"] == HOP_LY, "coverage"].eq(0.5).all()


def test_window_and_in_window(prepared, small_data):
    inside = prepared.in_window(prepared.panel)
    assert (
        inside["wave_index"]
        .between(prepared.meta["window_start"], prepared.meta["window_end"])
        .all()
    )
    explicit = prepare_inputs(
        small_data.params(analysis={"window_start": "2019Q3", "window_end": "2020Q1"})
    )
    assert (explicit.meta["window_start"], explicit.meta["window_end"]) == (198, 200)


def test_window_must_reach_the_pilot_start(small_data):
    with pytest.raises(ValueError, match="do not reach the start 2019Q4: widen the window"):
        prepare_inputs(small_data.params(analysis={"window_end": "2019Q3"}))


def test_a_window_without_periods_before_the_start_is_prepared(small_data):
    """Endline-only comparisons: prepared, and the before/after sections say what is missing."""
    from evaluation.analysis.facts import data_facts

    params = small_data.params(analysis={"window_start": "2019Q4"})
    facts = data_facts(prepare_inputs(params), params)
    assert (facts.n_pre_periods, facts.ballot_waves_before) == (0, 0)
    assert facts.n_post_periods > 0


def test_admin_records_without_ballots_stay_in_the_panel(small_data):
    """A commune surveyed in no wave still has its admin outcomes (not a 0% coverage)."""
    ballots = pd.read_csv(small_data.ballots, dtype=str, keep_default_na=False)
    ballots[ballots["commune_code"] != LATER].to_csv(small_data.ballots, index=False)
    panel = prepare_inputs(small_data.params()).panel
    later = panel[panel["commune_code"] == LATER]
    assert len(later) and (later["n_ballots"] == 0).all()
    assert later["coverage"].isna().all() and later["satisfaction_index"].isna().all()
    assert later["pct_dossiers_on_time"].notna().all()


def test_save_and_load_round_trip(prepared, tmp_path):
    folder = tmp_path / "prepared"
    save_prepared(prepared, folder)
    assert {p.stem for p in folder.glob("*.parquet")} == set(PREPARED_TABLES)
    back = load_prepared(folder)
    assert back.meta == prepared.meta
    pd.testing.assert_frame_equal(
        back.panel.reset_index(drop=True),
        prepared.panel.reset_index(drop=True),
        check_dtype=False,
    )
    assert len(back.ballots) == len(prepared.ballots)
    assert back.communes["commune_code"].tolist() == prepared.communes["commune_code"].tolist()
    assert [p.name for p in folder.iterdir() if p.name.endswith(".part")] == []


def test_resolve_demo_paths_leaves_file_sources_alone(small_data, tmp_path):
    params = small_data.params()
    assert resolve_demo_paths(params, tmp_path) is params


def test_resolve_demo_paths_generates_and_points_at_the_demo(default_params, tmp_path):
    small = load_params(
        DEFAULT_PARAMS,
        {
            "demo": {
                "first_wave": "2019Q3",
                "last_wave": "2020Q2",
                "rollout_waves": ["2020Q2"],
                "ballots_min": 2,
                "ballots_max": 3,
            }
        },
    )
    resolved = resolve_demo_paths(small, tmp_path)
    assert resolved.data.ballots.parent.parent == tmp_path
    assert resolved.data.ballots.is_file() and resolved.data.rollout.is_file()
    assert (resolved.data.ballots.parent / "COMPLETE").is_file()
    assert resolved.simulated
    prepared = prepare_inputs(resolved)
    assert prepared.meta["simulated"] is True
    assert prepared.meta["n_pilot"] == 14


# --------------------------------------------------------------------------------------------
# Bad inputs across files


def test_pilot_commune_absent_from_the_registry_is_an_error(small_data):
    rows = rollout_rows()
    rows[1][0] = "13999"  # a pilot commune with a code on no map
    write_csv(small_data.rollout, ["commune_code", "start_date", "source"], rows)
    with pytest.raises(DataValidationError) as err:
        prepare_inputs(small_data.params())
    problems = err.value.problems
    hit = problems[
        (problems["file"] == str(small_data.rollout)) & (problems["column"] == "commune_code")
    ]
    assert hit[["row", "value"]].values.tolist() == [["3", "13999"]]
    assert hit["rule"].iloc[0] == RULES["known_commune_code"][0]
    assert hit["how_to_fix"].iloc[0] == RULES["known_commune_code"][1]
    assert str(small_data.rollout) in str(err.value)


def test_many_problems_in_many_files_reported_at_once(small_data):
    rollout = rollout_rows()
    rollout[0][1] = "2019/13/45"
    write_csv(small_data.rollout, ["commune_code", "start_date", "source"], rollout)
    ballots = ballot_rows()
    ballots[0][1] = "99999"
    ballots[5][0] = ballots[4][0]
    ballots[9][7] = "7"
    write_csv(small_data.ballots, BALLOT_HEADER, ballots, bom=True)
    admin = admin_rows()
    admin[2][1] = "2019 Q4"
    write_csv(small_data.admin, ADMIN_HEADER, admin)
    with pytest.raises(DataValidationError) as err:
        prepare_inputs(small_data.params())
    problems = err.value.problems
    found = set(zip(problems["file"], problems["row"], problems["column"], strict=True))
    rollout_file, ballots_file, admin_file = (
        str(small_data.rollout),
        str(small_data.ballots),
        str(small_data.admin),
    )
    assert {
        (rollout_file, "2", "start_date"),
        (ballots_file, "2", "commune_code"),
        (ballots_file, "6", "ballot_id"),
        (ballots_file, "7", "ballot_id"),
        (ballots_file, "11", "procedures_public"),
        (admin_file, "4", "period"),
    } <= found
    text = str(err.value)
    assert f"{len(problems)} data problem(s) in" in text
    assert all(name in text for name in ("admin.csv", "ballots.csv", "rollout.csv"))


def test_missing_column_in_one_file_and_bad_cell_in_another(small_data):
    header = [c for c in BALLOT_HEADER if c != "ballot_id"]
    write_csv(small_data.ballots, header, [r[1:] for r in ballot_rows()])
    rollout = rollout_rows()
    rollout[0][0] = "abc"
    write_csv(small_data.rollout, ["commune_code", "start_date", "source"], rollout)
    with pytest.raises(DataValidationError) as err:
        prepare_inputs(small_data.params())
    rows = err.value.problems[["file", "row", "column"]].values.tolist()
    assert [str(small_data.ballots), "1 (header)", "ballot_id"] in rows
    assert [str(small_data.rollout), "2", "commune_code"] in rows


# --------------------------------------------------------------------------------------------
# A generic panel


def _panel_params(tmp_path):
    rows = []
    for unit in range(6):
        first = {0: 3, 1: 3, 2: 5}.get(unit, 0)  # 0 = never treated
        for year in range(1, 7):
            rows.append(
                [
                    f"u{unit}",
                    year,
                    10 + unit + (2 if first and year >= first else 0),
                    first,
                    "north" if unit % 2 else "south",
                ]
            )
    path = write_csv(
        tmp_path / "panel.csv", ["district", "year", "score", "first_year", "region"], rows
    )
    return load_params(
        DEFAULT_PARAMS,
        {
            "data": {
                "source": "panel",
                "panel": {
                    "path": str(path),
                    "unit": "district",
                    "period": "year",
                    "outcomes": ["score"],
                    "first_treated": "first_year",
                    "strata": "region",
                },
            }
        },
    )


def test_generic_panel(tmp_path):
    prepared = prepare_inputs(_panel_params(tmp_path))
    assert prepared.meta["source"] == "panel"
    assert prepared.meta["pilot_wave"] == 3
    assert prepared.meta["n_pilot"] == 2
    assert (prepared.meta["window_start"], prepared.meta["window_end"]) == (1, 4)
    panel = prepared.panel.set_index(["commune_code", "wave_index"])
    assert panel.loc[("u0", 3), "treated"] == 1.0
    assert panel.loc[("u0", 2), "treated"] == 0.0
    assert panel.loc[("u2", 4), "treated"] == 0.0
    assert panel.loc[("u2", 5), "treated"] == 1.0
    assert not prepared.has_ballots
    assert prepared.baseline.set_index("commune_code").loc["u1", "baseline_score"] == 11.0


def test_generic_panel_never_treated_units_are_untreated(tmp_path):
    prepared = prepare_inputs(_panel_params(tmp_path))
    never = prepared.panel[prepared.panel["commune_code"].isin(["u3", "u4", "u5"])]
    assert len(never) == 18
    assert never["treated"].eq(0.0).all()
    assert never["pilot"].eq(False).all()


def test_generic_panel_names_missing_columns(tmp_path):
    path = write_csv(tmp_path / "panel.csv", ["district", "year", "score"], [["a", 1, 2]])
    spec = {
        "path": str(path),
        "unit": "district",
        "period": "year",
        "outcomes": ["score"],
        "first_treated": "first_year",
    }
    params = load_params(DEFAULT_PARAMS, {"data": {"source": "panel", "panel": spec}})
    with pytest.raises(DataValidationError) as caught:
        prepare_inputs(params)
    row = caught.value.problems.iloc[0]
    assert (row["column"], row["rule"]) == (
        "first_year",
        "column named in data.panel.first_treated is not in the file",
    )
    assert "district, year, score" in row["how_to_fix"]
