"""Compare a run with a baseline report, test by test, and decide whether it regressed.

The rule (also in docs/guide/reports-and-gating.md): scores are paired by test id and metric key. With ``b`` and
``c`` the baseline's and this run's samples of one metric on one test (several scores with the
same key, or the per-sample ``details["values"]`` of a repeated-sampling score), the drop is
``mean(b) - mean(c)`` (sign flipped for lower-is-better metrics) and its standard error is
``sqrt(var(b)/len(b) + var(c)/len(c))`` (sample variances; 0 for a single sample). A pair
regresses when the drop exceeds the metric's allowed drop (``max_score_drop``, or its entry in
``max_score_drop_by_metric``) AND ``NOISE_FACTOR`` standard errors, so a drop within the
samples' noise does not fail the build; an improvement is the mirror image.
Cost (of every call, replayed ones at their recorded price) and p95 model-call latency are
compared over the tests present in both runs, against relative tolerances. Latency compares live
calls only: a replayed call's latency is the recording machine's. When either side has only
replayed calls, latency is not compared (a note says why) and neither passes nor fails; a
baseline older than that split (no ``replayed_latency_s``) counts all its calls as live.

A NaN or infinite value never passes: a score whose mean this run is not finite regressed, and
so did a cost or latency that is not finite (when that check is on). A test that passed in the
baseline and fails or errors now regressed. What the baseline had and this run lacks is named:
metric keys a test no longer scores, tests no longer collected (*removed*), tests this run did
not run (*not run*: see :mod:`~pytest_llmops._report.selection`), tests skipped now; with
``fail_on_missing`` the missing metrics, or the removed and skipped tests, fail the gate too.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from pytest_llmops._files import newer_format
from pytest_llmops._report.data import (
    HARNESS_ROLES,
    SCHEMA,
    SCHEMA_VERSION,
    call_cost,
    model_latencies,
    percentile,
    prompt_text,
)
from pytest_llmops._report.json_report import parse_report, validate
from pytest_llmops._report.numbers import highest, is_number, number
from pytest_llmops._report.selection import Selection

#: How many standard errors a drop must exceed to count (about 97.7% one-sided).
NOISE_FACTOR = 2.0
LISTED_TESTS = 10
#: Outcomes of a test that ran to a verdict (its missing metrics count as missing).
VERDICTS = ("passed", "failed")


class ReportFileError(ValueError):
    """A report file (a baseline, a shard's report) cannot be used; the message names the file
    and the problem."""


@dataclass(frozen=True)
class Tolerances:
    """How much worse a run may be than its baseline; ``None`` turns a check off."""

    max_score_drop: float = 0.05
    max_cost_increase: float | None = None
    max_latency_increase: float | None = None
    max_score_drop_by_metric: Mapping[str, float] = field(default_factory=dict)
    #: ``metrics``: a metric key a test no longer scores fails the gate; ``tests``: a removed
    #: test, or one skipped now that passed in the baseline, fails it.
    fail_on_missing: tuple[str, ...] = ()

    def allowed_drop(self, key: str) -> float:
        """The drop allowed for metric ``key`` (``rougeL[summary]``: that key, then ``rougeL``)."""
        for name in (key, key.partition("[")[0]):
            if name in self.max_score_drop_by_metric:
                return self.max_score_drop_by_metric[name]
        return self.max_score_drop

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Tolerances:
        """The tolerances a report's ``run.settings`` name (a report without them: the defaults),
        so a gate can be computed from JSON reports alone."""
        default = cls()
        return cls(
            max_score_drop=settings.get("max_score_drop", default.max_score_drop),
            max_cost_increase=settings.get("max_cost_increase"),
            max_latency_increase=settings.get("max_latency_increase"),
            max_score_drop_by_metric=dict(settings.get("max_score_drop_by_metric", {})),
            fail_on_missing=tuple(settings.get("fail_on_missing", ())),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_score_drop": self.max_score_drop,
            "max_score_drop_by_metric": dict(sorted(self.max_score_drop_by_metric.items())),
            "max_cost_increase": self.max_cost_increase,
            "max_latency_increase": self.max_latency_increase,
            "noise_factor": NOISE_FACTOR,
            "fail_on_missing": list(self.fail_on_missing),
        }


def load_report(path: Path, what: str = "baseline") -> dict[str, Any]:
    """Read and validate a JSON report written by ``--llm-report-json`` (``what`` it is, for
    messages); NaN and Infinity, as strings or as the bare literals of Python's ``json``, are
    read as those numbers."""
    try:
        data, _ = parse_report(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReportFileError(f"cannot read {what} {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise ReportFileError(f"{what} {path} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ReportFileError(f'{what} {path} is not a pytest-llmops JSON report (no "schema": "{SCHEMA}")')
    newer = newer_format(str(path), "report schema version", data.get("schema_version"), SCHEMA_VERSION)
    if newer:
        raise ReportFileError(newer)
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ReportFileError(
            f"{what} {path} has report schema version {data.get('schema_version')!r}; "
            f"this pytest-llmops reads version {SCHEMA_VERSION}"
        )
    problem = validate(data)
    if problem:
        raise ReportFileError(f"{what} {path} does not match the report schema: {problem}")
    return data


def compare(
    baseline: Mapping[str, Any], report: Mapping[str, Any], tolerances: Tolerances, source: str
) -> dict[str, Any]:
    """The ``baseline`` section of ``report``: what changed since ``baseline`` and the verdict."""
    before = {t["nodeid"]: t for t in baseline["tests"]}
    after = {t["nodeid"]: t for t in report["tests"]}
    paired = sorted(before.keys() & after.keys())
    selection = Selection.from_dict(report["run"].get("selection"))
    absent = [(n, selection.why_not_run(n)) for n in sorted(before.keys() - after.keys())]
    scores = [
        change
        for nodeid in paired
        for change in _score_changes(nodeid, before[nodeid]["scores"], after[nodeid]["scores"], tolerances)
    ]
    missing_metrics = [
        {"nodeid": nodeid, "key": key}
        for nodeid in paired
        if after[nodeid]["outcome"] in VERDICTS
        for key in sorted(_keys(before[nodeid]) - _keys(after[nodeid]))
    ]
    outcome_changes = [
        {"nodeid": n, "baseline": "passed", "current": after[n]["outcome"], "error": after[n]["error"]}
        for n in paired
        if before[n]["outcome"] == "passed" and after[n]["outcome"] != "passed"
    ]
    removed = [nodeid for nodeid, why in absent if why is None]
    cost = _cost_change(paired, before, after, tolerances.max_cost_increase)
    all_live = "replayed_latency_s" not in baseline["summary"]
    latency = _latency_change(paired, before, after, tolerances.max_latency_increase, all_live)
    regressions = [
        {"nodeid": s["nodeid"], "what": "score", "detail": _describe_score_change(s)}
        for s in scores
        if s["status"] == "regressed"
    ]
    for name, section in (("cost", cost), ("latency", latency)):
        if section["regressed"]:
            regressions += [{"nodeid": t["nodeid"], "what": name, "detail": t["detail"]} for t in section["tests"]]
    regressions += _missing_regressions(outcome_changes, missing_metrics, removed, tolerances.fail_on_missing)
    return {
        "path": source,
        "tolerances": tolerances.to_dict(),
        "scores": scores,
        "new_tests": sorted(after.keys() - before.keys()),
        "removed_tests": removed,
        "not_run_tests": [{"nodeid": nodeid, "why": why} for nodeid, why in absent if why is not None],
        "missing_metrics": missing_metrics,
        "outcome_changes": outcome_changes,
        "prompt_changes": [c for n in paired for c in _prompt_changes(n, before[n], after[n])],
        "cost": cost,
        "latency": latency,
        "regressions": regressions,
        "improved": sorted({s["nodeid"] for s in scores if s["status"] == "improved"}),
        "failed": bool(regressions) or cost["regressed"] or latency["regressed"],
    }


def _keys(test: Mapping[str, Any]) -> set[str]:
    return {score["key"] for score in test["scores"]}


def _missing_regressions(
    outcome_changes: Sequence[Mapping[str, Any]],
    missing_metrics: Sequence[Mapping[str, Any]],
    removed: Sequence[str],
    fail_on_missing: Sequence[str],
) -> list[dict[str, Any]]:
    """Tests that fail or error now but passed before; with ``fail_on_missing``, what went missing."""
    regressions = []
    for change in outcome_changes:
        ran = change["current"] in ("failed", "error")
        if ran or "tests" in fail_on_missing:
            why = f": {change['error']}" if change["error"] else ""
            regressions.append(
                {
                    "nodeid": change["nodeid"],
                    "what": "outcome" if ran else "missing_test",
                    "detail": f"passed in the baseline, {change['current']} now{why}",
                }
            )
    if "metrics" in fail_on_missing:
        regressions += [
            {"nodeid": m["nodeid"], "what": "missing_metric", "detail": f"{m['key']} scored in the baseline, not now"}
            for m in missing_metrics
        ]
    if "tests" in fail_on_missing:
        regressions += [
            {"nodeid": n, "what": "missing_test", "detail": "in the baseline, no longer collected"} for n in removed
        ]
    return regressions


def _score_changes(
    nodeid: str, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]], tolerances: Tolerances
) -> list[dict[str, Any]]:
    old, new = _samples(before), _samples(after)
    changes = []
    for key in sorted(old.keys() & new.keys()):
        b, c = old[key]["values"], new[key]["values"]
        higher_is_better = new[key]["higher_is_better"]
        mean_b, mean_c = statistics.fmean(b), statistics.fmean(c)
        change = mean_c - mean_b
        drop = -change if higher_is_better else change
        stderr = math.sqrt(_variance(b) / len(b) + _variance(c) / len(c))
        allowed = tolerances.allowed_drop(key)
        changes.append(
            {
                "nodeid": nodeid,
                "key": key,
                "baseline": {"mean": mean_b, "n": len(b)},
                "current": {"mean": mean_c, "n": len(c)},
                "change": change,
                "stderr": stderr,
                "allowed_drop": allowed,
                "higher_is_better": higher_is_better,
                "status": _score_status(mean_b, mean_c, drop, allowed, stderr),
            }
        )
    return changes


def _score_status(mean_b: float, mean_c: float, drop: float, allowed: float, stderr: float) -> str:
    """A NaN or infinite mean now is a regression; one in the baseline only, an improvement."""
    if not math.isfinite(mean_c):
        return "regressed"
    if not math.isfinite(mean_b):
        return "improved"
    if drop > allowed and drop > NOISE_FACTOR * stderr:
        return "regressed"
    if -drop > allowed and -drop > NOISE_FACTOR * stderr:
        return "improved"
    return "unchanged"


def _prompt_changes(nodeid: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tested model's prompts that differ from the baseline's, call by call."""
    old, new = (
        [prompt_text(c["request"]) for c in test["calls"] if c["role"] not in HARNESS_ROLES] for test in (before, after)
    )
    return [
        {"nodeid": nodeid, "call": index, "baseline": a, "current": b}
        for index, (a, b) in enumerate(zip(old, new))
        if a != b
    ]


def _samples(scores: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = {}
    for score in scores:
        entry = grouped.setdefault(score["key"], {"values": [], "higher_is_better": score["higher_is_better"]})
        samples = score["details"].get("values")  # a repeated-sampling score keeps each sample's value
        if isinstance(samples, list) and samples and all(is_number(v) for v in samples):
            entry["values"] += [number(v) for v in samples]
        else:
            entry["values"].append(number(score["value"]))
    return grouped


def _variance(values: Sequence[float]) -> float:
    """The sample variance; 0 for a single sample (and NaN, not an error, for non-finite ones)."""
    if len(values) < 2:
        return 0.0
    if not all(math.isfinite(v) for v in values):
        return math.nan
    return statistics.variance(values)


def _describe_score_change(change: Mapping[str, Any]) -> str:
    b, c = change["baseline"], change["current"]
    noise = f", noise {NOISE_FACTOR:g}x{change['stderr']:.3g}" if change["stderr"] else ""
    samples = f" (n={b['n']}->{c['n']})" if b["n"] > 1 or c["n"] > 1 else ""
    if not math.isfinite(c["mean"]):
        return f"{change['key']} {b['mean']:.3g} -> {c['mean']:.3g}{samples} (not a finite score)"
    return (
        f"{change['key']} {b['mean']:.3g} -> {c['mean']:.3g}{samples} "
        f"({change['change']:+.3g}; allowed {change['allowed_drop']:g}{noise})"
    )


def _rose_beyond(before: float, after: float, limit: float | None) -> bool:
    """Whether ``after`` is more than ``limit`` (relative) above ``before`` (with a limit): a NaN
    or infinite ``after`` always is; against a NaN or infinite ``before`` a finite one never is."""
    if limit is None:
        return False
    if not math.isfinite(after) or not math.isfinite(before):
        return not math.isfinite(after)
    return after > before * (1 + limit) and after > before


def _relative(before: float, after: float) -> float | None:
    if not before or not math.isfinite(before) or not math.isfinite(after):
        return None
    return (after - before) / before


def _cost_change(
    paired: Sequence[str], before: Mapping[str, Any], after: Mapping[str, Any], limit: float | None
) -> dict[str, Any]:
    old = sum(call_cost(before[n]) for n in paired)
    new = sum(call_cost(after[n]) for n in paired)
    tests: list[dict[str, Any]] = [
        {
            "nodeid": n,
            "baseline_usd": call_cost(before[n]),
            "current_usd": call_cost(after[n]),
            "detail": f"cost ${call_cost(before[n]):.4g} -> ${call_cost(after[n]):.4g}",
        }
        for n in paired
        if _rose_beyond(call_cost(before[n]), call_cost(after[n]), limit if limit is not None else 0.0)
    ]
    tests.sort(key=lambda t: (_ordering(t["baseline_usd"] - t["current_usd"]), t["nodeid"]))
    return {
        "baseline_usd": old,
        "current_usd": new,
        "relative": _relative(old, new),
        "limit": limit,
        "regressed": _rose_beyond(old, new, limit),
        "tests": tests[:LISTED_TESTS],
    }


def _ordering(difference: float) -> float:
    """A difference to sort by, NaN (a non-finite figure) first: the worst is listed first."""
    return -math.inf if math.isnan(difference) else difference


def _live_latencies(tests: Iterable[Mapping[str, Any]], all_live: bool) -> list[float]:
    """Live model-call latencies; every call's from a baseline older than the live/replayed split."""
    tests = list(tests)
    return model_latencies(tests) + (model_latencies(tests, replayed=True) if all_live else [])


def _only_replayed(tests: Iterable[Mapping[str, Any]], all_live: bool) -> bool:
    tests = list(tests)
    return not _live_latencies(tests, all_live) and bool(model_latencies(tests, replayed=True))


def _latency_change(
    paired: Sequence[str], before: Mapping[str, Any], after: Mapping[str, Any], limit: float | None, all_live: bool
) -> dict[str, Any]:
    old_calls = _live_latencies((before[n] for n in paired), all_live)
    new_calls = _live_latencies((after[n] for n in paired), False)
    old = percentile(old_calls, 0.95) if old_calls else 0.0
    new = percentile(new_calls, 0.95) if new_calls else 0.0
    sides = [
        name
        for name, tests, old_format in (("the baseline", before, all_live), ("this run", after, False))
        if _only_replayed((tests[n] for n in paired), old_format)
    ]
    if sides:
        return {
            "baseline_p95_s": old,
            "current_p95_s": new,
            "relative": None,
            "limit": limit,
            "regressed": False,
            "tests": [],
            "not_compared": f"{' and '.join(sides)} made only replayed calls (latencies recorded elsewhere)",
        }
    tests: list[dict[str, Any]] = []
    for nodeid in paired:
        b, c = _live_latencies([before[nodeid]], all_live), _live_latencies([after[nodeid]], False)
        if b and c and _rose_beyond(highest(b), highest(c), limit if limit is not None else 0.0):
            tests.append(
                {
                    "nodeid": nodeid,
                    "baseline_s": highest(b),
                    "current_s": highest(c),
                    "detail": f"slowest call {highest(b):.3g}s -> {highest(c):.3g}s",
                }
            )
    tests.sort(key=lambda t: (_ordering(t["baseline_s"] - t["current_s"]), t["nodeid"]))
    return {
        "baseline_p95_s": old,
        "current_p95_s": new,
        "relative": _relative(old, new),
        "limit": limit,
        "regressed": _rose_beyond(old, new, limit),
        "tests": tests[:LISTED_TESTS],
        "not_compared": None,
    }


def latency_line(latency: Mapping[str, Any], seconds: Callable[[float], str], arrow: str) -> str:
    """The latency comparison in words: ``p95 latency 1.2s -> 1.5s`` or why it was not compared."""
    if latency.get("not_compared"):
        return f"latency not compared: {latency['not_compared']}"
    return f"p95 latency {seconds(latency['baseline_p95_s'])} {arrow} {seconds(latency['current_p95_s'])}"


def gate_lines(comparison: Mapping[str, Any]) -> list[str]:
    """One line per reason the gate failed, naming the tests (for the terminal and Markdown)."""
    lines = []
    cost, latency = comparison["cost"], comparison["latency"]
    if cost["regressed"]:
        lines.append(
            f"cost of the calls ${cost['baseline_usd']:.4g} -> ${cost['current_usd']:.4g} "
            f"(allowed +{cost['limit']:.0%})"
        )
    if latency["regressed"]:
        lines.append(
            f"p95 latency {latency['baseline_p95_s']:.3g}s -> {latency['current_p95_s']:.3g}s "
            f"(allowed +{latency['limit']:.0%})"
        )
    lines += [f"{r['nodeid']}: {r['detail']}" for r in comparison["regressions"]]
    return lines


def missing_lines(comparison: Mapping[str, Any]) -> list[str]:
    """What the baseline had and this run lacks, by name (the gate's verdict aside)."""
    lines = []
    if comparison["removed_tests"]:
        lines.append("removed (no longer collected): " + _listed(comparison["removed_tests"]))
    if comparison["missing_metrics"]:
        lines.append(
            "metrics no longer scored: " + _listed([f"{m['nodeid']} {m['key']}" for m in comparison["missing_metrics"]])
        )
    if comparison["outcome_changes"]:
        lines.append(
            "passed in the baseline, not now: "
            + _listed([f"{c['nodeid']} ({c['current']})" for c in comparison["outcome_changes"]])
        )
    return lines


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:LISTED_TESTS])
    more = len(names) - LISTED_TESTS
    return f"{shown} and {more} more (all in the JSON report)" if more > 0 else shown
