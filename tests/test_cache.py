"""The result cache: keys follow what an analysis reads, damaged entries are never used, a rerun
reuses what did not change, and ``--only`` with ``--reuse`` gives a complete summary."""

from __future__ import annotations

import json
import pickle
import shutil
import warnings
from pathlib import Path

import pytest
from _demo import SMALL_DEMO, small_demo
from conftest import DEFAULT_PARAMS

from evaluation import cache as rc
from evaluation.analysis import data_quality as dq
from evaluation.analysis import scaling as sc
from evaluation.analysis.base import CATALOGUE, DEFAULT_READS, AnalysisSpec, load_catalogue
from evaluation.config import ParamsError, load_params, params_to_yaml
from evaluation.data.io import sha256
from evaluation.prepare import prepare_inputs, resolve_demo_paths
from evaluation.runner import PROJECT_ROOT, _data_files, _reuse_source, notebook_order, run

PIN = {rc.ENV_CODE: "code-pinned-for-the-test"}


def _quiet(_: str) -> None:
    pass


@pytest.fixture
def events(tmp_path, monkeypatch):
    """The cache events of the analyses called in the test (read from the log it writes)."""
    log = tmp_path / "events.jsonl"
    monkeypatch.setenv(rc.ENV_LOG, str(log))
    return lambda: rc.read_log(log)


def _with(params, **sections):
    """``params`` with some keys of some sections changed."""
    update = {
        name: getattr(params, name).model_copy(update=values) for name, values in sections.items()
    }
    return params.model_copy(update=update)


# -- entries and keys, in this process ----------------------------------------------------------


def test_second_call_reuses_the_entry(tmp_path, events):
    params, prepared = small_demo()
    with rc.use_cache(tmp_path / "cache") as store:
        first = dq.inputs(prepared, params)
        second = dq.inputs(prepared, params)
    assert [e.status for e in events()] == ["computed", "reused"]
    key = events()[1].key
    assert events()[0].key == key
    assert Path(events()[1].path) == store.path(key)
    assert store.path(key).is_file()
    assert pickle.dumps(second) == pickle.dumps(first)


