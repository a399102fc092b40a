"""The one result type every estimator returns.

Modelled on statsmodels results (attributes stay pandas) and pyfixest's ``.tidy()``: a frozen
object holding the estimated terms as a DataFrame, the sample sizes that matter for inference
with few treated communes, the inference used, and the fitted statsmodels model for researchers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaluation.i18n import Language, format_number, format_p_value, t

#: Columns of ``EffectEstimate.tidy()`` and of ``tables/effects.csv``, in order.
TIDY_COLUMNS: list[str] = [
    "outcome",
    "estimand",
    "estimator",
    "term",
    "estimate",
    "std_error",
    "conf_low",
    "conf_high",
    "p_value",
    "n_obs",
    "n_clusters",
    "n_treated_clusters",
    "inference",
]

_TERM_COLUMNS = ["estimate", "std_error", "conf_low", "conf_high", "p_value"]


@dataclass(frozen=True)
class EffectEstimate:
    """An estimated effect of the model on one outcome.

    Parameters
    ----------
    outcome : str
        Name of the outcome column (``satisfaction_index``, ``pct_satisfied`` ...).
    estimand : str
        What is estimated, e.g. ``"ATT"`` or ``"ATT(e)"`` for event-time effects.
    estimator : str
        Short machine name, e.g. ``"twfe_household"``, ``"drdid"``, ``"did_2x2"``.
    terms : pandas.DataFrame
        Indexed by term name, with columns ``estimate, std_error, conf_low, conf_high, p_value``.
    n_obs, n_clusters, n_treated_clusters : int
        Sample sizes after dropping missing values and singletons.
    inference : str
        How standard errors, intervals and p-values were computed (printed beside every table).
    model : object, optional
        The underlying statsmodels results (or other fitted object), for researchers.
    notes : tuple of str
        Facts a reader must know (rows dropped, singletons removed, warnings).
    diagnostics : mapping of str to float
        Named test statistics that belong to the estimate (``pretrend_wald``, ``pretrend_p_value``,
        ``singletons_dropped`` ...).
    """

    outcome: str
    estimand: str
    estimator: str
    terms: pd.DataFrame
    n_obs: int
    n_clusters: int
    n_treated_clusters: int
    inference: str
    model: Any = field(default=None, repr=False, compare=False)
    notes: tuple[str, ...] = ()
    diagnostics: Mapping[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        missing = [c for c in _TERM_COLUMNS if c not in self.terms.columns]
        if missing:
            raise ValueError(f"EffectEstimate.terms lacks columns {missing}")

    @property
    def estimate(self) -> float:
        """The first (headline) term's estimate."""
        return float(self.terms["estimate"].iloc[0])

    @property
    def std_error(self) -> float:
        return float(self.terms["std_error"].iloc[0])

    @property
    def p_value(self) -> float:
        return float(self.terms["p_value"].iloc[0])

    @property
    def conf_int(self) -> tuple[float, float]:
        row = self.terms.iloc[0]
        return float(row["conf_low"]), float(row["conf_high"])

    def tidy(self) -> pd.DataFrame:
        """One row per term with the columns of :data:`TIDY_COLUMNS`."""
        out = self.terms[_TERM_COLUMNS].copy()
        out.insert(0, "term", [str(i) for i in self.terms.index])
        out.insert(0, "estimator", self.estimator)
        out.insert(0, "estimand", self.estimand)
        out.insert(0, "outcome", self.outcome)
        out["n_obs"] = int(self.n_obs)
        out["n_clusters"] = int(self.n_clusters)
        out["n_treated_clusters"] = int(self.n_treated_clusters)
        out["inference"] = (
            self.terms["inference"].astype(str).to_numpy()
            if "inference" in self.terms.columns
            else self.inference
        )
        return out[TIDY_COLUMNS].reset_index(drop=True)

    def summary(self) -> str:
        """A plain-text table with the sample sizes and the inference used."""
        table = self.terms[_TERM_COLUMNS].to_string(float_format=lambda x: f"{x:.4f}")
        lines = [
            f"{self.estimator}: {self.estimand} on {self.outcome}",
            table,
            f"observations: {self.n_obs:,}   clusters: {self.n_clusters}   "
            f"treated clusters: {self.n_treated_clusters}",
            f"inference: {self.inference}",
        ]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def reading(self, language: Language = "vi", outcome_label: str | None = None) -> str:
        """One plain sentence for a reader who does not read regressions."""
        low, high = self.conf_int
        label = outcome_label or self.outcome
        decimals = 3 if abs(self.estimate) < 0.1 else 2
        values = {
            "outcome": label,
            "estimate": format_number(self.estimate, language, decimals),
            "low": format_number(low, language, decimals),
            "high": format_number(high, language, decimals),
            "p": format_p_value(self.p_value, language),
        }
        if np.isnan(self.p_value) or np.isnan(low):
            key = "reading.no_interval"
        elif low > 0 or high < 0:
            key = "reading.clear_increase" if self.estimate > 0 else "reading.clear_decrease"
        else:
            key = "reading.unclear"
        return t(key, language, **values)

    def __repr__(self) -> str:  # pragma: no cover - convenience
        return self.summary()


def term_frame(
    names: list[str],
    estimate: np.ndarray,
    std_error: np.ndarray,
    conf_low: np.ndarray,
    conf_high: np.ndarray,
    p_value: np.ndarray,
) -> pd.DataFrame:
    """Assemble the ``terms`` DataFrame of an :class:`EffectEstimate`."""
    return pd.DataFrame(
        {
            "estimate": np.asarray(estimate, float),
            "std_error": np.asarray(std_error, float),
            "conf_low": np.asarray(conf_low, float),
            "conf_high": np.asarray(conf_high, float),
            "p_value": np.asarray(p_value, float),
        },
        index=pd.Index(names, name="term"),
    )
