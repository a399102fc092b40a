"""What the data in hand offer, counted once: the facts every requirement is checked against."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from evaluation.analysis import sample
from evaluation.config import Params
from evaluation.prepare import Prepared


@dataclass(frozen=True)
class DataFacts:
    """Counts that decide which analyses the data can support.

    Unit counts are over units with at least one row in the comparison window (mixed-status
    units left out); "treated" units are those whose first treated period is the pilot's
    (inside the window they are the only treated ones).
    """

    contract: str  # "hanam" (ballots, admin, costs on a commune map) or "panel"
    n_units: int
    n_treated: int
    n_comparison: int
    n_clusters: int
    n_treated_clusters: int
    n_never_treated: int
    n_later_cohorts: int
    n_pre_periods: int
    n_post_periods: int
    has_ballots: bool
    ballot_waves_before: int
    ballot_waves_after: int
    ballot_treated_units: int
    ballot_comparison_units: int
    has_admin: bool
    has_costs: bool
    covariates: tuple[str, ...]
    covariates_requested: tuple[str, ...]
    outcomes: tuple[str, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def data_facts(prepared: Prepared, params: Params) -> DataFacts:
    """Count what ``prepared`` offers under ``params`` (cheap: group-bys on the panel)."""
    meta = prepared.meta
    pilot_wave = meta["pilot_wave"]
    panel = prepared.in_window(prepared.panel)
    units = panel.groupby("commune_code")["pilot"].first().astype(bool)
    cluster = sample.cluster_column(prepared, params)
    if cluster in panel:
        by_cluster = panel.groupby(cluster)["pilot"].max().astype(bool)
        n_clusters, n_treated_clusters = int(len(by_cluster)), int(by_cluster.sum())
    else:
        n_clusters, n_treated_clusters = int(len(units)), int(units.sum())
    waves = panel["wave_index"]
    first = prepared.communes["first_treated_wave"]
    later = first[first > pilot_wave].dropna()
    before = after = treated_b = comparison_b = 0
    has_ballots = prepared.ballots is not None and len(prepared.ballots) > 0
    if has_ballots:
        ballots = prepared.in_window(prepared.ballots)
        ballot_waves = pd.Series(ballots["wave_index"].unique())
        before = int((ballot_waves < pilot_wave).sum())
        after = int((ballot_waves >= pilot_wave).sum())
        by_unit = ballots.groupby("commune_code")["pilot"].first().astype(bool)
        treated_b, comparison_b = int(by_unit.sum()), int((~by_unit).sum())
    return DataFacts(
        contract="panel" if sample.is_panel(prepared) else "hanam",
        n_units=int(len(units)),
        n_treated=int(units.sum()),
        n_comparison=int((~units).sum()),
        n_clusters=n_clusters,
        n_treated_clusters=n_treated_clusters,
        n_never_treated=int(first.isna().sum()),
        n_later_cohorts=int(later.nunique()),
        n_pre_periods=int((pd.Series(waves.unique()) < pilot_wave).sum()),
        n_post_periods=int((pd.Series(waves.unique()) >= pilot_wave).sum()),
        has_ballots=has_ballots,
        ballot_waves_before=before,
        ballot_waves_after=after,
        ballot_treated_units=treated_b,
        ballot_comparison_units=comparison_b,
        has_admin=prepared.has_admin,
        has_costs=prepared.has_costs,
        covariates=tuple(sample.covariates(prepared, params)),
        covariates_requested=tuple(sample.requested_covariates(prepared, params)),
        outcomes=tuple(
            c for c in prepared.panel.columns if pd.api.types.is_numeric_dtype(prepared.panel[c])
        ),
    )
