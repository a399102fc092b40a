"""Sun & Abraham (2021) interaction-weighted event study for staggered adoption.

A TWFE event study with one dummy per relative period mixes effects of different adoption
cohorts (and of other relative periods) when effects differ across cohorts. Sun & Abraham
instead estimate a saturated regression, one coefficient per cohort x relative period
(reference period excluded), with unit and period fixed effects and a clean control cohort
(never-treated units, or the last-treated cohort before it adopts), then average the cohort
coefficients of each relative period with the cohort shares in that period.

Implementation: fixed effects are absorbed by (weighted) alternating projections, the
interaction coefficients estimated with statsmodels OLS/WLS on the demeaned data, and the
aggregated effects' standard errors obtained by the delta method with the cohort shares held
fixed (as ``fixest::sunab`` / ``aggregate`` do). The cluster-robust covariance follows fixest's
default small-sample convention: ``G/(G-1) * (N-1)/(N-K)`` where K counts the interaction
coefficients plus the fixed effects not nested in the clusters (the unit effects are nested in
unit or commune clusters and not counted; the period effects count ``T``, as pyfixest does). Intervals and p-values use the t
distribution with ``G-1`` degrees of freedom.

Every cohort x relative period cell is estimated (saturation keeps cells outside the reported
window from contaminating the reference period); ``leads``/``lags`` only choose which relative
periods are reported and averaged.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from evaluation.estimators.result import EffectEstimate, term_frame

Control = Literal["never_treated", "last_treated"]


def demean_two_way(
    matrix: np.ndarray,
    unit_codes: np.ndarray,
    time_codes: np.ndarray,
    weights: np.ndarray | None = None,
    tol: float = 1e-13,
    max_iter: int = 10_000,
) -> np.ndarray:
    """Remove unit and period (weighted) means by alternating projections.

    Exact after one sweep in a balanced unweighted panel; iterates to ``tol`` otherwise.
    """
    out = np.array(matrix, dtype=float, copy=True)
    if out.ndim == 1:
        out = out[:, None]
    w = np.ones(len(out)) if weights is None else np.asarray(weights, float)
    unit_w = np.bincount(unit_codes, weights=w)
    time_w = np.bincount(time_codes, weights=w)
    for _ in range(max_iter):
        before = out.copy()
        for codes, totals in ((unit_codes, unit_w), (time_codes, time_w)):
            # bincount per column is far faster than np.add.at on large panels.
            weighted = out * w[:, None]
            for j in range(out.shape[1]):
                means = np.bincount(codes, weights=weighted[:, j], minlength=len(totals)) / totals
                out[:, j] -= means[codes]
        if np.max(np.abs(out - before)) < tol * max(1.0, np.max(np.abs(before))):
            break
    return out


def _prepare(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    cluster: str | None,
    weights: str | None,
) -> pd.DataFrame:
    for argument, name in {
        "outcome": outcome,
        "unit": unit,
        "time": time,
        "first_treated": first_treated,
        "cluster": cluster,
        "weights": weights,
    }.items():
        if name is not None and name not in data.columns:
            raise ValueError(
                f"{argument}={name!r} is not a column of data; pass an existing column name"
            )
    frame = pd.DataFrame(
        {
            "y": pd.to_numeric(data[outcome], errors="coerce").to_numpy(float),
            "id": data[unit].to_numpy(),
            "t": pd.to_numeric(data[time], errors="coerce").to_numpy(float),
            "g": pd.to_numeric(data[first_treated], errors="coerce").to_numpy(float),
            "w": 1.0 if weights is None else pd.to_numeric(data[weights], errors="coerce"),
            "cl": data[cluster if cluster is not None else unit].to_numpy(),
        }
    )
    frame["g"] = frame["g"].fillna(0.0)  # NaN = never treated
    for column, name in (("t", time), ("g", first_treated)):
        values = frame[column].dropna()
        if (np.round(values) != values).any():
            raise ValueError(f"{name!r} must hold integer periods; recode to wave numbers")
    if weights is not None and (frame["w"] < 0).any():
        raise ValueError(f"weights={weights!r} must be non-negative")
    return frame


def sun_abraham(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    cluster: str | None = None,
    weights: str | None = None,
    control: Control = "never_treated",
    leads: int | None = None,
    lags: int | None = None,
    reference: int = -1,
    alpha: float = 0.05,
) -> EffectEstimate:
    """Sun & Abraham interaction-weighted event-study estimates.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel (one row per unit and period; unbalanced allowed) or ballots with a
        commune ``unit`` (fixed effects then absorb commune and wave).
    outcome, unit, time, first_treated : str
        Column names; ``first_treated`` is the first treated period, 0 or NaN if never.
    cluster : str, optional
        Cluster column (default: ``unit``).
    weights : str, optional
        Sampling weights (WLS).
    control : {"never_treated", "last_treated"}
        Control cohort: never-treated units, or the last-adopting cohort (observations from
        its adoption on are dropped; never-treated units, if any, remain controls).
    leads, lags : int, optional
        Report relative periods ``-leads .. lags`` (default: all estimated).
    reference : int
        Omitted relative period (default -1, the period before adoption).
    alpha : float
        Level of the intervals.

    Returns
    -------
    EffectEstimate
        Estimator ``sun_abraham``; terms ``ATT`` (post periods, weighted by cohort x period
        cell sizes, fixest's ``agg = "ATT"``) then ``e-3``, ``e+0`` ...; ``model`` holds the
        statsmodels results of the saturated regression, ``diagnostics`` the cohort shares.
    """
    if control not in ("never_treated", "last_treated"):
        raise ValueError(f"control must be 'never_treated' or 'last_treated', got {control!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    frame = _prepare(data, outcome, unit, time, first_treated, cluster, weights)
    notes: list[str] = []
    complete = frame[["y", "t", "w"]].notna().all(axis=1) & frame["id"].notna()
    complete &= frame["cl"].notna()
    if not complete.all():
        notes.append(f"{int((~complete).sum())} rows dropped for missing values.")
        frame = frame.loc[complete].reset_index(drop=True)
    if (frame.groupby("id")["g"].nunique() > 1).any():
        raise ValueError(
            f"first_treated={first_treated!r} varies within {unit!r}; adoption must be absorbing"
        )
    t_min, t_max = frame["t"].min(), frame["t"].max()
    frame.loc[frame["g"] > t_max, "g"] = 0.0
    always = (frame["g"] > 0) & (frame["g"] <= t_min)
    if always.any():
        notes.append(
            f"{frame.loc[always, 'id'].nunique()} units treated from the first period were "
            "dropped (no pre-period to compare)."
        )
        frame = frame.loc[~always].reset_index(drop=True)
    is_control = frame["g"] == 0
    if control == "last_treated":
        last = frame["g"].max()
        frame = frame.loc[frame["t"] < last].reset_index(drop=True)
        is_control = (frame["g"] == 0) | (frame["g"] == last)
        notes.append(
            f"Control cohort: units adopting in period {last:g} (observed before they adopt)"
            + (" and never-treated units." if (frame["g"] == 0).any() else ".")
        )
    elif not is_control.any():
        raise ValueError(
            "no never-treated units: use control='last_treated' to compare with the last cohort"
        )
    if is_control.all():
        raise ValueError(f"first_treated={first_treated!r}: no treated cohort left to estimate")

    event = frame["t"] - frame["g"]
    cell = (~is_control) & (event != reference)
    labels = pd.Series(
        [f"g{int(g)}:e{int(e)}" for g, e in zip(frame["g"][cell], event[cell], strict=True)],
        index=frame.index[cell],
    )
    cells = (
        pd.DataFrame({"g": frame["g"][cell], "e": event[cell], "w": frame["w"][cell]})
        .groupby(["g", "e"])["w"]
        .sum()
        .rename("size")
        .reset_index()
    )
    cells["name"] = [f"g{int(g)}:e{int(e)}" for g, e in zip(cells["g"], cells["e"], strict=True)]
    dummies = np.zeros((len(frame), len(cells)))
    position = {name: j for j, name in enumerate(cells["name"])}
    dummies[labels.index.to_numpy(), labels.map(position).to_numpy()] = 1.0

    unit_codes = pd.factorize(frame["id"])[0]
    time_codes = pd.factorize(frame["t"])[0]
    cluster_codes = pd.factorize(frame["cl"])[0]
    w = frame["w"].to_numpy(float)
    demeaned = demean_two_way(
        np.column_stack([frame["y"].to_numpy(float), dummies]), unit_codes, time_codes, w
    )
    y_tilde, x_tilde = demeaned[:, 0], demeaned[:, 1:]
    keep = np.abs(x_tilde).max(axis=0) > 1e-10
    if not keep.all():
        dropped = cells.loc[~keep, "name"].tolist()
        notes.append(f"Collinear cells dropped: {', '.join(dropped)}.")
        cells, x_tilde = cells.loc[keep].reset_index(drop=True), x_tilde[:, keep]
    x_frame = pd.DataFrame(x_tilde, columns=cells["name"])
    # hasconst=False and QR skip statsmodels' SVD-based rank checks (the FE absorb the constant).
    model = sm.WLS(y_tilde, x_frame, weights=w, hasconst=False)
    fit = model.fit(method="qr", cov_type="cluster", cov_kwds={"groups": cluster_codes})

    # fixest/pyfixest default small-sample factor: K counts the coefficients and all T period
    # effects; unit effects nested in unit/commune clusters are not counted (statsmodels
    # used N - K_coef).
    n_obs, n_coef = len(frame), x_tilde.shape[1]
    n_clusters = int(cluster_codes.max() + 1)
    nested = (frame.groupby("id")["cl"].nunique() == 1).all()
    k_fixest = n_coef + (time_codes.max() + 1) + (0 if nested else unit_codes.max())
    vcov = fit.cov_params().to_numpy() * (n_obs - n_coef) / (n_obs - k_fixest)

    eseq = np.sort(cells["e"].unique())
    low = -np.inf if leads is None else -leads
    high = np.inf if lags is None else lags
    eseq = eseq[(eseq >= low) & (eseq <= high)]
    beta = fit.params.to_numpy()
    names, rows = [], []
    post = (cells["e"] >= 0) & (cells["e"] <= high)
    if not post.any():
        raise ValueError("no post-adoption relative period is estimated within 'lags'")
    headline = np.where(post, cells["size"], 0.0)
    rows.append(headline / headline.sum())
    names.append("ATT")
    shares: dict[str, float] = {}
    for e in eseq:
        in_e = (cells["e"] == e).to_numpy()
        weight = np.where(in_e, cells["size"], 0.0)
        rows.append(weight / weight.sum())
        names.append(f"e{int(e):+d}")
        for g, s in zip(cells["g"][in_e], weight[in_e] / weight.sum(), strict=True):
            shares[f"share_g{int(g)}_e{int(e)}"] = float(s)
    lincomb = np.vstack(rows)
    estimate = lincomb @ beta
    variance = np.einsum("ij,jk,ik->i", lincomb, vcov, lincomb)
    # a negative variance (a near-singular design, as some placebo draws of page 07's size
    # check are) has no standard error: NaN, not a warning printed onto the page
    std_error = np.sqrt(np.where(variance >= 0, variance, np.nan))
    crit = stats.t.ppf(1 - alpha / 2, n_clusters - 1)
    # a zero standard error (nothing varies in a cell) has no test: NaN, not a warning
    t_abs = np.divide(
        np.abs(estimate), std_error, out=np.full_like(estimate, np.nan), where=std_error > 0
    )
    p_value = 2 * stats.t.sf(t_abs, n_clusters - 1)
    terms = term_frame(
        names,
        estimate,
        std_error,
        estimate - crit * std_error,
        estimate + crit * std_error,
        p_value,
    )
    treated_units = ~is_control.to_numpy()
    cluster_label = cluster if cluster is not None else unit
    return EffectEstimate(
        outcome=outcome,
        estimand="ATT(e)",
        estimator="sun_abraham",
        terms=terms,
        n_obs=int(n_obs),
        n_clusters=n_clusters,
        n_treated_clusters=int(len(np.unique(cluster_codes[treated_units]))),
        inference=(
            f"cluster-robust by {cluster_label} ({n_clusters} clusters, fixest small-sample "
            f"factor), t({n_clusters - 1}) intervals; delta method with cohort shares fixed"
        ),
        model=fit,
        notes=tuple(notes),
        diagnostics={"n_cells": float(len(cells)), **shares},
    )
