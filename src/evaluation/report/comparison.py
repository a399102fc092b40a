"""The comparison page (``02_comparison``): wording, tables and readings of who the treated are.

The statistics live in :mod:`evaluation.analysis.comparison`; this module only lays out what
those analyses return, in the run's language, with the data's own nouns
(:mod:`evaluation.report.wording`): Hà Nam's pages speak of pilot communes, a generic panel's
pages of its treated and untreated units.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from evaluation.analysis.base import NotApplicable, applies
from evaluation.analysis.comparison import (
    Balance,
    ComparisonSummary,
    ComparisonWeights,
    EffectComparison,
)
from evaluation.config import Params
from evaluation.i18n import Language, format_number, format_p_value, format_percent, t
from evaluation.report.effects import format_effect, outcome_label
from evaluation.report.wording import (
    is_hanam,
    noun_values,
    treated_noun,
)

#: Characteristics shown as percentages.
SHARE_CHARACTERISTICS: frozenset[str] = frozenset(
    {
        "baseline_pct_satisfied",
        "pct_condolence_on_time",
        "pct_dossiers_on_time",
        "baseline_coverage",
        "urban",
        "respondent_female",
    }
)
#: |SMD| above which a difference is worth naming (Stuart 2010; cobalt's default threshold).
SMD_THRESHOLD = 0.1
#: |SMD| above which a difference is large (Rubin 2001; What Works Clearinghouse 0.25).
SMD_LARGE = 0.25
#: How many differences the verdict names (the table shows them all).
MAX_NAMED = 4


# -- words -----------------------------------------------------------------------------------


def say(key: str, params: Params, language: Language, **values: object) -> str:
    """``comparison.<key>`` for Hà Nam, ``comparison.panel.<key>`` (when written) for a panel,
    with the page's nouns filled in."""
    values = {**noun_values(params, language), **values}
    if values.get("pilots") == 1:  # "the 1 pilot commune", not "communes"
        values["treated"] = treated_noun(params, language, plural=False)
    if not is_hanam(params):
        try:
            return t(f"comparison.panel.{key}", language, **values)
        except KeyError:
            pass
    return t(f"comparison.{key}", language, **values)


def characteristic_label(name: str, params: Params, language: Language) -> str:
    """The reader's name of a compared characteristic (a panel covariate keeps its name)."""
    if is_hanam(params):
        try:
            return t(f"comparison.characteristics.{name}", language)
        except KeyError:
            return name
    if name.startswith("baseline_"):
        outcome = name.removeprefix("baseline_")
        return t("comparison.panel.baseline_of", language, outcome=outcome_label(outcome, language))
    return name


def _value(name: str, value: float, language: Language) -> str:
    if name in SHARE_CHARACTERISTICS:
        return format_percent(value, language)
    return format_number(value, language, 2)


def p_text(p: float, language: Language) -> str:
    """``= 0,023`` or ``< 0,001``, to follow a ``p`` (no sentence reads ``p = < 0,001``)."""
    text = format_p_value(p, language)
    return text if text.startswith("<") else f"= {text}"


