"""What came in, and how good it is (page 01).

The analyses count what the prepared data hold (units, treated units, periods, rows, missing
outcome values), how many households the ballots reached, how Hà Nam's 2020 map change was
handled, how consistent each ballot factor's questions are and where the pilots are. Sections
about Hà Nam's contract declare it (Hà Nam-only requirements with this page's own sentences,
``BALLOTS``, ``ADMIN``), so a generic panel gets one sentence instead of a crash.

When the data fail validation the runner writes a prepared folder holding only the problems;
the page shows them and calls none of these analyses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.analysis import sample
from evaluation.analysis.base import NotApplicable, analysis
from evaluation.analysis.requirements import ADMIN, BALLOTS, Requirement
from evaluation.config import Params
from evaluation.prepare import Prepared

PAGE = "01_data_quality"


def _hanam_only(key: str) -> Requirement:
    """Hà Nam's contract, with a sentence of this page's own saying what a panel lacks."""
    return Requirement(key, lambda f: None if f.contract == "hanam" else {})


#: Ballot coverage needs ballots sent to a known roster of households.
SURVEY_ROSTER = _hanam_only("survey_roster")
#: The map change is recorded only for Hà Nam's commune map.
MAP_CHANGES = _hanam_only("map_changes")
#: Factor reliability needs ballots with several questions per factor.
SURVEY_FACTORS = _hanam_only("survey_factors")
#: Coverage below which a unit-wave counts as poorly reached (half the households).
LOW_COVERAGE = 0.5
#: Cronbach's alpha from which a factor's questions are read as consistent (Nunnally 1978).
ALPHA_CONSISTENT = 0.7
#: Columns of the coverage table saved as ``tables/coverage_by_commune_wave.csv``.
COVERAGE_COLUMNS = [
    "commune_code",
    "full_name",
    "district_name",
    "pilot",
    "wave",
    "n_ballots",
    "ballot_roster",
    "coverage",
]


@dataclass(frozen=True)
class Inputs:
    """What came in, counted.

    Attributes
    ----------
    contract : str
        ``"hanam"`` or ``"panel"``.
    n_units, n_treated : int
        Units of the (target) map and treated units (first treated in the first period).
    n_strata : int
        Districts (Hà Nam) or the panel's strata; 0 when a panel names none.
    n_ballots : int
        Ballots (Hà Nam) or individual rows (an individual-level panel); 0 otherwise.
    n_rows : int
        Unit-period rows.
    n_periods : int
    first_period, last_period, start_period, window_start, window_end : float
        Period indices (shown with :func:`evaluation.measures.period_label`).
    outcomes : pandas.DataFrame
        One row per outcome: ``outcome``, ``n_present``, ``n_missing``, ``share_missing`` over
        the unit-period rows.
    """

    contract: str
    n_units: int
    n_treated: int
    n_strata: int
    n_ballots: int
    n_rows: int
    n_periods: int
    first_period: float
    last_period: float
    start_period: float
    window_start: float
    window_end: float
    outcomes: pd.DataFrame


@dataclass(frozen=True)
class Coverage:
    """How many households the ballots reached (ballots returned / households on the roster).

    Attributes
    ----------
    summary : pandas.DataFrame
        By group (``pilot`` 0/1) and period (``after`` 0/1): ``ballots``, ``mean_coverage``,
        ``min_coverage``.
    by_wave : pandas.DataFrame
        Mean coverage per ``wave_index`` and ``pilot``.
    cells : pandas.DataFrame
        One row per commune and wave (:data:`COVERAGE_COLUMNS` present).
    mean_coverage : float
        Mean over commune-waves.
    n_low_cells : int
        Commune-waves that returned fewer than :data:`LOW_COVERAGE` of their ballots.
    """

    summary: pd.DataFrame
    by_wave: pd.DataFrame
    cells: pd.DataFrame
    mean_coverage: float
    n_low_cells: int


@dataclass(frozen=True)
class MapChange:
    """How the 2020 commune map change touched the ballots.

    Attributes
    ----------
    changes : pandas.DataFrame
        Ballot source codes the change touched: ``source_code``, ``how``, ``target_code``,
        ``records``, ``after_dissolution``, ``action``.
    mixed : pandas.DataFrame
        Merged units combining pilot and non-pilot parts.
    target_map : str
        The map everything is expressed on (ISO date).
    n_dropped : int
        Ballots dropped (dissolved units whose absorbing neighbour is unknown).
    """

    changes: pd.DataFrame
    mixed: pd.DataFrame
    target_map: str
    n_dropped: int


@dataclass(frozen=True)
class Reliability:
    """Cronbach's alpha per ballot factor: ``factor``, ``n_items``, ``cronbach_alpha``,
    ``consistent`` (alpha at least :data:`ALPHA_CONSISTENT`; False when undefined)."""

    table: pd.DataFrame


@dataclass(frozen=True)
class PilotsByDistrict:
    """Pilot and non-pilot communes per district: ``district``, ``pilot``, ``non_pilot``,
    ``total``."""

    table: pd.DataFrame


@dataclass(frozen=True)
class DataQuality:
    """Everything page 01 found, saved as ``results/data_quality.json``."""

    inputs: Inputs
    coverage: Coverage | NotApplicable
    map_change: MapChange | NotApplicable
    reliability: Reliability | NotApplicable
    districts: PilotsByDistrict | NotApplicable


def _contract(prepared: Prepared) -> str:
    return "panel" if sample.is_panel(prepared) else "hanam"


@analysis("data_quality.inputs", PAGE)
def inputs(prepared: Prepared, params: Params) -> Inputs:
    """Counts of what came in, and how complete each outcome is."""
    meta, panel = prepared.meta, prepared.panel
    names = meta.get("outcomes") or list(params.analysis.outcomes)
    names = [o for o in dict.fromkeys([params.analysis.headline_outcome, *names]) if o in panel]
    present = [int(panel[o].notna().sum()) for o in names]
    outcomes = pd.DataFrame(
        {
            "outcome": names,
            "n_present": present,
            "n_missing": [len(panel) - n for n in present],
            "share_missing": [1 - n / len(panel) if len(panel) else np.nan for n in present],
        }
    )
    strata = sample.strata_column(prepared, params) if sample.is_panel(prepared) else "district"
    n_strata = int(prepared.communes["district_name"].nunique()) if strata else 0
    return Inputs(
        contract=_contract(prepared),
        n_units=int(meta["n_communes"]),
        n_treated=int(meta["n_pilot"]),
        n_strata=n_strata,
        n_ballots=int(meta.get("n_ballots", 0)),
        n_rows=int(len(panel)),
        n_periods=int(meta["n_waves"]),
        first_period=float(panel["wave_index"].min()),
        last_period=float(panel["wave_index"].max()),
        start_period=float(meta["pilot_wave"]),
        window_start=float(meta["window_start"]),
        window_end=float(meta["window_end"]),
        outcomes=outcomes,
    )


@analysis("data_quality.coverage", PAGE, requires=(SURVEY_ROSTER, BALLOTS, ADMIN))
def coverage(prepared: Prepared, params: Params) -> Coverage | NotApplicable:
    """Ballot coverage per commune and wave, by group and period, and per wave."""
    panel = prepared.panel
    if "coverage" not in panel or panel["coverage"].notna().sum() == 0:
        return NotApplicable("data_quality.coverage", "ballot_roster", {"contract": "hanam"})
    frame = panel.assign(
        pilot=panel["pilot"].astype(bool).astype(int),
        after=(panel["wave_index"] >= prepared.meta["pilot_wave"]).astype(int),
    )
    summary = (
        frame.groupby(["pilot", "after"])
        .agg(
            ballots=("n_ballots", "sum"),
            mean_coverage=("coverage", "mean"),
            min_coverage=("coverage", "min"),
        )
        .reset_index()
        .sort_values(["pilot", "after"], ascending=[False, True])
        .reset_index(drop=True)
    )
    by_wave = frame.groupby(["wave_index", "pilot"])["coverage"].mean().reset_index()
    cells = panel[[c for c in COVERAGE_COLUMNS if c in panel]].copy()
    return Coverage(
        summary=summary,
        by_wave=by_wave,
        cells=cells,
        mean_coverage=float(panel["coverage"].mean()),
        n_low_cells=int((panel["coverage"] < LOW_COVERAGE).sum()),
    )


@analysis("data_quality.map_change", PAGE, requires=(MAP_CHANGES,))
def map_change(prepared: Prepared, params: Params) -> MapChange:
    """The ballots' source codes the map change touched, and merged units of mixed status."""
    report = prepared.harmonisation
    columns = ["source_code", "how", "target_code", "records", "after_dissolution", "action"]
    changes = pd.DataFrame(columns=columns)
    n_dropped = 0
    if report is not None and not report.empty:
        ballots = report[report["table"] == "ballots"]
        touched = ballots[(ballots["how"] != "same") | (ballots["after_dissolution"] > 0)]
        changes = touched[columns].reset_index(drop=True)
        n_dropped = int(ballots.loc[ballots["action"] != "kept", "records"].sum())
    c = prepared.communes
    mixed = pd.DataFrame(
        columns=["commune_code", "full_name", "parts", "pilot_share", "drop_mixed"]
    )
    if "mixed_pilot" in c:
        mixed = c.loc[c["mixed_pilot"].fillna(False).astype(bool), list(mixed.columns)]
    return MapChange(
        changes=changes,
        mixed=mixed.reset_index(drop=True),
        target_map=str(prepared.meta.get("target_map", params.harmonise.target_map.isoformat())),
        n_dropped=n_dropped,
    )


