"""Crashes: a run killed with SIGKILL in the middle of writing a file loses nothing it had written.

The inner run kills itself with SIGKILL at an exact moment of a write, found through Python's
audit events: when a temporary file is created (``open``) or just before it is renamed over
the real file (``os.rename``, raised by ``os.replace``). Afterwards every recording, snapshot
and report is complete or absent, and the next run recovers: it passes, records what was
lost (and nothing twice), writes the snapshot and reports, and can prune the dead temp files.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import yaml

from pytest_llmops._report.json_report import validate

pytest_plugins = ["pytester"]

TESTS = 30

# Installed only when the outer test asks for a kill (audit hooks cannot be removed).
KILLER = """
import os, signal, sys

WHEN = os.environ.get("KILL_WHEN")  # "<audit event>:<text in the file name>:<writes to let through>"
if WHEN:
    EVENT, NEEDLE, AFTER = WHEN.split(":")
    seen = []

    def kill_at_the_write(event, args):
        if event != EVENT:
            return
        path = str(args[1] if event == "os.rename" else args[0])  # the real file; the temp file
        if NEEDLE in path and (event == "os.rename" or path.endswith(".tmp")):
            seen.append(path)
            if len(seen) > int(AFTER):
                os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(kill_at_the_write)
"""

SUITE = f"""
import pytest

@pytest.mark.parametrize("n", range({TESTS}))
def test_call(llm, prompt, golden, n):
    golden.check(llm.complete(prompt("ask", question=f"question {{n}}")))
"""

ARGS = (
    "--llm-model",
    "echo",
    "--llm-snapshot-update",
    "-p",
    "no:cacheprovider",
    "--llm-report-json",
    "report.json",
    "--llm-report-html",
    "report.html",
    "--llm-report-md",
    "report.md",
)


def whole_recordings(root: Path) -> dict[str, str]:
    """Every recording file, each of which must be complete: the prompt it answered, by file."""
    found = {}
    for path in sorted((root / "llm_recordings").rglob("[0-9a-f]*.json")):
        recording = json.loads(path.read_text())
        assert recording["completion"]["text"] == recording["key"]["request"]["messages"][0]["content"]
        found[path.name] = recording["completion"]["text"]
    return found


def assert_complete_or_absent(root: Path) -> None:
    whole_recordings(root)
    snapshot = root / "__llm_snapshots__" / "test_crash.yaml"
    if snapshot.exists():
        entries = yaml.safe_load(snapshot.read_text())["tests"]
        assert sorted(entries) == sorted(f"test_call[{n}]" for n in range(TESTS))
        assert all(entry["references"]["output"].startswith("Ask: question ") for entry in entries.values())
    if (root / "report.json").exists():
        report = json.loads((root / "report.json").read_text())
        assert validate(report) is None and report["summary"]["tests"]["passed"] == TESTS
    if (root / "report.html").exists():
        assert (root / "report.html").read_text().rstrip().endswith("</html>")
    if (root / "report.md").exists():
        markdown = (root / "report.md").read_text()
        assert f"| {TESTS} | {TESTS} | 0 | 0 | 0 |" in markdown and markdown.endswith("|\n")


@pytest.mark.slow
@pytest.mark.parametrize(
    "when",
    [
        "open:llm_recordings:10",  # the 11th recording's temp file just created, nothing in it yet
        "os.rename:llm_recordings:10",  # the 11th recording written to its temp file, not yet renamed
        "os.rename:report.json:0",
        "open:report.html:0",
        "os.rename:__llm_snapshots__:0",
    ],
    ids=["recording-created", "recording-renamed", "json-report", "html-report", "snapshot"],
)
def test_a_run_killed_mid_write_leaves_whole_files_and_the_next_run_recovers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    (pytester.path / "prompts").mkdir()
    (pytester.path / "prompts" / "ask.jinja").write_text("Ask: {{ question }}\n")
    pytester.makeconftest(KILLER)
    pytester.makepyfile(test_crash=SUITE)

    monkeypatch.setenv("KILL_WHEN", when)
    killed = pytester.runpytest_subprocess(*ARGS)
    assert killed.ret == -signal.SIGKILL
    assert_complete_or_absent(pytester.path)
    survived = whole_recordings(pytester.path)
    temp_files = sorted(p.name for p in pytester.path.rglob("*.tmp"))
    if when.startswith("os.rename:llm_recordings"):
        assert len(survived) == 10 and len(temp_files) == 1  # written in full, never renamed: not a recording
    if when.endswith(":llm_recordings:10"):
        assert not (pytester.path / "__llm_snapshots__").exists() and not (pytester.path / "report.json").exists()
    else:
        assert len(survived) == TESTS

    monkeypatch.delenv("KILL_WHEN")
    recovered = pytester.runpytest(*ARGS, "--llm-recordings-prune")
    recovered.assert_outcomes(passed=TESTS)
    recovered.stdout.fnmatch_lines([f"{len(survived)} call(s) replayed, {TESTS - len(survived)} recorded (mode new)*"])
    assert_complete_or_absent(pytester.path)
    assert len(whole_recordings(pytester.path)) == TESTS
    for name in ("report.json", "report.html", "report.md", "__llm_snapshots__/test_crash.yaml"):
        assert (pytester.path / name).is_file()
    assert not list((pytester.path / "llm_recordings").rglob("*.tmp"))  # a dead writer's temp file is pruned
