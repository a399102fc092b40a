"""Who the treated units are, and a comparison group weighted to resemble them (page 02).

The pilot communes were chosen, not drawn by lot. The analyses here answer, from the prepared
data:

* how treated and comparison units differed at baseline (:func:`baseline_balance`: means,
  standardised differences, variance ratios, p-values, a joint test), and where each group's
  outcomes started (:func:`baseline_levels`, shown when no characteristic can be compared);
* how the households who answered differed (:func:`household_balance`, ballots only);
* how likely each unit was to be treated given its baseline characteristics (a logit
  propensity score), which units have comparable counterparts (overlap trimming) and
  inverse-probability (ATT) weights that make the comparison units resemble the treated ones
  (:func:`comparison_weights`), and the balance after weighting (:func:`weighted_balance`);
* the effect re-estimated with those weights (:func:`effect_comparison`).

Choices (documented here because ``params`` has no keys for them):

* compared characteristics: on Hà Nam's data every measured commune characteristic of
  :data:`BASELINE_CHARACTERISTICS` plus the requested covariates; on a generic panel its
  covariates (``data.panel.covariates``) plus its baseline outcome means. Both need at least
  one usable covariate (:func:`evaluation.analysis.sample.covariates`).
* propensity covariates: ``analysis.propensity_covariates`` (null = every compared
  characteristic). If the logit does not converge or separates the groups (a score at 0 or 1),
  the smaller set of usable covariates is used and named on the page; if that fails too the
  section says the model could not be fitted.
* the propensity model needs at least :data:`MIN_TREATED_FOR_PROPENSITY` treated and as many
  comparison units: with one treated unit the logit places it at a score of 1 on any
  characteristic where it is extreme, and ATT weights would rest on a single unit.
* p-values of the balance table: one row per unit, each unit its own cluster (t with G - 1
  degrees of freedom); household characteristics are ballots clustered by commune. With fewer
  than two units in a group spreads, standardised differences and p-values are undefined.
* trimming: ``analysis.trim_rule`` (default Crump, Hotz, Imbens & Mitnik 2009), with
  ``analysis.trim_bounds`` used only by the ``"fixed"`` rule.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from evaluation.analysis import sample
from evaluation.analysis.base import NotApplicable, analysis, first_unmet
from evaluation.analysis.effects import before_after_drdid
from evaluation.analysis.requirements import (
    BALLOTS,
    BALLOTS_BOTH_GROUPS,
    COVARIATES,
    DID_DESIGN,
    Requirement,
    comparison_units,
    outcome_present,
    pre_periods,
    treated_units,
)
from evaluation.config import Params
from evaluation.estimators.balance import balance_table
from evaluation.estimators.propensity import (
    PropensityResult,
    effective_sample_size,
    ipw_weights,
    overlap_trim,
    propensity_scores,
)
from evaluation.estimators.result import EffectEstimate
from evaluation.estimators.twfe import twfe
from evaluation.prepare import Prepared

PAGE = "02_comparison"
#: Baseline commune characteristics compared on Hà Nam's data (those present are used).
BASELINE_CHARACTERISTICS: tuple[str, ...] = (
    "baseline_index",
    "baseline_pct_satisfied",
    "one_stop_staff_per_1000",
    "pct_condolence_on_time",
    "pct_dossiers_on_time",
    "baseline_coverage",
    "urban",
    "baseline_ballots",
)
#: Baseline outcome means of Hà Nam's data (the ballot measures before the start).
HANAM_BASELINE_OUTCOMES: tuple[str, ...] = ("baseline_index", "baseline_pct_satisfied")
#: Household characteristics compared on baseline ballots (those present are used).
HOUSEHOLD_CHARACTERISTICS: tuple[str, ...] = ("respondent_female",)
#: Column names of the unit weights table (``tables/comparison_weights.csv``).
WEIGHTS_COLUMNS = ["commune_code", "pilot", "propensity", "keep", "ipw_weight"]
#: Fewest treated (and comparison) units the propensity model is fitted on (see module notes).
MIN_TREATED_FOR_PROPENSITY = 2
#: Scores closer than this to 0 or 1 mean the logit separated the groups.
SEPARATION_TOLERANCE = 1e-6

#: Ballots before the start, so households can be compared at baseline.
BASELINE_BALLOTS = Requirement(
    "baseline_ballots",
    lambda f: None if f.ballot_waves_before >= 1 else {"have": f.ballot_waves_before},
)
#: Both groups in the comparison window (sections that compare treated with comparison units).
BOTH_GROUPS = (treated_units(1), comparison_units(1))
#: What the propensity model needs (see :data:`MIN_TREATED_FOR_PROPENSITY`).
PROPENSITY_DESIGN = (
    treated_units(MIN_TREATED_FOR_PROPENSITY),
    comparison_units(MIN_TREATED_FOR_PROPENSITY),
    COVARIATES,
)


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    """A balance table of treated against comparison units (or households).

    Attributes
    ----------
    table : pandas.DataFrame
        :func:`~evaluation.estimators.balance.balance_table` rows (``BALANCE_COLUMNS``).
    characteristics : tuple of str
        The compared columns, in table order.
    n_treated, n_comparison : int
        Rows (units, or ballots for households) in each group.
    joint_f, joint_p_value : float
        Joint test that the characteristics do not predict treatment (NaN when undefined).
    weighted : bool
        Whether the comparison group carries the ATT weights of :func:`comparison_weights`.
    spread_defined : bool
        Whether each group has at least two units: standard deviations, standardised
        differences, variance ratios and p-values are defined only then.
    level : str
        ``"unit"`` (one row per unit) or ``"ballot"`` (households, clustered by unit).
    """

    table: pd.DataFrame
    characteristics: tuple[str, ...]
    n_treated: int
    n_comparison: int
    joint_f: float
    joint_p_value: float
    weighted: bool
    spread_defined: bool
    level: str = "unit"


@dataclass(frozen=True)
class ComparisonWeights:
    """Propensity scores, common support and ATT weights, one row per unit.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`WEIGHTS_COLUMNS`: score, inside the common support (``keep``) and the
        ATT weight (treated 1, comparison ``e / (1 - e)`` rescaled to sum to the number of
        treated units kept; 0 when trimmed).
    covariates : tuple of str
        The covariates of the fitted logit.
    fallback : bool
        Whether the full model failed and the smaller set of covariates was used.
    rule : str
        Trimming rule (``crump`` or ``fixed``); ``lower``/``upper`` its bounds.
    n_dropped, n_pilot_dropped : int
        Units (and treated units) outside the common support.
    converged : bool
    effective_comparison : float
        Kish's effective number of comparison units under the weights.
    n_comparison_kept : int
    """

    table: pd.DataFrame
    covariates: tuple[str, ...]
    fallback: bool
    rule: str
    lower: float
    upper: float
    n_dropped: int
    n_pilot_dropped: int
    converged: bool
    effective_comparison: float
    n_comparison_kept: int

    def overlap_inputs(self) -> tuple[pd.Series, pd.Series, pd.Series]:
        """Scores, treated indicator and keep mask (bounds in ``attrs``) for the overlap plot."""
        table = self.table.set_index("commune_code")
        keep = table["keep"].astype(bool)
        keep.attrs.update(
            {
                "rule": self.rule,
                "lower": self.lower,
                "upper": self.upper,
                "n_dropped": self.n_dropped,
            }
        )
        return table["propensity"], table["pilot"], keep


@dataclass(frozen=True)
class EffectComparison:
    """The effect on one outcome with the plain and the weighted comparison group.

    Attributes
    ----------
    outcome : str
    plain : EffectEstimate
        Two-way fixed effects, every comparison unit as it is (``twfe_commune_wave``).
    weighted : EffectEstimate
        The same regression with the ATT weights (``twfe_commune_wave_ipw``).
    robust : EffectEstimate
        Doubly robust DiD (Sant'Anna-Zhao) adjusting for the usable covariates.
    covariates : tuple of str
        The covariates the doubly robust estimate adjusts for.
    n_units : tuple of int
        Units each of the three estimates rests on (plain, weighted, doubly robust).
    """

    outcome: str
    plain: EffectEstimate
    weighted: EffectEstimate
    robust: EffectEstimate
    covariates: tuple[str, ...]
    n_units: tuple[int, int, int]


@dataclass(frozen=True)
class ComparisonSummary:
    """Everything page 02 found, saved as ``results/comparison.json``."""

    balance: Balance | NotApplicable
    baseline_levels: Balance | NotApplicable
    households: Balance | NotApplicable
    weights: ComparisonWeights | NotApplicable
    weighted_balance: Balance | NotApplicable
    effects: EffectComparison | NotApplicable


# -- the baseline frame ----------------------------------------------------------------------


def baseline_frame(prepared: Prepared) -> pd.DataFrame:
    """One row per unit at baseline with a 0/1 ``pilot`` column and numeric characteristics.

    Units the comparison window leaves out (``drop_mixed``) are left out here too.
    """
    base = prepared.baseline.copy()
    base["commune_code"] = base["commune_code"].astype(str)
    if "drop_mixed" in prepared.communes:
        dropped = prepared.communes.loc[
            prepared.communes["drop_mixed"].fillna(False).astype(bool), "commune_code"
        ].astype(str)
        base = base[~base["commune_code"].isin(set(dropped))]
    base["pilot"] = base["pilot"].astype(bool).astype(int)
    for col in base.columns:
        if col in BASELINE_CHARACTERISTICS or col.startswith("baseline_"):
            base[col] = pd.to_numeric(base[col], errors="coerce").astype(float)
    return base.reset_index(drop=True)


def _usable(base: pd.DataFrame, names: list[str]) -> list[str]:
    """Names present, numeric, not constant, and measured for some treated and some comparison
    unit (ballots collected only in pilot communes give no comparison)."""
    out = []
    for name in dict.fromkeys(names):
        if name not in base:
            continue
        values = pd.to_numeric(base[name], errors="coerce")
        treated = values[base["pilot"] == 1]
        comparison = values[base["pilot"] == 0]
        if (
            values.notna().sum() > 2
            and values.nunique(dropna=True) > 1
            and treated.notna().any()
            and comparison.notna().any()
        ):
            out.append(name)
    return out


def baseline_outcomes(prepared: Prepared) -> list[str]:
    """Baseline outcome means present: Hà Nam's ballot measures, a panel's ``baseline_<y>``."""
    if sample.is_panel(prepared):
        wanted = [f"baseline_{o}" for o in prepared.meta.get("outcomes", [])]
    else:
        wanted = list(HANAM_BASELINE_OUTCOMES)
    return _usable(baseline_frame(prepared), wanted)


def characteristics(prepared: Prepared, params: Params) -> list[str]:
    """The baseline characteristics compared (see the module notes), usable ones only."""
    covariates = sample.covariates(prepared, params)
    if sample.is_panel(prepared):
        wanted = [*covariates, *baseline_outcomes(prepared)]
    else:
        wanted = [*BASELINE_CHARACTERISTICS, *covariates]
    return _usable(baseline_frame(prepared), wanted)


def _balance(
    frame: pd.DataFrame,
    names: list[str],
    cluster: str,
    weights: str | None = None,
    level: str = "unit",
) -> Balance:
    table = balance_table(frame, "pilot", names, cluster=cluster, weights=weights)
    n_treated, n_comparison = int(table["n_pilot"].max()), int(table["n_comparison"].max())
    clusters = frame.loc[frame[weights] > 0] if weights else frame
    per_group = clusters.groupby("pilot")[cluster].nunique()
    return Balance(
        table=table,
        characteristics=tuple(names),
        n_treated=n_treated,
        n_comparison=n_comparison,
        joint_f=float(table.attrs.get("joint_f", np.nan)),
        joint_p_value=float(table.attrs.get("joint_p_value", np.nan)),
        weighted=weights is not None,
        spread_defined=bool(per_group.min() >= 2 and len(per_group) == 2),
        level=level,
    )


# -- balance ---------------------------------------------------------------------------------


@analysis("comparison.balance", PAGE, requires=(*BOTH_GROUPS, COVARIATES))
def baseline_balance(prepared: Prepared, params: Params) -> Balance | NotApplicable:
    """Baseline balance of treated against comparison units, before any weighting."""
    names = characteristics(prepared, params)
    if not names:  # requested covariates exist but none is measured in both groups
        contract = "panel" if sample.is_panel(prepared) else "hanam"
        requested = ", ".join(sample.requested_covariates(prepared, params)) or "–"
        return NotApplicable(
            "comparison.balance", "covariates", {"contract": contract, "requested": requested}
        )
    return _balance(baseline_frame(prepared), names, cluster="commune_code")


@analysis("comparison.baseline_levels", PAGE, requires=(*BOTH_GROUPS, pre_periods(1)))
def baseline_levels(prepared: Prepared, params: Params) -> Balance | NotApplicable:
    """Where each group's outcomes stood before the start (baseline outcome means by group).

    Needs no covariate: it is what the page can still show when no characteristic is usable.
    """
    names = baseline_outcomes(prepared)
    if not names:
        facts = {"contract": "panel" if sample.is_panel(prepared) else "hanam"}
        return NotApplicable("comparison.baseline_levels", "baseline_outcomes", facts)
    return _balance(baseline_frame(prepared), names, cluster="commune_code")


@analysis(
    "comparison.households",
    PAGE,
    requires=(BALLOTS, BALLOTS_BOTH_GROUPS, BASELINE_BALLOTS),
)
def household_balance(prepared: Prepared, params: Params) -> Balance | NotApplicable:
    """Balance of household characteristics on ballots before the start, clustered by unit."""
    ballots = sample.window_ballots(prepared)
    ballots = ballots[ballots["post"] == 0]
    present = [
        c for c in HOUSEHOLD_CHARACTERISTICS if c in ballots and ballots[c].notna().sum() > 2
    ]
    groups = ballots.groupby("pilot")["commune_code"].nunique()
    if not present or len(groups) < 2:
        facts = {"contract": "panel" if sample.is_panel(prepared) else "hanam"}
        return NotApplicable("comparison.households", "household_characteristics", facts)
    frame = pd.DataFrame(
        {
            "pilot": ballots["pilot"].astype(int).to_numpy(),
            "commune_code": ballots["commune_code"].to_numpy(),
            **{c: pd.to_numeric(ballots[c], errors="coerce").to_numpy(float) for c in present},
        }
    )
    return _balance(frame, present, cluster="commune_code", level="ballot")


# -- propensity scores and weights -----------------------------------------------------------


def propensity_covariates(prepared: Prepared, params: Params) -> list[str]:
    """Covariates of the selection model: ``analysis.propensity_covariates`` if set (usable
    ones), else every compared characteristic."""
    base = baseline_frame(prepared)
    wanted = params.analysis.propensity_covariates or characteristics(prepared, params)
    return _usable(base, list(wanted))


def trim_settings(params: Params) -> tuple[str, tuple[float, float]]:
    """The trimming rule and bounds (``analysis.trim_rule``, ``analysis.trim_bounds``)."""
    low, high = params.analysis.trim_bounds
    return params.analysis.trim_rule, (float(low), float(high))


def _separated(fitted: PropensityResult) -> bool:
    scores = fitted.scores.to_numpy(float)
    inside = (scores > SEPARATION_TOLERANCE) & (scores < 1 - SEPARATION_TOLERANCE)
    return not (fitted.converged and bool(np.all(inside)))


def _fit(base: pd.DataFrame, covariates: list[str]) -> PropensityResult | None:
    """The logit of treatment on ``covariates``, or None when it fails or separates."""
    if not covariates:
        return None
    data = base[["pilot", *covariates]].dropna()
    if data["pilot"].nunique() < 2:
        return None
    try:
        # Convergence and separation are checked below (a failed fit falls back to fewer
        # covariates, and the page says so): statsmodels' warnings about them are not printed.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = propensity_scores(base, "pilot", covariates)
    except (np.linalg.LinAlgError, PerfectSeparationError):  # singular design or separation
        return None
    return None if _separated(fitted) else fitted


def propensity(prepared: Prepared, params: Params) -> tuple[PropensityResult | None, bool]:
    """Logit of treatment on baseline characteristics (one row per unit).

    Returns the fit and whether the fallback set (the usable covariates) was needed; the fit
    is None when neither set gives a model that converges without separating the groups.
    """
    base = baseline_frame(prepared).set_index("commune_code")
    full = propensity_covariates(prepared, params)
    fitted = _fit(base, full)
    if fitted is not None:
        return fitted, False
    fallback = _usable(base.reset_index(), sample.covariates(prepared, params))
    if fallback == full:
        return None, False
    # The fallback is returned (ComparisonWeights.fallback) and page 02 says it in words.
    return _fit(base, fallback), True


@analysis("comparison.weights", PAGE, requires=PROPENSITY_DESIGN)
def comparison_weights(prepared: Prepared, params: Params) -> ComparisonWeights | NotApplicable:
    """Propensity scores, the common support and ATT weights of every unit at baseline.

    Join the table to any unit-period or ballot frame with :func:`with_comparison_weights`.
    """
    contract = "panel" if sample.is_panel(prepared) else "hanam"
    fitted, fallback = propensity(prepared, params)
    if fitted is None:
        facts = {
            "contract": contract,
            "covariates": ", ".join(propensity_covariates(prepared, params)),
        }
        return NotApplicable("comparison.weights", "propensity_fit", facts)
    rule, bounds = trim_settings(params)
    keep = overlap_trim(fitted.scores, rule=rule, bounds=bounds)  # type: ignore[arg-type]
    kept = fitted.scores[keep]
    kept_group = fitted.group.loc[kept.index]
    if kept_group.nunique() < 2:
        facts = {
            "contract": contract,
            "treated": int(kept_group.sum()),
            "comparison": int((kept_group == 0).sum()),
        }
        return NotApplicable("comparison.weights", "propensity_overlap", facts)
    weights = ipw_weights(kept, kept_group, estimand="ATT")
    table = pd.DataFrame(
        {
            "commune_code": fitted.scores.index.astype(str),
            "pilot": fitted.group.to_numpy(int),
            "propensity": fitted.scores.to_numpy(float),
            "keep": keep.to_numpy(bool),
            "ipw_weight": weights.reindex(fitted.scores.index).fillna(0.0).to_numpy(float),
        },
        columns=WEIGHTS_COLUMNS,
    )
    comparison = table[(table["pilot"] == 0) & table["keep"]]["ipw_weight"]
    return ComparisonWeights(
        table=table,
        covariates=tuple(fitted.covariates),
        fallback=fallback,
        rule=rule,
        lower=float(keep.attrs["lower"]),
        upper=float(keep.attrs["upper"]),
        n_dropped=int(keep.attrs["n_dropped"]),
        n_pilot_dropped=int(((~table["keep"]) & (table["pilot"] == 1)).sum()),
        converged=fitted.converged,
        effective_comparison=effective_sample_size(comparison),
        n_comparison_kept=int(len(comparison)),
    )


def with_comparison_weights(frame: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with an ``ipw_weight`` column joined by ``commune_code`` (0 = not compared).

    Works for the unit table, the unit-period panel and the ballots alike, so any effects
    estimator can take ``weights="ipw_weight"`` (times its own row weight).
    """
    for name, table in (("frame", frame), ("weights", weights)):
        if "commune_code" not in table:
            raise ValueError(f"{name} needs a commune_code column to join the comparison weights.")
    if "ipw_weight" not in weights:
        raise ValueError("weights needs an ipw_weight column (see comparison_weights).")
    lookup = weights.assign(commune_code=weights["commune_code"].astype(str)).set_index(
        "commune_code"
    )["ipw_weight"]
    out = frame.copy()
    out["ipw_weight"] = out["commune_code"].astype(str).map(lookup).fillna(0.0).astype(float)
    return out


def weighted_balance(
    prepared: Prepared, params: Params, weights: ComparisonWeights | NotApplicable
) -> Balance | NotApplicable:
    """Baseline balance with the comparison units weighted by ``weights`` (trimmed units out)."""
    if isinstance(weights, NotApplicable):
        return weights
    base = with_comparison_weights(baseline_frame(prepared), weights.table)
    names = characteristics(prepared, params)
    return _balance(base, names, cluster="commune_code", weights="ipw_weight")


# -- the effect with each comparison group ---------------------------------------------------


def _panel_twfe(
    prepared: Prepared,
    params: Params,
    frame: pd.DataFrame,
    outcome: str,
    weight: str | None,
    name: str,
) -> EffectEstimate:
    return twfe(
        frame,
        outcome,
        "treated",
        unit="commune_code",
        time="wave_index",
        cluster=sample.cluster_column(prepared, params),
        weights=weight,
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
        estimator=name,
    )


def ipw_twfe(
    prepared: Prepared, params: Params, weights: pd.DataFrame, outcome: str
) -> EffectEstimate:
    """TWFE on unit-period rows weighted by the sample's row weight x the ATT weights.

    ``weights`` is the table of :class:`ComparisonWeights` (``commune_code``, ``ipw_weight``);
    trimmed units are left out. Estimator name ``twfe_commune_wave_ipw``. The standard errors
    treat the weights as known (the propensity model's own uncertainty is not propagated).
    """
    frame = with_comparison_weights(sample.window_panel(prepared), weights)
    frame = frame[frame["ipw_weight"] > 0].copy()
    row_weight = sample.panel_weight(prepared, params, outcome)
    frame["_w"] = frame["ipw_weight"] * (frame[row_weight] if row_weight else 1.0)
    estimate = _panel_twfe(prepared, params, frame, outcome, "_w", "twfe_commune_wave_ipw")
    note = (
        "weights: ATT inverse-probability weights of the baseline propensity score"
        + (f" x {row_weight}" if row_weight else "")
        + "; units outside the common support left out; weights treated as known"
    )
    return replace(estimate, inference=f"{estimate.inference}; {note}")


def doubly_robust(prepared: Prepared, params: Params, outcome: str) -> EffectEstimate:
    """Sant'Anna-Zhao doubly robust DiD on unit means before and after the start, adjusting
    for the usable covariates (:func:`evaluation.analysis.sample.covariates`)."""
    frame = sample.window_panel(prepared)
    covariates = [c for c in sample.covariates(prepared, params) if c in frame]
    two = sample.before_after_panel(
        prepared, frame, outcome, covariates, sample.panel_weight(prepared, params, outcome)
    )
    return before_after_drdid(two, outcome, covariates, params)


@analysis("comparison.effects", PAGE, requires=(*DID_DESIGN, *PROPENSITY_DESIGN))
def effect_comparison(
    prepared: Prepared,
    params: Params,
    weights: ComparisonWeights | NotApplicable,
    outcome: str,
) -> EffectComparison | NotApplicable:
    """The effect on ``outcome`` with every comparison unit, with the weighted comparison
    group, and doubly robust: does the comparison group change the answer?"""
    if isinstance(weights, NotApplicable):
        return weights
    unmet = first_unmet((outcome_present(outcome),), prepared, params)
    if unmet is not None:
        return NotApplicable("comparison.effects", *unmet)
    frame = sample.window_panel(prepared)
    if not sample.did_possible(frame, outcome):
        contract = "panel" if sample.is_panel(prepared) else "hanam"
        return NotApplicable(
            "comparison.effects", "effects_outcome_did", {"contract": contract, "outcome": outcome}
        )
    frame = frame[frame[outcome].notna()]
    row_weight = sample.panel_weight(prepared, params, outcome)
    plain = _panel_twfe(prepared, params, frame, outcome, row_weight, "twfe_commune_wave")
    kept = set(weights.table.loc[weights.table["ipw_weight"] > 0, "commune_code"])
    robust = doubly_robust(prepared, params, outcome)
    return EffectComparison(
        outcome=outcome,
        plain=plain,
        weighted=ipw_twfe(prepared, params, weights.table, outcome),
        robust=robust,
        covariates=tuple(c for c in sample.covariates(prepared, params) if c in frame),
        n_units=(
            int(frame["commune_code"].nunique()),
            int(frame["commune_code"].isin(kept).groupby(frame["commune_code"]).any().sum()),
            int(robust.n_obs // 2),
        ),
    )
