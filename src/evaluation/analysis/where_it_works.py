"""Where does the model work best? Effect heterogeneity by unit characteristics (page 05).

Moderators are characteristics of each unit measured **before** the start (means over the
periods before it), so that they are not themselves results of the model:

* from the administrative file (Hà Nam only, needs ``data.admin``): one-stop-shop staff per
  1,000 households, share of condolence letters sent on time, apology letters per 100 dossiers;
* the level of the outcome before the start: the satisfaction score before the pilot (Hà Nam:
  needs ballots before the start) or ``baseline_<outcome>`` of a generic panel;
* groups: commune type and district (Hà Nam), or the panel's strata (``data.panel.strata``).

Condolence and apology letters are part of the model itself, so their pilot-period values are
outcomes of the model: their interactions are described only and never used to predict.

Trust rule. Subgroup and interaction intervals are not covered by the headline's size check, so
this module measures the false-alarm rate of each interval's method on this design:

* continuous moderators: the CRV1 t(G-1) test of the interaction slope, by placebo and
  effect-removed simulations (:func:`~evaluation.inference.randomization.interaction_randomization`,
  ``inference.size_sims`` draws each); the interval is shown only when every rate lies in
  ``inference.size_band``, otherwise the randomisation-inference p-value is the test;
* groups (and thirds of a moderator): each group's pilots against every never-treated unit,
  CRV1 interval shown only when its measured size (:func:`~evaluation.inference.trust.measure_size`)
  lies in the band and the group holds more than :data:`WEAK_TREATED_MAX` pilots; the
  randomisation p-value re-assigns the group's pilots among its own units
  (:func:`~evaluation.inference.randomization.group_randomization_inference`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.analysis import sample
from evaluation.analysis.base import NotApplicable, analysis, first_unmet
from evaluation.analysis.facts import data_facts
from evaluation.analysis.requirements import (
    ADMIN,
    BALLOTS,
    BALLOTS_BEFORE_AND_AFTER,
    BALLOTS_BOTH_GROUPS,
    DID_DESIGN,
    Requirement,
    outcome_present,
    treated_units,
)
from evaluation.config import Params
from evaluation.estimators.heterogeneity import WEAK_TREATED_MAX, effect_by_moderator
from evaluation.estimators.result import EffectEstimate
from evaluation.estimators.twfe import twfe
from evaluation.inference.cluster_robust import crv1
from evaluation.inference.multiple_testing import holm
from evaluation.inference.randomization import (
    group_randomization_inference,
    interaction_randomization,
)
from evaluation.inference.trust import measure_size
from evaluation.prepare import Prepared
from evaluation.scaling.prediction import predict_effects

PAGE = "05_where_it_works"
UNIT, TIME, TREATMENT = "commune_code", "wave_index", "treated"

#: Fidelity measures of the model (unit-period columns of a Hà Nam panel with admin data).
FIDELITY = ("one_stop_staff_per_1000", "pct_condolence_on_time", "apology_per_100_dossiers")
#: Fidelity measures that the model itself changes: their pilot-period values are outcomes.
MODEL_PRACTICES = ("pct_condolence_on_time", "apology_per_100_dossiers")
#: Group moderators of the Hà Nam contract.
CATEGORICAL = ("commune_type", "district_name")
#: Outcomes the commune predictions are written for (the scaling page needs both).
PREDICTION_OUTCOMES = ("satisfaction_index", "pct_satisfied")
#: Thirds of the pilots by a baseline value (dose-response).
DOSE_BINS = 3
#: Columns of ``tables/commune_predictions.csv``.
PREDICTION_COLUMNS = [
    "commune_code",
    "commune_name",
    "district_name",
    "commune_type",
    "pilot",
    "outcome",
    "model",
    "moderator",
    "moderator_value",
    "predicted_effect",
    "std_error",
    "conf_low",
    "conf_high",
    "extrapolated",
]
#: Columns of a group table (:func:`group_effects_table`).
GROUP_COLUMNS = [
    "moderator",
    "outcome",
    "category",
    "estimate",
    "std_error",
    "conf_low",
    "conf_high",
    "p_value",
    "ri_p_value",
    "ri_assignments",
    "n_treated_communes",
    "n_communes",
    "n_obs",
    "n_clusters",
    "size_rate",
    "size_checked",
    "inference_weak",
    "show",
]

#: Commune types and administrative records exist only in the Hà Nam contract.
COMMUNE_DATA = Requirement(
    "where_it_works_commune_data", lambda f: None if f.contract == "hanam" else {}
)
#: An interaction needs at least three treated units (with one or two it is not estimable).
INTERACTION_PILOTS = treated_units(3)


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class InteractionResult:
    """Interaction of the treatment with continuous unit values (one model per value).

    Attributes
    ----------
    outcome : str
        Outcome of the models.
    kind : str
        ``"baseline"`` (values before the start; Holm over them; used for prediction) or
        ``"practice"`` (pilot-period practice; description only).
    table : pandas.DataFrame
        One row per moderator: ``moderator, outcome, effect, slope, slope_std_error, slope_low,
        slope_high, slope_p_value, slope_ri_p_value, size_placebo, size_effect_removed,
        slope_size, size_checked, test, test_p_value, slope_p_holm, centre, treated_min,
        treated_max, n_treated_communes``. ``slope_low/high`` and ``slope_p_value`` are the
        CRV1 interval and p-value, left empty unless ``size_checked``; ``test`` is ``"crv1"``
        when its size was inside the band, else ``"ri"``; ``slope_p_holm`` is Holm over
        ``test_p_value`` (the p-value of the test shown).
    dose : pandas.DataFrame
        Effect in each third of the pilots by each moderator (:data:`GROUP_COLUMNS` plus
        ``bin_low, bin_high, moderator_median``); empty for ``practice``.
    estimates : dict
        The interaction models (:class:`~evaluation.estimators.result.EffectEstimate`).
    skipped : tuple of NotApplicable
        Families of values the data cannot offer (no admin file, no values before the start).
    n_treated, n_sims : int
        Treated units in the models; draws of each size simulation.
    alpha : float
    size_band : tuple of float
    """

    outcome: str
    kind: str
    table: pd.DataFrame
    dose: pd.DataFrame
    estimates: dict[str, EffectEstimate]
    skipped: tuple[NotApplicable, ...]
    n_treated: int
    n_sims: int
    alpha: float
    size_band: tuple[float, float]

    def row(self, moderator: str) -> pd.Series:
        """The table row of ``moderator``."""
        return self.table.set_index("moderator").loc[moderator]

    def direction(self, moderator: str) -> str:
        """``"larger"``/``"smaller"`` where the value is higher when the shown test passes at
        ``alpha`` after Holm, else ``"unclear"``: the figure titles and the reading use this."""
        row = self.row(moderator)
        if not row["slope_p_holm"] < self.alpha:
            return "unclear"
        return "larger" if row["slope"] > 0 else "smaller"

    def strongest(self) -> pd.Series | None:
        """The moderator with the smallest adjusted p-value (None without any)."""
        if self.table.empty:
            return None
        return self.table.sort_values(["slope_p_holm", "test_p_value"]).iloc[0]


@dataclass(frozen=True)
class GroupResult:
    """Effect in each group of pilots (commune type, district, panel strata).

    Attributes
    ----------
    outcome : str
    tables : dict of str to pandas.DataFrame
        Per group moderator, :data:`GROUP_COLUMNS`.
    skipped : tuple of NotApplicable
        Group moderators the data cannot offer.
    n_sims : int
    alpha : float
    size_band : tuple of float
    """

    outcome: str
    tables: dict[str, pd.DataFrame]
    skipped: tuple[NotApplicable, ...]
    n_sims: int
    alpha: float
    size_band: tuple[float, float]

    @property
    def combined(self) -> pd.DataFrame:
        """Every group table stacked."""
        return pd.concat(self.tables.values(), ignore_index=True)


@dataclass(frozen=True)
class PredictionResult:
    """Predicted effect for every unit from the model chosen by the pre-stated rule.

    Attributes
    ----------
    outcome : str
        The headline outcome.
    chosen : str or None
        The baseline moderator used (None: every unit gets the average effect).
    predictions : pandas.DataFrame
        :data:`PREDICTION_COLUMNS`, one row per unit and outcome.
    summary : pandas.DataFrame
        Spread of the prediction over units not treated (:func:`prediction_summary`), one row
        per outcome.
    """

    outcome: str
    chosen: str | None
    predictions: pd.DataFrame
    summary: pd.DataFrame


@dataclass(frozen=True)
class WhereItWorks:
    """Everything page 05 found (saved as ``results/where_it_works.json``)."""

    outcome: str
    n_treated: int
    contract: str
    baseline: InteractionResult | NotApplicable
    practice: InteractionResult | NotApplicable
    groups: GroupResult | NotApplicable
    prediction: PredictionResult | NotApplicable


# --------------------------------------------------------------------------------------------
# Moderators


def outcome_requirements(prepared: Prepared, outcome: str) -> tuple[Requirement, ...]:
    """What the data need for any comparison on ``outcome``: ballots before and after in both
    groups for a ballot measure (Hà Nam), the admin file for an admin indicator."""
    needs: list[Requirement] = [outcome_present(outcome), *DID_DESIGN]
    if not sample.is_panel(prepared):
        if sample.is_ballot_outcome(outcome):
            needs += [BALLOTS, BALLOTS_BOTH_GROUPS, BALLOTS_BEFORE_AND_AFTER]
        elif outcome in FIDELITY:
            needs.append(ADMIN)
    return tuple(needs)


def _unmet(prepared: Prepared, params: Params, name: str, needs) -> NotApplicable | None:
    found = first_unmet(tuple(needs), prepared, params)
    return None if found is None else NotApplicable(name, found[0], found[1])


def commune_moderators(prepared: Prepared) -> pd.DataFrame:
    """One row per unit: name, district, type, baseline fidelity and level, pilot-period practice.

    ``baseline_<measure>`` is the unit's mean over the periods before the start;
    ``pilot_period_<measure>`` (condolence and apology letters only) its mean over the window's
    periods from the start on (an outcome of the model in pilot communes). A generic panel's
    ``baseline_<outcome>`` columns come from ``prepared.baseline``.
    """
    panel = prepared.panel.copy()
    panel["commune_code"] = panel["commune_code"].astype(str)
    pilot_wave = prepared.meta["pilot_wave"]
    info_cols = [
        c
        for c in ("full_name", "commune_name", "district_name", "commune_type", "pilot")
        if c in panel
    ]
    out = panel.groupby("commune_code")[info_cols].first()
    if "full_name" in out:
        out["commune_name"] = out["full_name"]
        out = out.drop(columns=["full_name"])
    elif "commune_name" not in out:
        out["commune_name"] = out.index
    pre = panel[panel["wave_index"] < pilot_wave]
    post = prepared.in_window(panel)
    post = post[post["wave_index"] >= pilot_wave]
    for col in FIDELITY:
        if col in panel and panel[col].notna().any():
            out[f"baseline_{col}"] = pre.groupby("commune_code")[col].mean()
            if col in MODEL_PRACTICES:
                out[f"pilot_period_{col}"] = post.groupby("commune_code")[col].mean()
    base = prepared.baseline
    if len(base) and "commune_code" in base:
        base = base.assign(commune_code=base["commune_code"].astype(str)).set_index("commune_code")
        for col in base.columns:
            if col.startswith("baseline_") and col not in out:
                out[col] = pd.to_numeric(base[col], errors="coerce")
    out["pilot"] = out["pilot"].astype(bool) if "pilot" in out else False
    return out.reset_index()


def moderator_panel(prepared: Prepared) -> pd.DataFrame:
    """The window's unit-period rows (:func:`~evaluation.analysis.sample.window_panel`) with the
    unit moderators attached."""
    frame = sample.window_panel(prepared)
    mods = commune_moderators(prepared)
    extra = [c for c in mods.columns if c not in frame.columns or c == "commune_code"]
    return frame.merge(mods[extra], on="commune_code", how="left")


def _varies_among_pilots(frame: pd.DataFrame, column: str, need: int = 2) -> bool:
    if column not in frame:
        return False
    pilots = frame.loc[frame["pilot"] > 0].groupby("commune_code")[column].first().dropna()
    return pilots.nunique() >= need


def level_moderator(prepared: Prepared, params: Params) -> str:
    """The outcome level before the start: the satisfaction score (Hà Nam) or
    ``baseline_<headline outcome>`` (generic panel)."""
    if sample.is_panel(prepared):
        return f"baseline_{params.analysis.headline_outcome}"
    return "baseline_index"


def baseline_moderators(
    prepared: Prepared, params: Params, frame: pd.DataFrame
) -> tuple[list[str], list[NotApplicable]]:
    """Baseline values usable as moderators, and why the missing families are missing."""
    name = "where_it_works.baseline_interactions"
    found: list[str] = []
    skipped: list[NotApplicable] = []
    admin = _unmet(prepared, params, name, (COMMUNE_DATA, ADMIN))
    if admin is None:
        found += [f"baseline_{c}" for c in FIDELITY if _varies_among_pilots(frame, f"baseline_{c}")]
    elif admin.reason == ADMIN.key:
        skipped.append(admin)
    level = level_moderator(prepared, params)
    level_needs = () if sample.is_panel(prepared) else (BALLOTS, BALLOTS_BEFORE_AND_AFTER)
    missing = _unmet(prepared, params, name, level_needs)
    if missing is not None:
        skipped.append(missing)
    elif _varies_among_pilots(frame, level, need=3):
        found.append(level)
    return found, skipped


def practice_moderators(frame: pd.DataFrame) -> list[str]:
    """Pilot-period practice moderators present and varying among pilots (descriptive only)."""
    names = [f"pilot_period_{c}" for c in MODEL_PRACTICES]
    return [c for c in names if _varies_among_pilots(frame, c, need=3)]


def group_moderators(prepared: Prepared, params: Params, frame: pd.DataFrame) -> list[str]:
    """Commune type and district (Hà Nam) or the panel's strata, when pilots span two groups."""
    if sample.is_panel(prepared):
        names = ["district_name"] if sample.strata_column(prepared, params) else []
    else:
        names = list(CATEGORICAL)
    return [c for c in names if _varies_among_pilots(frame, c)]


