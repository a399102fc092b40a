"""From parameters to analysis-ready tables, once per run.

``prepare_inputs`` reads every input, validates it against the data contract (all problems at
once), harmonises it to one commune map and computes the measures. The runner saves the result
into the run folder (``prepared/``) and every notebook reads it from there, so no notebook
recomputes what another already has.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evaluation.config import PROJECT_ROOT, Params
from evaluation.data.harmonise import harmonise
from evaluation.data.io import read_table, write_table, write_text
from evaluation.data.problems import DataValidationError, combine, empty_problems
from evaluation.data.registry import Registry, load_registry
from evaluation.data.schemas import (
    admin_schema,
    ballots_schema,
    costs_schema,
    rollout_schema,
    validate_frame,
)
from evaluation.measures import (
    commune_baseline,
    commune_timing,
    commune_wave_panel,
    factor_reliability,
    score_ballots,
    wave_index,
)

PREPARED_TABLES = (
    "communes",
    "ballots",
    "panel",
    "baseline",
    "harmonisation",
    "reliability",
    "costs",
    "problems",
)


@dataclass(frozen=True)
class Prepared:
    """Analysis-ready inputs of one run.

    Attributes
    ----------
    communes : one row per unit of the target map (pilot status, timing, type, district)
    ballots : one row per ballot, scored (``None`` for a generic panel)
    panel : one row per unit and wave (period)
    baseline : one row per unit, means before the pilot
    harmonisation : what happened to each source code (map change)
    reliability : Cronbach's alpha per factor
    costs : cost items per commune (``None`` when not supplied)
    problems : validation problems (empty when the data passed)
    meta : window, pilot wave, source, counts; JSON-serialisable
    """

    communes: pd.DataFrame
    ballots: pd.DataFrame | None
    panel: pd.DataFrame
    baseline: pd.DataFrame
    harmonisation: pd.DataFrame
    reliability: pd.DataFrame
    costs: pd.DataFrame | None
    problems: pd.DataFrame
    meta: dict = field(default_factory=dict)

    @property
    def has_ballots(self) -> bool:
        return self.ballots is not None

    @property
    def has_admin(self) -> bool:
        return "pct_condolence_on_time" in self.panel

    @property
    def has_costs(self) -> bool:
        return self.costs is not None and len(self.costs) > 0

    def in_window(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of ``frame`` inside the comparison window (by ``wave_index``)."""
        lo, hi = self.meta["window_start"], self.meta["window_end"]
        keep = frame["wave_index"].between(lo, hi)
        if "drop_mixed" in frame:
            keep &= ~frame["drop_mixed"].fillna(False).astype(bool)
        return frame[keep]


def resolve_demo_paths(params: Params, demo_root: Path) -> Params:
    """With ``data.source: demo``, generate the demo (if needed) and point the data keys at it."""
    if params.data.source != "demo":
        return params
    from evaluation.demo import ensure_demo  # the demo sits above measures; import on demand

    files = ensure_demo(params, demo_root)
    data = params.data.model_copy(
        update={
            "rollout": files.rollout,
            "ballots": files.ballots,
            "admin": files.admin,
            "costs": files.costs,
        }
    )
    return params.model_copy(update={"data": data})


def _window(
    waves: pd.Series, first_treated: pd.Series, pilot_wave: float, params: Params
) -> tuple[int, int]:
    lo = (
        int(waves.min())
        if params.analysis.window_start is None
        else int(pd.Period(params.analysis.window_start, "Q").ordinal)
    )
    end = params.analysis.window_end
    if end is None:
        hi = int(waves.max())
    elif end == "before_next_rollout":
        later = first_treated[first_treated > pilot_wave]
        hi = int(later.min() - 1) if len(later) else int(waves.max())
    else:
        hi = int(pd.Period(end, "Q").ordinal)
    if hi <= pilot_wave or lo >= pilot_wave:
        raise ValueError(
            f"analysis.window_start/window_end give waves {lo}..{hi}, which do not span the pilot "
            "start: widen the window so it has waves before and after the pilot began"
        )
    return lo, hi


