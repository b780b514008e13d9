"""The self-contained HTML report: one file, inline CSS, inline SVG charts, a little vanilla JS.

Python prepares what the template draws (summary, chart geometry); the Jinja2 template only lays
it out, with autoescaping on. The tests are not markup: the report's data is embedded once, as
JSON in a ``<script type="application/json">`` element (data, never run), and the report's own
script builds the table's rows from it and each test's details (prompts, diffs, reasoning,
calls) only when they are opened, so a report of 10,000+ tests stays small and opens quickly.
Model text is untrusted: the page shows it only as text (``textContent``, never as markup; its
control characters as visible escapes, see :mod:`pytest_llmops._report.text`), and a
Content-Security-Policy allows no script but the report's own (pinned by its hash), no network
and no plugins.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import math
import re
from importlib import resources
from typing import Any, Callable, Mapping, Sequence

from pytest_llmops._collector import paused as collector_paused
from pytest_llmops._report.baseline import missing_lines
from pytest_llmops._report.data import (
    DEFAULT_RANGE,
    REPLAYED_LATENCY,
    call_cost,
    describe_score,
    model_latencies,
)
from pytest_llmops._report.drift import describe as describe_drift
from pytest_llmops._report.merge import incomplete, listed
from pytest_llmops._report.numbers import spelled
from pytest_llmops._report.terminal import endpoint_figures, error_lines, flaky_lines, money, seconds
from pytest_llmops._report.text import visible, well_formed

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
    environment.filters.update(
        money=money, seconds=seconds, score=describe_score, drift=describe_drift, endpoint=endpoint_figures
    )
    template = environment.from_string(templates.joinpath("report.html.jinja").read_text("utf-8"))
    return template.render(
        report=report,
        summary=report["summary"],
        comparison=report.get("baseline"),
        ab=report.get("comparison"),
        drift=report.get("drift") or [],
        errors=error_lines(report["summary"]) + flaky_lines(report.get("flaky") or []),
        replayed=report["summary"].get("replayed_latency_s"),
        replayed_label=REPLAYED_LATENCY,
        missing=missing_lines(report["baseline"]) if report.get("baseline") else [],
        test_count=len(report["tests"]),
        merged=report["run"].get("merged"),
        incomplete=listed(incomplete(report)),
        endpoints=report["run"].get("endpoints") or {},
        charts=charts(report),
        # Data, not markup: the report's script builds the table and each test's details from it.
        data=Markup(embedded_data(report)),
        # The report's own code and style, not model text: trusted, inserted verbatim.
        script=Markup(script),
        style=Markup(templates.joinpath("report.css").read_text("utf-8")),
        script_hash=base64.b64encode(hashlib.sha256(script.encode()).digest()).decode(),
    )


def embedded_data(report: Mapping[str, Any]) -> str:
    """The report's data, once, as the text of a ``<script type="application/json">``.

    Packed to stay small at 10,000+ tests (``report.js`` unpacks it to the report dict): a dict is
    ``[shape, value, ...]`` with its keys in ``shapes[shape - 1]``, a list is ``[0, item, ...]``, a
    string seen before is ``[-1, n]`` (the n-th string written). Every text is as the page shows
    it (control characters as visible escapes, see :mod:`~pytest_llmops._report.text`), every
    non-finite number spelled as the JSON report spells it. No ``<`` is left in it (``\\u003c``),
    so nothing in it can end the script element; U+2028 and U+2029 are escaped too.
    """
    packer = _Packer()
    with collector_paused():
        root = packer.pack(report)
    text = json.dumps(
        {"shapes": packer.shapes, "data": root}, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )
    text = well_formed(_visible_in_json(text))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# In JSON text written with ensure_ascii=False: every escape (so an escaped backslash is never
# read as the start of another), and the raw control characters JSON does not escape.
_JSON_ESCAPE = re.compile(r"\\(?:u00([01][0-9a-f])|(.))|([\x7f-\x9f])")
_C1_CONTROL = re.compile("[\x80-\x9f]")
_SHORT_ESCAPES = {"r": "0d", "b": "08", "f": "0c"}


def _visible_in_json(text: str) -> str:
    """JSON ``text`` with every string in it as :func:`visible` (``lines=True``) makes it: once
    over the whole text rather than string by string."""
    if not _may_hold_control(text):
        return text
    return _JSON_ESCAPE.sub(_visible_escape, text)


def _may_hold_control(text: str) -> bool:
    """Whether JSON ``text`` may hold a control character :func:`visible` escapes (plain
    substring searches are several times faster than one regular expression over 13 MB)."""
    if any(escape in text for escape in ("\\u", "\\r", "\\b", "\\f", "\x7f")):
        return True
    return not text.isascii() and bool(_C1_CONTROL.search(text))


def _visible_escape(match: re.Match[str]) -> str:
    code, short, raw = match.groups()
    if raw is not None:
        return f"\\\\x{ord(raw):02x}"
    code = code or _SHORT_ESCAPES.get(short)
    return f"\\\\x{code}" if code else match.group()  # \n, \t, \", \\ and \/ stay


class _Packer:
    """One walk over the report, in the order ``report.js`` unpacks it."""

    def __init__(self) -> None:
        self.shapes: list[list[str]] = []
        self._shape_ids: dict[tuple[str, ...], int] = {}
        self._strings: dict[str, int] = {}
        self._written = 0

    def pack(self, value: Any) -> Any:
        kind = type(value)  # the exact types first: this runs for every value of the report
        if kind is str:
            return self._string(value)
        if kind is int or kind is bool or value is None:
            return value
        if kind is float:
            return value if math.isfinite(value) else self._string(spelled(value))
        if kind is dict or (kind is not list and isinstance(value, dict)):
            keys = tuple(value)
            shape = self._shape_ids.get(keys)
            if shape is None:
                self.shapes.append([str(key) for key in keys])
                shape = self._shape_ids[keys] = len(self.shapes)
            return [shape, *map(self.pack, value.values())]
        if kind is list or isinstance(value, (list, tuple)):
            return [0, *map(self.pack, value)]
        if isinstance(value, str):
            return self._string(value)
        if isinstance(value, float) and not math.isfinite(value):  # a float subclass
            return self._string(spelled(value))
        return value

    def _string(self, value: str) -> Any:
        seen = self._strings.get(value)
        if seen is not None and len(value) > 8:
            return [-1, seen]
        if seen is None:
            self._strings[value] = self._written
        self._written += 1
        return value


def _shown(value: Any) -> Any:
    """Every value the template prints: text with its control characters visible (and then
    autoescaped); the report's own markup (``__html__``) as it is."""
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return visible(value, lines=True)
    return value


