"""How sure can we be? Which interval may be shown for each effect, measured on its design.

The trust rule: an interval is shown only when its method's false-alarm rate, simulated on the
design in front of the reader (:func:`evaluation.inference.trust.measure_size`), lies inside
``inference.size_band``. Otherwise it is withheld, with the reason as a message key:

* one treated cluster: cluster-robust variances and the wild bootstrap cannot work; only
  randomisation inference runs, and the page shows its p-value and its meaning (the real
  assignment's rank among the re-assignments), no interval;
* no method inside the band: the closest method's p-value is shown with a caution;
* a randomisation interval that does not close (unbounded).

Every fit uses the design of :mod:`evaluation.analysis.effects` (rows, weights, clusters and
strata from :mod:`evaluation.analysis.sample`), so the few-cluster methods estimate exactly the
headline regression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evaluation.analysis import sample
from evaluation.analysis.base import NotApplicable, analysis, first_unmet
from evaluation.analysis.effects import (
    BALLOT_DID,
    PAGE,
    UNIT_PERIOD,
    EstimationDesign,
    Headline,
    OutcomeEffects,
)
from evaluation.analysis.requirements import DID_DESIGN
from evaluation.config import Params
from evaluation.estimators.result import TIDY_COLUMNS, EffectEstimate
from evaluation.inference.randomization import randomization_inference
from evaluation.inference.trust import (
    DEFAULT_PREFERENCE,
    METHOD_LABELS,
    HeadlineVerdict,
    applicable_methods,
    choose_headline,
    compare_methods,
    measure_size,
)
from evaluation.prepare import Prepared

#: Reasons an interval is withheld (message keys).
WITHHELD_ONE_CLUSTER = "inference.withheld.one_treated_cluster"
WITHHELD_NONE_PASSED = "inference.withheld.none_passed"
WITHHELD_UNBOUNDED = "inference.withheld.unbounded"
WITHHELD_NOT_MEASURED = "inference.withheld.not_measured"
LEFT_OUT_FAILED = "inference.left_out.failed"

COMPARISON_COLUMNS = [
    "method",
    "label",
    "estimate",
    "std_error",
    "df",
    "conf_low",
    "conf_high",
    "p_value",
    "rate",
    "status",
    "interval_shown",
]


@dataclass(frozen=True)
class TrustedInterval:
    """The interval (or the reason it is withheld) of one estimate, by the size-checked method.

    Attributes
    ----------
    outcome, level, estimator : str
        What was estimated, on which rows, by which estimator.
    method : str or None
        The method chosen by the size check (``choose_headline``); None when none could run.
    label : str
        The method's full description (``inference`` column of ``tables/effects.csv``).
    estimate, p_value : float
        Point estimate and the chosen method's p-value.
    conf_low, conf_high : float
        The chosen method's interval; NaN when withheld.
    size_checked : bool
        The method's false-alarm rate was measured on this design and lies in the band, and
        the interval is shown.
    rate : float
        The method's worst measured false-alarm rate (NaN when not measured).
    withheld_reason : str or None
        Message key of the reason the interval is not shown.
    ri_rank, ri_assignments : int or None
        Randomisation inference: how many assignments (the real one included) give a |t| at
        least as large as the real one, out of how many.
    n_obs, n_clusters, n_treated_clusters : int
    """

    outcome: str
    level: str
    estimator: str
    method: str | None
    label: str
    estimate: float
    conf_low: float
    conf_high: float
    p_value: float
    size_checked: bool
    rate: float
    withheld_reason: str | None
    ri_rank: int | None
    ri_assignments: int | None
    n_obs: int
    n_clusters: int
    n_treated_clusters: int

    @property
    def shows_interval(self) -> bool:
        return self.withheld_reason is None and math.isfinite(self.conf_low)

    def tidy(self, estimand: str = "ATT", term: str = "treated") -> pd.DataFrame:
        """One ``tables/effects.csv`` row (with ``size_checked``)."""
        row = {
            "outcome": self.outcome,
            "estimand": estimand,
            "estimator": self.estimator,
            "term": term,
            "estimate": self.estimate,
            "std_error": math.nan,
            "conf_low": self.conf_low if self.shows_interval else math.nan,
            "conf_high": self.conf_high if self.shows_interval else math.nan,
            "p_value": self.p_value,
            "n_obs": self.n_obs,
            "n_clusters": self.n_clusters,
            "n_treated_clusters": self.n_treated_clusters,
            "inference": self.label,
            "size_checked": bool(self.size_checked),
            "size_rate": self.rate,
        }
        return pd.DataFrame([row], columns=[*TIDY_COLUMNS, "size_checked", "size_rate"])


@dataclass(frozen=True)
class HowSure:
    """Every few-cluster method on the headline design, each one's measured size, the verdict.

    Attributes
    ----------
    outcome, level : str
        The headline's outcome and row level.
    trusted : TrustedInterval
        What the reader is shown.
    comparison : pandas.DataFrame
        Columns :data:`COMPARISON_COLUMNS`: each method's estimate, interval, p-value, worst
        measured size, ``status`` (``board``/``passed``/``failed``/``not_measured``) and whether
        its interval may be shown (``interval_shown``: inside the band).
    left_out : pandas.DataFrame
        ``method, reason`` (message key) of methods that cannot run on this design.
    sizes : pandas.DataFrame
        :func:`~evaluation.inference.trust.measure_size` output (empty when not measured).
    verdict : HeadlineVerdict or None
    n_sims : int
        Simulated data sets per null design.
    n_treated_clusters, n_clusters, n_treated_units, n_units : int
    dominant_cluster : str or None
        The cluster holding more than 20% of the treated rows' weight, if any.
    dominant_share : float
        That cluster's share (NaN when none).
    """

    outcome: str
    level: str
    trusted: TrustedInterval
    comparison: pd.DataFrame
    left_out: pd.DataFrame
    sizes: pd.DataFrame
    verdict: HeadlineVerdict | None
    n_sims: int
    n_treated_clusters: int
    n_clusters: int
    n_treated_units: int
    n_units: int
    dominant_cluster: str | None = None
    dominant_share: float = math.nan

    def effect_rows(self, estimate: EffectEstimate) -> pd.DataFrame:
        """Every method's row for ``tables/effects.csv``: the shown method first;
        ``size_checked`` True only where the method passed the size check and its interval is
        shown, False elsewhere; withheld intervals left empty."""
        rows = [self.trusted.tidy(estimate.estimand, str(estimate.terms.index[0]))]
        for r in self.comparison.itertuples(index=False):
            if r.method == self.trusted.method:
                continue
            shown = bool(r.interval_shown)
            rows.append(
                pd.DataFrame(
                    [
                        {
                            "outcome": estimate.outcome,
                            "estimand": estimate.estimand,
                            "estimator": estimate.estimator,
                            "term": str(estimate.terms.index[0]),
                            "estimate": r.estimate,
                            "std_error": r.std_error,
                            "conf_low": r.conf_low if shown else math.nan,
                            "conf_high": r.conf_high if shown else math.nan,
                            "p_value": r.p_value,
                            "n_obs": estimate.n_obs,
                            "n_clusters": estimate.n_clusters,
                            "n_treated_clusters": estimate.n_treated_clusters,
                            "inference": r.label,
                            "size_checked": False,
                        }
                    ]
                )
            )
        return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Running one method on the real data


def _ri_rank(p_value: float, n_assignments: int, enumerated: bool) -> tuple[int, int]:
    """(rank, out of): assignments with |t| at least the real one's, the real one included."""
    total = n_assignments if enumerated else n_assignments + 1
    return int(round(p_value * total)), int(total)