# --------------------------------------------------------------------------------------------
# Interactions


def moderator_estimate(
    frame: pd.DataFrame, prepared: Prepared, params: Params, outcome: str, moderator: str
) -> EffectEstimate:
    """TWFE DiD with the treatment interacted with one unit moderator (unit-period rows)."""
    return effect_by_moderator(
        frame,
        outcome,
        TREATMENT,
        unit=UNIT,
        time=TIME,
        moderator=moderator,
        cluster=sample.cluster_column(prepared, params),
        weights=sample.panel_weight(prepared, params, outcome),
        alpha=params.analysis.alpha,
    )


def interaction_table(
    estimates: dict[str, EffectEstimate],
    tests: dict,
    band: tuple[float, float],
) -> pd.DataFrame:
    """One row per moderator: the CRV1 fit, its measured size and the test shown (see
    :class:`InteractionResult`); Holm adjusts the shown tests' p-values over the moderators."""
    rows = []
    for moderator, est in estimates.items():
        fit, test = est.model, tests[moderator]
        slope = est.terms.iloc[1]
        checked = test.size_ok(band)
        rows.append(
            {
                "moderator": moderator,
                "outcome": est.outcome,
                "effect": est.estimate,
                "slope": float(slope["estimate"]),
                "slope_std_error": float(slope["std_error"]),
                "slope_low": float(slope["conf_low"]) if checked else np.nan,
                "slope_high": float(slope["conf_high"]) if checked else np.nan,
                "slope_p_value": float(slope["p_value"]) if checked else np.nan,
                "slope_ri_p_value": test.ri_p_value,
                "size_placebo": test.size_placebo,
                "size_effect_removed": test.size_effect_removed,
                "slope_size": test.worst_size,
                "size_checked": checked,
                "test": "crv1" if checked else "ri",
                "test_p_value": float(slope["p_value"]) if checked else test.ri_p_value,
                "centre": float(fit.centre),
                "treated_min": float(fit.treated_range[0]),
                "treated_max": float(fit.treated_range[1]),
                "n_treated_communes": int(est.n_treated_clusters),
            }
        )
    out = pd.DataFrame(rows)
    if len(out):
        out.insert(
            out.columns.get_loc("test_p_value") + 1, "slope_p_holm", holm(out["test_p_value"])
        )
    return out


