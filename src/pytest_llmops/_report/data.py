"""The report as one JSON-safe dict: a row per test and the run's aggregates.

Pure functions of the collected outcomes, so the same input gives the same report whether the
tests ran serially or under pytest-xdist. The layout is the JSON report's schema, documented in
``docs/report-schema.md``; bump :data:`SCHEMA_VERSION` when it changes incompatibly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from pytest_llmops._report.numbers import highest, lowest, number
from pytest_llmops.errors import BUDGET_REFUSAL

if TYPE_CHECKING:
    from pytest_llmops._results import TestOutcome

SCHEMA = "pytest-llmops/report"
SCHEMA_VERSION = 1
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed")
WORST_TESTS = 5
#: The roles of calls made by the harness, not the tested app: a judge's, and the A/B control's
#: answer asked again for a variant's test. They count apart from the tested models' calls.
HARNESS_ROLES = ("judge", "control")
#: The range of a score whose metric does not say (a judge's normalised verdict, a custom score).
DEFAULT_RANGE: tuple[float | None, float | None] = (0.0, 1.0)

MetricRange = Callable[[str], "tuple[float | None, float | None]"]


def build_report(
    outcomes: Iterable[TestOutcome],
    run: Mapping[str, Any],
    budget_usd: float | None = None,
    metric_range: MetricRange | None = None,
) -> dict[str, Any]:
    """The report of one run: ``run`` facts (model, mode, time), a row per test, aggregates.
    ``metric_range`` gives a metric's scale by its name (``None`` ends: unbounded)."""
    tests = sorted((row_of(o) for o in outcomes), key=lambda row: row["nodeid"])
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run": dict(run),
        "summary": summarize(tests, budget_usd, metric_range),
        "tests": tests,
        "baseline": None,
        "comparison": None,
        "drift": [],
        "flaky": [],
    }


def row_of(outcome: TestOutcome) -> dict[str, Any]:
    """One test: its outcome, models, prompts, scores and calls, with per-test totals."""
    record = outcome.record or {}
    calls = [_call(c) for c in record.get("calls", ())]
    scores = [_score(s) for s in record.get("scores", ())]
    prompts = [_prompt(p) for p in record.get("prompts", ())]
    return {
        "nodeid": outcome.nodeid,
        "outcome": outcome.outcome,
        "duration_s": outcome.duration_s,
        "reruns": outcome.reruns,
        "error": outcome.error,
        "models": sorted({c["model"] for c in calls if c["role"] not in HARNESS_ROLES}),
        "judge_models": sorted({c["model"] for c in calls if c["role"] == "judge"}),
        "prompts": prompts,
        "prompts_changed": any(p["changed"] for p in prompts),
        "scores": scores,
        "calls": calls,
        "totals": call_totals(calls),
        "extra": dict(record.get("extra", {})),
    }


def _call(call: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "role": call.get("role", "model"),
        "model": call.get("model", ""),
        "backend": call.get("backend", ""),
        "prompt_tokens": _count(call.get("prompt_tokens", 0)),
        "completion_tokens": _count(call.get("completion_tokens", 0)),
        "latency_s": float(call.get("latency_s", 0.0)),
        "cost_usd": float(call.get("cost_usd", 0.0)),
        "cached": bool(call.get("cached", False)),
        "finish_reason": call.get("finish_reason"),
        "spec": call.get("spec") or call.get("model", ""),
        "system_fingerprint": call.get("system_fingerprint"),
        "prompt_versions": list(call.get("prompt_versions", ())),
        "text": call.get("text", ""),
        "request": dict(call.get("request", {})),
    }


def _count(value: Any) -> int | float:
    """A token count as an integer; a non-finite one stays a float (the report spells it)."""
    value = float(value)
    return int(value) if math.isfinite(value) else value


