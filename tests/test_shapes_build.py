"""Every data shape of the matrix (tests/shapes.py) builds, and its parameters load.

Fast: no notebook runs here (``tools/shape_probe.py`` runs the report on each shape).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from shapes import (
    ABORTION_EXPOSURE_YEAR,
    DEFAULT_PARAMS,
    HOP_LY,
    PILOT_START,
    SHAPES,
    abortion_frame,
    build_shape,
    demo_pilots,
    jtrain_frame,
    texas_frame,
)

from evaluation.config import load_params


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return {name: build_shape(name, root / name) for name in SHAPES}


def _read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_the_matrix_names_every_kind():
    kinds = {s.kind for s in SHAPES.values()}
    assert kinds == {"hanam", "panel", "real"}
    for name, shape in SHAPES.items():
        assert shape.name == name
        assert shape.description and "\n" not in shape.description
        assert isinstance(shape.expect_missing, tuple)


def test_unknown_shape_names_the_choices(tmp_path):
    with pytest.raises(KeyError, match="hanam_full"):
        build_shape("no_such_shape", tmp_path)


@pytest.mark.parametrize("name", list(SHAPES))
def test_shape_builds_small_fast_params(built, name):
    path = built[name]
    tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert tree["extends"] == str(DEFAULT_PARAMS)
    params = load_params(path)
    assert params.run_name == name
    assert params.inference.n_boot == 199
    assert params.inference.ri_draws == 199
    assert params.inference.size_sims == 40
    assert params.report.execution_timeout == 600
    kind = SHAPES[name].kind
    if kind == "hanam":
        assert params.data.source == "files"
        assert params.language == ("en" if name.endswith("_en") else "vi")
        for key in ("rollout", "ballots", "admin", "costs"):
            value = tree["data"].get(key)
            assert value is None or Path(value).is_absolute()
    else:
        assert params.data.source == "panel"
        assert params.language == "en"
        assert params.data.panel.path.is_absolute()
        assert params.data.panel.path.stat().st_size < 2_000_000
    for file in params.input_files():
        assert file.is_file()


def test_hanam_shapes_lack_what_they_say(built):
    folder = {name: built[name].parent for name in built}
    full = _read(folder["hanam_full"] / "ballots.csv")
    assert 5_000 < len(full) < 20_000
    waves = sorted(_read(folder["hanam_two_waves"] / "ballots.csv")["wave"].unique())
    assert waves == ["2019Q3", "2020Q1"]
    endline = _read(folder["hanam_endline_only"] / "ballots.csv")["wave"]
    assert endline.min() == "2019Q4"
    pilots = demo_pilots()
    assert len(pilots) == 14 and HOP_LY in pilots
    only = _read(folder["hanam_pilot_only_ballots"] / "ballots.csv")
    assert set(only["commune_code"]) == set(pilots)
    assert _read(folder["hanam_pilot_only_ballots"] / "admin.csv")["commune_code"].nunique() > 100
    assert load_params(built["hanam_no_admin"]).data.admin is None
    assert load_params(built["hanam_no_costs"]).data.costs is None
    no_cov = load_params(built["hanam_no_covariates"])
    assert no_cov.analysis.baseline_covariates == []
    assert no_cov.analysis.propensity_covariates == []
    assert "one_stop_staff" not in _read(folder["hanam_no_covariates"] / "admin.csv")
    for name, n in (("hanam_one_pilot", 1), ("hanam_two_pilots", 2)):
        rollout = _read(folder[name] / "rollout.csv")
        starts = rollout.loc[rollout["start_date"] == PILOT_START, "commune_code"]
        assert len(starts) == n and HOP_LY in set(starts)
    adopt = _read(folder["hanam_all_adopt"] / "rollout.csv")
    assert (adopt["start_date"] != "").all()
    assert (_read(folder["hanam_full"] / "rollout.csv")["start_date"] == "").any()


def test_generic_panels_have_their_shape(built):
    def frame(name: str) -> pd.DataFrame:
        return pd.read_csv(load_params(built[name]).data.panel.path)

    staggered = frame("panel_yearly_staggered")
    assert 30 <= staggered["district_id"].nunique() <= 60
    assert sorted(staggered["first_year"].unique()) == [0, 2014, 2016, 2018]
    treatment = frame("panel_treatment_01")
    assert set(treatment["treated"].unique()) == {0, 1}
    unbalanced = frame("panel_unbalanced_missing")
    assert unbalanced.groupby("unit_id").size().nunique() > 1
    assert unbalanced["y"].isna().any()
    individual = frame("panel_individual")
    assert (individual.groupby("year").size() >= 200).all()
    assert load_params(built["panel_individual"]).data.panel.level == "individual"
    one = frame("panel_one_treated")
    assert one.loc[one["first_treated"] > 0, "unit"].nunique() == 1


def test_jtrain_is_as_documented():
    frame = jtrain_frame()
    assert len(frame) == 471
    assert frame["fcode"].nunique() == 157
    assert sorted(frame["year"].unique()) == [1987, 1988, 1989]
    firms = frame.groupby("fcode")["first_treated"].first()
    assert firms.value_counts().to_dict() == {0: 91, 1988: 36, 1989: 30}
    assert frame["lscrap"].notna().sum() == 162  # 54 firms x 3 years
    assert frame["hrsemp"].isna().any()


def test_texas_is_as_documented():
    frame = texas_frame()
    assert len(frame) == 816
    assert frame["statefip"].nunique() == 51
    assert (frame["year"].min(), frame["year"].max()) == (1985, 2000)
    treated = frame.loc[frame["first_treated"] > 0]
    assert set(treated["statefip"]) == {48}
    assert set(treated["first_treated"]) == {1993}


def test_abortion_is_as_documented():
    frame = abortion_frame()
    # 51 states x 16 years, one bf15 cell each, less Georgia 1994 (totpop 0: no valid weight).
    assert len(frame) == 815
    assert not ((frame["fip"] == 13) & (frame["year"] == 1994)).any()
    assert (frame["totpop"] > 0).all()
    assert not frame.duplicated(["fip", "year"]).any()
    treated = frame.loc[frame["first_treated"] > 0, "fip"].unique()
    assert sorted(treated) == [2, 6, 15, 36, 53]  # AK, CA, HI, NY, WA: repeal before Roe
    assert set(frame.loc[frame["first_treated"] > 0, "first_treated"]) == {ABORTION_EXPOSURE_YEAR}
    assert frame["lnr"].isna().sum() == 79
