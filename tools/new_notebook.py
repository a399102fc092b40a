"""Write an output-free notebook template from a list of code cells.

Usage (developers): python tools/new_notebook.py notebooks/NAME.ipynb cells.py
where cells.py separates the page's cells with lines '# %%'. The tool writes first the
`parameters` cell every page shares (``run_dir`` set by papermill, ``params_file`` for a
hand-run in JupyterLab); the page's first cell must open the run with
``open_run(run_dir, "NAME", params_file)``. Notebooks are the source afterwards: edit them in
JupyterLab or with this tool.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

#: The one `parameters` cell of every page: papermill injects ``run_dir`` (then the run folder's
#: params.yaml rules); a hand-run (``run_dir`` None) reads ``params_file``.
PARAMETERS_CELL = (
    "# Parameters (papermill sets run_dir; params_file is then ignored). A hand-run (run_dir None)\n"
    "# prepares runs/interactive/ from params_file (relative to the project root) and prepares\n"
    "# again whenever the parameters or the input files change.\n"
    "run_dir = None\n"
    'params_file = "params/default.yaml"'
)


def open_call(name: str) -> str:
    """How the page's first cell opens its run folder."""
    return f'open_run(run_dir, "{name}", params_file)'


def build(target: Path, source: str) -> None:
    """Write the template ``target`` from the page's cells in ``source`` ('# %%' between cells).

    Raises
    ------
    SystemExit
        When the page's first cell does not open the run with :func:`open_call`.
    """
    chunks = [c.strip("\n") for c in source.split("# %%") if c.strip()]
    call = open_call(target.stem)
    if not chunks or call not in chunks[0]:
        raise SystemExit(f"the first cell of {target.name} must call {call}")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    parameters = nbformat.v4.new_code_cell(PARAMETERS_CELL)
    parameters.metadata = {"tags": ["parameters"]}
    nb.cells.append(parameters)
    nb.cells.extend(nbformat.v4.new_code_cell(chunk) for chunk in chunks)
    nbformat.write(nb, target)


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]).read_text(encoding="utf-8"))
