"""The page cache (keys, entries) and the pages' parts of the shared files."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pandas as pd
import pytest

from evaluation.config import PROJECT_ROOT, load_params
from evaluation.page_cache import PageCache, page_key, upstream, upstream_files
from evaluation.report import parts

DEFAULT_PARAMS = PROJECT_ROOT / "params" / "default.yaml"
NOTEBOOK = PROJECT_ROOT / "notebooks" / "03_effects.ipynb"


def _key(page: str = "03_effects", notebook: Path = NOTEBOOK, **changes: object) -> str:
    overrides = changes.pop("overrides", None)
    values = {
        "params": load_params(DEFAULT_PARAMS, overrides),
        "prepared_digest": "prepared-1",
        "run_day": "2026-12-08",
        "upstream_files": {},
        "versions": {"pandas": "2.2"},
        **changes,
    }
    return page_key(page, notebook, **values)  # type: ignore[arg-type]


def test_key_follows_what_the_page_shows_and_nothing_else():
    base = _key()
    assert _key() == base
    # what changes the page
    assert _key(overrides={"report": {"min_cell_ballots": 20}}) != base
    assert _key(overrides={"language": "en"}) != base
    assert _key(overrides={"inference": {"seed": 7}}) != base
    assert _key(prepared_digest="prepared-2") != base
    assert _key(run_day="2026-12-09") != base
    assert _key(versions={"pandas": "2.3"}) != base
    assert _key(upstream_files={"tables/x.csv": "ab"}) != base
    assert _key(notebook=PROJECT_ROOT / "notebooks" / "04_robustness.ipynb") != base
    # what does not: how the run goes, and the scaling section for a page that does not read it
    assert _key(overrides={"report": {"on_error": "continue"}}) == base
    assert _key(overrides={"scaling": {"budget_vnd": 400_000_000}}) == base
    scaling = _key("06_scaling", PROJECT_ROOT / "notebooks" / "06_scaling.ipynb")
    assert (
        _key(
            "06_scaling",
            PROJECT_ROOT / "notebooks" / "06_scaling.ipynb",
            overrides={"scaling": {"budget_vnd": 400_000_000}},
        )
        != scaling
    )


def test_pages_read_the_pages_they_declare():
    pages = ["01_data_quality", "02_comparison", "04_robustness", "05_where_it_works", "06_scaling"]
    assert upstream("04_robustness", pages) == ["02_comparison"]
    assert upstream("06_scaling", pages) == ["05_where_it_works"]
    assert upstream("06_scaling", ["06_scaling"]) == []  # 05 not in this run: nothing to wait for
    assert upstream("01_data_quality", pages) == []
    assert upstream("00_summary", [*pages, "00_summary"]) == pages


def test_every_page_that_reads_the_run_folder_declares_what_it_reads():
    """A notebook that opens a file of the run folder other than its own outputs must be in
    PAGE_NEEDS, or the page cache could copy it when what it read has changed."""
    from evaluation.page_cache import PAGE_NEEDS

    for path in sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text("utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        reads = "ctx.run_dir /" in code or "collect(ctx.run_dir" in code
        assert not reads or path.stem in PAGE_NEEDS, path.stem


def _page_folder(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, "utf-8")
    return root


def test_entry_round_trip_and_a_damaged_entry_is_deleted(tmp_path):
    run = _page_folder(tmp_path / "run", {"a.html": "page", "tables/t.csv": "x,y\n1,2\n"})
    cache = PageCache(tmp_path / "cache")
    assert cache.get("k" * 64, tmp_path / "other") is None  # nothing stored yet
    entry = cache.put("k" * 64, run, ["a.html", "tables/t.csv", "missing.txt"])
    assert entry is not None and (entry / "entry.json").is_file()
    copied = cache.get("k" * 64, tmp_path / "copy")
    assert copied == ["a.html", "tables/t.csv"]
    assert (tmp_path / "copy" / "tables" / "t.csv").read_text("utf-8") == "x,y\n1,2\n"
    # a changed byte in a stored file: the entry is refused and deleted, never copied
    (entry / "files" / "a.html").write_text("pagf", "utf-8")
    assert cache.get("k" * 64, tmp_path / "again") is None
    assert not entry.exists()
    assert not (tmp_path / "again" / "a.html").exists()


def test_an_entry_is_complete_or_absent(tmp_path, monkeypatch):
    import shutil

    run = _page_folder(tmp_path / "run", {"a.html": "page", "b.html": "other"})
    cache = PageCache(tmp_path / "cache")
    real = shutil.copyfile
    calls = []

    def fails_on_second(source, target, *args, **kwargs):
        calls.append(source)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", fails_on_second)
    assert cache.put("e" * 64, run, ["a.html", "b.html"]) is None
    monkeypatch.setattr(shutil, "copyfile", real)
    assert not cache.path("e" * 64).exists()
    assert list((tmp_path / "cache" / "pages" / "ee").iterdir()) == []  # nothing half-built


def test_upstream_files_hash_what_the_pages_wrote(tmp_path):
    run = tmp_path / "run"
    _page_folder(run, {"tables/comparison_weights.csv": "w\n1\n"})
    parts.record_writes(run, "02_comparison", [run / "tables" / "comparison_weights.csv"])
    first = upstream_files(run, ["02_comparison"])
    assert set(first) == {"tables/comparison_weights.csv", "parts/02_comparison/writes.txt"}
    (run / "tables" / "comparison_weights.csv").write_text("w\n2\n", "utf-8")
    assert upstream_files(run, ["02_comparison"]) != first


# -- parts of the shared files ------------------------------------------------------------------


def _effects(term: str, estimate: float) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "outcome": "satisfaction",
                "estimator": "twfe",
                "term": term,
                "inference": "crv1",
                "estimate": estimate,
            }
        ]
    )


def test_shared_files_do_not_depend_on_which_page_finished_first(tmp_path):
    params = load_params(DEFAULT_PARAMS)
    made = []
    for order in (["03_effects", "07_rollout_waves"], ["07_rollout_waves", "03_effects"]):
        run = tmp_path / "-".join(order)
        for page in order:
            parts.update_results(run, page, {page: {"n": len(page)}})
            parts.add_effects(run, page, _effects(page, 0.1), params.language, params)
        made.append([(run / name).read_bytes() for name in ("results.json", "tables/effects.csv")])
    assert made[0] == made[1]
    results = json.loads((tmp_path / "03_effects-07_rollout_waves" / "results.json").read_text())
    assert list(results) == ["03_effects", "07_rollout_waves"]


def test_a_page_rerun_replaces_its_own_rows_only(tmp_path):
    params = load_params(DEFAULT_PARAMS)
    run = tmp_path / "run"
    parts.add_effects(run, "03_effects", _effects("a", 0.1), params.language, params)
    parts.add_effects(run, "04_robustness", _effects("b", 0.2), params.language, params)
    parts.add_effects(run, "03_effects", _effects("a", 0.3), params.language, params)
    table = pd.read_csv(run / "tables" / "effects.csv")
    assert table.set_index("term")["estimate"].to_dict() == {"a": 0.3, "b": 0.2}
    assert parts.page_writes(run, "03_effects") == [
        "parts/03_effects/effects.csv",
        "parts/03_effects/writes.txt",
    ]


def _write_results(run: str, page: str, count: int) -> None:
    for i in range(count):
        parts.update_results(Path(run), page, {f"{page}-{i}": i})


def test_pages_writing_at_the_same_time_lose_nothing(tmp_path):
    """Two kernels (processes) update results.json at once: every value arrives."""
    run = tmp_path / "run"
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_results, args=(str(run), page, 15))
        for page in ("02_comparison", "05_where_it_works")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    results = json.loads((run / "results.json").read_text("utf-8"))
    assert len(results) == 30
    assert list(results)[:15] == [f"02_comparison-{i}" for i in range(15)]


@pytest.mark.parametrize("page", ["00_summary"])
def test_the_summary_part_is_assembled_last(tmp_path, page):
    run = tmp_path / "run"
    parts.update_results(run, page, {"shared": "summary"})
    parts.update_results(run, "03_effects", {"shared": "effects", "other": 1})
    results = json.loads((run / "results.json").read_text("utf-8"))
    assert results["shared"] == "summary"