def _interactions(
    prepared: Prepared,
    params: Params,
    outcome: str,
    moderators: Sequence[str],
    frame: pd.DataFrame,
) -> tuple[dict[str, EffectEstimate], dict]:
    cluster = sample.cluster_column(prepared, params)
    weights = sample.panel_weight(prepared, params, outcome)
    strata = sample.strata_column(prepared, params)
    estimates, tests = {}, {}
    for moderator in moderators:
        data = frame.dropna(subset=[outcome, moderator])
        estimates[moderator] = moderator_estimate(data, prepared, params, outcome, moderator)
        tests[moderator] = interaction_randomization(
            data,
            outcome,
            TREATMENT,
            UNIT,
            TIME,
            moderator,
            cluster=cluster,
            strata=strata,
            weights=weights,
            n_sims=params.inference.size_sims,
            seed=params.inference.seed,
            alpha=params.analysis.alpha,
        )
    return estimates, tests


def _interaction_result(
    prepared, params, outcome, kind, moderators, frame, skipped
) -> InteractionResult:
    estimates, tests = _interactions(prepared, params, outcome, moderators, frame)
    band = tuple(params.inference.size_band)
    dose = (
        pd.concat([dose_response(prepared, params, outcome, m, frame) for m in moderators])
        if kind == "baseline" and moderators
        else pd.DataFrame(columns=[*GROUP_COLUMNS, "bin_low", "bin_high", "moderator_median"])
    )
    return InteractionResult(
        outcome=outcome,
        kind=kind,
        table=interaction_table(estimates, tests, band),
        dose=dose.reset_index(drop=True),
        estimates=estimates,
        skipped=tuple(skipped),
        n_treated=data_facts(prepared, params).n_treated,
        n_sims=params.inference.size_sims,
        alpha=params.analysis.alpha,
        size_band=band,
    )


