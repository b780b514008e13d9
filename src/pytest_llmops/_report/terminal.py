"""The terminal section printed at the end of a run: totals, metrics, worst tests, baseline."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from pytest_llmops._report.baseline import gate_lines, latency_line, missing_lines
from pytest_llmops._report.data import REPLAYED_LATENCY
from pytest_llmops._report.drift import describe as describe_drift
from pytest_llmops._report.merge import incomplete, listed
from pytest_llmops._report.numbers import word
from pytest_llmops._report.text import visible


def money(usd: float) -> str:
    if not math.isfinite(usd):
        return f"${word(usd)}"
    return f"${usd:.4f}" if usd < 100 else f"${usd:,.2f}"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return f"{word(value)}s"
    return f"{value:.2f}s" if value >= 1 else f"{value * 1000:.3g}ms"


def render_terminal(report: Mapping[str, Any]) -> list[str]:
    """The section's lines, without the ``===`` header; test ids and reasons in them are
    untrusted, so no line holds a control character (see :func:`visible`)."""
    return [visible(line) for line in _lines(report)]


def _spread(latency: Mapping[str, Any]) -> str:
    return f"p50 {seconds(latency['p50'])}  p95 {seconds(latency['p95'])}  max {seconds(latency['max'])}"


def _lines(report: Mapping[str, Any]) -> list[str]:
    summary = report["summary"]
    tests, calls, tokens, cost, latency = (
        summary["tests"],
        summary["calls"],
        summary["tokens"],
        summary["cost_usd"],
        summary["latency_s"],
    )
    counted = ", ".join(
        f"{tests[name]} {name}" for name in ("passed", "failed", "error", "skipped", "xfailed") if tests[name]
    )
    lines = drift_lines(report.get("drift") or [])
    lines += [
        f"tests: {tests['total']} ({counted or 'none'}); {tests['with_model']} called a model",
        f"calls: {calls['total']} ({calls['live']} live, {calls['cached']} replayed; "
        f"{calls['judge']} by judges); tokens {tokens['prompt']:,} in / {tokens['completion']:,} out",
        f"cost: {money(cost['live'])} live, {money(cost['saved'])} saved by replay",
        f"latency: {_spread(latency)}  ({latency['count']} live model calls)",
    ]
    lines += [
        f"endpoint {name}: {endpoint_figures(figures)}" for name, figures in report["run"].get("endpoints", {}).items()
    ]
    replayed = summary.get("replayed_latency_s")
    if replayed and replayed["count"]:
        lines.append(f"latency {REPLAYED_LATENCY}: {_spread(replayed)}  ({replayed['count']} model calls)")
    lines += error_lines(summary)
    lines += flaky_lines(report.get("flaky") or [])
    budget = summary["budget"]
    if budget is not None:
        refused = f"; {len(budget['refused_tests'])} tests refused" if budget["refused_tests"] else ""
        lines.append(f"budget: {money(budget['spent_usd'])} of {money(budget['limit_usd'])} spent{refused}")
    if summary["metrics"]:
        width = max(len(key) for key in summary["metrics"])
        lines.append(f"{'metric':<{width}}  {'n':>4}  {'pass':>5}  {'mean':>7}")
        for key, metric in summary["metrics"].items():
            lines.append(f"{key:<{width}}  {metric['count']:>4}  {metric['pass_rate']:>5.0%}  {metric['mean']:>7.3f}")
    lines += weak_judge_lines(report["tests"])
    if summary["prompts_changed"]:
        lines.append(f"prompts changed in {len(summary['prompts_changed'])} tests")
    if summary["worst_tests"]:
        lines.append("worst tests:")
        lines += [f"  {t['outcome'].upper():<7} {t['nodeid']}  {t['reason']}" for t in summary["worst_tests"]]
    lines += merged_lines(report["run"])
    comparison = report.get("baseline")
    if comparison is not None:
        lines += baseline_lines(comparison)
    if report.get("comparison"):
        lines += ab_lines(report["comparison"])
    return lines


def error_lines(summary: Mapping[str, Any]) -> list[str]:
    """A line per model spec whose attempts failed or were retried; the error-rate gate's verdict."""
    lines = []
    for spec, model in (summary.get("models") or {}).items():
        if model["failed_attempts"] or model["retries"]:
            verdict = f" > llm_max_error_rate {summary['max_error_rate']:.0%}: FAILED" if model["over_limit"] else ""
            lines.append(
                f"errors: {spec}: {model['failed_attempts']} of {model['attempts']} attempts failed "
                f"({model['error_rate']:.0%}){verdict}; {model['retries']} retried, "
                f"{model['failed_calls']} calls failed after their retries"
            )
    return lines


