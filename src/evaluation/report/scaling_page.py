"""The scaling page (``06_scaling``): where next, at what cost, within which budget, and how to learn.

Each function answers one question of the page with calls into :mod:`evaluation.scaling`:

* predicted effect for every commune not yet under the model (from page 05's saved predictions,
  else the average commune-wave effect for every commune);
* the province's "has the conditions" screen (``scaling.conditions``), on the communes' values of
  the last four waves;
* cost per additional satisfied household and per 0.1-point gain (``prepared.costs`` times the
  cost multipliers, set-up at year 0 and running costs discounted over ``horizon_years``);
* the budget plan (0/1 knapsack on present-value cost and expected additional satisfied
  households);
* the next phase as an experiment: power and minimum detectable effect from the ballots'
  variance components, and a randomised, district-stratified stepped-wedge start order.

Conventions stated on the page: costs are present values (VND) over the horizon; the expected
gain is the predicted effect on the share of satisfied answers times the commune's households,
read as additional satisfied households in each year the model runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evaluation.config import Params
from evaluation.i18n import (
    Language,
    format_billion_vnd,
    format_number,
    format_percent,
    format_vnd,
    t,
)
from evaluation.measures import period_label
from evaluation.prepare import Prepared
from evaluation.report.effects import format_effect, outcome_label
from evaluation.report.where_it_works import (
    PREDICTION_COLUMNS,
    commune_predictions,
    moderator_label,
    prediction_outcomes,
)
from evaluation.scaling.budget import RolloutPlan, gain_cost_curve, plan_rollout
from evaluation.scaling.cost_effectiveness import (
    CostEffectiveness,
    cost_effectiveness,
    present_value_cost,
    sensitivity_grid,
)
from evaluation.scaling.power import VarianceComponents, estimate_variance_components, power_curves
from evaluation.scaling.prediction import check_conditions
from evaluation.scaling.rollout_design import step_balance, stepped_wedge

SCORE = "satisfaction_index"
SHARE = "pct_satisfied"
#: Waves averaged to describe a commune's current situation for the conditions screen.
RECENT_WAVES = 4
#: Grids of the next-phase power analysis.
N_TREATED_GRID = (2, 3, 4, 6, 8, 10, 14, 20, 30, 40)
#: The next phase is powered for this share of the predicted effect: outside hand-picked pilots
#: the effect is often smaller, and a design powered for the pilot's effect would miss that.
TARGET_SHARE = 0.5
#: Columns of ``tables/rollout_plan.csv`` (the plan the board signs).
PLAN_COLUMNS = [
    "order",
    "commune_code",
    "commune_name",
    "district_name",
    "setup_vnd",
    "yearly_vnd",
    "cost_vnd",
    "expected_gain",
    "expected_gain_low",
    "expected_gain_high",
    "cumulative_cost_vnd",
    "cumulative_gain",
    "has_conditions",
    "failed_criteria",
    "pool",
    "horizon_years",
    "discount_rate",
]


# -- predictions and candidates -------------------------------------------------------------


def prediction_frame(
    prepared: Prepared, params: Params, saved: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Commune predictions: page 05's table when given, else the average effect for every commune.

    ``saved`` is ``tables/commune_predictions.csv`` as read by the notebook (``commune_code`` as
    text). Without it every commune gets the commune-wave TWFE average effect.
    """
    if saved is not None and len(saved):
        missing = [c for c in PREDICTION_COLUMNS if c not in saved.columns]
        if missing:
            raise ValueError(
                f"the saved commune predictions lack columns {missing}; rerun 05_where_it_works "
                "before this page or delete tables/commune_predictions.csv"
            )
        out = saved.copy()
        out["commune_code"] = out["commune_code"].astype(str)
        for col in ("pilot", "extrapolated"):
            out[col] = out[col].astype(str).str.lower().isin(["true", "1", "1.0"])
        return out
    outcomes = prediction_outcomes(prepared.panel, params.analysis.headline_outcome)
    return commune_predictions(prepared, params, None, outcomes)


def last_wave(prepared: Prepared) -> int:
    return int(prepared.panel["wave_index"].max())


def not_started(prepared: Prepared, as_of_wave: int | None = None) -> pd.Series:
    """Commune codes not under the model by ``as_of_wave`` (default: the last wave of data)."""
    as_of = last_wave(prepared) if as_of_wave is None else int(as_of_wave)
    c = prepared.communes
    first = c["first_treated_wave"].astype(float)
    return c.loc[first.isna() | (first > as_of), "commune_code"].astype(str)


def households(prepared: Prepared) -> pd.Series:
    """Households per commune (latest wave with a count), indexed by commune code."""
    panel = prepared.panel
    if "households_total" not in panel:
        return pd.Series(dtype=float, name="households")
    known = panel.dropna(subset=["households_total"]).sort_values("wave_index")
    out = known.groupby(known["commune_code"].astype(str))["households_total"].last()
    return out.astype(float).rename("households")


