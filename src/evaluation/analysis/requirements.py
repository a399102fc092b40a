"""What an analysis needs from the data, declared rather than discovered by crashing.

Each :class:`Requirement` checks :class:`~evaluation.analysis.facts.DataFacts` and, when the
data fall short, returns the facts its sentence needs (``requirements.<key>`` in the messages).
Analyses list their requirements in :func:`evaluation.analysis.base.analysis`; ``validate``
and the runner list every section the data cannot support before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evaluation.analysis.facts import DataFacts


@dataclass(frozen=True)
class Requirement:
    """A named condition on the data.

    Parameters
    ----------
    key : str
        Message key under ``requirements.`` and the reason a :class:`NotApplicable` carries.
    check : callable
        ``facts -> None`` when met, else a dict of the numbers its sentence reports.
    """

    key: str
    check: Callable[[DataFacts], dict[str, Any] | None]

    def unmet(self, facts: DataFacts) -> dict[str, Any] | None:
        """None when the data meet the requirement; else the facts behind the shortfall."""
        found = self.check(facts)
        return None if found is None else {"contract": facts.contract, **found}


def _at_least(need: int, have: int, **more: Any) -> dict[str, Any] | None:
    return None if have >= need else {"need": need, "have": have, **more}


BALLOTS = Requirement("ballots", lambda f: None if f.has_ballots else {})
BALLOTS_BEFORE_AND_AFTER = Requirement(
    "ballots_before_and_after",
    lambda f: (
        None
        if f.ballot_waves_before >= 1 and f.ballot_waves_after >= 1
        else {"before": f.ballot_waves_before, "after": f.ballot_waves_after}
    ),
)
BALLOTS_BOTH_GROUPS = Requirement(
    "ballots_both_groups",
    lambda f: (
        None
        if f.ballot_treated_units >= 1 and f.ballot_comparison_units >= 1
        else {"treated": f.ballot_treated_units, "comparison": f.ballot_comparison_units}
    ),
)
ADMIN = Requirement("admin", lambda f: None if f.has_admin else {})
COSTS = Requirement("costs", lambda f: None if f.has_costs else {})
HANAM_CONTRACT = Requirement("hanam_contract", lambda f: None if f.contract == "hanam" else {})
COVARIATES = Requirement(
    "covariates",
    lambda f: None if f.covariates else {"requested": ", ".join(f.covariates_requested) or "–"},
)
NEVER_TREATED = Requirement(
    "never_treated", lambda f: None if f.n_never_treated >= 1 else {"have": 0}
)
LATER_COHORTS = Requirement(
    "later_cohorts", lambda f: None if f.n_later_cohorts >= 1 else {"have": f.n_later_cohorts}
)


def treated_units(need: int) -> Requirement:
    """At least ``need`` treated units in the comparison window."""
    return Requirement("treated_units", lambda f: _at_least(need, f.n_treated))


def comparison_units(need: int) -> Requirement:
    """At least ``need`` comparison (not yet treated) units in the comparison window."""
    return Requirement("comparison_units", lambda f: _at_least(need, f.n_comparison))


def treated_clusters(need: int) -> Requirement:
    """At least ``need`` clusters holding a treated unit (cluster-robust inference needs 2)."""
    return Requirement("treated_clusters", lambda f: _at_least(need, f.n_treated_clusters))


def pre_periods(need: int) -> Requirement:
    """At least ``need`` periods before the start inside the comparison window."""
    return Requirement("pre_periods", lambda f: _at_least(need, f.n_pre_periods))


def post_periods(need: int) -> Requirement:
    """At least ``need`` periods from the start on inside the comparison window."""
    return Requirement("post_periods", lambda f: _at_least(need, f.n_post_periods))


def outcome_present(outcome: str) -> Requirement:
    """The data hold the outcome column ``outcome``."""
    return Requirement(
        "outcome_present", lambda f: None if outcome in f.outcomes else {"outcome": outcome}
    )


#: What every difference-in-differences comparison needs, whatever the data source.
DID_DESIGN = (treated_units(1), comparison_units(1), pre_periods(1), post_periods(1))
