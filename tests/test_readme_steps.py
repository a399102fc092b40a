"""The README's "Plug in real data" and "Any other panel" steps, followed as written.

A person copies the example params file into ``params/``, puts their files where its relative
paths point, and runs ``evaluation validate`` then ``evaluation run``. The tests do exactly that
in a scratch project folder (``tmp/params``, ``tmp/data/raw``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import build_small_data
from test_generic_panel import write_panel

from evaluation.cli import main
from evaluation.config import PROJECT_ROOT, load_params

README = PROJECT_ROOT / "README.md"


def _section(title: str) -> str:
    text = README.read_text("utf-8")
    start = text.index(title)
    end = text.index("\n## ", start)
    return text[start:end]


def test_plug_in_real_data_steps(tmp_path, capsys):
    steps = _section("## Plug in real data")
    assert "Copy [`params/scenarios/my_data.example.yaml`]" in steps
    assert "`params/my_data.yaml`" in steps
    # Step 2: the example copied to params/my_data.yaml, the files where its paths point.
    params_file = tmp_path / "params" / "my_data.yaml"
    params_file.parent.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "params" / "scenarios" / "my_data.example.yaml", params_file)
    small = build_small_data(tmp_path / "small")
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    for name in ("rollout", "ballots", "admin", "costs"):
        table = pd.read_csv(getattr(small, name), dtype=str, keep_default_na=False)
        table.to_excel(raw / f"{name}.xlsx", index=False)
    params = load_params(params_file)
    assert params.data.ballots == raw / "ballots.xlsx"
    # Step 3: validate prints the summary the README shows.
    assert main(["validate", str(params_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Dữ liệu đã qua mọi bước kiểm tra.\n")  # default language: vi
    assert f"{raw / 'ballots.xlsx'}  sha256 " in out


def _panel_yaml() -> str:
    block = re.search(
        r"\*\*Any other panel\*\*.*?```yaml\n(.*?)```", README.read_text("utf-8"), re.S
    )
    assert block is not None, "README lost its 'Any other panel' example"
    return block.group(1)


def _panel_project(tmp_path: Path) -> Path:
    params_file = tmp_path / "params" / "my_panel.yaml"
    params_file.parent.mkdir(parents=True)
    params_file.write_text(_panel_yaml(), "utf-8")
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    write_panel(raw).rename(raw / "my_panel.csv")
    return params_file


def test_any_other_panel_example_validates(tmp_path, capsys):
    params_file = _panel_project(tmp_path)
    params = load_params(params_file)
    assert params.data.registry is None or params.data.source == "panel"
    assert params.analysis.headline_outcome == "score"
    assert main(["validate", str(params_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The data passed every check.\n")
    assert "60 districts: 15 treated districts at the first start, 15 never treated." in out
    assert "8 years, 2011 to 2018; the first start is 2014" in out


@pytest.mark.slow
def test_any_other_panel_example_runs(tmp_path):
    params_file = _panel_project(tmp_path)
    assert main(["run", str(params_file), "--out", str(tmp_path / "runs")]) == 0