def candidates(
    prepared: Prepared, predictions: pd.DataFrame, as_of_wave: int | None = None
) -> pd.DataFrame:
    """One row per commune not yet under the model, with its predicted effects.

    Returns
    -------
    pandas.DataFrame
        ``commune_code, commune_name, district_name, commune_type, households, model, moderator,
        moderator_value, extrapolated`` and, per predicted outcome ``o``, ``effect_<o>,
        se_<o>, low_<o>, high_<o>``.
    """
    codes = set(not_started(prepared, as_of_wave))
    pred = predictions[predictions["commune_code"].astype(str).isin(codes)].copy()
    pred["commune_code"] = pred["commune_code"].astype(str)
    info = (
        pred.groupby("commune_code")[
            [
                "commune_name",
                "district_name",
                "commune_type",
                "model",
                "moderator",
                "moderator_value",
                "extrapolated",
            ]
        ]
        .first()
        .reset_index()
    )
    wide = pred.pivot(
        index="commune_code",
        columns="outcome",
        values=["predicted_effect", "std_error", "conf_low", "conf_high"],
    )
    names = {
        "predicted_effect": "effect",
        "std_error": "se",
        "conf_low": "low",
        "conf_high": "high",
    }
    wide.columns = [f"{names[a]}_{o}" for a, o in wide.columns]
    out = info.merge(wide.reset_index(), on="commune_code", how="left")
    out.insert(4, "households", out["commune_code"].map(households(prepared)).to_numpy(float))
    return out.sort_values(["district_name", "commune_code"]).reset_index(drop=True)


def candidates_display(frame: pd.DataFrame, outcome: str, language: Language) -> pd.DataFrame:
    """Candidates with their predicted effect on ``outcome`` for reading, largest first."""
    col = lambda key: t(f"scaling_page.col_{key}", language)  # noqa: E731
    rows = frame.sort_values(f"effect_{outcome}", ascending=False)
    return pd.DataFrame(
        {
            col("commune"): rows["commune_name"].to_numpy(),
            col("district"): rows["district_name"].to_numpy(),
            col("effect"): [format_effect(outcome, v, language) for v in rows[f"effect_{outcome}"]],
            col("ci"): [
                f"{format_effect(outcome, lo, language)} – {format_effect(outcome, hi, language)}"
                for lo, hi in zip(rows[f"low_{outcome}"], rows[f"high_{outcome}"], strict=True)
            ],
            col("extrapolated"): [
                t("scaling_page.word_yes" if x else "scaling_page.word_no", language)
                for x in rows["extrapolated"].astype(bool)
            ],
        }
    )


# -- conditions ---------------------------------------------------------------------------


def criterion_column(key: str, available: Sequence[str]) -> str | None:
    """The panel column a ``min_<x>``/``max_<x>`` criterion refers to.

    ``pct_<x>`` is preferred to ``<x>``: the admin file's ``condolence_on_time`` is a count, the
    criterion ``min_condolence_on_time: 0.6`` means the share ``pct_condolence_on_time``.
    """
    if not key.startswith(("min_", "max_")):
        return None
    name = key[4:]
    for candidate in (f"pct_{name}", name):
        if candidate in available:
            return candidate
    return None


def current_values(prepared: Prepared, columns: Sequence[str]) -> pd.DataFrame:
    """Each commune's mean of ``columns`` over the last :data:`RECENT_WAVES` waves of data."""
    panel = prepared.panel
    recent = panel[panel["wave_index"] > last_wave(prepared) - RECENT_WAVES]
    return recent.groupby(recent["commune_code"].astype(str))[list(columns)].mean()


