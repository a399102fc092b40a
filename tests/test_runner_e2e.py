"""One run end to end on a small demo, and a run on invalid data (data-quality page only)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from conftest import BALLOT_HEADER, DEFAULT_PARAMS, ballot_rows, write_csv

from evaluation.i18n import t
from evaluation.runner import run

#: A small demo (4 quarters, few ballots) so the run takes seconds, not minutes.
SMALL_DEMO = {
    "demo": {
        "first_wave": "2019Q3",
        "last_wave": "2020Q2",
        "rollout_waves": ["2020Q2"],
        "ballots_min": 5,
        "ballots_max": 10,
    }
}
CODE_INPUT = re.compile(r'class="[^"]*\bjp-InputArea\b')


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _quiet(_: str) -> None:
    pass


def _assert_every_folder_marked(parent: Path) -> None:
    """No half-built run: every folder is complete, or named -FAILED with a failed manifest."""
    for folder in parent.iterdir():
        assert not folder.name.endswith(".partial"), f"unfinished run folder left: {folder}"
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        if folder.name.endswith("-FAILED"):
            assert manifest["status"] == "failed"
        else:
            assert manifest["status"] == "complete"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = run(
        DEFAULT_PARAMS,
        out=out,
        notebooks=["01_data_quality"],
        overrides=SMALL_DEMO,
        progress=_quiet,
    )
    return out, result


def test_run_folder_is_complete(demo_run):
    out, result = demo_run
    assert result.ok, result.message
    assert result.run_dir.is_dir()
    assert result.run_dir.parent == out
    assert re.fullmatch(r"demo-\d{8}-\d{6}(-\d+)?", result.run_dir.name)
    assert [p.name for p in out.iterdir()] == [result.run_dir.name]
    _assert_every_folder_marked(out)
    for name in ("params.yaml", "manifest.json", "index.html", "01_data_quality.html"):
        assert (result.run_dir / name).is_file(), name
    assert (result.run_dir / "prepared" / "meta.json").is_file()
    assert (result.run_dir / "notebooks" / "01_data_quality.ipynb").is_file()


def test_manifest_records_status_inputs_and_outputs(demo_run):
    _, result = demo_run
    manifest = json.loads((result.run_dir / "manifest.json").read_text("utf-8"))
    assert manifest["status"] == "complete"
    assert manifest["simulated_data"] is True
    assert [n["name"] for n in manifest["notebooks"]] == ["01_data_quality"]
    assert manifest["notebooks"][0]["status"] == "ok"
    inputs = manifest["inputs"]
    # The registry files and the generated demo files, each with its hash.
    assert len(inputs) == 7
    assert any(p.endswith("units_2019-12-01.csv") for p in inputs)
    assert any(p.endswith("ballots.csv") for p in inputs)
    for path, digest in inputs.items():
        assert _sha256(Path(path)) == digest, path
    for relative, digest in manifest["outputs"].items():
        assert _sha256(result.run_dir / relative) == digest, relative
    assert "01_data_quality.html" in manifest["outputs"]


def test_html_page_has_no_code_and_says_simulated(demo_run):
    _, result = demo_run
    page = (result.run_dir / "01_data_quality.html").read_text("utf-8")
    assert CODE_INPUT.search(page) is None
    assert "ctx = open_run" not in page
    assert "from evaluation" not in page
    assert 'lang="vi"' in page
    assert t("banner.simulated", "vi") in page
    assert "simulated-banner" in page
    assert not re.search(r'<script[^>]+src="https?://', page)  # opens offline


def test_index_page(demo_run):
    _, result = demo_run
    index = (result.run_dir / "index.html").read_text("utf-8")
    assert '<html lang="vi">' in index
    assert t("banner.simulated", "vi") in index
    assert 'href="01_data_quality.html"' in index
    # The code version, but no start time: a rerun gives the same bytes (times: manifest.json)
    assert t("run.meta_line", "vi", commit=result.manifest["git_commit"]) in index
    started = result.manifest["started"]
    assert f"{started[8:10]}/{started[5:7]}/{started[:4]}" not in index


def test_params_yaml_is_the_merged_parameter_set(demo_run):
    _, result = demo_run
    text = (result.run_dir / "params.yaml").read_text("utf-8")
    assert "first_wave: 2019Q3" in text
    assert "ballots_max: 10" in text


def test_invalid_ballots_give_a_failed_run_with_the_problem_table(small_data, tmp_path):
    rows = ballot_rows()
    rows[3][5] = "7"  # Likert answer off the scale, file row 5
    write_csv(small_data.ballots, BALLOT_HEADER, rows, bom=True)
    out = tmp_path / "runs"
    result = run(
        small_data.params_file(),
        out=out,
        notebooks=["01_data_quality"],
        progress=_quiet,
    )
    assert result.ok is False
    assert result.run_dir.name.endswith("-FAILED")
    assert result.run_dir.name.startswith("small-")
    assert "1 data problem(s)" in result.message
    problems = (result.run_dir / "tables" / "data_problems.csv").read_text("utf-8-sig")
    assert problems.splitlines()[0] == "file,row,column,value,rule,how_to_fix"
    assert f"{small_data.ballots},5,access_location,7," in problems
    manifest = json.loads((result.run_dir / "manifest.json").read_text("utf-8"))
    assert manifest["status"] == "failed"
    assert manifest["simulated_data"] is False
    assert manifest["inputs"][str(small_data.ballots)] == _sha256(small_data.ballots)
    # The data-quality page still renders and lists the problem for the officer.
    page = (result.run_dir / "01_data_quality.html").read_text("utf-8")
    assert "access_location" in page
    # ... in the page's language; the CSV and the terminal keep the English text
    assert t("validation.likert_range.fix", "vi") in page
    assert t("validation.likert_range.fix", "en") in problems
    assert t("banner.simulated", "vi") not in page
    _assert_every_folder_marked(out)


def test_unreadable_input_still_gives_a_failed_run_folder(small_data, tmp_path):
    small_data.ballots.write_bytes("ballot_id,commune_code\nB1,Nhân Hưng\n".encode("cp1258"))
    out = tmp_path / "runs"
    result = run(small_data.params_file(), out=out, notebooks=["01_data_quality"], progress=_quiet)
    assert result.ok is False
    assert result.run_dir.name.endswith("-FAILED")
    assert "not UTF-8 text" in result.message
    _assert_every_folder_marked(out)


def test_two_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    """Each run creates its .partial folder exclusively; the second takes the next suffix."""
    from evaluation.runner import _claim_run_folder

    first = _claim_run_folder(tmp_path, "demo-20261129-101500")
    second = _claim_run_folder(tmp_path, "demo-20261129-101500")
    assert first[0] == "demo-20261129-101500" and second[0] == "demo-20261129-101500-2"
    assert first[1] != second[1] and first[1].is_dir() and second[1].is_dir()
    (tmp_path / "demo-20261129-101501").mkdir()  # a finished run's name is never reused
    assert _claim_run_folder(tmp_path, "demo-20261129-101501")[0] == "demo-20261129-101501-2"


def test_time_left_comes_from_the_previous_complete_run(tmp_path):
    import json

    from evaluation.runner import _previous_timings, _time_left

    done = tmp_path / "demo-20261129-100000"
    done.mkdir()
    pages = [
        {"name": "01_data_quality", "status": "ok", "execute_seconds": 7.0, "render_seconds": 1.0},
        {"name": "03_effects", "status": "ok", "execute_seconds": 40.0, "render_seconds": 2.0},
    ]
    (done / "manifest.json").write_text(json.dumps({"notebooks": pages}), "utf-8")
    previous = _previous_timings(tmp_path, "demo")
    assert (
        _time_left(previous, ["01_data_quality", "03_effects"]) == "; about 50 s left, as last time"
    )
    assert _time_left(previous, ["05_where_it_works"]) == ""  # not timed before: no guess