def flaky_lines(flaky: Sequence[Mapping[str, Any]]) -> list[str]:
    """``flaky: <test>: <why>``, a line per flaky test and reason."""
    from pytest_llmops._report.flaky import flaky_line

    return [f"flaky: {entry['nodeid']}: {flaky_line(entry)}" for entry in flaky]


def drift_lines(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    """``SERVED MODEL CHANGED: ...`` lines, first in the section: the run's own figures may be
    another model's."""
    return [
        f"SERVED MODEL CHANGED{' (fails the run: llm_fail_on_drift)' if c['fails'] else ''}: {describe_drift(c)}"
        for c in changes
    ]


def ab_lines(comparison: Mapping[str, Any]) -> list[str]:
    """Each variant's verdict against the control, then the A/B gate's."""
    settings = comparison["settings"]
    lines = [
        f"A/B against {comparison['control'] or '(the control did not run)'} "
        f"({settings['confidence']:.0%} intervals, bootstrap seed {settings['seed']}):"
    ]
    variants = [v for v in comparison["variants"] if not v["control"]]
    lines += [f"  {v['verdict']}" for v in variants]
    if settings["gate"]:
        failed = [
            f"  {v['label']}: {reason}" for v in variants if v["gate"]["failed"] for reason in v["gate"]["reasons"]
        ]
        lines += ["A/B gate FAILED:", *failed] if failed else [f"A/B gate passed ({', '.join(settings['gate'])})"]
    return lines


def endpoint_figures(figures: Mapping[str, Any]) -> str:
    """An endpoint's adaptive concurrency in words: its 429s, lowest and final limit, waits."""
    return (
        f"{figures['rate_limited']} answered 429; concurrency lowest {figures['lowest']}, final "
        f"{figures['final']}; calls waited {seconds(figures['waited_s'])} in all"
    )


def merged_lines(run: Mapping[str, Any]) -> list[str]:
    """For a merged report: the parts it was merged from, and what makes it incomplete."""
    merged = run.get("merged")
    if not merged:
        return []
    problems = incomplete({"run": run})
    lines = [
        f"merged from {len(merged['reports'])} reports; "
        + (f"INCOMPLETE ({len(problems)} problems):" if problems else "every test of the run is in one")
    ]
    return lines + [f"  {line}" for line in listed(problems)]


def weak_judge_lines(tests: Any) -> list[str]:
    """A warning when verdicts came from the built-in SmolLM2-135M: it cannot judge."""
    from pytest_llmops._models.local import MODEL_NAME

    verdicts = sum(
        1
        for t in tests
        for s in t["scores"]
        if s.get("kind") == "judge" and s.get("details", {}).get("judge_model") == MODEL_NAME
    )
    if not verdicts:
        return []
    return [
        f"warning: {verdicts} judge verdict{'' if verdicts == 1 else 's'} came from {MODEL_NAME}, "
        "which is too small to judge "
        '(it rates invented facts 5/5): install the offline judge (pip install "pytest-llmops[judge]") '
        "or set llm_judge_model to a stronger model (see 'Which judge' in docs/guide/llm-as-judge.md)"
    ]


def baseline_lines(comparison: Mapping[str, Any]) -> list[str]:
    scores = comparison["scores"]
    regressed = sum(1 for s in scores if s["status"] == "regressed")
    cost, latency = comparison["cost"], comparison["latency"]
    lines = [
        f"baseline {comparison['path']}: {regressed} score regressions, {len(comparison['improved'])} tests "
        f"improved, {len(comparison['new_tests'])} new, {len(comparison['removed_tests'])} removed, "
        f"{len(comparison['not_run_tests'])} not run",
        f"  cost {money(cost['baseline_usd'])} -> {money(cost['current_usd'])}{_relative(cost['relative'])}; "
        f"{latency_line(latency, seconds, '->')}{_relative(latency['relative'])}",
    ]
    lines += [f"  {line}" for line in missing_lines(comparison)]
    if comparison["failed"]:
        lines.append("baseline gate FAILED:")
        lines += [f"  REGRESSED {line}" for line in gate_lines(comparison)]
    else:
        lines.append("baseline gate passed")
    return lines


def _relative(value: float | None) -> str:
    return "" if value is None else f" ({value:+.0%})"
