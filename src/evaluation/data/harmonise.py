"""Express every record on one commune map, through the change table.

A ballot dated in a commune after that commune was dissolved is mapped to the unit that absorbed
it. A merged unit whose parts had different pilot status is flagged and handled as
``harmonise.mixed_pilot`` says (drop, count as pilot, or keep the pilot share), never silently
mixed. Records are never lost or duplicated without being counted in the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.config import HarmoniseParams
from evaluation.data.registry import Registry, crosswalk
from evaluation.data.schemas import ADMIN_COUNTS


class HarmonisationError(ValueError):
    """Records that cannot be placed on the target map under the chosen rules."""


@dataclass(frozen=True)
class Harmonised:
    """Inputs on one map.

    Attributes
    ----------
    communes : DataFrame
        One row per unit of the target map with district, type, ``pilot`` (bool),
        ``start_date``, ``pilot_share``, ``mixed_pilot`` (bool), ``parts`` (source codes).
    ballots, admin, costs : DataFrame
        Records with ``commune_code`` on the target map (``source_code`` keeps the original).
    report : DataFrame
        One row per source code: where it went, how, and how many records it carried.
    """

    communes: pd.DataFrame
    ballots: pd.DataFrame
    admin: pd.DataFrame | None
    costs: pd.DataFrame | None
    report: pd.DataFrame


def harmonise_rollout(
    rollout: pd.DataFrame,
    registry: Registry,
    params: HarmoniseParams,
    households: pd.Series | None = None,
) -> pd.DataFrame:
    """Pilot status per unit of the target map.

    Parameters
    ----------
    rollout : DataFrame
        ``commune_code`` (any map), ``start_date`` (NaT = not yet).
    households : Series, optional
        Households per source code, to weight ``pilot_share``; equal weights when missing.
    """
    walk = crosswalk(registry, params.target_map, params.manual_mappings).set_index("source_code")
    target = registry.maps[params.target_map].copy()
    starts = rollout.set_index("commune_code")["start_date"]
    rows = []
    for code in target["commune_code"]:
        parts = sorted(walk.index[walk["target_code"] == code])
        part_starts = pd.Series({p: starts.get(p, pd.NaT) for p in parts}, dtype="datetime64[ns]")
        listed = [p for p in parts if p in starts.index]
        if not listed:
            rows.append((code, pd.NaT, 0.0, False, ",".join(parts)))
            continue
        # Only the parts that still existed when the unit started can differ in status: a part
        # dissolved before the start (Đồng Lý, gone 2020-01-01) cannot be in a 2021 calendar.
        earliest = part_starts.min()
        if pd.notna(earliest):
            in_force = set(registry.map_at(earliest)["commune_code"])
            part_starts = part_starts[[p in in_force for p in part_starts.index]]
        weights = (
            households.reindex(part_starts.index)
            .fillna(households.reindex(parts).mean())
            .fillna(1.0)
            if households is not None
            else pd.Series(1.0, index=part_starts.index)
        )
        # Parts absent from the rollout calendar count as not started.
        distinct = set(part_starts.dropna().dt.date) | (
            {None} if part_starts.isna().any() else set()
        )
        mixed = len(distinct) > 1
        first_wave_pilots = part_starts == earliest
        share = (
            float(weights[first_wave_pilots.to_numpy()].sum() / weights.sum())
            if pd.notna(earliest)
            else 0.0
        )
        rows.append(
            (code, earliest, share if mixed else float(pd.notna(earliest)), mixed, ",".join(parts))
        )
    out = pd.DataFrame(
        rows, columns=["commune_code", "start_date", "pilot_share", "mixed_pilot", "parts"]
    )
    out["commune_code"] = out["commune_code"].astype("string")
    out = target.merge(out, on="commune_code", how="left")
    out["drop_mixed"] = out["mixed_pilot"] & (params.mixed_pilot == "drop")
    if params.mixed_pilot == "pilot":
        out["pilot_share"] = out["pilot_share"].where(~out["mixed_pilot"], 1.0)
    return out


def map_records(
    records: pd.DataFrame,
    registry: Registry,
    params: HarmoniseParams,
    what: str,
    date_column: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace ``commune_code`` by its code on the target map.

    Returns the mapped records (``source_code`` keeps the original code; ``after_dissolution``
    marks records dated after their unit had left the map) and a per-source-code report.
    Unmapped records are dropped or raise :class:`HarmonisationError`, per
    ``params.unmapped_dissolved``.
    """
    walk = crosswalk(registry, params.target_map, params.manual_mappings).set_index("source_code")
    out = records.rename(columns={"commune_code": "source_code"}).copy()
    out["commune_code"] = out["source_code"].map(walk["target_code"]).astype("string")
    out["how"] = out["source_code"].map(walk["how"]).astype("string")
    out["after_dissolution"] = False
    if date_column is not None:
        # Which map was in force on each record's date (vectorised: a few maps, many records).
        starts = pd.to_datetime(pd.Series(registry.dates)).to_numpy()
        which = np.clip(
            np.searchsorted(starts, out[date_column].to_numpy(), side="right") - 1, 0, None
        )
        for position, map_date in enumerate(registry.dates):
            rows = which == position
            codes = set(registry.maps[map_date]["commune_code"])
            out.loc[rows, "after_dissolution"] = ~out.loc[rows, "source_code"].isin(codes)
    unmapped = out["commune_code"].isna()
    report = (
        out.groupby(["source_code", "how"], dropna=False)
        .agg(
            target_code=("commune_code", "first"),
            records=("source_code", "size"),
            after_dissolution=("after_dissolution", "sum"),
        )
        .reset_index()
        .assign(table=what)
    )
    report["action"] = "kept"
    report.loc[report["target_code"].isna(), "action"] = "dropped: absorbing unit unknown"
    if unmapped.any() and params.unmapped_dissolved == "error":
        codes = sorted(set(out.loc[unmapped, "source_code"]))
        raise HarmonisationError(
            f"{what}: {int(unmapped.sum())} records in units {codes} cannot be placed on the "
            f"{params.target_map} map (dissolved into a neighbour the change table does not name). "
            "Add their absorbing unit to harmonise.manual_mappings, or set "
            "harmonise.unmapped_dissolved: drop"
        )
    return out.loc[~unmapped].copy(), report


