"""The command line: exit codes and the messages a user sees."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import BALLOT_HEADER, DEFAULT_PARAMS, ballot_rows, write_csv

from evaluation.cli import main
from evaluation.config import PROJECT_ROOT


def _bad_key_file(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text(
        yaml.safe_dump({"extends": str(DEFAULT_PARAMS), "harmonise": {"mixed_pilots": "drop"}}),
        "utf-8",
    )
    return path


def test_run_with_a_misspelt_key_exits_2_and_suggests(tmp_path, capsys):
    code = main(["run", str(_bad_key_file(tmp_path)), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert "parameter error:" in err
    assert "unknown key 'harmonise.mixed_pilots'; did you mean 'mixed_pilot'?" in err
    assert not (tmp_path / "runs").exists()  # nothing started


def test_console_script_exit_code(tmp_path):
    """The installed ``evaluation`` entry point, as a user types it."""
    script = Path(sys.executable).parent / "evaluation"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "evaluation"]
    result = subprocess.run(
        [*command, "run", str(_bad_key_file(tmp_path))],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert "did you mean 'mixed_pilot'?" in result.stderr


def test_validate_missing_params_file_exits_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "parameter file not found" in capsys.readouterr().err


def test_validate_valid_data_exits_0(small_data, capsys):
    assert main(["validate", str(small_data.params_file(language="en"))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The data passed every check.\n")
    assert "3 pilot communes at the first start" in out
    assert "the first start is Q4 2019" in out
    digest = hashlib.sha256(small_data.ballots.read_bytes()).hexdigest()
    assert f"{small_data.ballots}  sha256 {digest}" in out


def test_validate_speaks_the_run_language(small_data, capsys):
    assert main(["validate", str(small_data.params_file(language="vi"))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Dữ liệu đã qua mọi bước kiểm tra.\n")
    assert "đợt bắt đầu đầu tiên là Q4/2019" in out


def test_validate_refuses_an_outcome_the_data_lack(small_data, capsys):
    params = small_data.params_file(analysis={"outcomes": ["satisfaction_indx"]})
    assert main(["validate", str(params)]) == 1
    err = capsys.readouterr().err
    assert "analysis.outcomes" in err and "did you mean 'satisfaction_index'?" in err


def test_validate_lists_every_problem_and_exits_1(small_data, capsys):
    rows = ballot_rows()
    rows[0][1] = "99999"
    rows[3][5] = "7"
    write_csv(small_data.ballots, BALLOT_HEADER, rows)
    assert main(["validate", str(small_data.params_file())]) == 1
    err = capsys.readouterr().err
    assert "Dữ liệu có 2 lỗi" in err  # the run's language (vi)
    assert re.search(r"tệp\s+\|\s+dòng\s+\|\s+cột\s+\|\s+giá trị", err)  # the problem table
    assert "99999" in err
    assert "access_location" in err


def test_unknown_command_is_an_argparse_error(capsys):
    try:
        main(["frobnicate"])
    except SystemExit as exc:
        assert exc.code == 2
    else:  # pragma: no cover
        raise AssertionError("argparse accepted an unknown command")
    assert "invalid choice" in capsys.readouterr().err


def test_validate_refuses_strata_and_cluster_the_data_lack(small_data, capsys):
    from evaluation.analysis.checks import design_problems
    from evaluation.prepare import prepare_inputs

    sections = {"inference": {"strata": "distrct_name"}, "analysis": {"cluster": "commune"}}
    assert main(["validate", str(small_data.params_file(**sections))]) == 1
    assert "Dữ liệu có 2 lỗi (và 0 cảnh báo) trong params" in capsys.readouterr().err
    params = small_data.params(**sections)
    rows = design_problems(prepare_inputs(params), params).set_index("row")
    assert rows.loc["inference.strata", "how_to_fix"].startswith("did you mean 'district_name'?")
    assert rows.loc["analysis.cluster", "rule"] == "not a column of the prepared commune data"
