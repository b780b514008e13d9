"""The trends page: one self-contained HTML file of line charts (inline SVG) and the tables.

No script at all: a Content-Security-Policy allows none, nor any network. Names, branches and
commits are untrusted: autoescaped, their control characters shown (as in the run report).
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Any, Callable, Sequence

from pytest_llmops._history.trends import mean, percent
from pytest_llmops._report.html import CHART_HEIGHT, CHART_WIDTH, _shown
from pytest_llmops._report.terminal import money, seconds

#: Left of the plot: the value axis' labels; right of it, a little room for the last point.
_LEFT, _RIGHT = 64, 12


def render_trends(data: dict[str, Any]) -> str:
    import jinja2

    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, finalize=_shown
    )
    environment.filters.update(money=money, seconds=seconds, percent=percent, mean=mean)
    template = environment.from_string(
        resources.files("pytest_llmops._history").joinpath("templates/trends.html.jinja").read_text("utf-8")
    )
    style = resources.files("pytest_llmops._report").joinpath("templates/report.css").read_text("utf-8")
    from markupsafe import Markup

    return template.render(data=data, charts=charts(data), style=Markup(style))


def charts(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The page's charts: the runs' pass rate, cost, p95 latency and metric means, then each
    model's error rate, refusal rate and p95 latency; one of no value at all is left out."""
    runs = data["runs"]
    ids = [f"run {run['id']}" for run in runs]
    series: list[tuple[str, list[Any], Callable[[float], str]]] = [
        ("pass rate", [run["pass_rate"] for run in runs], percent),
        ("cost", [run["cost_usd"] for run in runs], money),
        ("p95 latency of live calls", [run["latency_p95"] for run in runs], seconds),
        *((f"mean {key}", [run["metrics"].get(key) for run in runs], mean) for key in data["metrics"]),
    ]
    for model, per_run in data["models"].items():
        for caption, field, label in (
            ("error rate", "error_rate", percent),
            ("refusal rate", "refusal_rate", percent),
            ("p95 latency", "latency_p95", seconds),
        ):
            series.append((f"{model}: {caption}", [m and m[field] for m in per_run], label))
    return [
        line_chart(caption, values, ids, label)
        for caption, values, label in series
        if any(_finite(value) for value in values)
    ]


def line_chart(
    caption: str, values: Sequence[float | None], names: Sequence[str], label: Callable[[float], str]
) -> dict[str, Any]:
    """A line over the runs, oldest left; a run without a value breaks the line."""
    drawn = [value if value is not None and math.isfinite(value) else None for value in values]
    finite = [value for value in drawn if value is not None]
    low, high = min([0.0, *finite]), max(finite)
    if high <= low:
        high = low + 1.0
    step = (CHART_WIDTH - _LEFT - _RIGHT) / max(len(values) - 1, 1)
    plot = CHART_HEIGHT - 30
    points: list[dict[str, Any]] = []
    segments: list[list[dict[str, Any]]] = [[]]
    for i, value in enumerate(drawn):
        if value is None:
            segments.append([])
            continue
        point = {
            "x": round(_LEFT + i * step, 2),
            "y": round(10 + plot - (value - low) / (high - low) * plot, 2),
            "title": f"{names[i]}: {label(value)}",
        }
        points.append(point)
        segments[-1].append(point)
    return {
        "caption": caption,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": _LEFT,
        "low": label(low),
        "high": label(high),
        "first_run": names[0],
        "last_run": names[-1],
        "last": label(finite[-1]),
        "points": points,
        "lines": [" ".join(f"{p['x']},{p['y']}" for p in segment) for segment in segments if len(segment) > 1],
    }


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
