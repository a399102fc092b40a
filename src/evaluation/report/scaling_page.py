"""Wording and tables of the scaling page (``06_scaling``).

The statistics live in :mod:`evaluation.analysis.scaling` (and :mod:`evaluation.scaling`); this
module only turns their results into sentences and tables for readers, in the page language,
with the nouns of the data in hand (:mod:`evaluation.report.wording`): communes, quarters and
VND for Hà Nam, the panel's own units and periods otherwise.

Trust rule: the candidates' predicted effects carry model-based intervals whose false-alarm
rate was never measured on this design; they are not shown (one sentence says why), and the
plan's gain band is withheld for the same reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.analysis.base import applies
from evaluation.analysis.scaling import (
    BudgetPlan,
    CandidatePredictions,
    ConditionsScreen,
    CostEffectivenessResult,
    PowerPlan,
    ScalingResult,
    SteppedWedgeDesign,
    failure_counts,
)
from evaluation.config import Params
from evaluation.i18n import (
    Language,
    format_billion_vnd,
    format_number,
    format_percent,
    format_quarter,
    format_vnd,
    messages,
    t,
)
from evaluation.report.effects import format_effect, outcome_label
from evaluation.report.wording import is_hanam, unit_noun
from evaluation.report.wording import noun_values as nouns


def _contract(params: Params) -> str:
    return "hanam" if is_hanam(params) else "panel"


def say(key: str, params: Params, language: Language, /, **values: object) -> str:
    """``scaling_page.<key>.<contract>`` when it exists, else ``scaling_page.<key>``; nouns filled."""
    values = {**nouns(params, language), **values}
    try:
        return t(f"scaling_page.{key}.{_contract(params)}", language, **values)
    except KeyError:
        return t(f"scaling_page.{key}", language, **values)


def _col(key: str, params: Params, language: Language, /, **values: object) -> str:
    """A column header (first letter upper case: a panel's unit noun starts a header)."""
    text = say(f"col_{key}", params, language, **values)
    return text[:1].upper() + text[1:]


def _yes_no(value: bool, language: Language) -> str:
    return t("scaling_page.word_yes" if value else "scaling_page.word_no", language)


def confidence(alpha: float, language: Language) -> str:
    """``95%`` for ``alpha = 0.05``, in the language's number format."""
    return format_percent(1 - alpha, language, 0)


def title(params: Params, language: Language) -> str:
    return say("title", params, language)


def intro(params: Params, n_treated: int, language: Language) -> str:
    """What the page does, with the budget (Hà Nam only) and the number of treated units."""
    return say(
        "intro",
        params,
        language,
        budget=format_vnd(params.scaling.budget_vnd, language),
        pilots=n_treated,
    )


# -- predictions -------------------------------------------------------------------------------


def model_label(model: str, language: Language) -> str:
    """The reader's name of the model the predictions come from (page 5's choice)."""
    if model.startswith("twfe_by_"):
        moderator = model.removeprefix("twfe_by_")
        key = f"where_it_works.moderators.{moderator}"
        if key in messages(language):
            moderator = t(key, language)
        return t("scaling_page.model_by_moderator", language, moderator=moderator)
    return t("scaling_page.model_average", language)


def prediction_source(c: CandidatePredictions, params: Params, language: Language) -> str:
    """Where the predictions come from (page 5's table, or the average effect)."""
    if c.source == "saved":
        return say(
            "prediction_source_saved", params, language, model=model_label(c.model, language)
        )
    return say("prediction_source_headline", params, language)


def prediction_reading(
    c: CandidatePredictions, outcome: str, params: Params, language: Language
) -> str:
    """How many units are candidates (counted from the data), and their predicted effect."""
    effects = c.table[f"effect_{outcome}"]
    common = {
        "n": c.n_candidates,
        "total": c.n_units,
        "started": c.n_treated_by_end,
        "outcome": outcome_label(outcome, language),
    }
    if c.model == "average_effect":
        return say(
            "prediction_average",
            params,
            language,
            effect=format_effect(outcome, float(effects.iloc[0]), language),
            **common,
        )
    return say(
        "prediction_model",
        params,
        language,
        low=format_effect(outcome, float(effects.min()), language),
        high=format_effect(outcome, float(effects.max()), language),
        extrapolated=int(c.table["extrapolated"].astype(bool).sum()),
        **common,
    )


def intervals_withheld(c: CandidatePredictions, params: Params, language: Language) -> str:
    """Why the predictions' intervals are not shown (trust rule)."""
    return say("intervals_withheld", params, language, level=confidence(c.alpha, language))


def candidates_display(
    c: CandidatePredictions, outcome: str, params: Params, language: Language
) -> pd.DataFrame:
    """Candidates with their predicted effect on ``outcome``, largest first (no interval)."""
    rows = c.table.sort_values(f"effect_{outcome}", ascending=False, kind="stable")
    out = pd.DataFrame(
        {
            _col("unit", params, language): rows["commune_name"].astype(str).to_numpy(),
        }
    )
    if rows["district_name"].astype(str).nunique() > 1 or is_hanam(params):
        out[_col("district", params, language)] = rows["district_name"].astype(str).to_numpy()
    out[_col("effect", params, language)] = [
        format_effect(outcome, v, language) for v in rows[f"effect_{outcome}"]
    ]
    if c.source == "saved":
        out[_col("extrapolated", params, language)] = [
            _yes_no(x, language) for x in rows["extrapolated"].astype(bool)
        ]
    return out


# -- conditions --------------------------------------------------------------------------------


def criterion_label(key: str, language: Language) -> str:
    """The reader's name of a criterion key (the key itself when it has none)."""
    try:
        return t(f"scaling_page.criteria.{key}", language)
    except KeyError:
        return key


def _criteria_list(keys: tuple[str, ...] | list[str], language: Language) -> str:
    return ", ".join(criterion_label(k, language) for k in keys) or "–"


def conditions_intro(screen: ConditionsScreen, params: Params, language: Language) -> str:
    return say("conditions_intro", params, language, k=screen.recent_periods)


def conditions_reading(screen: ConditionsScreen, params: Params, language: Language) -> str:
    """How many candidates have the conditions (only when every criterion was checked),
    which criterion excludes most, and which criteria could not be checked."""
    total = screen.n_candidates
    if screen.unchecked:
        parts = [
            say(
                "conditions_partial",
                params,
                language,
                n=screen.n_meet_checked,
                total=total,
                checked=_criteria_list(screen.checked, language),
                unchecked=_criteria_list(screen.unchecked, language),
            )
        ]
    else:
        parts = [
            say("conditions_reading", params, language, n=screen.n_have_conditions, total=total)
        ]
    counts = failure_counts(screen)
    if counts and max(counts.values()) > 0:
        worst = max(counts, key=counts.get)
        parts.append(
            say(
                "conditions_worst",
                params,
                language,
                criterion=criterion_label(worst, language),
                n=counts[worst],
            )
        )
    return " ".join(parts)


def _value_format(column: str, language: Language):
    if column.startswith("pct_"):
        return lambda v: format_percent(v, language, 0)
    return lambda v: format_number(v, language, 2)


def conditions_display(
    screen: ConditionsScreen, params: Params, language: Language
) -> pd.DataFrame:
    """The screen for reading: values, whether each unit meets the criteria, what it fails."""
    table = screen.table
    out = pd.DataFrame({_col("unit", params, language): table["commune_name"].astype(str)})
    for key in screen.checked:
        column = screen.columns[key]
        threshold = params.scaling.conditions[key]
        label = criterion_label(key, language)
        if isinstance(threshold, int | float) and not isinstance(threshold, bool):
            fmt = _value_format(column, language)
            header = f"{label} ({t('scaling_page.threshold', language)} {fmt(threshold)})"
            out[header] = [fmt(v) for v in table[column]]
        else:
            out[label] = table[column].astype(str).to_numpy()
    met = "has_conditions" if "has_conditions" in table else "meets_checked"
    out[_col(met, params, language)] = [_yes_no(x, language) for x in table[met].astype(bool)]
    out[_col("failed", params, language)] = [
        "; ".join(criterion_label(k, language) for k in str(f).split("; ") if k) or "–"
        for f in table["failed_criteria"].fillna("")
    ]
    return out.reset_index(drop=True)


# -- costs -------------------------------------------------------------------------------------


def cost_intro(ce: CostEffectivenessResult, language: Language) -> str:
    return t(
        "scaling_page.cost_intro",
        language,
        setup_mult=format_number(ce.setup_multiplier, language, 2),
        running_mult=format_number(ce.running_multiplier, language, 2),
        years=ce.horizon_years,
        rate=format_percent(ce.discount_rate, language, 1),
    )


def cost_reading(ce: CostEffectivenessResult, language: Language) -> str:
    """The cost of one more satisfied household and of a 0.1-point gain in the average candidate."""
    typical = ce.typical
    if not typical.gain_positive:
        return t("scaling_page.cost_no_gain", language)
    return t(
        "scaling_page.cost_reading",
        language,
        n=len(ce.table),
        total=ce.n_candidates,
        setup=format_vnd(typical.setup_cost, language),
        yearly=format_vnd(typical.annual_cost, language),
        years=ce.horizon_years,
        rate=format_percent(ce.discount_rate, language, 1),
        pv=format_vnd(typical.pv_cost, language),
        gain=format_number(typical.additional_satisfied_households, language, 0),
        per_household=format_vnd(typical.vnd_per_satisfied_household, language),
        per_year=format_vnd(typical.vnd_per_satisfied_household_year, language),
        per_tenth=_vnd_or_dash(typical.vnd_per_tenth_point, language),
    )


def _vnd_or_dash(value: float, language: Language) -> str:
    return format_vnd(value, language) if np.isfinite(value) else "–"


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
        base=_vnd_or_dash(float(base.iloc[0]), language) if len(base) else "–",
        worst=_vnd_or_dash(float(worst.iloc[0]), language) if len(worst) else "–",
        cost=format_number(float(grid["cost_multiplier"].max()), language, 2),
        effect=format_number(float(grid["effect_multiplier"].min()), language, 2),
    )


