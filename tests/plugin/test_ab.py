"""A/B variants through pytest: each model-calling test once per variant, the control keeping
its ids; a model variant served by a scripted server on 127.0.0.1, a template version beside its
template; the paired comparison in every report, the gate on it, record and replay, xdist."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from html_check import chromium_evaluate
from servers import ScriptedServer

pytest_plugins = ["pytester"]

ServerFactory = Callable[..., ScriptedServer]

CASES = (
    "\n".join(
        json.dumps({"id": name.lower(), "name": name, "expected": f"Say hello to {name}."})
        for name in ("Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal")
    )
    + "\n"
)

SUITE = """
import pytest

@pytest.mark.llm_dataset("cases.jsonl", prompt="greet")
@pytest.mark.golden(metric="rougeL", threshold=0.5)
def test_greeting(case, golden):
    golden.check(case.output, reference=case.expected)

def test_plain(llm, prompt):
    assert "Zed" in llm.complete(prompt("greet", name="Zed")).text

class TestInClass:
    def test_method(self, llm, llm_variant, request):
        assert not hasattr(self, "seen")  # each variant's test gets its own instance
        self.seen = llm.complete("hi").text
        assert llm_variant.control == (request.node.name == "test_method")

def test_no_model(llm_variant):
    assert llm_variant is None  # not a test of the tested model: no variants
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(
        ".jinja",
        **{"prompts/greet": "Say hello to {{ name }}.\n", "prompts/greet@v2": "Please greet {{ name }} warmly.\n"},
    )
    pytester.makefile(".jsonl", cases=CASES)
    pytester.makeini("[pytest]\nllm_model = echo\nllm_record_mode = off\n")
    return pytester


def report_of(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "report.json").read_text())


def run(pytester: pytest.Pytester, variants: str, *args: str, subprocess: bool = False) -> pytest.RunResult:
    runner = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    return runner("-p", "no:cacheprovider", "--llm-variants", variants, "--llm-report-json", "report.json", *args)


def test_each_variant_is_a_test_of_its_own_and_the_control_keeps_its_ids(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_suite=SUITE)
    collected = run(suite, "base =, v2 = @v2", "--collect-only", "-q")
    ids = [line for line in collected.outlines if "::" in line]
    assert ids[:4] == [
        "test_suite.py::test_greeting[ann]",
        "test_suite.py::test_greeting[ann-v2]",
        "test_suite.py::test_greeting[bob]",
        "test_suite.py::test_greeting[bob-v2]",
    ]
    assert ids[16:] == [
        "test_suite.py::test_plain",
        "test_suite.py::test_plain[v2]",
        "test_suite.py::TestInClass::test_method",
        "test_suite.py::TestInClass::test_method[v2]",
        "test_suite.py::test_no_model",
    ]
    collected.stdout.fnmatch_lines(["21 tests collected*"])
    selected = run(suite, "base =, v2 = @v2", "-k", "v2")
    selected.assert_outcomes(passed=2, failed=8, deselected=11)


def test_a_template_version_and_a_model_variant_change_only_what_they_name(
    suite: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    server = scripted_server(lambda body: "Hello there, friend.")
    suite.makepyfile(test_suite=SUITE)
    result = run(suite, "base =, v2 = @v2, served = openai:writer", "--llm-openai-base-url", server.url)
    result.assert_outcomes(passed=14, failed=17)  # v2 and the served model miss the references
    tests = {t["nodeid"].split("::", 1)[1]: t for t in report_of(suite)["tests"]}
    assert [p["name"] for p in tests["test_greeting[ann]"]["prompts"]] == ["greet"]
    assert [p["name"] for p in tests["test_greeting[ann-v2]"]["prompts"]] == ["greet@v2"]
    assert [p["name"] for p in tests["test_greeting[ann-served]"]["prompts"]] == ["greet"]
    assert tests["test_greeting[ann-v2]"]["calls"][0]["text"] == "Please greet Ann warmly."
    assert {body["model"] for body in server.requests} == {"writer"}
    assert tests["TestInClass::test_method[v2]"]["models"] == ["echo"]
    assert tests["test_greeting[ann-served]"]["extra"]["variant"] == {
        "label": "served",
        "control": "test_suite.py::test_greeting[ann]",
    }
    asked = sorted(m["content"] for body in server.requests for m in body["messages"])
    assert asked == sorted(
        ["Say hello to Zed.", "hi", *(f"Say hello to {n}." for n in "Ann Bob Cy Dee Eve Fay Gus Hal".split())]
    )


def test_a_variants_golden_check_reads_the_controls_snapshot_and_never_writes_one(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_suite="""
        def test_reply(llm, prompt, golden):
            golden.check(llm.complete(prompt("greet", name="Ann")))
    """
    )
    recording = run(suite, "base =, v2 = @v2", "--llm-snapshot-update")
    recording.assert_outcomes(passed=1, failed=1)
    recording.stdout.fnmatch_lines(
        [
            "*no reference 'output' for this test in __llm_snapshots__/test_suite.yaml.",
            "*Record it (then review the file in your PR) with:",
            "*    pytest test_suite.py::test_reply --llm-snapshot-update",
        ]
    )
    snapshot = (suite.path / "__llm_snapshots__" / "test_suite.yaml").read_text()
    assert "test_reply:" in snapshot and "test_reply[v2]" not in snapshot and "greet@v2" not in snapshot
    result = run(suite, "base =, v2 = @v2")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*exact         0  (needs >= 1)      FAIL",
            "*this A/B variant's test is checked against the reference of test_suite.py::test_reply, its control, "
            "and never writes one",
        ]
    )
    assert (suite.path / "__llm_snapshots__" / "test_suite.yaml").read_text() == snapshot