def _ballots(on: EstimationDesign) -> str | None:
    """Column of ballots behind each row (Ferman-Pinto): ``n_ballots`` on commune-wave rows of
    a ballot outcome; None (rows count equally) on ballot rows, and for an outcome that does
    not come from ballots (an admin indicator: its cells may have no ballot at all)."""
    if on.level != UNIT_PERIOD or "n_ballots" not in on.frame.columns:
        return None
    if not sample.is_ballot_outcome(on.outcome):
        return None
    counts = pd.to_numeric(on.frame["n_ballots"], errors="coerce")
    return "n_ballots" if len(counts) and bool((counts > 0).all()) else None


def _run_method(params: Params, on: EstimationDesign, method: str, interval: bool) -> dict:
    """One method on the real data: estimate, std_error, df, conf_low, conf_high, p_value
    (and ``ri_rank``/``ri_assignments`` for randomisation inference)."""
    spec = on.spec(params.analysis.alpha)
    if method == "ri":
        r = randomization_inference(
            on.frame,
            spec["outcome"],
            "treated",
            "commune_code",
            "wave_index",
            on.cluster,
            on.strata,
            on.weights,
            budget=params.inference.ri_draws,
            seed=params.inference.seed,
            alpha=params.analysis.alpha,
            confint=interval,
        )
        rank, total = _ri_rank(r.p_value, r.n_assignments, r.enumerated)
        return {
            "method": "ri",
            "label": METHOD_LABELS["ri"],
            "estimate": r.estimate,
            "std_error": math.nan,
            "df": math.nan,
            "conf_low": r.conf_low,
            "conf_high": r.conf_high,
            "p_value": r.p_value,
            "ri_rank": rank,
            "ri_assignments": total,
        }
    table = compare_methods(
        on.frame,
        **spec,
        methods=(method,),
        n_boot=params.inference.n_boot,
        ri_budget=params.inference.ri_draws,
        seed=params.inference.seed,
        ballots=_ballots(on),
    )
    return table.iloc[0].to_dict()


