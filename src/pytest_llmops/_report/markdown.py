"""The Markdown summary: for ``$GITHUB_STEP_SUMMARY`` and pull-request comments.

Test ids, metric names, figures and one-line reasons appear here; model output only in the
transcripts of the first few failing conversation tests, each message shortened to one line. Every
untrusted value goes through :func:`cell`, so the summary is safe to post as a pull-request
comment: a test id or an error message cannot break the table or a code span, inject HTML,
make a link or an image, or @-mention anyone.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Sequence

from pytest_llmops._report.baseline import gate_lines, latency_line, missing_lines
from pytest_llmops._report.data import REPLAYED_LATENCY
from pytest_llmops._report.drift import describe
from pytest_llmops._report.merge import incomplete, listed
from pytest_llmops._report.terminal import error_lines, flaky_lines, money, seconds
from pytest_llmops._report.text import visible

# Markdown's punctuation, backslash-escaped; "<", ">" and "&" become entities instead.
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#!~|])")
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# GitHub links these even when escaped (it reads the rendered text): @user, @org/team,
# #123, e-mail addresses, http:// and www. URLs. A word joiner (U+2060, invisible) after
# the "@", the "#" or the scheme's ":" breaks each pattern.
_AUTOLINKED = re.compile(r"(@|#|:(?=//)|www(?=\.))", re.IGNORECASE)
_WORD_JOINER = "\u2060"


def cell(value: object) -> str:
    """``value`` as inert inline Markdown (a table cell, a list item): one line; control
    characters visible; punctuation escaped; ``&``, ``<`` and ``>`` as entities; nothing a
    pull-request comment would turn into a link, an image, a mention or HTML."""
    text = visible(" ".join(str(value).split()))
    text = _PUNCTUATION.sub(r"\\\1", text)
    text = text.translate(_ENTITIES)
    return _AUTOLINKED.sub(lambda match: match.group() + _WORD_JOINER, text)


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    summary = report["summary"]
    tests, calls, tokens, cost, latency = (
        summary["tests"],
        summary["calls"],
        summary["tokens"],
        summary["cost_usd"],
        summary["latency_s"],
    )
    comparison = report.get("baseline")
    verdict = ""
    if comparison is not None:
        verdict = " — baseline gate **FAILED**" if comparison["failed"] else " — baseline gate passed"
    lines = [f"## pytest-llmops report{verdict}", ""]
    errors = error_lines(summary) + flaky_lines(report.get("flaky") or [])
    if errors:
        lines += [f"- {cell(line)}" for line in errors] + [""]
    for change in report.get("drift") or []:
        lines += [
            f"> **Served model changed**{' (fails the run)' if change['fails'] else ''}: {cell(describe(change))}",
            "",
        ]
    lines += table(
        [
            "tests",
            "passed",
            "failed",
            "error",
            "skipped",
            "calls (replayed)",
            "tokens in / out",
            "live cost",
            "saved by replay",
            "live latency p50 / p95 / max",
        ],
        [
            [
                tests["total"],
                tests["passed"],
                tests["failed"],
                tests["error"],
                tests["skipped"],
                f"{calls['total']} ({calls['cached']})",
                f"{tokens['prompt']:,} / {tokens['completion']:,}",
                money(cost["live"]),
                money(cost["saved"]),
                f"{seconds(latency['p50'])} / {seconds(latency['p95'])} / {seconds(latency['max'])}",
            ]
        ],
    )
    lines += _merged(report["run"])
    endpoints = report["run"].get("endpoints") or {}
    if endpoints:
        lines += ["", "### Endpoints", ""]
        lines += table(
            ["endpoint", "429 answers", "lowest concurrency", "final concurrency", "calls waited"],
            [
                [name, f["rate_limited"], f["lowest"], f["final"], seconds(f["waited_s"])]
                for name, f in endpoints.items()
            ],
        )
    if summary.get("streaming"):
        lines += ["", "### Streaming", ""]
        lines += table(
            ["model", "streamed calls", "time to first token p50 / p95", "tokens/s p50 / p95", "gate"],
            [
                [
                    spec,
                    f"{s['calls']}{' (replayed)' if s['replayed'] else ''}",
                    f"{seconds(s['ttft_s']['p50'])} / {seconds(s['ttft_s']['p95'])}",
                    f"{s['tokens_per_s']['p50']:.1f} / {s['tokens_per_s']['p95']:.1f}"
                    if s["tokens_per_s"]["count"]
                    else "-",
                    "FAILED: " + "; ".join(s["failed"]) if s["failed"] else "passed",
                ]
                for spec, s in summary["streaming"].items()
            ],
        )
    replayed = summary.get("replayed_latency_s")
    if replayed and replayed["count"]:
        lines += [
            "",
            f"Latency {REPLAYED_LATENCY}, {replayed['count']} calls: p50 / p95 / max "
            f"{seconds(replayed['p50'])} / {seconds(replayed['p95'])} / {seconds(replayed['max'])}.",
        ]
    budget = summary["budget"]
    if budget is not None:
        lines += [
            "",
            f"Budget: {money(budget['spent_usd'])} of {money(budget['limit_usd'])} spent; "
            f"{len(budget['refused_tests'])} tests refused.",
        ]
    if summary["metrics"]:
        lines += ["", "### Metrics", ""]
        lines += table(
            ["metric", "scores", "pass rate", "mean", "min", "max"],
            [
                [key, m["count"], f"{m['pass_rate']:.0%}", f"{m['mean']:.3f}", f"{m['min']:.3f}", f"{m['max']:.3f}"]
                for key, m in summary["metrics"].items()
            ],
        )
    changed = changed_prompts(report["tests"])
    if changed:
        lines += ["", "### Changed prompts", ""]
        lines += table(["prompt", "version", "hash", "tests"], [[*prompt, count] for prompt, count in changed])
    if summary["worst_tests"]:
        lines += ["", "### Worst tests", ""]
        lines += table(
            ["test", "outcome", "why"], [[t["nodeid"], t["outcome"], t["reason"]] for t in summary["worst_tests"]]
        )
    lines += _conversations(report["tests"])
    if comparison is not None:
        lines += ["", *_baseline(comparison)]
    if report.get("comparison"):
        lines += ["", *_ab(report["comparison"])]
    return "\n".join(lines) + "\n"


def _conversations(tests: Sequence[Mapping[str, Any]]) -> list[str]:
    """The transcripts of the first failing or erroring conversation tests: what a reviewer
    needs to see why, each message one inert line of at most :data:`TRANSCRIPT_LINE` characters."""
    failing = [t for t in tests if t["outcome"] in ("failed", "error") and t["extra"].get("conversations")]
    lines = []
    for test in failing[:TRANSCRIPTS]:
        for conversation in test["extra"]["conversations"]:
            lines += ["", f"### Conversation of {cell(test['nodeid'])} ({test['outcome']})", ""]
            lines += table(
                ["#", "role", "text"],
                [[i, m["role"], _shortened(m["content"])] for i, m in enumerate(conversation["messages"], 1)],
            )
    more = len(failing) - TRANSCRIPTS
    return lines + (
        ["", f"{more} more failing conversation tests: their transcripts are in the HTML report."] if more > 0 else []
    )


#: How many failing conversation tests show their transcripts, and the longest message shown.
TRANSCRIPTS = 3
TRANSCRIPT_LINE = 200


def _shortened(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= TRANSCRIPT_LINE else text[: TRANSCRIPT_LINE - 3] + "..."


def _latency(variant: Mapping[str, Any]) -> str:
    """A variant's live p50 / p95, else its replayed one, marked so."""
    live, replayed = variant["latency_s"], variant["replayed_latency_s"]
    shown = live if live["count"] or not replayed["count"] else replayed
    return f"{seconds(shown['p50'])} / {seconds(shown['p95'])}" + ("" if shown is live else " (replayed)")