def mid_sentence(label: str) -> str:
    """A label placed inside a sentence: first letter lower-cased unless it starts an acronym."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


# -- balance ---------------------------------------------------------------------------------


def balance_display(balance: Balance, params: Params, language: Language) -> pd.DataFrame:
    """A balance table laid out for reading (labels, formatted numbers, translated headers).

    Undefined statistics (one unit in a group) are shown as a dash; :func:`spread_note` says why.
    """
    treated_col = say("col_pilot", params, language)
    comparison_col = say("col_comparison", params, language)
    if balance.level == "ballot":
        treated_col = t("comparison.col_pilot_households", language, group=treated_col)
        comparison_col = t("comparison.col_pilot_households", language, group=comparison_col)
    rows = []
    for r in balance.table.itertuples(index=False):
        rows.append(
            {
                t("comparison.col_characteristic", language): characteristic_label(
                    r.covariate, params, language
                ),
                treated_col: _value(r.covariate, r.mean_pilot, language),
                comparison_col: _value(r.covariate, r.mean_comparison, language),
                t("comparison.col_smd", language): format_number(r.smd, language, 2),
                t("comparison.col_variance_ratio", language): format_number(
                    r.variance_ratio, language, 2
                ),
                t("comparison.col_p", language): format_p_value(r.p_value, language),
            }
        )
    return pd.DataFrame(rows)


def differences(table: pd.DataFrame, threshold: float = SMD_THRESHOLD) -> pd.DataFrame:
    """Rows of a balance table whose |SMD| exceeds ``threshold``, largest first."""
    big = table[table["smd"].abs() > threshold]
    return big.assign(_a=big["smd"].abs()).sort_values("_a", ascending=False).drop(columns="_a")


def _difference_list(balance: Balance, params: Params, language: Language) -> str:
    parts = []
    found = differences(balance.table)
    for r in found.head(MAX_NAMED).itertuples(index=False):
        key = "higher" if r.smd > 0 else "lower"
        parts.append(
            say(
                key,
                params,
                language,
                characteristic=mid_sentence(characteristic_label(r.covariate, params, language)),
                pilot=_value(r.covariate, r.mean_pilot, language),
                comparison_value=_value(r.covariate, r.mean_comparison, language),
                smd=format_number(r.smd, language, 2),
            )
        )
    if len(found) > MAX_NAMED:
        parts.append(t("comparison.and_more", language, n=len(found) - MAX_NAMED))
    return "; ".join(parts)


def _means_list(balance: Balance, params: Params, language: Language) -> str:
    return "; ".join(
        t(
            "comparison.means_item",
            language,
            characteristic=mid_sentence(characteristic_label(r.covariate, params, language)),
            pilot=_value(r.covariate, r.mean_pilot, language),
            comparison_value=_value(r.covariate, r.mean_comparison, language),
        )
        for r in balance.table.itertuples(index=False)
    )


def verdict(balance: Balance, params: Params, language: Language) -> str:
    """The plain answer first: how the treated units differed and what that means."""
    counts = {"pilots": balance.n_treated, "others": balance.n_comparison}
    if not balance.spread_defined:
        return " ".join(
            [
                say("verdict_means_only", params, language, **counts),
                _means_list(balance, params, language) + ".",
                spread_note(balance, params, language),
            ]
        )
    found = differences(balance.table)
    if found.empty:
        text = say("verdict_similar", params, language, **counts)
    else:
        large = bool((found["smd"].abs() > SMD_LARGE).any())
        text = say(
            "verdict_different_large" if large else "verdict_different",
            params,
            language,
            **counts,
            differences=_difference_list(balance, params, language),
        )
    parts = [text]
    if balance.joint_p_value == balance.joint_p_value:  # defined
        key = "verdict_joint_reject" if balance.joint_p_value < 0.05 else "verdict_joint_ok"
        parts.append(
            say(key, params, language, p=p_text(balance.joint_p_value, language), **counts)
        )
    parts.append(say("verdict_meaning", params, language))
    return " ".join(parts)


def spread_note(balance: Balance, params: Params, language: Language) -> str:
    """Why the table shows dashes: with one unit in a group there is no spread to compare."""
    if balance.spread_defined:
        return ""
    return say("spread_undefined", params, language, pilots=balance.n_treated)


def household_note(households: Balance, params: Params, language: Language) -> str:
    """Why household p-values are missing (ballots from fewer than two units in a group)."""
    if households.spread_defined:
        return ""
    return say("household_p_undefined", params, language)


def conventions(balance: Balance, params: Params, language: Language) -> str:
    """The note printed under a balance table: SMD convention, p-values, joint test."""
    parts = [
        t("robustness.balance.smd_convention", language),
        say("p_value_note", params, language),
    ]
    if balance.joint_p_value == balance.joint_p_value:
        parts.append(
            say(
                "joint_test",
                params,
                language,
                f=format_number(balance.joint_f, language, 2),
                p=format_p_value(balance.joint_p_value, language),
            )
        )
    return " ".join(parts)


def levels_reading(levels: Balance, params: Params, language: Language) -> str:
    """What the baseline outcome means say when no characteristic can be compared."""
    return say(
        "levels_reading",
        params,
        language,
        pilots=levels.n_treated,
        others=levels.n_comparison,
        means=_means_list(levels, params, language),
    )


# -- propensity and weights ------------------------------------------------------------------


def overlap_reading(weights: ComparisonWeights, params: Params, language: Language) -> str:
    """What the propensity scores and the trimming rule did."""
    table = weights.table
    pilots = table[table["pilot"] == 1]["propensity"]
    others = table[table["pilot"] == 0]["propensity"]
    text = say(
        "overlap_reading",
        params,
        language,
        covariates=", ".join(characteristic_label(c, params, language) for c in weights.covariates),
        pilot_median=format_percent(float(pilots.median()), language),
        other_median=format_percent(float(others.median()), language),
        rule=t(f"comparison.trim_rule_{weights.rule}", language),
        lower=format_number(weights.lower, language, 3),
        upper=format_number(weights.upper, language, 3),
        dropped=weights.n_dropped,
        pilots_dropped=weights.n_pilot_dropped,
    )
    if weights.fallback:
        text = f"{text} {say('fallback_note', params, language)}"
    return text


def trim_reference(weights: ComparisonWeights, language: Language) -> str | None:
    """The trimming rule's reference and the weights' estimand, for the researchers' part
    (None under fixed bounds: nothing to cite)."""
    return t("comparison.trim_reference", language) if weights.rule == "crump" else None


def weighting_reading(
    before: Balance, after: Balance, weights: ComparisonWeights, params: Params, language: Language
) -> str:
    """How far the weights closed the gaps (largest |SMD| before and after, effective size)."""
    b, a = before.table.dropna(subset=["smd"]), after.table.dropna(subset=["smd"])
    if b.empty or a.empty:
        return say(
            "weighting_no_smd",
            params,
            language,
            ess=format_number(weights.effective_comparison, language, 1),
            kept=weights.n_comparison_kept,
        )
    worst_before = b.loc[b["smd"].abs().idxmax()]
    worst_after = a.loc[a["smd"].abs().idxmax()]
    key = (
        "weighting_balanced" if abs(worst_after["smd"]) <= SMD_THRESHOLD else "weighting_unbalanced"
    )
    return say(
        key,
        params,
        language,
        before=format_number(abs(worst_before["smd"]), language, 2),
        before_name=characteristic_label(worst_before["covariate"], params, language),
        after=format_number(abs(worst_after["smd"]), language, 2),
        after_name=characteristic_label(worst_after["covariate"], params, language),
        ess=format_number(weights.effective_comparison, language, 1),
        kept=weights.n_comparison_kept,
        threshold=format_number(SMD_THRESHOLD, language, 1),
    )


def weights_table(weights: ComparisonWeights) -> pd.DataFrame:
    """The unit weights table (``tables/comparison_weights.csv``) with its settings in ``attrs``."""
    table = weights.table.copy()
    table.attrs.update(
        {
            "rule": weights.rule,
            "lower": weights.lower,
            "upper": weights.upper,
            "n_dropped": weights.n_dropped,
            "n_pilot_dropped": weights.n_pilot_dropped,
            "covariates": list(weights.covariates),
            "converged": weights.converged,
            "effective_comparison": weights.effective_comparison,
            "n_comparison_kept": weights.n_comparison_kept,
        }
    )
    return table


def love_labels(names: Sequence[str], params: Params, language: Language) -> dict[str, str]:
    """Reader labels of characteristics for the love plot."""
    return {n: characteristic_label(n, params, language) for n in names}


# -- the effect with each comparison group ---------------------------------------------------


def effects_display(effects: EffectComparison, params: Params, language: Language) -> pd.DataFrame:
    """The three estimates side by side: point estimates and the units they rest on.

    No interval is shown: none of these methods had its false-alarm rate measured on this
    design (page 03 shows the checked interval of the headline estimate).
    """
    rows = []
    for key, estimate, n_units in zip(
        ("row_plain", "row_weighted", "row_robust"),
        (effects.plain, effects.weighted, effects.robust),
        effects.n_units,
        strict=True,
    ):
        rows.append(
            {
                t("comparison.col_method", language): say(key, params, language),
                t("comparison.col_estimate", language): format_effect(
                    effects.outcome, estimate.estimate, language
                ),
                say("col_units_used", params, language): format_number(n_units, language, 0),
            }
        )
    return pd.DataFrame(rows)


def effect_reading(effects: EffectComparison, params: Params, language: Language) -> str:
    """Does weighting (or the doubly robust estimator) change the answer?"""
    plain, weighted, robust = effects.plain, effects.weighted, effects.robust
    gap = abs(weighted.estimate - plain.estimate)
    key = "effect_same" if gap <= plain.std_error else "effect_moved"
    return say(
        key,
        params,
        language,
        outcome=outcome_label(plain.outcome, language),
        plain=format_effect(plain.outcome, plain.estimate, language),
        weighted=format_effect(plain.outcome, weighted.estimate, language),
        robust=format_effect(plain.outcome, robust.estimate, language),
        se=format_effect(plain.outcome, plain.std_error, language),
    )


def effects_rows(effects: EffectComparison) -> pd.DataFrame:
    """Tidy rows of the weighted estimate for ``tables/effects.csv`` (its interval's size was
    not measured on this design: ``size_checked`` False)."""
    return effects.weighted.tidy().assign(size_checked=False)


# -- what the summary and the index read -----------------------------------------------------


def page_results(summary: ComparisonSummary) -> dict:
    """The page's key numbers for ``results.json`` (JSON-serialisable; absent when undefined)."""
    out: dict = {
        "not_applicable": {
            name: value.reason
            for name, value in vars(summary).items()
            if isinstance(value, NotApplicable)
        }
    }
    before, after, weights, effects = (
        summary.balance,
        summary.weighted_balance,
        summary.weights,
        summary.effects,
    )
    if applies(before):
        out.update(
            {
                "joint_p_value": before.joint_p_value,
                "max_abs_smd": float(before.table["smd"].abs().max()),
                "imbalanced": differences(before.table)["covariate"].tolist(),
                "smd": {r.covariate: float(r.smd) for r in before.table.itertuples(index=False)},
            }
        )
    if applies(after):
        out["joint_p_value_weighted"] = after.joint_p_value
        out["max_abs_smd_weighted"] = float(after.table["smd"].abs().max())
    if applies(weights):
        out.update(
            {
                "trim_rule": weights.rule,
                "trim_bounds": [weights.lower, weights.upper],
                "n_trimmed": weights.n_dropped,
                "n_pilot_trimmed": weights.n_pilot_dropped,
                "effective_comparison": weights.effective_comparison,
                "propensity_covariates": list(weights.covariates),
            }
        )
    if applies(effects):
        out.update(
            {
                "outcome": effects.outcome,
                "twfe_commune_wave": effects.plain.estimate,
                "twfe_commune_wave_ipw": effects.weighted.estimate,
                "twfe_commune_wave_ipw_conf_int": list(effects.weighted.conf_int),
                "twfe_commune_wave_ipw_size_checked": False,
            }
        )
    return out


