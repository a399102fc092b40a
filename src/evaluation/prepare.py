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

from evaluation.config import PROJECT_ROOT, PanelColumns, Params, ParamsError
from evaluation.data.harmonise import harmonise
from evaluation.data.io import read_table, write_table, write_text
from evaluation.data.periods import (
    ACCEPTED_FORMS,
    PeriodFormat,
    detect_format,
    frequency_format,
    parse_period,
    parse_periods,
    period_text,
)
from evaluation.data.problems import DataValidationError, combine, empty_problems, problem_frame
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


def _window_bound(value: str, key: str, period_format: PeriodFormat) -> int:
    index = parse_period(value, period_format)
    if index is None:
        example = {"quarter": "2019Q4", "month": "2019-10", "integer": "2007"}[period_format]
        raise ParamsError(
            f"key '{key}': {value!r} is not a period of these data; write it as the data do "
            f"(e.g. {example}), or null"
        )
    return index


def _window(
    waves: pd.Series,
    first_treated: pd.Series,
    pilot_wave: float,
    params: Params,
    period_format: PeriodFormat = "quarter",
) -> tuple[int, int]:
    """The comparison window as period indexes, from ``analysis.window_start`` / ``window_end``
    written in the data's own period format."""
    start = params.analysis.window_start
    lo = (
        int(waves.min())
        if start is None
        else _window_bound(start, "analysis.window_start", period_format)
    )
    end = params.analysis.window_end
    if end is None:
        hi = int(waves.max())
    elif end == "before_next_rollout":
        later = first_treated[first_treated > pilot_wave]
        hi = int(later.min() - 1) if len(later) else int(waves.max())
    else:
        hi = _window_bound(end, "analysis.window_end", period_format)
    # No period before the start is allowed (endline-only data): the sections that compare
    # before and after declare it and say so; with no period from the start on nothing applies.
    if hi < pilot_wave or lo > hi:
        text = {i: period_text(i, period_format) for i in (lo, hi, int(pilot_wave))}
        raise ParamsError(
            f"analysis.window_start/window_end give periods {text[lo]} to {text[hi]}, which do not "
            f"reach the start {text[int(pilot_wave)]}: widen the window so it has periods from the "
            "start on (and, for before/after comparisons, before it)"
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


def _panel_problems(raw: pd.DataFrame, spec: PanelColumns, path: Path) -> list[pd.DataFrame]:
    """Columns named in ``data.panel`` that the file lacks: one problem row each."""
    named = [
        ("unit", spec.unit),
        ("period", spec.period),
        *(("outcomes", o) for o in spec.outcomes),
        (
            "first_treated" if spec.first_treated else "treatment",
            spec.first_treated or spec.treatment,
        ),
        ("cluster", spec.cluster),
        ("weights", spec.weights),
        ("strata", spec.strata),
        *(("covariates", c) for c in spec.covariates),
    ]
    columns = ", ".join(map(str, raw.columns))
    return [
        problem_frame(
            path,
            ["header"],
            name,
            [""],
            f"column named in data.panel.{key} is not in the file",
            f"rename the column in the file or set data.panel.{key} to one of: {columns}",
        )
        for key, name in named
        if name is not None and name not in raw
    ]


def _bad_cells(
    path: Path, raw: pd.DataFrame, column: str, bad: pd.Series, rule: str, fix: str
) -> pd.DataFrame | None:
    if not bad.any():
        return None
    rows = raw.index[bad] + 2  # 1-based, after the header line, as a spreadsheet shows them
    return problem_frame(path, rows, column, raw.loc[bad, column], rule, fix)


def _prepare_panel(params: Params) -> Prepared:
    """A generic panel: rename its columns to the package's names; no ballots, admin or costs.

    Periods may be whole numbers (years), quarters or months (``data.panel.frequency``, else
    detected); every unreadable cell is a row of the problem table, never a bare error.
    """
    spec = params.data.panel
    assert spec is not None
    path = Path(spec.path)
    raw = read_table(path).reset_index(drop=True)
    problems = _panel_problems(raw, spec, path)
    if problems:
        raise DataValidationError(combine(problems))
    period_format = frequency_format(spec.frequency) or detect_format(raw[spec.period])
    periods = parse_periods(raw[spec.period], period_format)
    found = [
        _bad_cells(
            path,
            raw,
            spec.unit,
            raw[spec.unit].isna(),
            "every row needs its unit",
            "fill in the unit or delete the row",
        ),
        _bad_cells(
            path,
            raw,
            spec.period,
            periods.isna(),
            f"period not readable as {period_format}",
            f"write every period in one form: {ACCEPTED_FORMS}",
        ),
    ]
    numeric = {
        c: pd.to_numeric(raw[c], errors="coerce") for c in [*spec.outcomes, *spec.covariates]
    }
    for col, values in numeric.items():
        found.append(
            _bad_cells(
                path,
                raw,
                col,
                values.isna() & raw[col].notna(),
                "a number is expected",
                "write numbers with a dot as the decimal mark and no thousands separator; leave "
                "missing values empty",
            )
        )
    timing_col = spec.first_treated or spec.treatment
    timing = (
        parse_periods(raw[timing_col], period_format)
        if spec.first_treated and period_format != "integer"
        else pd.to_numeric(raw[timing_col], errors="coerce")
    )
    found.append(
        _bad_cells(
            path,
            raw,
            timing_col,
            timing.isna() & raw[timing_col].notna(),
            "a period (first treated) or 0/1 (treatment) is expected",
            "write the first treated period like the period column (0 or empty = never treated), "
            "or 0/1 in a treatment column",
        )
    )
    if spec.weights:
        weights = pd.to_numeric(raw[spec.weights], errors="coerce")
        found.append(
            _bad_cells(
                path,
                raw,
                spec.weights,
                ~(weights > 0),
                "a positive weight is expected",
                "give every row a weight above 0",
            )
        )
    problems = combine(found)
    if len(problems):
        raise DataValidationError(problems)

    frame = pd.DataFrame({"commune_code": raw[spec.unit].astype("string")})
    frame["wave_index"] = periods.astype("int64")
    frame["wave"] = [period_text(i, period_format) for i in frame["wave_index"]]
    for col, values in numeric.items():
        frame[col] = values.astype("float64")
    if spec.first_treated:
        first = timing.astype("float64")
        frame["first_treated_wave"] = first.where(first > 0)
    else:
        first = (
            frame.assign(t=timing)
            .loc[lambda f: f["t"] > 0]
            .groupby("commune_code")["wave_index"]
            .min()
        )
        frame["first_treated_wave"] = frame["commune_code"].map(first).astype("float64")
    # a unit's adoption period is a property of the unit: its first row's value counts
    frame["first_treated_wave"] = frame.groupby("commune_code")["first_treated_wave"].transform(
        "min"
    )
    frame["district_name"] = raw[spec.strata].astype("string") if spec.strata else "all"
    frame["cluster"] = raw[spec.cluster].astype("string") if spec.cluster else frame["commune_code"]
    frame["n_ballots"] = pd.to_numeric(raw[spec.weights]) if spec.weights else 1.0
    frame["pilot_share"] = 1.0
    treated_units = frame["first_treated_wave"].dropna()
    if treated_units.empty:
        raise DataValidationError(
            problem_frame(
                path,
                ["all"],
                timing_col,
                [""],
                "no unit is ever treated",
                f"check data.panel.{'first_treated' if spec.first_treated else 'treatment'}: at "
                "least one unit must be treated within the periods of the file",
            )
        )
    pilot_wave = float(treated_units.min())
    frame["pilot"] = (frame["first_treated_wave"] == pilot_wave).fillna(False).astype(bool)
    frame["treated"] = treatment_indicator(frame)
    frame["commune_type"] = "unit"
    frame["cohort"] = frame["first_treated_wave"].map(
        lambda w: "never" if pd.isna(w) else period_text(w, period_format)
    )
    unit_info = ["first_treated_wave", "pilot", "district_name", "cluster", "wave", "cohort"]
    if spec.level == "individual":
        panel = frame.groupby(["commune_code", "wave_index"], as_index=False).agg(
            {
                **{c: "mean" for c in [*spec.outcomes, *spec.covariates]},
                "n_ballots": "sum" if spec.weights else "size",
                "treated": "mean",
                "commune_type": "first",
                "pilot_share": "first",
                **{c: "first" for c in unit_info},
            }
        )
    else:
        duplicated = frame.duplicated(["commune_code", "wave_index"], keep=False)
        if duplicated.any():
            raise DataValidationError(
                problem_frame(
                    path,
                    raw.index[duplicated] + 2,
                    spec.period,
                    raw.loc[duplicated, spec.period],
                    "one row per unit and period is expected",
                    "remove the repeated rows, or set data.panel.level: individual for "
                    "repeated cross-sections",
                )
            )
        panel = frame
    communes = panel.groupby("commune_code", as_index=False)[
        ["district_name", "first_treated_wave", "pilot", "cohort", "commune_type", "cluster"]
    ].first()
    communes["start_date"] = pd.NaT
    lo, hi = _window(
        panel["wave_index"], communes["first_treated_wave"], pilot_wave, params, period_format
    )
    pre = panel[panel["wave_index"] < pilot_wave]
    baseline = pre.groupby("commune_code")[list(spec.outcomes)].mean().add_prefix("baseline_")
    baseline = baseline.join(pre.groupby("commune_code")[list(spec.covariates)].mean())
    baseline = communes.set_index("commune_code").join(baseline).reset_index()
    meta = {
        "source": "panel",
        "simulated": params.simulated,
        "pilot_wave": int(pilot_wave),
        "window_start": lo,
        "window_end": hi,
        "period_format": period_format,
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
