"""The run report end to end: terminal, JSON, HTML, Markdown, JUnit, xdist, baseline, budget, hook."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest
from html_check import LiveElements, chromium_dom

from pytest_llmops._report.json_report import validate

# Echo calls cost known amounts: 4 words in and out of "one two three four" = $0.012.
ARGS = ("--llm-model", "echo", "--llm-prices", "echo = 1000 2000", "--llm-record-mode", "off", "-p", "no:cacheprovider")

SUITE = """
import pytest
from pytest_llmops import Completion, Request
from pytest_llmops._results import Score


def fixed_call(llm_record, latency, cost, cached=False):
    completion = Completion("out", "echo", "echo", 3, 2, latency_s=latency, cost_usd=cost, cached=cached)
    llm_record.add_call(Request(), completion)


def test_live(llm, llm_record):
    out = llm.complete("one two three four")
    llm_record.add_score(Score("rougeL", 0.8, 0.6, True, output=out.text, reference="one two three"))


def test_fixed(llm_record):
    fixed_call(llm_record, 0.5, 0.25)
    fixed_call(llm_record, 1.5, 0.1, cached=True)
    llm_record.add_score(Score("rougeL", 0.4, 0.6, False))
    assert False, "rougeL below threshold"


def test_without_model():
    pass
"""


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_terminal_summary_shows_totals_and_worst_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(*ARGS)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= pytest-llmops =*",
            "tests: 3 (2 passed, 1 failed); 2 called a model",
            "calls: 3 (2 live, 1 replayed; 0 by judges); tokens 10 in / 8 out",
            "cost: $0.2620 live, $0.1000 saved by replay",
            "latency: p50 250ms  p95 475ms  max 500ms  (2 live model calls)",
            "latency replayed (recorded elsewhere): p50 1.50s  p95 1.50s  max 1.50s  (1 model calls)",
            "metric  *n   pass     mean",
            "rougeL  *2    50%    0.600",
            "worst tests:",
            "  FAILED  test_suite.py::test_fixed  rougeL 0.4 < 0.6",
        ]
    )


def test_a_green_run_lists_no_worst_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.parametrize("word", ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
        def test_echo(llm, golden, word):
            golden.check(llm.complete(word).text, reference=word, metrics={"rougeL": 0.5})
    """)
    result = pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "off", "--llm-report-md", "r.md")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["tests: 6 (6 passed); 6 called a model"])
    assert "worst tests" not in result.stdout.str().lower()
    assert "worst tests" not in (pytester.path / "r.md").read_text().lower()


def test_no_section_when_no_model_was_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest(*ARGS)
    result.assert_outcomes(passed=1)
    assert "pytest-llmops =" not in result.stdout.str()