def cost_effectiveness_display(
    ce: CostEffectivenessResult, params: Params, language: Language
) -> pd.DataFrame:
    """Per-unit cost-effectiveness for reading, most cost-effective first."""
    rows = ce.table.sort_values("vnd_per_satisfied_household", na_position="last")
    return pd.DataFrame(
        {
            _col("unit", params, language): rows["commune_name"].astype(str).to_numpy(),
            _col("district", params, language): rows["district_name"].astype(str).to_numpy(),
            _col("cost_pv", params, language): [format_vnd(v, language) for v in rows["pv_cost"]],
            _col("households", params, language): [
                format_number(v, language, 0) for v in rows["households"]
            ],
            _col("gain", params, language): [
                format_number(v, language, 0) for v in rows["additional_satisfied_households"]
            ],
            _col("per_household", params, language): [
                _vnd_or_dash(v, language) for v in rows["vnd_per_satisfied_household"]
            ],
            _col("per_tenth_point", params, language): [
                _vnd_or_dash(v, language) for v in rows["vnd_per_tenth_point"]
            ],
        }
    )


# -- the budget plan ---------------------------------------------------------------------------


def plan_reading(plan: BudgetPlan, language: Language) -> str:
    """What the budget buys, from which pool, and what the screen costs in expected gain."""
    p = plan.plan
    parts = [
        t(
            f"scaling_page.plan_reading_{plan.pool_label}",
            language,
            budget=format_vnd(plan.budget, language),
            n=len(p.plan),
            pool=plan.n_pool,
            cost=format_vnd(p.total_cost, language),
            gain=format_number(p.total_gain, language, 0),
        )
    ]
    if len(p.plan):
        parts.append(
            t("scaling_page.plan_band_withheld", language, level=confidence(plan.alpha, language))
        )
    if plan.alternative is not None:
        parts.append(
            t(
                "scaling_page.plan_alternative",
                language,
                n=len(plan.alternative.plan),
                gain=format_number(plan.alternative.total_gain, language, 0),
            )
        )
    return " ".join(parts)


