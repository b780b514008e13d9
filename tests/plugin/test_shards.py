"""Shards: ``--llm-shard i/N`` splits a suite by test id; ``python -m pytest_llmops merge``
joins the shards' JSON reports into one report and one gate verdict.

Each test runs a suite as CI would (one pytest run per shard, each writing its JSON report),
then the merge command as the job after them, checking exit codes, output and files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from pytest_llmops._shards import Shard, shard_of

pytest_plugins = ["pytester"]

ARGS = ("-p", "no:cacheprovider", "--llm-record-mode", "off", "--llm-model", "echo", "--llm-prices", "echo = 1000 2000")
SHARDS = 3

SUITE = """
import json
import pytest
from pytest_llmops._results import Score

@pytest.mark.parametrize("n", range(9))
def test_case(llm, llm_record, request, n):
    plan = json.loads((request.config.rootpath / "plan.json").read_text())
    llm.complete(f"case {n}")
    llm_record.add_score(Score("rougeL", plan.get(str(n), 0.9), 0.5, True))
"""


def suite(pytester: pytest.Pytester, plan: dict[str, float] | None = None) -> None:
    pytester.path.joinpath("plan.json").write_text(json.dumps(plan or {}))
    pytester.makepyfile(test_suite=SUITE)


def run_shards(pytester: pytest.Pytester, *args: str, shards: range = range(1, SHARDS + 1)) -> list[dict[str, Any]]:
    reports = []
    for index in shards:
        result = pytester.runpytest(
            *ARGS, "--llm-shard", f"{index}/{SHARDS}", "--llm-report-json", f"shard-{index}.json", *args
        )
        assert result.ret == 0, result.stdout.str()
        reports.append(json.loads((pytester.path / f"shard-{index}.json").read_text()))
    return reports


def merge(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmops", "merge", *args],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def nodeids(report: dict[str, Any]) -> set[str]:
    return {test["nodeid"] for test in report["tests"]}


def test_shards_split_the_suite_by_test_id_and_the_merge_sums_them(pytester: pytest.Pytester) -> None:
    suite(pytester)
    shards = run_shards(pytester, "--llm-budget-usd", "5")
    everything = {f"test_suite.py::test_case[{n}]" for n in range(9)}
    for index, report in enumerate(shards, 1):
        assert nodeids(report) == {n for n in everything if shard_of(n, SHARDS) == index}
        assert report["run"]["shard"] == {"index": index, "total": SHARDS}
    done = merge(
        pytester,
        "shard-1.json",
        "shard-2.json",
        "shard-3.json",
        "--json",
        "run.json",
        "--md",
        "run.md",
        "--html",
        "run.html",
    )
    assert done.returncode == 0, done.stdout
    assert "merged from 3 reports; every test of the run is in one" in done.stdout
    merged = json.loads((pytester.path / "run.json").read_text())
    assert nodeids(merged) == everything
    summary = merged["summary"]
    for path in (
        ("tests", "total"),
        ("tests", "passed"),
        ("calls", "total"),
        ("tokens", "total"),
        ("cost_usd", "live"),
    ):
        parts = [report["summary"][path[0]][path[1]] for report in shards]
        assert summary[path[0]][path[1]] == pytest.approx(sum(parts))
    assert summary["tests"]["total"] == 9 and summary["cost_usd"]["live"] > 0
    # Each shard had $5: the merged run had $15, and spent what the shards spent.
    assert summary["budget"]["limit_usd"] == 15
    assert summary["budget"]["spent_usd"] == pytest.approx(sum(r["summary"]["budget"]["spent_usd"] for r in shards))
    assert merged["run"]["shard"] is None and merged["run"]["selection"]["deselected"] == []
    assert "Merged from 3 reports." in (pytester.path / "run.md").read_text()
    page = (pytester.path / "run.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Every test of the run is in one of them." in page
    assert (
        subprocess.run(
            [sys.executable, "-m", "pytest_llmops", "validate-report", "run.json"],
            cwd=pytester.path,
            capture_output=True,
        ).returncode
        == 0
    )


def test_adding_tests_moves_no_other_test_between_shards() -> None:
    before = [f"tests/test_a.py::test_case[{n}]" for n in range(200)]
    after = before + [f"tests/test_new.py::test_{n}" for n in range(50)]
    assert {n: shard_of(n, 4) for n in before} == {n: shard_of(n, 4) for n in after if n in before}
    counts = [sum(1 for n in after if shard_of(n, 4) == i) for i in range(1, 5)]
    assert min(counts) > 40  # roughly even: 250 tests over 4 shards


def test_a_regression_only_the_merged_view_gates(pytester: pytest.Pytester) -> None:
    """Shard jobs pass on their own thresholds; the merge job compares the whole run with main's
    report, with the tolerances the shards ran with, and fails naming the test."""
    suite(pytester)
    pytester.runpytest(*ARGS, "--llm-report-json", "main.json").assert_outcomes(passed=9)
    suite(pytester, {"4": 0.6})  # still above its threshold of 0.5: the shard passes
    run_shards(pytester, "--llm-max-score-drop", "0.1")
    done = merge(
        pytester,
        "shard-1.json",
        "shard-2.json",
        "shard-3.json",
        "--baseline",
        "main.json",
        "--md",
        "summary.md",
        "--json",
        "run.json",
    )
    assert done.returncode == 1, done.stdout
    assert "REGRESSED test_suite.py::test_case[4]: rougeL 0.9 -> 0.6 (-0.3; allowed 0.1)" in done.stdout
    assert "pytest-llmops merge: FAILED" in done.stdout
    comparison = json.loads((pytester.path / "run.json").read_text())["baseline"]
    assert comparison["tolerances"]["max_score_drop"] == 0.1
    assert comparison["removed_tests"] == [] and comparison["not_run_tests"] == []
    assert "baseline gate **FAILED**" in (pytester.path / "summary.md").read_text()


def test_a_shard_gated_alone_counts_the_other_shards_tests_as_not_run(pytester: pytest.Pytester) -> None:
    suite(pytester)
    pytester.runpytest(*ARGS, "--llm-report-json", "main.json").assert_outcomes(passed=9)
    result = pytester.runpytest(
        *ARGS,
        "--llm-shard",
        "1/3",
        "--llm-baseline",
        "main.json",
        "--llm-fail-on-missing",
        "tests",
        "--llm-report-json",
        "one.json",
    )
    assert result.ret == 0
    comparison = json.loads((pytester.path / "one.json").read_text())["baseline"]
    assert comparison["removed_tests"] == []
    assert {t["why"] for t in comparison["not_run_tests"]} == {"deselected"}


def test_a_missing_shard_fails_the_merge_naming_its_tests(pytester: pytest.Pytester) -> None:
    suite(pytester)
    run_shards(pytester, shards=range(1, 3))
    done = merge(pytester, "shard-1.json", "shard-2.json", "--json", "run.json", "--html", "run.html")
    assert done.returncode == 1
    assert "shard 3/3 is missing: no report of it was given" in done.stdout
    assert "shard 3/3 is missing: no report of it was given" in (pytester.path / "run.html").read_text()
    lost = sorted(
        f"test_suite.py::test_case[{n}]" for n in range(9) if shard_of(f"test_suite.py::test_case[{n}]", 3) == 3
    )
    assert f"  {lost[0]}: its shard 3/3 has no report" in done.stdout
    merged = json.loads((pytester.path / "run.json").read_text())["run"]
    assert [m["nodeid"] for m in merged["merged"]["missing_tests"]] == lost
    assert merged["selection"]["not_reached"] == lost  # so a baseline never counts them removed


def test_a_shard_stopped_early_leaves_its_tests_missing(pytester: pytest.Pytester) -> None:
    suite(pytester)
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture(autouse=True)\ndef stop(request):\n    yield\n"
        "    if (request.config.rootpath / 'stop').exists():\n        pytest.exit('stopped')\n"
    )
    pytester.path.joinpath("stop").touch()
    stopped = pytester.runpytest(*ARGS, "--llm-shard", "1/3", "--llm-report-json", "shard-1.json")
    assert stopped.ret == pytest.ExitCode.INTERRUPTED
    pytester.path.joinpath("stop").unlink()
    run_shards(pytester, shards=range(2, 4))
    done = merge(pytester, "shard-1.json", "shard-2.json", "shard-3.json")
    assert done.returncode == 1
    assert "not reached in shard 1/3 (shard-1.json: the run stopped early)" in done.stdout


def test_reports_of_different_runs_are_refused(pytester: pytest.Pytester) -> None:
    suite(pytester)
    run_shards(pytester)
    twice = merge(pytester, "shard-1.json", "shard-1.json", "shard-2.json", "shard-3.json")
    assert twice.returncode == 2 and "shard 1/3 is given twice: shard-1.json and shard-1.json" in twice.stdout
    other = pytester.path / "shard-3.json"
    report = json.loads(other.read_text())
    report["run"]["commit"] = "0" * 40
    pytester.path.joinpath("other-commit.json").write_text(json.dumps(report))
    commit = merge(pytester, "shard-1.json", "shard-2.json", "other-commit.json")
    assert commit.returncode == 2
    assert "other-commit.json and shard-1.json are not parts of one run: their commit differ" in commit.stdout
    pytester.runpytest(*ARGS, "--llm-shard", "3/3", "--llm-temperature", "0.5", "--llm-report-json", "hot.json")
    settings = merge(pytester, "shard-1.json", "shard-2.json", "hot.json")
    assert settings.returncode == 2
    assert "their settings differ (temperature: 0.0 and 0.5)" in settings.stdout
    pytester.runpytest(*ARGS, "--llm-shard", "1/2", "--llm-report-json", "half.json")
    split = merge(pytester, "shard-1.json", "half.json")
    assert split.returncode == 2 and "the same number of parts" in split.stdout
    broken = merge(pytester, "shard-1.json", "nowhere.json")
    assert broken.returncode == 2 and "cannot read shard report nowhere.json" in broken.stdout


def test_reports_split_by_paths_merge_and_name_a_test_found_twice(pytester: pytest.Pytester) -> None:
    suite(pytester)
    pytester.makepyfile(test_other="def test_other(llm):\n    llm.complete('other')\n")
    pytester.runpytest(*ARGS, "test_suite.py", "test_other.py", "--llm-report-json", "a.json")
    pytester.runpytest(*ARGS, "test_other.py", "--llm-report-json", "b.json")
    refused = merge(pytester, "a.json", "b.json")
    assert refused.returncode == 2 and "different paths" in refused.stdout
    pytester.runpytest(*ARGS, "-k", "test_other", "--llm-report-json", "b.json")
    pytester.runpytest(*ARGS, "--llm-report-json", "c.json")
    twice = merge(pytester, "b.json", "c.json", "--json", "run.json")
    assert twice.returncode == 1
    assert "test_other.py::test_other: in 2 reports (b.json, c.json); the first is kept" in twice.stdout
    assert json.loads((pytester.path / "run.json").read_text())["summary"]["tests"]["total"] == 10


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_an_empty_shard_passes_and_xdist_workers_agree_on_the_split(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_one="def test_only():\n    pass\n")
    empty = next(i for i in range(1, 9) if shard_of("test_one.py::test_only", 8) != i)
    result = pytester.runpytest_subprocess(*ARGS, "--llm-shard", f"{empty}/8", *xdist)
    assert result.ret == 0  # not 5, "no tests collected": the shard's CI job passes
    suite(pytester)
    mine = pytester.runpytest_subprocess(
        *ARGS, "test_suite.py", "--llm-shard", "2/3", "--llm-report-json", "two.json", *xdist
    )
    assert mine.ret == 0
    expected = {
        f"test_suite.py::test_case[{n}]" for n in range(9) if shard_of(f"test_suite.py::test_case[{n}]", 3) == 2
    }
    assert nodeids(json.loads((pytester.path / "two.json").read_text())) == expected


def test_prune_under_a_shard_keeps_the_other_shards_recordings(pytester: pytest.Pytester) -> None:
    suite(pytester)
    echo = ("-p", "no:cacheprovider", "--llm-model", "echo")
    pytester.runpytest(*echo).assert_outcomes(passed=9)
    folder = pytester.path / "llm_recordings" / "test_suite.py"
    assert len(list(folder.glob("[!_]*.json"))) == 9
    pytester.makepyfile(test_suite=SUITE.replace("range(9)", "range(8)"))  # test_case[8] is gone
    pruned = pytester.runpytest(*echo, "--llm-shard", "1/3", "--llm-recordings-prune")
    assert pruned.ret == 0
    pruned.stdout.fnmatch_lines(["pruned 1 unused recording(s):", "  llm_recordings/test_suite.py/*.json"])
    assert len(list(folder.glob("[!_]*.json"))) == 8


@pytest.mark.parametrize("value", ["0/3", "4/3", "2", "a/b", "1/0"])
def test_a_bad_shard_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile(test_one="def test_only():\n    pass\n")
    result = pytester.runpytest("--llm-shard", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*invalid value '{value}' for --llm-shard: expected `i/N` with 1 <= i <= N*"])


def test_shard_parses_and_prints() -> None:
    assert str(Shard.parse(" 2/4 ")) == "2/4" and Shard.parse("1/1").holds("anything")
