"""Flaky tests, from the report's rows alone: one label for each way a test showed it.

- ``samples``: its k-of-n samples straddled the threshold in this run (some passed, some not);
- ``rerun``: it passed only when run again (pytest-rerunfailures: its attempts are one test);
- ``history``: it both passed and failed over the run history's last runs with the same prompt
  versions and models (:mod:`pytest_llmops._history.flaky`, which needs the history).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

#: The score of a k-of-n check (``golden.check_samples``).
_SAMPLES_METRIC = "samples_passed"


def flaky_in_run(tests: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tests this run alone shows flaky: samples that straddled, a pass on a rerun."""
    found: list[dict[str, Any]] = []
    for test in tests:
        for score in test["scores"]:
            details = score.get("details") or {}
            total, passes = details.get("samples"), details.get("passes")
            if score["metric"] == _SAMPLES_METRIC and isinstance(total, int) and isinstance(passes, int):
                if 0 < passes < total:
                    found.append(
                        {"nodeid": test["nodeid"], "reason": "samples", "passed": passes, "failed": total - passes}
                    )
        if test.get("reruns") and test["outcome"] == "passed":
            found.append({"nodeid": test["nodeid"], "reason": "rerun", "reruns": test["reruns"]})
    return found


def reason(entry: Mapping[str, Any]) -> str:
    """Why an entry is flaky (older reports' entries, without one, are the history's)."""
    return str(entry.get("reason", "history"))


def combined(*lists: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The entries of ``lists``, one per test and reason, in test order."""
    entries = {
        (entry["nodeid"], reason(entry)): {**entry, "reason": reason(entry)} for found in lists for entry in found
    }
    return [entries[key] for key in sorted(entries)]


def reasons_by_test(flaky: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each flaky test's reasons, in the order of ``flaky``."""
    reasons: dict[str, list[str]] = {}
    for entry in flaky:
        reasons.setdefault(entry["nodeid"], []).append(reason(entry))
    return reasons


def flaky_line(entry: Mapping[str, Any]) -> str:
    """What one entry says, after the test's id."""
    if reason(entry) == "samples":
        return f"{entry['passed']} of {entry['passed'] + entry['failed']} samples passed in this run"
    if reason(entry) == "rerun":
        return f"passed only when run again ({entry['reruns']} failed attempt(s) before)"
    return (
        f"passed {entry['passed']} and failed {entry['failed']} of the last {entry['runs']} runs "
        "with the same prompts and models"
    )
