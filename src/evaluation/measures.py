"""Satisfaction and administrative measures, at ballot level and per commune and wave.

Conventions (as in SIPAS, the national satisfaction index):

* ``satisfaction_index``: mean of a ballot's answered SIPAS items, on the 1-5 scale.
* ``pct_satisfied``: share of a ballot's answered items rated ``satisfied_from`` (4) or higher;
  averaged over ballots it is the share of "satisfied / very satisfied" answers.
* ``pct_dissatisfied``: share rated ``dissatisfied_to`` (2) or lower.
* ``factor_<name>``: mean of the answered items of one SIPAS factor.
* ``coverage``: ballots returned / households on the ballot roster of that commune and wave.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from evaluation.config import BallotParams
from evaluation.data.periods import period_text
from evaluation.i18n import Language, format_quarter

SIPAS_FACTORS = ("access", "procedures", "staff", "results", "feedback")
BALLOT_OUTCOMES = ("satisfaction_index", "pct_satisfied", "pct_dissatisfied", "model_index")
ADMIN_OUTCOMES = (
    "pct_dossiers_on_time",
    "pct_condolence_on_time",
    "complaints_per_1000",
)


def score_ballots(ballots: pd.DataFrame, params: BallotParams) -> pd.DataFrame:
    """Add the factor scores, the overall index and the satisfied / dissatisfied shares.

    A ballot that answered no SIPAS item gets missing scores (and is counted, not dropped).
    """
    out = ballots.copy()
    sipas = [i for items in params.factors.values() for i in items]
    answers = out[sipas].astype(float)
    for factor, items in params.factors.items():
        out[f"factor_{factor}"] = out[items].astype(float).mean(axis=1)
    answered = answers.notna().sum(axis=1)
    out["n_answered"] = answered
    out["satisfaction_index"] = answers.mean(axis=1)
    with np.errstate(invalid="ignore"):
        out["pct_satisfied"] = (answers >= params.satisfied_from).sum(axis=1) / answered.where(
            answered > 0
        )
        out["pct_dissatisfied"] = (answers <= params.dissatisfied_to).sum(axis=1) / answered.where(
            answered > 0
        )
    if params.model_items:
        out["model_index"] = out[params.model_items].astype(float).mean(axis=1)
    return out


def cronbach_alpha(answers: pd.DataFrame) -> float:
    """Cronbach's alpha of a set of items (complete cases); NaN with fewer than 2 items."""
    complete = answers.astype(float).dropna()
    k = complete.shape[1]
    if k < 2 or len(complete) < 2:
        return float("nan")
    item_var = complete.var(axis=0, ddof=1).sum()
    total_var = complete.sum(axis=1).var(ddof=1)
    return float(k / (k - 1) * (1 - item_var / total_var))


def factor_reliability(ballots: pd.DataFrame, params: BallotParams) -> pd.DataFrame:
    """Cronbach's alpha per SIPAS factor (and the model's own items), with item counts."""
    groups = dict(params.factors)
    if len(params.model_items) >= 2:
        groups["model"] = list(params.model_items)
    rows = [
        {
            "factor": name,
            "n_items": len(items),
            "n_complete_ballots": int(ballots[items].notna().all(axis=1).sum()),
            "cronbach_alpha": cronbach_alpha(ballots[items]),
        }
        for name, items in groups.items()
    ]
    return pd.DataFrame(rows)


def item_distribution(ballots: pd.DataFrame, items: list[str], by: list[str]) -> pd.DataFrame:
    """Share of each answer (1-5) per item and group, in long form (item, answer, share, n)."""
    long = ballots[by + items].melt(id_vars=by, var_name="item", value_name="answer").dropna()
    counts = long.groupby([*by, "item", "answer"]).size().rename("n").reset_index()
    counts["share"] = counts["n"] / counts.groupby([*by, "item"])["n"].transform("sum")
    counts["answer"] = counts["answer"].astype(int)
    return counts