@analysis("where_it_works.baseline_interactions", PAGE, requires=(*DID_DESIGN, INTERACTION_PILOTS))
def baseline_interactions(
    prepared: Prepared, params: Params, outcome: str, frame: pd.DataFrame | None = None
) -> InteractionResult | NotApplicable:
    """Is the effect larger where staffing, practice or the outcome level were higher before?

    One interaction model per baseline value present and varying among the pilots; the
    families the data lack are listed in ``skipped``. Not applicable when no value is left.
    """
    name = "where_it_works.baseline_interactions"
    missing = _unmet(prepared, params, name, outcome_requirements(prepared, outcome))
    if missing is not None:
        return missing
    frame = moderator_panel(prepared) if frame is None else frame
    moderators, skipped = baseline_moderators(prepared, params, frame)
    if not moderators:
        if skipped:
            return skipped[0]
        facts = data_facts(prepared, params)
        return NotApplicable(name, "where_it_works_baseline_values", {"contract": facts.contract})
    return _interaction_result(prepared, params, outcome, "baseline", moderators, frame, skipped)


@analysis(
    "where_it_works.practice_interactions",
    PAGE,
    requires=(COMMUNE_DATA, ADMIN, *DID_DESIGN, INTERACTION_PILOTS),
)
def practice_interactions(
    prepared: Prepared, params: Params, outcome: str, frame: pd.DataFrame | None = None
) -> InteractionResult | NotApplicable:
    """Pilot-period practice (condolence and apology letters): described, never predicted from."""
    name = "where_it_works.practice_interactions"
    missing = _unmet(prepared, params, name, outcome_requirements(prepared, outcome))
    if missing is not None:
        return missing
    frame = moderator_panel(prepared) if frame is None else frame
    moderators = practice_moderators(frame)
    if not moderators:
        facts = data_facts(prepared, params)
        return NotApplicable(name, "where_it_works_practice_values", {"contract": facts.contract})
    return _interaction_result(prepared, params, outcome, "practice", moderators, frame, ())