def finding(summary: ComparisonSummary, params: Params, language: Language) -> str:
    """The page's one-line finding for the run's index page."""
    before, effects = summary.balance, summary.effects
    if not applies(before):
        return before.message(language)
    smd = before.table.dropna(subset=["smd"])
    if smd.empty:
        return say("finding_means_only", params, language, pilots=before.n_treated)
    worst = smd.loc[smd["smd"].abs().idxmax()]
    values = {
        "smd": format_number(float(worst["smd"]), language, 2),
        "name": characteristic_label(str(worst["covariate"]), params, language),
    }
    similar = abs(float(worst["smd"])) <= SMD_THRESHOLD
    text = say("finding_similar" if similar else "finding", params, language, **values)
    if applies(effects):
        text += " " + say(
            "finding_effect",
            params,
            language,
            weighted=format_effect(effects.outcome, effects.weighted.estimate, language),
            plain=format_effect(effects.outcome, effects.plain.estimate, language),
        )
    return text


def effect_intro(effects: EffectComparison, params: Params, language: Language) -> str:
    """What the three estimates are, and why no interval is shown."""
    return say(
        "effect_intro",
        params,
        language,
        outcome=outcome_label(effects.outcome, language),
        covariates=", ".join(characteristic_label(c, params, language) for c in effects.covariates),
    )
