"""Flaky tests that one run shows: k-of-n samples that straddle the threshold, and a pass only
on a rerun (pytest-rerunfailures, whose attempts are one test); labelled in the terminal, the
JSON, HTML and Markdown reports, JUnit properties, and a merge of shards. (Flaky over the run
history: ``test_history.py``.)"""

from __future__ import annotations

import html
import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

pytest_plugins = ["pytester"]

ARGS = ("-p", "no:cacheprovider", "--llm-model", "echo", "--llm-record-mode", "off")

SUITE = """
from pathlib import Path
import pytest

@pytest.mark.golden(metric="contains", samples=4, min_passes=3)
def test_straddles(golden):
    golden.check_samples(["Paris", "Paris.", "It is Paris", "Lyon"], reference="Paris")

@pytest.mark.golden(metric="contains", samples=2)
def test_all_pass(golden):
    golden.check_samples(["Paris", "Paris."], reference="Paris")

def test_passes_on_rerun(llm):
    llm.complete("hello")
    first = Path(__file__).with_name("tried")
    if not first.exists():
        first.touch()
        assert False, "first attempt"

def test_steady(llm):
    llm.complete("hello")
"""

STRADDLES = {"nodeid": "test_suite.py::test_straddles", "reason": "samples", "passed": 3, "failed": 1}
RERUN = {"nodeid": "test_suite.py::test_passes_on_rerun", "reason": "rerun", "reruns": 1}
LINES = [
    "flaky: test_suite.py::test_passes_on_rerun: passed only when run again (1 failed attempt(s) before)",
    "flaky: test_suite.py::test_straddles: 3 of 4 samples passed in this run",
]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_suite=SUITE)
    return pytester


@pytest.mark.parametrize("xdist", [False, True], ids=["one-process", "xdist"])
def test_samples_that_straddle_and_a_pass_on_rerun_are_labelled_everywhere(suite: pytest.Pytester, xdist: bool) -> None:
    reports = ("--llm-report-json", "r.json", "--llm-report-md", "r.md", "--llm-report-html", "r.html")
    parallel = ("-n", "2") if xdist else ()
    result = suite.runpytest_subprocess(*ARGS, "--reruns", "1", "--junitxml", "j.xml", *reports, *parallel)
    assert result.parseoutcomes() == {"passed": 4, "rerun": 1}
    result.stdout.fnmatch_lines_random(LINES)
    assert "flaky: test_suite.py::test_all_pass" not in result.stdout.str()
    report = json.loads((suite.path / "r.json").read_text())
    assert report["flaky"] == [RERUN, STRADDLES]
    rows = {row["nodeid"]: row for row in report["tests"]}
    assert rows[RERUN["nodeid"]]["reruns"] == 1 and rows["test_suite.py::test_steady"]["reruns"] == 0
    assert len(report["tests"]) == 4  # the rerun's attempts are one test
    markdown = (suite.path / "r.md").read_text().replace("\\", "")  # Markdown's escapes gone
    page = html.unescape((suite.path / "r.html").read_text())
    for line in LINES:
        assert f"- {line}" in markdown and line in page
    # JUnit's default family (xunit2) keeps the labels on the testsuite, named after the test.
    suite_properties = {
        p.get("name"): p.get("value") for p in ElementTree.parse(suite.path / "j.xml").getroot().iter("property")
    }
    assert suite_properties["test_suite.test_straddles::llmops.flaky"] == "samples"
    assert suite_properties["test_suite.test_passes_on_rerun::llmops.flaky"] == "rerun"
    assert not any(name.startswith("test_suite.test_steady::llmops.flaky") for name in suite_properties)


def test_junit_xunit1_labels_the_testcase_itself(suite: pytest.Pytester) -> None:
    suite.runpytest(
        *ARGS, "--reruns", "1", "--junitxml", "j.xml", "-o", "junit_family=xunit1", "-o", "junit_suite_name=s"
    )
    labels = {
        case.get("name"): [p.get("value") for p in case.iter("property") if p.get("name") == "llmops.flaky"]
        for case in ElementTree.parse(suite.path / "j.xml").getroot().iter("testcase")
    }
    assert labels["test_straddles"] == ["samples"] and labels["test_steady"] == []
    assert labels["test_passes_on_rerun"] == ["rerun"]


def test_a_failing_test_that_fails_its_reruns_too_is_failed_not_flaky(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_always(llm):\n    llm.complete('hi')\n    assert False\n")
    result = pytester.runpytest(*ARGS, "--reruns", "2", "--llm-report-json", "r.json")
    assert result.parseoutcomes() == {"failed": 1, "rerun": 2}
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["flaky"] == [] and report["tests"][0]["reruns"] == 2
    assert "flaky:" not in result.stdout.str()


def test_a_merge_of_shards_labels_the_flaky_tests_of_every_shard(suite: pytest.Pytester) -> None:
    for index in (1, 2):
        suite.runpytest(*ARGS, "--reruns", "1", f"--llm-shard={index}/2", "--llm-report-json", f"shard-{index}.json")
    merged = subprocess.run(
        [sys.executable, "-m", "pytest_llmops", "merge", "shard-1.json", "shard-2.json", "--json", "run.json"],
        cwd=suite.path,
        capture_output=True,
        text=True,
    )
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert json.loads((suite.path / "run.json").read_text())["flaky"] == [RERUN, STRADDLES]
    for line in LINES:
        assert line in merged.stdout
