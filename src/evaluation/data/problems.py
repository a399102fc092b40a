"""Validation problems as one table: file, row, column, value, rule, how to fix.

Every problem in every file is collected before anything stops, so a commune officer fixes a
spreadsheet once rather than once per error.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

PROBLEM_COLUMNS = ["file", "row", "column", "value", "rule", "how_to_fix"]


def empty_problems() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in PROBLEM_COLUMNS})


def problem_frame(
    file: str | Path,
    rows: Iterable[object],
    column: str,
    values: Iterable[object],
    rule: str,
    how_to_fix: str,
) -> pd.DataFrame:
    """Problems of one rule: one row per offending cell."""
    rows = list(rows)
    values = list(values)
    return pd.DataFrame(
        {
            "file": str(file),
            "row": [str(r) for r in rows],
            "column": column,
            "value": ["" if pd.isna(v) else str(v) for v in values],
            "rule": rule,
            "how_to_fix": how_to_fix,
        },
        columns=PROBLEM_COLUMNS,
    ).astype("string")


def combine(problems: Iterable[pd.DataFrame]) -> pd.DataFrame:
    frames = [p for p in problems if p is not None and len(p)]
    if not frames:
        return empty_problems()
    return pd.concat(frames, ignore_index=True)[PROBLEM_COLUMNS]


def format_problems(
    problems: pd.DataFrame,
    limit: int | None = 50,
    width: int = 40,
    headers: dict[str, str] | None = None,
    more: str = "... and {n} more problems",
) -> str:
    """The problems as a plain-text table for the terminal (the first ``limit`` rows, every row
    when ``limit`` is None).

    Long cells wrap onto continuation lines within their column, never cut. ``headers`` names
    the columns (default: the column names); ``more`` is the line that counts the rows left
    out (``{n}``).
    """
    names = {c: (headers or {}).get(c, c) for c in PROBLEM_COLUMNS}
    shown = (problems if limit is None else problems.head(limit)).fillna("")
    widths = {
        c: min(width, max(len(names[c]), *(len(str(v)) for v in shown[c]))) for c in PROBLEM_COLUMNS
    }

    def lines(values: Iterable[object]) -> list[str]:
        cells = [
            textwrap.wrap(str(v), widths[c], break_long_words=True, break_on_hyphens=False) or [""]
            for c, v in zip(PROBLEM_COLUMNS, values, strict=True)
        ]
        height = max(len(cell) for cell in cells)
        return [
            " | ".join(
                (cell[i] if i < len(cell) else "").ljust(widths[c])
                for c, cell in zip(PROBLEM_COLUMNS, cells, strict=True)
            ).rstrip()
            for i in range(height)
        ]

    out = [
        *lines(names[c] for c in PROBLEM_COLUMNS),
        "-+-".join("-" * widths[c] for c in PROBLEM_COLUMNS),
    ]
    for row in shown.itertuples(index=False):
        out += lines(row)
    if len(problems) > len(shown):
        out.append(more.format(n=len(problems) - len(shown)))
    return "\n".join(out)


class DataValidationError(ValueError):
    """Input data that break the data contract; ``.problems`` holds every problem found."""

    def __init__(self, problems: pd.DataFrame) -> None:
        self.problems = problems.reset_index(drop=True)
        files = ", ".join(sorted(set(self.problems["file"])))
        super().__init__(
            f"{len(self.problems)} data problem(s) in {files}; fix them and rerun "
            f"(see data/README.md for the contract):\n{format_problems(self.problems)}"
        )


def raise_if_problems(problems: Iterable[pd.DataFrame]) -> None:
    found = combine(problems)
    if len(found):
        raise DataValidationError(found)