def _ab(comparison: Mapping[str, Any]) -> list[str]:
    """Each variant's own figures side by side, then its paired verdict against the control."""
    variants = comparison["variants"]
    keys = sorted({key for v in variants for key in v["metrics"]})
    settings = comparison["settings"]
    lines = [f"### A/B comparison (control: {cell(comparison['control'] or 'did not run')})", ""]
    lines += table(
        ["variant", "model", "prompts", "tests", "pass rate", *keys, "cost", "tokens", "latency p50 / p95"],
        [
            [
                v["label"] + (" (control)" if v["control"] else ""),
                ", ".join(v["models"]),
                ", ".join(v["prompts"]),
                v["tests"],
                "-" if v["pass_rate"] is None else f"{v['pass_rate']:.0%}",
                *(f"{v['metrics'][k]['mean']:.3f}" if k in v["metrics"] else "-" for k in keys),
                money(v["cost_usd"]),
                f"{v['tokens']:,}",
                _latency(v),
            ]
            for v in variants
        ],
    )
    lines += [
        "",
        f"Paired against the control: mean difference [{settings['confidence']:.0%} bootstrap interval, "
        f"seed {settings['seed']}], cases better / worse; McNemar's exact p on pass/fail.",
        "",
    ]
    lines += [f"- {cell(v['verdict'])}" for v in variants if not v["control"]]
    failed = [
        f"{v['label']}: {reason}"
        for v in variants
        if v.get("gate", {}).get("failed")
        for reason in v["gate"]["reasons"]
    ]
    if settings["gate"]:
        lines += (
            ["", "**A/B gate FAILED:**", "", *(f"- {cell(line)}" for line in failed)]
            if failed
            else ["", f"A/B gate passed ({cell(', '.join(settings['gate']))})."]
        )
    return lines