@pytest.mark.parametrize("damage", ["truncate", "flip", "header", "empty"])
def test_damaged_entry_is_recomputed_never_loaded(tmp_path, events, monkeypatch, damage):
    params, prepared = small_demo()
    with rc.use_cache(tmp_path / "cache") as store:
        expected = dq.inputs(prepared, params)
        path = Path(events()[0].path)
        blob = path.read_bytes()
        header, _, payload = blob.partition(b"\n")
        if damage == "truncate":  # a half-written entry
            path.write_bytes(blob[: len(blob) - len(payload) // 2])
        elif damage == "flip":  # same length, one byte changed
            middle = len(header) + 1 + len(payload) // 2
            path.write_bytes(blob[:middle] + bytes([blob[middle] ^ 0xFF]) + blob[middle + 1 :])
        elif damage == "header":
            path.write_bytes(b"not an entry\n" + payload)
        else:
            path.write_bytes(b"")
        loads = []
        monkeypatch.setattr(rc.pickle, "loads", lambda data: loads.append(data))
        again = dq.inputs(prepared, params)
        assert loads == []  # the damaged payload was never unpickled
        monkeypatch.undo()
        assert [e.status for e in events()] == ["computed", "computed"]
        assert pickle.dumps(again) == pickle.dumps(expected)
        found, (value, _) = store.get(events()[1].key)  # the recomputed entry replaced it
    assert found
    assert pickle.dumps(value) == pickle.dumps(expected)


def test_a_reused_result_shows_the_warnings_of_its_computation(
    tmp_path, events, recwarn, monkeypatch
):
    params, prepared = small_demo()
    calls = []

    def warns(prepared, params):
        calls.append(1)
        warnings.warn("the model did not converge; refitted", RuntimeWarning, stacklevel=1)
        return {"fitted": True}

    spec = AnalysisSpec("test.warns", "01_data_quality", (), warns, DEFAULT_READS)
    with rc.use_cache(tmp_path):
        monkeypatch.setattr(rc, "_WARNED", {})  # each run's kernel shows a warning once
        first = rc.cached_call(spec, warns, prepared, params, (), {})
        monkeypatch.setattr(rc, "_WARNED", {})
        second = rc.cached_call(spec, warns, prepared, params, (), {})
    assert calls == [1] and first == second == {"fitted": True}
    assert [e.status for e in events()] == ["computed", "reused"]
    shown = [(w.category, str(w.message), w.lineno) for w in recwarn]
    assert len(shown) == 2 and shown[0] == shown[1]
    assert shown[0][:2] == (RuntimeWarning, "the model did not converge; refitted")


def test_entry_under_another_key_is_refused(tmp_path):
    store = rc.ResultCache(tmp_path)
    store.put("a" * 64, {"x": 1})
    store.path("b" * 64).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(store.path("a" * 64), store.path("b" * 64))
    assert store.get("b" * 64) == (False, None)
    assert not store.path("b" * 64).exists()
    assert store.get("a" * 64) == (True, {"x": 1})


def test_entries_are_written_whole_or_not_at_all(tmp_path):
    store = rc.ResultCache(tmp_path)
    assert store.put("c" * 64, lambda: None) is None  # cannot be pickled: not cached
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    path = store.put("d" * 64, [1, 2, 3])
    assert path is not None
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_keys_follow_the_sections_each_analysis_reads():
    params, prepared = small_demo()
    load_catalogue()
    budget = _with(params, scaling={"budget_vnd": params.scaling.budget_vnd * 2})
    alpha = _with(params, analysis={"alpha": 0.1})
    words = params.model_copy(update={"language": "en", "run_name": "other"})
    for name in ("data_quality.inputs", "scaling.headline"):
        spec = CATALOGUE[name]
        key = rc.analysis_key(spec, prepared, params, (), {})
        assert rc.analysis_key(spec, prepared, words, (), {}) == key
        assert rc.analysis_key(spec, prepared, alpha, (), {}) != key
        changed = rc.analysis_key(spec, prepared, budget, (), {}) != key
        assert changed == (spec.page == "06_scaling"), name
    assert "scaling" not in CATALOGUE["effects.headline"].reads
    assert {CATALOGUE[n].page for n in CATALOGUE if "scaling" in CATALOGUE[n].reads} == {
        "06_scaling"
    }


def test_key_of_a_downstream_analysis_follows_its_upstream(tmp_path):
    params, prepared = small_demo()
    spec = CATALOGUE["scaling.candidates"]
    with rc.use_cache(tmp_path):
        headline = sc.headline_effects(prepared, params)
        other = sc.headline_effects(prepared, _with(params, analysis={"alpha": 0.1}))
    assert rc.value_digest(headline) != rc.value_digest(other)
    keys = {rc.analysis_key(spec, prepared, params, (h, None), {}) for h in (headline, other)}
    assert len(keys) == 2


def test_key_changes_with_an_input_file_and_the_code(tmp_path, monkeypatch):
    params, prepared = small_demo()
    spec = CATALOGUE["data_quality.inputs"]
    key = rc.analysis_key(spec, prepared, params, (), {})
    admin = params.data.admin  # the small demo's own copy (a temporary folder)
    original = admin.read_bytes()
    lines = original.decode("utf-8-sig").splitlines()
    column = lines[0].split(",").index("dossiers_on_time")
    first = lines[1].split(",")
    first[column] = str(int(first[column]) - 1)  # one value in one input file
    try:
        admin.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n", "utf-8")
        other = prepare_inputs(params)
    finally:
        admin.write_bytes(original)
    assert rc.analysis_key(spec, other, params, (), {}) != key
    monkeypatch.setenv(rc.ENV_CODE, "another version of the code")
    assert rc.analysis_key(spec, prepared, params, (), {}) != key


def test_without_a_cache_every_call_computes(tmp_path, events, monkeypatch):
    params, prepared = small_demo()
    monkeypatch.delenv(rc.ENV_DIR, raising=False)
    dq.inputs(prepared, params)
    dq.inputs(prepared, params)
    assert [(e.status, e.key) for e in events()] == [("computed", None), ("computed", None)]


# -- --reuse: refused before any folder is made when the earlier run does not match ---------------


def _fake_complete_run(folder: Path, params, pages: list[str]) -> Path:
    """A run folder as the runner leaves it, as far as ``--reuse`` looks (params, manifest)."""
    folder.mkdir(parents=True)
    resolved = resolve_demo_paths(params, PROJECT_ROOT / "data" / "demo")
    (folder / "params.yaml").write_text(params_to_yaml(resolved), "utf-8")
    files = resolved.input_files() + _data_files(resolved)
    manifest = {
        "status": "complete",
        "inputs": {str(p): sha256(p) for p in files},
        "notebooks": [{"name": p, "status": "ok", "writes": []} for p in pages],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    (folder / "parts").mkdir()  # each page's part of the shared files
    return folder


def test_reuse_is_refused_when_a_reused_page_would_not_match(tmp_path):
    params = load_params(DEFAULT_PARAMS, SMALL_DEMO)
    pages = [p.stem for p in notebook_order()]
    earlier = _fake_complete_run(tmp_path / "earlier", params, pages)
    order = notebook_order(["06_scaling", "00_summary"])
    budget = load_params(DEFAULT_PARAMS, {**SMALL_DEMO, "scaling": {"budget_vnd": 5e8}})
    assert _reuse_source(budget, order, tmp_path, earlier, _quiet) == earlier
    assert _reuse_source(budget, order, tmp_path, None, _quiet) is None  # not in --out
    alpha = load_params(DEFAULT_PARAMS, {**SMALL_DEMO, "analysis": {"alpha": 0.1}})
    with pytest.raises(ParamsError, match="analysis"):
        _reuse_source(alpha, order, tmp_path, earlier, _quiet)
    with pytest.raises(ParamsError, match="scaling"):  # page 06 itself would be reused
        _reuse_source(budget, notebook_order(["00_summary"]), tmp_path, earlier, _quiet)
    (earlier / "parts").rmdir()  # a run made before pages kept their parts: refused
    with pytest.raises(ParamsError, match="older version"):
        _reuse_source(budget, order, tmp_path, earlier, _quiet)
    out = tmp_path / "runs"
    with pytest.raises(ParamsError, match="not a complete run"):
        run(DEFAULT_PARAMS, out=out, notebooks=["00_summary"], reuse=tmp_path, progress=_quiet)
    assert not out.exists() or not list(out.iterdir())


def test_newest_matching_run_in_out_is_reused(tmp_path):
    params = load_params(DEFAULT_PARAMS, SMALL_DEMO)
    pages = [p.stem for p in notebook_order()]
    other = load_params(DEFAULT_PARAMS, {**SMALL_DEMO, "inference": {"n_boot": 199}})
    matching = _fake_complete_run(tmp_path / "demo-20260101-000000", params, pages)
    _fake_complete_run(tmp_path / "demo-20260102-000000", other, pages)  # newer, other params
    order = notebook_order(["06_scaling", "00_summary"])
    assert _reuse_source(params, order, tmp_path, None, _quiet) == matching
    assert _reuse_source(params, notebook_order(), tmp_path, None, _quiet) is None


# -- whole runs: the manifest counts what was reused -------------------------------------------


def _manifest(result) -> dict:
    return json.loads((result.run_dir / "manifest.json").read_text("utf-8"))


def _analyses(manifest: dict, status: str) -> list[str]:
    return [
        a["analysis"]
        for e in manifest["notebooks"]
        if e["status"] == "ok"
        for a in e["analyses"][status]
    ]


@pytest.fixture(scope="module")
def pinned():
    """The code fingerprint held fixed: other people's edits of the source tree meanwhile must
    not make a rerun look like new code."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PIN.items():
            patch.setenv(name, value)
        yield


def test_identical_rerun_copies_its_pages_and_a_new_language_reuses_the_results(tmp_path, pinned):
    kwargs = {
        "out": tmp_path / "runs",
        "notebooks": ["01_data_quality"],
        "progress": _quiet,
        "cache_dir": tmp_path / "cache",
    }
    cold = _manifest(run(DEFAULT_PARAMS, overrides=SMALL_DEMO, **kwargs))
    again = _manifest(run(DEFAULT_PARAMS, overrides=SMALL_DEMO, **kwargs))
    assert cold["status"] == again["status"] == "complete"
    assert cold["cache"]["computed"] >= 3
    assert cold["cache"]["folder"] == str((tmp_path / "cache").resolve())
    # nothing the page depends on changed: the page itself is copied, nothing is computed
    page = again["notebooks"][0]
    assert page["page_cache"]["entry"].startswith(str((tmp_path / "cache").resolve()))
    assert again["cache"]["computed"] == again["cache"]["reused"] == 0
    assert again["outputs"] == cold["outputs"]
    # the prepared data too come from the cache, the same bytes as prepared the first time
    assert "prepared_cache" not in cold and "prepared_cache" in again
    assert again["skipped_sections"] == cold["skipped_sections"]
    first, second = (tmp_path / "runs" / m["run"] / "prepared" for m in (cold, again))
    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in second.iterdir())
    for path in first.iterdir():
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name
    # another language changes the page but no result: executed, every analysis reused
    english = _manifest(run(DEFAULT_PARAMS, overrides={**SMALL_DEMO, "language": "en"}, **kwargs))
    assert "page_cache" not in english["notebooks"][0]
    assert english["cache"]["computed"] == 0
    assert sorted(_analyses(english, "reused")) == sorted(_analyses(cold, "computed"))
    for entry in english["notebooks"][0]["analyses"]["reused"]:
        assert Path(entry["path"]).is_file()
        assert Path(entry["path"]).stem == entry["key"]
    # results from the cache give the same files as results computed
    recomputed = _manifest(
        run(DEFAULT_PARAMS, overrides={**SMALL_DEMO, "language": "en"}, cache=False, **kwargs)
    )
    assert recomputed["outputs"] == english["outputs"]


@pytest.mark.slow
def test_budget_change_recomputes_only_scaling_and_no_cache_everything(tmp_path, pinned):
    kwargs = {
        "out": tmp_path / "runs",
        "notebooks": ["03_effects", "06_scaling"],
        "progress": _quiet,
        "cache_dir": tmp_path / "cache",
    }
    cold = _manifest(run(DEFAULT_PARAMS, overrides=SMALL_DEMO, **kwargs))
    budget = {**SMALL_DEMO, "scaling": {"budget_vnd": 400_000_000}}
    after = _manifest(run(DEFAULT_PARAMS, overrides=budget, **kwargs))
    assert after["status"] == "complete"
    computed = _analyses(after, "computed")
    assert computed, "the budget plan must be computed again"
    assert {CATALOGUE[n].page for n in computed} == {"06_scaling"}
    assert "scaling.budget_plan" in computed
    assert {CATALOGUE[n].page for n in _analyses(after, "reused")} >= {"03_effects"}
    entries = list((tmp_path / "cache").rglob("*.pkl"))
    none = _manifest(run(DEFAULT_PARAMS, overrides=SMALL_DEMO, cache=False, **kwargs))
    assert none["cache"] == {"folder": None, "reused": 0, "computed": cold["cache"]["computed"]}
    assert sorted(_analyses(none, "computed")) == sorted(
        _analyses(cold, "computed") + _analyses(cold, "reused")
    )
    assert sorted(list((tmp_path / "cache").rglob("*.pkl"))) == sorted(entries)


@pytest.mark.slow
def test_only_with_reuse_gives_a_complete_summary(tmp_path, pinned):
    out = tmp_path / "runs"
    pages = [p.stem for p in notebook_order() if p.stem != "00_summary"]
    common = {"out": out, "progress": _quiet, "cache_dir": tmp_path / "cache"}
    english = {**SMALL_DEMO, "language": "en"}
    first = run(DEFAULT_PARAMS, notebooks=pages, overrides=english, **common)
    assert first.ok, first.message
    budget = {**english, "scaling": {"budget_vnd": 400_000_000}}
    second = run(
        DEFAULT_PARAMS,
        notebooks=["06_scaling", "00_summary"],
        overrides=budget,
        reuse=first.run_dir,
        **common,
    )
    assert second.ok, second.message
    manifest = _manifest(second)
    statuses = {e["name"]: e["status"] for e in manifest["notebooks"]}
    assert statuses == {
        **{p: "reused" for p in pages if p != "06_scaling"},
        "06_scaling": "ok",
        "00_summary": "ok",
    }
    assert {e["reused_from"] for e in manifest["notebooks"] if e["status"] == "reused"} == {
        str(first.run_dir)
    }
    results = json.loads((second.run_dir / "results.json").read_text("utf-8"))
    earlier = json.loads((first.run_dir / "results.json").read_text("utf-8"))
    summary = results["summary"]
    assert summary["sections_missing"] == []
    assert summary["estimate"] is not None
    assert summary["estimate"] == pytest.approx(earlier["headline"]["estimate"])
    page = (second.run_dir / "00_summary.html").read_text("utf-8")
    assert "Not in this run" not in page
    assert results["scaling"] != earlier["scaling"]  # page 06 ran with the new budget
    for name in pages:
        assert (second.run_dir / f"{name}.html").is_file()


def test_prepared_key_follows_what_preparing_reads():
    from evaluation.page_cache import prepared_key

    inputs, versions = {"ballots.csv": "aa"}, {"pandas": "2.2"}

    def key(overrides: dict | None = None, **changes: dict) -> str:
        params = load_params(DEFAULT_PARAMS, overrides)
        return prepared_key(params, changes.get("inputs", inputs), versions)

    base = key()
    assert key({"scaling": {"budget_vnd": 400_000_000}}) == base  # a budget prepares nothing
    assert key({"report": {"on_error": "continue"}}) == base
    assert key(inputs={"ballots.csv": "ab"}) != base  # another byte in an input file
    assert key({"analysis": {"alpha": 0.1}}) != base
    assert key({"language": "en"}) != base  # the skipped sections' sentences
    # the names of the conditions are checked against the data
    assert key({"scaling": {"conditions": {"min_condolence_on_time": 0.2}}}) == key(
        {"scaling": {"conditions": {"min_condolence_on_time": 0.9}}}
    )
