"""Two runs side by side (evaluation compare): what differs and what moved, page by page."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evaluation.analysis.run_comparison import RESULT_ROWS, compare_runs
from evaluation.i18n import format_billion_vnd, t
from evaluation.report.compare_page import write_comparison

HEADLINE = {
    "outcome": "satisfaction_index",
    "estimate": 0.436,
    "size_checked": True,
    "few_cluster_conf_int": [0.29, 0.58],
    "n_pilot": 14,
    "n_communes": 109,
}


def make_run(folder: Path, budget: float, plan: list[str], language: str = "vi") -> Path:
    """A run folder as the pages leave it: params, results.json and page 06's plan table."""
    folder.mkdir(parents=True)
    params = {"language": language, "scaling": {"budget_vnd": budget, "horizon_years": 3}}
    (folder / "params.yaml").write_text(yaml.safe_dump(params), "utf-8")
    cost = 100e6 * len(plan)
    scaling = {
        "budget_vnd": budget,
        "plan_pool": "unscreened",
        "plan_n_communes": len(plan),
        "plan_total_cost_vnd": cost,
        "plan_total_gain": 500.0 * len(plan),
        "new_communes_needed_80pct": 4,
    }
    results = {"headline": HEADLINE, "scaling": scaling}
    (folder / "results.json").write_text(json.dumps(results), "utf-8")
    (folder / "tables").mkdir()
    pd.DataFrame(
        {"order": range(1, len(plan) + 1), "commune_code": plan, "commune_name": plan}
    ).to_csv(folder / "tables" / "rollout_plan.csv", index=False)
    return folder


@pytest.fixture
def runs(tmp_path):
    a = make_run(tmp_path / "a", 1e9, ["Xã An", "Xã Bình"])
    b = make_run(tmp_path / "b", 2e9, ["Xã An", "Xã Bình", "Xã Cường"], language="en")
    return a, b


def test_params_that_differ_and_numbers_that_moved(runs):
    comparison = compare_runs(*runs)
    assert comparison.params["key"].tolist() == ["language", "scaling.budget_vnd"]
    rows = comparison.results.set_index("key")
    assert list(rows.index) == list(RESULT_ROWS)
    assert rows.loc["effect_estimate", "change"] == "same"
    assert rows.loc["plan_n_communes", ["value_a", "value_b", "change"]].tolist() == [2, 3, "up"]
    assert rows.loc["plan_communes", "change"] == "changed"
    assert rows.loc["plan_unspent_vnd", ["value_a", "value_b"]].tolist() == [800e6, 1700e6]
    assert rows.loc["plan_cost_vnd", "page"] == "06_scaling"
    assert set(comparison.changed["key"]) == {
        "plan_n_communes",
        "plan_communes",
        "plan_cost_vnd",
        "plan_gain_per_year",
        "plan_unspent_vnd",
    }


def test_identical_runs_change_nothing(tmp_path):
    a = make_run(tmp_path / "a", 1e9, ["Xã An"])
    b = make_run(tmp_path / "b", 1e9, ["Xã An"])
    comparison = compare_runs(a, b)
    assert comparison.params.empty and comparison.changed.empty


def test_the_page_and_csv_in_run_bs_language(runs, tmp_path):
    comparison = compare_runs(*runs)
    page = write_comparison(comparison, tmp_path / "out")
    text = page.read_text("utf-8")
    assert '<html lang="en">' in text
    assert t("compare.rows.plan_unspent_vnd", "en") in text
    assert format_billion_vnd(1.7e9, "en") in text and "↑" in text
    assert t("summary.pages.p06_scaling", "en") in text
    csv = pd.read_csv(tmp_path / "out" / "comparison.csv")
    assert csv.loc[csv["key"] == "plan_communes", "value_b"].item() == "Xã An; Xã Bình; Xã Cường"
    assert set(csv["kind"]) >= {"param", "count", "vnd", "names", "effect"}


def test_names_from_input_are_escaped_on_the_page(tmp_path):
    a = make_run(tmp_path / "a", 1e9, ["<script>alert(1)</script>"])
    b = make_run(tmp_path / "b", 1e9, ["Xã An"])
    text = write_comparison(compare_runs(a, b), tmp_path / "out").read_text("utf-8")
    assert "<script>alert" not in text and "&lt;script&gt;" in text


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(ValueError, match="params.yaml"):
        compare_runs(tmp_path, tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        compare_runs(tmp_path / "missing", tmp_path)


def test_the_command_line_writes_the_page_and_says_where(runs, tmp_path, capsys):
    from evaluation.cli import main

    assert main(["compare", str(runs[0]), str(runs[1]), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "2 parameter(s) differ; 5 result(s) changed" in out
    assert (tmp_path / "cmp" / "comparison.html").is_file()
    assert main(["compare", str(tmp_path / "nope"), str(runs[1])]) == 2
    assert "cannot compare" in capsys.readouterr().err
