"""What the board needs to know and decide: the summary page's question (``00_summary``).

The summary estimates nothing. It reads what the other pages of the run wrote — ``results.json``
(each page's key numbers), ``results/<analysis>.json`` (typed results), the tables the scaling
page wrote and the prepared data — and assembles the facts of the board's story:

* :func:`review_proposals` -- what the data say about the review's own proposals (capable staff
  at the one-stop shop, condolence letters on time): the where-it-works page's test of each;
* :func:`later_waves` -- what happened as more communes adopted (page 07);
* :func:`next_step` -- the named communes, cost, households gained per year, the unspent budget
  and the trade-off of applying the conditions or not (page 06);
* :func:`review_topics` -- what the data cannot tell (officials' awareness, rewards) and which
  optional fields of the data contract would measure it.

:func:`collect` is the only reader of files; every other function is pure and takes a
:class:`RunOutputs`, so tests build one by hand.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from evaluation.analysis.base import load_result
from evaluation.prepare import Prepared

__all__ = [
    "PROPOSALS",
    "REVIEW_TOPICS",
    "LaterWaves",
    "NextStep",
    "PlanOption",
    "ProposalFinding",
    "RunOutputs",
    "TopicMeasure",
    "collect",
    "later_waves",
    "next_step",
    "review_proposals",
    "review_topics",
]

#: Tables of the scaling page (06) that price the options.
SCALING_TABLES = ("cost_effectiveness", "scaling_conditions", "rollout_plan", "stepped_wedge")
#: The review's proposals and the commune characteristic (measured before the pilot) on which
#: page 05 tests whether the effect differs.
PROPOSALS = {
    "one_stop_staff": "baseline_one_stop_staff_per_1000",
    "condolence_on_time": "baseline_pct_condolence_on_time",
}
#: Questions the review raised that the core data do not measure, and the optional fields of the
#: data contract (``data/README.md``) that would: (file, column).
REVIEW_TOPICS = {
    "awareness": (("admin", "officials_trained"), ("ballots", "officials_understand_model")),
    "rewards": (("admin", "rewards_given"),),
}
#: The summary page's own name.
PAGE = "00_summary"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class RunOutputs:
    """What the other pages of one run wrote, as the summary reads it.

    Attributes
    ----------
    results : dict
        ``results.json`` (key numbers each page wrote with ``ctx.update_results``).
    effects : DataFrame or None
        ``tables/effects.csv`` (every estimate, tidy columns), None if absent.
    coverage : DataFrame or None
        ``tables/coverage_by_commune_wave.csv`` (data-quality page), None if absent.
    figures : dict
        Figure name -> (PNG path, alt text) for every figure saved under ``figures/``.
    findings : dict
        Page name -> its one-line finding (``findings/<page>.txt``), this page excluded.
    tables : dict
        The scaling page's tables (:data:`SCALING_TABLES`) that exist, by name.
    period_labels : dict
        Period code (as text) -> data label (``2021Q1``), from the rollout page's typed result.
    alpha : float
        ``analysis.alpha`` of the run.
    panel : bool
        A generic panel's run (sentences from ``summary_panel.*`` with the data's nouns).
    nouns : dict
        Language -> the data's nouns (a panel's units, treated units, periods).
    smallest_ballot_cell : int or None
        :func:`smallest_ballot_cell` of the run's data (None: not known or no ballots).
    min_cell_ballots : int
        ``report.min_cell_ballots``: below it the board's pages suppress ballot-based numbers.
    """

    results: dict = field(default_factory=dict)
    effects: pd.DataFrame | None = None
    coverage: pd.DataFrame | None = None
    figures: dict[str, tuple[Path, str]] = field(default_factory=dict)
    findings: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    period_labels: dict[str, str] = field(default_factory=dict)
    alpha: float = 0.05
    panel: bool = False
    nouns: dict[str, dict[str, str]] = field(default_factory=dict)
    smallest_ballot_cell: int | None = None
    min_cell_ballots: int = 10

    @property
    def suppressed(self) -> bool:
        """The headline rests on fewer ballots than ``min_cell_ballots`` in some group."""
        return self.smallest_ballot_cell is not None and (
            self.smallest_ballot_cell < self.min_cell_ballots
        )

    @property
    def level(self) -> str:
        """The confidence level of every interval in the run (``95`` for ``analysis.alpha`` 0.05)."""
        return f"{100 * (1 - self.alpha):g}"

    @property
    def headline(self) -> dict:
        """The effects page's headline numbers (empty when that page did not run)."""
        value = self.results.get("headline")
        return value if isinstance(value, dict) and "estimate" in value else {}

    def section(self, key: str) -> dict | None:
        """``results[key]`` when it is a non-empty dict, else None (its page did not run)."""
        value = self.results.get(key)
        return value if isinstance(value, dict) and value else None


