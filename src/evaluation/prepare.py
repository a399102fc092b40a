"""From parameters to analysis-ready tables, once per run.

``prepare_inputs`` reads every input, validates it against the data contract (all problems at
once), harmonises it to one commune map and computes the measures. The runner saves the result
into the run folder (``prepared/``) and every notebook reads it from there, so no notebook
recomputes what another already has.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from evaluation.config import PROJECT_ROOT, PanelColumns, Params, ParamsError
from evaluation.data import plausibility
from evaluation.data.harmonise import harmonise
from evaluation.data.io import InputFileError, read_table, write_table, write_text
from evaluation.data.periods import (
    ACCEPTED_FORMS,
    PeriodFormat,
    canonical_labels,
    detect_format,
    frequency_format,
    parse_period,
    parse_periods,
    period_text,
)
from evaluation.data.problems import DataValidationError, combine, empty_problems, problem_frame
from evaluation.data.registry import Registry, load_registry
from evaluation.data.schemas import (
    ADMIN_COUNTS,
    RULES,
    Contract,
    admin_schema,
    ballots_schema,
    costs_schema,
    is_warning,
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
        # never past the data: a start planned after the last period leaves the window as is
        hi = int(min(later.min() - 1, waves.max())) if len(later) else int(waves.max())
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
        prepared = _prepare_panel(params)
        found = params_name_problems(prepared, params)
        if len(found):
            raise DataValidationError(found)
        return prepared
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
    passed: dict[str, bool] = {}
    for path, contract in checks:
        if path is None:
            tables[contract.name] = None
            continue
        clean, found = _checked_table(path, contract)
        tables[contract.name] = clean
        passed[contract.name] = clean is not None
        problems.append(found)
    problems.append(_plausibility(params, registry, tables, passed))
    found = combine(problems)
    warnings = found[is_warning(found)]
    if len(found) > len(warnings):
        raise DataValidationError(found)
    prepared = _measure(params, registry, tables)
    later = combine(
        [
            plausibility.coverage_problems(prepared.panel, d.admin) if d.admin else None,
            params_name_problems(prepared, params),
        ]
    )
    found = combine([warnings, later])
    if (~is_warning(found)).any():
        raise DataValidationError(found)
    return replace(prepared, problems=found.reset_index(drop=True))


def _required_columns(contract: Contract) -> list[str]:
    return [name for name, column in contract.schema.columns.items() if column.required]


def _checked_table(path: Path, contract: Contract) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Read one file and check it against its contract; (typed table or None, problems).

    A file that cannot be read is one row; quarters written ``2019 Q4`` or ``Q4/2019`` (and
    months ``2019/10`` in the admin file) are read as ``2019Q4`` (``2019-10``); a number with
    thousands separators gets that rule, not a generic "not a number".
    """
    try:
        raw = read_table(path, required=_required_columns(contract))
    except InputFileError as err:
        return None, plausibility.file_error_row(err)
    for column, months in (("wave", False), ("period", True)):
        if column in raw and contract.name in ("ballots", "admin"):
            raw[column] = canonical_labels(raw[column], months=months)
    separators = plausibility.separator_problems(raw, contract.name, path)
    clean, found = validate_frame(raw, contract, path)
    found = combine(
        [
            plausibility.without_cells_of(found, separators),
            separators,
            plausibility.no_records_problem(raw, path),
        ]
    )
    return (None if len(found) else clean), found


def _plausibility(
    params: Params,
    registry: Registry,
    tables: dict[str, pd.DataFrame | None],
    passed: dict[str, bool],
) -> pd.DataFrame:
    """Plausibility problems of every table that passed its contract."""
    d = params.data
    found = []
    ballots = tables.get("ballots") if passed.get("ballots") else None
    if ballots is not None and d.ballots is not None:
        found.append(plausibility.ballot_problems(ballots, d.ballots, params))
    if passed.get("rollout") and d.rollout is not None:
        waves = [] if ballots is None else ballots["wave"].dropna().unique()
        found.append(plausibility.rollout_problems(tables["rollout"], d.rollout, registry, waves))
    if passed.get("admin") and d.admin is not None:
        found.append(plausibility.admin_problems(tables["admin"], d.admin))
    if passed.get("costs") and d.costs is not None:
        found.append(plausibility.cost_problems(tables["costs"], d.costs, params))
    return combine(found)


#: Measures the Hà Nam contract derives from the admin file (named by params even when the
#: admin file is not supplied: the sections that need it say so).
_ADMIN_MEASURES = (
    "pct_dossiers_on_time",
    "pct_condolence_on_time",
    "complaints_per_1000",
    "one_stop_staff_per_1000",
    "apology_per_100_dossiers",
    "coverage",
    "baseline_coverage",
    *ADMIN_COUNTS,
)
#: Prepared columns that are bookkeeping, not measures a criterion would name.
_BOOKKEEPING = {
    "wave_index",
    "pilot",
    "pilot_share",
    "first_treated_wave",
    "treated",
    "drop_mixed",
    "mixed_pilot",
}
#: ``scaling.conditions`` keys testing membership, and the column each tests.
_LIST_CRITERIA = {"commune_types": "commune_type", "districts": "district_name"}


