"""What every analysis returns: a typed, serialisable result, or a reason it cannot apply.

An analysis is a function ``(prepared, params, ...) -> Result | NotApplicable`` that declares
what the data must offer (:mod:`evaluation.analysis.requirements`). The requirements are checked
before any statistics run, so a page never discovers a missing piece by crashing: it receives a
:class:`NotApplicable` and shows its one plain sentence instead of the section.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from evaluation.cache import cached_call
from evaluation.estimators.result import EffectEstimate
from evaluation.i18n import Language, t

if TYPE_CHECKING:
    from evaluation.analysis.requirements import Requirement
    from evaluation.config import Params
    from evaluation.prepare import Prepared


@dataclass(frozen=True)
class NotApplicable:
    """An analysis the data in hand cannot support, and why.

    Attributes
    ----------
    analysis : str
        The analysis that was asked for (``"comparison.balance"``).
    reason : str
        The unmet requirement's key; its sentence is ``requirements.<reason>`` in the messages.
    facts : dict
        The numbers behind the reason (what was needed, what the data have), JSON-serialisable.
    """

    analysis: str
    reason: str
    facts: dict[str, Any] = field(default_factory=dict)

    def message(self, language: Language = "vi") -> str:
        """One plain sentence in ``language``: what the data would need for this section.

        The sentence is ``requirements.<reason>.<contract>`` when the wording differs between
        the Hà Nam contract and a generic panel, else ``requirements.<reason>``.
        """
        contract = self.facts.get("contract", "hanam")
        try:
            return t(f"requirements.{self.reason}.{contract}", language, **self.facts)
        except KeyError:
            return t(f"requirements.{self.reason}", language, **self.facts)

    def to_dict(self) -> dict[str, Any]:
        return {"not_applicable": True, **dataclasses.asdict(self)}

    def __bool__(self) -> bool:  # `if result:` reads "the analysis produced something"
        return False


def applies(result: object) -> bool:
    """Whether ``result`` is a real result (not a :class:`NotApplicable`)."""
    return not isinstance(result, NotApplicable)


# --------------------------------------------------------------------------------------------
# The catalogue of analyses and their declared requirements


@dataclass(frozen=True)
class AnalysisSpec:
    """One question a page asks: its name, its page and what the data must offer."""

    name: str
    page: str
    requirements: tuple[Requirement, ...]
    function: Callable[..., Any]
    #: The parameter sections the analysis reads: part of its cache key (:mod:`evaluation.cache`).
    reads: tuple[str, ...] = ()


#: Every analysis by name (filled by :func:`analysis` as the modules are imported).
CATALOGUE: dict[str, AnalysisSpec] = {}

F = TypeVar("F", bound=Callable[..., Any])


#: Parameter sections every analysis may read (its cache key includes them). ``scaling``,
#: ``report``, ``language`` and ``run_name`` are left out: they change words or decisions, not
#: estimates, so changing them reuses the cached estimates.
DEFAULT_READS = ("data", "demo", "harmonise", "ballot", "analysis", "inference")
#: Sections the analyses of a page read besides :data:`DEFAULT_READS`.
PAGE_READS = {"06_scaling": ("scaling",)}


def analysis(
    name: str,
    page: str,
    requires: tuple[Requirement, ...] = (),
    reads: tuple[str, ...] | None = None,
) -> Callable[[F], F]:
    """Declare an analysis: check ``requires`` on the data before running it.

    The decorated function takes ``(prepared, params, *args, **kwargs)``. When a requirement
    is not met it is not called and a :class:`NotApplicable` naming the first unmet requirement
    is returned instead. Otherwise it runs through the result cache when one is active
    (:mod:`evaluation.cache`): ``reads`` names the parameter sections it reads (default
    :data:`DEFAULT_READS` plus its page's :data:`PAGE_READS`); a change elsewhere reuses the
    cached result.
    """
    sections = tuple(reads) if reads is not None else DEFAULT_READS + PAGE_READS.get(page, ())

    def wrap(function: F) -> F:
        @functools.wraps(function)
        def run(prepared: Prepared, params: Params, *args: Any, **kwargs: Any) -> Any:
            unmet = first_unmet(requires, prepared, params)
            if unmet is not None:
                return NotApplicable(name, unmet[0], unmet[1])
            return cached_call(spec, function, prepared, params, args, kwargs)

        spec = AnalysisSpec(name, page, tuple(requires), run, sections)
        run.spec = CATALOGUE[name] = spec  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return wrap


#: The analysis modules, one per question a page asks (importing one fills :data:`CATALOGUE`).
ANALYSIS_MODULES = (
    "data_quality",
    "comparison",
    "effects",
    "how_sure",
    "robustness",
    "where_it_works",
    "scaling",
    "phase_in",
    "rollout",
)


def load_catalogue() -> dict[str, AnalysisSpec]:
    """Import every analysis module so :data:`CATALOGUE` lists every declared analysis."""
    for module in ANALYSIS_MODULES:
        name = f"evaluation.analysis.{module}"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    return CATALOGUE


def first_unmet(
    requires: tuple[Requirement, ...], prepared: Prepared, params: Params
) -> tuple[str, dict[str, Any]] | None:
    """The first requirement the data do not meet, as (reason key, facts); None when all hold."""
    if not requires:
        return None
    from evaluation.analysis.facts import data_facts

    facts = data_facts(prepared, params)
    for requirement in requires:
        missing = requirement.unmet(facts)
        if missing is not None:
            return requirement.key, missing
    return None


def skipped_sections(prepared: Prepared, params: Params) -> list[NotApplicable]:
    """Every catalogued analysis the data cannot support (what ``validate`` reports)."""
    load_catalogue()
    out = []
    for spec in CATALOGUE.values():
        unmet = first_unmet(spec.requirements, prepared, params)
        if unmet is not None:
            out.append(NotApplicable(spec.name, unmet[0], unmet[1]))
    return out


# --------------------------------------------------------------------------------------------
# Serialisation: results -> JSON (frames as split records) and back


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of a result: dataclasses, frames, estimates, NumPy scalars, NaN -> None."""
    if isinstance(value, NotApplicable):
        return value.to_dict()
    if isinstance(value, EffectEstimate):
        return {
            "__estimate__": True,
            "outcome": value.outcome,
            "estimand": value.estimand,
            "estimator": value.estimator,
            "terms": to_jsonable(value.terms.reset_index()),
            "n_obs": int(value.n_obs),
            "n_clusters": int(value.n_clusters),
            "n_treated_clusters": int(value.n_treated_clusters),
            "inference": value.inference,
            "notes": list(value.notes),
            "diagnostics": to_jsonable(dict(value.diagnostics)),
        }
    if isinstance(value, pd.DataFrame):
        frame = value.reset_index(drop=True)
        return {
            "__frame__": True,
            "columns": [str(c) for c in frame.columns],
            "data": [[to_jsonable(v) for v in row] for row in frame.itertuples(index=False)],
        }
    if isinstance(value, pd.Series):
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"__type__": type(value).__name__}
        for f in dataclasses.fields(value):
            if f.metadata.get("serialise", True):
                out[f.name] = to_jsonable(getattr(value, f.name))
        return out
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def from_jsonable(value: Any) -> Any:
    """Frames and estimates back from :func:`to_jsonable` (other dataclasses stay dicts)."""
    if isinstance(value, dict):
        if value.get("__frame__"):
            return pd.DataFrame(value["data"], columns=value["columns"]).astype(
                {c: float for c in _float_columns(value)}
            )
        if value.get("__estimate__"):
            terms = from_jsonable(value["terms"]).set_index("term")
            return EffectEstimate(
                outcome=value["outcome"],
                estimand=value["estimand"],
                estimator=value["estimator"],
                terms=terms,
                n_obs=value["n_obs"],
                n_clusters=value["n_clusters"],
                n_treated_clusters=value["n_treated_clusters"],
                inference=value["inference"],
                notes=tuple(value["notes"]),
                diagnostics={
                    k: (math.nan if v is None else v) for k, v in value["diagnostics"].items()
                },
            )
        if value.get("not_applicable"):
            return NotApplicable(value["analysis"], value["reason"], value["facts"])
        return {k: from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    return value


def _float_columns(frame: dict) -> list[str]:
    """Columns whose non-missing values are all numbers (None there was NaN)."""
    out = []
    for i, name in enumerate(frame["columns"]):
        cells = [row[i] for row in frame["data"]]
        present = [c for c in cells if c is not None]
        if (
            present
            and len(present) < len(cells)
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in present)
        ):
            out.append(name)
    return out


def save_result(result: object, run_dir: Path, name: str) -> Path:
    """Write ``result`` to ``results/<name>.json`` in the run folder (atomically)."""
    from evaluation.data.io import write_text

    path = Path(run_dir) / "results" / f"{name}.json"
    write_text(json.dumps(to_jsonable(result), indent=2, ensure_ascii=False), path)
    return path


def load_result(run_dir: Path, name: str) -> Any:
    """What :func:`save_result` wrote (frames and estimates rebuilt), or None when absent."""
    path = Path(run_dir) / "results" / f"{name}.json"
    if not path.is_file():
        return None
    return from_jsonable(json.loads(path.read_text("utf-8")))
