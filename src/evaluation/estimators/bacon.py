"""Goodman-Bacon (2021) decomposition of the two-way fixed effects DiD coefficient.

With staggered adoption the TWFE coefficient on a 0/1 "commune has adopted" indicator is a
weighted average of every 2x2 DiD between timing cohorts: earlier adopters against later ones
(before the later adopt), later adopters against earlier ones (after the earlier adopted, the
"forbidden" comparison that biases TWFE when effects grow over time), and adopters against
never-treated communes. :func:`bacon_decomposition` lists these comparisons with their weights;
the weights sum to one and the weighted estimates reproduce the TWFE coefficient exactly.

Requires a balanced panel (e.g. commune x wave means of the household ballots) with an absorbing
treatment; units treated from the first period on are "always treated" and enter only as
controls (``later_vs_always_treated``). No covariates or weights, as in the theorem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Comparison types, in the order used in tables and figures.
COMPARISON_TYPES = (
    "treated_vs_never",
    "earlier_vs_later",
    "later_vs_earlier",
    "later_vs_always_treated",
)


@dataclass(frozen=True)
class BaconDecomposition:
    """The 2x2 comparisons behind a TWFE DiD coefficient.

    Attributes
    ----------
    comparisons : pandas.DataFrame
        One row per 2x2 comparison: ``treated_cohort``, ``control_cohort`` (first-treated
        period; 0 = never treated), ``type`` (one of :data:`COMPARISON_TYPES`), ``estimate``,
        ``weight``.
    twfe_estimate : float
        The TWFE coefficient computed directly (two-way demeaning of the balanced panel).
    by_type : pandas.DataFrame
        Indexed by ``type``: total ``weight`` and weight-averaged ``estimate``.
    """

    outcome: str
    comparisons: pd.DataFrame
    twfe_estimate: float
    by_type: pd.DataFrame
    n_units: int
    n_periods: int
    notes: tuple[str, ...] = ()

    @property
    def weighted_sum(self) -> float:
        """Sum of weight x estimate over all comparisons (equals ``twfe_estimate``)."""
        return float(np.sum(self.comparisons["weight"] * self.comparisons["estimate"]))


def _prepare(
    data: pd.DataFrame, outcome: str, unit: str, time: str, first_treated: str
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    for argument, name in {
        "outcome": outcome,
        "unit": unit,
        "time": time,
        "first_treated": first_treated,
    }.items():
        if name not in data.columns:
            raise ValueError(
                f"{argument}={name!r} is not a column of data; pass an existing column name"
            )
    frame = pd.DataFrame(
        {
            "id": data[unit].to_numpy(),
            "t": pd.to_numeric(data[time], errors="coerce").to_numpy(float),
            "g": pd.to_numeric(data[first_treated], errors="coerce").to_numpy(float),
            "y": pd.to_numeric(data[outcome], errors="coerce").to_numpy(float),
        }
    )
    notes: list[str] = []
    frame["g"] = frame["g"].fillna(0.0)  # NaN = never treated
    if frame[["t", "y"]].isna().any().any() or frame["id"].isna().any():
        raise ValueError(
            f"outcome={outcome!r}, time={time!r} and unit={unit!r} must have no missing "
            "values: the decomposition needs a balanced panel (drop or impute first)"
        )
    if (frame.groupby("id")["g"].nunique() > 1).any():
        raise ValueError(
            f"first_treated={first_treated!r} varies within {unit!r}; treatment must be absorbing"
        )
    if frame.duplicated(["id", "t"]).any():
        raise ValueError(
            f"({unit!r}, {time!r}) has duplicate rows; keep one row per unit and period"
        )
    tlist = np.sort(frame["t"].unique())
    if (frame.groupby("id")["t"].size() != len(tlist)).any():
        raise ValueError(
            f"the panel is unbalanced: every {unit!r} must be observed in every {time!r}; "
            "keep units observed in all periods, or average ballots to commune x wave cells"
        )
    late = frame["g"] > tlist.max()
    if late.any():
        notes.append("Units first treated after the last period count as never treated.")
        frame.loc[late, "g"] = 0.0
    early = (frame["g"] > 0) & (frame["g"] <= tlist.min())
    frame.loc[early, "g"] = tlist.min()  # one always-treated group, whatever its adoption date
    if early.any():
        notes.append(
            f"{frame.loc[early, 'id'].nunique()} units treated from the first period on serve "
            "only as (always-treated) controls."
        )
    return frame, tlist, notes


def _twfe(frame: pd.DataFrame) -> float:
    """TWFE slope on D by exact two-way demeaning (balanced panel)."""
    d = ((frame["g"] > 0) & (frame["t"] >= frame["g"])).astype(float)

    def demean(v: pd.Series) -> np.ndarray:
        return (
            v
            - v.groupby(frame["id"]).transform("mean")
            - v.groupby(frame["t"]).transform("mean")
            + v.mean()
        ).to_numpy()

    dd = demean(d)
    if np.allclose(dd, 0):
        raise ValueError("the treatment indicator has no within-unit, within-period variation")
    return float(dd @ demean(frame["y"]) / (dd @ dd))


def bacon_decomposition(
    data: pd.DataFrame, outcome: str, unit: str, time: str, first_treated: str
) -> BaconDecomposition:
    """Goodman-Bacon decomposition of the TWFE DiD coefficient with staggered timing.

    Parameters
    ----------
    data : pandas.DataFrame
        Balanced panel, one row per unit (commune) and period (wave).
    outcome, unit, time : str
        Column names; ``time`` holds ordered periods.
    first_treated : str
        First treated period per unit; 0 or NaN for never treated.

    Returns
    -------
    BaconDecomposition
    """
    frame, tlist, notes = _prepare(data, outcome, unit, time, first_treated)
    n_units = frame["id"].nunique()
    unit_g = frame.groupby("id")["g"].first()
    groups = np.sort(unit_g.unique())
    share = unit_g.value_counts(normalize=True)
    ybar = frame.pivot_table(index="g", columns="t", values="y", aggfunc="mean")
    treated_share = {g: float(np.mean(tlist >= g)) if g > 0 else 0.0 for g in groups}

    d = ((frame["g"] > 0) & (frame["t"] >= frame["g"])).astype(float)
    dd = d - d.groupby(frame["id"]).transform("mean") - d.groupby(frame["t"]).transform("mean")
    var_d = float(np.mean((dd + d.mean()) ** 2))

    def did(treated: float, control: float, pre: np.ndarray, post: np.ndarray) -> float:
        diff = ybar.loc[treated] - ybar.loc[control]
        return float(diff[tlist[post]].mean() - diff[tlist[pre]].mean())

    rows: list[tuple[int, int, str, float, float]] = []
    timing = [g for g in groups if g > 0]
    if 0.0 in groups:
        for k in timing:
            dk = treated_share[k]
            if dk in (0.0, 1.0):
                continue
            nk, nu = share[k], share[0.0]
            s = (nk + nu) ** 2 * (nk / (nk + nu)) * (nu / (nk + nu)) * dk * (1 - dk) / var_d
            est = did(k, 0.0, tlist < k, tlist >= k)
            rows.append((int(k), 0, "treated_vs_never", est, s))
    for i, k in enumerate(timing):
        for l_ in timing[i + 1 :]:
            dk, dl = treated_share[k], treated_share[l_]
            nk, nl = share[k], share[l_]
            nkl = nk / (nk + nl)
            always = dk == 1.0
            if not always:
                # Earlier cohort k treated, later cohort l as control, before l adopts.
                s = (
                    ((nk + nl) * (1 - dl)) ** 2
                    * nkl
                    * (1 - nkl)
                    * ((dk - dl) / (1 - dl))
                    * ((1 - dk) / (1 - dl))
                    / var_d
                )
                window = tlist < l_
                est = did(k, l_, window & (tlist < k), window & (tlist >= k))
                rows.append((int(k), int(l_), "earlier_vs_later", est, s))
            # Later cohort l treated, earlier cohort k (already treated) as control.
            s = ((nk + nl) * dk) ** 2 * nkl * (1 - nkl) * (dl / dk) * ((dk - dl) / dk) / var_d
            window = tlist >= k
            est = did(l_, k, window & (tlist < l_), window & (tlist >= l_))
            kind = "later_vs_always_treated" if always else "later_vs_earlier"
            rows.append((int(l_), int(k), kind, est, s))

    comparisons = pd.DataFrame(
        rows, columns=["treated_cohort", "control_cohort", "type", "estimate", "weight"]
    )
    if comparisons.empty:
        raise ValueError(
            f"first_treated={first_treated!r}: no 2x2 comparison exists (need at least two "
            "timing groups, or treated and never-treated units)"
        )
    by_type = (
        comparisons.assign(product=comparisons["weight"] * comparisons["estimate"])
        .groupby("type")[["weight", "product"]]
        .sum()
    )
    by_type["estimate"] = by_type["product"] / by_type["weight"]
    order = [c for c in COMPARISON_TYPES if c in by_type.index]
    by_type = by_type.loc[order, ["weight", "estimate"]]
    return BaconDecomposition(
        outcome=outcome,
        comparisons=comparisons,
        twfe_estimate=_twfe(frame),
        by_type=by_type,
        n_units=int(n_units),
        n_periods=int(len(tlist)),
        notes=tuple(notes),
    )
