"""The trends of the last runs of a history: one JSON-safe dict, then a terminal table.

Per run: its tests' pass rate (passed of passed, failed and errors), cost, p95 latency and every
metric's mean; per tested model and run: calls, error rate (failed live attempts of all, retried or not),
retries, refusal rate and p95 latency. A value a run does not have is ``None`` (shown ``-``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from pytest_llmops._report.terminal import money, seconds
from pytest_llmops._report.text import visible

if TYPE_CHECKING:
    from pytest_llmops._history.store import Run


def trends(runs: Sequence[Run]) -> dict[str, Any]:
    """The trends of ``runs`` (oldest first)."""
    metrics = sorted({m["metric"] for run in runs for m in run.metrics})
    models = sorted({m["spec"] for run in runs for m in run.models})
    return {
        "runs": [_run(run) for run in runs],
        "metrics": metrics,
        "models": {model: [_model(run, model) for run in runs] for model in models},
    }


def _run(run: Run) -> dict[str, Any]:
    facts = run.facts
    judged = facts["passed"] + facts["failed"] + facts["error"]
    return {
        "id": facts["id"],
        "created": facts["created"],
        "commit": (facts["git_commit"] or "")[:10] or None,
        "branch": facts["git_branch"],
        "tests": facts["total"],
        "pass_rate": facts["passed"] / judged if judged else None,
        "cost_usd": facts["cost_usd"],
        "latency_p95": facts["latency_p95"],
        "metrics": {m["metric"]: m["mean"] for m in run.metrics},
    }


def _model(run: Run, model: str) -> dict[str, Any] | None:
    row = next((m for m in run.models if m["spec"] == model), None)
    if row is None:
        return None
    return {
        "calls": row["calls"],
        "error_rate": row["failed_attempts"] / row["attempts"] if row["attempts"] else None,
        "retries": row["retries"],
        "refusal_rate": row["refusals"] / row["calls"] if row["calls"] else None,
        "latency_p95": row["latency_p95"],
        "cost_usd": row["cost_usd"],
    }


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def trend_lines(data: dict[str, Any]) -> list[str]:
    """The trends as aligned text tables: runs, then each model's runs. Names and branches are
    untrusted: no line holds a control character."""
    if not data["runs"]:
        return ["no runs in the history yet"]
    header = ["run", "created", "commit", "branch", "tests", "pass", "cost", "p95", *data["metrics"]]
    rows = [
        [
            str(run["id"]),
            run["created"][:19],
            run["commit"] or "-",
            run["branch"] or "-",
            str(run["tests"]),
            percent(run["pass_rate"]),
            money(run["cost_usd"] or 0.0),
            seconds(run["latency_p95"]),
            *(mean(run["metrics"].get(key)) for key in data["metrics"]),
        ]
        for run in data["runs"]
    ]
    lines = _table(header, rows)
    for model, per_run in data["models"].items():
        lines += ["", f"model {model}"]
        lines += _table(
            ["run", "calls", "errors", "retries", "refusals", "p95", "cost"],
            [
                [
                    str(run["id"]),
                    str(m["calls"]),
                    percent(m["error_rate"]),
                    str(m["retries"]),
                    percent(m["refusal_rate"]),
                    seconds(m["latency_p95"]),
                    money(m["cost_usd"] or 0.0),
                ]
                for run, m in zip(data["runs"], per_run)
                if m is not None
            ],
        )
    return lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    rows = [[visible(cell) for cell in row] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in (header, *rows)]
