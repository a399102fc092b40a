"""The analysis layer: one module per question a page asks.

Layers import one way: config -> data -> measures -> estimators -> inference -> scaling ->
**analysis** -> report -> runner. An analysis takes the prepared data and the params, checks
the requirements it declares, and returns a typed, serialisable result or a
:class:`NotApplicable` whose sentence tells the reader what the data would need. The sample and
weights every analysis uses are defined once, in :mod:`evaluation.analysis.sample`.
"""

from __future__ import annotations

from evaluation.analysis.base import (
    CATALOGUE,
    NotApplicable,
    analysis,
    applies,
    load_result,
    save_result,
    skipped_sections,
)
from evaluation.analysis.facts import DataFacts, data_facts

__all__ = [
    "CATALOGUE",
    "DataFacts",
    "NotApplicable",
    "analysis",
    "applies",
    "data_facts",
    "load_result",
    "save_result",
    "skipped_sections",
]