def harmonise(
    registry: Registry,
    rollout: pd.DataFrame,
    ballots: pd.DataFrame,
    params: HarmoniseParams,
    admin: pd.DataFrame | None = None,
    costs: pd.DataFrame | None = None,
) -> Harmonised:
    """Put the rollout calendar, ballots, admin indicators and costs on the target map."""
    households = None
    if admin is not None and "households_total" in admin:
        households = admin.groupby("commune_code")["households_total"].first()
    communes = harmonise_rollout(rollout, registry, params, households)
    mapped_ballots, report = map_records(ballots, registry, params, "ballots", "survey_date")
    reports = [report]
    mapped_admin = mapped_costs = None
    if admin is not None:
        mapped_admin, rep = map_records(admin, registry, params, "admin")
        reports.append(rep)
        # Months -> quarters: flows add up, stocks (staff, households) are averaged; then the
        # parts of a merged unit add up.
        how = {c: ("mean" if c in _STOCKS else "sum") for c in mapped_admin if c in _ADDITIVE}
        per_part = mapped_admin.groupby(["source_code", "commune_code", "wave"]).agg(how)
        mapped_admin = per_part.groupby(["commune_code", "wave"]).sum(min_count=1).reset_index()
    if costs is not None:
        mapped_costs, rep = map_records(costs, registry, params, "costs")
        reports.append(rep)
        mapped_costs = mapped_costs.groupby(["commune_code", "item"], as_index=False)[
            ["setup_vnd", "yearly_vnd"]
        ].sum()
    dropped_units = set(communes.loc[communes["drop_mixed"], "commune_code"])
    mapped_ballots["dropped_mixed_pilot"] = mapped_ballots["commune_code"].isin(dropped_units)
    return Harmonised(
        communes=communes,
        ballots=mapped_ballots,
        admin=mapped_admin,
        costs=mapped_costs,
        report=pd.concat(reports, ignore_index=True),
    )


#: Stock counts are averaged over a quarter's months; every other admin count is a flow and adds up.
_STOCKS = ("one_stop_staff", "officials_trained", "households_total", "ballot_roster")
_ADDITIVE = ADMIN_COUNTS
