"""The analysis sample and its weights, defined once for every analysis.

Every analysis that estimates on ballots or on unit-period rows takes its rows, its weights,
its cluster column and its covariates from here, so the headline regression, the few-cluster
methods, the robustness checks, the subgroups and the rollout pages always fit the same sample
under the same weights.

Rules
-----
* The comparison window (``analysis.window_start`` / ``window_end``, fixed in ``prepared.meta``)
  keeps later adopters as not-yet-treated controls; units whose merged parts differed in pilot
  status (``drop_mixed``) are left out.
* Ballot rows carry the weight chosen by ``analysis.weighting``: ``survey`` -> the ballot's
  ``weight``, ``nonresponse`` -> ``1 / coverage`` of its commune-wave (coverage floored at 5%),
  ``none`` -> unweighted.
* Unit-period rows of ballot measures (scores, shares of ballots) are weighted by the ballots
  behind each mean; other indicators are unweighted. A generic panel's rows are weighted by its
  ``data.panel.weights`` column (individual-level data: by the respondents behind each mean).
"""

from __future__ import annotations

import pandas as pd

from evaluation.config import Params
from evaluation.prepare import Prepared

#: Outcomes measured on each ballot (means of answers, shares of households).
BALLOT_OUTCOMES = ("satisfaction_index", "pct_satisfied", "pct_dissatisfied", "model_index")
#: Lowest coverage used in a non-response weight (1 / coverage), so one thin wave cannot dominate.
MIN_COVERAGE_FOR_WEIGHT = 0.05


def is_ballot_outcome(outcome: str) -> bool:
    """Whether ``outcome`` is a mean of ballot answers (weighted by ballots at unit-period level)."""
    return outcome in BALLOT_OUTCOMES or outcome.startswith("factor_")


def is_panel(prepared: Prepared) -> bool:
    """Whether the data are a generic unit x period panel (not the Hà Nam contract)."""
    return prepared.meta.get("source") == "panel"


def _flags(frame: pd.DataFrame, prepared: Prepared) -> pd.DataFrame:
    frame["post"] = (frame["wave_index"] >= prepared.meta["pilot_wave"]).astype(float)
    frame["pilot"] = frame["pilot"].astype(float)
    frame["treated"] = frame["treated"].astype(float)
    frame["commune_code"] = frame["commune_code"].astype(str)
    if "cluster" in frame:
        frame["cluster"] = frame["cluster"].astype(str)
    return frame


def window_ballots(prepared: Prepared) -> pd.DataFrame:
    """Ballots in the comparison window, ``post``/``pilot``/``treated`` as 0/1 numbers, and the
    non-response weight ``nonresponse_weight`` where coverage is known.

    Raises
    ------
    ValueError
        When the data have no ballots (check the ``ballots`` requirement first).
    """
    if prepared.ballots is None:
        raise ValueError("these data have no ballots; declare the 'ballots' requirement")
    frame = _flags(prepared.in_window(prepared.ballots).copy(), prepared)
    if "coverage" in frame:
        frame["nonresponse_weight"] = 1.0 / frame["coverage"].clip(lower=MIN_COVERAGE_FOR_WEIGHT)
    return frame


def window_panel(prepared: Prepared) -> pd.DataFrame:
    """Unit-period rows in the comparison window with ``post``/``pilot``/``treated`` and each
    unit's ``baseline_*`` values (means before the start) added."""
    frame = _flags(prepared.in_window(prepared.panel).copy(), prepared)
    base = prepared.baseline
    if len(base) and "commune_code" in base:
        base = base.assign(commune_code=base["commune_code"].astype(str)).set_index("commune_code")
        for col in base.columns:
            if col not in frame and col.startswith("baseline_"):
                frame[col] = frame["commune_code"].map(base[col])
    return frame


def all_waves_panel(prepared: Prepared) -> pd.DataFrame:
    """Every unit-period row (all waves, not only the window), flags as in :func:`window_panel`;
    units of mixed pilot status left out. For the staggered (rollout) estimators."""
    frame = prepared.panel.copy()
    if "drop_mixed" in frame:
        frame = frame[~frame["drop_mixed"].fillna(False).astype(bool)]
    return _flags(frame, prepared)


def ballot_weight(params: Params) -> str | None:
    """The weight column of ballot-level regressions under ``analysis.weighting``."""
    return {"survey": "weight", "nonresponse": "nonresponse_weight"}.get(params.analysis.weighting)


