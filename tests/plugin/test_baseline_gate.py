"""The baseline gate and what went missing: removed vs not-run tests, lost metrics, lost passes.

Each test records a baseline with one run, changes the suite or the command line, and runs
again with ``--llm-baseline``: exit code, terminal lines and the JSON report's comparison.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

ARGS = ("-p", "no:cacheprovider", "--llm-record-mode", "off")

MODULE = """
import json
import pytest
from pytest_llmops._results import Score

@pytest.mark.parametrize("name", ["one", "two"])
def test_case(llm_record, request, name):
    step = json.loads((request.config.rootpath / "plan.json").read_text()).get(name, "pass")
    if step == "error":
        raise RuntimeError("the fixture broke")
    if step == "skip":
        pytest.skip("no API key")
    llm_record.add_score(Score("rougeL", 0.9, 0.5, True))
    if step != "drop-metric":
        llm_record.add_score(Score("exact", 1.0, 1.0, True))

@pytest.mark.slow
def test_slow(llm_record):
    llm_record.add_score(Score("rougeL", 0.9, 0.5, True))
"""


def suite(pytester: pytest.Pytester, plan: dict[str, str] | None = None) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow\n")
    pytester.path.joinpath("plan.json").write_text(json.dumps(plan or {}))
    for name in ("test_a.py", "sub/test_b.py"):
        path = pytester.path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(MODULE)


def baseline(pytester: pytest.Pytester, subprocess: bool = False) -> None:
    suite(pytester)
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    run(*ARGS, "--llm-report-json", "base.json").assert_outcomes(passed=6)


def gated(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> tuple[pytest.RunResult, dict[str, Any]]:
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    result = run(*ARGS, "--llm-baseline", "base.json", "--llm-report-json", "now.json", *args)
    report = json.loads(Path(pytester.path, "now.json").read_text())
    return result, report["baseline"]


NARROWED = [
    pytest.param(["-k", "one"], "deselected", id="-k"),
    pytest.param(["-m", "not slow"], "deselected", id="-m"),
    pytest.param(["--deselect", "sub/test_b.py::test_slow"], "deselected", id="--deselect"),
    pytest.param(["test_a.py"], "not asked for", id="a module"),
    pytest.param(["test_a.py::test_case"], "not asked for", id="a test"),
    pytest.param(["test_a.py::test_case[one]", "sub"], "not asked for", id="a parameter and a folder"),
    pytest.param(["--ignore", "sub"], "not asked for", id="--ignore"),
    pytest.param(["-x"], "not reached", id="-x"),
]


@pytest.mark.parametrize(("args", "why"), NARROWED)
def test_a_narrowed_run_does_not_run_tests_it_did_not_remove(
    pytester: pytest.Pytester, args: list[str], why: str
) -> None:
    baseline(pytester)
    if why == "not reached":  # -x stops at the first failure: make the first test of test_a.py fail
        pytester.makeconftest(
            "def pytest_runtest_call(item):\n    assert item.name != 'test_case[one]' or 'sub' in item.nodeid\n"
        )
    result, comparison = gated(pytester, "--llm-fail-on-missing", "metrics,tests", *args)
    assert comparison["removed_tests"] == []
    assert comparison["not_run_tests"] and {t["why"] for t in comparison["not_run_tests"]} == {why}
    if why != "not reached":
        assert result.ret == pytest.ExitCode.OK and not comparison["failed"]
    result.stdout.fnmatch_lines([f"baseline base.json: *, 0 removed, {len(comparison['not_run_tests'])} not run"])


@pytest.mark.parametrize("setting", [None, "tests", "metrics,tests"])
def test_a_removed_test_is_named_and_fails_the_gate_with_the_setting(
    pytester: pytest.Pytester, setting: str | None
) -> None:
    baseline(pytester)
    pytester.path.joinpath("sub", "test_b.py").write_text(MODULE.replace('["one", "two"]', '["one"]'))
    result, comparison = gated(pytester, *(["--llm-fail-on-missing", setting] if setting else []))
    assert comparison["removed_tests"] == ["sub/test_b.py::test_case[two]"]
    result.stdout.fnmatch_lines(["  removed (no longer collected): sub/test_b.py::test_case[[]two[]]"])
    assert comparison["failed"] is (setting is not None)
    assert result.ret == (pytest.ExitCode.TESTS_FAILED if setting else pytest.ExitCode.OK)
    if setting:
        result.stdout.fnmatch_lines(
            ["  REGRESSED sub/test_b.py::test_case[[]two[]]: in the baseline, no longer collected"]
        )


@pytest.mark.parametrize(
    ("setting", "fails"), [(None, False), ("tests", False), ("metrics", True), ("metrics tests", True)]
)
def test_a_metric_no_longer_scored_is_named(pytester: pytest.Pytester, setting: str | None, fails: bool) -> None:
    baseline(pytester)
    suite(pytester, {"two": "drop-metric"})
    result, comparison = gated(pytester, *(["-o", f"llm_fail_on_missing={setting}"] if setting else []))
    assert comparison["missing_metrics"] == [
        {"nodeid": "sub/test_b.py::test_case[two]", "key": "exact"},
        {"nodeid": "test_a.py::test_case[two]", "key": "exact"},
    ]
    result.stdout.fnmatch_lines(
        ["  metrics no longer scored: sub/test_b.py::test_case[[]two[]] exact, test_a.py::test_case[[]two[]] exact"]
    )
    assert comparison["failed"] is fails
    assert (result.ret == pytest.ExitCode.TESTS_FAILED) is fails
    markdown = Path(pytester.path, "pr.md")
    gated(pytester, "--llm-report-md", str(markdown))
    assert "metrics no longer scored: sub/test\\_b.py::test\\_case\\[two\\] exact" in markdown.read_text()


def test_a_test_that_errors_now_but_passed_before_is_a_regression(pytester: pytest.Pytester) -> None:
    baseline(pytester)
    suite(pytester, {"one": "error"})
    result, comparison = gated(pytester, "--llm-report-html", "report.html")
    result.assert_outcomes(passed=4, failed=2)
    assert comparison["failed"]
    assert {(r["nodeid"], r["what"]) for r in comparison["regressions"]} == {
        ("test_a.py::test_case[one]", "outcome"),
        ("sub/test_b.py::test_case[one]", "outcome"),
    }
    result.stdout.fnmatch_lines(["  REGRESSED test_a.py::test_case[[]one[]]: passed in the baseline, failed now"])
    page = Path(pytester.path, "report.html").read_text()
    assert "passed in the baseline, failed now" in page and "not now: " in page


@pytest.mark.parametrize(("setting", "fails"), [(None, False), ("metrics", False), ("tests", True)])
def test_a_test_skipped_now_is_named_and_fails_only_with_tests(
    pytester: pytest.Pytester, setting: str | None, fails: bool
) -> None:
    baseline(pytester)
    suite(pytester, {"two": "skip"})
    result, comparison = gated(pytester, *(["--llm-fail-on-missing", setting] if setting else []))
    result.assert_outcomes(passed=4, skipped=2)
    assert [(c["nodeid"], c["current"]) for c in comparison["outcome_changes"]] == [
        ("sub/test_b.py::test_case[two]", "skipped"),
        ("test_a.py::test_case[two]", "skipped"),
    ]
    assert comparison["missing_metrics"] == []  # a skipped test lost its metrics by not running
    result.stdout.fnmatch_lines(["  passed in the baseline, not now: sub/test_b.py::test_case[[]two[]] (skipped), *"])
    assert comparison["failed"] is fails


def test_bad_fail_on_missing_names_the_setting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest(*ARGS, "--llm-fail-on-missing", "scores")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid value 'scores' for --llm-fail-on-missing: expected metrics, tests, *"])


@pytest.mark.slow
def test_under_xdist_the_controller_knows_deselected_and_removed_tests(pytester: pytest.Pytester) -> None:
    baseline(pytester, subprocess=True)
    pytester.path.joinpath("sub", "test_b.py").write_text(MODULE.replace('["one", "two"]', '["one"]'))
    result, comparison = gated(pytester, "-n", "2", "-k", "not slow", "--llm-fail-on-missing", "tests", subprocess=True)
    assert comparison["removed_tests"] == ["sub/test_b.py::test_case[two]"]
    assert comparison["not_run_tests"] == [
        {"nodeid": "sub/test_b.py::test_slow", "why": "deselected"},
        {"nodeid": "test_a.py::test_slow", "why": "deselected"},
    ]
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["baseline base.json: *, 1 removed, 2 not run"])


LATENCY_MODULE = """
import json
from pytest_llmops import Completion, Request