def wave_index(waves: pd.Series) -> pd.Series:
    """Quarter labels (``2019Q4``) as consecutive integers (quarters since 1970Q1)."""
    labels = waves.astype(str)
    ordinals = {w: pd.Period(w, freq="Q").ordinal for w in labels.unique()}  # parse each label once
    return labels.map(ordinals).astype("int64")


def wave_label(index: int | float) -> str:
    """The quarter label of a wave index (inverse of :func:`wave_index`)."""
    return str(pd.Period(ordinal=int(index), freq="Q"))


def period_label(
    index: int | float,
    source: str = "",
    language: Language | None = None,
    period_format: str | None = None,
) -> str:
    """A wave index as readers know it: a quarter for ballots, the panel's own period for a panel.

    ``language=None`` gives the data label (``2019Q4``, ``2019-10``, as in params and
    tables); a language gives the reader's label: quarters ``Q4/2019`` in Vietnamese and
    ``Q4 2019`` in English, months ``10/2019`` in Vietnamese. A panel's periods are written in
    its ``period_format`` (``prepared.meta["period_format"]``: integer, quarter or month).
    """
    if source == "panel":
        label = period_text(index, period_format or "integer")  # type: ignore[arg-type]
    else:
        label = wave_label(index)
    if language is None:
        return label
    month = re.fullmatch(r"(\d{4})-(\d{2})", label)
    if month is not None and language == "vi":  # Vietnamese writes a month as mm/yyyy
        return f"{month[2]}/{month[1]}"
    return format_quarter(label, language)


def commune_timing(communes: pd.DataFrame) -> pd.DataFrame:
    """Adoption timing per commune: first treated wave (index), pilot flag, adoption cohort.

    The pilot communes are those that started in the earliest start wave.
    """
    out = communes.copy()
    start = pd.to_datetime(out["start_date"])
    out["first_treated_wave"] = pd.Series(
        [pd.Period(d, freq="Q").ordinal if pd.notna(d) else np.nan for d in start],
        index=out.index,
        dtype=float,
    )
    pilot_wave = out["first_treated_wave"].min()
    out["pilot"] = out["first_treated_wave"] == pilot_wave
    out["cohort"] = out["first_treated_wave"].map(
        lambda w: "never" if pd.isna(w) else wave_label(w)
    )
    out["urban"] = out["commune_type"].isin(["phuong", "thi_tran"]).astype(float)
    return out


def commune_wave_panel(
    scored: pd.DataFrame,
    communes: pd.DataFrame,
    admin: pd.DataFrame | None = None,
    weight: str | None = None,
) -> pd.DataFrame:
    """One row per commune and wave: ballot means, ballot counts, coverage, admin outcomes.

    Parameters
    ----------
    scored : DataFrame
        Output of :func:`score_ballots`, harmonised (``commune_code``, ``wave``).
    communes : DataFrame
        Output of :func:`commune_timing`.
    admin : DataFrame, optional
        Harmonised quarterly admin indicators.
    weight : str, optional
        Ballot weight column for the means (survey weights).
    """
    outcomes = [c for c in (*BALLOT_OUTCOMES, *_factor_columns(scored)) if c in scored]
    frame = scored[["commune_code", "wave", *outcomes]].copy()
    w = scored[weight].astype(float) if weight else pd.Series(1.0, index=scored.index)
    frame["_w"] = w
    for c in outcomes:
        frame[f"_wy_{c}"] = frame[c].astype(float) * w
        frame[f"_wn_{c}"] = w.where(frame[c].notna(), 0.0)
    grouped = frame.groupby(["commune_code", "wave"])
    panel = grouped.size().rename("n_ballots").to_frame()
    sums = grouped[[f"_wy_{c}" for c in outcomes] + [f"_wn_{c}" for c in outcomes]].sum()
    for c in outcomes:
        panel[c] = sums[f"_wy_{c}"] / sums[f"_wn_{c}"].where(sums[f"_wn_{c}"] > 0)
    panel = panel.reset_index()
    if admin is not None:
        # Commune-waves with admin records but no ballot (a commune not surveyed that wave, or
        # waves before a survey began) stay in: the admin outcomes are measured there.
        panel = panel.merge(admin, on=["commune_code", "wave"], how="outer")
        panel["n_ballots"] = panel["n_ballots"].fillna(0).astype("int64")
        panel = add_admin_outcomes(panel)
    panel["wave_index"] = wave_index(panel["wave"])
    keep = [
        "commune_code",
        "commune_name",
        "commune_type",
        "district_name",
        "full_name",
        "pilot",
        "start_date",
        "first_treated_wave",
        "cohort",
        "pilot_share",
        "mixed_pilot",
        "drop_mixed",
        "urban",
    ]
    panel = panel.merge(communes[[c for c in keep if c in communes]], on="commune_code", how="left")
    panel["treated"] = (panel["wave_index"] >= panel["first_treated_wave"]).astype(float) * panel[
        "pilot_share"
    ]
    return panel.sort_values(["commune_code", "wave_index"]).reset_index(drop=True)


