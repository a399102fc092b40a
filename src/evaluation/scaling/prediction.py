"""Which communes next: predicted effects and the province's "has the conditions" screen.

The province wants to extend the model to communes "that have the conditions" (đủ điều kiện).
:func:`predict_effects` turns an interaction model (or a plain average effect) into a predicted
effect with its uncertainty for every commune not yet under the model; :func:`check_conditions`
applies explicit, parameterised criteria and names each one a commune fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from evaluation.estimators.heterogeneity import ModeratorFit, commune_effects
from evaluation.estimators.result import EffectEstimate

#: Column a criterion key refers to when not given in ``columns``: ``min_x``/``max_x`` -> ``x``.
_LIST_CRITERIA = {"commune_types": "commune_type", "districts": "district_name"}


def predict_effects(
    model_or_estimate: EffectEstimate | ModeratorFit,
    communes: pd.DataFrame,
    unit: str | None = None,
    households: str | None = None,
    alpha: float = 0.05,
    include_in_model: bool = False,
) -> pd.DataFrame:
    """Predicted effect, standard error and interval for each commune not yet in the model.

    Parameters
    ----------
    model_or_estimate : EffectEstimate or ModeratorFit
        The result of :func:`~evaluation.estimators.heterogeneity.effect_by_moderator` (effect
        varies with the commune's moderator), or any other ``EffectEstimate`` (every commune gets
        its headline effect and interval: the no-heterogeneity prediction).
    communes : pandas.DataFrame
        One row per commune, with the unit column and, for an interaction model, the moderator.
    unit : str, optional
        Commune column; default the fit's commune column, else ``"commune_code"``.
    households : str, optional
        Column of households per commune. When given, adds ``expected_gain`` = effect x
        households (additional satisfied households when the outcome is a share) and its SE.
    alpha : float
        One minus the confidence level (t with G-1 df for an interaction model).
    include_in_model : bool
        Keep the communes that were treated in the estimation sample (default: drop them).

    Returns
    -------
    pandas.DataFrame
        ``unit, [moderator], predicted_effect, std_error, conf_low, conf_high, extrapolated,
        [households, expected_gain, expected_gain_se]``, one row per commune.
    """
    fit = model_or_estimate.model if isinstance(model_or_estimate, EffectEstimate) else None
    if isinstance(model_or_estimate, ModeratorFit):
        fit = model_or_estimate
    if isinstance(fit, ModeratorFit):
        out = commune_effects(fit, communes, unit=unit, alpha=alpha)
        unit = fit.unit if unit is None else unit
    elif isinstance(model_or_estimate, EffectEstimate):
        unit = "commune_code" if unit is None else unit
        if unit not in communes.columns:
            raise ValueError(f"unit={unit!r} is not a column of communes; pass the commune column")
        low, high = model_or_estimate.conf_int
        out = pd.DataFrame(
            {
                unit: communes[unit].to_numpy(),
                "predicted_effect": model_or_estimate.estimate,
                "std_error": model_or_estimate.std_error,
                "conf_low": low,
                "conf_high": high,
                "in_model": False,
                "extrapolated": False,
            }
        )
    else:
        raise ValueError(
            "model_or_estimate must be an EffectEstimate or a ModeratorFit, got "
            f"{type(model_or_estimate).__name__}"
        )
    if households is not None:
        if households not in communes.columns:
            raise ValueError(f"households={households!r} is not a column of communes")
        n = communes[households].to_numpy(float)
        if (n < 0).any():
            raise ValueError(f"households={households!r} has negative values")
        out["households"] = n
        out["expected_gain"] = out["predicted_effect"].to_numpy() * n
        out["expected_gain_se"] = out["std_error"].to_numpy() * n
    if not include_in_model:
        out = out.loc[~out["in_model"]].reset_index(drop=True)
    return out.drop(columns="in_model") if not include_in_model else out


def _criterion_column(key: str, columns: Mapping[str, str]) -> tuple[str, str]:
    """(operation, column) of a criterion key."""
    if key in columns:
        column = columns[key]
    elif key in _LIST_CRITERIA:
        column = _LIST_CRITERIA[key]
    elif key.startswith(("min_", "max_")):
        column = key[4:]
    else:
        raise ValueError(
            f"criterion {key!r} is not understood: use 'min_<column>', 'max_<column>', "
            f"{sorted(_LIST_CRITERIA)} or a '<column>_in' list, or map it with columns={{...}}"
        )
    if key.startswith("min_"):
        return "min", column
    if key.startswith("max_"):
        return "max", column
    return "in", column


def check_conditions(
    communes: pd.DataFrame,
    criteria: Mapping[str, Any],
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Apply each criterion to each commune; name the failed ones.

    Parameters
    ----------
    communes : pandas.DataFrame
        One row per commune.
    criteria : mapping
        From the run parameters, e.g. ``{"min_one_stop_staff_per_1000": 0.8,
        "min_condolence_on_time": 0.7, "commune_types": ["xa", "thi_tran"]}``. ``min_<col>``
        means ``col >= value``, ``max_<col>`` means ``col <= value``; ``commune_types`` and
        ``districts`` (and any key mapped in ``columns`` to a list) mean membership. A missing
        value fails its criterion.
    columns : mapping, optional
        Criterion key -> column name when the column is not the one implied by the key.

    Returns
    -------
    pandas.DataFrame
        Same index as ``communes``: one boolean column per criterion (``True`` = met),
        ``has_conditions`` and ``failed_criteria`` (failed keys joined by ``"; "``, empty if none).
    """
    columns = dict(columns or {})
    out = pd.DataFrame(index=communes.index)
    for key, threshold in criteria.items():
        if key.endswith("_in") and key not in columns:
            op, column = "in", key[:-3]
        else:
            op, column = _criterion_column(key, columns)
        if column not in communes.columns:
            raise ValueError(
                f"criterion {key!r} needs column {column!r}, which communes lacks; add it or map "
                f"the criterion with columns={{{key!r}: '<column>'}}"
            )
        values = communes[column]
        if op == "in":
            if isinstance(threshold, str) or not hasattr(threshold, "__iter__"):
                raise ValueError(f"criterion {key!r} expects a list of allowed values")
            met = values.isin(list(threshold))
        else:
            if not pd.api.types.is_numeric_dtype(values):
                raise ValueError(f"criterion {key!r} needs a numeric column {column!r}")
            met = values >= threshold if op == "min" else values <= threshold
        out[key] = met.fillna(False).astype(bool) & values.notna()
    keys = list(criteria)
    out["has_conditions"] = out[keys].all(axis=1) if keys else True
    failed = ~out[keys].to_numpy(bool) if keys else np.zeros((len(out), 0), bool)
    out["failed_criteria"] = [
        "; ".join(k for k, f in zip(keys, row, strict=True) if f) for row in failed
    ]
    return out


def has_conditions(
    communes: pd.DataFrame,
    criteria: Mapping[str, Any],
    columns: Mapping[str, str] | None = None,
) -> pd.Series:
    """Whether each commune meets every criterion (see :func:`check_conditions`).

    The returned boolean Series (name ``has_conditions``) carries the failed criteria of each
    commune in ``.attrs["failed_criteria"]`` (a dict index -> text); use :func:`check_conditions` for the
    full table.
    """
    table = check_conditions(communes, criteria, columns)
    result = table["has_conditions"].rename("has_conditions")
    # a plain dict: pandas compares attrs when combining frames, which a Series would break
    result.attrs["failed_criteria"] = table["failed_criteria"].to_dict()
    return result