def _merged(run: Mapping[str, Any]) -> list[str]:
    """A merged report's parts, and each test missing or found twice."""
    merged = run.get("merged")
    if not merged:
        return []
    problems = listed(incomplete({"run": run}))
    lines = ["", f"Merged from {len(merged['reports'])} reports" + (": **incomplete**" if problems else ".")]
    return lines + ([""] + [f"- {cell(line)}" for line in problems] if problems else [])


def changed_prompts(tests: Iterable[Mapping[str, Any]]) -> list[tuple[tuple[str, str, str], int]]:
    """Each changed prompt as ``((name, declared version, hash start), tests that used it)``, in
    that order: an edit that kept its declared version still shows by its hash."""
    counts: dict[tuple[str, str, str], int] = {}
    for test in tests:
        for prompt in {
            (str(p["name"]), str(p.get("version") or ""), str(p.get("hash") or "")[:8])
            for p in test["prompts"]
            if p["changed"]
        }:
            counts[prompt] = counts.get(prompt, 0) + 1
    return sorted(counts.items())


def _baseline(comparison: Mapping[str, Any]) -> list[str]:
    cost, latency = comparison["cost"], comparison["latency"]
    changed = [s for s in comparison["scores"] if s["status"] != "unchanged"]
    lines = [
        f"### Against the baseline ({cell(comparison['path'])})",
        "",
        f"{len(changed)} score changes beyond tolerance, {len(comparison['new_tests'])} new tests, "
        f"{len(comparison['removed_tests'])} removed, {len(comparison['not_run_tests'])} not run. Cost {money(cost['baseline_usd'])} → "
        f"{money(cost['current_usd'])}; {latency_line(latency, seconds, '→')}.",
    ]
    if comparison["failed"]:
        lines += ["", "**Regressions:**", ""] + [f"- {cell(line)}" for line in gate_lines(comparison)]
    if changed:
        lines += [""] + table(
            ["test", "metric", "baseline", "now", "change", "status"],
            [
                [
                    s["nodeid"],
                    s["key"],
                    f"{s['baseline']['mean']:.3f}",
                    f"{s['current']['mean']:.3f}",
                    f"{s['change']:+.3f}",
                    s["status"],
                ]
                for s in changed
            ],
        )
    if comparison["new_tests"]:
        lines += ["", "New tests: " + ", ".join(cell(n) for n in comparison["new_tests"])]
    lines += [line for missing in missing_lines(comparison) for line in ("", cell(missing))]
    return lines