def panel_weight(prepared: Prepared, params: Params, outcome: str) -> str | None:
    """The weight column of unit-period regressions of ``outcome`` (see the module's rules)."""
    if is_panel(prepared):
        spec = params.data.panel
        weighted = spec is not None and (spec.weights is not None or spec.level == "individual")
        return "n_ballots" if weighted and "n_ballots" in prepared.panel else None
    return "n_ballots" if is_ballot_outcome(outcome) and "n_ballots" in prepared.panel else None


def weight_label_key(prepared: Prepared, params: Params, outcome: str, level: str) -> str:
    """Message key (``sample.weights.*``) saying in words how rows of ``outcome`` are weighted."""
    if level == "ballot":
        return f"sample.weights.ballot_{params.analysis.weighting}"
    column = panel_weight(prepared, params, outcome)
    if column is None:
        return "sample.weights.none"
    if is_panel(prepared):
        spec = params.data.panel
        return (
            "sample.weights.respondents"
            if spec is not None and spec.level == "individual"
            else "sample.weights.panel_column"
        )
    return "sample.weights.ballots_returned"


def cluster_column(prepared: Prepared, params: Params) -> str:
    """The column standard errors cluster on: ``analysis.cluster`` (Hà Nam) or the panel's
    ``data.panel.cluster`` (stored as ``cluster``), else the unit."""
    if is_panel(prepared):
        return "cluster" if "cluster" in prepared.panel else "commune_code"
    return params.analysis.cluster


def strata_column(prepared: Prepared, params: Params) -> str | None:
    """The column pilots are re-assigned within (``inference.strata``), if the data have it."""
    strata = params.inference.strata
    if is_panel(prepared):
        spec = params.data.panel
        return "district_name" if spec is not None and spec.strata else None
    return strata if strata is not None and strata in prepared.panel else None


def requested_covariates(prepared: Prepared, params: Params) -> list[str]:
    """The covariates the user asked for: ``data.panel.covariates`` for a generic panel,
    ``analysis.baseline_covariates`` otherwise."""
    if is_panel(prepared):
        spec = params.data.panel
        return list(spec.covariates) if spec is not None else []
    return list(params.analysis.baseline_covariates)


def covariates(prepared: Prepared, params: Params) -> list[str]:
    """The requested baseline covariates the data really have: measured for some treated and some
    comparison unit, and not constant. These, and only these, are what pages may say they
    adjusted for."""
    base = prepared.baseline
    out = []
    treated = base["pilot"].astype(bool) if "pilot" in base else pd.Series(True, index=base.index)
    for name in requested_covariates(prepared, params):
        if name not in base:
            continue
        values = pd.to_numeric(base[name], errors="coerce")
        # measured in both groups: ballots collected only in pilot communes give no baseline
        # score for the others, and an adjustment cannot rest on one group
        both = values[treated].notna().any() and values[~treated].notna().any()
        if values.dropna().nunique() > 1 and both:
            out.append(name)
    return out


def before_after_panel(
    prepared: Prepared,
    frame: pd.DataFrame,
    outcome: str,
    covariates: list[str],
    weights: str | None,
) -> pd.DataFrame:
    """One row per unit: its mean ``outcome`` before and from the start on, for the two-period
    estimators (doubly robust DiD). Periods of ``frame`` before the start are "before"."""
    from evaluation.estimators.doubly_robust import two_period_panel

    pilot_wave = prepared.meta["pilot_wave"]
    waves = sorted(frame["wave_index"].unique())
    return two_period_panel(
        frame,
        outcome,
        unit="commune_code",
        time="wave_index",
        pilot="pilot",
        pre_periods=[w for w in waves if w < pilot_wave],
        post_periods=[w for w in waves if w >= pilot_wave],
        covariates=covariates,
        weights=weights,
    )


def did_possible(frame: pd.DataFrame, outcome: str) -> bool:
    """Whether ``outcome`` is observed before and after the start in treated and other units
    (and in at least two units) of ``frame`` (``pilot``/``post`` flags): what a DiD needs."""
    if outcome not in frame or not pd.api.types.is_numeric_dtype(frame[outcome]):
        return False
    rows = frame.dropna(subset=[outcome])
    cells = rows.groupby([rows["pilot"] > 0, rows["post"] > 0]).size()
    return len(cells) == 4 and rows["commune_code"].nunique() >= 2