def params_name_problems(prepared: Prepared, params: Params) -> pd.DataFrame:
    """Parameters that name covariates or condition columns the prepared data do not have.

    ``analysis.baseline_covariates`` and ``propensity_covariates`` (Hà Nam contract; a panel
    names its covariates in ``data.panel``), and the keys of ``scaling.conditions``: each
    unknown name is an error whose fix names the nearest valid one.
    """
    rows = []
    if prepared.meta.get("source") != "panel":
        valid = sorted(
            {
                c
                for c in prepared.baseline.columns
                if pd.api.types.is_numeric_dtype(prepared.baseline[c]) or c == "urban"
            }
            | set(_ADMIN_MEASURES) - {"first_treated_wave", "pilot", "pilot_share"}
        )
        for key, names in (
            ("analysis.baseline_covariates", params.analysis.baseline_covariates),
            ("analysis.propensity_covariates", params.analysis.propensity_covariates or []),
        ):
            for name in names:
                if name not in valid:
                    rows.append(_name_row(key, name, "unknown_covariate", valid))
    if prepared.meta.get("source") == "panel":
        # A panel clusters and stratifies on the columns data.panel names: the Hà Nam keys
        # would be ignored silently, so a value other than their default is refused.
        for key, value, default in (
            ("analysis.cluster", params.analysis.cluster, "commune_code"),
            ("inference.strata", params.inference.strata, "district_name"),
        ):
            if value not in (default, None):
                what, fix = RULES["panel_key_elsewhere"]
                rows.append(problem_frame("params", [key], key, [value], what, fix))
    # Hà Nam's admin measures stay known on every source: a panel inherits the default
    # conditions, and its page 06 says they cannot be checked there.
    available = set(prepared.panel.columns) | set(prepared.communes.columns) | set(_ADMIN_MEASURES)
    numeric = sorted(
        {c.removeprefix("pct_") for c in _ADMIN_MEASURES}
        | {
            c.removeprefix("pct_")
            for c in prepared.panel.columns
            if pd.api.types.is_numeric_dtype(prepared.panel[c]) and c not in _BOOKKEEPING
        }
    )
    for key in params.scaling.conditions:
        if _criterion_known(key, available):
            continue
        valid_keys = [
            *_LIST_CRITERIA,
            *(f"min_{c}" for c in numeric),
            *(f"max_{c}" for c in numeric),
        ]
        rows.append(_name_row("scaling.conditions", key, "unknown_condition", valid_keys))
    return combine(rows)


def _criterion_known(key: str, available: set[str]) -> bool:
    """Whether a ``scaling.conditions`` key refers to something the data have."""
    if key in _LIST_CRITERIA:
        return True
    if key.endswith("_in"):
        return key[:-3] in available
    if key.startswith(("min_", "max_")):
        return f"pct_{key[4:]}" in available or key[4:] in available
    return False


def _name_row(key: str, name: str, rule: str, valid: list[str]) -> pd.DataFrame:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return problem_frame(
        "params",
        [key],
        key,
        [name],
        RULES[rule][0],
        f"{hint}choose one of: {', '.join(valid)}",
    )


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
    named = [spec.unit, spec.period, *spec.outcomes, spec.first_treated or spec.treatment]
    try:
        raw = read_table(path, required=[c for c in named if c]).reset_index(drop=True)
    except InputFileError as err:
        raise DataValidationError(plausibility.file_error_row(err)) from None
    problems = _panel_problems(raw, spec, path)
    if not len(raw):
        problems.append(plausibility.no_records_problem(raw, path))
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
        grouped = plausibility.numeric_separator_cells(raw[col])
        if grouped.any():
            found.append(
                plausibility.rule_rows(
                    path, raw.index[grouped] + 2, col, raw.loc[grouped, col], "thousands_separator"
                )
            )
        found.append(
            _bad_cells(
                path,
                raw,
                col,
                values.isna() & raw[col].notna() & ~grouped,
                "a number is expected",
                "write numbers with a dot as the decimal mark and no thousands separator; leave "
                "missing values empty",
            )
        )
    found.append(
        plausibility.share_problems(
            raw.set_axis(raw.index + 2), [*spec.outcomes, *spec.covariates], path
        )
    )
    for key, col in (("cluster", spec.cluster), ("strata", spec.strata)):
        if col is not None:
            found.append(
                _bad_cells(
                    path,
                    raw,
                    col,
                    raw[col].isna(),
                    f"every row needs its {key} (data.panel.{key})",
                    f"fill in the {key} or delete the row",
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
                ~(weights > 0).fillna(False).astype(bool),  # an empty weight is no weight
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
