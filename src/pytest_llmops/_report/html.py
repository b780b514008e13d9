"""The self-contained HTML report: one file, inline CSS, inline SVG charts, a little vanilla JS.

Python prepares what the template draws (chart geometry, diffs, rendered prompts); the Jinja2
template only lays it out, with autoescaping on. Model text is untrusted: it only ever reaches
the page as escaped text (its control characters as visible escapes, see
:mod:`pytest_llmops._report.text`), and a Content-Security-Policy allows no script but the report's own
(pinned by its hash), no network and no plugins.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import math
import re
from importlib import resources
from typing import Any, Callable, Iterable, Mapping, Sequence

from pytest_llmops._report.baseline import missing_lines
from pytest_llmops._report.data import call_cost, describe_score, model_latencies
from pytest_llmops._report.terminal import money, seconds
from pytest_llmops._report.text import visible
from pytest_llmops._snapshots import version_label

CHART_WIDTH = 360
CHART_HEIGHT = 150
BINS = 10
COST_BARS = 15
_TOKENS = re.compile(r"\s+|\S+")


def render_html(report: Mapping[str, Any]) -> str:
    import jinja2
    from markupsafe import Markup

    templates = resources.files("pytest_llmops._report").joinpath("templates")
    script = templates.joinpath("report.js").read_text("utf-8")
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, finalize=_shown
    )
    environment.filters.update(money=money, seconds=seconds, score=describe_score)
    baseline = _BaselineByTest(report.get("baseline"))
    template = environment.from_string(templates.joinpath("report.html.jinja").read_text("utf-8"))
    return template.render(
        report=report,
        summary=report["summary"],
        comparison=report.get("baseline"),
        missing=missing_lines(report["baseline"]) if report.get("baseline") else [],
        tests=[_test_view(t, baseline) for t in report["tests"]],
        charts=charts(report),
        # The report's own code and style, not model text: trusted, inserted verbatim.
        script=Markup(script),
        style=Markup(templates.joinpath("report.css").read_text("utf-8")),
        script_hash=base64.b64encode(hashlib.sha256(script.encode()).digest()).decode(),
    )


def _shown(value: Any) -> Any:
    """Every value the template prints: text with its control characters visible (and then
    autoescaped); the report's own markup (``__html__``) as it is."""
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return visible(value, lines=True)
    return value


def charts(report: Mapping[str, Any]) -> dict[str, Any]:
    """Geometry of the report's charts: score histograms per metric, latency, cost per test."""
    tests = report["tests"]
    scores: dict[str, list[float]] = {}
    for test in tests:
        for score in test["scores"]:
            scores.setdefault(score["key"], []).append(float(score["value"]))
    latencies = model_latencies(tests)
    costs = sorted(
        ((call_cost(t), t["nodeid"]) for t in tests if t["calls"] and math.isfinite(call_cost(t))),
        key=lambda pair: (-pair[0], pair[1]),
    )[:COST_BARS]
    return {
        "scores": [{"key": key, **histogram(values, 0.0, 1.0)} for key, values in sorted(scores.items())],
        "latency": histogram(latencies, 0.0, None, seconds) if latencies else None,
        "cost": bars(costs) if costs else None,
    }


def histogram(
    values: Sequence[float], low: float, high: float | None, label: Callable[[float], str] = "{:.3g}".format
) -> dict[str, Any]:
    """Bars of a histogram of ``values`` over ``BINS`` equal bins (widened to fit the data);
    NaN and infinite values have no bin: ``left_out`` counts them."""
    finite = [value for value in values if math.isfinite(value)]
    low = min([*finite, low])
    high = max([*finite, high] if high is not None else finite, default=low)
    if high <= low:
        high = low + 1.0
    width = (high - low) / BINS
    counts = [0] * BINS
    for value in finite:
        counts[min(int((value - low) / width), BINS - 1)] += 1
    tallest = max(counts) or 1
    plot_height = CHART_HEIGHT - 30
    bar_width = (CHART_WIDTH - 20) / BINS
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "low": label(low),
        "high": label(high),
        "count": len(finite),
        "left_out": len(values) - len(finite),
        "bars": [
            {
                "x": round(10 + i * bar_width, 2),
                "y": round(10 + plot_height - count / tallest * plot_height, 2),
                "width": round(bar_width - 2, 2),
                "height": round(count / tallest * plot_height, 2),
                "count": count,
                "range": f"{label(low + i * width)} to {label(low + (i + 1) * width)}",
            }
            for i, count in enumerate(counts)
        ],
    }


