"""What changed between two runs: the parameters that differ and every headline number and
decision that moved (``evaluation compare RUN_A RUN_B``).

Nothing is re-estimated: each number is read from what the runs' pages wrote (through
:func:`evaluation.analysis.board.collect`), so a value here is the value its page shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from evaluation.analysis import board

__all__ = ["RESULT_ROWS", "RunComparison", "compare_runs", "param_differences", "result_values"]

#: The numbers and decisions compared: key -> (kind, page that shows it). ``kind`` says how a
#: value is written: ``effect`` (the headline outcome's unit), ``vnd``, ``count``, ``share``,
#: ``names`` (units chosen) or ``text``.
RESULT_ROWS: dict[str, tuple[str, str]] = {
    "effect_estimate": ("effect", "03_effects"),
    "effect_low": ("effect", "03_effects"),
    "effect_high": ("effect", "03_effects"),
    "n_have_conditions": ("count", "06_scaling"),
    "plan_n_communes": ("count", "06_scaling"),
    "plan_communes": ("names", "06_scaling"),
    "plan_cost_vnd": ("vnd", "06_scaling"),
    "plan_gain_per_year": ("count", "06_scaling"),
    "plan_unspent_vnd": ("vnd", "06_scaling"),
    "alternative_n_communes": ("count", "06_scaling"),
    "alternative_gain_per_year": ("count", "06_scaling"),
    "new_communes_needed": ("count", "06_scaling"),
    "later_share_of_pilot": ("share", "07_rollout_waves"),
}


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): tree}


def _params(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "params.yaml"
    if not path.is_file():
        raise ValueError(
            f"{run_dir} has no params.yaml: pass the folder of a run made by `evaluation run`"
        )
    return _flatten(yaml.safe_load(path.read_text("utf-8")) or {})


def param_differences(run_a: Path, run_b: Path) -> pd.DataFrame:
    """``key, value_a, value_b``: every parameter whose value differs (paths and names too)."""
    a, b = _params(run_a), _params(run_b)
    rows = [
        {"key": key, "value_a": a.get(key), "value_b": b.get(key)}
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]
    return pd.DataFrame(rows, columns=["key", "value_a", "value_b"])


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def result_values(outputs: board.RunOutputs, horizon_years: int) -> dict[str, Any]:
    """The values of :data:`RESULT_ROWS` in one run (None where its page did not give one)."""
    h = outputs.headline
    interval = h.get("few_cluster_conf_int") if h.get("size_checked") is True else None
    if not (isinstance(interval, list) and len(interval) == 2 and all(map(_finite, interval))):
        interval = [None, None]
    step = board.next_step(outputs, horizon_years)
    plan = alt = None
    if step is not None:
        plan = step.option("conditions_budget") or step.option("no_conditions_budget")
        alt = step.option("no_conditions_budget") if plan is not None else None
        if alt is plan:
            alt = None
    later = board.later_waves(outputs)
    return {
        "effect_estimate": h.get("estimate"),
        "effect_low": interval[0],
        "effect_high": interval[1],
        "n_have_conditions": None if step is None else step.n_have_conditions,
        "plan_n_communes": None if plan is None else plan.n_units,
        "plan_communes": None if plan is None else list(plan.names),
        "plan_cost_vnd": None if plan is None else plan.cost_vnd,
        "plan_gain_per_year": None if plan is None else plan.gain_per_year,
        "plan_unspent_vnd": None if plan is None else plan.unspent_vnd,
        "alternative_n_communes": None if alt is None else alt.n_units,
        "alternative_gain_per_year": None if alt is None else alt.gain_per_year,
        "new_communes_needed": None if step is None else step.n_needed,
        "later_share_of_pilot": None if later is None else later.share_of_pilot,
    }


def _change(a: Any, b: Any) -> str:
    """``up``, ``down``, ``same``, ``changed`` (not numbers), ``new`` or ``gone``."""
    if a is None and b is None:
        return "same"
    if a is None:
        return "new"
    if b is None:
        return "gone"
    if _finite(a) and _finite(b):
        if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12):
            return "same"
        return "up" if b > a else "down"
    return "same" if a == b else "changed"


@dataclass(frozen=True)
class RunComparison:
    """Two runs side by side.

    Attributes
    ----------
    run_a, run_b : Path
    params : pandas.DataFrame
        :func:`param_differences`.
    results : pandas.DataFrame
        ``key, kind, page, value_a, value_b, change`` for every row of :data:`RESULT_ROWS`.
    outcome : str or None
        The headline outcome (run B's; it sets the unit of the effect rows).
    language : str
        Run B's language (the page's words).
    """

    run_a: Path
    run_b: Path
    params: pd.DataFrame
    results: pd.DataFrame
    outcome: str | None
    language: str

    @property
    def changed(self) -> pd.DataFrame:
        """The result rows whose value moved."""
        return self.results[self.results["change"] != "same"]

    def tidy(self) -> pd.DataFrame:
        """One table for the CSV: the parameter rows, then the result rows."""
        params = self.params.assign(kind="param", page="", change="changed")
        return pd.concat(
            [
                params[["kind", "key", "page", "value_a", "value_b", "change"]],
                self.results[["kind", "key", "page", "value_a", "value_b", "change"]],
            ],
            ignore_index=True,
        )


def compare_runs(run_a: str | Path, run_b: str | Path) -> RunComparison:
    """Compare two complete run folders (``evaluation compare RUN_A RUN_B``)."""
    run_a, run_b = Path(run_a), Path(run_b)
    for run in (run_a, run_b):
        if not run.is_dir():
            raise ValueError(
                f"{run} is not a folder: pass two run folders made by `evaluation run`"
            )
    params = param_differences(run_a, run_b)
    values = []
    for run in (run_a, run_b):
        tree = yaml.safe_load((run / "params.yaml").read_text("utf-8")) or {}
        years = int(((tree.get("scaling") or {}).get("horizon_years")) or 1)
        values.append(result_values(board.collect(run), years))
    rows = [
        {
            "key": key,
            "kind": kind,
            "page": page,
            "value_a": values[0][key],
            "value_b": values[1][key],
            "change": _change(values[0][key], values[1][key]),
        }
        for key, (kind, page) in RESULT_ROWS.items()
    ]
    outputs_b = board.collect(run_b)
    tree_b = yaml.safe_load((run_b / "params.yaml").read_text("utf-8")) or {}
    return RunComparison(
        run_a=run_a,
        run_b=run_b,
        params=params,
        results=pd.DataFrame(rows),
        outcome=outputs_b.headline.get("outcome"),
        language=str(tree_b.get("language", "vi")),
    )
