"""What one more satisfied household costs: cost-effectiveness of extending the model.

Conventions (state them beside every table):

- Costs are per commune in VND: a set-up cost paid at the start (year 0) and a running cost paid
  at the end of each year ``1 .. horizon_years``; both discounted at ``discount_rate`` a year.
  Present-value cost ``PV = setup + annual * A`` with the annuity factor
  ``A = sum_{t=1}^{H} (1 + r)^-t`` (``A = H`` when ``r = 0``).
- The effect on the share satisfied (``effect_pct_satisfied``, a share: 0.08 = 8 points) times
  the commune's households gives the additional satisfied households, taken to hold in every year
  of the horizon once the model runs.
- ``vnd_per_satisfied_household = PV / (effect * households)``: the cost, over the horizon, of
  each household that becomes satisfied. ``vnd_per_satisfied_household_year`` divides instead by
  the discounted household-years ``effect * households * A``.
- ``vnd_per_tenth_point = PV / (effect_mean_score / 0.1)``: the cost of raising one commune's
  mean score (1-5 scale) by 0.1 point over the horizon; ``vnd_per_tenth_point_household`` divides
  that by the commune's households.
- A non-positive effect buys nothing: the ratios are NaN and ``gain_positive`` is False.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

#: The score gain the "per 0.1 point" ratio refers to.
SCORE_STEP = 0.1


def annuity_factor(horizon_years: int, discount_rate: float) -> float:
    """Present value of 1 VND paid at the end of each year ``1 .. horizon_years``."""
    if int(horizon_years) != horizon_years or horizon_years < 1:
        raise ValueError(f"horizon_years must be a positive whole number, got {horizon_years!r}")
    if not -1 < discount_rate < 1:
        raise ValueError(
            f"discount_rate must be a yearly rate such as 0.05 (5%), got {discount_rate!r}"
        )
    years = np.arange(1, int(horizon_years) + 1)
    return float(np.sum((1.0 + discount_rate) ** -years))


def present_value_cost(
    setup_cost: float | np.ndarray | pd.Series,
    annual_cost: float | np.ndarray | pd.Series,
    horizon_years: int,
    discount_rate: float,
) -> float | np.ndarray | pd.Series:
    """Discounted cost per commune: ``setup + annual * annuity_factor`` (arrays broadcast)."""
    for name, value in (("setup_cost", setup_cost), ("annual_cost", annual_cost)):
        if np.any(np.asarray(value, float) < 0):
            raise ValueError(f"{name} must be non-negative VND per commune")
    return setup_cost + annual_cost * annuity_factor(horizon_years, discount_rate)


@dataclass(frozen=True)
class CostEffectiveness:
    """Cost-effectiveness of the model in one (typical) commune; see the module docstring."""

    setup_cost: float
    annual_cost: float
    households: float
    effect_pct_satisfied: float
    effect_mean_score: float
    horizon_years: int
    discount_rate: float
    annuity_factor: float
    pv_cost: float
    additional_satisfied_households: float
    satisfied_household_years: float
    vnd_per_satisfied_household: float
    vnd_per_satisfied_household_year: float
    vnd_per_tenth_point: float
    vnd_per_tenth_point_household: float
    gain_positive: bool

    def to_frame(self) -> pd.DataFrame:
        """Tidy two-column frame ``metric, value``."""
        items = asdict(self)
        return pd.DataFrame({"metric": list(items), "value": [float(v) for v in items.values()]})


def _ratios(
    pv: np.ndarray,
    households: np.ndarray,
    effect_pct: np.ndarray,
    effect_score: np.ndarray,
    a: float,
) -> dict[str, np.ndarray]:
    gain = effect_pct * households
    with np.errstate(divide="ignore", invalid="ignore"):
        per_household = np.where(gain > 0, pv / gain, np.nan)
        per_household_year = np.where(gain > 0, pv / (gain * a), np.nan)
        per_tenth = np.where(effect_score > 0, pv / (effect_score / SCORE_STEP), np.nan)
        per_tenth_household = np.where(households > 0, per_tenth / households, np.nan)
    return {
        "pv_cost": pv,
        "additional_satisfied_households": gain,
        "satisfied_household_years": gain * a,
        "vnd_per_satisfied_household": per_household,
        "vnd_per_satisfied_household_year": per_household_year,
        "vnd_per_tenth_point": per_tenth,
        "vnd_per_tenth_point_household": per_tenth_household,
        "gain_positive": gain > 0,
    }


def _check_households(households: float) -> None:
    if not households > 0:
        raise ValueError(f"households must be a positive count per commune, got {households!r}")


def cost_effectiveness(
    setup_cost: float,
    annual_cost: float,
    households: float,
    effect_pct_satisfied: float,
    effect_mean_score: float,
    horizon_years: int = 3,
    discount_rate: float = 0.05,
) -> CostEffectiveness:
    """Cost per additional satisfied household and per 0.1-point gain in one commune.

    Parameters
    ----------
    setup_cost, annual_cost : float
        VND per commune: paid once at the start, and at the end of each year.
    households : float
        Households in the commune.
    effect_pct_satisfied : float
        Effect on the share of satisfied households, as a share (0.08 = 8 percentage points).
    effect_mean_score : float
        Effect on the mean satisfaction score (points on the 1-5 scale).
    horizon_years : int
        Years the model runs (and its effect lasts).
    discount_rate : float
        Yearly discount rate (0.05 = 5%).
    """
    _check_households(households)
    if abs(effect_pct_satisfied) > 1:
        raise ValueError(
            "effect_pct_satisfied must be a share between -1 and 1 (0.08 = 8 points), got "
            f"{effect_pct_satisfied!r}"
        )
    a = annuity_factor(horizon_years, discount_rate)
    pv = float(present_value_cost(setup_cost, annual_cost, horizon_years, discount_rate))
    r = _ratios(
        np.asarray(pv),
        np.asarray(float(households)),
        np.asarray(float(effect_pct_satisfied)),
        np.asarray(float(effect_mean_score)),
        a,
    )
    return CostEffectiveness(
        setup_cost=float(setup_cost),
        annual_cost=float(annual_cost),
        households=float(households),
        effect_pct_satisfied=float(effect_pct_satisfied),
        effect_mean_score=float(effect_mean_score),
        horizon_years=int(horizon_years),
        discount_rate=float(discount_rate),
        annuity_factor=a,
        **{k: (bool(v) if k == "gain_positive" else float(v)) for k, v in r.items()},
    )


def sensitivity_grid(
    setup_cost: float,
    annual_cost: float,
    households: float,
    effect_pct_satisfied: float,
    effect_mean_score: float,
    horizon_years: int = 3,
    discount_rate: float = 0.05,
    cost_multipliers: Sequence[float] = (0.75, 1.0, 1.25, 1.5, 2.0),
    effect_multipliers: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.25),
) -> pd.DataFrame:
    """Cost-effectiveness over a grid of unit-cost and effect-size multipliers.

    Costs (set-up and running) are multiplied by each cost multiplier; both effects by each
    effect multiplier (e.g. the ratio of an interval bound to the estimate).

    Returns
    -------
    pandas.DataFrame
        One row per (cost_multiplier, effect_multiplier): the multipliers, ``pv_cost``,
        ``additional_satisfied_households``, ``satisfied_household_years`` and the four
        ``vnd_per_*`` ratios, ``gain_positive``.
    """
    _check_households(households)
    costs = np.asarray(cost_multipliers, float)
    effects = np.asarray(effect_multipliers, float)
    if costs.size == 0 or effects.size == 0 or (costs < 0).any():
        raise ValueError(
            "cost_multipliers and effect_multipliers must be non-empty; cost multipliers >= 0"
        )
    a = annuity_factor(horizon_years, discount_rate)
    cm, em = (g.ravel() for g in np.meshgrid(costs, effects, indexing="ij"))
    pv = cm * float(present_value_cost(setup_cost, annual_cost, horizon_years, discount_rate))
    ratios = _ratios(
        pv,
        np.full(cm.size, float(households)),
        em * effect_pct_satisfied,
        em * effect_mean_score,
        a,
    )
    out = pd.DataFrame({"cost_multiplier": cm, "effect_multiplier": em, **ratios})
    out["horizon_years"] = int(horizon_years)
    out["discount_rate"] = float(discount_rate)
    return out


def unit_costs(
    costs: pd.DataFrame,
    unit: str = "commune_code",
    setup_multiplier: float = 1.0,
    running_multiplier: float = 1.0,
    horizon_years: int = 3,
    discount_rate: float = 0.05,
) -> pd.DataFrame:
    """Set-up and yearly cost per unit (sum of its cost items, times the multipliers).

    Parameters
    ----------
    costs : pandas.DataFrame
        Cost items: ``unit, setup_vnd, yearly_vnd`` (several rows per unit allowed).
    unit : str
        Unit column.
    setup_multiplier, running_multiplier : float
        Scale the set-up and the yearly costs (sensitivity of the budget).
    horizon_years, discount_rate :
        As in :func:`present_value_cost`.

    Returns
    -------
    pandas.DataFrame
        ``unit, setup_vnd, yearly_vnd, pv_cost_vnd, nominal_cost_vnd``; ``unit`` as text.
    """
    missing = [c for c in (unit, "setup_vnd", "yearly_vnd") if c not in costs.columns]
    if missing:
        raise ValueError(f"costs lacks columns {missing}")
    if setup_multiplier <= 0 or running_multiplier <= 0:
        raise ValueError("cost multipliers must be positive")
    frame = costs.assign(**{unit: costs[unit].astype(str)})
    total = frame.groupby(unit)[["setup_vnd", "yearly_vnd"]].sum().astype(float)
    total["setup_vnd"] *= setup_multiplier
    total["yearly_vnd"] *= running_multiplier
    total["pv_cost_vnd"] = present_value_cost(
        total["setup_vnd"], total["yearly_vnd"], horizon_years, discount_rate
    )
    total["nominal_cost_vnd"] = total["setup_vnd"] + total["yearly_vnd"] * horizon_years
    return total.reset_index()


def cost_effectiveness_table(
    candidates: pd.DataFrame,
    costs: pd.DataFrame,
    share_effect: str,
    score_effect: str,
    households: str = "households",
    unit: str = "commune_code",
    horizon_years: int = 3,
    discount_rate: float = 0.05,
) -> pd.DataFrame:
    """:func:`cost_effectiveness` for every candidate with known costs and households.

    Parameters
    ----------
    candidates : pandas.DataFrame
        One row per unit: ``unit``, ``households``, the effect on the share satisfied
        (``share_effect``, a share) and on the mean score (``score_effect``); other columns kept.
    costs : pandas.DataFrame
        :func:`unit_costs` (``unit, setup_vnd, yearly_vnd``).

    Returns
    -------
    pandas.DataFrame
        The candidates' columns, ``setup_vnd, yearly_vnd``, and the ratios of
        :class:`CostEffectiveness` (``pv_cost, additional_satisfied_households, ...``), one row
        per candidate that has costs, households > 0 and both effects.
    """
    for column in (unit, households, share_effect, score_effect):
        if column not in candidates.columns:
            raise ValueError(f"candidates lacks column {column!r}")
    merged = candidates.assign(**{unit: candidates[unit].astype(str)}).merge(
        costs[[unit, "setup_vnd", "yearly_vnd"]].assign(**{unit: costs[unit].astype(str)}),
        on=unit,
        how="inner",
    )
    merged = merged.dropna(subset=[households, share_effect, score_effect])
    merged = merged[merged[households] > 0].reset_index(drop=True)
    if (merged[share_effect].abs() > 1).any():
        raise ValueError(f"{share_effect!r} must be a share between -1 and 1")
    a = annuity_factor(horizon_years, discount_rate)
    pv = np.asarray(
        present_value_cost(
            merged["setup_vnd"].to_numpy(float),
            merged["yearly_vnd"].to_numpy(float),
            horizon_years,
            discount_rate,
        ),
        float,
    )
    ratios = _ratios(
        pv,
        merged[households].to_numpy(float),
        merged[share_effect].to_numpy(float),
        merged[score_effect].to_numpy(float),
        a,
    )
    for name, values in ratios.items():
        merged[name] = values
    return merged
