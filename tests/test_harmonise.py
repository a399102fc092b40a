"""Harmonisation onto the 2020 map: merged and dissolved units, manual mappings, mixed pilots."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from conftest import ADMIN_HEADER, NHAN_DAO, NHAN_HUNG, admin_rows, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.config import HarmoniseParams
from evaluation.data.harmonise import (
    HarmonisationError,
    harmonise,
    harmonise_rollout,
    map_records,
)
from evaluation.data.registry import crosswalk, load_registry
from evaluation.measures import commune_timing, commune_wave_panel, score_ballots
from evaluation.prepare import prepare_inputs

TARGET = date(2020, 1, 1)
CHAU_SON = "13375"  # dissolved, absorbing neighbour not verified
DOI_SON = "13369"  # renamed Tiên Sơn; a plausible absorbing neighbour for a manual mapping
DONG_LY, VINH_TRU = "13597", "13564"  # Đồng Lý merged into thị trấn Vĩnh Trụ


@pytest.fixture(scope="module")
def registry(default_params):
    return load_registry(default_params.data.registry)


def _params(**changes) -> HarmoniseParams:
    return HarmoniseParams(**changes)


def _ballots(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """Ballots as the schema's conversion returns them: (commune_code, survey date)."""
    frame = pd.DataFrame(rows, columns=["commune_code", "survey_date"])
    frame["commune_code"] = frame["commune_code"].astype("string")
    frame["survey_date"] = pd.to_datetime(frame["survey_date"])
    frame["wave"] = frame["survey_date"].dt.to_period("Q").astype("string")
    frame.insert(0, "ballot_id", [f"B{i:04d}" for i in range(len(frame))])
    return frame


def _rollout(starts: dict[str, str | None]) -> pd.DataFrame:
    frame = pd.DataFrame({"commune_code": list(starts), "start_date": list(starts.values())})
    frame["commune_code"] = frame["commune_code"].astype("string")
    frame["start_date"] = pd.to_datetime(frame["start_date"])
    return frame


def _unit(communes: pd.DataFrame, code: str) -> pd.Series:
    return communes.set_index("commune_code").loc[code]


# --------------------------------------------------------------------------------------------
# The crosswalk


def test_crosswalk_follows_the_change_table(registry):
    walk = crosswalk(registry, TARGET).set_index("source_code")
    assert len(walk) == 116  # every code of every map
    assert (walk.loc[NHAN_HUNG, "target_code"], walk.loc[NHAN_HUNG, "how"]) == (NHAN_DAO, "merged")
    assert (walk.loc[DONG_LY, "target_code"], walk.loc[DONG_LY, "how"]) == (VINH_TRU, "merged")
    assert pd.isna(walk.loc[CHAU_SON, "target_code"])
    assert walk.loc[CHAU_SON, "how"] == "unmapped"
    assert (walk["how"] == "same").sum() == 109
    assert set(walk["target_code"].dropna()) == set(registry.maps[TARGET]["commune_code"])


def test_crosswalk_to_an_unknown_map_date_lists_the_known_ones(registry):
    with pytest.raises(
        ValueError,
        match=r"harmonise\.target_map 2020-06-01 is not a map date; use one of: 2019-12-01, 2020-01-01",
    ):
        crosswalk(registry, date(2020, 6, 1))


def test_registry_has_the_real_unit_counts(registry):
    assert [len(registry.maps[d]) for d in registry.dates] == [116, 109]
    assert len(registry.map_at(pd.Timestamp("2019-12-31"))) == 116
    assert len(registry.map_at(pd.Timestamp("2020-01-01"))) == 109
    assert len(registry.map_at(pd.Timestamp("2018-07-01"))) == 116  # before the first map


# --------------------------------------------------------------------------------------------
# Records


def test_ballot_after_dissolution_is_mapped_and_flagged(registry):
    ballots = _ballots(
        [(NHAN_HUNG, "2020-02-10"), (NHAN_HUNG, "2019-11-05"), (NHAN_DAO, "2020-02-10")]
    )
    out, report = map_records(ballots, registry, _params(), "ballots", "survey_date")
    out = out.set_index("ballot_id")
    assert out.loc["B0000", "commune_code"] == NHAN_DAO
    assert out.loc["B0000", "source_code"] == NHAN_HUNG
    assert out.loc["B0000", "how"] == "merged"
    assert bool(out.loc["B0000", "after_dissolution"]) is True
    # Dated while Nhân Hưng still existed: mapped, not flagged.
    assert out.loc["B0001", "commune_code"] == NHAN_DAO
    assert bool(out.loc["B0001", "after_dissolution"]) is False
    assert bool(out.loc["B0002", "after_dissolution"]) is False
    row = report.set_index("source_code").loc[NHAN_HUNG]
    assert (row["records"], row["after_dissolution"], row["action"]) == (2, 1, "kept")
    assert row["table"] == "ballots"


