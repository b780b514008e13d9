"""The tool metrics end to end: a model on a scripted server calls tools, the golden fixture
scores the calls against a dataset row's expected calls, and the scores are reported and gated
against a baseline like every other."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from servers import ScriptedServer, calls, tool_call

pytest_plugins = ["pytester"]

LOOKUP = {"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}
REFUND = {"type": "function", "function": {"name": "refund", "parameters": {"type": "object"}}}

ROWS = [
    {
        "id": "where",
        "input": "Where is A-17?",
        "expected": [{"name": "lookup_order", "arguments": {"order_id": "A-17"}}],
    },
    {"id": "refund", "input": "Refund A-17", "expected": ["lookup_order", "refund"]},
]


class Agent:
    """A scripted model: looks the order up, and refunds it when asked to (``refunds=False``:
    a regression that forgets to)."""

    def __init__(self, refunds: bool = True) -> None:
        self.refunds = refunds

    def __call__(self, body: dict[str, Any]) -> Any:
        question = body["messages"][-1]["content"]
        made = [tool_call("lookup_order", {"order_id": "A-17"}, "call_1")]
        if "Refund" in question and self.refunds:
            made.append(tool_call("refund", {"order_id": "A-17"}, "call_2"))
        return calls(*made)


DATASET_SUITE = f"""
import pytest

@pytest.mark.llm(tools=[{LOOKUP!r}, {REFUND!r}])
@pytest.mark.llm_dataset("cases/orders.jsonl")
@pytest.mark.golden(metrics={{"tool_call_f1": 1.0, "tool_trajectory": {{"threshold": 1.0, "mode": "in_order"}}}})
def test_order_agent(case, golden):
    golden.check(case.output, reference=case.expected)
"""


def run(pytester: pytest.Pytester, url: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--llm-model", "openai:agent", "--llm-openai-base-url", url, "--llm-record-mode", "off", *args
    )


def dataset(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", **{"cases/orders": "\n".join(json.dumps(row) for row in ROWS)})
    pytester.makepyfile(test_orders=DATASET_SUITE)


def test_tool_metrics_score_report_and_gate_against_a_baseline(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    dataset(pytester)
    good = scripted_server(Agent())
    run(pytester, good.url, "--llm-report-json", "base.json").assert_outcomes(passed=2)
    base = json.loads((pytester.path / "base.json").read_text())
    assert base["summary"]["metrics"]["tool_call_f1[output]"]["mean"] == 1.0
    assert base["summary"]["metrics"]["tool_trajectory[output]"]["mean"] == 1.0

    forgetful = scripted_server(Agent(refunds=False))
    result = run(pytester, forgetful.url, "--llm-baseline", "base.json", "--llm-report-json", "now.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*golden check 'output' failed: tool_call_f1 0.6667 (needs >= 1), tool_trajectory 0.5 (needs >= 1)",
            "*tool_call_f1*0.6667*FAIL",
            "*precision: 1, recall: 0.5, expected: ?'lookup_order', 'refund'?, called: ?'lookup_order'?",
            "*tool calls made (1):",
            '*  lookup_order({"order_id": "A-17"})',
            '*expected (the given reference): ?"lookup_order", "refund"?',
        ]
    )
    assert result.ret != 0
    now = json.loads((pytester.path / "now.json").read_text())
    refund = next(t for t in now["tests"] if t["extra"]["case"]["id"] == "refund")
    trajectory = next(s for s in refund["scores"] if s["metric"] == "tool_trajectory")
    assert trajectory["details"] == {
        "expected": ["lookup_order", "refund"],
        "called": ["lookup_order"],
        "mode": "in_order",
    }
    assert refund["calls"][0]["tool_calls"] == [
        {"id": "call_1", "name": "lookup_order", "arguments": {"order_id": "A-17"}}
    ]
    regressed = {entry["nodeid"] for entry in now["baseline"]["regressions"]}
    assert regressed == {"test_orders.py::test_order_agent[refund]"}


def test_a_multi_step_trajectory_and_a_malformed_call(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server(
        [
            calls(tool_call("lookup_order", {"order_id": "A-17"})),
            calls(tool_call("refund", '{"order_id": A-17}', "call_2")),
            "Refunded.",
        ]
    )
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_llmops import Message

        @pytest.mark.llm(tools=[{LOOKUP!r}, {REFUND!r}])
        def test_refund_flow(llm, golden):
            turns = [Message("user", "Refund A-17")]
            made = []
            for _ in range(3):
                answer = llm.complete(turns)
                made += answer.tool_calls
                turns += [answer.message, *(Message.tool_result(c, "done") for c in answer.tool_calls)]
            assert answer.text == "Refunded."
            golden.check(answer, tool_calls=made, metric="tool_trajectory",
                         options={{"expected": ["lookup_order", "refund"], "mode": "exact"}})
            golden.check(answer, tool_calls=made, metric="tool_args",
                         options={{"tool": "refund", "expected": {{"order_id": "A-17"}}}})
        """
    )
    result = run(pytester, server.url)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*golden check 'output' failed: tool_args 0 (needs >= 1)",
            "*problem: refund's arguments are not valid JSON: Expecting *",
            "*tool calls made (2):",
            '*  lookup_order({"order_id": "A-17"})',
            '*  refund({"order_id": A-17}) ?arguments are not valid JSON: Expecting value at line 1 column 14?',
        ]
    )
    assert len(server.requests) == 3
    assert server.requests[2]["messages"][3]["tool_calls"][0]["function"]["arguments"] == '{"order_id": A-17}'


def test_a_tool_metric_on_text_is_an_error_that_says_what_to_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_it(golden):
            golden.check("I looked it up.", metric="tool_called", options={"tool": "lookup_order"})
        """
    )
    result = pytester.runpytest("--llm-model", "echo")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*metric 'tool_called' needs tool_calls= *golden.check(completion)*"])
