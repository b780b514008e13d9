"""Scores, cost and latency as JUnit XML properties (pytest's ``--junitxml``).

pytest writes the ``user_properties`` of a test's teardown report into its ``<properties>``;
the plugin adds these there, next to the record, so they survive pytest-xdist too.
"""

from __future__ import annotations

from typing import Any, Mapping

from pytest_llmops.report.data import call_totals, metric_key


def junit_properties(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``llmops.score.<metric>`` per score (one per sample), thresholds once, then call totals."""
    properties: list[tuple[str, str]] = []
    thresholds: dict[str, Any] = {}
    for score in record.get("scores", ()):
        key = metric_key(score)
        properties.append((f"llmops.score.{key}", f"{score['value']:.6g}"))
        if score.get("threshold") is not None:
            thresholds.setdefault(key, score["threshold"])
    properties += [(f"llmops.threshold.{key}", f"{value:.6g}") for key, value in thresholds.items()]
    calls = record.get("calls", ())
    if calls:
        totals = call_totals(calls)
        properties += [
            ("llmops.calls", str(totals["calls"])),
            ("llmops.cached_calls", str(totals["cached_calls"])),
            ("llmops.tokens_in", str(totals["prompt_tokens"])),
            ("llmops.tokens_out", str(totals["completion_tokens"])),
            ("llmops.cost_usd", f"{totals['cost_usd']:.6g}"),
            ("llmops.latency_s", f"{totals['latency_s']:.6g}"),
        ]
    return properties
