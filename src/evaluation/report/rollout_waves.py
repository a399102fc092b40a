"""The staggered-rollout page (``07_rollout_waves``): effects across every adoption wave.

The pilot comparison (page 03) stops before the next wave adopts. This page uses every wave of
the commune x wave panel (``prepared.panel``, means weighted by ballots returned) with each
commune's first treated wave (NaN = never adopted), and asks whether the communes of later
waves gained as much as the 14 pilots:

* why a plain two-way fixed effects (TWFE) regression can mislead with staggered timing
  (Goodman-Bacon decomposition of the TWFE coefficient);
* Callaway & Sant'Anna ATT(g, t) with not-yet-adopted communes as controls, doubly robust
  with baseline commune covariates (``analysis.baseline_covariates`` found in
  ``prepared.baseline``; for a generic panel the ``data.panel.covariates``), and their simple,
  event-time (multiplier-bootstrap uniform band), cohort and calendar aggregations;
* the Sun & Abraham interaction-weighted event study beside the Callaway-Sant'Anna one.

Choices made once here (and printed on the page): the base period is ``universal`` (every
ATT(g, t) compares with the wave before the cohort adopted, so pre-adoption points read like
Sun & Abraham's, which omit that same wave); communes whose merged parts differed in pilot
status (``drop_mixed`` or a pilot share strictly between 0 and 1) are left out, because the
estimators need one adoption wave per commune; the Goodman-Bacon decomposition and the plain
TWFE number beside it are unweighted on the balanced panel, so the two agree exactly.

Works on a generic panel (``prepared.meta["source"] == "panel"``): the unit and period are
those of the file, the outcomes those of ``data.panel.outcomes`` (the first is the headline).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.config import Params
from evaluation.estimators.bacon import BaconDecomposition, bacon_decomposition
from evaluation.estimators.result import EffectEstimate
from evaluation.estimators.staggered import GroupTimeResult, aggregate, group_time_att
from evaluation.estimators.sun_abraham import sun_abraham
from evaluation.estimators.twfe import twfe
from evaluation.i18n import Language, format_number, format_p_value, t
from evaluation.measures import period_label as measures_period_label
from evaluation.prepare import Prepared
from evaluation.report.effects import BALLOT_LEVEL, covariate_label, format_effect, outcome_label
from evaluation.report.figures_rollout import group_time_figure

__all__ = [
    "CallawaySantAnna",
    "RolloutDesign",
    "aggregations",
    "aggregations_table",
    "bacon",
    "bacon_reading",
    "bacon_table",
    "covariate_label",
    "callaway_santanna",
    "cohort_reading",
    "cohort_table",
    "design_reading",
    "equal_exposure",
    "first_waves",
    "event_time_table",
    "group_time_chart",
    "headline_outcome",
    "household_available",
    "household_check",
    "dynamic_reading",
    "terms_table",
    "period_label",
    "plain_twfe",
    "pretrend_check",
    "rollout_design",
    "rollout_results",
    "rollout_summary",
    "method_reading",
    "term_label",
    "staggered_panel",
    "sun_abraham_estimate",
]

UNIT = "commune_code"
TIME = "wave_index"
FIRST_TREATED = "first_treated_wave"
#: Column of ``staggered_panel`` holding the cluster of each commune (time-invariant).
CLUSTER = "cluster_id"
#: Control group of the Callaway-Sant'Anna estimates (did's ``control_group``).
CONTROL_GROUP = "not_yet_treated"
BASE_PERIOD = "universal"
_TERM = re.compile(r"^(?P<kind>[gte])(?P<sign>[=+-])(?P<value>\d+)$")


@dataclass(frozen=True)
class RolloutDesign:
    """Who adopted when, in the data the page estimates on.

    Attributes
    ----------
    outcome : str
        The outcome column analysed.
    weights : str or None
        Weight column of the commune x wave rows (``n_ballots``) or None (unweighted).
    cohorts : tuple of int
        First treated waves (wave index or generic period) of the adopting units, ascending;
        the first is the pilot cohort.
    units_by_cohort : tuple of int
        Units in each cohort (same order).
    n_never : int
        Units never treated within the data.
    n_excluded : int
        Units left out because their merged parts differed in pilot status.
    covariates : tuple of str
        Covariates available to the doubly robust estimates (complete and varying).
    source : str
        ``prepared.meta["source"]`` (``demo``, ``files`` or ``panel``).
    first_period, last_period : int
        First and last wave (period) of the panel.
    """

    outcome: str
    weights: str | None
    cohorts: tuple[int, ...]
    units_by_cohort: tuple[int, ...]
    n_never: int
    n_excluded: int
    covariates: tuple[str, ...]
    source: str
    first_period: int
    last_period: int

    @property
    def n_cohorts(self) -> int:
        return len(self.cohorts)

    @property
    def has_later_waves(self) -> bool:
        """Whether any unit adopted after the pilot cohort."""
        return self.n_cohorts >= 2

    @property
    def estimable(self) -> bool:
        """Whether any comparison exists: a never-treated unit or a second cohort."""
        return self.n_cohorts >= 1 and (self.n_never > 0 or self.n_cohorts >= 2)

    @property
    def n_units(self) -> int:
        return int(sum(self.units_by_cohort) + self.n_never)


@dataclass(frozen=True)
class CallawaySantAnna:
    """The ATT(g, t) of the page and what they were estimated with.

    Attributes
    ----------
    result : GroupTimeResult
        From :func:`evaluation.estimators.staggered.group_time_att`.
    covariates : tuple of str
        Covariates actually used (empty when none were available or the doubly robust
        estimates with covariates could not be computed for some cell).
    fell_back : bool
        True when covariates were available but dropped because some ATT(g, t) could not be
        estimated with them.
    """

    result: GroupTimeResult
    covariates: tuple[str, ...]
    fell_back: bool = False


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def headline_outcome(prepared: Prepared, params: Params) -> str:
    """The page's outcome: ``analysis.headline_outcome``, or a generic panel's first outcome."""
    if prepared.meta.get("source") == "panel":
        outcomes = prepared.meta.get("outcomes") or []
        if not outcomes:
            raise ValueError(
                "prepared.meta['outcomes'] is empty for a generic panel; name the outcomes in "
                "data.panel.outcomes"
            )
        return str(outcomes[0])
    return params.analysis.headline_outcome


def _weights(prepared: Prepared, params: Params, outcome: str) -> str | None:
    if prepared.meta.get("source") == "panel":
        spec = params.data.panel
        weighted = spec is not None and (spec.weights is not None or spec.level == "individual")
        return "n_ballots" if weighted else None
    ballot_level = outcome in BALLOT_LEVEL or outcome.startswith("factor_")
    return "n_ballots" if ballot_level else None


def _excluded_units(panel: pd.DataFrame) -> pd.Series:
    """Units whose merged parts differed in pilot status (no single adoption wave)."""
    bad = pd.Series(False, index=panel.index)
    if "drop_mixed" in panel:
        bad |= panel["drop_mixed"].fillna(False).astype(bool)
    if "pilot_share" in panel:
        share = pd.to_numeric(panel["pilot_share"], errors="coerce")
        bad |= (share > 0) & (share < 1)
    return bad.groupby(panel[UNIT]).transform("any")


def staggered_panel(prepared: Prepared, params: Params) -> pd.DataFrame:
    """All waves of the unit x wave panel, ready for the staggered estimators.

    Returns ``prepared.panel`` without units of mixed pilot status, with ``commune_code`` as
    text, ``adopted`` (0/1: the wave is at or after the unit's first treated wave),
    ``cluster_id`` (``analysis.cluster``, or the generic panel's cluster column) and the
    baseline covariates of ``analysis.baseline_covariates`` found in ``prepared.baseline``
    (time-invariant values; a time-varying panel column of the same name is replaced).
    """
    panel = prepared.panel
    for column in (UNIT, TIME, FIRST_TREATED):
        if column not in panel:
            raise ValueError(
                f"prepared.panel lacks column {column!r}; rebuild the run folder with "
                "evaluation.prepare.prepare_inputs"
            )
    frame = panel.loc[~_excluded_units(panel)].copy()
    frame[UNIT] = frame[UNIT].astype(str)
    frame[FIRST_TREATED] = pd.to_numeric(frame[FIRST_TREATED], errors="coerce").astype(float)
    frame["adopted"] = (frame[TIME] >= frame[FIRST_TREATED]).fillna(False).astype(float)
    if prepared.meta.get("source") == "panel" and "cluster" in frame:
        frame[CLUSTER] = frame["cluster"].astype(str)
    elif params.analysis.cluster in frame:
        frame[CLUSTER] = frame[params.analysis.cluster].astype(str)
    else:
        frame[CLUSTER] = frame[UNIT]
    baseline = prepared.baseline
    if baseline is not None and UNIT in baseline:
        base = baseline.assign(**{UNIT: baseline[UNIT].astype(str)}).set_index(UNIT)
        for name in params.analysis.baseline_covariates:
            if name in base:
                frame[name] = frame[UNIT].map(pd.to_numeric(base[name], errors="coerce"))
    return frame.sort_values([UNIT, TIME]).reset_index(drop=True)


def _candidate_covariates(prepared: Prepared, params: Params) -> list[str]:
    names = list(params.analysis.baseline_covariates)
    if prepared.meta.get("source") == "panel" and params.data.panel is not None:
        names += [c for c in params.data.panel.covariates if c not in names]
    return names


def rollout_design(prepared: Prepared, params: Params, outcome: str | None = None) -> RolloutDesign:
    """Adoption cohorts, never-treated units, weights and usable covariates of the page.

    Parameters
    ----------
    prepared, params
        The run's prepared data and parameters.
    outcome : str, optional
        Default: :func:`headline_outcome`.

    Returns
    -------
    RolloutDesign
    """
    outcome = outcome or headline_outcome(prepared, params)
    if outcome not in prepared.panel:
        raise ValueError(
            f"outcome {outcome!r} is not a column of prepared.panel; choose one of "
            f"{[c for c in prepared.panel.columns if prepared.panel[c].dtype.kind == 'f'][:12]}"
        )
    frame = staggered_panel(prepared, params)
    units = frame.groupby(UNIT)[FIRST_TREATED].first()
    first, last = int(frame[TIME].min()), int(frame[TIME].max())
    # As the estimators do: adoption after the last wave = never treated within the data;
    # adoption in the first wave leaves no wave before it to compare with.
    adopting = units[(units > first) & (units <= last)]
    counts = adopting.value_counts().sort_index()
    covariates = []
    for name in _candidate_covariates(prepared, params):
        if name in frame and name not in (outcome, FIRST_TREATED, TIME):
            values = pd.to_numeric(frame[name], errors="coerce")
            if values.notna().all() and values.nunique() > 1:
                covariates.append(name)
    return RolloutDesign(
        outcome=outcome,
        weights=_weights(prepared, params, outcome),
        cohorts=tuple(int(g) for g in counts.index),
        units_by_cohort=tuple(int(n) for n in counts.to_numpy()),
        n_never=int((units.isna() | (units > last)).sum()),
        n_excluded=int(prepared.panel.loc[_excluded_units(prepared.panel), UNIT].nunique()),
        covariates=tuple(covariates),
        source=str(prepared.meta.get("source", "")),
        first_period=first,
        last_period=last,
    )


def period_label(
    value: float | int, design: RolloutDesign, language: Language | None = None
) -> str:
    """A wave as readers know it (:func:`evaluation.measures.period_label` for this design)."""
    return measures_period_label(value, design.source, language)


# ---------------------------------------------------------------------------------------------
# Why plain TWFE can mislead
# ---------------------------------------------------------------------------------------------


def _balanced(frame: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Units observed with an outcome in every wave (what the decomposition needs)."""
    complete = frame.dropna(subset=[outcome])
    n_waves = frame[TIME].nunique()
    full = complete.groupby(UNIT)[TIME].transform("nunique") == n_waves
    return complete.loc[full]


def bacon(prepared: Prepared, params: Params, design: RolloutDesign) -> BaconDecomposition:
    """Goodman-Bacon decomposition of the unweighted TWFE coefficient on the balanced panel."""
    frame = _balanced(staggered_panel(prepared, params), design.outcome)
    return bacon_decomposition(frame, design.outcome, UNIT, TIME, FIRST_TREATED)


def plain_twfe(prepared: Prepared, params: Params, design: RolloutDesign) -> EffectEstimate:
    """The plain TWFE estimate over all waves (unit and wave effects, one 0/1 adoption term).

    Unweighted on the balanced panel, so it equals the decomposition's weighted sum; standard
    errors clustered as everywhere on the page (``analysis.ssc`` convention).
    """
    frame = _balanced(staggered_panel(prepared, params), design.outcome)
    return twfe(
        frame,
        design.outcome,
        "adopted",
        unit=UNIT,
        time=TIME,
        cluster=CLUSTER,
        ssc=params.analysis.ssc,
        alpha=params.analysis.alpha,
        estimator="twfe_all_waves",
    )


def bacon_table(decomposition: BaconDecomposition, language: Language) -> pd.DataFrame:
    """Weight and average 2x2 estimate of each kind of comparison, for reading."""
    by_type = decomposition.by_type
    return pd.DataFrame(
        {
            t("rollout_page.col_comparison", language): [
                t(f"rollout.bacon.types.{kind}", language) for kind in by_type.index
            ],
            t("rollout_page.col_weight", language): [
                f"{format_number(100 * w, language, 1)}%" for w in by_type["weight"]
            ],
            t("rollout_page.col_average", language): [
                format_number(e, language, 3) for e in by_type["estimate"]
            ],
        }
    )


def bacon_reading(
    decomposition: BaconDecomposition,
    plain: EffectEstimate,
    simple: EffectEstimate | None,
    language: Language,
) -> str:
    """What the decomposition says about the plain TWFE number, in one paragraph."""
    outcome = plain.outcome
    forbidden = decomposition.by_type.reindex(["later_vs_earlier", "later_vs_always_treated"])
    weight = float(forbidden["weight"].fillna(0).sum())
    values = {
        "twfe": format_effect(outcome, plain.estimate, language),
        "low": format_effect(outcome, plain.conf_int[0], language),
        "high": format_effect(outcome, plain.conf_int[1], language),
    }
    text = t("rollout_page.twfe_number", language, **values)
    if weight <= 0:
        text += " " + t("rollout_page.bacon_clean", language)
    else:
        rows = forbidden.dropna()
        average = float(np.sum(rows["weight"] * rows["estimate"]) / rows["weight"].sum())
        text += " " + t(
            "rollout_page.bacon_forbidden",
            language,
            share=f"{format_number(100 * weight, language, 0)}%",
            average=format_effect(outcome, average, language),
        )
    if simple is not None:
        text += " " + t(
            "rollout_page.bacon_versus_cs",
            language,
            cs=format_effect(outcome, simple.estimate, language),
        )
    return text


# ---------------------------------------------------------------------------------------------
# Callaway & Sant'Anna
# ---------------------------------------------------------------------------------------------


def callaway_santanna(
    prepared: Prepared,
    params: Params,
    design: RolloutDesign,
    covariates: tuple[str, ...] | None = None,
) -> CallawaySantAnna:
    """ATT(g, t) with not-yet-treated controls, doubly robust with the baseline covariates.

    Parameters
    ----------
    prepared, params, design
        The run and its :func:`rollout_design`.
    covariates : tuple of str, optional
        Default ``design.covariates``. When some ATT(g, t) cannot be estimated with them
        (e.g. a propensity score that separates a small cohort), every cell is re-estimated
        without covariates and ``fell_back`` is set.

    Returns
    -------
    CallawaySantAnna
    """
    covariates = design.covariates if covariates is None else tuple(covariates)
    frame = staggered_panel(prepared, params)

    def estimate(names: tuple[str, ...]) -> GroupTimeResult:
        return group_time_att(
            frame,
            design.outcome,
            UNIT,
            TIME,
            FIRST_TREATED,
            covariates=names,
            weights=design.weights,
            control_group=CONTROL_GROUP,
            method="dr",
            base_period=BASE_PERIOD,
            panel=True,
            cluster=CLUSTER,
            alpha=params.analysis.alpha,
        )

    result = estimate(covariates)
    if covariates and result.att_gt["estimate"].isna().any():
        return CallawaySantAnna(result=estimate(()), covariates=(), fell_back=True)
    return CallawaySantAnna(result=result, covariates=covariates)


def aggregations(cs: CallawaySantAnna, params: Params) -> dict[str, EffectEstimate]:
    """Simple, dynamic, group and calendar aggregations of the ATT(g, t).

    The dynamic (event-time) effects cover ``-analysis.event_leads .. analysis.event_lags``
    waves around adoption with a multiplier-bootstrap uniform band
    (``inference.n_boot`` draws, ``inference.seed``); the others use analytic
    influence-function standard errors. Keys ``simple, dynamic, group, calendar``.
    """
    result = cs.result
    out = {
        "simple": aggregate(result, "simple"),
        "dynamic": aggregate(
            result,
            "dynamic",
            min_e=-params.analysis.event_leads,
            max_e=params.analysis.event_lags,
            bootstrap=True,
            n_boot=params.inference.n_boot,
            seed=params.inference.seed,
        ),
        "group": aggregate(result, "group"),
        "calendar": aggregate(result, "calendar"),
    }
    return out


def equal_exposure(cs: CallawaySantAnna) -> EffectEstimate:
    """Each cohort's average effect over the same number of waves since adoption.

    Later cohorts are observed for fewer waves after adopting than the pilots; comparing their
    full-period averages would mix cohort and exposure. Here every cohort is averaged over
    event times ``0 .. k``, ``k`` the longest exposure all cohorts reach (estimator
    ``cs_group_equal_exposure``, terms ``g=<wave>``).
    """
    table = cs.result.att_gt.dropna(subset=["estimate"])
    post = table.loc[table["event_time"] >= 0]
    k = int(post.groupby("group")["event_time"].max().min())
    estimate = aggregate(cs.result, "group", min_e=0, max_e=k)
    return dataclasses.replace(
        estimate,
        estimator="cs_group_equal_exposure",
        estimand=f"ATT(g; e=0..{k})",
        diagnostics={**estimate.diagnostics, "max_event_time": float(k)},
    )


def sun_abraham_estimate(
    prepared: Prepared, params: Params, design: RolloutDesign
) -> EffectEstimate:
    """Sun & Abraham event study on the same panel, window and weights as the CS dynamic one.

    Controls: never-treated units, or (when every unit adopts) the last cohort before it adopts.
    """
    frame = staggered_panel(prepared, params)
    return sun_abraham(
        frame,
        design.outcome,
        UNIT,
        TIME,
        FIRST_TREATED,
        cluster=CLUSTER,
        weights=design.weights,
        control="never_treated" if design.n_never > 0 else "last_treated",
        leads=params.analysis.event_leads,
        lags=params.analysis.event_lags,
        alpha=params.analysis.alpha,
    )


def household_check(
    prepared: Prepared, params: Params, design: RolloutDesign, cs: CallawaySantAnna
) -> EffectEstimate:
    """The simple ATT re-estimated on household ballots (repeated cross-sections).

    Same control group, base period and covariates as the commune-level estimate; each ballot
    is a sampling unit, clustered by commune (estimator ``cs_simple_household``).
    """
    if not prepared.has_ballots:
        raise ValueError("prepared.ballots is None: the household check needs ballots")
    ballots = prepared.ballots
    if design.outcome not in ballots:
        raise ValueError(f"outcome {design.outcome!r} is not a ballot column")
    frame = ballots.loc[~_excluded_units(ballots)].copy()
    frame[UNIT] = frame[UNIT].astype(str)
    panel = staggered_panel(prepared, params).groupby(UNIT).first()
    for name in (CLUSTER, *cs.covariates):
        frame[name] = frame[UNIT].map(panel[name])
    weights = None
    if params.analysis.weighting == "survey" and "weight" in frame:
        weights = "weight"
    elif params.analysis.weighting == "nonresponse" and "coverage" in frame:
        frame["nonresponse_weight"] = 1.0 / frame["coverage"].clip(lower=0.05)
        weights = "nonresponse_weight"
    result = group_time_att(
        frame,
        design.outcome,
        None,
        TIME,
        FIRST_TREATED,
        covariates=cs.covariates,
        weights=weights,
        control_group=CONTROL_GROUP,
        method="dr",
        base_period=BASE_PERIOD,
        panel=False,
        cluster=CLUSTER,
        alpha=params.analysis.alpha,
    )
    return dataclasses.replace(aggregate(result, "simple"), estimator="cs_simple_household")


# ---------------------------------------------------------------------------------------------
# Tables, figures and readings
# ---------------------------------------------------------------------------------------------


def term_label(term: str, design: RolloutDesign, language: Language | None = None) -> str:
    """``g=199`` / ``t=199`` -> ``2019Q4`` (``Q4/2019`` in Vietnamese); ``e+2`` -> ``+2``;
    ``ATT`` unchanged."""
    match = _TERM.match(str(term))
    if match is None:
        return str(term)
    if match["kind"] == "e":
        value = int(match["value"]) * (-1 if match["sign"] == "-" else 1)
        return f"{value:+d}".replace("-", "−")
    return period_label(int(match["value"]), design, language)


def group_time_chart(cs: CallawaySantAnna, design: RolloutDesign, language: Language) -> Figure:
    """The ATT(g, t) figure with waves labelled as readers know them (``2019Q4``)."""
    fig = group_time_figure(cs.result, language)
    groups = sorted(cs.result.att_gt["group"].unique())
    times = sorted(cs.result.att_gt["time"].unique())
    # Label every other wave when there are many, so labels stay large and legible.
    step = 1 if len(times) <= 10 else 2
    axes = [ax for ax in fig.axes if ax.get_title()]
    for i, (ax, g) in enumerate(zip(axes, groups, strict=False)):
        ax.set_title(
            t("rollout.group_time.cohort", language, group=period_label(g, design, language)),
            fontsize=12,
        )
        ax.set_xticks(times[::step])
        ax.set_xticklabels([period_label(v, design, language) for v in times[::step]])
        ax.tick_params(axis="x", labelbottom=i == len(axes) - 1)
    return fig


def _effect_ci(outcome: str, row: pd.Series, language: Language) -> tuple[str, str]:
    effect = format_effect(outcome, row["estimate"], language)
    if not (np.isfinite(row["conf_low"]) and np.isfinite(row["conf_high"])):
        return effect, "–"
    low = format_effect(outcome, row["conf_low"], language)
    high = format_effect(outcome, row["conf_high"], language)
    return effect, f"{low} – {high}"


def first_waves(n: int, language: Language) -> str:
    """``first survey wave`` / ``first 3 survey waves`` (singular and plural wording)."""
    if n == 1:
        return t("rollout_page.first_wave_one", language)
    return t("rollout_page.first_wave_many", language, n=n)


def _p_text(p: float, language: Language) -> str:
    """``= 0,123`` or ``< 0,001``, to follow a ``p`` in running text."""
    text = format_p_value(p, language)
    return text if text.startswith("<") else f"= {text}"


def aggregations_table(
    estimates: list[EffectEstimate], lags: int, language: Language
) -> pd.DataFrame:
    """The headline number of each aggregation (and comparison estimator), for reading.

    ``lags`` is the last event time averaged by the dynamic and Sun-Abraham headlines.
    """
    rows = []
    for est in estimates:
        effect, ci = _effect_ci(est.outcome, est.terms.iloc[0], language)
        rows.append(
            {
                t("rollout_page.col_summary", language): t(
                    f"rollout_page.estimators.{est.estimator}", language, lags=lags
                ),
                t("rollout_page.col_effect", language): effect,
                t("rollout_page.col_ci", language): ci,
                t("rollout_page.col_p", language): format_p_value(est.p_value, language),
            }
        )
    return pd.DataFrame(rows)


def event_time_table(
    cs_dynamic: EffectEstimate,
    sun_ab: EffectEstimate,
    design: RolloutDesign,
    language: Language,
) -> pd.DataFrame:
    """Effects by waves since adoption: Callaway-Sant'Anna (uniform band) beside Sun-Abraham."""
    terms = [n for n in cs_dynamic.terms.index if str(n).startswith("e")]
    terms += [n for n in sun_ab.terms.index if str(n).startswith("e") and n not in terms]
    terms = sorted(terms, key=lambda n: int(str(n)[1:]))
    outcome = cs_dynamic.outcome
    rows = []
    for name in terms:
        row = {t("rollout_page.col_event", language): term_label(name, design, language)}
        for est, key in ((cs_dynamic, "cs"), (sun_ab, "sa")):
            if name in est.terms.index and np.isfinite(est.terms.loc[name, "estimate"]):
                effect, ci = _effect_ci(outcome, est.terms.loc[name], language)
            else:
                effect, ci = "–", "–"
            row[t(f"rollout_page.col_{key}", language)] = effect
            row[t(f"rollout_page.col_{key}_ci", language)] = ci
        rows.append(row)
    return pd.DataFrame(rows)


def terms_table(
    estimate: EffectEstimate, design: RolloutDesign, language: Language
) -> pd.DataFrame:
    """The per-wave terms of an aggregation (``t=...`` or ``g=...``) with intervals, for reading."""
    rows = []
    for name, row in estimate.terms.iloc[1:].iterrows():
        effect, ci = _effect_ci(estimate.outcome, row, language)
        rows.append(
            {
                t("rollout_page.col_wave", language): term_label(str(name), design, language),
                t("rollout_page.col_effect", language): effect,
                t("rollout_page.col_ci", language): ci,
                t("rollout_page.col_p", language): format_p_value(row["p_value"], language),
            }
        )
    return pd.DataFrame(rows)


def dynamic_reading(cs_dynamic: EffectEstimate, sun_ab: EffectEstimate, language: Language) -> str:
    """First and last post-adoption effect, and how far Sun-Abraham is from Callaway-Sant'Anna."""
    outcome = cs_dynamic.outcome
    post = [n for n in cs_dynamic.terms.index if _TERM.match(str(n)) and str(n).startswith("e+")]
    post = [n for n in post if np.isfinite(cs_dynamic.terms.loc[n, "estimate"])]
    if not post:
        return ""
    post = sorted(post, key=lambda n: int(str(n)[1:]))
    common = [n for n in post if n in sun_ab.terms.index]
    gap = (
        float(
            np.max(
                np.abs(
                    cs_dynamic.terms.loc[common, "estimate"].to_numpy()
                    - sun_ab.terms.loc[common, "estimate"].to_numpy()
                )
            )
        )
        if common
        else float("nan")
    )
    text = t(
        "rollout_page.dynamic_reading",
        language,
        first=format_effect(outcome, cs_dynamic.terms.loc[post[0], "estimate"], language),
        last=format_effect(outcome, cs_dynamic.terms.loc[post[-1], "estimate"], language),
        lags=int(str(post[-1])[1:]),
        gap=format_effect(outcome, gap, language),
    )
    before = pretrend_check(cs_dynamic)
    if before is not None:
        key = (
            "rollout_page.pretrend_band_bad"
            if before["outside"]
            else "rollout_page.pretrend_band_ok"
        )
        text += " " + t(key, language, n=before["n"], outside=before["outside"])
    return text


def pretrend_check(cs_dynamic: EffectEstimate) -> dict | None:
    """Pre-adoption event-time effects whose simultaneous band excludes zero.

    Uses the estimated pre-adoption terms (``e-2``, ``e-3`` ... within the window; ``e-1`` is
    the reference of the universal base period and has no interval). Returns ``{"n": terms
    checked, "outside": terms whose band excludes zero}``, or None when there are none.
    """
    terms = cs_dynamic.terms
    names = [
        n
        for n in terms.index
        if str(n).startswith("e-")
        and np.isfinite(terms.loc[n, "conf_low"])
        and np.isfinite(terms.loc[n, "conf_high"])
    ]
    if not names:
        return None
    rows = terms.loc[names]
    outside = int(((rows["conf_low"] > 0) | (rows["conf_high"] < 0)).sum())
    return {"n": len(names), "outside": outside}


def household_available(prepared: Prepared, design: RolloutDesign) -> str | None:
    """None when the household check can run; otherwise the message key saying why not."""
    if not prepared.has_ballots:
        if design.source == "panel":
            return "rollout_page.household_skipped_panel"
        return "rollout_page.household_skipped_no_ballots"
    if design.outcome not in prepared.ballots:
        return "rollout_page.household_skipped_outcome"
    return None


def cohort_table(
    cs_group: EffectEstimate,
    exposure: EffectEstimate,
    design: RolloutDesign,
    language: Language,
) -> pd.DataFrame:
    """One row per adoption wave: communes, waves observed since, ATT(g), equal-exposure ATT(g)."""
    k = int(exposure.diagnostics["max_event_time"])
    outcome = cs_group.outcome
    rows = []
    for g, n in zip(design.cohorts, design.units_by_cohort, strict=True):
        name = f"g={g:g}"
        if name not in cs_group.terms.index:
            continue
        full, full_ci = _effect_ci(outcome, cs_group.terms.loc[name], language)
        same, same_ci = _effect_ci(outcome, exposure.terms.loc[name], language)
        rows.append(
            {
                t("rollout_page.col_cohort", language): period_label(g, design, language)
                + (f" ({t('rollout_page.pilot', language)})" if g == design.cohorts[0] else ""),
                t("rollout_page.col_units", language): format_number(n, language, 0),
                t("rollout_page.col_waves_since", language): format_number(
                    design.last_period - g + 1, language, 0
                ),
                t("rollout_page.col_group_att", language): full,
                t("rollout_page.col_ci", language): full_ci,
                t("rollout_page.col_equal", language, waves=first_waves(k + 1, language)): same,
                t("rollout_page.col_equal_ci", language): same_ci,
            }
        )
    return pd.DataFrame(rows)


def _cohort_comparison(exposure: EffectEstimate, design: RolloutDesign) -> dict | None:
    """Pilot cohort vs the later cohorts (size-weighted) at equal exposure; None if impossible."""
    terms = exposure.terms
    pilot_name = f"g={design.cohorts[0]:g}" if design.cohorts else ""
    later = [
        (f"g={g:g}", n)
        for g, n in zip(design.cohorts[1:], design.units_by_cohort[1:], strict=True)
        if f"g={g:g}" in terms.index and np.isfinite(terms.loc[f"g={g:g}", "estimate"])
    ]
    if pilot_name not in terms.index or not later:
        return None
    pilot = float(terms.loc[pilot_name, "estimate"])
    sizes = np.array([n for _, n in later], float)
    estimates = terms.loc[[name for name, _ in later], "estimate"].to_numpy(float)
    later_mean = float(np.sum(sizes * estimates) / sizes.sum())
    if pilot > 0 and later_mean >= 0.8 * pilot:
        verdict = "as_much"
    elif pilot > 0 and later_mean > 0:
        verdict = "less"
    elif pilot > 0:
        verdict = "none"
    else:
        verdict = "pilot_none"
    return {
        "pilot": pilot,
        "later": later_mean,
        "ratio": later_mean / pilot if pilot != 0 else float("nan"),
        "verdict": verdict,
        "later_terms": [name for name, _ in later],
        "waves": int(exposure.diagnostics["max_event_time"]) + 1,
    }


def cohort_reading(exposure: EffectEstimate, design: RolloutDesign, language: Language) -> str:
    """Did later waves gain as much as the pilots? Plain words, at equal time since adoption."""
    if not design.has_later_waves:
        return t("rollout_page.cohorts_single", language)
    comparison = _cohort_comparison(exposure, design)
    if comparison is None:
        return t("rollout_page.cohorts_last_only", language)
    outcome = exposure.outcome
    ratio = comparison["ratio"]
    text = t(
        f"rollout_page.cohorts_{comparison['verdict']}",
        language,
        waves=first_waves(comparison["waves"], language),
        pilot=format_effect(outcome, comparison["pilot"], language),
        later=format_effect(outcome, comparison["later"], language),
        ratio=f"{format_number(100 * ratio, language, 0)}%" if np.isfinite(ratio) else "–",
    )
    items = []
    for name in comparison["later_terms"]:
        effect, ci = _effect_ci(outcome, exposure.terms.loc[name], language)
        items.append(
            t(
                "rollout_page.cohort_item",
                language,
                wave=term_label(name, design, language),
                effect=effect,
                ci=ci,
            )
        )
    return f"{text} {t('rollout_page.cohorts_detail', language, details='; '.join(items))}"


def design_reading(design: RolloutDesign, language: Language) -> str:
    """Who adopted when: cohorts, never-adopting units, units left out."""
    cohorts = ", ".join(
        t(
            "rollout_page.cohort_count",
            language,
            wave=period_label(g, design, language),
            n=format_number(n, language, 0),
        )
        for g, n in zip(design.cohorts, design.units_by_cohort, strict=True)
    )
    text = t(
        "rollout_page.design",
        language,
        cohorts=cohorts or "–",
        never=format_number(design.n_never, language, 0),
        first=period_label(design.first_period, design, language),
        last=period_label(design.last_period, design, language),
    )
    if design.n_excluded:
        text += " " + t("rollout_page.design_excluded", language, n=design.n_excluded)
    if not design.estimable:
        text += " " + t("rollout_page.not_estimable", language)
    elif not design.has_later_waves:
        text += " " + t("rollout_page.single_cohort", language)
    return text


def method_reading(cs: CallawaySantAnna, design: RolloutDesign, language: Language) -> str:
    """What the Callaway-Sant'Anna estimates compare and adjust for."""
    weights = t(
        "rollout_page.weights_ballots" if design.weights else "rollout_page.weights_none",
        language,
    )
    if cs.covariates:
        names = ", ".join(covariate_label(c, language) for c in cs.covariates)
        adjust = t("rollout_page.covariates_used", language, covariates=names)
    elif cs.fell_back:
        adjust = t(
            "rollout_page.covariates_fell_back",
            language,
            covariates=", ".join(covariate_label(c, language) for c in design.covariates),
        )
    else:
        adjust = t("rollout_page.covariates_none", language)
    text = t("rollout_page.cs_method", language, weights=weights, adjust=adjust)
    pretrend = cs.result.diagnostics.get("pretrend_p_value")
    if pretrend is not None and np.isfinite(pretrend):
        # The chi-squared Wald pre-test over every pre-adoption cell over-rejects badly when
        # the cells are many relative to the clusters (36 cells, 109 communes: ~80% at 5%
        # under no pre-trend), so it is printed for reference and the verdict comes from the
        # simultaneous band of the event-time effects (dynamic_reading).
        text += " " + t(
            "rollout_page.pretrend_reference",
            language,
            df=int(cs.result.diagnostics["pretrend_df"]),
            p=_p_text(pretrend, language),
            clusters=cs.result.n_clusters,
        )
    return text


def rollout_summary(
    design: RolloutDesign,
    simple: EffectEstimate,
    exposure: EffectEstimate | None,
    language: Language,
) -> str:
    """The page's one-line finding: the overall ATT and, with later waves, pilots vs later."""
    low, high = simple.conf_int
    text = t(
        "rollout_page.finding",
        language,
        outcome=outcome_label(simple.outcome, language),
        effect=format_effect(simple.outcome, simple.estimate, language),
        low=format_effect(simple.outcome, low, language),
        high=format_effect(simple.outcome, high, language),
        cohorts=design.n_cohorts,
    )
    comparison = _cohort_comparison(exposure, design) if exposure is not None else None
    if comparison is not None:
        text += " " + t(
            "rollout_page.finding_cohorts",
            language,
            waves=first_waves(comparison["waves"], language),
            pilot=format_effect(simple.outcome, comparison["pilot"], language),
            later=format_effect(simple.outcome, comparison["later"], language),
        )
    return text


def rollout_results(
    design: RolloutDesign,
    estimates: dict[str, EffectEstimate],
    exposure: EffectEstimate | None,
) -> dict:
    """The page's key numbers for ``results.json`` (JSON-serialisable)."""
    simple = estimates["simple"]
    comparison = _cohort_comparison(exposure, design) if exposure is not None else None
    return {
        "outcome": design.outcome,
        "cohorts": list(design.cohorts),
        "units_by_cohort": list(design.units_by_cohort),
        "n_never": design.n_never,
        "cs_simple": simple.estimate,
        "cs_simple_conf_int": list(simple.conf_int),
        "cs_group": {str(k): float(v) for k, v in estimates["group"].terms["estimate"].items()},
        "pilot_equal_exposure": None if comparison is None else comparison["pilot"],
        "later_equal_exposure": None if comparison is None else comparison["later"],
        "equal_exposure_waves": None if comparison is None else comparison["waves"],
        "verdict": None if comparison is None else comparison["verdict"],
    }