# --------------------------------------------------------------------------------------------
# Groups (commune type, district, strata, thirds of a baseline value)


def group_effects_table(
    frame: pd.DataFrame, prepared: Prepared, params: Params, outcome: str, column: str
) -> pd.DataFrame:
    """Effect of each group's pilots against every never-treated unit (:data:`GROUP_COLUMNS`).

    The CRV1 interval is kept only when the group has more than :data:`WEAK_TREATED_MAX`
    pilots and the measured size of CRV1 on the group's design lies in ``inference.size_band``;
    ``show`` is ``"all"`` then, else ``"ri_p_value_only"``.
    """
    alpha, band = params.analysis.alpha, tuple(params.inference.size_band)
    cluster = sample.cluster_column(prepared, params)
    weights = sample.panel_weight(prepared, params, outcome)
    data = frame.dropna(subset=[outcome, column])
    ri = group_randomization_inference(
        data,
        outcome,
        TREATMENT,
        UNIT,
        TIME,
        column,
        cluster=cluster,
        weights=weights,
        budget=params.inference.ri_draws,
        seed=params.inference.seed,
        alpha=alpha,
    )
    ever = data.groupby(UNIT)[TREATMENT].transform("max") > 0
    labels = data[column].astype(str)
    rows = []
    for r in ri.itertuples():
        sub = data[~ever | (labels == r.group)]
        fit = crv1(sub, outcome, TREATMENT, UNIT, TIME, cluster, weights, alpha=alpha)
        weak = r.n_treated_units <= WEAK_TREATED_MAX
        rate = np.nan
        if not weak:
            rate = _crv1_size(sub, params, outcome, column, cluster, weights)
        checked = bool(not weak and np.isfinite(rate) and band[0] <= rate <= band[1])
        rows.append(
            {
                "moderator": column,
                "outcome": outcome,
                "category": r.group,
                "estimate": fit.estimate,
                "std_error": fit.std_error if checked else np.nan,
                "conf_low": fit.conf_low if checked else np.nan,
                "conf_high": fit.conf_high if checked else np.nan,
                "p_value": fit.p_value if checked else np.nan,
                "ri_p_value": r.ri_p_value,
                "ri_assignments": int(r.ri_assignments),
                "n_treated_communes": int(r.n_treated_units),
                "n_communes": int(r.n_units),
                "n_obs": int(fit.n_obs),
                "n_clusters": int(fit.n_clusters),
                "size_rate": rate,
                "size_checked": checked,
                "inference_weak": bool(weak),
                "show": "all" if checked else "ri_p_value_only",
            }
        )
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