def prepare_inputs(params: Params) -> Prepared:
    """Read, validate, harmonise and measure. Raises DataValidationError listing every problem.

    With ``data.source: demo`` and no data paths yet, the demo is generated (once) into
    ``data/demo/`` first, as the runner does.
    """
    if params.data.source == "demo" and params.data.rollout is None:
        params = resolve_demo_paths(params, PROJECT_ROOT / "data" / "demo")
    if params.data.source == "panel":
        return _prepare_panel(params)
    registry = load_registry(params.data.registry)
    known = registry.all_codes()
    d = params.data
    b = params.ballot
    checks = [
        (d.rollout, rollout_schema(known)),
        (
            d.ballots,
            ballots_schema(known, b.items, (b.likert_min, b.likert_max), b.no_opinion_codes),
        ),
        (d.admin, admin_schema(known)),
        (d.costs, costs_schema(known)),
    ]
    tables: dict[str, pd.DataFrame | None] = {}
    problems = []
    for path, contract in checks:
        if path is None:
            tables[contract.name] = None
            continue
        clean, found = validate_frame(read_table(path), contract, path)
        tables[contract.name] = clean
        problems.append(found)
    found = combine(problems)
    if len(found):
        raise DataValidationError(found)
    return _measure(params, registry, tables)


def _measure(
    params: Params, registry: Registry, tables: dict[str, pd.DataFrame | None]
) -> Prepared:
    h = harmonise(
        registry,
        tables["rollout"],
        tables["ballots"],
        params.harmonise,
        tables["admin"],
        tables["costs"],
    )
    communes = commune_timing(h.communes)
    scored = score_ballots(h.ballots, params.ballot)
    scored["wave_index"] = wave_index(scored["wave"])
    weight = "weight" if params.analysis.weighting == "survey" else None
    panel = commune_wave_panel(scored, communes, h.admin, weight=weight)
    pilot_wave = float(communes["first_treated_wave"].min())
    lo, hi = _window(panel["wave_index"], communes["first_treated_wave"], pilot_wave, params)
    baseline = commune_baseline(panel, int(pilot_wave))
    info = communes.set_index("commune_code")
    for col in (
        "district_name",
        "commune_type",
        "pilot",
        "first_treated_wave",
        "pilot_share",
        "urban",
        "drop_mixed",
    ):
        scored[col] = scored["commune_code"].map(info[col])
    scored = numpy_backed(scored)
    scored["treated"] = treatment_indicator(scored)
    if "coverage" in panel:
        cov = panel.set_index(["commune_code", "wave"])["coverage"]
        scored["coverage"] = pd.MultiIndex.from_frame(scored[["commune_code", "wave"]]).map(cov)
    meta = {
        "source": params.data.source,
        "simulated": params.simulated,
        "pilot_wave": int(pilot_wave),
        "window_start": lo,
        "window_end": hi,
        "n_communes": int(len(communes)),
        "n_pilot": int(communes["pilot"].sum()),
        "n_ballots": int(len(scored)),
        "n_waves": int(panel["wave_index"].nunique()),
        "target_map": params.harmonise.target_map.isoformat(),
    }
    return Prepared(
        communes=communes,
        ballots=scored,
        panel=panel,
        baseline=baseline,
        harmonisation=h.report,
        reliability=factor_reliability(scored, params.ballot),
        costs=h.costs,
        problems=empty_problems(),
        meta=meta,
    )