def test_json_report_by_value(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest(*ARGS, "--llm-report-json", "out/report.json").assert_outcomes(passed=2, failed=1)
    report = read_json(pytester.path / "out" / "report.json")
    assert validate(report) is None
    assert report["schema_version"] == 1 and report["run"]["model"] == "echo"
    summary = report["summary"]
    assert summary["tests"]["total"] == 3 and summary["tests"]["failed"] == 1
    assert summary["cost_usd"]["live"] == pytest.approx(0.262)
    assert summary["cost_usd"]["saved"] == pytest.approx(0.1)
    assert summary["tokens"] == {"prompt": 10, "completion": 8, "total": 18}
    assert (summary["latency_s"]["count"], summary["latency_s"]["max"]) == (2, 0.5)  # live calls only
    assert (summary["replayed_latency_s"]["count"], summary["replayed_latency_s"]["max"]) == (1, 1.5)
    assert summary["metrics"]["rougeL"]["pass_rate"] == 0.5
    live = next(t for t in report["tests"] if t["nodeid"] == "test_suite.py::test_live")
    assert live["models"] == ["echo"]
    assert live["calls"][0]["text"] == "one two three four"
    assert live["calls"][0]["cost_usd"] == pytest.approx(0.012)
    assert live["scores"][0]["reference"] == "one two three"
    fixed = next(t for t in report["tests"] if t["nodeid"] == "test_suite.py::test_fixed")
    assert fixed["outcome"] == "failed" and fixed["totals"]["cached_calls"] == 1


EVIL = '<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>'


def test_html_report_is_self_contained_and_escapes_model_text(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_xss="""
        from pytest_llmops._results import Score

        EVIL = '<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>'

        def test_evil(llm, llm_record):
            out = llm.complete(EVIL)
            llm_record.add_score(Score("judge", 0.2, 0.5, False, kind="judge", output=out.text,
                                       reference="safe", details={"reasoning": EVIL}))
    """
    )
    pytester.runpytest(*ARGS, "--llm-report-html", "report.html").assert_outcomes(passed=1)
    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    live = LiveElements(page)
    live.assert_inert()
    assert page.count('<script type="application/json"') == 1  # the report's data, once
    assert sum(text == EVIL for text in live.texts()) >= 3  # output, prompt, reasoning: data, shown as text
    assert "http://" not in page and "https://" not in page  # nothing to fetch: opens offline


def test_markdown_report_and_github_step_summary(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_suite=SUITE)
    step_summary = pytester.path / "step_summary.md"
    step_summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    pytester.runpytest(*ARGS, "--llm-report-md", "summary.md").assert_outcomes(passed=2, failed=1)
    written = (pytester.path / "summary.md").read_text(encoding="utf-8")
    assert written.startswith("## pytest-llmops report\n")
    assert "| rougeL | 2 | 50% | 0.600 | 0.400 | 0.800 |" in written
    assert "| test\\_suite.py::test\\_fixed | failed | rougeL 0.4 &lt; 0.6 |" in written
    assert step_summary.read_text(encoding="utf-8") == "earlier step\n" + written


def test_a_report_that_cannot_be_written_is_named_and_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(llm):\n    llm.complete('hi')\n")
    (pytester.path / "blocker").write_text("a file, not a folder")
    result = pytester.runpytest(*ARGS, "--llm-report-json", "blocker/report.json", "--llm-report-md", "summary.md")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["pytest-llmops: llm_report_json: cannot write */blocker/report.json: *"])
    assert (pytester.path / "summary.md").read_text().startswith("## pytest-llmops report")  # the others still are


def test_scores_cost_and_latency_in_junit_xml(pytester: pytest.Pytester) -> None:
    """Per testcase under xunit1 (xunit2's, the default, are in tests/reliability/test_junit.py)."""
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest(*ARGS, "--junitxml", "junit.xml", "-o", "junit_family=xunit1").assert_outcomes(
        passed=2, failed=1
    )
    cases = {case.get("name"): case for case in ElementTree.parse(pytester.path / "junit.xml").iter("testcase")}
    properties = [(p.get("name"), p.get("value")) for p in cases["test_live"].iter("property")]
    assert ("llmops.score.rougeL", "0.8") in properties
    assert ("llmops.threshold.rougeL", "0.6") in properties
    assert ("llmops.cost_usd", "0.012") in properties
    assert ("llmops.tokens_in", "4") in properties
    fixed = dict((p.get("name"), p.get("value")) for p in cases["test_fixed"].iter("property"))
    assert fixed["llmops.latency_s"] == "2" and fixed["llmops.cached_calls"] == "1"
    assert "properties" not in {child.tag for child in cases["test_without_model"]}


def _deterministic(report: dict[str, Any]) -> dict[str, Any]:
    """The report without wall-clock figures (echo's measured latencies, durations, the date)."""
    for test in report["tests"]:
        test.pop("duration_s")
        test["totals"].pop("latency_s")
        for call in test["calls"]:
            call.pop("latency_s")
    report["summary"].pop("latency_s")
    report["summary"].pop("replayed_latency_s")
    report["run"].pop("created")
    return report


