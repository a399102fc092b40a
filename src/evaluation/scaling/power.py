"""Power and minimum detectable effect of the next phase as a commune-randomised DiD.

Ballot model (satisfaction of household j in commune i, wave t)::

    y_ijt = mu + g_t + u_i + v_it + tau * D_it + e_ijt

with a permanent commune effect ``u_i`` (variance ``between_commune_var``), a commune-wave shock
``v_it`` (``commune_wave_var``) and ballot noise ``e_ijt`` (``residual_var``). The next phase
randomises ``n_treated`` of ``n_treated + n_control`` new communes; ``m = ballots_per_commune *
coverage`` ballots are collected per commune and wave, ``n_pre`` waves before and ``n_post``
after. The DiD compares commune mean changes, so ``u_i`` cancels::

    Var(tau_hat) = (1/G_t + 1/G_c) * (sigma_v^2 + sigma_e^2 / m) * (1/n_pre + 1/n_post)

Written with the usual design effect: total variance ``s2``, intra-commune correlation
``rho = (sigma_u^2 + sigma_v^2) / s2``, ``DEFF = 1 + (m - 1) rho`` and the correlation of a
commune's wave means ``r = sigma_u^2 / (sigma_u^2 + sigma_v^2 + sigma_e^2 / m)``::

    Var(tau_hat) = (1/G_t + 1/G_c) * (s2 / m) * DEFF * (1 - r) * (1/n_pre + 1/n_post)

:func:`design_effect_power` uses that with a two-sided t test on ``G_t + G_c - 2`` degrees of
freedom (power from the noncentral t); :func:`simulate_power` draws the design and applies the
test. As the engineering notes say: the detectable effect is driven by the number of communes,
not by ballots per commune, once ``sigma_e^2 / m`` is small next to ``sigma_v^2``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

Test = Literal["pooled_t", "cluster_robust"]


@dataclass(frozen=True)
class VarianceComponents:
    """Variance components of a ballot outcome (see the module docstring).

    ``commune_wave_var`` is NaN when estimated without waves: then the permanent and the
    wave-to-wave parts of the between-commune variance cannot be told apart.
    """

    between_commune_var: float
    commune_wave_var: float
    residual_var: float
    ballots_per_commune_wave: float
    n_communes: int
    n_waves: int
    method: str

    @property
    def total_var(self) -> float:
        return self.between_commune_var + np.nan_to_num(self.commune_wave_var) + self.residual_var

    @property
    def icc(self) -> float:
        """Intra-commune correlation of two ballots of the same commune and wave."""
        return (self.between_commune_var + np.nan_to_num(self.commune_wave_var)) / self.total_var


def _one_way(values: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """One-way random-effects ANOVA (unbalanced): between-group and within-group variance."""
    codes, n_i = np.unique(groups, return_inverse=False, return_counts=True)
    _, inverse = np.unique(groups, return_inverse=True)
    k, n = codes.size, values.size
    if k < 2 or n <= k:
        raise ValueError(
            f"a variance split needs at least two groups and more rows than groups; got {k} "
            f"group(s) and {n} row(s)"
        )
    means = np.bincount(inverse, weights=values) / n_i
    grand = values.mean()
    ssw = float(np.sum((values - means[inverse]) ** 2))
    ssb = float(np.sum(n_i * (means - grand) ** 2))
    msw = ssw / (n - k)
    msb = ssb / (k - 1)
    n0 = (n - np.sum(n_i**2) / n) / (k - 1)
    return float(max((msb - msw) / n0, 0.0)), float(msw)


def estimate_variance_components(
    ballots: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str | None = None,
    method: Literal["anova", "mixedlm"] = "anova",
) -> VarianceComponents:
    """Estimate commune, commune-wave and ballot variance from ballot-level data.

    Parameters
    ----------
    ballots : pandas.DataFrame
        One row per ballot.
    outcome, unit : str
        Outcome and commune columns.
    time : str, optional
        Wave column. Wave means are removed first (the DiD's wave effects absorb them). Without
        it only the one-way split commune / ballot is possible (``commune_wave_var`` NaN).
    method : {"anova", "mixedlm"}
        ``anova``: method-of-moments (one-way ANOVA on commune-wave cells, then the within-
        commune variation of cell means net of ballot noise gives the commune-wave part).
        ``mixedlm``: REML with statsmodels MixedLM (commune random intercept, commune-wave
        variance component); slow on large data, used to cross-check.
    """
    for argument, column in {"outcome": outcome, "unit": unit, "time": time}.items():
        if column is not None and column not in ballots.columns:
            raise ValueError(f"{argument}={column!r} is not a column of ballots")
    cols = [outcome, unit] + ([time] if time else [])
    frame = ballots[cols].dropna()
    if frame[unit].nunique() < 2:
        raise ValueError(f"unit={unit!r}: need ballots from at least two communes")
    y = frame[outcome].to_numpy(float)
    if time:
        y = y - frame.groupby(time)[outcome].transform("mean").to_numpy(float)
        cells = frame[unit].astype(str) + "|" + frame[time].astype(str)
        m_cells = frame.groupby([unit, time]).size()
    else:
        cells = frame[unit]
        m_cells = frame.groupby(unit).size()
    n_waves = int(frame[time].nunique()) if time else 1
    n_communes = int(frame[unit].nunique())
    if method == "mixedlm":
        import statsmodels.formula.api as smf

        data = pd.DataFrame({"y": y, "g": frame[unit].to_numpy()})
        kwargs = {}
        if time:
            data["w"] = frame[time].to_numpy()
            kwargs["vc_formula"] = {"w": "0 + C(w)"}
        with warnings.catch_warnings():
            # boundary and convergence chatter; the components are checked against ANOVA in tests
            warnings.simplefilter("ignore")
            fit = smf.mixedlm("y ~ 1", data, groups="g", re_formula="1", **kwargs).fit(reml=True)
        between = float(fit.cov_re.iloc[0, 0])
        wave = float(fit.vcomp[0]) if time else np.nan
        return VarianceComponents(
            between, wave, float(fit.scale), float(m_cells.mean()), n_communes, n_waves, "mixedlm"
        )
    if method != "anova":
        raise ValueError(f"method must be 'anova' or 'mixedlm', got {method!r}")
    cell_var, residual = _one_way(y, cells.to_numpy())
    if not time:
        return VarianceComponents(
            cell_var, np.nan, residual, float(m_cells.mean()), n_communes, 1, "anova"
        )
    # within-commune spread of (wave-demeaned) cell means = sigma_v^2 + sigma_e^2 / m_it
    cell = pd.DataFrame({"g": frame[unit].to_numpy(), "c": cells.to_numpy(), "y": y})
    means = cell.groupby(["g", "c"])["y"].agg(["mean", "size"]).reset_index()
    if len(means) <= means["g"].nunique():
        raise ValueError(
            f"time={time!r}: every commune has ballots in one wave only; the commune-wave "
            "variance needs communes with ballots in at least two waves"
        )
    _, within_cells = _one_way(means["mean"].to_numpy(), means["g"].to_numpy())
    wave = max(within_cells - residual * float(np.mean(1.0 / means["size"])), 0.0)
    between = max(cell_var - wave, 0.0)
    return VarianceComponents(
        between, wave, residual, float(m_cells.mean()), n_communes, n_waves, "anova"
    )


def panel_variance_components(
    panel: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    weights: str | None = None,
) -> VarianceComponents:
    """Variance components from a unit x period panel (one value per unit and period).

    With one measurement per unit and period, the unit-period shock and the measurement noise
    cannot be told apart: both are the within-unit variance of the period-demeaned outcome,
    stored as ``commune_wave_var`` with ``residual_var = 0`` and one "ballot" per cell. The
    design formulas then give ``Var(tau_hat) = (1/G_t + 1/G_c) * sigma_w^2 * (1/n_pre +
    1/n_post)``: the next phase measured as the panel is measured now (same number of
    respondents behind each unit-period value).

    Parameters
    ----------
    panel : pandas.DataFrame
        One row per unit and period (rows of treated unit-periods left out by the caller).
    outcome, unit, time : str
        Outcome, unit and period columns.
    weights : str, optional
        Not used for the split (kept for a common signature); the panel's values are taken as
        they are.
    """
    del weights
    for argument, column in {"outcome": outcome, "unit": unit, "time": time}.items():
        if column not in panel.columns:
            raise ValueError(f"{argument}={column!r} is not a column of panel")
    frame = panel[[outcome, unit, time]].dropna()
    if frame[[unit, time]].duplicated().any():
        raise ValueError(f"panel has several rows per {unit!r} and {time!r}; pass one per cell")
    y = frame[outcome].to_numpy(float) - frame.groupby(time)[outcome].transform("mean").to_numpy(
        float
    )
    between, within = _one_way(y, frame[unit].astype(str).to_numpy())
    return VarianceComponents(
        between_commune_var=between,
        commune_wave_var=within,
        residual_var=0.0,
        ballots_per_commune_wave=1.0,
        n_communes=int(frame[unit].nunique()),
        n_waves=int(frame[time].nunique()),
        method="anova_panel",
    )


def smallest_design(curves: pd.DataFrame, target_power: float = 0.8) -> int | None:
    """Fewest new treated units reaching ``target_power`` with the most ballots per unit.

    ``curves`` is :func:`power_curves`; None when no point of the grid reaches the target.
    """
    best = curves[curves["ballots_per_commune"] == curves["ballots_per_commune"].max()]
    reached = best[best["power"] >= target_power]
    return int(reached["n_treated"].min()) if len(reached) else None


def _check_design(
    components: VarianceComponents,
    n_treated: int,
    n_control: int,
    ballots_per_commune: float,
    coverage: float,
    n_pre: int,
    n_post: int,
    alpha: float,
) -> float:
    if np.isnan(components.commune_wave_var):
        raise ValueError(
            "components.commune_wave_var is NaN: estimate the components with time=<wave column>"
            " or set it with dataclasses.replace(components, commune_wave_var=...)"
        )
    if n_treated < 1 or n_control < 1 or n_treated + n_control < 3:
        raise ValueError(
            f"need n_treated >= 1, n_control >= 1 and 3 communes in all; got {n_treated}, "
            f"{n_control}"
        )
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be a share in (0, 1], got {coverage!r}")
    if ballots_per_commune * coverage < 1:
        raise ValueError("ballots_per_commune * coverage must be at least one ballot")
    if n_pre < 1 or n_post < 1:
        raise ValueError("n_pre and n_post must be at least 1 wave")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(ballots_per_commune * coverage)


def did_standard_error(
    components: VarianceComponents,
    n_treated: int,
    n_control: int,
    ballots_per_commune: float,
    coverage: float = 1.0,
    n_pre: int = 1,
    n_post: int = 1,
) -> float:
    """Standard error of the commune-randomised DiD, through the design effect."""
    m = _check_design(
        components, n_treated, n_control, ballots_per_commune, coverage, n_pre, n_post, 0.05
    )
    s2 = components.total_var
    rho = components.icc
    deff = 1 + (m - 1) * rho
    cluster_mean_var = s2 / m * deff
    r = components.between_commune_var / cluster_mean_var
    var = (1 / n_treated + 1 / n_control) * cluster_mean_var * (1 - r) * (1 / n_pre + 1 / n_post)
    return float(np.sqrt(var))


def design_effect_power(
    components: VarianceComponents,
    n_treated: int,
    n_control: int,
    ballots_per_commune: float,
    effect: float,
    coverage: float = 1.0,
    n_pre: int = 1,
    n_post: int = 1,
    alpha: float = 0.05,
) -> float:
    """Closed-form power of the two-sided t test (df = communes - 2, noncentral t)."""
    se = did_standard_error(
        components, n_treated, n_control, ballots_per_commune, coverage, n_pre, n_post
    )
    df = n_treated + n_control - 2
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = effect / se
    power = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
    if not np.isfinite(power):
        # scipy's noncentral t returns NaN far in the tail: there the power is 1 (or alpha at 0).
        power = 1.0 if abs(nc) > crit else alpha
    return float(min(max(power, 0.0), 1.0))


def minimum_detectable_effect(
    components: VarianceComponents,
    n_treated: int,
    n_control: int,
    ballots_per_commune: float,
    power: float = 0.8,
    coverage: float = 1.0,
    n_pre: int = 1,
    n_post: int = 1,
    alpha: float = 0.05,
) -> float:
    """Closed-form MDE: ``(t_{1-alpha/2} + t_{power}) * SE`` with df = communes - 2."""
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    se = did_standard_error(
        components, n_treated, n_control, ballots_per_commune, coverage, n_pre, n_post
    )
    df = n_treated + n_control - 2
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se)


@dataclass(frozen=True)
class SimulatedPower:
    """Result of :func:`simulate_power`."""

    power: float
    mc_std_error: float
    n_sims: int
    mean_estimate: float
    sd_estimate: float
    test: str
    seed: int


def simulate_power(
    components: VarianceComponents,
    n_treated: int,
    n_control: int,
    ballots_per_commune: float,
    effect: float,
    coverage: float = 1.0,
    n_pre: int = 1,
    n_post: int = 1,
    alpha: float = 0.05,
    n_sims: int = 2000,
    seed: int = 0,
    test: Test = "pooled_t",
) -> SimulatedPower:
    """Monte Carlo power of the commune-randomised DiD.

    Each draw simulates commune-wave means ``u_i + v_it + tau D_it + mean of m_it ballot errors``
    where, with ``coverage < 1``, ``m_it ~ Binomial(ballots_per_commune, coverage)`` (a cell with
    no ballot is left out of its commune's mean). Tests on the commune mean changes:

    ``pooled_t``
        two-sample t test with pooled variance, G - 2 df (what the closed form assumes);
    ``cluster_robust``
        the DiD regression with CRV1 standard errors clustered by commune and t with G - 1 df
        (what the package's estimators report).
    """
    m = _check_design(
        components, n_treated, n_control, ballots_per_commune, coverage, n_pre, n_post, alpha
    )
    del m
    if n_sims < 10:
        raise ValueError(f"n_sims must be at least 10, got {n_sims}")
    if test not in ("pooled_t", "cluster_robust"):
        raise ValueError(f"test must be 'pooled_t' or 'cluster_robust', got {test!r}")
    rng = np.random.default_rng(seed)
    g = n_treated + n_control
    waves = n_pre + n_post
    treated = np.arange(g) < n_treated
    u = rng.normal(0, np.sqrt(components.between_commune_var), (n_sims, g, 1))
    v = rng.normal(0, np.sqrt(components.commune_wave_var), (n_sims, g, waves))
    if coverage < 1:
        counts = rng.binomial(int(round(ballots_per_commune)), coverage, (n_sims, g, waves))
    else:
        counts = np.full((n_sims, g, waves), float(ballots_per_commune))
    with np.errstate(divide="ignore", invalid="ignore"):
        noise = rng.standard_normal((n_sims, g, waves)) * np.sqrt(components.residual_var / counts)
    y = u + v + noise
    y[:, treated, n_pre:] += effect
    y = np.where(counts > 0, y, np.nan)
    with warnings.catch_warnings():
        # a commune with no ballot in every wave before (or after) gives NaN, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        change = np.nanmean(y[:, :, n_pre:], axis=2) - np.nanmean(y[:, :, :n_pre], axis=2)
    # a commune with no ballot before or after drops out of that draw
    ok = ~np.isnan(change)
    t_ok, c_ok = ok[:, treated], ok[:, ~treated]
    nt, nc = t_ok.sum(1), c_ok.sum(1)
    dt, dc = change[:, treated], change[:, ~treated]
    mt = np.nansum(dt, 1) / nt
    mc = np.nansum(dc, 1) / nc
    est = mt - mc
    sst = np.nansum((dt - mt[:, None]) ** 2, 1)
    ssc = np.nansum((dc - mc[:, None]) ** 2, 1)
    n_all = nt + nc
    if test == "pooled_t":
        se = np.sqrt((sst + ssc) / (n_all - 2) * (1 / nt + 1 / nc))
        df = n_all - 2
    else:
        # CRV1 with each commune a cluster: HC0 x G/(G-1) x (N-1)/(N-K), N = G, K = 2
        se = np.sqrt((sst / nt**2 + ssc / nc**2) * n_all / (n_all - 2))
        df = n_all - 1
    reject = np.abs(est / se) > stats.t.ppf(1 - alpha / 2, df)
    power = float(reject.mean())
    return SimulatedPower(
        power=power,
        mc_std_error=float(np.sqrt(power * (1 - power) / n_sims)),
        n_sims=int(n_sims),
        mean_estimate=float(est.mean()),
        sd_estimate=float(est.std(ddof=1)),
        test=test,
        seed=int(seed),
    )


def power_curves(
    components: VarianceComponents,
    n_treated_grid: list[int] | np.ndarray,
    ballots_grid: list[float] | np.ndarray,
    effect: float,
    control_ratio: float = 1.0,
    coverage: float = 1.0,
    n_pre: int = 1,
    n_post: int = 1,
    alpha: float = 0.05,
    target_power: float = 0.8,
    n_sims: int = 0,
    seed: int = 0,
    test: Test = "pooled_t",
) -> pd.DataFrame:
    """Power and MDE over the number of new treated communes and ballots per commune.

    ``n_control = round(control_ratio * n_treated)``. With ``n_sims > 0`` simulated power (and
    its Monte Carlo SE) is added beside the closed form; each grid point uses its own seed
    ``seed + k`` so the curves are reproducible.

    Returns
    -------
    pandas.DataFrame
        ``n_treated, n_control, ballots_per_commune, effect, power, mde, [power_simulated,
        power_mc_se]``, one row per grid point.
    """
    rows = []
    k = 0
    for n_t in n_treated_grid:
        n_c = max(int(round(control_ratio * n_t)), 1)
        for m in ballots_grid:
            row = {
                "n_treated": int(n_t),
                "n_control": n_c,
                "ballots_per_commune": float(m),
                "effect": float(effect),
                "power": design_effect_power(
                    components, int(n_t), n_c, m, effect, coverage, n_pre, n_post, alpha
                ),
                "mde": minimum_detectable_effect(
                    components, int(n_t), n_c, m, target_power, coverage, n_pre, n_post, alpha
                ),
            }
            if n_sims > 0:
                sim = simulate_power(
                    components,
                    int(n_t),
                    n_c,
                    m,
                    effect,
                    coverage,
                    n_pre,
                    n_post,
                    alpha,
                    n_sims,
                    seed + k,
                    test,
                )
                row["power_simulated"] = sim.power
                row["power_mc_se"] = sim.mc_std_error
            rows.append(row)
            k += 1
    out = pd.DataFrame(rows)
    # design_effect_power maps scipy's NaN far in the tail to 1 (or alpha); keep that promise
    # for every point of the grid, so no NaN reaches a table or a figure.
    saturated = out["power"].isna()
    out.loc[saturated, "power"] = np.where(out.loc[saturated, "effect"].abs() > 0, 1.0, alpha)
    return out
