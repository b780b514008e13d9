"""Several JSON reports of one run (CI shards, or jobs given different paths) as one report.

The parts must describe the same run: the same commit, plugin version, settings
(``run.settings``: models, generation, prices, record mode, budget share, gate tolerances) and
command-line selection, and, when sharded, the same number of shards with no shard twice.
The merged report holds every part's tests (the first part's row when a test is in two) and
aggregates computed afresh from them, so its totals are the parts' sums (the models' call
counts too, gated again by ``llm_max_error_rate``), the served-model changes the parts saw,
and the flaky tests (this run's afresh, the history's as the parts found them); ``run.merged`` lists
the parts, the tests found in more than one, and the tests no part ran (a missing shard's, or
those a shard collected but never reached). Its budget is the sum of the parts' limits: with
``llm_budget_usd`` each shard's share.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pytest_llmops._calls.endpoints import merged as merged_endpoints
from pytest_llmops._report.data import CALL_COUNTS, DEFAULT_RANGE, SCHEMA, SCHEMA_VERSION, model_summary, summarize
from pytest_llmops._report.flaky import combined, flaky_in_run, reason
from pytest_llmops._report.selection import Selection
from pytest_llmops._shards import Shard, shard_of

#: The run facts every part must share, and how a message names each.
SHARED = (("commit", "commit"), ("version", "pytest-llmops version"), ("settings", "settings"))


class MergeError(ValueError):
    """The reports cannot be merged; the message names the files and what differs."""


@dataclass(frozen=True)
class Part:
    """One report to merge, and the path it was read from (for messages and ``run.merged``)."""

    path: str
    report: Mapping[str, Any]

    @property
    def shard(self) -> Shard | None:
        return Shard.from_dict(self.report["run"].get("shard"))

    @property
    def selection(self) -> Selection:
        return Selection.from_dict(self.report["run"].get("selection"))


def merge(parts: Sequence[Part], created: datetime.datetime | None = None) -> dict[str, Any]:
    """One report of ``parts``; :class:`MergeError` when they are not parts of one run."""
    if not parts:
        raise MergeError("no reports to merge")
    _check_alike(parts)
    by_shard = _check_shards(parts)
    rows: dict[str, dict[str, Any]] = {}
    found_in: dict[str, list[str]] = {}
    for part in parts:
        for row in part.report["tests"]:
            rows.setdefault(row["nodeid"], row)
            found_in.setdefault(row["nodeid"], []).append(part.path)
    missing = _missing(parts, by_shard, rows.keys())
    first = parts[0].report["run"]
    run = {
        **{key: first.get(key) for key in ("model", "judge_model", "record_mode", "commit", "version", "settings")},
        "created": (created or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds"),
        "selection": _selection(parts, rows.keys(), {m["nodeid"] for m in missing}),
        "shard": None,
        "endpoints": merged_endpoints(part.report["run"].get("endpoints") or {} for part in parts),
        "merged": {
            "reports": [
                {
                    "path": p.path,
                    "shard": p.report["run"].get("shard"),
                    "created": p.report["run"].get("created"),
                    "tests": len(p.report["tests"]),
                }
                for p in parts
            ],
            "missing_shards": [str(Shard(i, _total(parts))) for i in _missing_shards(parts, by_shard)],
            "missing_tests": missing,
            "duplicated_tests": [
                {"nodeid": n, "reports": paths} for n, paths in sorted(found_in.items()) if len(paths) > 1
            ],
        },
    }
    tests = [rows[nodeid] for nodeid in sorted(rows)]
    ranges = _ranges(parts)
    summary = summarize(tests, _budget(parts), lambda name: ranges.get(name, DEFAULT_RANGE))
    max_error_rate = (first.get("settings") or {}).get("max_error_rate")
    summary["models"] = model_summary(tests, _call_counts(parts), max_error_rate)
    summary["max_error_rate"] = max_error_rate
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "summary": summary,
        "tests": tests,
        "baseline": None,
        "comparison": None,
        "drift": _drift(parts),
        "flaky": combined(
            flaky_in_run(tests),
            (entry for part in parts for entry in part.report.get("flaky") or () if reason(entry) == "history"),
        ),
    }


def incomplete(report: Mapping[str, Any]) -> list[str]:
    """Why a merged report is not the whole run, one line each (empty: it is)."""
    merged = report["run"].get("merged") or {}
    lines = [f"shard {shard} is missing: no report of it was given" for shard in merged.get("missing_shards", ())]
    lines += [f"{m['nodeid']}: {m['why']}" for m in merged.get("missing_tests", ())]
    lines += [
        f"{d['nodeid']}: in {len(d['reports'])} reports ({', '.join(d['reports'])}); the first is kept"
        for d in merged.get("duplicated_tests", ())
    ]
    return lines


def listed(lines: Sequence[str], limit: int = 10) -> list[str]:
    """The first ``limit`` of ``lines``, and how many more the JSON report holds."""
    more = len(lines) - limit
    return list(lines[:limit]) + ([f"and {more} more (all in run.merged of the JSON report)"] if more > 0 else [])


def _check_alike(parts: Sequence[Part]) -> None:
    first = parts[0]
    for part in parts[1:]:
        for key, name in SHARED:
            if part.report["run"].get(key) != first.report["run"].get(key):
                raise MergeError(
                    f"{part.path} and {first.path} are not parts of one run: their {name} differ"
                    f"{_difference(first.report['run'].get(key), part.report['run'].get(key))}"
                )
        mine, theirs = part.selection, first.selection
        if (mine.asked, mine.ignored, mine.ignored_globs) != (theirs.asked, theirs.ignored, theirs.ignored_globs):
            raise MergeError(
                f"{part.path} and {first.path} are not parts of one run: they were given different "
                f"paths or --ignore options ({list(theirs.asked)} and {list(mine.asked)})"
            )


def _difference(one: Any, other: Any) -> str:
    """``: model 'a' and 'b'`` for the first setting two ``run.settings`` differ in; a commit's or
    version's two values."""
    if isinstance(one, Mapping) and isinstance(other, Mapping):
        for key in sorted(one.keys() | other.keys()):
            if one.get(key) != other.get(key):
                return f" ({key}: {one.get(key)!r} and {other.get(key)!r})"
        return ""
    return f" ({one!r} and {other!r})"