def test_xdist_gives_the_same_report_as_a_serial_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_many="""
        import pytest
        from pytest_llmops._results import Score

        @pytest.mark.parametrize("n", range(8))
        def test_case(llm, llm_record, n):
            out = llm.complete(" ".join(["word"] * (n + 1)))
            llm_record.add_score(Score("words", float(len(out.text.split())), 3.0, n >= 2))
            assert n != 5
    """
    )
    pytester.makepyfile(test_suite=SUITE)
    serial = pytester.runpytest_subprocess(*ARGS, "--llm-report-json", "serial.json")
    distributed = pytester.runpytest_subprocess(*ARGS, "-n", "2", "--llm-report-json", "xdist.json")
    assert serial.ret == distributed.ret == 1
    serial_report = read_json(pytester.path / "serial.json")
    assert serial_report["summary"]["tests"]["total"] == 11
    assert _deterministic(serial_report) == _deterministic(read_json(pytester.path / "xdist.json"))
    distributed.stdout.fnmatch_lines(["*= pytest-llmops =*", "tests: 11 (9 passed, 2 failed); 10 called a model"])


GATED = """
import json, pathlib
import pytest
from pytest_llmops import Completion, Request
from pytest_llmops._results import Score

PLAN = json.loads(pathlib.Path(__file__).with_name("plan.json").read_text())

@pytest.mark.parametrize("name", sorted(PLAN))
def test_gate(llm_record, name):
    plan = PLAN[name]
    llm_record.add_call(Request(), Completion("out", "m", "echo", 1, 1, latency_s=0.1, cost_usd=plan["cost"]))
    for value in plan["scores"]:
        llm_record.add_score(Score("rougeL", value, 0.5, value >= 0.5))
"""


def run_plan(pytester: pytest.Pytester, plan: dict[str, Any], *args: str) -> pytest.RunResult:
    pytester.path.joinpath("plan.json").write_text(json.dumps(plan))
    return pytester.runpytest(*ARGS, *args)


def test_baseline_gate_fails_a_run_whose_tests_all_passed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gate=GATED)
    base = {
        "a": {"scores": [0.9], "cost": 0.01},
        "b": {"scores": [0.9], "cost": 0.01},
        "gone": {"scores": [0.9], "cost": 0.01},
    }
    run_plan(pytester, base, "--llm-report-json", "base.json").assert_outcomes(passed=3)

    worse = {
        "a": {"scores": [0.7], "cost": 0.01},
        "b": {"scores": [0.88], "cost": 0.01},
        "new": {"scores": [0.6], "cost": 0.01},
    }
    result = run_plan(pytester, worse, "--llm-baseline", "base.json", "--llm-report-md", "pr.md")
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "baseline base.json: 1 score regressions, 0 tests improved, 1 new, 1 removed, 0 not run",
            "  removed (no longer collected): test_gate.py::test_gate[[]gone[]]",
            "baseline gate FAILED:",
            "  REGRESSED test_gate.py::test_gate[a]: rougeL 0.9 -> 0.7 (-0.2; allowed 0.05)",
        ]
    )
    assert "test_gate[b]" not in result.stdout.str().split("baseline gate FAILED:")[1]
    markdown = (pytester.path / "pr.md").read_text()
    assert "baseline gate **FAILED**" in markdown
    assert "- test\\_gate.py::test\\_gate\\[a\\]: rougeL 0.9 -&gt; 0.7 \\(-0.2; allowed 0.05\\)" in markdown
    assert "New tests: test\\_gate.py::test\\_gate\\[new\\]" in markdown

    tolerant = run_plan(pytester, worse, "--llm-baseline", "base.json", "--llm-max-score-drop", "0.25")
    assert tolerant.ret == pytest.ExitCode.OK
    tolerant.stdout.fnmatch_lines(["baseline gate passed"])
    for flag in (
        ("--llm-max-score-drop-by-metric", "rougeL = 0.25"),
        ("-o", "llm_max_score_drop_by_metric=rougeL = 0.25"),
    ):
        assert run_plan(pytester, worse, "--llm-baseline", "base.json", *flag).ret == pytest.ExitCode.OK


def test_baseline_gate_uses_the_samples_noise(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gate=GATED)
    run_plan(pytester, {"a": {"scores": [0.9, 0.5, 0.9, 0.5], "cost": 0.0}}, "--llm-report-json", "base.json")
    noisy = run_plan(pytester, {"a": {"scores": [0.8, 0.4, 0.8, 0.4], "cost": 0.0}}, "--llm-baseline", "base.json")
    assert noisy.ret == pytest.ExitCode.OK  # mean -0.1, but within 2 standard errors (0.33)
    run_plan(pytester, {"a": {"scores": [0.7, 0.7, 0.7, 0.7], "cost": 0.0}}, "--llm-report-json", "steady.json")
    steady = run_plan(pytester, {"a": {"scores": [0.6, 0.6, 0.6, 0.6], "cost": 0.0}}, "--llm-baseline", "steady.json")
    assert steady.ret == pytest.ExitCode.TESTS_FAILED
    steady.stdout.fnmatch_lines(
        ["  REGRESSED test_gate.py::test_gate[a]: rougeL 0.7 -> 0.6 (n=4->4) (-0.1; allowed 0.05)"]
    )


