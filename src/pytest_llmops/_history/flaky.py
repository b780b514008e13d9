"""Flaky tests: over the history's last runs that ran a test with the same prompt versions and
models as this run, it both passed and failed (errors are infrastructure, not the test's)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from pytest_llmops._history.rows import as_json, prompt_versions

_VERDICTS = ("passed", "failed")


def flaky_tests(
    tests: Iterable[Mapping[str, Any]], history: Sequence[Sequence[Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    """This run's tests (report rows) that passed in some and failed in others of the runs that
    ran them unchanged: this one and ``history`` (each run's stored test rows, any order)."""
    before: dict[tuple[str, str, str], list[str]] = {}
    for run in history:
        for row in run:
            key = (row["nodeid"], row["prompt_versions"], row["models"])
            before.setdefault(key, []).append(row["outcome"])
    found = []
    for test in tests:
        key = (test["nodeid"], as_json(prompt_versions(test)), as_json(test["models"]))
        outcomes = [test["outcome"], *before.get(key, [])]
        counts = {verdict: outcomes.count(verdict) for verdict in _VERDICTS}
        if all(counts.values()):
            found.append({"nodeid": test["nodeid"], "reason": "history", "runs": len(outcomes), **counts})
    return sorted(found, key=lambda entry: entry["nodeid"])
