"""A generic unit x period panel (not Hà Nam ballots) through prepare, page 01 and page 07.

The file has its own column names (district, year, score, first year of adoption); the run
must map them through ``data.panel`` and the rollout page must estimate on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evaluation.analysis import rollout
from evaluation.config import PROJECT_ROOT, load_params
from evaluation.estimators.staggered import aggregate, group_time_att
from evaluation.prepare import prepare_inputs

YEARS = np.arange(2011, 2019)  # 8 years
FIRST_YEARS = {2014: 15, 2016: 15, 2018: 15, 0: 15}  # 0 = never adopted


def write_panel(folder: Path, seed: int = 7) -> Path:
    """60 districts x 8 years, staggered adoption, effect growing with time since adoption."""
    rng = np.random.default_rng(seed)
    first = np.concatenate([np.full(n, year) for year, n in FIRST_YEARS.items()])
    n = len(first)
    district = np.array([f"D{i:03d}" for i in range(n)])
    province = np.array([f"P{i % 6}" for i in range(n)])
    level = rng.normal(50, 5, n)
    rows = []
    for i in range(n):
        for year in YEARS:
            adopted = first[i] > 0 and year >= first[i]
            effect = (2.0 + 0.5 * (year - first[i])) if adopted else 0.0
            rows.append(
                {
                    "district_id": district[i],
                    "province": province[i],
                    "year": int(year),
                    "score": level[i] + 0.8 * (year - 2011) + effect + rng.normal(0, 1.5),
                    "turnout": rng.uniform(0.4, 0.9),
                    "first_year": int(first[i]),
                }
            )
    path = folder / "district_panel.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_params(folder: Path, panel: Path) -> Path:
    tree = {
        "extends": str(PROJECT_ROOT / "params" / "default.yaml"),
        "run_name": "generic",
        "language": "en",
        "data": {
            "source": "panel",
            "simulated": True,
            "panel": {
                "path": str(panel),
                "unit": "district_id",
                "period": "year",
                "outcomes": ["score", "turnout"],
                "first_treated": "first_year",
                "cluster": "province",
            },
        },
        "analysis": {"event_leads": 3, "event_lags": 2},
        "inference": {"n_boot": 199, "ri_draws": 199, "size_sims": 20, "power_sims": 20},
    }
    path = folder / "generic.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def generic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generic")
    return folder, write_params(folder, write_panel(folder))


def test_prepare_maps_the_generic_columns(generic):
    _, params_path = generic
    params = load_params(params_path)
    prepared = prepare_inputs(params)
    assert prepared.meta["source"] == "panel"
    assert prepared.meta["outcomes"] == ["score", "turnout"]
    assert not prepared.has_ballots
    design = rollout.rollout_design(prepared, params)
    assert design.outcome == "score"
    assert design.cohorts == (2014, 2016, 2018)
    assert design.units_by_cohort == (15, 15, 15)
    assert design.n_never == 15
    assert design.weights is None
    # The generic cluster column (province) is used, not the unit.
    panel = rollout.staggered_panel(prepared, params)
    assert panel[rollout.CLUSTER].nunique() == 6


def test_run_renders_the_rollout_page_on_a_generic_panel(generic):
    from evaluation.runner import run

    folder, params_path = generic
    result = run(
        params_path,
        out=folder / "runs",
        notebooks=["01_data_quality", "07_rollout_waves"],
        progress=lambda _: None,
    )
    assert result.ok, result.message
    page = result.run_dir / "07_rollout_waves.html"
    assert page.is_file()
    text = page.read_text(encoding="utf-8")
    assert "Traceback" not in text
    # The household check needs ballots: skipped, with the reason printed.
    assert "household satisfaction ballots, which a generic panel does not have" in text
    # No Hà Nam word on a generic panel's page; intervals only when size-checked.
    for word in ("commune", "quarter", "Hà Nam"):
        assert word not in text
    saved = json.loads((result.run_dir / "results" / "rollout.json").read_text("utf-8"))
    size = saved["effects"]["size"]
    assert size["n_sims"] == 20 and size["status"] in {"passed", "failed"}
    assert "2014" in text  # periods labelled as the file's years, not as quarters

    params = load_params(params_path)
    prepared = prepare_inputs(params)
    frame = rollout.staggered_panel(prepared, params)
    design = rollout.rollout_design(prepared, params)
    direct = aggregate(
        group_time_att(
            frame,
            "score",
            "commune_code",
            "wave_index",
            "first_treated_wave",
            covariates=design.covariates,
            weights=None,
            control_group="not_yet_treated",
            method="dr",
            base_period="universal",
            cluster=rollout.CLUSTER,
        ),
        "simple",
    )
    effects = pd.read_csv(result.run_dir / "tables" / "effects.csv", dtype={"term": str})
    row = effects[(effects["estimator"] == "cs_simple") & (effects["outcome"] == "score")]
    assert len(row) == 1
    assert row["estimate"].iloc[0] == pytest.approx(direct.estimate, abs=1e-10)
    assert row["std_error"].iloc[0] == pytest.approx(direct.std_error, abs=1e-10)
    assert row["n_clusters"].iloc[0] == 6
    assert str(row["size_checked"].iloc[0]) == str(size["status"] == "passed")
    # The simulated effect grows from 2.0 by 0.5 per year; the overall ATT lies well above 2.
    assert 2.0 < direct.estimate < 4.5
    for estimator in ("cs_dynamic", "cs_group", "cs_calendar", "sun_abraham"):
        assert (effects["estimator"] == estimator).any(), estimator


def test_data_quality_shows_generic_periods_as_given(generic):
    # Regression: inputs_summary once formatted years as quarter ordinals (2011 -> '2472Q4').
    from evaluation.report import data_quality as dq

    _, params_path = generic
    params = load_params(params_path)
    prepared = prepare_inputs(params)
    table = dq.inputs_summary(prepared, params, "en")
    values = " ".join(table.iloc[:, 1].astype(str))
    assert "2011 – 2018" in values
    assert "Q" not in values