@analysis("data_quality.reliability", PAGE, requires=(SURVEY_FACTORS, BALLOTS))
def reliability(prepared: Prepared, params: Params) -> Reliability | NotApplicable:
    """Cronbach's alpha per factor, as prepared (``measures.factor_reliability``)."""
    rel = prepared.reliability
    if rel is None or rel.empty or rel["cronbach_alpha"].notna().sum() == 0:
        return NotApplicable(
            "data_quality.reliability", "reliability_answers", {"contract": "hanam"}
        )
    table = rel[["factor", "n_items", "cronbach_alpha"]].copy()
    table["consistent"] = table["cronbach_alpha"].fillna(-np.inf) >= ALPHA_CONSISTENT
    return Reliability(table=table.reset_index(drop=True))


@analysis("data_quality.districts", PAGE)
def pilots_by_district(prepared: Prepared, params: Params) -> PilotsByDistrict | NotApplicable:
    """Treated and comparison units per district (Hà Nam) or per stratum (``data.panel.strata``)."""
    if sample.is_panel(prepared) and sample.strata_column(prepared, params) is None:
        return NotApplicable("data_quality.districts", "panel_strata", {"contract": "panel"})
    c = prepared.communes
    pilot = c["pilot"].astype(bool)
    table = (
        pd.DataFrame({"district": c["district_name"], "pilot": pilot, "non_pilot": ~pilot})
        .groupby("district", sort=True)[["pilot", "non_pilot"]]
        .sum()
        .astype(int)
        .reset_index()
    )
    table["total"] = table["pilot"] + table["non_pilot"]
    return PilotsByDistrict(table=table)