def numpy_backed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric and boolean columns as NumPy dtypes.

    Arrow-backed columns (what Parquet and pandas' string keys give) propagate missing values
    through comparisons: ``wave >= first_treated`` would be <NA> for never-treated communes,
    and an estimator would silently drop them.
    """
    out = frame.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if isinstance(dtype, pd.ArrowDtype) or str(dtype) in ("Float64", "Int64", "boolean"):
            kind = getattr(dtype, "kind", "O")
            if kind in "fiu":
                out[col] = (
                    out[col].astype("float64")
                    if out[col].isna().any() or kind == "f"
                    else out[col].astype("int64")
                )
            elif kind == "b":
                out[col] = out[col].astype("boolean").fillna(False).astype(bool)
    return out


def treatment_indicator(frame: pd.DataFrame) -> pd.Series:
    """Treatment in a wave: 1 from the commune's first treated wave on (times its pilot share)."""
    started = (frame["wave_index"] >= frame["first_treated_wave"]).fillna(False).astype(float)
    return started * frame["pilot_share"].astype(float).fillna(0.0)


def _prepare_panel(params: Params) -> Prepared:
    """A generic panel: rename its columns to the package's names; no ballots, admin or costs."""
    spec = params.data.panel
    assert spec is not None
    raw = read_table(spec.path).reset_index(drop=True)
    missing = [
        c
        for c in [spec.unit, spec.period, *spec.outcomes, spec.first_treated or spec.treatment]
        if c not in raw
    ]
    if missing:
        raise ValueError(
            f"{spec.path}: columns {missing} named in data.panel are not in the file; columns are {list(raw.columns)}"
        )
    frame = pd.DataFrame({"commune_code": raw[spec.unit].astype("string")})
    frame["wave_index"] = pd.to_numeric(raw[spec.period], errors="raise").astype(int)
    frame["wave"] = raw[spec.period].astype(str)
    for c in spec.outcomes + list(spec.covariates):
        frame[c] = pd.to_numeric(raw[c], errors="coerce")
    if spec.first_treated:
        ft = pd.to_numeric(raw[spec.first_treated], errors="coerce").astype("float64")
        frame["first_treated_wave"] = ft.where(ft > 0)
    else:
        treat = pd.to_numeric(raw[spec.treatment], errors="coerce")
        first = (
            frame.assign(t=treat)
            .loc[lambda f: f["t"] > 0]
            .groupby("commune_code")["wave_index"]
            .min()
        )
        frame["first_treated_wave"] = frame["commune_code"].map(first).astype("float64")
    frame["district_name"] = raw[spec.strata].astype("string") if spec.strata else "all"
    frame["cluster"] = raw[spec.cluster].astype("string") if spec.cluster else frame["commune_code"]
    frame["n_ballots"] = pd.to_numeric(raw[spec.weights]) if spec.weights else 1.0
    frame["pilot_share"] = 1.0
    pilot_wave = float(frame["first_treated_wave"].min())
    frame["pilot"] = (frame["first_treated_wave"] == pilot_wave).fillna(False).astype(bool)
    frame["treated"] = treatment_indicator(frame)
    frame["commune_type"] = "unit"
    frame["cohort"] = frame["first_treated_wave"].map(
        lambda w: "never" if pd.isna(w) else str(int(w))
    )
    if spec.level == "individual":
        panel = frame.groupby(["commune_code", "wave_index"], as_index=False).agg(
            {
                **{c: "mean" for c in spec.outcomes},
                "n_ballots": "size",
                "first_treated_wave": "first",
                "pilot": "first",
                "treated": "mean",
                "district_name": "first",
                "wave": "first",
                "cohort": "first",
                "commune_type": "first",
                "pilot_share": "first",
            }
        )
    else:
        panel = frame
    communes = panel.groupby("commune_code", as_index=False)[
        ["district_name", "first_treated_wave", "pilot", "cohort", "commune_type"]
    ].first()
    communes["start_date"] = pd.NaT
    lo, hi = _window(panel["wave_index"], communes["first_treated_wave"], pilot_wave, params)
    baseline = panel[panel["wave_index"] < pilot_wave].groupby("commune_code")[spec.outcomes].mean()
    baseline = (
        communes.set_index("commune_code").join(baseline.add_prefix("baseline_")).reset_index()
    )
    meta = {
        "source": "panel",
        "simulated": params.simulated,
        "pilot_wave": int(pilot_wave),
        "window_start": lo,
        "window_end": hi,
        "n_communes": int(len(communes)),
        "n_pilot": int(communes["pilot"].sum()),
        "n_ballots": int(len(frame)) if spec.level == "individual" else 0,
        "n_waves": int(panel["wave_index"].nunique()),
        "outcomes": list(spec.outcomes),
    }
    return Prepared(
        communes=communes,
        ballots=frame if spec.level == "individual" else None,
        panel=panel,
        baseline=baseline,
        harmonisation=pd.DataFrame(),
        reliability=pd.DataFrame(),
        costs=None,
        problems=empty_problems(),
        meta=meta,
    )


# --------------------------------------------------------------------------------------------
# Saving into and loading from a run folder


def save_prepared(prepared: Prepared, folder: Path) -> None:
    """Write every prepared table as Parquet (atomically) and the meta as JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in PREPARED_TABLES:
        table = getattr(prepared, name)
        if table is None:
            continue
        write_table(_parquet_safe(table), folder / f"{name}.parquet")
    write_text(json.dumps(prepared.meta, indent=2, ensure_ascii=False), folder / "meta.json")


def load_prepared(folder: Path) -> Prepared:
    """Read what :func:`save_prepared` wrote."""
    tables = {}
    for name in PREPARED_TABLES:
        path = folder / f"{name}.parquet"
        tables[name] = numpy_backed(pd.read_parquet(path)) if path.is_file() else None
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if tables["problems"] is None:
        tables["problems"] = empty_problems()
    for name in ("harmonisation", "reliability", "baseline"):
        if tables[name] is None:
            tables[name] = pd.DataFrame()
    return Prepared(**tables, meta=meta)


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(
                lambda v: v if v is None or isinstance(v, str | float | int | bool) else str(v)
            )
    return out
