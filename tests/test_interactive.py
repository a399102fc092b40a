"""Notebooks opened by hand in JupyterLab follow their parameters (issue 14, item 5).

A hand-run (``run_dir = None``) prepares a folder keyed by the merged parameters and the input
files' bytes: other parameters or other inputs are prepared afresh, the same ones are reused,
and the page says which params file it used and which of the two happened. Every test keeps
its hand-run folders in its own temporary folder (never the repository's ``runs/``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from conftest import ITEMS, SmallData

from evaluation.config import PROJECT_ROOT
from evaluation.i18n import t
from evaluation.report import run_context
from evaluation.report.run_context import HandRunDataError, open_run, resolve_params_file

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


def _new_notebook_tool():
    spec = importlib.util.spec_from_file_location(
        "new_notebook", PROJECT_ROOT / "tools" / "new_notebook.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class HandRuns:
    """Counts preparations and keeps the lines a hand-run showed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prepared = 0
        self.shown: list[str] = []


@pytest.fixture
def hand_runs(tmp_path, monkeypatch) -> HandRuns:
    record = HandRuns(tmp_path / "interactive")
    monkeypatch.setenv(run_context.INTERACTIVE_DIR_ENV, str(record.root))
    real_prepare = run_context.prepare_inputs

    def counting_prepare(params):
        record.prepared += 1
        return real_prepare(params)

    monkeypatch.setattr(run_context, "prepare_inputs", counting_prepare)
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj: record.shown.append(obj.data))
    return record


def _note(key: str, language: str, params_file: Path, folder: Path) -> str:
    return t(key, language, params_file=str(params_file), folder=str(folder))


def test_other_params_prepare_afresh_and_the_language_follows(small_data: SmallData, hand_runs):
    a = small_data.params_file("a.yaml")
    b = small_data.params_file("b.yaml", language="en")
    first = open_run(None, "01_data_quality", a)
    assert first.language == "vi"
    second = open_run(None, "01_data_quality", b)
    assert second.language == "en"
    assert hand_runs.prepared == 2
    assert second.run_dir != first.run_dir
    assert second.run_dir.parent == hand_runs.root
    # each page says, in its own language, which file it used and that it prepared afresh
    assert hand_runs.shown == [
        _note("run.hand_run_fresh", "vi", a, first.run_dir),
        _note("run.hand_run_fresh", "en", b, second.run_dir),
    ]
    key = json.loads((second.run_dir / "key.json").read_text("utf-8"))
    assert key["params_file"] == str(b)
    assert key["key"].startswith(second.run_dir.name.rsplit("-", 1)[1])


def test_the_same_params_and_inputs_are_reused(small_data: SmallData, hand_runs):
    a = small_data.params_file("a.yaml")
    first = open_run(None, "01_data_quality", a)
    meta = first.run_dir / "prepared" / "meta.json"
    stamp = meta.stat().st_mtime_ns
    again = open_run(None, "03_effects", a)
    assert hand_runs.prepared == 1
    assert again.run_dir == first.run_dir
    assert meta.stat().st_mtime_ns == stamp
    assert again.prepared.meta == first.prepared.meta
    assert hand_runs.shown[-1] == _note("run.hand_run_reused", "vi", a, first.run_dir)


def test_an_input_file_changed_prepares_afresh(small_data: SmallData, hand_runs):
    a = small_data.params_file("a.yaml")
    first = open_run(None, "01_data_quality", a)
    # one household's answer changed: same parameters, other bytes
    lines = small_data.ballots.read_text("utf-8-sig").splitlines()
    header, row = lines[0].split(","), lines[1].split(",")
    column = header.index(ITEMS[0])
    row[column] = "1" if row[column] != "1" else "2"
    lines[1] = ",".join(row)
    small_data.ballots.write_text("\n".join(lines) + "\n", "utf-8-sig")
    second = open_run(None, "01_data_quality", a)
    assert hand_runs.prepared == 2
    assert second.run_dir != first.run_dir
    assert hand_runs.shown[-1] == _note("run.hand_run_fresh", "vi", a, second.run_dir)


def test_a_hand_run_stopped_before_its_key_is_prepared_again(small_data: SmallData, hand_runs):
    a = small_data.params_file("a.yaml")
    first = open_run(None, "01_data_quality", a)
    (first.run_dir / "key.json").write_text("{not json", "utf-8")
    again = open_run(None, "01_data_quality", a)
    assert hand_runs.prepared == 2
    assert again.run_dir == first.run_dir
    assert json.loads((again.run_dir / "key.json").read_text("utf-8"))["key"]
    assert not list(first.run_dir.glob(".prepared-*"))


def test_a_given_run_folder_ignores_params_file(small_data: SmallData, hand_runs):
    """papermill's run_dir rules: its params.yaml, no preparing, no hand-run line."""
    made = open_run(None, "01_data_quality", small_data.params_file("a.yaml"))
    shown = len(hand_runs.shown)
    english = small_data.params_file("b.yaml", language="en")
    ctx = open_run(str(made.run_dir), "01_data_quality", english)
    assert ctx.language == "vi"
    assert ctx.run_dir == made.run_dir
    assert hand_runs.prepared == 1
    assert len(hand_runs.shown) == shown