def _crv1_size(sub, params, outcome, column, cluster, weights) -> float:
    """The worst CRV1 rejection rate over the placebo and effect-removed designs (NaN if none)."""
    alpha = params.analysis.alpha
    rates = []
    for null in ("placebo", "effect_removed"):
        try:
            size = measure_size(
                sub,
                outcome,
                TREATMENT,
                UNIT,
                TIME,
                cluster=cluster,
                strata=column,
                weights=weights,
                methods=("crv1",),
                nulls=(null,),
                n_sims=params.inference.size_sims,
                seed=params.inference.seed,
                alpha=alpha,
            )
        except ValueError:  # no untreated unit of the group to draw placebo pilots from
            continue
        rates += [r for r in size["rejection_rate"] if np.isfinite(r)]
    return max(rates, key=lambda r: abs(r - alpha)) if rates else np.nan


@analysis("where_it_works.groups", PAGE, requires=(*DID_DESIGN, treated_units(2)))
def group_effects(
    prepared: Prepared, params: Params, outcome: str, frame: pd.DataFrame | None = None
) -> GroupResult | NotApplicable:
    """The effect in each commune type and district (Hà Nam) or stratum (panel)."""
    name = "where_it_works.groups"
    missing = _unmet(prepared, params, name, outcome_requirements(prepared, outcome))
    if missing is not None:
        return missing
    frame = moderator_panel(prepared) if frame is None else frame
    facts = data_facts(prepared, params)
    moderators = group_moderators(prepared, params, frame)
    if not moderators:
        has_groups = not sample.is_panel(prepared) or sample.strata_column(prepared, params)
        reason = "where_it_works_one_group" if has_groups else "where_it_works_no_groups"
        return NotApplicable(name, reason, {"contract": facts.contract, "n": facts.n_treated})
    tables = {m: group_effects_table(frame, prepared, params, outcome, m) for m in moderators}
    return GroupResult(
        outcome=outcome,
        tables=tables,
        skipped=(),
        n_sims=params.inference.size_sims,
        alpha=params.analysis.alpha,
        size_band=tuple(params.inference.size_band),
    )


