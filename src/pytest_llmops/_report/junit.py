"""Scores, cost and latency as JUnit XML properties (pytest's ``--junitxml``).

pytest writes the ``user_properties`` of a test's teardown report into its ``<properties>``;
the plugin adds these there, next to the record, so they survive pytest-xdist too.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import Any, Mapping

from pytest_llmops._report.data import call_totals, metric_key


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


#: The property that marks a test whose call phase ended in an infrastructure or set-up error.
ERROR_PROPERTY = "llmops.error"


def errors_as_errors(xml: str) -> str | None:
    """pytest's JUnit XML with each ``<failure>`` of a test marked :data:`ERROR_PROPERTY` turned
    into an ``<error>``, and the suites' counts to match; None when nothing needs changing.

    pytest files every failure of a test's call phase as a ``<failure>``: an infrastructure
    error is no quality failure, and a JUnit consumer must count it as an error.
    """
    root = ElementTree.fromstring(xml)
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    changed = False
    for suite in suites:
        moved = 0
        for case in suite.iter("testcase"):
            marked = any(p.get("name") == ERROR_PROPERTY for p in case.iter("property"))
            failure = case.find("failure")
            if marked and failure is not None:
                failure.tag = "error"
                moved += 1
        if moved:
            changed = True
            suite.set("failures", str(int(suite.get("failures", "0")) - moved))
            suite.set("errors", str(int(suite.get("errors", "0")) + moved))
    if not changed:
        return None
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)
