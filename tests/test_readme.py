"""The README's Python example runs as printed (so it cannot silently rot)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(capsys, monkeypatch):
    monkeypatch.chdir(README.parent)  # the example uses paths relative to the project
    text = README.read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "expected one Python example in the README"
    exec(compile(blocks[0].replace("n_boot=9999", "n_boot=999"), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "ATT on satisfaction_index" in printed
    assert "fixest" in printed  # the small-sample convention is printed with the table