def add_admin_outcomes(panel: pd.DataFrame) -> pd.DataFrame:
    """Coverage and the administrative outcomes from the admin counts."""
    out = panel.copy()

    def ratio(num: str, den: str, scale: float = 1.0) -> pd.Series:
        if num not in out or den not in out:
            return pd.Series(np.nan, index=out.index)
        den_values = out[den].astype(float)
        return scale * out[num].astype(float) / den_values.where(den_values > 0)

    if "ballot_roster" in out:
        surveyed = out["n_ballots"] > 0  # no ballot at all: not surveyed that wave (not 0%)
        out["coverage"] = (
            (out["n_ballots"] / out["ballot_roster"].astype(float)).clip(upper=1.0).where(surveyed)
        )
    out["pct_dossiers_on_time"] = ratio("dossiers_on_time", "dossiers_received")
    out["pct_condolence_on_time"] = ratio("condolence_on_time", "condolence_due")
    out["complaints_per_1000"] = ratio("complaints_attitude", "households_total", 1000.0)
    out["one_stop_staff_per_1000"] = ratio("one_stop_staff", "households_total", 1000.0)
    out["apology_per_100_dossiers"] = ratio("apology_letters", "dossiers_received", 100.0)
    return out


def commune_baseline(panel: pd.DataFrame, before_wave: int) -> pd.DataFrame:
    """Baseline commune characteristics: means over the waves before ``before_wave``.

    Returns one row per commune with ``baseline_index``, ``baseline_pct_satisfied``,
    ``one_stop_staff_per_1000``, ``pct_condolence_on_time``, ``coverage`` (where present), and
    the commune's type and district.
    """
    pre = panel[panel["wave_index"] < before_wave]
    numeric = {
        "satisfaction_index": "baseline_index",
        "pct_satisfied": "baseline_pct_satisfied",
        "one_stop_staff_per_1000": "one_stop_staff_per_1000",
        "pct_condolence_on_time": "pct_condolence_on_time",
        "pct_dossiers_on_time": "pct_dossiers_on_time",
        "coverage": "baseline_coverage",
        "n_ballots": "baseline_ballots",
    }
    present = {k: v for k, v in numeric.items() if k in pre}
    base = pre.groupby("commune_code")[list(present)].mean().rename(columns=present)
    info_cols = [
        c
        for c in (
            "commune_name",
            "full_name",
            "commune_type",
            "district_name",
            "pilot",
            "urban",
            "cohort",
            "first_treated_wave",
        )
        if c in panel
    ]
    info = panel.groupby("commune_code")[info_cols].first()
    return info.join(base).reset_index()


def _factor_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("factor_")]
