"""The unit registry: versioned commune maps and the table of changes between them.

Hà Nam had 116 commune-level units until 2019-12-31 and 109 from 2020-01-01 (Resolution
829/NQ-UBTVQH14), in the middle of the pilot year. Every record is expressed on one chosen map
through :func:`crosswalk`, never by silently mixing codes of two maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from evaluation.config import RegistryParams
from evaluation.data.io import InputFileError, read_table
from evaluation.data.problems import (
    PROBLEM_COLUMNS,
    DataValidationError,
    empty_problems,
    problem_frame,
    raise_if_problems,
)
from evaluation.data.schemas import (
    RULES,
    Contract,
    changes_schema,
    unit_map_schema,
    validate_frame,
)

MAP_COLUMNS = [
    "commune_code",
    "commune_name",
    "commune_type",
    "district_name",
    "district_type",
    "full_name",
    "district_full_name",
]
CHANGE_COLUMNS = ["old_code", "old_full_name", "new_code", "new_full_name", "change", "source"]
CHANGE_KINDS = ("renamed_or_reclassified", "merged", "dissolved_absorbed_by_unknown_neighbour")


@dataclass(frozen=True)
class Registry:
    """Commune maps keyed by their effective date, and the changes between them."""

    maps: dict[date, pd.DataFrame]
    changes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CHANGE_COLUMNS))

    @property
    def dates(self) -> list[date]:
        return sorted(self.maps)

    def map_at(self, when: date | pd.Timestamp) -> pd.DataFrame:
        """The map in force on ``when``: the latest map that took effect on or before it.

        A date before the first map uses the first map (the oldest list we have).
        """
        when = pd.Timestamp(when).date()
        usable = [d for d in self.dates if d <= when]
        return self.maps[usable[-1] if usable else self.dates[0]]

    def effective_date_of(self, when: date | pd.Timestamp) -> date:
        when = pd.Timestamp(when).date()
        usable = [d for d in self.dates if d <= when]
        return usable[-1] if usable else self.dates[0]

    def all_codes(self) -> set[str]:
        """Every commune code that appears on any map."""
        return set().union(*(set(m["commune_code"]) for m in self.maps.values()))

    def units(self) -> pd.DataFrame:
        """Every unit of every map, one row per (map date, commune)."""
        frames = [m.assign(map_date=pd.Timestamp(d)) for d, m in self.maps.items()]
        return pd.concat(frames, ignore_index=True)


def load_registry(params: RegistryParams) -> Registry:
    """Read and validate the commune maps and the change table named in params.

    Raises
    ------
    DataValidationError
        With every problem of every registry file at once.
    """
    maps: dict[date, pd.DataFrame] = {}
    problems = []
    for unit_map in params.maps:
        contract = unit_map_schema()
        raw, found = _read(unit_map.path, contract)
        if raw is None:
            problems.append(found)
            continue
        clean, found = validate_frame(raw, contract, unit_map.path)
        problems += [found, _no_records(raw, unit_map.path)]
        maps[unit_map.effective_date] = clean.reset_index(drop=True)
    changes = pd.DataFrame(columns=CHANGE_COLUMNS, dtype="string")
    if params.changes is not None:
        known = set().union(set(), *(set(m["commune_code"].dropna()) for m in maps.values()))
        contract = changes_schema(known)
        raw, found = _read(params.changes, contract)
        if raw is None:
            problems.append(found)
        else:
            changes, found = validate_frame(raw, contract, params.changes)
            problems.append(found)
            changes = changes.reset_index(drop=True)
    raise_if_problems(problems)
    return Registry(maps=maps, changes=changes)


def _read(path: Path, contract: Contract) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """A registry file as text, or None and the one problem row saying why it cannot be read."""
    required = [name for name, column in contract.schema.columns.items() if column.required]
    try:
        return read_table(path, required=required), empty_problems()
    except InputFileError as err:
        what, fix = RULES.get(err.rule, (err.what, err.fix))
        row = (str(err.path), err.row, err.column, err.value, what, fix)
        return None, pd.DataFrame([row], columns=PROBLEM_COLUMNS).astype("string")


def _no_records(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    if len(raw):
        return empty_problems()
    what, fix = RULES["no_records"]
    return problem_frame(path, ["2"], "", [""], what, fix)


def crosswalk(
    registry: Registry,
    target: date,
    manual_mappings: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Map every code of every map onto the map in force on ``target``.

    Parameters
    ----------
    registry : Registry
    target : date
        Effective date of the target map (a key of ``registry.maps``).
    manual_mappings : dict, optional
        ``old_code -> new_code`` for dissolved units whose absorbing neighbour the change
        table does not name (``params.harmonise.manual_mappings``).

    Returns
    -------
    pandas.DataFrame
        Columns ``source_code, target_code, how`` where ``how`` is ``same``, one of the change
        kinds, ``manual`` or ``unmapped`` (``target_code`` missing). Forward mapping follows the
        change table; mapping onto an earlier map inverts it where the inverse is one-to-one.
    """
    if target not in registry.maps:
        known = ", ".join(str(d) for d in registry.dates)
        raise ValueError(f"harmonise.target_map {target} is not a map date; use one of: {known}")
    manual = {str(k): str(v) for k, v in (manual_mappings or {}).items()}
    target_codes = set(registry.maps[target]["commune_code"])
    changes = registry.changes
    later = [d for d in registry.dates if d > target]
    rows = []
    for code in sorted(registry.all_codes()):
        if code in target_codes:
            rows.append((code, code, "same"))
            continue
        if code in manual:
            rows.append((code, manual[code], "manual"))
            continue
        if later:  # target is earlier: invert renames only (a merged unit cannot be split)
            back = changes[(changes["new_code"] == code) & (changes["old_code"] != code)]
            if len(back) == 1 and back["change"].iloc[0] == "renamed_or_reclassified":
                rows.append((code, back["old_code"].iloc[0], "renamed_or_reclassified"))
            else:
                rows.append((code, pd.NA, "unmapped"))
            continue
        hit = changes[changes["old_code"] == code]
        if (
            len(hit)
            and pd.notna(hit["new_code"].iloc[0])
            and hit["new_code"].iloc[0] in target_codes
        ):
            rows.append((code, hit["new_code"].iloc[0], hit["change"].iloc[0]))
        else:
            rows.append((code, pd.NA, "unmapped"))
    bad_manual = sorted(v for v in manual.values() if v not in target_codes)
    if bad_manual:
        raise ValueError(
            f"harmonise.manual_mappings maps to codes {bad_manual} that are not on the "
            f"{target} map; use codes from that map"
        )
    return pd.DataFrame(rows, columns=["source_code", "target_code", "how"]).astype("string")


def read_registry_files(paths: list[Path]) -> list[pd.DataFrame]:
    """Read raw unit lists (used by the demo to calibrate on the real units)."""
    return [read_table(p) for p in paths]


__all__ = [
    "CHANGE_COLUMNS",
    "CHANGE_KINDS",
    "MAP_COLUMNS",
    "DataValidationError",
    "Registry",
    "crosswalk",
    "load_registry",
]
