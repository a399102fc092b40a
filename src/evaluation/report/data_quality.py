"""Tables, figures and readings of the data-quality page (``01_data_quality``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.data.schemas import RULE_NAMES, rule_text
from evaluation.i18n import Language, format_number, format_percent, t
from evaluation.measures import period_label
from evaluation.prepare import Prepared
from evaluation.report.style import COMPARISON_COLOUR, PILOT_COLOUR, new_figure


def validation_failed(prepared: Prepared) -> bool:
    return bool(prepared.meta.get("validation_failed"))


def inputs_summary(prepared: Prepared, language: Language) -> pd.DataFrame:
    """What came in: counts of communes, pilots, waves, ballots, districts."""
    meta = prepared.meta

    def period(index: float) -> str:
        return period_label(index, meta.get("source", ""), language)

    rows = [
        ("dq.n_communes", format_number(meta["n_communes"], language, 0)),
        ("dq.n_pilot", format_number(meta["n_pilot"], language, 0)),
        (
            "dq.n_districts",
            format_number(prepared.communes["district_name"].nunique(), language, 0),
        ),
        ("dq.n_waves", format_number(meta["n_waves"], language, 0)),
        (
            "dq.first_last_wave",
            f"{period(prepared.panel['wave_index'].min())} – "
            f"{period(prepared.panel['wave_index'].max())}",
        ),
        ("dq.pilot_wave", period(meta["pilot_wave"])),
        (
            "dq.window",
            f"{period(meta['window_start'])} – {period(meta['window_end'])}",
        ),
    ]
    if prepared.has_ballots:
        rows.insert(3, ("dq.n_ballots", format_number(meta["n_ballots"], language, 0)))
    return pd.DataFrame(
        {
            t("dq.col_what", language): [t(k, language) for k, _ in rows],
            t("dq.col_value", language): [v for _, v in rows],
        }
    )


def problems_table(prepared: Prepared, language: Language) -> pd.DataFrame:
    """Validation problems in the page's language (empty when the data passed).

    The problem table is written in English (terminal, ``data_problems.csv``); each known rule
    and its fix are shown here in the run's language.
    """
    words = {}
    for name in RULE_NAMES:
        english, local = rule_text(name, "en"), rule_text(name, language)
        words.update(dict(zip(english, local, strict=True)))
    frame = prepared.problems.copy()
    for column in ("rule", "how_to_fix"):
        frame[column] = frame[column].map(lambda text: words.get(text, text))
    headers = {
        c: t(f"dq.problem_{c}", language)
        for c in ("file", "row", "column", "value", "rule", "how_to_fix")
    }
    return frame.rename(columns=headers)


def coverage_table(prepared: Prepared) -> pd.DataFrame:
    """Ballot coverage per commune and wave (ballots returned / households on the roster)."""
    cols = [
        "commune_code",
        "full_name",
        "district_name",
        "pilot",
        "wave",
        "n_ballots",
        "ballot_roster",
        "coverage",
    ]
    return prepared.panel[[c for c in cols if c in prepared.panel]].copy()


def coverage_summary(prepared: Prepared, language: Language) -> pd.DataFrame:
    """Coverage by group and period (before / after the pilot start)."""
    panel = prepared.panel.assign(
        period=np.where(
            prepared.panel["wave_index"] >= prepared.meta["pilot_wave"],
            t("dq.after", language),
            t("dq.before", language),
        ),
        group=np.where(
            prepared.panel["pilot"], t("dq.pilot", language), t("dq.non_pilot", language)
        ),
    )
    summary = panel.groupby(["group", "period"]).agg(
        ballots=("n_ballots", "sum"),
        mean_coverage=("coverage", "mean"),
        min_coverage=("coverage", "min"),
    )
    summary = summary.reset_index()
    summary["mean_coverage"] = summary["mean_coverage"].map(lambda v: format_percent(v, language))
    summary["min_coverage"] = summary["min_coverage"].map(lambda v: format_percent(v, language))
    summary["ballots"] = summary["ballots"].map(lambda v: format_number(v, language, 0))
    return summary.rename(columns={c: t(f"dq.col_{c}", language) for c in summary.columns})


def coverage_figure(prepared: Prepared, language: Language) -> Figure:
    """Mean ballot coverage per wave, pilot vs non-pilot communes, with the pilot start marked."""
    panel = prepared.panel
    by_wave = panel.groupby(["wave_index", "pilot"])["coverage"].mean().unstack("pilot")
    fig, ax = new_figure(10, 4.8)
    x = by_wave.index.to_numpy()
    for is_pilot, marker, colour, key in (
        (True, "o", PILOT_COLOUR, "dq.pilot"),
        (False, "s", COMPARISON_COLOUR, "dq.non_pilot"),
    ):
        if is_pilot in by_wave:
            series = 100 * by_wave[is_pilot]
            ax.plot(x, series, marker=marker, color=colour, lw=2.5, label=t(key, language))
    ax.axvline(prepared.meta["pilot_wave"] - 0.5, color="black", ls="--", lw=1)
    ax.text(
        prepared.meta["pilot_wave"] - 0.4,
        ax.get_ylim()[1],
        t("dq.pilot_starts", language),
        va="top",
        fontsize=11,
    )
    source = prepared.meta.get("source", "")
    ax.set_xticks(x, [period_label(w, source, language) for w in x], rotation=45, ha="right")
    ax.set_ylabel(t("dq.coverage_axis", language))
    ax.set_title(t("dq.coverage_title", language))
    ax.legend(loc="lower left")
    return fig


def map_change_table(prepared: Prepared, language: Language) -> pd.DataFrame:
    """Each unit the 2020 map change touched: where its records went and how many."""
    report = prepared.harmonisation
    if report is None or report.empty:
        return pd.DataFrame()
    touched = report[(report["how"] != "same") | (report["after_dissolution"] > 0)]
    touched = touched[touched["table"] == "ballots"]
    out = touched[
        ["source_code", "how", "target_code", "records", "after_dissolution", "action"]
    ].copy()
    out["how"] = out["how"].map(lambda v: t(f"dq.how_{v}", language))
    out["action"] = out["action"].map(
        lambda v: t("dq.action_kept" if v == "kept" else "dq.action_dropped", language)
    )
    return out.rename(columns={c: t(f"dq.map_{c}", language) for c in out.columns})


def mixed_pilot_units(prepared: Prepared) -> pd.DataFrame:
    c = prepared.communes
    if "mixed_pilot" not in c:
        return pd.DataFrame()
    return c.loc[
        c["mixed_pilot"].fillna(False).astype(bool),
        ["commune_code", "full_name", "parts", "pilot_share", "drop_mixed"],
    ]


def pilots_by_district(prepared: Prepared, language: Language) -> pd.DataFrame:
    """Pilot and non-pilot communes per district (and commune type)."""
    c = prepared.communes
    table = pd.crosstab(
        c["district_name"],
        c["pilot"].map({True: t("dq.pilot", language), False: t("dq.non_pilot", language)}),
    )
    table[t("dq.total", language)] = table.sum(axis=1)
    table.index.name = t("dq.district", language)
    table.columns.name = None
    return table.reset_index()


def reading(prepared: Prepared, language: Language) -> str:
    """Plain-language reading of the data-quality page."""
    panel = prepared.panel
    dropped = prepared.harmonisation
    n_dropped = 0
    if dropped is not None and not dropped.empty:
        n_dropped = int(
            dropped.loc[
                (dropped["table"] == "ballots") & (dropped["action"] != "kept"), "records"
            ].sum()
        )
    low = panel.loc[panel["coverage"] < 0.5] if "coverage" in panel else panel.iloc[:0]
    return t(
        "dq.reading",
        language,
        **_counts(prepared, language),
        low_cells=format_number(len(low), language, 0),
        dropped=format_number(n_dropped, language, 0),
    )


def finding(prepared: Prepared, language: Language) -> str:
    """The page's one-line finding for the run's index."""
    return t("dq.finding", language, **_counts(prepared, language))


def _counts(prepared: Prepared, language: Language) -> dict[str, str | int]:
    """Ballots, communes, pilots and mean coverage, as the reading and the finding say them."""
    panel = prepared.panel
    return {
        "ballots": format_number(prepared.meta["n_ballots"], language, 0),
        "communes": prepared.meta["n_communes"],
        "pilots": prepared.meta["n_pilot"],
        "coverage": format_percent(
            panel["coverage"].mean() if "coverage" in panel else float("nan"), language
        ),
    }


def reliability_table(prepared: Prepared, language: Language) -> pd.DataFrame:
    """Cronbach's alpha per SIPAS factor, with the usual reading (>= 0.7 acceptable)."""
    rel = prepared.reliability
    return pd.DataFrame(
        {
            t("dq.col_factor", language): [t(f"dq.factor_{f}", language) for f in rel["factor"]],
            t("dq.col_items", language): rel["n_items"].astype(int),
            t("dq.col_alpha", language): [
                format_number(a, language, 2) for a in rel["cronbach_alpha"]
            ],
            t("dq.col_alpha_reading", language): [
                t("dq.alpha_ok" if a >= 0.7 else "dq.alpha_low", language)
                for a in rel["cronbach_alpha"]
            ],
        }
    )