def test_each_variant_records_its_own_calls_and_replays_them_offline(
    suite: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    def answer(body: dict[str, Any]) -> str:  # mini repeats the prompt, big says something else
        return body["messages"][-1]["content"] if body["model"] == "mini" else "Hello there, friend."

    server = scripted_server(answer)
    suite.makepyfile(test_suite=SUITE)
    variants = "mini = openai:mini, big = openai:big"
    run(suite, variants, "--llm-openai-base-url", server.url, "--llm-record-mode", "new").assert_outcomes(
        passed=12, failed=9
    )
    recorded = report_of(suite)["comparison"]
    assert {body["model"] for body in server.requests} == {"mini", "big"}
    server.answers = lambda body: pytest.fail("a replayed run called the server")
    replayed = run(suite, variants, "--llm-openai-base-url", server.url, "--llm-record-mode", "replay")
    replayed.assert_outcomes(passed=12, failed=9)
    again = report_of(suite)["comparison"]
    assert again["variants"][1]["paired"] == recorded["variants"][1]["paired"]
    assert again["variants"][1]["verdict"] == recorded["variants"][1]["verdict"]


def comparison_figures(report: dict[str, Any]) -> list[Any]:
    return [
        (v["label"], v["paired"]["metrics"], v["paired"]["passed"], v["verdict"])
        for v in report["comparison"]["variants"][1:]
    ]


def test_the_comparison_and_gate_are_the_same_under_xdist(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_suite=SUITE)
    serial = run(suite, "base =, v2 = @v2", "--llm-ab-gate", "rougeL", subprocess=True)
    figures = comparison_figures(report_of(suite))
    parallel = run(suite, "base =, v2 = @v2", "--llm-ab-gate", "rougeL", "-n", "2", subprocess=True)
    assert comparison_figures(report_of(suite)) == figures
    for result in (serial, parallel):
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        result.stdout.fnmatch_lines(
            ["A/B gate FAILED:", "  v2: rougeL[[]output] -0.75 [[]-0.75, -0.75] is worse than base*"]
        )


def test_the_gate_fails_the_run_only_when_a_variant_is_significantly_worse(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_suite=SUITE.replace("threshold=0.5", "threshold=0.1"))  # every test passes
    worse = run(suite, "base =, v2 = @v2", "--llm-ab-gate", "rougeL, passed", "--llm-report-md", "summary.md")
    worse.assert_outcomes(passed=21)
    assert worse.ret == pytest.ExitCode.TESTS_FAILED
    worse.stdout.fnmatch_lines(
        [
            "A/B against base (95% intervals, bootstrap seed 0):",
            "  v2 vs base: rougeL[[]output] -0.75 [[]-0.75, -0.75], 0 better / 8 worse; pass 0 better / 0 worse, p = 1",
            "A/B gate FAILED:",
        ]
    )
    markdown = (suite.path / "summary.md").read_text()
    assert "### A/B comparison (control: base)" in markdown and "**A/B gate FAILED:**" in markdown
    assert "| v2 | echo | greet@\u2060v2 | 10 | 100% | 0.250 |" in markdown
    within = run(suite, "base =, v2 = @v2", "--llm-ab-gate", "rougeL", "--llm-ab-max-drop", "0.8")
    assert within.ret == pytest.ExitCode.OK
    within.stdout.fnmatch_lines(["A/B gate passed (rougeL)"])


def test_a_pairwise_judge_compares_each_variants_answer_with_the_controls(
    suite: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    def prefer_warm(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        first = prompt.split("RESPONSE A:")[1].split("RESPONSE B:")[0]
        return '{"reasoning": "warmer", "winner": "%s"}' % ("A" if "warmly" in first else "B")

    server = scripted_server(prefer_warm)
    suite.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.llm_dataset("cases.jsonl", prompt="greet")
        @pytest.mark.llm_judge(rubric="Friendly", mode="pairwise", label="warmth")
        def test_greeting(case, judge):
            if case.control is None:
                return
            judge.check(case.output, reference=case.control.text)
    """
    )
    for workers in ((), ("-n", "2")):
        result = run(
            suite,
            "base =, v2 = @v2",
            "--llm-judge-model",
            "openai:judge",
            "--llm-openai-base-url",
            server.url,
            *workers,
            subprocess=True,
        )
        result.assert_outcomes(passed=16)
        result.stdout.fnmatch_lines(
            ["  v2 vs base: judge:warmth 8 wins / 0 ties / 0 losses; pass 0 better / 0 worse, p = 1"]
        )
        roles = {c["role"] for t in report_of(suite)["tests"] for c in t["calls"] if t["nodeid"].endswith("-v2]")}
        assert roles == {"model", "judge", "control"}  # echo answers inline: the control's answer is asked again
        summary = report_of(suite)["summary"]["calls"]
        assert (summary["model"], summary["judge"]) == (16, 16)


def test_variants_that_cannot_be_read_stop_the_run_naming_the_setting(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_suite=SUITE)
    result = run(suite, "base =, base = @v2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*invalid value 'base =, base = @v2' for --llm-variants: expected variants like*"
            "(two variants are labelled 'base': give each its own `label = ...`).*"
        ]
    )


def test_the_html_report_shows_each_case_variant_by_variant_diffed_against_the_control(
    suite: pytest.Pytester, tmp_path: Path
) -> None:
    suite.makefile(".jinja", **{"prompts/greet@v2": "<img src=x onerror=alert(1)> {{ name }}\n"})
    suite.makepyfile(test_suite=SUITE)
    run(suite, "base =, v2 = @v2", "--llm-report-html", "report.html")
    shown = chromium_evaluate(
        suite.path / "report.html",
        tmp_path,
        """(() => {
        const matrix = document.getElementById('ab-matrix');
        matrix.open = true;
        return new Promise(done => setTimeout(() => done({
            head: Array.from(matrix.querySelectorAll('th')).map(th => th.textContent),
            rows: Array.from(matrix.querySelectorAll('tbody tr')).map(tr => Array.from(tr.cells).map(td => td.textContent)),
            inserted: Array.from(matrix.querySelectorAll('tbody tr:nth-child(2) ins')).map(i => i.textContent),
            images: document.querySelectorAll('img').length,
            verdicts: document.querySelector('.verdicts').textContent,
        }), 100));
    })()""",
    )
    assert shown["head"] == ["case", "base (control)", "v2"]
    rows = shown["rows"]
    assert [row[0] for row in rows[:3]] == [
        "test_suite.py::TestInClass::test_method",
        "test_suite.py::test_greeting[ann]",
        "test_suite.py::test_greeting[bob]",
    ]
    assert len(rows) == 10
    assert rows[1][1] == "passedrougeL[output] 1 >= 0.5Say hello to Ann."
    assert rows[1][2] == "failedrougeL[output] 0.182 < 0.5Say hello to Ann.<img src=x onerror=alert(1)> Ann"
    assert shown["inserted"] == ["<img src=x onerror=alert(1)> Ann"] and shown["images"] == 0
    assert "v2 vs base: rougeL[output]" in shown["verdicts"]


def test_shards_of_a_comparison_merge_into_the_comparison_of_one_run(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_suite=SUITE)
    run(suite, "base =, v2 = @v2", "--llm-ab-gate", "rougeL")
    whole = comparison_figures(report_of(suite))
    for shard in ("1/2", "2/2"):
        run(
            suite,
            "base =, v2 = @v2",
            "--llm-ab-gate",
            "rougeL",
            "--llm-shard",
            shard,
            "--llm-report-json",
            f"shard-{shard[0]}.json",
        )
    merged = subprocess.run(
        [sys.executable, "-m", "pytest_llmops", "merge", "shard-1.json", "shard-2.json", "--json", "report.json"],
        cwd=suite.path,
        capture_output=True,
        text=True,
    )
    assert merged.returncode == 1, merged.stdout  # the variant's failures, and the A/B gate
    assert "A/B gate FAILED:" in merged.stdout
    assert comparison_figures(report_of(suite)) == whole