def _methods(on: EstimationDesign) -> tuple[tuple[str, ...], dict[str, str]]:
    spec = on.spec(0.05)
    return applicable_methods(
        on.frame,
        spec["outcome"],
        "treated",
        "commune_code",
        "wave_index",
        on.cluster,
        on.weights,
    )


def _size(params: Params, on: EstimationDesign, methods: tuple[str, ...]) -> pd.DataFrame:
    return measure_size(
        on.frame,
        **on.spec(params.analysis.alpha),
        methods=methods,
        n_sims=params.inference.size_sims,
        seed=params.inference.seed,
        ballots=_ballots(on),
    )


def _verdict(params: Params, sizes: pd.DataFrame) -> HeadlineVerdict | None:
    if sizes.empty or sizes["rejection_rate"].notna().sum() == 0:
        return None
    return choose_headline(sizes, band=tuple(params.inference.size_band))


def _trusted(
    params: Params,
    on: EstimationDesign,
    estimate: EffectEstimate,
    verdict: HeadlineVerdict | None,
    row: dict | None,
    one_cluster: bool,
) -> TrustedInterval:
    """The interval the reader may see, from the verdict's method's row on the real data."""
    method = verdict.method if verdict is not None else (row or {}).get("method")
    passed = verdict is not None and method in verdict.passed_methods
    if one_cluster:
        reason = WITHHELD_ONE_CLUSTER
    elif verdict is None:
        reason = WITHHELD_NOT_MEASURED
    elif not passed:
        reason = WITHHELD_NONE_PASSED
    elif row is None or not (math.isfinite(row["conf_low"]) and math.isfinite(row["conf_high"])):
        reason = WITHHELD_UNBOUNDED
    else:
        reason = None
    shown = reason is None
    return TrustedInterval(
        outcome=on.outcome,
        level=on.level,
        estimator=on.estimator,
        method=method,
        label=(row or {}).get("label", METHOD_LABELS.get(method or "", "")),
        estimate=float(row["estimate"]) if row is not None else estimate.estimate,
        conf_low=float(row["conf_low"]) if shown else math.nan,
        conf_high=float(row["conf_high"]) if shown else math.nan,
        p_value=float(row["p_value"]) if row is not None else math.nan,
        size_checked=bool(shown and passed),
        rate=float(verdict.rates.get(method, math.nan)) if verdict is not None else math.nan,
        withheld_reason=reason,
        ri_rank=(row or {}).get("ri_rank"),
        ri_assignments=(row or {}).get("ri_assignments"),
        n_obs=estimate.n_obs,
        n_clusters=estimate.n_clusters,
        n_treated_clusters=estimate.n_treated_clusters,
    )


def trusted_interval(
    params: Params, on: EstimationDesign, estimate: EffectEstimate
) -> TrustedInterval:
    """The interval of ``estimate`` the reader may see, by the first method (in
    ``DEFAULT_PREFERENCE``) whose size, measured on ``on``, lies in ``inference.size_band``.

    Methods are size-checked one at a time in order of preference and the search stops at the
    first that passes (the same choice as checking all of them); when none passes, the closest
    method's p-value is kept and its interval withheld.
    """
    methods, _ = _methods(on)
    one_cluster = estimate.n_treated_clusters < 2
    order = [m for m in DEFAULT_PREFERENCE if m in methods] + [
        m for m in methods if m not in DEFAULT_PREFERENCE
    ]
    tables = []
    verdict = None
    for m in order:
        tables.append(_size(params, on, (m,)))
        verdict = _verdict(params, tables[-1])
        if verdict is not None and verdict.passed_methods:
            break
    else:
        verdict = _verdict(params, pd.concat(tables, ignore_index=True)) if tables else None
    row = None
    if verdict is not None:
        passed = verdict.method in verdict.passed_methods
        row = _run_method(params, on, verdict.method, interval=passed and not one_cluster)
    return _trusted(params, on, estimate, verdict, row, one_cluster)


# --------------------------------------------------------------------------------------------
# The page's analyses


def _dominant(on: EstimationDesign, max_share: float = 0.2) -> tuple[str | None, float]:
    treated = on.frame[on.frame["treated"] > 0]
    if treated.empty:
        return None, math.nan
    size = (
        treated.groupby(on.cluster)[on.weights].sum()
        if on.weights
        else treated.groupby(on.cluster).size()
    )
    share = size / size.sum()
    if len(share) > 1 and share.max() > max_share:
        return str(share.idxmax()), float(share.max())
    return None, math.nan