def plan_display(plan: BudgetPlan, params: Params, language: Language) -> pd.DataFrame:
    """The plan for reading (the expected gain without its model-based band)."""
    table = plan.table
    return pd.DataFrame(
        {
            _col("order", params, language): table["order"].astype(str).to_numpy(),
            _col("unit", params, language): table["commune_name"].astype(str).to_numpy(),
            _col("district", params, language): table["district_name"].astype(str).to_numpy(),
            _col("cost_pv", params, language): [format_vnd(v, language) for v in table["cost_vnd"]],
            _col("gain", params, language): [
                format_number(g, language, 0) for g in table["expected_gain"]
            ],
            _col("cumulative_cost", params, language): [
                format_vnd(v, language) for v in table["cumulative_cost_vnd"]
            ],
        }
    )


# -- power -------------------------------------------------------------------------------------


def power_intro(power: PowerPlan, params: Params, language: Language) -> str:
    """What the curves show, and how many simulations each point used (and from which key)."""
    return say(
        f"experiment_intro_{power.level}",
        params,
        language,
        sims=format_number(power.n_sims, language, 0),
    )


def power_reading(power: PowerPlan, params: Params, language: Language) -> str:
    """Variance components; how many new units are needed; what that means here."""
    c = power.components
    outcome = power.outcome
    if power.level == "ballots":
        parts = [
            say(
                "components_reading" if power.coverage_known else "components_reading_no_roster",
                params,
                language,
                icc=format_number(c.icc, language, 3),
                ballots=format_number(c.ballots_per_commune_wave, language, 0),
                coverage=format_percent(power.coverage, language, 0),
                communes=c.n_communes,
            )
        ]
    else:
        share = c.between_commune_var / c.total_var if c.total_var > 0 else 0.0
        parts = [
            say(
                "components_reading_panel",
                params,
                language,
                share=format_percent(share, language, 0),
                n=c.n_communes,
                k=c.n_waves,
            )
        ]
    effect = format_effect(outcome, power.target_effect, language)
    predicted = format_effect(outcome, power.predicted_effect, language)
    target = format_percent(power.target_power, language, 0)
    if power.n_needed is None:
        parts.append(
            say(
                "power_not_reached",
                params,
                language,
                effect=effect,
                predicted=predicted,
                target=target,
                n=int(power.curves["n_treated"].max()),
            )
        )
    else:
        candidates = (
            say("power_candidates", params, language, candidates=power.n_candidates)
            if power.n_candidates is not None
            else ""
        )
        parts.append(
            say(
                f"power_reached_{power.level}",
                params,
                language,
                effect=effect,
                predicted=predicted,
                target=target,
                n=power.n_needed,
                total=2 * power.n_needed,
                m=format_number(float(power.curves["ballots_per_commune"].max()), language, 0),
            )
            + (" " + candidates if candidates else "")
        )
    return " ".join(parts)


