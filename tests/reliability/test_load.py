"""Load: 1,000 cases on 4 xdist workers recording in mode ``new``; nothing lost, doubled or torn."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

pytest_plugins = ["pytester"]

MODULES = 4
CASES = 250  # per module: 1,000 tests, 1,000 model calls

SUITE = """
import pytest

@pytest.mark.llm_dataset("cases.jsonl", prompt="ask")
def test_case(case, golden):
    golden.check(case.output)
"""


def files(root: Path, pattern: str) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob(pattern)) if p.is_file()}


@pytest.mark.slow
def test_1000_cases_on_4_workers_write_every_recording_and_snapshot_once(pytester: pytest.Pytester) -> None:
    (pytester.path / "prompts").mkdir()
    (pytester.path / "prompts" / "ask.jinja").write_text("---\nversion: 1\n---\nPlease answer: {{ question }}\n")
    rows = [json.dumps({"id": f"q{n:03d}", "question": f"question {n}"}) for n in range(CASES)]
    (pytester.path / "cases.jsonl").write_text("\n".join(rows) + "\n")
    pytester.makepyfile(**{f"test_load_{m}": SUITE for m in range(MODULES)})
    args = (
        "--llm-model",
        "echo",
        "-n",
        "4",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:benchmark",
        "-q",
        "--llm-report-json",
        "report.json",
    )

    started = time.perf_counter()
    first = pytester.runpytest(*args, "--llm-snapshot-update")
    wall = time.perf_counter() - started
    first.assert_outcomes(passed=MODULES * CASES)
    # The workers' counts, merged on the controller: 1,000 writes for 1,000 distinct files.
    first.stdout.fnmatch_lines([f"0 call(s) replayed, {MODULES * CASES} recorded (mode new) in llm_recordings/"])
    written = [line for line in first.stdout.lines if line.startswith("written: __llm_snapshots__/")]
    assert sorted(written) == [f"written: __llm_snapshots__/test_load_{m}.yaml ({CASES} tests)" for m in range(MODULES)]

    recordings = files(pytester.path / "llm_recordings", "[0-9a-f]*.json")
    assert len(recordings) == MODULES * CASES
    keys = set()
    for name, raw in recordings.items():
        recording = json.loads(raw)  # none torn
        asked = recording["key"]["request"]["messages"][0]["content"]
        assert recording["completion"]["text"] == asked
        keys.add((name.split("/")[0], asked))
    assert keys == {(f"test_load_{m}.py", f"Please answer: question {n}") for m in range(MODULES) for n in range(CASES)}

    snapshots = files(pytester.path / "__llm_snapshots__", "*.yaml")
    assert len(snapshots) == MODULES
    for raw in snapshots.values():
        snapshot = yaml.safe_load(raw)
        assert snapshot["templates"]["ask"]["version"] == "1"
        entries = snapshot["tests"]
        assert sorted(entries) == [f"test_case[q{n:03d}]" for n in range(CASES)]
        for key, entry in entries.items():
            number = int(key[len("test_case[q") : -1])
            assert entry["references"] == {"output": f"Please answer: question {number}"}
            assert list(entry["prompts"]) == ["ask"]
    assert json.loads((pytester.path / "report.json").read_text())["summary"]["tests"]["passed"] == MODULES * CASES
    assert not list(pytester.path.rglob("*.tmp"))

    # The same suite again, replayed on 4 workers: every call found, no file written again.
    second = pytester.runpytest(*args[:-2], "--llm-record-mode", "replay")
    second.assert_outcomes(passed=MODULES * CASES)
    second.stdout.fnmatch_lines([f"{MODULES * CASES} call(s) replayed, 0 recorded (mode replay) in llm_recordings/"])
    assert not [line for line in second.stdout.lines if line.startswith("written: ")]
    assert files(pytester.path / "llm_recordings", "[0-9a-f]*.json") == recordings
    assert files(pytester.path / "__llm_snapshots__", "*.yaml") == snapshots
    print(f"\n{MODULES * CASES} cases on 4 workers, recording: {wall:.1f}s wall")
