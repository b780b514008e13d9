"""Served-model drift: the provider serving a model spec under a new name or build.

A live call's answer names the model the server ran (``gpt-4o-mini-2024-07-18`` for
``openai:gpt-4o-mini``) and, on OpenAI, its ``system_fingerprint``. When either differs from
what the last run of the history (or the baseline) saw for the same spec, the report says so.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from pytest_llmops._report.data import HARNESS_ROLES
from pytest_llmops.settings import DRIFT_KINDS as KINDS


def served(tests: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Per model spec: the model names and fingerprints its live calls were answered with
    (replayed calls tell what was served when they were recorded, not now)."""
    found: dict[str, dict[str, set[str]]] = {}
    for test in tests:
        for call in test["calls"]:
            if call["role"] in HARNESS_ROLES or call["cached"]:
                continue
            entry = found.setdefault(call.get("spec") or call["model"], {"model": set(), "fingerprint": set()})
            entry["model"].add(call["model"])
            if call.get("system_fingerprint"):
                entry["fingerprint"].add(call["system_fingerprint"])
    return {spec: {kind: sorted(values) for kind, values in entry.items()} for spec, entry in sorted(found.items())}


def changes(
    now: Mapping[str, Mapping[str, Sequence[str]]],
    before: Mapping[str, Mapping[str, Any]],
    against: str,
    failing: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """What ``now`` serves differently from ``before`` (spec -> ``model``/``fingerprint`` lists,
    and ``since_run``: the first run of the history that saw them), each change with whether
    it fails the run (its kind is in ``failing``)."""
    found = []
    for spec, served_now in now.items():
        seen = before.get(spec)
        if not seen:
            continue
        for kind in KINDS:
            was, is_now = list(seen.get(kind) or ()), list(served_now.get(kind) or ())
            if was and is_now and was != is_now:
                found.append(
                    {
                        "spec": spec,
                        "kind": kind,
                        "now": is_now,
                        "was": was,
                        "against": against,
                        "since_run": seen.get("since_run"),
                        "fails": kind in failing,
                    }
                )
    return found


def describe(change: Mapping[str, Any]) -> str:
    """``openai:gpt-4o-mini is now served as X (was Y since run 41)`` — one change, one line."""
    now, was = ", ".join(change["now"]), ", ".join(change["was"])
    since = f" since run {change['since_run']}" if change.get("since_run") else ""
    what = "is now served as" if change["kind"] == "model" else "now answers with system_fingerprint"
    return f"{change['spec']} {what} {now} (was {was}{since}, in {change['against']})"
