"""A small simulated demo shared by the page tests (built once per test session)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from evaluation.config import Params, load_params
from evaluation.prepare import Prepared, prepare_inputs, resolve_demo_paths

PROJECT = Path(__file__).resolve().parents[1]
#: Fewer waves and ballots than the default demo, same structure (116 -> 109 map, 14 pilots).
SMALL_DEMO = {
    "demo": {
        "first_wave": "2019Q1",
        "last_wave": "2021Q2",
        "rollout_waves": ["2020Q3", "2021Q1"],
        "ballots_min": 20,
        "ballots_max": 30,
    },
    "analysis": {"event_leads": 3, "event_lags": 2},
    "inference": {"n_boot": 399, "ri_draws": 399, "size_sims": 40, "power_sims": 40},
}


@functools.cache
def small_demo(language: str = "vi") -> tuple[Params, Prepared]:
    """Parameters and prepared data of the small demo (data in a temporary folder)."""
    overrides = {**SMALL_DEMO, "language": language}
    params = load_params(PROJECT / "params" / "default.yaml", overrides)
    root = Path(tempfile.mkdtemp(prefix="small-demo-"))
    params = resolve_demo_paths(params, root)
    return params, prepare_inputs(params)