def bars(pairs: Sequence[tuple[float, str]]) -> dict[str, Any]:
    """Horizontal bars, one per ``(value, label)``, longest first."""
    largest = max(value for value, _ in pairs) or 1.0
    row = 18
    return {
        "width": CHART_WIDTH * 2,
        "height": row * len(pairs) + 10,
        "bars": [
            {
                "y": 5 + i * row,
                "width": round(max(value / largest * CHART_WIDTH, 1), 2),
                "label": label,
                "value": money(value),
            }
            for i, (value, label) in enumerate(pairs)
        ],
    }


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """``(op, text)`` pieces turning ``before`` into ``after``: op is equal, delete or insert."""
    old, new = _TOKENS.findall(before), _TOKENS.findall(after)
    pieces: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op in ("equal", "delete", "replace"):
            pieces.append(("equal" if op == "equal" else "delete", "".join(old[i1:i2])))
        if op in ("insert", "replace"):
            pieces.append(("insert", "".join(new[j1:j2])))
    return pieces


def rendered_prompt(request: Mapping[str, Any]) -> list[dict[str, str]]:
    """A call's prompt as ``{role, content}`` turns (a raw prompt is one ``prompt`` turn)."""
    if "messages" in request:
        return [{"role": m["role"], "content": m["content"]} for m in request["messages"]]
    return [{"role": "prompt", "content": request.get("prompt") or ""}]


class _BaselineByTest:
    """The baseline comparison's parts, indexed by test id once for every test's view."""

    def __init__(self, comparison: Mapping[str, Any] | None) -> None:
        comparison = comparison or {}
        self.compared = bool(comparison)
        self.new = set(comparison.get("new_tests", ()))
        self.regressed = {r["nodeid"] for r in comparison.get("regressions", ())}
        self.improved = set(comparison.get("improved", ()))
        self.scores: dict[str, list[Mapping[str, Any]]] = {}
        self.prompt_changes: dict[str, list[Mapping[str, Any]]] = {}
        for score in comparison.get("scores", ()):
            self.scores.setdefault(score["nodeid"], []).append(score)
        for change in comparison.get("prompt_changes", ()):
            self.prompt_changes.setdefault(change["nodeid"], []).append(change)

    def status(self, nodeid: str) -> str:
        if not self.compared:
            return ""
        if nodeid in self.new:
            return "new"
        if nodeid in self.regressed:
            return "regressed"
        return "improved" if nodeid in self.improved else "same"


def _test_view(test: Mapping[str, Any], baseline: _BaselineByTest) -> dict[str, Any]:
    nodeid = test["nodeid"]
    margins = [s["margin"] for s in test["scores"] if s["margin"] is not None]
    return {
        **test,
        "min_margin": min(margins) if margins else None,
        "call_views": [{**c, "turns": rendered_prompt(c["request"])} for c in test["calls"]],
        "prompt_diffs": [
            {"label": _change_label(p), "diff": word_diff(p["snapshot_text"], p["text"])}
            for p in test["prompts"]
            if p["changed"] and "text" in p and "snapshot_text" in p
        ],
        "output_diffs": _output_diffs(test["scores"]),
        "reasoning": [
            {"key": s["key"], "text": str(s["details"]["reasoning"])}
            for s in test["scores"]
            if s["details"].get("reasoning")
        ],
        "baseline_status": baseline.status(nodeid),
        "baseline_changes": baseline.scores.get(nodeid, []),
        "baseline_prompt_diffs": [
            {"call": c["call"], "diff": word_diff(c["baseline"], c["current"])}
            for c in baseline.prompt_changes.get(nodeid, ())
        ],
    }


def _change_label(prompt: Mapping[str, Any]) -> str:
    """``summarize: v3 → v4``, as the terminal's drift lines name the change."""
    before = prompt.get("changed_from") or {}
    return f"{prompt['name']}: {version_label(before, prompt)} → {version_label(prompt, before)}"


def _output_diffs(scores: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str]] = set()
    diffs = []
    for score in scores:
        output, reference = score.get("output"), score.get("reference")
        if output is None or reference is None or (reference, output) in seen:
            continue
        seen.add((reference, output))
        diffs.append({"key": score["key"], "diff": word_diff(reference, output)})
    return diffs