def test_unmapped_dissolved_records_are_dropped_and_counted(registry):
    ballots = _ballots(
        [(CHAU_SON, "2019-10-05"), (CHAU_SON, "2019-11-05"), (NHAN_DAO, "2019-11-05")]
    )
    out, report = map_records(
        ballots, registry, _params(unmapped_dissolved="drop"), "ballots", "survey_date"
    )
    assert out["ballot_id"].tolist() == ["B0002"]
    row = report.set_index("source_code").loc[CHAU_SON]
    assert row["records"] == 2
    assert row["how"] == "unmapped"
    assert row["action"] == "dropped: absorbing unit unknown"
    assert pd.isna(row["target_code"])


def test_unmapped_dissolved_records_can_stop_with_the_fix(registry):
    ballots = _ballots(
        [(CHAU_SON, "2019-10-05"), ("13378", "2019-11-05"), (NHAN_DAO, "2019-11-05")]
    )
    with pytest.raises(HarmonisationError) as err:
        map_records(
            ballots, registry, _params(unmapped_dissolved="error"), "ballots", "survey_date"
        )
    text = str(err.value)
    assert (
        "ballots: 2 records in units ['13375', '13378'] cannot be placed on the 2020-01-01 map"
        in text
    )
    assert "Add their absorbing unit to harmonise.manual_mappings" in text
    assert "set harmonise.unmapped_dissolved: drop" in text


def test_manual_mappings_place_dissolved_units(registry):
    ballots = _ballots([(CHAU_SON, "2019-10-05"), (CHAU_SON, "2020-03-01")])
    params = _params(manual_mappings={CHAU_SON: DOI_SON}, unmapped_dissolved="error")
    out, report = map_records(ballots, registry, params, "ballots", "survey_date")
    assert out["commune_code"].tolist() == [DOI_SON, DOI_SON]
    assert out["how"].tolist() == ["manual", "manual"]
    assert out["after_dissolution"].tolist() == [False, True]
    assert report.set_index("source_code").loc[CHAU_SON, "action"] == "kept"


def test_manual_mapping_to_a_code_off_the_target_map_is_refused(registry):
    with pytest.raises(
        ValueError,
        match=r"manual_mappings maps to codes \['13603'\] that are not on the 2020-01-01 map",
    ):
        crosswalk(registry, TARGET, {CHAU_SON: NHAN_HUNG})


def test_admin_parts_of_a_merged_unit_add_up(registry):
    rollout = _rollout({"13567": "2019-10-01"})
    admin = pd.DataFrame(
        {
            "commune_code": [NHAN_DAO, NHAN_HUNG, NHAN_HUNG, NHAN_HUNG],
            "period": ["2019Q4", "2019-10", "2019-11", "2019-12"],
            "wave": ["2019Q4"] * 4,
            "dossiers_received": [50.0, 10.0, 10.0, 10.0],
            "households_total": [3000.0, 1000.0, 1000.0, 1000.0],
            "ballot_roster": [30.0, 12.0, 12.0, 12.0],
        }
    ).astype({"commune_code": "string"})
    costs = pd.DataFrame(
        {
            "commune_code": [NHAN_DAO, NHAN_HUNG],
            "item": ["training", "training"],
            "setup_vnd": [10.0, 5.0],
            "yearly_vnd": [1.0, 2.0],
        }
    ).astype({"commune_code": "string"})
    h = harmonise(registry, rollout, _ballots([(NHAN_DAO, "2019-11-05")]), _params(), admin, costs)
    row = h.admin.set_index(["commune_code", "wave"]).loc[(NHAN_DAO, "2019Q4")]
    # Months -> quarter: flows add up, stocks are averaged; then the two parts add up.
    assert row["dossiers_received"] == 80.0
    assert row["households_total"] == 4000.0
    assert row["ballot_roster"] == 42.0
    cost = h.costs.set_index(["commune_code", "item"]).loc[(NHAN_DAO, "training")]
    assert (cost["setup_vnd"], cost["yearly_vnd"]) == (15.0, 3.0)
    assert set(h.report["table"]) == {"ballots", "admin", "costs"}