def dose_response(
    prepared: Prepared,
    params: Params,
    outcome: str,
    moderator: str,
    frame: pd.DataFrame,
    n_bins: int = DOSE_BINS,
) -> pd.DataFrame:
    """Effect in each third of the pilots by a baseline value (groups of :func:`group_effects_table`).

    Bins are quantiles of the value over pilots (every bin holds pilots); the outer edges are
    widened to cover every unit, so a bin's own non-pilot units are its re-assignment pool.
    """
    data = frame.dropna(subset=[moderator]).copy()
    pilots = data.loc[data["pilot"] > 0].groupby(UNIT)[moderator].first()
    n_bins = int(min(n_bins, pilots.nunique()))
    edges = np.unique(np.quantile(pilots.to_numpy(float), np.linspace(0, 1, n_bins + 1)))
    edges[0] = min(edges[0], float(data[moderator].min()))
    edges[-1] = max(edges[-1], float(data[moderator].max()))
    labels = [f"b{i + 1}" for i in range(len(edges) - 1)]
    data["_bin"] = pd.cut(data[moderator], edges, labels=labels, include_lowest=True).astype(str)
    table = group_effects_table(data, prepared, params, outcome, "_bin")
    bins = pd.cut(pilots, edges, labels=labels, include_lowest=True).astype(str)
    position = {b: i for i, b in enumerate(labels)}
    table["bin_low"] = [edges[position[b]] for b in table["category"]]
    table["bin_high"] = [edges[position[b] + 1] for b in table["category"]]
    table["moderator_median"] = [float(pilots[bins == b].median()) for b in table["category"]]
    table["moderator"] = moderator
    return table


# --------------------------------------------------------------------------------------------
# Prediction


def choose_moderator(table: pd.DataFrame, alpha: float) -> str | None:
    """The pre-stated rule for the prediction model.

    Among the baseline moderators, the one whose shown test has the smallest Holm-adjusted
    p-value, if that is below ``alpha``; otherwise None (every unit gets the average effect).
    """
    if table.empty:
        return None
    best = table.sort_values(["slope_p_holm", "test_p_value"]).iloc[0]
    return str(best["moderator"]) if best["slope_p_holm"] < alpha else None


def prediction_outcomes(frame: pd.DataFrame, headline: str) -> list[str]:
    """The headline outcome and the outcomes the scaling page prices, those the data have."""
    wanted = dict.fromkeys([headline, *PREDICTION_OUTCOMES])
    return [o for o in wanted if o in frame]


def average_effect(prepared: Prepared, params: Params, outcome: str) -> EffectEstimate:
    """TWFE average effect on the window's unit-period rows (the sample's weights and cluster)."""
    return twfe(
        sample.window_panel(prepared),
        outcome,
        TREATMENT,
        unit=UNIT,
        time=TIME,
        cluster=sample.cluster_column(prepared, params),
        weights=sample.panel_weight(prepared, params, outcome),
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
        estimator="twfe_commune_wave",
    )