def _score(score: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(score)
    # A NaN or infinite value is a broken score: it never counts as passed.
    row["passed"] = bool(row.get("passed")) and math.isfinite(float(row["value"]))
    row.setdefault("higher_is_better", True)
    row.setdefault("label", None)
    row.setdefault("details", {})
    row["key"] = metric_key(row)
    row["margin"] = margin(row)
    return row


def _prompt(prompt: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(prompt)
    row["changed"] = prompt.get("snapshot") == "changed" or bool(prompt.get("changed_from"))
    return row


def prompt_text(request: Mapping[str, Any]) -> str:
    """A call's prompt as plain text: ``role: content`` lines for chat, else the raw prompt."""
    if "messages" in request:
        return "\n".join(f"{m['role']}: {m['content']}" for m in request["messages"])
    return str(request.get("prompt") or "")


def metric_key(score: Mapping[str, Any]) -> str:
    """What scores are grouped by: the metric, and its label when it has one."""
    label = score.get("label")
    return f"{score['metric']}[{label}]" if label else str(score["metric"])


def margin(score: Mapping[str, Any]) -> float | None:
    """How far a score is on the good side of its threshold (negative: it failed)."""
    if score.get("threshold") is None:
        return None
    if not math.isfinite(float(score["value"])):
        return math.nan  # a broken score is on neither side
    difference = float(score["value"]) - float(score["threshold"])
    return difference if score.get("higher_is_better", True) else -difference


def call_totals(calls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts, tokens, live cost, cost saved by replay and summed latency of ``calls``."""
    live = [c for c in calls if not c["cached"]]
    return {
        "calls": len(calls),
        "cached_calls": len(calls) - len(live),
        "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
        "completion_tokens": sum(c["completion_tokens"] for c in calls),
        "cost_usd": sum(c["cost_usd"] for c in live),
        "saved_usd": sum(c["cost_usd"] for c in calls if c["cached"]),
        "latency_s": sum(c["latency_s"] for c in calls),
    }


def call_cost(test: Mapping[str, Any]) -> float:
    """What a test's calls cost, replayed ones at their recorded price (comparable across runs)."""
    return number(test["totals"]["cost_usd"]) + number(test["totals"]["saved_usd"])


def summarize(
    tests: Sequence[Mapping[str, Any]], budget_usd: float | None = None, metric_range: MetricRange | None = None
) -> dict[str, Any]:
    """The run's aggregates over the test rows."""
    calls = [c for t in tests for c in t["calls"]]
    live_cost = sum(t["totals"]["cost_usd"] for t in tests)
    saved = sum(t["totals"]["saved_usd"] for t in tests)
    counts = {name: sum(1 for t in tests if t["outcome"] == name) for name in OUTCOMES}
    prompt_tokens = sum(c["prompt_tokens"] for c in calls)
    completion_tokens = sum(c["completion_tokens"] for c in calls)
    return {
        "tests": {"total": len(tests), **counts, "with_model": sum(1 for t in tests if t["calls"])},
        "calls": {
            "total": len(calls),
            "live": sum(1 for c in calls if not c["cached"]),
            "cached": sum(1 for c in calls if c["cached"]),
            "model": sum(1 for c in calls if c["role"] not in HARNESS_ROLES),
            "judge": sum(1 for c in calls if c["role"] == "judge"),
        },
        "tokens": {
            "prompt": prompt_tokens,
            "completion": completion_tokens,
            "total": prompt_tokens + completion_tokens,
        },
        "cost_usd": {"live": live_cost, "saved": saved, "total": live_cost + saved},
        "latency_s": latency_summary(model_latencies(tests)),
        "replayed_latency_s": latency_summary(model_latencies(tests, replayed=True)),
        "metrics": metric_summary(tests, metric_range),
        "prompts_changed": [t["nodeid"] for t in tests if t["prompts_changed"]],
        "worst_tests": worst_tests(tests),
        "budget": None if budget_usd is None else budget_summary(tests, budget_usd, live_cost),
    }


#: How every renderer labels the latency of replayed calls.
REPLAYED_LATENCY = "replayed (recorded elsewhere)"


def model_latencies(tests: Iterable[Mapping[str, Any]], *, replayed: bool = False) -> list[float]:
    """Latencies of the live (``replayed``: the replayed) calls to the tested models. Judge
    calls are the harness, not the app; a replayed latency is the recording machine's, which
    may have been loaded or far away, so it is never mixed with live ones."""
    return [
        number(c["latency_s"])
        for t in tests
        for c in t["calls"]
        if c["role"] not in HARNESS_ROLES and bool(c["cached"]) == replayed
    ]


def latency_summary(latencies: Sequence[float]) -> dict[str, Any]:
    if not latencies:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "max": None}
    return {
        "count": len(latencies),
        "mean": sum(latencies) / len(latencies),
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "max": highest(latencies),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1), linearly interpolated between closest ranks (numpy's default);
    NaN when any value is (sorting NaN gives an arbitrary order)."""
    if any(math.isnan(v) for v in values):
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    if fraction == 0 or ordered[low] == ordered[high]:  # else inf * 0 or inf - inf: NaN
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def metric_summary(
    tests: Iterable[Mapping[str, Any]], metric_range: MetricRange | None = None
) -> dict[str, dict[str, Any]]:
    """Per metric key: how many scores, how many passed, pass rate, mean, min and max, how
    many values were NaN or infinite (any NaN makes the mean, min and max NaN), and the
    metric's range (:data:`DEFAULT_RANGE` when ``metric_range`` does not know it)."""
    values: dict[str, list[Mapping[str, Any]]] = {}
    for test in tests:
        for score in test["scores"]:
            values.setdefault(score["key"], []).append(score)
    summary = {}
    for key in sorted(values):
        scores = values[key]
        numbers = [float(s["value"]) for s in scores]
        passed = sum(1 for s in scores if s["passed"])
        summary[key] = {
            "count": len(scores),
            "passed": passed,
            "pass_rate": passed / len(scores),
            "mean": sum(numbers) / len(numbers),
            "min": lowest(numbers),
            "max": highest(numbers),
            "non_finite": sum(1 for n in numbers if not math.isfinite(n)),
            "higher_is_better": bool(scores[0]["higher_is_better"]),
            "range": list(metric_range(scores[0]["metric"]) if metric_range else DEFAULT_RANGE),
        }
    return summary


def worst_tests(tests: Sequence[Mapping[str, Any]], limit: int = WORST_TESTS) -> list[dict[str, Any]]:
    """The tests most worth a look: errors, then failures, then tests with a failing score
    (below its threshold or not finite), the worst margin first. A green run has none."""
    rank = {"error": 0, "failed": 1}
    candidates = []
    for test in tests:
        scored = [s for s in test["scores"] if s["margin"] is not None]
        weakest = min(scored, key=lambda s: _badness(s["margin"]), default=None)
        failing_score = weakest is not None and _badness(weakest["margin"]) < 0
        if test["outcome"] not in rank and not failing_score:
            continue
        order = (rank.get(test["outcome"], 2), _badness(weakest["margin"]) if weakest else 0.0, test["nodeid"])
        candidates.append((order, test, weakest))
    candidates.sort(key=lambda entry: entry[0])
    return [
        {
            "nodeid": test["nodeid"],
            "outcome": test["outcome"],
            # The first line: an error such as a replay miss explains itself over several.
            "reason": (test["error"] or "").partition("\n")[0] or (describe_score(weakest) if weakest else ""),
        }
        for _, test, weakest in candidates[:limit]
    ]


def _badness(margin: float) -> float:
    """A margin to sort by: a NaN margin (a broken score) sorts as the worst."""
    return -math.inf if math.isnan(margin) else margin


def describe_score(score: Mapping[str, Any]) -> str:
    """``rougeL 0.41 < 0.6`` — a score against its threshold, in one short phrase."""
    value = f"{score['key']} {score['value']:.3g}"
    if score.get("threshold") is None:
        return value
    good = ">=" if score.get("higher_is_better", True) else "<="
    bad = "<" if score.get("higher_is_better", True) else ">"
    return f"{value} {good if score['passed'] else bad} {score['threshold']:.3g}"


#: The call pipeline's counts per model spec that a report keeps.
CALL_COUNTS = ("attempts", "failed_attempts", "retries", "failed_calls")


def gate_failed(report: Mapping[str, Any]) -> bool:
    """Whether a gate failed, from the report alone: the baseline's, the A/B comparison's, a
    served-model change that ``llm_fail_on_drift`` names, or a model's error rate above
    ``llm_max_error_rate``."""
    return bool(
        (report.get("baseline") and report["baseline"]["failed"])
        or (report.get("comparison") and report["comparison"]["failed"])
        or any(change["fails"] for change in report.get("drift") or ())
        or any(model["over_limit"] for model in report["summary"].get("models", {}).values())
    )


def model_summary(
    tests: Sequence[Mapping[str, Any]], counts: Mapping[str, Mapping[str, int]], max_error_rate: float | None = None
) -> dict[str, dict[str, Any]]:
    """Per model spec: its answered calls (replayed ones too), live attempts, failed attempts
    (retried or not), retries, calls that failed, and its error rate (failed attempts of all
    attempts; None without a live attempt), over ``limit`` when above ``max_error_rate``.
    ``counts`` are the call pipeline's, which sees every attempt (a judge's too)."""
    answered: dict[str, int] = {}
    for test in tests:
        for call in test["calls"]:
            spec = call.get("spec") or call["model"]
            answered[spec] = answered.get(spec, 0) + 1
    summary = {}
    for spec in sorted(set(answered) | set(counts)):
        counted = counts.get(spec, {})
        attempts = counted.get("attempts", 0)
        rate = counted.get("failed_attempts", 0) / attempts if attempts else None
        summary[spec] = {
            "calls": answered.get(spec, 0),
            **{name: counted.get(name, 0) for name in CALL_COUNTS},
            "error_rate": rate,
            "over_limit": rate is not None and max_error_rate is not None and rate > max_error_rate,
        }
    return summary


def budget_summary(tests: Sequence[Mapping[str, Any]], limit_usd: float, spent_usd: float) -> dict[str, Any]:
    return {
        "limit_usd": limit_usd,
        "spent_usd": spent_usd,
        "refused_tests": [t["nodeid"] for t in tests if BUDGET_REFUSAL in (t["error"] or "")],
    }