# --------------------------------------------------------------------------------------------
# Pilot status on the target map


def test_rollout_on_the_target_map(registry):
    communes = harmonise_rollout(
        _rollout({"13567": "2019-10-01", "13501": "2020-07-01", "13504": None}), registry, _params()
    )
    assert len(communes) == 109
    assert _unit(communes, "13567")["start_date"] == pd.Timestamp("2019-10-01")
    assert _unit(communes, "13567")["pilot_share"] == 1.0
    assert pd.isna(_unit(communes, "13504")["start_date"])
    assert _unit(communes, "13504")["pilot_share"] == 0.0
    assert not communes["mixed_pilot"].any()
    assert _unit(communes, NHAN_DAO)["parts"] == f"{NHAN_DAO},{NHAN_HUNG}"


@pytest.mark.parametrize(
    "starts",
    [
        {NHAN_DAO: "2019-10-01"},  # 13594 pilot, 13603 absent from the calendar
        {NHAN_DAO: "2019-10-01", NHAN_HUNG: None},  # 13603 listed, never started
        {NHAN_HUNG: "2019-10-01", NHAN_DAO: None},  # the other way round
    ],
)
def test_mixed_pilot_merged_unit_is_flagged_and_dropped(registry, starts):
    communes = harmonise_rollout(
        _rollout({"13567": "2019-10-01", **starts}), registry, _params(mixed_pilot="drop")
    )
    unit = _unit(communes, NHAN_DAO)
    assert bool(unit["mixed_pilot"]) is True
    assert bool(unit["drop_mixed"]) is True
    assert unit["start_date"] == pd.Timestamp("2019-10-01")
    assert unit["pilot_share"] == 0.5  # equal weights without household counts
    assert communes["mixed_pilot"].sum() == 1
    assert not _unit(communes, "13567")["drop_mixed"]


def test_mixed_pilot_counted_as_pilot(registry):
    communes = harmonise_rollout(
        _rollout({NHAN_DAO: "2019-10-01"}), registry, _params(mixed_pilot="pilot")
    )
    unit = _unit(communes, NHAN_DAO)
    assert bool(unit["mixed_pilot"]) is True
    assert bool(unit["drop_mixed"]) is False
    assert unit["pilot_share"] == 1.0


def test_mixed_pilot_share_uses_household_counts(registry):
    households = pd.Series({NHAN_DAO: 3000.0, NHAN_HUNG: 1000.0})
    communes = harmonise_rollout(
        _rollout({NHAN_DAO: "2019-10-01"}), registry, _params(mixed_pilot="share"), households
    )
    unit = _unit(communes, NHAN_DAO)
    assert bool(unit["mixed_pilot"]) is True
    assert bool(unit["drop_mixed"]) is False
    assert unit["pilot_share"] == pytest.approx(0.75)


def test_same_start_in_every_part_is_not_mixed(registry):
    communes = harmonise_rollout(
        _rollout({NHAN_DAO: "2019-10-01", NHAN_HUNG: "2019-10-01"}), registry, _params()
    )
    unit = _unit(communes, NHAN_DAO)
    assert not unit["mixed_pilot"]
    assert unit["pilot_share"] == 1.0


def test_unit_starting_after_its_merger_is_not_mixed(registry):
    communes = harmonise_rollout(_rollout({VINH_TRU: "2020-07-01"}), registry, _params())
    unit = _unit(communes, VINH_TRU)
    assert unit["start_date"] == pd.Timestamp("2020-07-01")
    assert not unit["mixed_pilot"]
    assert not unit["drop_mixed"]
    assert unit["pilot_share"] == 1.0


@pytest.mark.parametrize("rule", ["drop", "pilot", "share"])
def test_mixed_pilot_through_the_pipeline(small_data, rule):
    """Make 13594 a pilot and 13603 not; check ballots, panel and the comparison window."""
    rows = small_data.rollout.read_text("utf-8").rstrip("\n") + f"\n{NHAN_DAO},01/10/2019,test\n"
    small_data.rollout.write_text(rows, "utf-8")
    write_csv(
        small_data.admin,
        ADMIN_HEADER,
        [r if r[0] != NHAN_DAO else [*r[:9], 3000, r[10]] for r in admin_rows()]
        + [[NHAN_HUNG, w, 1, 1, 0, 0, 0, 0, 1, 1000, 6] for w in ("2019Q3", "2019Q4")],
    )
    prepared = prepare_inputs(small_data.params(harmonise={"mixed_pilot": rule}))
    unit = _unit(prepared.communes, NHAN_DAO)
    assert bool(unit["mixed_pilot"]) is True
    assert bool(unit["drop_mixed"]) is (rule == "drop")
    expected_share = {"drop": 0.75, "pilot": 1.0, "share": 0.75}[rule]
    assert unit["pilot_share"] == pytest.approx(expected_share)
    ballots = prepared.ballots[prepared.ballots["commune_code"] == NHAN_DAO]
    assert len(ballots) == 24  # both parts' ballots, none lost
    assert ballots["dropped_mixed_pilot"].all() == (rule == "drop")
    panel = prepared.panel[prepared.panel["commune_code"] == NHAN_DAO].set_index("wave")
    assert panel.loc["2019Q3", "treated"] == 0.0
    assert panel.loc["2020Q1", "treated"] == pytest.approx(expected_share)
    in_window = prepared.in_window(prepared.panel)
    assert (NHAN_DAO in set(in_window["commune_code"])) is (rule != "drop")