def conditions_table(
    prepared: Prepared, params: Params, frame: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """The province's screen applied to each candidate commune.

    Criteria come from ``scaling.conditions``; ``min_condolence_on_time`` refers to the panel's
    ``pct_condolence_on_time``. Values are the communes' means over the last four waves (their
    situation now, before the model). Criteria whose column the data lack are skipped.

    Returns
    -------
    (pandas.DataFrame, list of str)
        ``commune_code, commune_name, district_name``, the value column of each criterion, one
        boolean column per criterion (met), ``has_conditions``, ``failed_criteria`` (criterion
        keys joined by "; "); and the criteria skipped.
    """
    criteria = dict(params.scaling.conditions)
    panel_cols = list(prepared.panel.columns)
    mapping = {k: criterion_column(k, panel_cols) for k in criteria}
    skipped = [k for k, c in mapping.items() if c is None and k.startswith(("min_", "max_"))]
    usable = {k: v for k, v in criteria.items() if k not in skipped}
    columns = {k: c for k, c in mapping.items() if c is not None and k in usable}
    base = frame[["commune_code", "commune_name", "district_name", "commune_type"]].copy()
    values = current_values(prepared, sorted(set(columns.values())))
    for col in values.columns:
        base[col] = base["commune_code"].map(values[col]).to_numpy(float)
    checked = check_conditions(base, usable, columns)
    met = checked.rename(columns={k: f"met_{k}" for k in usable})
    out = pd.concat([base, met], axis=1)
    return out, skipped


def criterion_label(key: str, language: Language) -> str:
    """The reader's name of a criterion key."""
    try:
        return t(f"scaling_page.criteria.{key}", language)
    except KeyError:
        return key


def conditions_display(table: pd.DataFrame, params: Params, language: Language) -> pd.DataFrame:
    """The screen for reading: values, whether the commune has the conditions, what it fails."""
    col = lambda key: t(f"scaling_page.col_{key}", language)  # noqa: E731
    out = pd.DataFrame(
        {
            col("commune"): table["commune_name"].to_numpy(),
            col("district"): table["district_name"].to_numpy(),
        }
    )
    panel_cols = [c for c in table.columns]
    for key, threshold in params.scaling.conditions.items():
        column = criterion_column(key, panel_cols)
        if column is None:
            continue
        fmt = (
            (lambda v: format_percent(v, language, 0))
            if column.startswith("pct_")
            else (lambda v: format_number(v, language, 2))
        )
        header = f"{criterion_label(key, language)} ({t('scaling_page.threshold', language)} {fmt(threshold)})"
        out[header] = [fmt(v) for v in table[column]]
    out[col("has_conditions")] = [
        t("scaling_page.word_yes" if x else "scaling_page.word_no", language)
        for x in table["has_conditions"]
    ]
    out[col("failed")] = [
        "; ".join(criterion_label(k, language) for k in str(f).split("; ") if k) or "–"
        for f in table["failed_criteria"].fillna("")
    ]
    return out


def failure_counts(table: pd.DataFrame, criteria: Sequence[str]) -> dict[str, int]:
    """How many candidates fail each criterion."""
    return {
        k: int((~table[f"met_{k}"].astype(bool)).sum()) for k in criteria if f"met_{k}" in table
    }


# -- costs and cost-effectiveness -------------------------------------------------------


def commune_costs(prepared: Prepared, params: Params) -> pd.DataFrame:
    """Set-up and yearly cost per commune (sum of items, times the multipliers) and present value.

    Returns
    -------
    pandas.DataFrame
        ``commune_code, setup_vnd, yearly_vnd, pv_cost_vnd, nominal_cost_vnd``.
    """
    if not prepared.has_costs:
        raise ValueError("prepared.costs is empty: supply data.costs to compute costs")
    s = params.scaling
    costs = prepared.costs.assign(commune_code=prepared.costs["commune_code"].astype(str))
    total = costs.groupby("commune_code")[["setup_vnd", "yearly_vnd"]].sum().astype(float)
    total["setup_vnd"] *= s.setup_cost_multiplier
    total["yearly_vnd"] *= s.running_cost_multiplier
    total["pv_cost_vnd"] = present_value_cost(
        total["setup_vnd"], total["yearly_vnd"], s.horizon_years, s.discount_rate
    )
    total["nominal_cost_vnd"] = total["setup_vnd"] + total["yearly_vnd"] * s.horizon_years
    return total.reset_index()


def can_cost(prepared: Prepared, frame: pd.DataFrame) -> bool:
    """Whether costs and both effects (share satisfied, mean score) are available."""
    return (
        prepared.has_costs
        and {f"effect_{SHARE}", f"effect_{SCORE}"} <= set(frame.columns)
        and frame["households"].notna().any()
    )


def cost_effectiveness_table(
    frame: pd.DataFrame, costs: pd.DataFrame, params: Params
) -> pd.DataFrame:
    """Cost-effectiveness of each candidate commune (:func:`cost_effectiveness` per commune).

    Returns
    -------
    pandas.DataFrame
        One row per candidate with known costs and households: ``commune_code, commune_name,
        district_name, setup_vnd, yearly_vnd, households, effect_pct_satisfied,
        effect_mean_score, se_pct_satisfied, pv_cost, additional_satisfied_households,
        vnd_per_satisfied_household, vnd_per_satisfied_household_year, vnd_per_tenth_point,
        vnd_per_tenth_point_household, gain_positive``.
    """
    s = params.scaling
    merged = frame.merge(costs, on="commune_code", how="inner").dropna(
        subset=["households", f"effect_{SHARE}", f"effect_{SCORE}"]
    )
    merged = merged[merged["households"] > 0]
    rows = []
    for r in merged.itertuples(index=False):
        ce = cost_effectiveness(
            r.setup_vnd,
            r.yearly_vnd,
            r.households,
            getattr(r, f"effect_{SHARE}"),
            getattr(r, f"effect_{SCORE}"),
            s.horizon_years,
            s.discount_rate,
        )
        rows.append(
            {
                "commune_code": r.commune_code,
                "commune_name": r.commune_name,
                "district_name": r.district_name,
                "setup_vnd": ce.setup_cost,
                "yearly_vnd": ce.annual_cost,
                "households": ce.households,
                "effect_pct_satisfied": ce.effect_pct_satisfied,
                "effect_mean_score": ce.effect_mean_score,
                "se_pct_satisfied": float(getattr(r, f"se_{SHARE}")),
                "pv_cost": ce.pv_cost,
                "additional_satisfied_households": ce.additional_satisfied_households,
                "vnd_per_satisfied_household": ce.vnd_per_satisfied_household,
                "vnd_per_satisfied_household_year": ce.vnd_per_satisfied_household_year,
                "vnd_per_tenth_point": ce.vnd_per_tenth_point,
                "vnd_per_tenth_point_household": ce.vnd_per_tenth_point_household,
                "gain_positive": ce.gain_positive,
            }
        )
    return pd.DataFrame(rows)


def typical_commune(table: pd.DataFrame, params: Params) -> CostEffectiveness:
    """Cost-effectiveness of the average candidate (mean costs, households and effects)."""
    s = params.scaling
    return cost_effectiveness(
        float(table["setup_vnd"].mean()),
        float(table["yearly_vnd"].mean()),
        float(table["households"].mean()),
        float(table["effect_pct_satisfied"].mean()),
        float(table["effect_mean_score"].mean()),
        s.horizon_years,
        s.discount_rate,
    )


def sensitivity(typical: CostEffectiveness) -> pd.DataFrame:
    """Cost per additional satisfied household over unit-cost and effect-size multipliers."""
    return sensitivity_grid(
        typical.setup_cost,
        typical.annual_cost,
        typical.households,
        typical.effect_pct_satisfied,
        typical.effect_mean_score,
        typical.horizon_years,
        typical.discount_rate,
    )


def cost_effectiveness_display(table: pd.DataFrame, language: Language) -> pd.DataFrame:
    """Per-commune cost-effectiveness for reading, most cost-effective first."""
    col = lambda key: t(f"scaling_page.col_{key}", language)  # noqa: E731
    rows = table.sort_values("vnd_per_satisfied_household", na_position="last")
    return pd.DataFrame(
        {
            col("commune"): rows["commune_name"].to_numpy(),
            col("district"): rows["district_name"].to_numpy(),
            col("cost_pv"): [format_vnd(v, language) for v in rows["pv_cost"]],
            col("households"): [format_number(v, language, 0) for v in rows["households"]],
            col("gain"): [
                format_number(v, language, 0) for v in rows["additional_satisfied_households"]
            ],
            col("per_household"): [
                format_vnd(v, language) for v in rows["vnd_per_satisfied_household"]
            ],
            col("per_tenth_point"): [format_vnd(v, language) for v in rows["vnd_per_tenth_point"]],
        }
    )


# -- budget plan ------------------------------------------------------------------------


def plan_pool(ce_table: pd.DataFrame, conditions: pd.DataFrame | None) -> pd.DataFrame:
    """Candidates for the plan: cost (present value), expected gain and its SE, conditions."""
    pool = ce_table[["commune_code", "commune_name", "district_name", "setup_vnd", "yearly_vnd"]]
    pool = pool.assign(
        cost_vnd=ce_table["pv_cost"].to_numpy(float),
        expected_gain=ce_table["additional_satisfied_households"].to_numpy(float),
        expected_gain_se=(ce_table["se_pct_satisfied"] * ce_table["households"]).to_numpy(float),
    )
    if conditions is not None:
        screen = conditions.set_index("commune_code")
        pool["has_conditions"] = pool["commune_code"].map(screen["has_conditions"]).fillna(False)
        pool["failed_criteria"] = pool["commune_code"].map(screen["failed_criteria"]).fillna("")
    else:
        pool["has_conditions"] = True
        pool["failed_criteria"] = ""
    return pool.reset_index(drop=True)


def rollout_plan(pool: pd.DataFrame, budget: float) -> RolloutPlan:
    """The communes that maximise the expected gain within ``budget`` VND (present value)."""
    return plan_rollout(
        pool,
        budget,
        value_col="expected_gain",
        cost_col="cost_vnd",
        unit="commune_code",
        name_col="commune_name",
        se_col="expected_gain_se",
    )


def choose_pool(pool: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The communes with the conditions when there are any, else every candidate (and which)."""
    screened = pool[pool["has_conditions"].astype(bool)]
    if len(screened):
        return screened.reset_index(drop=True), "has_conditions"
    return pool, "all_candidates"


def plan_table(plan: RolloutPlan, pool: pd.DataFrame, label: str, params: Params) -> pd.DataFrame:
    """The plan as the board signs it (columns :data:`PLAN_COLUMNS`), in starting order.

    ``cost_vnd`` is the present-value cost over the horizon (set-up now plus discounted yearly
    running costs); the rows' ``cost_vnd`` sum to ``plan.total_cost``.
    """
    p = plan.plan
    info = pool.set_index("commune_code")
    out = pd.DataFrame(
        {
            "order": p["order"].to_numpy(int),
            "commune_code": p["commune_code"].astype(str).to_numpy(),
            "commune_name": p["commune_name"].to_numpy(),
            "district_name": p["commune_code"].map(info["district_name"]).to_numpy(),
            "setup_vnd": p["commune_code"].map(info["setup_vnd"]).to_numpy(float),
            "yearly_vnd": p["commune_code"].map(info["yearly_vnd"]).to_numpy(float),
            "cost_vnd": p["cost"].to_numpy(float),
            "expected_gain": p["expected_gain"].to_numpy(float),
            "expected_gain_low": (
                p["expected_gain"] - 1.959963984540054 * p["expected_gain_se"]
            ).to_numpy(float),
            "expected_gain_high": (
                p["expected_gain"] + 1.959963984540054 * p["expected_gain_se"]
            ).to_numpy(float),
            "cumulative_cost_vnd": p["cumulative_cost"].to_numpy(float),
            "cumulative_gain": p["cumulative_gain"].to_numpy(float),
            "has_conditions": p["commune_code"].map(info["has_conditions"]).astype(bool).to_numpy(),
            "failed_criteria": p["commune_code"].map(info["failed_criteria"]).to_numpy(),
        }
    )
    out["pool"] = label
    out["horizon_years"] = params.scaling.horizon_years
    out["discount_rate"] = params.scaling.discount_rate
    return out[PLAN_COLUMNS]


def plan_display(table: pd.DataFrame, language: Language) -> pd.DataFrame:
    """The plan for reading."""
    col = lambda key: t(f"scaling_page.col_{key}", language)  # noqa: E731
    return pd.DataFrame(
        {
            col("order"): table["order"].astype(str).to_numpy(),
            col("commune"): table["commune_name"].to_numpy(),
            col("district"): table["district_name"].to_numpy(),
            col("cost_pv"): [format_vnd(v, language) for v in table["cost_vnd"]],
            col("gain"): [
                f"{format_number(g, language, 0)} ({format_number(lo, language, 0)} – "
                f"{format_number(hi, language, 0)})"
                for g, lo, hi in zip(
                    table["expected_gain"],
                    table["expected_gain_low"],
                    table["expected_gain_high"],
                    strict=True,
                )
            ],
            col("cumulative_cost"): [format_vnd(v, language) for v in table["cumulative_cost_vnd"]],
        }
    )


def curve(pool: pd.DataFrame) -> pd.DataFrame:
    """Cumulative gain against cumulative cost, every candidate by gain per VND."""
    positive = pool[pool["expected_gain"] > 0]
    return gain_cost_curve(
        positive,
        value_col="expected_gain",
        cost_col="cost_vnd",
        unit="commune_code",
        name_col="commune_name",
        se_col="expected_gain_se",
    )


# -- the next phase as an experiment ------------------------------------------------------


def variance_components(prepared: Prepared, outcome: str) -> VarianceComponents:
    """Commune, commune-wave and ballot variance of ``outcome`` from ballots not under the model."""
    if not prepared.has_ballots or outcome not in prepared.ballots:
        raise ValueError(
            f"outcome={outcome!r}: ballot-level data are needed for the variance components"
        )
    ballots = prepared.ballots
    if "treated" in ballots:
        ballots = ballots[ballots["treated"].astype(float) == 0]
    return estimate_variance_components(
        ballots, outcome, unit="commune_code", time="wave_index", method="anova"
    )


def design_waves(prepared: Prepared) -> tuple[int, int]:
    """Waves before and after the start in the pilot comparison (reused for the next phase)."""
    meta = prepared.meta
    return (
        int(meta["pilot_wave"] - meta["window_start"]),
        int(meta["window_end"] - meta["pilot_wave"] + 1),
    )


def mean_coverage(prepared: Prepared) -> float:
    """Share of ballots returned (1 when the data have no roster)."""
    if "coverage" not in prepared.panel or prepared.panel["coverage"].isna().all():
        return 1.0
    return float(np.clip(prepared.panel["coverage"].mean(), 0.05, 1.0))


def ballots_sent(prepared: Prepared) -> float:
    """Ballots handed out per commune and wave now (roster, else ballots returned / coverage)."""
    panel = prepared.panel
    if "ballot_roster" in panel and panel["ballot_roster"].notna().any():
        return float(panel["ballot_roster"].mean())
    return float(panel["n_ballots"].mean() / mean_coverage(prepared))


def ballots_grid(prepared: Prepared) -> tuple[float, ...]:
    """A quarter, half and all of today's ballots per commune (rounded to 5): staff are
    overloaded, so the question is how few ballots suffice, not how many more to add."""
    now = max(5.0, 5 * round(ballots_sent(prepared) / 5))
    return tuple(sorted({max(5.0, 5 * round(now / k / 5)) for k in (4, 2, 1)}))


def power_table(
    components: VarianceComponents,
    prepared: Prepared,
    params: Params,
    effect: float,
    n_treated_grid: Sequence[int] = N_TREATED_GRID,
    ballots: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Power and MDE over new communes x ballots per commune (closed form plus seeded simulation).

    scipy's noncentral t returns NaN for power indistinguishable from 1 (very large noncentrality);
    such points, where the effect is above the MDE, are set to 1.
    """
    n_pre, n_post = design_waves(prepared)
    curves = power_curves(
        components,
        list(n_treated_grid),
        list(ballots_grid(prepared) if ballots is None else ballots),
        effect,
        control_ratio=1.0,
        coverage=mean_coverage(prepared),
        n_pre=n_pre,
        n_post=n_post,
        alpha=params.analysis.alpha,
        target_power=0.8,
        n_sims=params.inference.size_sims,
        seed=params.inference.seed,
    )
    saturated = curves["power"].isna() & (curves["effect"].abs() > curves["mde"])
    curves.loc[saturated, "power"] = 1.0
    return curves


def target_effect(frame: pd.DataFrame, outcome: str) -> float:
    """The effect the next phase is powered for: :data:`TARGET_SHARE` of the mean prediction."""
    return TARGET_SHARE * float(frame[f"effect_{outcome}"].mean())


def mde_display(curves: pd.DataFrame, outcome: str, language: Language) -> pd.DataFrame:
    """Minimum detectable effect (80% power) by new communes (rows) and ballots (columns)."""
    table = curves.pivot(index="n_treated", columns="ballots_per_commune", values="mde")
    out = pd.DataFrame(
        {t("scaling_page.col_new_communes", language): [str(int(n)) for n in table.index]}
    )
    for m in table.columns:
        header = t("scaling_page.col_ballots", language, m=format_number(m, language, 0))
        out[header] = [format_effect(outcome, v, language) for v in table[m]]
    return out


def communes_needed(curves: pd.DataFrame, target: float = 0.8) -> int | None:
    """Fewest new communes reaching ``target`` power with the most ballots per commune."""
    best = curves[curves["ballots_per_commune"] == curves["ballots_per_commune"].max()]
    reached = best[best["power"] >= target]
    return int(reached["n_treated"].min()) if len(reached) else None


def wedge_communes(
    plan: pd.DataFrame | None, conditions: pd.DataFrame | None, frame: pd.DataFrame
) -> tuple[pd.DataFrame, str]:
    """Communes to phase in: the plan's, else those with the conditions, else every candidate."""
    cols = ["commune_code", "commune_name", "district_name"]
    if plan is not None and len(plan):
        return plan[cols].copy(), "plan"
    if conditions is not None and conditions["has_conditions"].any():
        return conditions.loc[conditions["has_conditions"], cols].copy(), "has_conditions"
    return frame[cols].copy(), "all_candidates"


def next_quarter_start(wave: int) -> str:
    """ISO date of the first day of the quarter after ``wave``."""
    return (pd.Period(ordinal=int(wave) + 1, freq="Q").start_time.date()).isoformat()


def stepped_wedge_design(
    communes: pd.DataFrame, prepared: Prepared, params: Params, label: str
) -> pd.DataFrame:
    """A randomised, district-stratified stepped-wedge start order (seed ``scaling.rollout_seed``).

    Step 1 starts the quarter after the last wave of data; one quarter between steps.

    Returns
    -------
    pandas.DataFrame
        ``commune_code, commune_name, district_name, step, start_period, start_wave,
        start_date, seed, pool``.
    """
    s = params.scaling
    start = last_wave(prepared) + 1
    design = stepped_wedge(
        communes[["commune_code", "district_name"]],
        strata="district_name",
        n_steps=s.rollout_steps,
        seed=s.rollout_seed,
        start_period=start,
        unit="commune_code",
        # quarters have calendar dates; a generic panel's periods may not
        first_date=None
        if prepared.meta.get("source") == "panel"
        else next_quarter_start(start - 1),
    )
    names = communes.set_index("commune_code")["commune_name"]
    design.insert(1, "commune_name", design["commune_code"].map(names).to_numpy())
    design = design.rename(columns={"stratum": "district_name"})
    design.insert(
        design.columns.get_loc("start_period") + 1,
        "start_wave",
        [period_label(w, prepared.meta.get("source", "")) for w in design["start_period"]],
    )
    design["pool"] = label
    return design


def wedge_display(design: pd.DataFrame, language: Language) -> pd.DataFrame:
    """Steps for reading: one row per step with its start and communes."""
    col = lambda key: t(f"scaling_page.col_{key}", language)  # noqa: E731
    rows = []
    for step, part in design.groupby("step"):
        rows.append(
            {
                col("step"): str(int(step)),
                col("start"): f"{part['start_wave'].iloc[0]}",
                col("n_communes"): str(len(part)),
                col("communes"): ", ".join(part["commune_name"].astype(str)),
            }
        )
    return pd.DataFrame(rows)


def wedge_balance(design: pd.DataFrame, frame: pd.DataFrame, prepared: Prepared) -> pd.DataFrame:
    """Mean households and baseline satisfaction by step (a randomisation check)."""
    communes = frame[["commune_code", "households"]].copy()
    base = prepared.baseline
    if "baseline_index" in base:
        communes["baseline_index"] = communes["commune_code"].map(
            base.assign(commune_code=base["commune_code"].astype(str)).set_index("commune_code")[
                "baseline_index"
            ]
        )
    covariates = [
        c for c in ("households", "baseline_index") if c in communes and communes[c].notna().any()
    ]
    if not covariates:
        return pd.DataFrame(columns=["step", "covariate", "mean", "n_communes"])
    return step_balance(design, communes, covariates)


def balance_display(balance: pd.DataFrame, language: Language) -> pd.DataFrame:
    """Step balance for reading: one row per step."""
    wide = balance.pivot(index="step", columns="covariate", values="mean")
    out = pd.DataFrame({t("scaling_page.col_step", language): [str(int(s)) for s in wide.index]})
    for c in wide.columns:
        decimals = 0 if c == "households" else 2
        out[t(f"scaling_page.covariates.{c}", language)] = [
            format_number(v, language, decimals) for v in wide[c]
        ]
    return out


# -- readings ---------------------------------------------------------------------------


def model_label(model: str, language: Language) -> str:
    """The reader's name of the model the predictions come from (page 5's choice)."""
    if model.startswith("twfe_by_"):
        moderator = moderator_label(model.removeprefix("twfe_by_"), language)
        return t("scaling_page.model_by_moderator", language, moderator=moderator)
    return t("scaling_page.model_average", language)


def prediction_reading(frame: pd.DataFrame, outcome: str, language: Language) -> str:
    """How many candidates, the spread of their predicted effect, and from which model."""
    effects = frame[f"effect_{outcome}"]
    model = str(frame["model"].iloc[0]) if len(frame) else "average_effect"
    key = "prediction_average" if model == "average_effect" else "prediction_model"
    return t(
        f"scaling_page.{key}",
        language,
        n=len(frame),
        outcome=outcome_label(outcome, language),
        low=format_effect(outcome, float(effects.min()), language),
        high=format_effect(outcome, float(effects.max()), language),
        above=int((frame[f"low_{outcome}"] > 0).sum()),
        extrapolated=int(frame["extrapolated"].astype(bool).sum()),
    )


def conditions_reading(
    table: pd.DataFrame, skipped: Sequence[str], params: Params, language: Language
) -> str:
    """How many candidates have the conditions and which criterion excludes most."""
    checked = [k for k in params.scaling.conditions if k not in skipped]
    if not checked:
        return t(
            "scaling_page.conditions_unchecked",
            language,
            criteria=", ".join(criterion_label(k, language) for k in skipped) or "–",
        )
    counts = failure_counts(table, checked)
    parts = [
        t(
            "scaling_page.conditions_reading",
            language,
            n=int(table["has_conditions"].sum()),
            total=len(table),
        )
    ]
    if counts and max(counts.values()) > 0:
        worst = max(counts, key=counts.get)
        parts.append(
            t(
                "scaling_page.conditions_worst",
                language,
                criterion=criterion_label(worst, language),
                n=counts[worst],
            )
        )
    if skipped:
        parts.append(
            t(
                "scaling_page.conditions_skipped",
                language,
                criteria=", ".join(criterion_label(k, language) for k in skipped),
            )
        )
    return " ".join(parts)


def cost_reading(typical: CostEffectiveness, params: Params, language: Language) -> str:
    """The cost of one more satisfied household and of a 0.1-point gain in the average candidate."""
    s = params.scaling
    return t(
        "scaling_page.cost_reading",
        language,
        setup=format_vnd(typical.setup_cost, language),
        yearly=format_vnd(typical.annual_cost, language),
        years=s.horizon_years,
        rate=format_percent(s.discount_rate, language, 1),
        pv=format_vnd(typical.pv_cost, language),
        gain=format_number(typical.additional_satisfied_households, language, 0),
        per_household=format_vnd(typical.vnd_per_satisfied_household, language),
        per_year=format_vnd(typical.vnd_per_satisfied_household_year, language),
        per_tenth=format_vnd(typical.vnd_per_tenth_point, language),
    )


def sensitivity_reading(grid: pd.DataFrame, language: Language) -> str:
    """The worst corner of the grid (highest costs, smallest effect) against the base case."""
    base = grid.loc[
        np.isclose(grid["cost_multiplier"], 1) & np.isclose(grid["effect_multiplier"], 1),
        "vnd_per_satisfied_household",
    ]
    worst = grid.loc[
        (grid["cost_multiplier"] == grid["cost_multiplier"].max())
        & (grid["effect_multiplier"] == grid["effect_multiplier"].min()),
        "vnd_per_satisfied_household",
    ]
    return t(
        "scaling_page.sensitivity_reading",
        language,
        base=format_vnd(float(base.iloc[0]), language) if len(base) else "–",
        worst=format_vnd(float(worst.iloc[0]), language) if len(worst) else "–",
        cost=format_number(float(grid["cost_multiplier"].max()), language, 2),
        effect=format_number(float(grid["effect_multiplier"].min()), language, 2),
    )


def plan_reading(
    plan: RolloutPlan,
    label: str,
    n_pool: int,
    alternative: RolloutPlan | None,
    language: Language,
) -> str:
    """What the budget buys, from which pool, and what the screen costs in expected gain."""
    parts = [
        t(
            f"scaling_page.plan_reading_{label}",
            language,
            budget=format_vnd(plan.budget, language),
            n=len(plan.plan),
            pool=n_pool,
            cost=format_vnd(plan.total_cost, language),
            gain=format_number(plan.total_gain, language, 0),
        )
    ]
    if len(plan.plan):
        last = plan.plan.iloc[-1]
        parts.append(
            t(
                "scaling_page.plan_band",
                language,
                low=format_number(float(last["cumulative_gain_low"]), language, 0),
                high=format_number(float(last["cumulative_gain_high"]), language, 0),
            )
        )
    if alternative is not None:
        parts.append(
            t(
                "scaling_page.plan_alternative",
                language,
                n=len(alternative.plan),
                gain=format_number(alternative.total_gain, language, 0),
            )
        )
    return " ".join(parts)


def power_reading(
    components: VarianceComponents,
    curves: pd.DataFrame,
    effect: float,
    predicted: float,
    outcome: str,
    n_candidates: int,
    prepared: Prepared,
    language: Language,
) -> str:
    """ICC, ballots, coverage; how many new communes are needed; what that means here."""
    needed = communes_needed(curves)
    m = float(curves["ballots_per_commune"].max())
    parts = [
        t(
            "scaling_page.components_reading",
            language,
            icc=format_number(components.icc, language, 3),
            ballots=format_number(components.ballots_per_commune_wave, language, 0),
            coverage=format_percent(mean_coverage(prepared), language, 0),
            communes=components.n_communes,
        )
    ]
    if needed is None:
        parts.append(
            t(
                "scaling_page.power_not_reached",
                language,
                effect=format_effect(outcome, effect, language),
                predicted=format_effect(outcome, predicted, language),
                n=int(curves["n_treated"].max()),
            )
        )
    else:
        parts.append(
            t(
                "scaling_page.power_reached",
                language,
                effect=format_effect(outcome, effect, language),
                predicted=format_effect(outcome, predicted, language),
                n=needed,
                total=2 * needed,
                m=format_number(m, language, 0),
                candidates=n_candidates,
            )
        )
    return " ".join(parts)


def wedge_reading(design: pd.DataFrame, label: str, params: Params, language: Language) -> str:
    """Steps, districts and the seed (so anyone can redraw the same order)."""
    return t(
        "scaling_page.wedge_reading",
        language,
        n=len(design),
        steps=params.scaling.rollout_steps,
        districts=design["district_name"].nunique(),
        seed=params.scaling.rollout_seed,
        first=design["start_wave"].min() if len(design) else "–",
        pool=t(f"scaling_page.pool_{label}", language),
    )


def finding(
    n_candidates: int,
    n_conditions: int | None,
    plan: RolloutPlan | None,
    needed: int | None,
    language: Language,
) -> str:
    """One line for the run's index page, from the sections that could be computed."""
    parts = [t("scaling_page.finding_candidates", language, n=n_candidates)]
    if n_conditions is not None:
        parts.append(t("scaling_page.finding_conditions", language, n=n_conditions))
    if plan is not None:
        parts.append(
            t(
                "scaling_page.finding_plan",
                language,
                budget=format_billion_vnd(plan.budget, language),
                n=len(plan.plan),
                gain=format_number(plan.total_gain, language, 0),
            )
        )
    if needed is not None:
        parts.append(t("scaling_page.finding_power", language, n=needed))
    return t("scaling_page.finding", language, text="; ".join(parts))
