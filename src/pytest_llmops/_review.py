"""A reviewer's decisions on a report's outputs: the review file the HTML report exports.

Each case names a test and what the reviewer said of it: ``label`` (good or bad), ``comment``,
``accept`` (its output becomes the reference), and the texts reviewed (the golden checks'
outputs, the judged outputs), so that applying the review can refuse a test whose output is
not what was reviewed any more. The layout is ``_report/review.schema.json``, documented in
``docs/review-schema.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pytest_llmops.errors import ConfigError


@dataclass(frozen=True)
class Decision:
    """What the reviewer decided about one test."""

    nodeid: str
    label: str | None
    comment: str
    accept: bool
    outputs: Mapping[str, str]  # reference name -> the output reviewed
    judged: tuple[Mapping[str, Any], ...]

    def verdict(self, key: str) -> Mapping[str, Any] | None:
        """The judge's verdict under metric ``key`` in the reviewed report (its output, question
        and reference), or None when it had none."""
        return next((j for j in self.judged if j["key"] == key), None)


@dataclass(frozen=True)
class Review:
    path: Path
    reviewer: str
    decisions: Mapping[str, Decision]


def load_review(path: Path) -> Review:
    """The review in ``path``; a :class:`ConfigError` names the file and what is wrong."""
    from pytest_llmops._report.json_report import validate

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"--llm-apply-review: cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise ConfigError(f"--llm-apply-review: {path} is not JSON ({error})") from None
    problem = validate(data, "review") if isinstance(data, dict) else "(top level): not an object"
    if problem is not None:
        raise ConfigError(f"--llm-apply-review: {path} is not a pytest-llmops review file: {problem}")
    decisions = {}
    for case in data["cases"]:
        decisions[case["nodeid"]] = Decision(
            case["nodeid"],
            case["label"],
            case["comment"],
            case["accept"],
            {o["name"]: o["output"] for o in case["outputs"]},
            tuple(case["judged"]),
        )
    return Review(path, data["reviewer"], decisions)


def label_entry(decision: Decision, reviewer: str, judged: Mapping[str, Any]) -> dict[str, Any]:
    """A labelled case for a judge's calibration file, as the calibration reads it."""
    return {
        "output": judged["output"],
        "question": judged.get("question"),
        "reference": judged.get("reference"),
        "label": decision.label,
        "comment": decision.comment,
        "reviewer": reviewer,
        "test": decision.nodeid,
    }


def append_labels(path: Path, entries: list[dict[str, Any]]) -> None:
    """Append ``entries`` to the JSONL calibration file ``path`` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ends_open = path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n")
    with path.open("a", encoding="utf-8", newline="\n") as stream:
        if ends_open:
            stream.write("\n")
        stream.writelines(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
