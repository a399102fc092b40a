"""The 2x2 difference-in-differences table (pilot / non-pilot x before / after).

In the style of the World Bank DIME ``ieddtab`` command: the four cell means, the change over
time in each group (the two first differences) and their difference (the DiD), each with a
cluster-robust standard error and its number of observations. Everything comes from one
saturated regression ``outcome ~ 1 + pilot + post + pilot:post`` (statsmodels OLS/WLS,
CRV1 by ``cluster``), so the standard errors of the means, first differences and DiD are
mutually consistent. Small-sample factor (N-1)/(N-4) x G/(G-1) and t with G-1 df: what
statsmodels' ``cov_type="cluster"`` and fixest/pyfixest both give for this model (no fixed
effects). With one row per commune and period (a balanced 2x2 panel) the DiD equals the two-way
fixed-effects coefficient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from evaluation.estimators.result import EffectEstimate, term_frame

__all__ = ["DidTable", "did_2x2_table"]

#: Rows of ``DidTable.table``: (quantity, group, period, contrast over [b0, b_pilot, b_post, b_did]).
_ROWS: list[tuple[str, str, str, tuple[float, float, float, float]]] = [
    ("mean", "comparison", "before", (1, 0, 0, 0)),
    ("mean", "comparison", "after", (1, 0, 1, 0)),
    ("mean", "pilot", "before", (1, 1, 0, 0)),
    ("mean", "pilot", "after", (1, 1, 1, 1)),
    ("first_difference", "comparison", "after_minus_before", (0, 0, 1, 0)),
    ("first_difference", "pilot", "after_minus_before", (0, 0, 1, 1)),
    ("difference_in_differences", "pilot_minus_comparison", "after_minus_before", (0, 0, 0, 1)),
]


@dataclass(frozen=True)
class DidTable:
    """A 2x2 difference-in-differences table and its DiD estimate.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per quantity with columns ``quantity`` (mean, first_difference,
        difference_in_differences), ``group``, ``period``, ``estimate``, ``std_error``,
        ``conf_low``, ``conf_high``, ``p_value``, ``n_obs``, ``n_clusters``.
    estimate : EffectEstimate
        The DiD term (term ``"did"``), for ``tables/effects.csv``.
    """

    table: pd.DataFrame
    estimate: EffectEstimate

    def tidy(self) -> pd.DataFrame:
        """The DiD as one row with the columns of ``tables/effects.csv``."""
        return self.estimate.tidy()

    def wide(self) -> pd.DataFrame:
        """The ieddtab layout: one row, columns per group x period ("comparison_before" ...)."""
        out: dict[str, float] = {}
        for row in self.table.itertuples(index=False):
            stem = f"{row.quantity}_{row.group}_{row.period}"
            out[stem] = row.estimate
            out[f"{stem}_se"] = row.std_error
        out["n_obs"] = float(self.estimate.n_obs)
        return pd.DataFrame([out])


def did_2x2_table(
    data: pd.DataFrame,
    outcome: str,
    pilot: str,
    post: str,
    cluster: str,
    weights: str | None = None,
    alpha: float = 0.05,
) -> DidTable:
    """Means by pilot/comparison x before/after, the two first differences and the DiD.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per ballot (or per commune-period with ``weights``).
    outcome : str
        Outcome column.
    pilot : str
        0/1: the row belongs to a pilot commune.
    post : str
        0/1: the row is from after the pilot started.
    cluster : str
        Cluster column (commune).
    weights : str, optional
        Positive weights (e.g. ballots per commune-period).
    alpha : float
        1 - confidence level.

    Returns
    -------
    DidTable

    Raises
    ------
    ValueError
        On missing columns, pilot/post not 0/1, an empty cell, non-positive weights or fewer
        than two clusters.
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    cols = list(dict.fromkeys(c for c in [outcome, pilot, post, cluster, weights] if c))
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ValueError(
            f"column(s) {missing} not found in the data; available: {list(data.columns)}."
        )
    frame = data[cols]
    bad = frame.isna().any(axis=1)
    n_missing = int(bad.sum())
    frame = frame.loc[~bad]
    for name in (pilot, post):
        values = set(np.unique(frame[name].to_numpy(dtype=float)))
        if not values.issubset({0.0, 1.0}):
            raise ValueError(f"column {name!r} must be 0/1, found {sorted(values)[:5]}; recode it.")
    if not pd.api.types.is_numeric_dtype(frame[outcome]):
        raise ValueError(f"outcome column {outcome!r} must be numeric, got {frame[outcome].dtype}.")
    g = frame[pilot].to_numpy(dtype=float)
    p = frame[post].to_numpy(dtype=float)
    cells = {(gi, pi): int(((g == gi) & (p == pi)).sum()) for gi in (0, 1) for pi in (0, 1)}
    empty = [k for k, v in cells.items() if v == 0]
    if empty:
        raise ValueError(
            f"the 2x2 table has empty cells (pilot, post) = {empty}; each group needs rows before "
            "and after."
        )
    w = None
    if weights is not None:
        w = frame[weights].to_numpy(dtype=float)
        if not (w > 0).all():
            raise ValueError(f"weights column {weights!r} must be strictly positive.")
    groups, _ = pd.factorize(frame[cluster])
    groups = groups.astype(np.int64)
    n_clusters = int(groups.max()) + 1
    if n_clusters < 2:
        raise ValueError(f"cluster column {cluster!r} has fewer than 2 clusters.")

    exog = np.column_stack([np.ones_like(g), g, p, g * p])
    y = frame[outcome].to_numpy(dtype=float)
    model = sm.OLS(y, exog) if w is None else sm.WLS(y, exog, weights=w)
    # statsmodels' default cluster correction (N-1)/(N-K) x G/(G-1) with K = 4 is fixest's too.
    results = model.fit(
        cov_type="cluster",
        cov_kwds={"groups": groups, "use_correction": True, "df_correction": True},
        use_t=True,
    )
    beta = np.asarray(results.params)
    vcov = np.asarray(results.cov_params())
    df_t = n_clusters - 1
    crit = stats.t.ppf(1 - alpha / 2, df_t)

    rows = []
    for quantity, group, period, contrast in _ROWS:
        c = np.asarray(contrast, float)
        est = float(c @ beta)
        se = float(np.sqrt(c @ vcov @ c))
        if quantity == "mean":
            key = (float(group == "pilot"), float(period == "after"))
            mask = (g == key[0]) & (p == key[1])
        elif quantity == "first_difference":
            mask = g == float(group == "pilot")
        else:
            mask = np.ones_like(g, dtype=bool)
        tstat = est / se if se > 0 else np.nan
        rows.append(
            {
                "quantity": quantity,
                "group": group,
                "period": period,
                "estimate": est,
                "std_error": se,
                "conf_low": est - crit * se,
                "conf_high": est + crit * se,
                "p_value": float(2 * stats.t.sf(abs(tstat), df_t)),
                "n_obs": int(mask.sum()),
                "n_clusters": int(np.unique(groups[mask]).size),
            }
        )
    table = pd.DataFrame(rows)

    did = table.iloc[-1]
    n_treated_clusters = int(np.unique(groups[g == 1]).size)
    notes = (f"{n_missing:,} rows dropped for missing values in {cols}",) if n_missing else ()
    estimate = EffectEstimate(
        outcome=outcome,
        estimand="ATT",
        estimator="did_2x2",
        terms=term_frame(
            ["did"],
            np.array([did["estimate"]]),
            np.array([did["std_error"]]),
            np.array([did["conf_low"]]),
            np.array([did["conf_high"]]),
            np.array([did["p_value"]]),
        ),
        n_obs=len(frame),
        n_clusters=n_clusters,
        n_treated_clusters=n_treated_clusters,
        inference=(
            f"cluster-robust SE (CRV1) by {cluster}, G = {n_clusters}; small-sample factor "
            f"(N-1)/(N-K) x G/(G-1) with K = 4 (fixest and statsmodels agree); t distribution "
            f"with G-1 = {df_t} df"
        ),
        model=results,
        notes=notes,
        diagnostics={"rows_dropped_missing": float(n_missing), "confidence_level": 1.0 - alpha},
    )
    return DidTable(table=table, estimate=estimate)
