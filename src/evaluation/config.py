"""Run parameters: one YAML file, validated before anything runs.

A scenario file may name a base file in ``extends:`` and list only the keys it changes. Unknown
keys, wrong types and missing files are errors that name the key and suggest the nearest valid one.
"""

from __future__ import annotations

import difflib
import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evaluation.i18n import Language

#: The project's root (the folder holding ``params/``); relative paths in params are read from here.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The day a run started (ISO date), handed by the runner to its kernels (pages date their
#: signable workbooks with it).
RUN_DATE_ENV = "EVALUATION_RUN_DATE"


class ParamsError(ValueError):
    """Raised for a parameter file that cannot be used; the message says which key and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitMap(_Strict):
    """One commune map (list of commune-level units) and the date it took effect."""

    effective_date: date
    path: Path


class RegistryParams(_Strict):
    maps: list[UnitMap] = Field(min_length=1)
    changes: Path | None = None


class PanelColumns(_Strict):
    """Column names of a generic unit x period panel or individual x period repeated cross-section."""

    path: Path
    level: Literal["unit_period", "individual"] = "unit_period"
    unit: str
    period: str
    outcomes: list[str] = Field(min_length=1)
    first_treated: str | None = None
    treatment: str | None = None
    cluster: str | None = None
    weights: str | None = None
    covariates: list[str] = []
    strata: str | None = None
    #: What the units are called on the pages, by language: one word for both numbers
    #: (``vi: huyện``) or ``[singular, plural]`` (``en: [district, districts]``); empty = "unit(s)".
    unit_label: dict[str, str | tuple[str, str]] = {}
    #: How the period column is read: ``as_given`` (integers, e.g. years), or labels of a
    #: ``year``, ``quarter`` (``2019Q4``, ``2019 Q4``, ``Q4/2019``) or ``month`` (``2019-10``).
    frequency: Literal["as_given", "year", "quarter", "month"] = "as_given"

    @model_validator(mode="after")
    def _one_treatment_column(self) -> PanelColumns:
        if (self.first_treated is None) == (self.treatment is None):
            raise ValueError("give exactly one of 'first_treated' or 'treatment'")
        return self


class DataParams(_Strict):
    source: Literal["demo", "files", "panel"] = "demo"
    simulated: bool = False
    registry: RegistryParams | None = None
    rollout: Path | None = None
    ballots: Path | None = None
    admin: Path | None = None
    costs: Path | None = None
    panel: PanelColumns | None = None

    @model_validator(mode="after")
    def _files_for_source(self) -> DataParams:
        if self.source in ("demo", "files") and self.registry is None:
            raise ValueError(f"source '{self.source}' needs data.registry (the commune maps)")
        if self.source == "files" and (self.rollout is None or self.ballots is None):
            raise ValueError("source 'files' needs data.rollout and data.ballots")
        if self.source == "panel" and self.panel is None:
            raise ValueError("source 'panel' needs the data.panel section")
        return self


class DemoParams(_Strict):
    seed: int = 20191001
    n_pilot: int = Field(14, ge=2)
    first_wave: str = "2018Q3"
    last_wave: str = "2022Q2"
    pilot_start: date = date(2019, 10, 1)
    rollout_waves: list[str] = ["2021Q1", "2021Q3", "2022Q1"]
    never_adopt_share: float = Field(0.15, ge=0, le=1)
    ballots_min: int = Field(20, ge=1)
    ballots_max: int = Field(60, ge=1)
    effect_latent: float = 0.35
    nonresponse_strength: float = Field(0.6, ge=0)

    @model_validator(mode="after")
    def _waves_in_order(self) -> DemoParams:
        import pandas as pd  # config stays light to import; only this check needs pandas

        def quarter(key: str, value: str) -> Any:
            try:
                return pd.Period(str(value), "Q")
            except (ValueError, TypeError):
                raise ValueError(
                    f"demo.{key}: {value!r} is not a quarter; write it like 2019Q4"
                ) from None

        first, last = quarter("first_wave", self.first_wave), quarter("last_wave", self.last_wave)
        start = pd.Period(self.pilot_start, "Q")
        if not first < start <= last:
            raise ValueError(
                f"demo: pilot_start {self.pilot_start} must fall after first_wave {first} and "
                f"no later than last_wave {last}, so there are ballots before and after it"
            )
        for wave in self.rollout_waves:
            if not start < quarter("rollout_waves", wave) <= last:
                raise ValueError(
                    f"demo.rollout_waves: {wave} must lie after the pilot start ({start}) and no "
                    f"later than last_wave ({last}); use [] for no later adoption"
                )
        if self.ballots_min > self.ballots_max:
            raise ValueError(
                f"demo: ballots_min ({self.ballots_min}) is above ballots_max ({self.ballots_max})"
            )
        return self


class HarmoniseParams(_Strict):
    target_map: date = date(2020, 1, 1)
    mixed_pilot: Literal["drop", "pilot", "share"] = "drop"
    unmapped_dissolved: Literal["drop", "error"] = "drop"
    manual_mappings: dict[str, str] = {}

    @field_validator("manual_mappings", mode="before")
    @classmethod
    def _codes_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value


class BallotParams(_Strict):
    likert_min: int = 1
    likert_max: int = 5
    no_opinion_codes: list[int] = [0, 9]
    satisfied_from: int = 4
    dissatisfied_to: int = 2
    factors: dict[str, list[str]] = {}
    model_items: list[str] = []
    item_labels: dict[str, dict[str, str]] = {}

    @model_validator(mode="after")
    def _scale_in_order(self) -> BallotParams:
        lo, hi = self.likert_min, self.likert_max
        if lo >= hi:
            raise ValueError(
                f"ballot.likert_min ({lo}) must be below ballot.likert_max ({hi}); swap them"
            )
        inside = sorted(c for c in self.no_opinion_codes if lo <= c <= hi)
        if inside:
            raise ValueError(
                f"ballot.no_opinion_codes {inside} lie on the answer scale {lo}-{hi}: an answer "
                "could not be told from 'no opinion'; use codes outside the scale, e.g. 0 and 9"
            )
        if not lo < self.satisfied_from <= hi:
            raise ValueError(
                f"ballot.satisfied_from ({self.satisfied_from}) must lie on the scale above "
                f"{lo} and at most {hi}, e.g. {hi - 1}"
            )
        if not lo <= self.dissatisfied_to < self.satisfied_from:
            raise ValueError(
                f"ballot.dissatisfied_to ({self.dissatisfied_to}) must lie on the scale from "
                f"{lo} and below satisfied_from ({self.satisfied_from}), e.g. {lo + 1}"
            )
        return self

    @model_validator(mode="after")
    def _items_once(self) -> BallotParams:
        seen: dict[str, str] = {}
        for factor, items in self.factors.items():
            for item in items:
                if item in seen:
                    raise ValueError(f"item {item!r} is in factors {seen[item]!r} and {factor!r}")
                seen[item] = factor
        return self

    @property
    def items(self) -> list[str]:
        """Every Likert item, SIPAS factors first, then the model's own items."""
        return [i for items in self.factors.values() for i in items] + [
            i for i in self.model_items if all(i not in v for v in self.factors.values())
        ]