def _check_shards(parts: Sequence[Part]) -> dict[int, Part]:
    """The parts by shard index; refused: sharded and unsharded parts mixed, different totals,
    a shard twice."""
    sharded = [(part, part.shard) for part in parts if part.shard is not None]
    if not sharded:
        return {}
    first, first_shard = sharded[0]
    if len(sharded) < len(parts):
        unsharded = next(part for part in parts if part.shard is None)
        raise MergeError(
            f"{unsharded.path} is not a shard (no llm_shard) but {first.path} is: "
            "merge the shards of one run, or reports none of which is a shard"
        )
    by_shard: dict[int, Part] = {}
    for part, shard in sharded:
        if shard.total != first_shard.total:
            raise MergeError(
                f"{part.path} is shard {shard} but {first.path} is shard {first_shard}: "
                "the shards of one run split it into the same number of parts"
            )
        if shard.index in by_shard:
            raise MergeError(f"shard {shard} is given twice: {by_shard[shard.index].path} and {part.path}")
        by_shard[shard.index] = part
    return by_shard


def _total(parts: Sequence[Part]) -> int:
    shard = parts[0].shard
    return shard.total if shard is not None else 1


def _missing_shards(parts: Sequence[Part], by_shard: Mapping[int, Part]) -> list[int]:
    return [i for i in range(1, _total(parts) + 1) if i not in by_shard] if by_shard else []


def _missing(parts: Sequence[Part], by_shard: Mapping[int, Part], merged: Any) -> list[dict[str, str]]:
    """Tests a part collected that no part ran, and why: its shard's report is missing, the shard
    stopped before it, or its shard never collected it. A test deselected in its own shard (by
    ``-k``, ``-m``, ...) is not missing."""
    left_out: set[str] = set()
    for part in parts:
        selection = part.selection
        left_out |= selection.deselected | selection.not_reached
    left_out -= set(merged)
    missing = []
    for nodeid in sorted(left_out):
        why = _why_missing(nodeid, parts, by_shard)
        if why is not None:
            missing.append({"nodeid": nodeid, "why": why})
    return missing


def _why_missing(nodeid: str, parts: Sequence[Part], by_shard: Mapping[int, Part]) -> str | None:
    if not by_shard:  # parts split by paths: only a test a part did not reach is missing
        for part in parts:
            if nodeid in part.selection.not_reached:
                return f"not reached in {part.path} (the run stopped early)"
        return None
    shard = Shard(shard_of(nodeid, _total(parts)), _total(parts))
    own = by_shard.get(shard.index)
    if own is None:
        return f"its shard {shard} has no report"
    if nodeid in own.selection.not_reached:
        return f"not reached in shard {shard} ({own.path}: the run stopped early)"
    if nodeid in own.selection.deselected:
        return None
    return f"shard {shard} ({own.path}) did not collect it, while another shard did"


def _selection(parts: Sequence[Part], merged: Any, missing: set[str]) -> dict[str, Any]:
    """The merged run's selection: the parts' paths; deselected what every part that could run a
    test left out; the missing tests as not reached (so a baseline does not count them removed)."""
    first = parts[0].selection
    deselected = set().union(*(part.selection.deselected for part in parts)) - set(merged) - missing
    return Selection(
        first.asked, first.ignored, first.ignored_globs, frozenset(deselected), frozenset(missing)
    ).to_dict()


def _budget(parts: Sequence[Part]) -> float | None:
    """The merged budget: the sum of the parts' limits (each shard's share), or None without one."""
    budgets = [part.report["summary"].get("budget") for part in parts]
    if any(budget is None for budget in budgets):
        return None
    return sum(float(budget["limit_usd"]) for budget in budgets)


def _call_counts(parts: Sequence[Part]) -> dict[str, dict[str, int]]:
    """Per model spec, the parts' pipeline counts (attempts, failures, retries) added up."""
    counts: dict[str, dict[str, int]] = {}
    for part in parts:
        for spec, model in (part.report["summary"].get("models") or {}).items():
            mine = counts.setdefault(spec, dict.fromkeys(CALL_COUNTS, 0))
            for name in CALL_COUNTS:
                mine[name] += int(model.get(name, 0))
    return counts


def _drift(parts: Sequence[Part]) -> list[dict[str, Any]]:
    """The served-model changes the parts saw (each against its history or baseline), once each."""
    changes: dict[str, dict[str, Any]] = {}
    for part in parts:
        for change in part.report.get("drift") or ():
            changes.setdefault(json.dumps(change, sort_keys=True), dict(change))
    return list(changes.values())


def _ranges(parts: Sequence[Part]) -> dict[str, tuple[float | None, float | None]]:
    """Each metric's scale by name, as the parts' summaries give it."""
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for part in parts:
        for key, entry in part.report["summary"].get("metrics", {}).items():
            low, high = entry.get("range", DEFAULT_RANGE)
            ranges.setdefault(key.partition("[")[0], (low, high))
    return ranges