def test_share_weights_measure_treatment_intensity(registry, default_params):
    """pilot_share becomes the treated value of the commune-wave panel (share rule)."""
    communes = commune_timing(
        harmonise_rollout(
            _rollout({"13567": "2019-10-01", NHAN_DAO: "2019-10-01"}),
            registry,
            _params(mixed_pilot="share"),
            pd.Series({NHAN_DAO: 1000.0, NHAN_HUNG: 3000.0}),
        )
    )
    items = default_params.ballot.items
    ballots = _ballots(
        [(NHAN_DAO, "2019-08-01"), (NHAN_DAO, "2019-11-01"), ("13567", "2019-11-01")]
    )
    for item in items:
        ballots[item] = 4.0
    panel = commune_wave_panel(score_ballots(ballots, default_params.ballot), communes)
    treated = panel.set_index(["commune_code", "wave"])["treated"]
    assert treated[(NHAN_DAO, "2019Q3")] == 0.0
    assert treated[(NHAN_DAO, "2019Q4")] == pytest.approx(0.25)
    assert treated[("13567", "2019Q4")] == 1.0


# --------------------------------------------------------------------------------------------
# Property: no ballot is lost or duplicated without being counted


@pytest.fixture(scope="module")
def all_codes(registry) -> list[str]:
    return sorted(registry.all_codes())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_harmonisation_never_loses_or_duplicates_a_ballot(registry, all_codes, data):
    special = [
        NHAN_HUNG,
        NHAN_DAO,
        DONG_LY,
        VINH_TRU,
        CHAU_SON,
        "13378",
        "13462",
        "13537",
        "13549",
        "13321",
    ]
    codes = st.sampled_from(special + all_codes)
    days = st.integers(0, 700).map(
        lambda d: (pd.Timestamp("2019-03-01") + pd.Timedelta(days=d)).date().isoformat()
    )
    rows = data.draw(st.lists(st.tuples(codes, days), min_size=1, max_size=60))
    manual = data.draw(
        st.dictionaries(st.sampled_from([CHAU_SON, "13378", "13462"]), st.just(DOI_SON), max_size=2)
    )
    mixed = data.draw(st.sampled_from(["drop", "pilot", "share"]))
    pilots = data.draw(
        st.lists(st.sampled_from([*special[:4], "13567", "13285"]), max_size=4, unique=True)
    )
    params = _params(manual_mappings=manual, mixed_pilot=mixed)
    ballots = _ballots(rows)
    rollout = _rollout(dict.fromkeys(pilots, "2019-10-01"))

    h = harmonise(registry, rollout, ballots, params)
    out_ids = h.ballots["ballot_id"].tolist()
    assert len(out_ids) == len(set(out_ids))  # never duplicated
    report = h.report[h.report["table"] == "ballots"]
    assert report["records"].sum() == len(ballots)
    dropped_codes = set(report.loc[report["action"] != "kept", "source_code"])
    dropped_ids = set(ballots.loc[ballots["commune_code"].isin(dropped_codes), "ballot_id"])
    assert set(out_ids) | dropped_ids == set(ballots["ballot_id"])  # never lost uncounted
    assert not set(out_ids) & dropped_ids
    assert report.loc[report["action"] != "kept", "records"].sum() == len(dropped_ids)
    # Every kept ballot sits on the target map.
    assert set(h.ballots["commune_code"]) <= set(registry.maps[TARGET]["commune_code"])
    assert np.all(
        h.ballots["source_code"].to_numpy()
        == ballots.set_index("ballot_id").loc[out_ids, "commune_code"].to_numpy()
    )