def test_baseline_cost_gate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gate=GATED)
    run_plan(
        pytester,
        {"a": {"scores": [0.9], "cost": 0.01}, "b": {"scores": [0.9], "cost": 0.01}},
        "--llm-report-json",
        "base.json",
    )
    pricier = {"a": {"scores": [0.9], "cost": 0.03}, "b": {"scores": [0.9], "cost": 0.01}}
    result = run_plan(pytester, pricier, "--llm-baseline", "base.json", "--llm-max-cost-increase", "0.5")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "  REGRESSED cost of the calls $0.02 -> $0.04 (allowed +50%)",
            "  REGRESSED test_gate.py::test_gate[a]: cost $0.01 -> $0.03",
        ]
    )
    assert run_plan(pytester, pricier, "--llm-baseline", "base.json", "--llm-max-cost-increase", "1.5").ret == 0


def test_unusable_baseline_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    missing = pytester.runpytest(*ARGS, "--llm-baseline", "nowhere.json")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*llm_baseline: cannot read baseline *nowhere.json: No such file or directory*"])
    pytester.path.joinpath("junk.json").write_text('{"schema": "pytest-llmops/report", "schema_version": 1}')
    junk = pytester.runpytest(*ARGS, "--llm-baseline", "junk.json")
    junk.stderr.fnmatch_lines(["*baseline *junk.json does not match the report schema: *'run' is a required property*"])


BUDGETED = """
import pytest

pytestmark = pytest.mark.llm(max_tokens=4)

def test_one(llm):
    llm.complete("one two three four")

def test_two(llm):
    llm.complete("one two three four")

def test_three(llm):
    llm.complete("one two three four")
"""
# Each call costs $0.012 (4 words in and out) but may cost up to $0.042 before it is made: its
# prompt's 18 bytes and a message's 16 as input tokens, 4 output tokens (max_tokens).
MOST_COST = "$0.042"


def test_budget_refuses_a_call_that_could_pass_the_limit(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_budget=BUDGETED)
    result = pytester.runpytest(*ARGS, "--llm-budget-usd", "0.06", "--llm-report-json", "r.json")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at call of test_three*",
            f"ModelCallError: LLM budget exhausted: this call may cost up to {MOST_COST}, and $0.024 of the $0.06 "
            "allowed by llm_budget_usd is spent or reserved; it was refused",
            "budget: $0.0240 of $0.0600 spent; 1 tests refused",
        ]
    )
    budget = read_json(pytester.path / "r.json")["summary"]["budget"]
    assert budget == {
        "limit_usd": 0.06,
        "spent_usd": pytest.approx(0.024),
        "refused_tests": ["test_budget.py::test_three"],
    }


def test_budget_is_shared_by_xdist_workers(pytester: pytest.Pytester) -> None:
    done = pytester.path / "first.done"
    pytester.makepyfile(
        test_shared=f"""
        import os, time
        import pytest

        pytestmark = pytest.mark.llm(max_tokens=4)

        @pytest.mark.xdist_group("first")
        def test_first(llm):
            llm.complete("one two three four")  # $0.012, of a $0.05 budget
            open({str(done)!r}, "w").close()

        @pytest.mark.xdist_group("second")
        def test_second(llm):  # on the other worker, which has spent nothing itself
            deadline = time.monotonic() + 120
            while not os.path.exists({str(done)!r}):
                assert time.monotonic() < deadline, "test_first never finished"
                time.sleep(0.05)
            llm.complete("one two three four")  # $0.012 + up to $0.042 > $0.05
    """
    )
    result = pytester.runpytest_subprocess(*ARGS, "-n", "2", "--dist", "loadgroup", "--llm-budget-usd", "0.05")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at call of test_second*",
            f"ModelCallError: LLM budget exhausted: this call may cost up to {MOST_COST}, and $0.012 of the $0.05 "
            "allowed by llm_budget_usd is spent or reserved; it was refused",
            "budget: $0.0120 of $0.0500 spent; 1 tests refused",
        ]
    )


