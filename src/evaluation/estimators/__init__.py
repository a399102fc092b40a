"""Effect estimators. Each returns an :class:`~evaluation.estimators.result.EffectEstimate`."""

from evaluation.estimators.result import TIDY_COLUMNS, EffectEstimate

__all__ = ["TIDY_COLUMNS", "EffectEstimate"]
