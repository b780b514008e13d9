"""A run's history rows, built from its JSON report dict alone (no database needed here).

One run row (time, git, settings digest, totals), one row per test (outcome, scores, prompt
versions, models) and one per tested model (calls, failures, retries, tokens, cost, latency
percentiles, the served model names and fingerprints, refusals).
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

from pytest_llmops._report.data import CALL_COUNTS, HARNESS_ROLES, percentile
from pytest_llmops._report.drift import served
from pytest_llmops._report.numbers import number


def run_row(report: Mapping[str, Any]) -> dict[str, Any]:
    run, summary = report["run"], report["summary"]
    git = run.get("git") or {}
    tests, calls = summary["tests"], summary["calls"]
    return {
        "created": str(run.get("created", "")),
        "git_commit": git.get("commit"),
        "git_branch": git.get("branch"),
        "settings_digest": run.get("settings_digest"),
        "model": run.get("model"),
        "record_mode": run.get("record_mode"),
        **{name: int(tests[name]) for name in ("total", "passed", "failed", "error", "skipped", "xfailed")},
        "calls": int(calls["total"]),
        "live_calls": int(calls["live"]),
        "cost_usd": _finite(summary["cost_usd"]["total"]),
        "tokens": _finite(summary["tokens"]["total"]),
        "latency_p95": _finite(summary["latency_s"]["p95"]),
    }


def metric_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"metric": key, "count": int(m["count"]), "passed": int(m["passed"]), "mean": _finite(m["mean"])}
        for key, m in sorted(report["summary"]["metrics"].items())
    ]


def test_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "nodeid": test["nodeid"],
            "outcome": test["outcome"],
            "duration_s": _finite(test.get("duration_s")),
            "models": as_json(test["models"]),
            "prompt_versions": as_json(prompt_versions(test)),
            "scores": as_json({s["key"]: _finite(s["value"]) for s in test["scores"]}),
            "reruns": int(test.get("reruns") or 0),
        }
        for test in report["tests"]
    ]


def prompt_versions(test: Mapping[str, Any]) -> list[str]:
    """``name@hash`` of each template the test rendered: what a flaky-test check compares."""
    return sorted({f"{p.get('name')}@{p.get('hash')}" for p in test["prompts"]})


def model_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per tested model (judge and A/B control calls are the harness, not the app)."""
    from pytest_llmops.metrics._refusal import refusal_phrase

    by_spec: dict[str, list[Mapping[str, Any]]] = {}
    for test in report["tests"]:
        for call in test["calls"]:
            if call["role"] not in HARNESS_ROLES:
                by_spec.setdefault(call.get("spec") or call["model"], []).append(call)
    failures = report["summary"].get("models", {})
    now_served = served(report["tests"])
    rows = []
    for spec in sorted(set(by_spec) | set(failures)):
        calls = by_spec.get(spec, [])
        live = [number(c["latency_s"]) for c in calls if not c["cached"]]
        refusals = sum(1 for c in calls if refusal_phrase(str(c.get("text", ""))) is not None)
        counted = failures.get(spec, {})
        rows.append(
            {
                "spec": spec,
                "backend": calls[0]["backend"] if calls else spec.partition(":")[0].partition("@")[0],
                "calls": len(calls),
                "live_calls": len(live),
                **{name: int(counted.get(name, 0)) for name in CALL_COUNTS},
                "prompt_tokens": _finite(sum(number(c["prompt_tokens"]) for c in calls)),
                "completion_tokens": _finite(sum(number(c["completion_tokens"]) for c in calls)),
                "cost_usd": _finite(sum(number(c["cost_usd"]) for c in calls)),
                "latency_p50": _finite(percentile(live, 0.5)) if live else None,
                "latency_p95": _finite(percentile(live, 0.95)) if live else None,
                # What its live calls were answered by (replayed ones tell of the recording's day).
                "served_models": as_json(now_served.get(spec, {}).get("model", [])),
                "fingerprints": as_json(now_served.get(spec, {}).get("fingerprint", [])),
                "refusals": refusals,
            }
        )
    return rows


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _finite(value: Any) -> float | None:
    """A number a database column can hold: NaN and infinities (a broken score) are NULL."""
    if value is None:
        return None
    value = number(value)
    return value if math.isfinite(value) else None


def served_before(runs: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Per model spec, what the last run with live calls to it was answered by (``model`` and
    ``fingerprint`` lists) and ``since_run``: the first of the runs in a row that saw the same.
    ``runs`` are the history's :class:`~pytest_llmops._history.store.Run`, oldest first."""
    found: dict[str, dict[str, Any]] = {}
    for run in runs:
        for row in run.models:
            seen = {"model": json.loads(row["served_models"]), "fingerprint": json.loads(row["fingerprints"])}
            if not seen["model"]:
                continue  # replayed only: it saw nothing served
            before = found.get(row["spec"])
            same = before is not None and all(before[kind] == seen[kind] for kind in seen)
            found[row["spec"]] = {**seen, "since_run": before["since_run"] if same and before else run.id}
    return found