class StaggeredParams(_Strict):
    """Options of the rollout (staggered adoption) estimators on page 07."""

    control_group: Literal["never_treated", "not_yet_treated"] = "not_yet_treated"
    base_period: Literal["varying", "universal"] = "universal"
    method: Literal["dr", "ipw", "reg"] = "dr"


class AnalysisParams(_Strict):
    window_start: str | None = None
    window_end: str | None = "before_next_rollout"
    cluster: str = "commune_code"
    ssc: Literal["fixest", "statsmodels"] = "fixest"
    alpha: float = Field(0.05, gt=0, lt=0.5)
    headline_outcome: str = "satisfaction_index"
    outcomes: list[str] = ["satisfaction_index", "pct_satisfied"]
    event_leads: int = Field(4, ge=1)
    event_lags: int = Field(4, ge=0)
    weighting: Literal["none", "survey", "nonresponse"] = "none"
    likert_item: str = "staff_courteous"
    propensity_covariates: list[str] | None = None
    trim_rule: Literal["crump", "fixed"] = "crump"
    trim_bounds: tuple[float, float] = (0.05, 0.95)
    baseline_covariates: list[str] = ["urban", "one_stop_staff_per_1000", "baseline_index"]
    staggered: StaggeredParams = StaggeredParams()

    @field_validator("trim_bounds")
    @classmethod
    def _bounds_in_order(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not 0 <= lo < hi <= 1:
            raise ValueError(
                f"trim_bounds {list(value)} must be two shares with 0 <= lower < upper <= 1, "
                "e.g. [0.05, 0.95]"
            )
        return value

    @field_validator("window_start", "window_end", mode="before")
    @classmethod
    def _period_as_text(cls, value: Any) -> Any:
        # YAML reads 2007 as an int and 2019Q4 as text; both are periods in the data's own format.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class InferenceParams(_Strict):
    n_boot: int = Field(9999, ge=99)
    ri_draws: int = Field(9999, ge=99)
    size_sims: int = Field(500, ge=20)
    power_sims: int = Field(500, ge=20)
    size_band: tuple[float, float] = (0.03, 0.07)
    strata: str | None = "district_name"
    seed: int = 12345

    @field_validator("size_band")
    @classmethod
    def _band_in_order(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not 0 < lo < hi < 1:
            raise ValueError(
                f"size_band {list(value)} must be two rates with 0 < lower < upper < 1, "
                "e.g. [0.03, 0.07]"
            )
        return value


class ScalingParams(_Strict):
    budget_vnd: float = Field(1_000_000_000, ge=0)
    horizon_years: int = Field(3, ge=1)
    discount_rate: float = Field(0.05, ge=0, lt=1)
    setup_cost_multiplier: float = Field(1.0, gt=0)
    running_cost_multiplier: float = Field(1.0, gt=0)
    conditions: dict[str, Any] = {}
    rollout_steps: int = Field(4, ge=1)
    rollout_seed: int = 2026


class ReportParams(_Strict):
    execution_timeout: int = Field(900, ge=10)
    on_error: Literal["stop", "continue"] = "stop"
    notebooks: list[str] | None = None
    pdf: bool = False
    #: Board pages show no number resting on fewer ballots than this in any group (privacy).
    min_cell_ballots: int = Field(10, ge=1)


class Params(_Strict):
    """Everything one evaluation run depends on, besides the input files themselves."""

    run_name: str = Field("evaluation", pattern=r"^[A-Za-z0-9_.-]+$")
    language: Language = "vi"
    data: DataParams
    demo: DemoParams = DemoParams()
    harmonise: HarmoniseParams = HarmoniseParams()
    ballot: BallotParams = BallotParams()
    analysis: AnalysisParams = AnalysisParams()
    inference: InferenceParams = InferenceParams()
    scaling: ScalingParams = ScalingParams()
    report: ReportParams = ReportParams()

    @model_validator(mode="after")
    def _ballot_items_for_ballots(self) -> Params:
        if self.data.source in ("demo", "files") and not self.ballot.factors:
            raise ValueError(
                f"data.source '{self.data.source}' reads ballots: list their items in ballot.factors"
            )
        registry = self.data.registry
        if self.data.source in ("demo", "files") and registry is not None:
            dates = [m.effective_date for m in registry.maps]
            if self.harmonise.target_map not in dates:
                raise ValueError(
                    f"harmonise.target_map {self.harmonise.target_map} is not the date of a "
                    f"commune map in data.registry.maps; use one of: "
                    f"{', '.join(str(d) for d in dates)}"
                )
        items = self.ballot.items
        if self.data.source in ("demo", "files") and self.analysis.likert_item not in items:
            close = difflib.get_close_matches(self.analysis.likert_item, items, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ValueError(
                f"analysis.likert_item '{self.analysis.likert_item}' is not a ballot item; "
                f"{hint}choose one of: {', '.join(items)}"
            )
        return self

    @property
    def simulated(self) -> bool:
        """Whether the reports must carry the simulated-data banner."""
        return self.data.source == "demo" or self.data.simulated

    def input_files(self) -> list[Path]:
        """Every input file the run reads (for the manifest's hashes)."""
        d = self.data
        files = [m.path for m in d.registry.maps] if d.registry else []
        if d.registry and d.registry.changes:
            files.append(d.registry.changes)
        files += [p for p in (d.rollout, d.ballots, d.admin, d.costs) if p]
        if d.panel is not None:
            files.append(d.panel.path)
        return files


# --------------------------------------------------------------------------------------------
# Loading


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is written twice (lines {seen[key] + 1} and "
                    f"{key_node.start_mark.line + 1}); keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_params_tree(path: str | Path) -> dict:
    """The raw parameter tree of ``path``, with ``extends:`` chains merged (base first)."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: parameter file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ParamsError(
            f"{path}: not UTF-8 text (byte {err.start}); save the file as UTF-8 in your editor"
        ) from None
    try:
        tree = yaml.load(text, Loader=_UniqueKeyLoader) or {}  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(tree, dict):
        raise ParamsError(f"{path}: expected a mapping of keys to values at the top level")
    _absolutise_paths(tree, path.resolve().parent)
    base = tree.pop("extends", None)
    if base is not None:
        base_path = (path.parent / str(base)).resolve()
        if not base_path.is_file() and (PROJECT_ROOT / "params" / Path(str(base)).name).is_file():
            # a scenario copied out of params/scenarios/ still finds the project's base file
            base_path = PROJECT_ROOT / "params" / Path(str(base)).name
        tree = _deep_merge(read_params_tree(base_path), tree)
    return tree


def _absolutise_paths(tree: dict, folder: Path) -> None:
    """Make the relative file paths of one params file absolute, read from that file's folder."""
    data = tree.get("data")
    if not isinstance(data, dict):
        return

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute():
            return os.path.normpath(folder / value)
        return value

    for key in ("rollout", "ballots", "admin", "costs"):
        if key in data:
            data[key] = fix(data[key])
    registry = data.get("registry")
    if isinstance(registry, dict):
        if "changes" in registry:
            registry["changes"] = fix(registry["changes"])
        for entry in registry.get("maps") or []:
            if isinstance(entry, dict) and "path" in entry:
                entry["path"] = fix(entry["path"])
    panel = data.get("panel")
    if isinstance(panel, dict) and "path" in panel:
        panel["path"] = fix(panel["path"])


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that holds the key at ``loc`` (to suggest its valid keys)."""
    model: Any = Params
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
            inner = getattr(candidate, "__args__", ())
            hits = [c for c in inner if isinstance(c, type) and issubclass(c, BaseModel)]
            if hits:
                model = hits[0]
                break
        else:
            return None
    return model if isinstance(model, type) else None


def _describe(err: dict, source: Path) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        model = _model_at(loc)
        valid = list(getattr(model, "model_fields", {})) if model else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        valid_text = f" Valid keys here: {', '.join(valid)}." if valid else ""
        return f"{source}: unknown key '{key}'{hint}{valid_text}"
    if err["type"] == "missing":
        return f"{source}: key '{key}' is required but missing"
    if err["type"] == "value_error":  # a rule across keys: its message names them
        where = "" if not loc else f"key '{key}': "
        return f"{source}: {where}{str(err['msg']).removeprefix('Value error, ')}"
    return f"{source}: key '{key}': {err['msg']} (got {err.get('input')!r})"


def _resolve_paths(params: Params) -> Params:
    """Check that every input file exists.

    Paths written in a params file were made absolute from that file's folder when it was read;
    a path still relative here came from ``overrides`` and is read from the project folder.
    """

    def fix(p: Path | None) -> Path | None:
        if p is None:
            return None
        return p if p.is_absolute() else (PROJECT_ROOT / p)

    d = params.data
    update: dict[str, Any] = {}
    if d.registry is not None:
        maps = [m.model_copy(update={"path": fix(m.path)}) for m in d.registry.maps]
        update["registry"] = d.registry.model_copy(
            update={"maps": maps, "changes": fix(d.registry.changes)}
        )
    for name in ("rollout", "ballots", "admin", "costs"):
        update[name] = fix(getattr(d, name))
    if d.panel is not None:
        update["panel"] = d.panel.model_copy(update={"path": fix(d.panel.path)})
    data = d.model_copy(update=update)
    resolved = params.model_copy(update={"data": data})
    for key, path in _file_keys(resolved):
        if not path.is_file():
            raise ParamsError(f"key '{key}': file not found: {path}")
    return resolved


def _file_keys(params: Params) -> list[tuple[str, Path]]:
    d = params.data
    if d.registry is None:
        keys = []
    else:
        keys = [(f"data.registry.maps.{i}.path", m.path) for i, m in enumerate(d.registry.maps)]
    if d.registry is not None and d.registry.changes:
        keys.append(("data.registry.changes", d.registry.changes))
    if d.source == "files":
        for name in ("rollout", "ballots", "admin", "costs"):
            if getattr(d, name) is not None:
                keys.append((f"data.{name}", getattr(d, name)))
    if d.source == "panel" and d.panel is not None:
        keys.append(("data.panel.path", d.panel.path))
    return keys


def params_from_tree(tree: dict, source: str | Path = "<params>") -> Params:
    """Validate a raw parameter tree (as read from YAML) into :class:`Params`."""
    try:
        params = Params.model_validate(tree)
    except ValidationError as err:
        lines = [_describe(e, Path(source)) for e in err.errors()]
        raise ParamsError("\n".join(lines)) from None
    return _panel_outcomes(_resolve_paths(params), source)


#: The Hà Nam defaults of ``analysis.headline_outcome`` / ``outcomes`` (ballot measures).
_HANAM_HEADLINE = AnalysisParams().headline_outcome


def _panel_outcomes(params: Params, source: str | Path) -> Params:
    """A generic panel's outcomes: the headline defaults to its first outcome, and outcome
    names it does not have are refused with the nearest valid one."""
    spec = params.data.panel
    if params.data.source != "panel" or spec is None:
        return params
    analysis = params.analysis
    headline = analysis.headline_outcome
    if headline not in spec.outcomes:
        if headline != _HANAM_HEADLINE:
            raise ParamsError(
                _not_an_outcome(source, "analysis.headline_outcome", headline, spec.outcomes)
            )
        headline = spec.outcomes[0]
    outcomes = [o for o in analysis.outcomes if o in spec.outcomes]
    unknown = [o for o in analysis.outcomes if o not in spec.outcomes and not _hanam_outcome(o)]
    if unknown:
        raise ParamsError(_not_an_outcome(source, "analysis.outcomes", unknown[0], spec.outcomes))
    outcomes = outcomes or list(spec.outcomes)
    return params.model_copy(
        update={
            "analysis": analysis.model_copy(
                update={"headline_outcome": headline, "outcomes": outcomes}
            )
        }
    )


def _hanam_outcome(name: str) -> bool:
    """Outcomes the Hà Nam defaults list (ignored, not refused, on a generic panel)."""
    return name in {
        "satisfaction_index",
        "pct_satisfied",
        "pct_dissatisfied",
        "coverage",
        "model_index",
    }


def _not_an_outcome(source: str | Path, key: str, name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return (
        f"{source}: key '{key}': '{name}' is not one of data.panel.outcomes{hint} "
        f"Outcomes of this panel: {', '.join(valid)}."
    )


def load_params(path: str | Path, overrides: dict | None = None) -> Params:
    """Read, merge and validate a parameter file.

    Parameters
    ----------
    path : path-like
        A YAML file; it may ``extends:`` another one.
    overrides : dict, optional
        Nested keys applied last (used by tests and parameter sweeps).
    """
    tree = read_params_tree(path)
    if overrides:
        tree = _deep_merge(tree, overrides)
    return params_from_tree(tree, path)


def params_to_yaml(params: Params) -> str:
    """The merged, validated parameters as YAML (written into every run folder)."""
    return yaml.safe_dump(params.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