def commune_predictions(
    prepared: Prepared,
    params: Params,
    moderator: str | None,
    outcomes: Sequence[str] = PREDICTION_OUTCOMES,
    frame: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Predicted effect with SE and interval for every unit, from the chosen model.

    With ``moderator`` the interaction model's prediction at the unit's baseline value
    (:func:`~evaluation.scaling.prediction.predict_effects`); with None the TWFE average effect
    (:func:`average_effect`) for every unit.

    Returns
    -------
    pandas.DataFrame
        Long: one row per unit and outcome, columns :data:`PREDICTION_COLUMNS`.
    """
    frame = moderator_panel(prepared) if frame is None else frame
    communes = commune_moderators(prepared)
    parts = []
    for outcome in [o for o in outcomes if o in frame and frame[o].notna().any()]:
        if moderator is None:
            est = average_effect(prepared, params, outcome)
            model = "average_effect"
        else:
            data = frame.dropna(subset=[outcome, moderator])
            est = moderator_estimate(data, prepared, params, outcome, moderator)
            model = f"twfe_by_{moderator}"
        usable = communes if moderator is None else communes.dropna(subset=[moderator])
        pred = predict_effects(
            est, usable, unit="commune_code", alpha=params.analysis.alpha, include_in_model=True
        )
        info = [
            c
            for c in ("commune_code", "commune_name", "district_name", "commune_type", "pilot")
            if c in usable
        ]
        pred = pred.merge(usable[info], on="commune_code", how="left")
        pred["outcome"] = outcome
        pred["model"] = model
        pred["moderator"] = moderator if moderator else ""
        pred["moderator_value"] = pred[moderator] if moderator else np.nan
        parts.append(pred.reindex(columns=PREDICTION_COLUMNS))
    if not parts:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def prediction_summary(predictions: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Spread of the predicted effect over units not treated (min, median, max, extrapolated)."""
    rows = predictions[(predictions["outcome"] == outcome) & ~predictions["pilot"].astype(bool)]
    return pd.DataFrame(
        {
            "outcome": [outcome],
            "n_communes": [len(rows)],
            "min": [rows["predicted_effect"].min()],
            "median": [rows["predicted_effect"].median()],
            "max": [rows["predicted_effect"].max()],
            "n_extrapolated": [int(rows["extrapolated"].astype(bool).sum())],
            "n_interval_above_zero": [int((rows["conf_low"] > 0).sum())],
        }
    )


@analysis("where_it_works.prediction", PAGE, requires=DID_DESIGN)
def predictions(
    prepared: Prepared,
    params: Params,
    outcome: str,
    baseline: InteractionResult | NotApplicable,
    frame: pd.DataFrame | None = None,
) -> PredictionResult | NotApplicable:
    """Predicted effect in every unit by the rule fixed before looking (:func:`choose_moderator`
    on the baseline interactions; the average effect when none passes or none applies)."""
    name = "where_it_works.prediction"
    missing = _unmet(prepared, params, name, outcome_requirements(prepared, outcome))
    if missing is not None:
        return missing
    frame = moderator_panel(prepared) if frame is None else frame
    table = baseline.table if isinstance(baseline, InteractionResult) else pd.DataFrame()
    chosen = choose_moderator(table, params.analysis.alpha)
    found = commune_predictions(
        prepared, params, chosen, prediction_outcomes(frame, outcome), frame=frame
    )
    summary = pd.concat(
        [prediction_summary(found, o) for o in found["outcome"].unique()], ignore_index=True
    )
    return PredictionResult(outcome=outcome, chosen=chosen, predictions=found, summary=summary)


def collect(
    prepared: Prepared,
    params: Params,
    outcome: str,
    baseline: InteractionResult | NotApplicable,
    practice: InteractionResult | NotApplicable,
    groups: GroupResult | NotApplicable,
    prediction: PredictionResult | NotApplicable,
) -> WhereItWorks:
    """The page's sections gathered into one result (what the notebook saves)."""
    return WhereItWorks(
        outcome=outcome,
        n_treated=data_facts(prepared, params).n_treated,
        contract="panel" if sample.is_panel(prepared) else "hanam",
        baseline=baseline,
        practice=practice,
        groups=groups,
        prediction=prediction,
    )


def where_it_works(prepared: Prepared, params: Params, outcome: str) -> WhereItWorks:
    """Every section of page 05 at once (what the notebook saves)."""
    frame = moderator_panel(prepared)
    baseline = baseline_interactions(prepared, params, outcome, frame)
    return collect(
        prepared,
        params,
        outcome,
        baseline,
        practice_interactions(prepared, params, outcome, frame),
        group_effects(prepared, params, outcome, frame),
        predictions(prepared, params, outcome, baseline, frame),
    )
