"""Write an output-free notebook template from a list of code cells.

Usage (developers): python tools/new_notebook.py notebooks/NAME.ipynb cells.py
where cells.py separates cells with lines '# %%'; the first cell is tagged `parameters`.
Notebooks are the source afterwards: edit them in JupyterLab or with this tool.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def build(target: Path, source: str) -> None:
    chunks = [c.strip("\n") for c in source.split("# %%") if c.strip()]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for i, chunk in enumerate(chunks):
        cell = nbformat.v4.new_code_cell(chunk)
        cell.metadata = {"tags": ["parameters"]} if i == 0 else {}
        nb.cells.append(cell)
    nbformat.write(nb, target)


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]).read_text(encoding="utf-8"))