def charts(report: Mapping[str, Any]) -> dict[str, Any]:
    """Geometry of the report's charts: score histograms per metric on the metric's own range,
    latency, cost per test. A chart of a single value (one score, every cost $0) is left out."""
    tests = report["tests"]
    scores: dict[str, list[float]] = {}
    for test in tests:
        for score in test["scores"]:
            scores.setdefault(score["key"], []).append(float(score["value"]))
    metrics = report["summary"]["metrics"]
    latencies = model_latencies(tests)
    costs = sorted(
        ((call_cost(t), t["nodeid"]) for t in tests if t["calls"] and math.isfinite(call_cost(t))),
        key=lambda pair: (-pair[0], pair[1]),
    )[:COST_BARS]
    return {
        "scores": [
            {"key": key, **histogram(values, *_scale(metrics.get(key)))}
            for key, values in sorted(scores.items())
            if _varied(values)
        ],
        "latency": histogram(latencies, 0.0, None, seconds) if _varied(latencies) else None,
        "cost": bars(costs) if _varied([cost for cost, _ in costs]) else None,
    }


def _varied(values: Sequence[float]) -> bool:
    """Whether ``values`` hold two finite values that differ as the report shows them (to 4
    significant digits: an embedding's 0.99999994 is its 1.0): a chart of one value says nothing."""
    return len({f"{value:.4g}" for value in values if math.isfinite(value)}) > 1


def _scale(metric: Mapping[str, Any] | None) -> tuple[float, float | None]:
    """Where a metric's histogram starts and ends: its range (older reports have none: 0 to 1);
    an unbounded end is the data's."""
    low, high = (metric or {}).get("range", DEFAULT_RANGE)
    return (0.0 if low is None else low), high


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
    """``(op, text)`` pieces turning ``before`` into ``after``: op is equal, delete or insert.

    The page computes its diffs itself (``wordDiff`` in ``report.js``, when details open); this is
    the same word-level diff for Python callers: each change its whole deleted run, then its
    whole inserted run (white space between two changes joins them)."""
    old, new = _TOKENS.findall(before), _TOKENS.findall(after)
    opcodes = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    pieces: list[tuple[str, str]] = []
    deleted = inserted = ""
    for index, (op, i1, i2, j1, j2) in enumerate(opcodes):
        removed, added = "".join(old[i1:i2]), "".join(new[j1:j2])
        between_changes = bool(deleted or inserted) and index + 1 < len(opcodes) and not removed.strip()
        if op == "equal" and not between_changes:
            pieces += _change(deleted, inserted)
            pieces.append(("equal", removed))
            deleted = inserted = ""
        else:
            deleted, inserted = deleted + removed, inserted + added
    return pieces + _change(deleted, inserted)


def _change(deleted: str, inserted: str) -> list[tuple[str, str]]:
    return [(op, text) for op, text in (("delete", deleted), ("insert", inserted)) if text]
