"""Golden-output metrics: descriptors, the registry, and batch scoring.

Importing this package loads no scoring library; each metric imports its own on first use.
"""

from __future__ import annotations

from pytest_llmops._grounding import Chunk, Grounding
from pytest_llmops.metrics._base import REQUIRED, Measurement, Metric, MetricError
from pytest_llmops.metrics._registry import MetricCheck, MetricRegistry, score_many

__all__ = [
    "REQUIRED",
    "Chunk",
    "Grounding",
    "Measurement",
    "Metric",
    "MetricCheck",
    "MetricError",
    "MetricRegistry",
    "score_many",
]