def test_run_summary_hook_reaches_exporters_once(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import json, pathlib

        def pytest_llmops_run_summary(summary, config):
            line = {"calls": summary["summary"]["calls"]["total"], "tests": len(summary["tests"]),
                    "worker": hasattr(config, "workerinput")}
            with pathlib.Path(str(config.rootpath), "exported.jsonl").open("a") as stream:
                stream.write(json.dumps(line) + "\\n")
    """)
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest_subprocess(*ARGS, "-n", "2").assert_outcomes(passed=2, failed=1)
    lines = (pytester.path / "exported.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"calls": 3, "tests": 3, "worker": False}]


@pytest.mark.slow
def test_html_report_renders_in_headless_chromium(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(
        test_suite=SUITE,
        test_xss="""
        def test_evil(llm):
            llm.complete('<img src=x onerror="document.title=1"><script>document.title=2</script>')
    """,
    )
    pytester.runpytest(*ARGS, "--llm-report-html", "report.html")
    page = pytester.path / "report.html"
    dom = chromium_dom(page, tmp_path, "#test-2")
    assert 'data-ready="true"' in dom  # the report's script ran without error
    assert dom.count('<tbody id="test-') == 4  # rows built from the embedded data
    assert dom.count("<details open") == 1  # the linked test's details were opened
    assert "<title>pytest-llmops report</title>" in dom  # the model's markup changed nothing
    LiveElements(dom).assert_inert()
    # The linked test's details, built when opened: the model's markup shown as text.
    linked = dom.partition('<tbody id="test-2"')[2].partition('<tbody id="test-3"')[0]
    assert "test_live" in linked and "one two three four" in linked  # its prompt, shown
    evil = dom.partition('<tbody id="test-4"')[2].partition('id="more"')[0]
    assert "<details>" in evil and "&lt;img" not in evil  # details not opened are not built
    opened = chromium_dom(page, tmp_path, "#test-4")
    shown = opened.partition('<tbody id="test-4"')[2].partition('id="more"')[0]
    assert '&lt;img src=x onerror="document.title=1"&gt;&lt;script&gt;document.title=2&lt;/script&gt;' in shown
    LiveElements(opened).assert_inert()


def test_html_report_data_cannot_end_its_script(tmp_path: Path) -> None:
    from pytest_llmops._report.html import embedded_data

    hostile = ["</script><script>alert(1)</script>", "<!--", "line\u2028break\u2029", "\x1b[31m", "\ud800"]
    text = embedded_data({"tests": hostile, "again": hostile})
    assert "<" not in text and "\u2028" not in text and "\u2029" not in text
    page = LiveElements(f'<script type="application/json">{text}</script>')
    assert (
        page.texts()
        == ["</script><script>alert(1)</script>", "<!--", "line\u2028break\u2029", "\\x1b[31m", "\ufffd"] * 2
    )


def test_html_report_data_shows_each_text_as_visible_does() -> None:
    from pytest_llmops._report.html import embedded_data
    from pytest_llmops._report.text import visible

    # Escapes made once over the whole JSON text: an escaped backslash is never read as the
    # start of another escape, and tabs and newlines stay.
    hostile = ["\r\b\f\x01\x1f\x7f\x85", "\\u001b \\\\r \\x1b", 'tab\tline\nquote"slash\\', "plain words", ""]
    packed = json.loads(embedded_data({"texts": hostile, "key\x1b\r": 1}))
    assert packed["data"][1:] == [[0, *(visible(text, lines=True) for text in hostile)], 1]
    assert packed["shapes"][0] == ["texts", "key\\x1b\\x0d"]
    for alone in ("\r", "\b", "\f", "\x01", "\x7f", "\x85", "é\x9f", "é"):  # each the only one in its text
        assert json.loads(embedded_data({"text": alone}))["data"][1] == visible(alone, lines=True)