def mde_intro(power: PowerPlan, params: Params, language: Language) -> str:
    return say(
        f"mde_intro_{power.level}",
        params,
        language,
        target=format_percent(power.target_power, language, 0),
    )


def mde_display(power: PowerPlan, params: Params, language: Language) -> pd.DataFrame:
    """Minimum detectable effect by new units (rows) and ballots per unit (columns)."""
    curves = power.curves
    table = curves.pivot(index="n_treated", columns="ballots_per_commune", values="mde")
    out = pd.DataFrame({_col("new_units", params, language): [str(int(n)) for n in table.index]})
    for m in table.columns:
        header = (
            _col("ballots", params, language, m=format_number(m, language, 0))
            if power.level == "ballots"
            else _col("mde", params, language)
        )
        out[header] = [format_effect(power.outcome, v, language) for v in table[m]]
    return out


def effect_label(power: PowerPlan, language: Language) -> str:
    return format_effect(power.outcome, power.target_effect, language)


def figure_units(power: PowerPlan, params: Params, language: Language) -> str | None:
    """The unit noun for the power figure when power is per unit-period value (None: ballots)."""
    return None if power.level == "ballots" else unit_noun(params, language)


def curve_without_band(plan: BudgetPlan) -> pd.DataFrame:
    """The gain-cost curve without its model-based band (not size-checked: not drawn)."""
    return plan.curve.drop(columns=["cumulative_gain_low", "cumulative_gain_high"], errors="ignore")