def test_call(llm_record, request):
    plan = json.loads((request.config.rootpath / "calls.json").read_text())
    for latency, cached in plan:
        llm_record.add_call(Request(), Completion("out", "m", "echo", 1, 1, latency_s=latency, cached=cached))
"""


def latency_run(pytester: pytest.Pytester, calls: list[tuple[float, bool]], *args: str) -> pytest.RunResult:
    """Run the one-test suite whose calls took ``calls`` (latency, replayed?)."""
    pytester.path.joinpath("calls.json").write_text(json.dumps(calls))
    pytester.makepyfile(test_latency=LATENCY_MODULE)
    return pytester.runpytest(*ARGS, *args)


def test_replayed_latency_is_reported_apart_and_never_gated_against_live(pytester: pytest.Pytester) -> None:
    latency_run(pytester, [(0.1, False)], "--llm-report-json", "base.json").assert_outcomes(passed=1)
    gate = ("--llm-baseline", "base.json", "--llm-max-latency-increase", "0.1", "--llm-report-json", "now.json")

    # A call replayed from a loaded recorder's machine (140 s) is not this run's latency.
    mixed = latency_run(pytester, [(0.1, False), (140.0, True)], *gate)
    assert mixed.ret == 0
    mixed.stdout.fnmatch_lines(
        [
            "latency: p50 100ms  p95 100ms  max 100ms  (1 live model calls)",
            "latency replayed (recorded elsewhere): p50 140.00s  p95 140.00s  max 140.00s  (1 model calls)",
            "*p95 latency 100ms -> 100ms (+0%)",
            "baseline gate passed",
        ]
    )
    summary = json.loads((pytester.path / "now.json").read_text())["summary"]
    assert (summary["latency_s"]["max"], summary["replayed_latency_s"]["max"]) == (0.1, 140.0)

    replayed = latency_run(pytester, [(140.0, True)], *gate)
    assert replayed.ret == 0
    replayed.stdout.fnmatch_lines(
        [
            "*latency not compared: this run made only replayed calls (latencies recorded elsewhere)",
            "baseline gate passed",
        ]
    )
    latency = json.loads((pytester.path / "now.json").read_text())["baseline"]["latency"]
    assert latency["regressed"] is False and latency["relative"] is None

    latency_run(pytester, [(0.1, True)], "--llm-report-json", "base.json").assert_outcomes(passed=1)
    live = latency_run(pytester, [(140.0, False)], *gate)
    assert live.ret == 0
    live.stdout.fnmatch_lines(["*latency not compared: the baseline made only replayed calls*", "baseline gate passed"])


def test_an_old_baseline_without_replayed_latency_counts_every_call_as_live(pytester: pytest.Pytester) -> None:
    latency_run(pytester, [(0.1, True)], "--llm-report-json", "base.json").assert_outcomes(passed=1)
    old = json.loads((pytester.path / "base.json").read_text())
    del old["summary"]["replayed_latency_s"]
    (pytester.path / "base.json").write_text(json.dumps(old))

    slower = latency_run(pytester, [(1.0, False)], "--llm-baseline", "base.json", "--llm-max-latency-increase", "0.1")
    assert slower.ret == 1
    slower.stdout.fnmatch_lines(["baseline gate FAILED:", "  REGRESSED p95 latency 0.1s -> 1s (allowed +10%)"])


def test_the_example_projects_old_baseline_still_loads_and_gates(pytester: pytest.Pytester) -> None:
    example = Path(__file__).parents[2] / "example_project" / "baseline.json"
    assert "replayed_latency_s" not in json.loads(example.read_text())["summary"]
    (pytester.path / "base.json").write_text(example.read_text())
    result = latency_run(pytester, [(0.1, False)], "--llm-baseline", "base.json", "--llm-max-latency-increase", "0.1")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["baseline base.json: *107 removed*", "*; p95 latency 0ms -> 0ms", "baseline gate passed"]
    )