@analysis("how_sure.headline", PAGE, requires=DID_DESIGN)
def how_sure(prepared: Prepared, params: Params, headline: Headline) -> HowSure | NotApplicable:
    """Every method that can run on the headline design, each one's size measured on it, the
    verdict (:func:`~evaluation.inference.trust.choose_headline`) and the interval shown."""
    on, estimate = headline.design, headline.estimate
    methods, left = _methods(on)
    one_cluster = estimate.n_treated_clusters < 2
    rows, ran = [], []
    for m in methods:
        try:
            rows.append(_run_method(params, on, m, interval=not one_cluster))
            ran.append(m)
        except (ValueError, np.linalg.LinAlgError):
            left[m] = LEFT_OUT_FAILED
    sizes = _size(params, on, tuple(ran)) if ran else pd.DataFrame()
    verdict = _verdict(params, sizes)
    rates = dict(verdict.rates) if verdict is not None else {}
    comparison = pd.DataFrame(rows).reindex(columns=COMPARISON_COLUMNS[:8])
    comparison["rate"] = comparison["method"].map(rates).astype(float)
    if verdict is None:
        comparison["status"] = "not_measured"
    else:
        comparison["status"] = [
            "board"
            if m == verdict.method
            else ("passed" if m in verdict.passed_methods else "failed")
            for m in comparison["method"]
        ]
    passed = set(verdict.passed_methods) if verdict is not None else set()
    comparison["interval_shown"] = [
        (not one_cluster) and m in passed and math.isfinite(lo) and math.isfinite(hi)
        for m, lo, hi in zip(
            comparison["method"], comparison["conf_low"], comparison["conf_high"], strict=True
        )
    ]
    chosen = None
    if verdict is not None:
        chosen = next(r for r in rows if r["method"] == verdict.method)
    elif rows:
        chosen = rows[0]
    trusted = _trusted(params, on, estimate, verdict, chosen, one_cluster)
    dominant, share = _dominant(on)
    units = on.frame.groupby("commune_code")["pilot"].max()
    return HowSure(
        outcome=on.outcome,
        level=on.level,
        trusted=trusted,
        comparison=comparison,
        left_out=pd.DataFrame(
            [{"method": m, "reason": k} for m, k in left.items()], columns=["method", "reason"]
        ),
        sizes=sizes,
        verdict=verdict,
        n_sims=int(params.inference.size_sims),
        n_treated_clusters=int(estimate.n_treated_clusters),
        n_clusters=int(estimate.n_clusters),
        n_treated_units=int((units > 0).sum()),
        n_units=int(len(units)),
        dominant_cluster=dominant,
        dominant_share=share,
    )


@dataclass(frozen=True)
class OutcomeIntervals:
    """The shown interval (or the reason it is withheld) of every outcome's TWFE estimate.

    Attributes
    ----------
    rows : list of TrustedInterval
        One per estimate of :class:`~evaluation.analysis.effects.OutcomeEffects`, same order.
    estimates : list of EffectEstimate
        Those estimates (point estimates, CRV1 intervals not shown).
    """

    rows: list[TrustedInterval]
    estimates: list[EffectEstimate] = field(default_factory=list)

    def tidy(self) -> pd.DataFrame:
        """``tables/effects.csv`` rows of the shown method of every outcome."""
        return pd.concat(
            [
                r.tidy(e.estimand, str(e.terms.index[0]))
                for r, e in zip(self.rows, self.estimates, strict=True)
            ],
            ignore_index=True,
        )


@analysis("how_sure.every_outcome", PAGE, requires=DID_DESIGN)
def every_outcome(
    prepared: Prepared,
    params: Params,
    outcomes: OutcomeEffects,
    headline_check: HowSure | NotApplicable | None = None,
) -> OutcomeIntervals:
    """Each outcome's interval by the method whose size, measured on that outcome's design,
    lies in the band (the headline's own check is reused for the headline's design)."""
    rows = []
    for estimate, on in zip(outcomes.estimates, outcomes.designs, strict=True):
        if (
            isinstance(headline_check, HowSure)
            and headline_check.outcome == on.outcome
            and headline_check.level == on.level
        ):
            rows.append(headline_check.trusted)
        else:
            rows.append(trusted_interval(params, on, estimate))
    return OutcomeIntervals(rows, list(outcomes.estimates))


@analysis("how_sure.coverage", PAGE, requires=DID_DESIGN)
def coverage(
    prepared: Prepared, params: Params, intervals: OutcomeIntervals
) -> TrustedInterval | NotApplicable:
    """Did more households return their ballot where the model ran? (coverage as an outcome)"""
    unmet = first_unmet(BALLOT_DID, prepared, params)
    if unmet is not None:
        return NotApplicable("how_sure.coverage", *unmet)
    for row in intervals.rows:
        if row.outcome == "coverage" and row.level == UNIT_PERIOD:
            return row
    return NotApplicable(
        "how_sure.coverage", "outcome_present", {"contract": "hanam", "outcome": "coverage"}
    )