# -- stepped wedge -----------------------------------------------------------------------------


def wedge_intro(wedge: SteppedWedgeDesign, params: Params, language: Language) -> str:
    key = "wedge_intro_strata" if wedge.strata else "wedge_intro"
    return say(key, params, language)


def wedge_reading(wedge: SteppedWedgeDesign, params: Params, language: Language) -> str:
    """Units, steps, strata and the seed (so anyone can redraw the same order)."""
    key = "wedge_reading_strata" if wedge.strata else "wedge_reading"
    return say(
        key,
        params,
        language,
        n=len(wedge.design),
        steps=wedge.n_steps,
        strata=wedge.n_strata,
        seed=wedge.seed,
        first=format_quarter(wedge.first_period, language) if wedge.first_period else "–",
        pool=say(f"pool_{wedge.pool_label}", params, language),
    )


def wedge_display(wedge: SteppedWedgeDesign, params: Params, language: Language) -> pd.DataFrame:
    """Steps for reading: one row per step with its start and units."""
    rows = []
    for step, part in wedge.design.groupby("step"):
        rows.append(
            {
                _col("step", params, language): str(int(step)),
                _col("start", params, language): format_quarter(
                    str(part["start_wave"].iloc[0]), language
                ),
                _col("n_units", params, language): str(len(part)),
                _col("units", params, language): ", ".join(part["commune_name"].astype(str)),
            }
        )
    return pd.DataFrame(rows)


def balance_display(wedge: SteppedWedgeDesign, params: Params, language: Language) -> pd.DataFrame:
    """Step balance for reading: one row per step."""
    wide = wedge.balance.pivot(index="step", columns="covariate", values="mean")
    out = pd.DataFrame({_col("step", params, language): [str(int(s)) for s in wide.index]})
    for c in wide.columns:
        if c == "households":
            label, decimals = t("scaling_page.covariates.households", language), 0
        elif c == "baseline_index":
            label, decimals = t("scaling_page.covariates.baseline_index", language), 2
        else:
            outcome = c.removeprefix("baseline_")
            label = t(
                "scaling_page.covariates.baseline_outcome",
                language,
                outcome=outcome_label(outcome, language),
            )
            decimals = 2
        out[label] = [format_number(v, language, decimals) for v in wide[c]]
    return out


# -- in short ----------------------------------------------------------------------------------


def finding(result: ScalingResult, params: Params, language: Language) -> str:
    """One line for the run's index page, from the sections that could be computed."""
    parts = []
    c = result.candidates
    if applies(c):
        parts.append(say("finding_candidates", params, language, n=c.n_candidates))
    elif c.reason == "scaling_no_candidates":
        parts.append(say("finding_no_candidates", params, language))
    screen = result.conditions
    if applies(screen) and screen.n_have_conditions is not None:
        parts.append(say("finding_conditions", params, language, n=screen.n_have_conditions))
    elif applies(screen):
        parts.append(
            say(
                "finding_conditions_partial",
                params,
                language,
                criteria=_criteria_list(screen.unchecked, language),
            )
        )
    plan = result.plan
    if applies(plan):
        parts.append(
            t(
                "scaling_page.finding_plan",
                language,
                budget=format_billion_vnd(plan.budget, language),
                n=len(plan.table),
                gain=format_number(plan.plan.total_gain, language, 0),
            )
        )
    power = result.power
    if applies(power) and power.n_needed is not None:
        parts.append(say("finding_power", params, language, n=power.n_needed))
    if not parts:
        return say("finding_nothing", params, language)
    return t("scaling_page.finding", language, text="; ".join(parts))
