"""Parameter files: unknown keys, wrong types, missing files, ``extends:`` and overrides."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from conftest import DEFAULT_PARAMS

from evaluation.config import (
    PROJECT_ROOT,
    ParamsError,
    load_params,
    params_from_tree,
    params_to_yaml,
    read_params_tree,
)

SCENARIOS = PROJECT_ROOT / "params" / "scenarios"


def _scenario(tmp_path: Path, tree: dict, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(
        yaml.safe_dump({"extends": str(DEFAULT_PARAMS), **tree}, allow_unicode=True), "utf-8"
    )
    return path


def test_default_params_load(default_params):
    assert default_params.data.source == "demo"
    assert default_params.simulated is True
    assert default_params.language == "vi"
    assert default_params.harmonise.target_map == date(2020, 1, 1)
    assert len(default_params.ballot.items) == 12
    # Relative paths are read from the project folder.
    assert all(p.is_absolute() and p.is_file() for p in default_params.input_files())


def test_every_shipped_scenario_loads():
    for path in sorted(SCENARIOS.glob("*.yaml")):
        if path.name.endswith(".example.yaml"):
            continue  # names data/raw files that only exist at the user's site
        assert load_params(path).run_name


@pytest.mark.parametrize(
    ("tree", "key", "suggestion"),
    [
        ({"langauge": "en"}, "langauge", "language"),
        ({"harmonise": {"mixed_pilots": "drop"}}, "harmonise.mixed_pilots", "mixed_pilot"),
        (
            {"analysis": {"headline_outcom": "pct_satisfied"}},
            "analysis.headline_outcom",
            "headline_outcome",
        ),
        ({"inference": {"n_boots": 999}}, "inference.n_boots", "n_boot"),
    ],
)
def test_unknown_key_names_it_and_suggests_nearest(tmp_path, tree, key, suggestion):
    path = _scenario(tmp_path, tree)
    with pytest.raises(ParamsError) as err:
        load_params(path)
    text = str(err.value)
    assert f"unknown key '{key}'" in text
    assert f"did you mean '{suggestion}'?" in text
    assert str(path) in text  # the message says which file to open


def test_unknown_key_inside_a_list_item_suggests_nearest():
    with pytest.raises(
        ParamsError, match=r"unknown key 'data\.registry\.maps\.0\.pth'; did you mean 'path'\?"
    ):
        load_params(
            DEFAULT_PARAMS,
            {"data": {"registry": {"maps": [{"effective_date": "2019-12-01", "pth": "x.csv"}]}}},
        )


def test_unknown_key_without_close_match_lists_valid_keys(tmp_path):
    path = _scenario(tmp_path, {"demo": {"zzzzzz": 1}})
    with pytest.raises(ParamsError) as err:
        load_params(path)
    text = str(err.value)
    assert "unknown key 'demo.zzzzzz'" in text
    assert "did you mean" not in text
    assert "Valid keys here: seed, n_pilot" in text


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"demo": {"n_pilot": "many"}}, "demo.n_pilot"),
        ({"analysis": {"alpha": 0.9}}, "analysis.alpha"),
        ({"harmonise": {"mixed_pilot": "average"}}, "harmonise.mixed_pilot"),
        ({"harmonise": {"target_map": "first of January"}}, "harmonise.target_map"),
        ({"run_name": "my run/1"}, "run_name"),
    ],
)
def test_wrong_type_names_the_key_and_the_value(override, key):
    with pytest.raises(ParamsError) as err:
        load_params(DEFAULT_PARAMS, override)
    text = str(err.value)
    assert f"key '{key}'" in text
    value = next(iter(_leaves(override)))
    assert repr(value) in text


def _leaves(tree: dict):
    for value in tree.values():
        if isinstance(value, dict):
            yield from _leaves(value)
        else:
            yield value


def test_missing_required_section_is_named():
    tree = read_params_tree(DEFAULT_PARAMS)
    del tree["data"]
    with pytest.raises(ParamsError, match=r"key 'data' is required but missing"):
        params_from_tree(tree, "mine.yaml")


def test_ballots_without_items_say_which_key_to_fill():
    tree = read_params_tree(DEFAULT_PARAMS)
    del tree["ballot"]
    with pytest.raises(ParamsError) as caught:
        params_from_tree(tree, "mine.yaml")
    assert str(caught.value) == (
        "mine.yaml: data.source 'demo' reads ballots: list their items in ballot.factors"
    )


def test_missing_input_file_names_the_key(tmp_path):
    ballots = tmp_path / "ballots.csv"
    ballots.write_text("ballot_id\n", "utf-8")
    with pytest.raises(ParamsError) as err:
        load_params(
            DEFAULT_PARAMS,
            {
                "data": {
                    "source": "files",
                    "rollout": str(tmp_path / "nope.csv"),
                    "ballots": str(ballots),
                }
            },
        )
    assert "key 'data.rollout': file not found" in str(err.value)
    assert "nope.csv" in str(err.value)


def test_missing_registry_map_names_the_key():
    with pytest.raises(ParamsError, match=r"key 'data\.registry\.maps\.1\.path': file not found"):
        load_params(
            DEFAULT_PARAMS,
            {
                "data": {
                    "registry": {
                        "maps": [
                            {
                                "effective_date": "2019-12-01",
                                "path": "data/reference/hanam/units_2019-12-01.csv",
                            },
                            {
                                "effective_date": "2020-01-01",
                                "path": "data/reference/hanam/missing.csv",
                            },
                        ]
                    }
                }
            },
        )


def test_files_source_needs_rollout_and_ballots():
    with pytest.raises(
        ParamsError, match=r"key 'data'.*source 'files' needs data\.rollout and data\.ballots"
    ):
        load_params(DEFAULT_PARAMS, {"data": {"source": "files"}})


def test_panel_needs_exactly_one_treatment_column(tmp_path):
    panel = tmp_path / "panel.csv"
    panel.write_text("unit,year,score\n", "utf-8")
    spec = {"path": str(panel), "unit": "unit", "period": "year", "outcomes": ["score"]}
    with pytest.raises(ParamsError, match="give exactly one of 'first_treated' or 'treatment'"):
        load_params(DEFAULT_PARAMS, {"data": {"source": "panel", "panel": spec}})


def test_missing_params_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match=r"nope\.yaml: parameter file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_name: [unclosed\n", "utf-8")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n", "utf-8")
    with pytest.raises(ParamsError, match="expected a mapping of keys to values"):
        load_params(listing)


def test_missing_extends_base_is_reported(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("extends: ../nowhere/base.yaml\nrun_name: x\n", "utf-8")
    with pytest.raises(ParamsError, match=r"base\.yaml: parameter file not found"):
        load_params(path)


def test_extends_merges_only_the_changed_keys(default_params):
    english = load_params(SCENARIOS / "english.yaml")
    assert english.language == "en"
    assert english.run_name == "demo-en"
    same = english.model_dump(exclude={"language", "run_name"})
    assert same == default_params.model_dump(exclude={"language", "run_name"})


def test_extends_merges_nested_sections_key_by_key(default_params):
    mixed = load_params(SCENARIOS / "pilot_counts_if_mixed.yaml")
    assert mixed.harmonise.mixed_pilot == "pilot"
    # Keys of the same section that the scenario does not list keep the base values.
    assert mixed.harmonise.target_map == default_params.harmonise.target_map
    assert mixed.harmonise.unmapped_dissolved == default_params.harmonise.unmapped_dissolved
    assert mixed.analysis.weighting == "survey"
    assert mixed.analysis.outcomes == default_params.analysis.outcomes
    assert mixed.ballot == default_params.ballot


def test_extends_chains_of_two(tmp_path, default_params):
    first = _scenario(tmp_path, {"demo": {"seed": 1}}, "first.yaml")
    second = tmp_path / "second.yaml"
    second.write_text(f"extends: {first.name}\ndemo:\n  n_pilot: 10\n", "utf-8")
    params = load_params(second)
    assert params.demo.seed == 1
    assert params.demo.n_pilot == 10
    assert params.demo.first_wave == default_params.demo.first_wave
    assert "extends" not in read_params_tree(second)


def test_overrides_apply_last_and_keep_the_rest(default_params):
    params = load_params(
        DEFAULT_PARAMS, {"demo": {"seed": 7}, "report": {"notebooks": ["01_data_quality"]}}
    )
    assert params.demo.seed == 7
    assert params.report.notebooks == ["01_data_quality"]
    assert params.demo.n_pilot == default_params.demo.n_pilot
    assert params.report.execution_timeout == default_params.report.execution_timeout


def test_overrides_are_checked_like_the_file():
    with pytest.raises(ParamsError, match=r"unknown key 'demo\.sed'; did you mean 'seed'\?"):
        load_params(DEFAULT_PARAMS, {"demo": {"sed": 7}})


def test_manual_mappings_keep_codes_as_text():
    params = load_params(DEFAULT_PARAMS, {"harmonise": {"manual_mappings": {13375: 13369}}})
    assert params.harmonise.manual_mappings == {"13375": "13369"}


def test_items_in_two_factors_are_rejected():
    with pytest.raises(
        ParamsError, match=r"item 'staff_courteous' is in factors 'access' and 'staff'"
    ):
        load_params(
            DEFAULT_PARAMS,
            {"ballot": {"factors": {"access": ["access_location", "staff_courteous"]}}},
        )


def test_params_yaml_round_trips(tmp_path, default_params):
    text = params_to_yaml(default_params)
    assert "Nơi tiếp nhận hồ sơ thuận tiện" in text  # Vietnamese kept readable, not escaped
    path = tmp_path / "merged.yaml"
    path.write_text(text, "utf-8")
    assert load_params(path) == default_params


def test_params_are_frozen(default_params):
    with pytest.raises(ValueError, match="frozen"):
        default_params.run_name = "x"


def test_a_key_written_twice_is_refused(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("extends: x.yaml\nlanguage: vi\nlanguage: en\n", "utf-8")
    with pytest.raises(ParamsError, match=r"key 'language' is written twice \(lines 2 and 3\)"):
        read_params_tree(path)


def test_a_params_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes("run_name: Phủ Lý\n".encode("utf-16"))
    with pytest.raises(ParamsError, match=r"latin.yaml: not UTF-8 text .* save the file as UTF-8"):
        read_params_tree(path)


def test_python_objects_in_yaml_are_refused(tmp_path):
    path = tmp_path / "object.yaml"
    path.write_text('x: !!python/object/apply:os.system ["echo hi"]\n', "utf-8")
    with pytest.raises(ParamsError, match="could not determine a constructor"):
        read_params_tree(path)


def test_relative_paths_are_read_from_the_params_file_folder(tmp_path):
    (tmp_path / "data").mkdir()
    panel = tmp_path / "data" / "panel.csv"
    panel.write_text("unit,year,y,first\na,2001,1,2002\n", "utf-8")
    scenario = tmp_path / "scenarios" / "mine.yaml"
    scenario.parent.mkdir()
    scenario.write_text(
        f"extends: {DEFAULT_PARAMS}\ndata:\n  source: panel\n  panel:\n    path: ../data/panel.csv\n"
        "    unit: unit\n    period: year\n    outcomes: [y]\n    first_treated: first\n",
        "utf-8",
    )
    params = load_params(scenario)
    assert params.data.panel.path == panel
    assert params.analysis.headline_outcome == "y"  # a panel's first outcome by default


def test_a_copied_scenario_still_finds_the_base_file(tmp_path):
    copied = tmp_path / "my.yaml"
    copied.write_text("extends: ../default.yaml\nrun_name: copied\n", "utf-8")
    assert load_params(copied).run_name == "copied"


def test_a_panel_headline_outcome_it_lacks_is_refused(tmp_path):
    panel = tmp_path / "panel.csv"
    panel.write_text("unit,year,score,first\na,2001,1,2002\n", "utf-8")
    spec = {"path": str(panel), "unit": "unit", "period": "year", "outcomes": ["score"]}
    spec["first_treated"] = "first"
    overrides = {
        "data": {"source": "panel", "panel": spec},
        "analysis": {"headline_outcome": "scor"},
    }
    with pytest.raises(
        ParamsError, match="'scor' is not one of data.panel.outcomes; did you mean 'score'"
    ):
        load_params(DEFAULT_PARAMS, overrides)


def test_yearly_window_bounds_may_be_numbers():
    params = load_params(DEFAULT_PARAMS, {"analysis": {"window_start": 2007, "window_end": 2009}})
    assert (params.analysis.window_start, params.analysis.window_end) == ("2007", "2009")


def test_bad_demo_parameters_are_named():
    with pytest.raises(
        ParamsError, match=r"demo.rollout_waves: 2019Q1 must lie after the pilot start"
    ):
        load_params(DEFAULT_PARAMS, {"demo": {"rollout_waves": ["2019Q1"]}})
    assert load_params(DEFAULT_PARAMS, {"demo": {"rollout_waves": []}}).demo.rollout_waves == []
