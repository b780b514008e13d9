"""Scores, cost and latency in pytest's JUnit XML (``--junitxml``), valid for its family.

pytest writes the ``user_properties`` of a test's teardown report into its ``<properties>``;
the plugin adds these there, next to the record, so they survive pytest-xdist too. That is
where ``junit_family = xunit1`` keeps them. The default family, xunit2, allows properties on
the ``<testsuite>`` only: once pytest has written the file, :func:`finish_junit` moves them
there, each named ``<classname>.<name>::<property>`` after its testcase.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from pytest_llmops._report.data import call_totals, metric_key
from pytest_llmops._report.text import visible

PREFIX = "llmops."


def junit_properties(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``llmops.score.<metric>`` per score, thresholds once, then call totals; no name twice:
    the second score of a metric is ``llmops.score.<metric>#2``, and so on."""
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
    return [(visible(name), value) for name, value in _numbered(properties)]


def _numbered(properties: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``properties`` with each repeated name numbered from its second occurrence on."""
    seen: Counter[str] = Counter()
    numbered = []
    for name, value in properties:
        seen[name] += 1
        numbered.append((name if seen[name] == 1 else f"{name}#{seen[name]}", value))
    return numbered


#: The property that marks a test whose call phase ended in an infrastructure or set-up error.
ERROR_PROPERTY = "llmops.error"


#: The property that labels a flaky test, with its reasons (``samples,rerun``).
FLAKY_PROPERTY = "llmops.flaky"


def finish_junit(
    xml: str, family: str, flaky: Mapping[str, Sequence[str]] | None = None, prefix: str | None = None
) -> str | None:
    """pytest's JUnit XML with the plugin's part done; None when nothing needs changing.

    Each ``<failure>`` of a test marked :data:`ERROR_PROPERTY` becomes an ``<error>`` (pytest
    files every failure of a call phase as a failure; an infrastructure error is none), each
    test of ``flaky`` (node id -> reasons, known once the run is over) gains
    :data:`FLAKY_PROPERTY`, and under xunit2 the plugin's testcase properties move to their
    testsuite. ``prefix``: the run's ``junit_prefix``.
    """
    root = ElementTree.fromstring(xml)
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    labels = {_testcase(nodeid, prefix): ",".join(reasons) for nodeid, reasons in (flaky or {}).items()}
    changed = False
    for suite in suites:
        changed |= _errors_as_errors(suite)
        changed |= _label_flaky(suite, labels)
        if family == "xunit2":
            changed |= _properties_to_suite(suite)
    if not changed:
        return None
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)


def _errors_as_errors(suite: ElementTree.Element) -> bool:
    """Turn the marked tests' failures into errors, and the suite's counts to match."""
    moved = 0
    for case in suite.iter("testcase"):
        marked = any(p.get("name") == ERROR_PROPERTY for p in case.iter("property"))
        failure = case.find("failure")
        if marked and failure is not None:
            failure.tag = "error"
            moved += 1
    if moved:
        suite.set("failures", str(int(suite.get("failures", "0")) - moved))
        suite.set("errors", str(int(suite.get("errors", "0")) + moved))
    return bool(moved)


def _testcase(nodeid: str, prefix: str | None) -> tuple[str, str]:
    """The ``classname`` and ``name`` pytest's junitxml gives the test ``nodeid``."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = names[0].replace("/", ".").removesuffix(".py")
    names[-1] += bracket + params
    classname = ".".join(names[:-1])
    return (f"{prefix}.{classname}" if prefix else classname), names[-1]


def _label_flaky(suite: ElementTree.Element, labels: Mapping[tuple[str, str], str]) -> bool:
    """Give each flaky testcase its :data:`FLAKY_PROPERTY`."""
    labelled = False
    for case in suite.iter("testcase"):
        label = labels.get((case.get("classname", ""), case.get("name", "")))
        if label is None:
            continue
        properties = case.find("properties")
        if properties is None:
            properties = ElementTree.Element("properties")
            case.insert(0, properties)
        ElementTree.SubElement(properties, "property", name=FLAKY_PROPERTY, value=visible(label))
        labelled = True
    return labelled


def _properties_to_suite(suite: ElementTree.Element) -> bool:
    """Move the plugin's properties of each testcase to the suite's ``<properties>``, named
    after their testcase; a testcase left with no property loses its ``<properties>``."""
    moved = []
    for case in suite.findall("testcase"):
        test = ".".join(part for part in (case.get("classname"), case.get("name")) if part)
        for properties in case.findall("properties"):
            for prop in properties.findall("property"):
                if prop.get("name", "").startswith(PREFIX):
                    properties.remove(prop)
                    prop.set("name", f"{test}::{prop.get('name')}")
                    moved.append(prop)
            if not len(properties):
                case.remove(properties)
    if not moved:
        return False
    target = suite.find("properties")
    if target is None:
        target = ElementTree.Element("properties")
        suite.insert(0, target)
    target.extend(moved)
    return True