def test_invalid_data_show_on_page_01_and_stop_other_pages(small_data: SmallData, hand_runs):
    text = small_data.costs.read_text("utf-8").splitlines()
    cells = text[1].split(",")
    cells[2] = "twenty"  # setup_vnd that is not a number
    text[1] = ",".join(cells)
    small_data.costs.write_text("\n".join(text) + "\n", "utf-8")
    params = small_data.params_file("a.yaml", language="en")
    page01 = open_run(None, "01_data_quality", params)
    assert page01.prepared.meta == {"validation_failed": True}
    assert len(page01.prepared.problems) >= 1
    assert (page01.run_dir / "tables" / "data_problems.csv").is_file()
    with pytest.raises(HandRunDataError) as stopped:
        open_run(None, "03_effects", params)
    expected = t("run.hand_run_invalid", "en", problems=len(page01.prepared.problems))
    assert str(stopped.value) == expected
    assert hand_runs.prepared == 1


def test_params_file_is_read_from_the_project_root():
    assert resolve_params_file(None) == PROJECT_ROOT / "params" / "default.yaml"
    english = resolve_params_file("params/scenarios/english.yaml")
    assert english == PROJECT_ROOT / "params" / "scenarios" / "english.yaml"
    assert english.is_file()
    assert resolve_params_file(english) == english


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_exposes_run_dir_and_params_file(notebook: Path):
    found = papermill.inspect_notebook(str(notebook))
    assert list(found) == ["run_dir", "params_file"]
    assert found["run_dir"]["default"] == "None"
    default = found["params_file"]["default"].strip("\"'")
    assert (PROJECT_ROOT / default).is_file()
    tool = _new_notebook_tool()
    cells = nbformat.read(notebook, as_version=4).cells
    assert cells[0].source == tool.PARAMETERS_CELL
    assert tool.open_call(notebook.stem) in cells[1].source


def test_new_notebook_tool_writes_the_shared_parameters(tmp_path):
    tool = _new_notebook_tool()
    target = tmp_path / "08_new_page.ipynb"
    opening = "from evaluation.report.run_context import open_run\n\n"
    tool.build(target, f"# %%\n{opening}ctx = {tool.open_call('08_new_page')}\n# %%\nprint(1)\n")
    assert list(papermill.inspect_notebook(str(target))) == ["run_dir", "params_file"]
    cells = nbformat.read(target, as_version=4).cells
    assert [c.metadata.get("tags", []) for c in cells] == [["parameters"], [], []]
    with pytest.raises(SystemExit, match="open_run"):
        tool.build(tmp_path / "09_other.ipynb", '# %%\nctx = open_run(run_dir, "09_other")\n')


def test_run_all_of_a_page_opened_by_hand(small_data: SmallData, tmp_path):
    """JupyterLab's "Run All", as ``jupyter nbconvert --execute`` does it, on a temporary copy."""
    params = small_data.params_file("a.yaml", language="en")
    copy = tmp_path / "lab" / "01_data_quality.ipynb"
    copy.parent.mkdir()
    node = nbformat.read(PROJECT_ROOT / "notebooks" / "01_data_quality.ipynb", as_version=4)
    node.cells[0].source = node.cells[0].source.replace(
        '"params/default.yaml"', json.dumps(str(params))
    )
    nbformat.write(node, copy)
    root = tmp_path / "interactive"
    env = {**os.environ, run_context.INTERACTIVE_DIR_ENV: str(root)}
    jupyter = Path(sys.executable).parent / "jupyter"
    command = [str(jupyter), "nbconvert", "--to", "notebook", "--execute", str(copy)]
    command += ["--output", "executed.ipynb", "--ExecutePreprocessor.timeout=300"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    executed = nbformat.read(copy.parent / "executed.ipynb", as_version=4)
    folders = [p for p in root.iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / "key.json").is_file()
    first_lines = [
        o["data"]["text/markdown"]
        for o in executed.cells[1].outputs
        if "text/markdown" in o.get("data", {})
    ]
    assert first_lines[0] == t(
        "run.hand_run_fresh", "en", params_file=str(params), folder=str(folders[0])
    )
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    shutil.rmtree(root)


def test_readme_says_how_to_open_the_notebooks():
    text = (PROJECT_ROOT / "README.md").read_text("utf-8")
    start = text.index("## Open the notebooks in JupyterLab")
    section = text[start : text.index("\n## ", start + 1)]
    assert "```bash\n.venv/bin/jupyter lab notebooks/\n```" in section
    assert "--allow-root" in section
    scenario = 'params_file = "params/scenarios/english.yaml"'
    assert scenario in section
    assert resolve_params_file(scenario.split('"')[1]).is_file()
    assert 'params_file = "params/default.yaml"' in _new_notebook_tool().PARAMETERS_CELL