def collect(run_dir: str | Path, prepared: Prepared | None = None) -> RunOutputs:
    """Read what the other pages of the run in ``run_dir`` wrote (missing files are None/empty).

    With ``prepared`` (the run's data), the smallest ballot group behind the headline is counted
    too, so the board's pages can suppress small cells. ``nouns`` stays empty: the words for a
    panel's units are the report's to add.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run_dir {str(run_dir)!r} is not a folder; pass the run folder")
    results_path = run_dir / "results.json"
    results = json.loads(results_path.read_text("utf-8")) if results_path.is_file() else {}
    tables = run_dir / "tables"
    effects_path = tables / "effects.csv"
    effects = pd.read_csv(effects_path, dtype={"term": str}) if effects_path.is_file() else None
    coverage_path = tables / "coverage_by_commune_wave.csv"
    coverage = (
        pd.read_csv(coverage_path, dtype={"commune_code": str}) if coverage_path.is_file() else None
    )
    folder = run_dir / "figures"
    alts_path = folder / "alt_text.json"
    alts = json.loads(alts_path.read_text("utf-8")) if alts_path.is_file() else {}
    figures = {
        name: (folder / f"{name}.png", str(alt))
        for name, alt in alts.items()
        if (folder / f"{name}.png").is_file()
    }
    findings = {
        path.stem: path.read_text("utf-8").strip()
        for path in sorted((run_dir / "findings").glob("*.txt"))
        if path.stem != PAGE
    }
    scaling_tables = {
        name: pd.read_csv(tables / f"{name}.csv", dtype={"commune_code": str})
        for name in SCALING_TABLES
        if (tables / f"{name}.csv").is_file()
    }
    rollout = load_result(run_dir, "rollout")
    labels = {}
    if isinstance(rollout, dict) and isinstance(rollout.get("design"), dict):
        labels = {str(k): str(v) for k, v in (rollout["design"].get("period_labels") or {}).items()}
    params_path = run_dir / "params.yaml"
    tree = yaml.safe_load(params_path.read_text("utf-8")) if params_path.is_file() else {}
    alpha = float(((tree or {}).get("analysis") or {}).get("alpha", 0.05))
    panel = ((tree or {}).get("data") or {}).get("source") == "panel"
    min_cell = int(((tree or {}).get("report") or {}).get("min_cell_ballots", 10))
    return RunOutputs(
        smallest_ballot_cell=None if prepared is None else smallest_ballot_cell(prepared),
        min_cell_ballots=min_cell,
        results=results,
        effects=effects,
        coverage=coverage,
        figures=figures,
        findings=findings,
        tables=scaling_tables,
        period_labels=labels,
        alpha=alpha,
        panel=panel,
    )


# -- where it works: the review's proposals --------------------------------------------------


@dataclass(frozen=True)
class ProposalFinding:
    """What page 05 found for one of the review's proposals.

    Attributes
    ----------
    proposal : str
        A key of :data:`PROPOSALS`.
    moderator : str
        The characteristic tested (before the pilot).
    tested : bool
        False when page 05 did not test it (not in the data, or page 05 did not run).
    direction : str
        ``larger`` or ``smaller``: where the characteristic was higher, the effect was ...
    p_adjusted : float or None
        The p-value adjusted for the several characteristics tested (page 05's Holm column).
    clear : bool
        ``p_adjusted < alpha``.
    """

    proposal: str
    moderator: str
    tested: bool
    direction: str = ""
    p_adjusted: float | None = None
    clear: bool = False


def review_proposals(outputs: RunOutputs) -> list[ProposalFinding]:
    """Page 05's test of each proposal of the review (:data:`PROPOSALS`), headline outcome first."""
    ww = outputs.section("where_it_works") or {}
    rows = [r for r in ww.get("interactions") or [] if isinstance(r, dict)]
    outcome = outputs.headline.get("outcome") or ww.get("outcome")
    found = []
    for proposal, moderator in PROPOSALS.items():
        mine = [r for r in rows if r.get("moderator") == moderator]
        row = next((r for r in mine if r.get("outcome") == outcome), mine[0] if mine else None)
        if row is None or not _finite(row.get("slope")):
            found.append(ProposalFinding(proposal, moderator, tested=False))
            continue
        p = row.get("p_holm")
        found.append(
            ProposalFinding(
                proposal,
                moderator,
                tested=True,
                direction="larger" if float(row["slope"]) >= 0 else "smaller",
                p_adjusted=float(p) if _finite(p) else None,
                clear=_finite(p) and float(p) < outputs.alpha,
            )
        )
    return found


# -- what happened as more communes adopted -------------------------------------------------


@dataclass(frozen=True)
class LaterWaves:
    """Page 07's answer: did later adopters gain as much as the pilots?

    Attributes
    ----------
    n_later : int
        Units in the cohorts after the first.
    first_period, last_period : str
        Data labels (``2021Q1``) of the first and last later cohort.
    n_waves : int
        Later cohorts.
    share_of_pilot : float or None
        Later cohorts' effect as a share of the pilots', at equal time since adoption.
    periods_compared : int or None
        Periods since adoption over which the two are compared.
    verdict : str or None
        ``as_much``, ``less``, ``none`` or ``pilot_none`` (None: not compared).
    """

    n_later: int
    first_period: str
    last_period: str
    n_waves: int
    share_of_pilot: float | None
    periods_compared: int | None
    verdict: str | None


def later_waves(outputs: RunOutputs) -> LaterWaves | None:
    """The later cohorts and their share of the pilots' effect (None: no later cohorts or page
    07 did not run)."""
    rw = outputs.section("rollout_waves")
    if rw is None:
        return None
    cohorts, sizes = rw.get("cohorts") or [], rw.get("units_by_cohort") or []
    if len(cohorts) < 2 or len(sizes) != len(cohorts):
        return None

    def label(code: Any) -> str:
        key = f"{float(code):g}"
        return outputs.period_labels.get(key, key)

    share = rw.get("later_share_of_pilot")
    waves = rw.get("equal_exposure_waves")
    return LaterWaves(
        n_later=int(sum(sizes[1:])),
        first_period=label(cohorts[1]),
        last_period=label(cohorts[-1]),
        n_waves=len(cohorts) - 1,
        share_of_pilot=float(share) if _finite(share) else None,
        periods_compared=int(waves) if _finite(waves) else None,
        verdict=rw.get("verdict"),
    )


# -- what next --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanOption:
    """One priced option of the decision.

    Attributes
    ----------
    option : str
        ``stop`` (keep the pilots only), ``conditions_all`` (every unit that meets the
        conditions, whatever the cost), ``conditions_budget`` (within the budget, among units
        that meet the conditions), ``no_conditions_budget`` (within the budget, any candidate).
    n_units : int or None
    names : tuple of str
        The units chosen, in starting order (empty when not listed).
    cost_vnd : float or None
        Present-value cost over the horizon.
    gain_per_year : float or None
        Additional satisfied households each year the model runs.
    unspent_vnd : float or None
        Budget left (negative: over budget).
    """

    option: str
    n_units: int | None
    names: tuple[str, ...] = ()
    cost_vnd: float | None = None
    gain_per_year: float | None = None
    unspent_vnd: float | None = None


@dataclass(frozen=True)
class NextStep:
    """Page 06's decision, priced.

    Attributes
    ----------
    budget_vnd : float
    horizon_years : int
    options : list of PlanOption
        In the order shown; ``conditions_all`` only when it differs from the budget plan.
    n_have_conditions : int or None
        Candidates that meet every condition.
    n_candidates : int or None
    failures : dict
        Condition -> candidates that fail it.
    wedge_steps : int or None
        Randomised steps of the recommended start order (None: page 06 drew none).
    n_needed : int or None
        New units needed to measure the effect in the next phase (80% power).
    """

    budget_vnd: float
    horizon_years: int
    options: list[PlanOption]
    n_have_conditions: int | None
    n_candidates: int | None
    failures: dict[str, int]
    wedge_steps: int | None
    n_needed: int | None

    def option(self, key: str) -> PlanOption | None:
        """The option ``key`` (None when not priced)."""
        return next((o for o in self.options if o.option == key), None)


def _names(frame: pd.DataFrame | None) -> tuple[str, ...]:
    if frame is None or "commune_name" not in frame:
        return ()
    ordered = frame.sort_values("order") if "order" in frame else frame
    return tuple(str(n) for n in ordered["commune_name"])


def _total(frame: pd.DataFrame | None, column: str) -> float | None:
    if frame is None or column not in frame:
        return None
    return float(pd.to_numeric(frame[column], errors="coerce").sum())


def next_step(outputs: RunOutputs, horizon_years: int) -> NextStep | None:
    """The options priced from page 06's key numbers and tables (None: page 06 did not run).

    Nothing is re-estimated: totals of the per-unit costs and gains page 06 saved.
    """
    scaling = outputs.section("scaling")
    if scaling is None:
        return None
    budget = float(scaling.get("budget_vnd") or 0.0)
    pilots = outputs.headline.get("n_pilot")
    options = [
        PlanOption(
            "stop", int(pilots) if _finite(pilots) else None, cost_vnd=0.0, gain_per_year=0.0
        )
    ]
    plan = outputs.tables.get("rollout_plan")
    plan_cost, plan_gain = scaling.get("plan_total_cost_vnd"), scaling.get("plan_total_gain")
    screened = scaling.get("plan_pool") == "has_conditions"
    ce, screen = outputs.tables.get("cost_effectiveness"), outputs.tables.get("scaling_conditions")
    if screened and ce is not None and screen is not None and "has_conditions" in screen:
        ready = set(screen.loc[screen["has_conditions"].astype(bool), "commune_code"])
        chosen = ce[ce["commune_code"].isin(ready)]
        every = PlanOption(
            "conditions_all",
            len(chosen),
            names=tuple(str(n) for n in chosen.get("commune_name", [])),
            cost_vnd=_total(chosen, "pv_cost"),
            gain_per_year=_total(chosen, "additional_satisfied_households"),
        )
        if every.cost_vnd is not None:
            every = PlanOption(**{**every.__dict__, "unspent_vnd": budget - every.cost_vnd})
        if plan is None or set(chosen["commune_code"]) != set(plan["commune_code"]):
            options.append(every)  # differs from the budget plan: the budget binds
    if _finite(plan_cost):
        options.append(
            PlanOption(
                "conditions_budget" if screened else "no_conditions_budget",
                scaling.get("plan_n_communes"),
                names=_names(plan),
                cost_vnd=float(plan_cost),
                gain_per_year=float(plan_gain) if _finite(plan_gain) else None,
                unspent_vnd=budget - float(plan_cost),
            )
        )
    alt_cost = scaling.get("alternative_total_cost_vnd")
    if screened and _finite(alt_cost):
        alt_gain = scaling.get("alternative_total_gain")
        options.append(
            PlanOption(
                "no_conditions_budget",
                scaling.get("alternative_n_communes"),
                names=tuple(scaling.get("alternative_communes") or ()),
                cost_vnd=float(alt_cost),
                gain_per_year=float(alt_gain) if _finite(alt_gain) else None,
                unspent_vnd=budget - float(alt_cost),
            )
        )
    steps = scaling.get("rollout_steps") if scaling.get("wedge_n_units") else None
    needed = scaling.get("new_communes_needed_80pct")
    n_have = scaling.get("n_have_conditions")
    n_candidates = scaling.get("n_candidates")
    return NextStep(
        budget_vnd=budget,
        horizon_years=int(horizon_years),
        options=options,
        n_have_conditions=int(n_have) if _finite(n_have) else None,
        n_candidates=int(n_candidates) if _finite(n_candidates) else None,
        failures={str(k): int(v) for k, v in (scaling.get("conditions_failures") or {}).items()},
        wedge_steps=int(steps) if _finite(steps) else None,
        n_needed=int(needed) if _finite(needed) else None,
    )


# -- what the data cannot tell ----------------------------------------------------------------


@dataclass(frozen=True)
class TopicMeasure:
    """Whether the data measure one of the review's other topics (:data:`REVIEW_TOPICS`).

    Attributes
    ----------
    topic : str
        ``awareness`` or ``rewards``.
    fields : tuple of (str, str)
        (file, column) of the contract that would measure it.
    measured : tuple of str
        The columns of ``fields`` present (with values) in this run's data.
    pilot_mean, other_mean : float or None
        Mean of the first measured column in the pilot and the other units over the data's last
        period (descriptive only: not an effect).
    column : str or None
        The column those means are of.
    smallest_group : int or None
        Rows behind the smaller of the two means (ballots, for a ballot item).
    """

    topic: str
    fields: tuple[tuple[str, str], ...]
    measured: tuple[str, ...] = ()
    pilot_mean: float | None = None
    other_mean: float | None = None
    column: str | None = None
    smallest_group: int | None = None


def _column_values(prepared: Prepared, source: str, column: str) -> pd.DataFrame | None:
    """``commune_code, pilot, <column>`` rows of the last period that has the column."""
    frame = prepared.ballots if source == "ballots" else prepared.panel
    if frame is None or column not in frame or "pilot" not in frame:
        return None
    values = frame[["commune_code", "wave", "pilot", column]].dropna(subset=[column])
    if values.empty:
        return None
    return values[values["wave"] == values["wave"].max()]


def smallest_ballot_cell(prepared: Prepared) -> int | None:
    """Fewest ballots behind the headline comparison in any of its four groups (pilot or other,
    before or after the start; None when the data have no ballots or no such group).

    The board's pages show no number resting on fewer than ``report.min_cell_ballots``.
    """
    from evaluation.analysis import sample

    if prepared.ballots is None or prepared.ballots.empty:
        return None
    ballots = sample.window_ballots(prepared)
    counts = ballots.groupby(["pilot", "post"]).size()
    return int(counts.min()) if len(counts) else None


def review_topics(prepared: Prepared) -> list[TopicMeasure]:
    """For each topic of :data:`REVIEW_TOPICS`: measured or not; if so, pilot vs other means."""
    out = []
    for topic, fields in REVIEW_TOPICS.items():
        measured, first = [], None
        for source, column in fields:
            values = _column_values(prepared, source, column)
            if values is not None:
                measured.append(column)
                first = first or (column, values)
        if first is None:
            out.append(TopicMeasure(topic, fields))
            continue
        column, values = first
        groups = values.groupby(values["pilot"].astype(bool))[column]
        by_pilot, sizes = groups.mean(), groups.size()
        out.append(
            TopicMeasure(
                topic,
                fields,
                measured=tuple(measured),
                pilot_mean=float(by_pilot[True]) if True in by_pilot else None,
                other_mean=float(by_pilot[False]) if False in by_pilot else None,
                column=column,
                smallest_group=int(sizes.min()),
            )
        )
    return out
