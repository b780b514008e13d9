"""Tool calls and structured outputs through the real `openai` client to a scripted server."""

from __future__ import annotations

import json
from typing import Callable

import pytest
from servers import ScriptedServer, calls, tool_call

pytest_plugins = ["pytester"]

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Find an order by its id.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    },
}

TOOLS_MODULE = f"""
import pytest
from pytest_llmops import Message

LOOKUP = {LOOKUP!r}

def test_lookup(llm):
    question = [Message("user", "Where is order A-17?")]
    first = llm.complete(question, tools=[LOOKUP], tool_choice="auto", parallel_tool_calls=False)
    (call,) = first.tool_calls
    assert (call.name, call.arguments, call.error) == ("lookup_order", {{"order_id": "A-17"}}, None)
    assert first.finish_reason == "tool_calls" and first.text == ""
    result = Message.tool_result(call, {{"status": "shipped", "eta": "Friday"}})
    final = llm.complete([*question, first.message, result], tools=[LOOKUP])
    assert final.text == "Order A-17 ships Friday." and final.tool_calls == ()
"""


def run(pytester: pytest.Pytester, url: str, *args: str, subprocess: bool = False) -> pytest.RunResult:
    """The inner suite against ``url``; in a subprocess for runs that follow one another (an
    in-process run re-imports the plugin's modules, and the public names it exported before
    would be the old ones)."""
    runner = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    return runner("--llm-model", "openai:gpt-4o-mini", "--llm-openai-base-url", url, *args)


def test_tools_reach_the_server_and_results_go_back(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server([calls(tool_call("lookup_order", {"order_id": "A-17"})), "Order A-17 ships Friday."])
    pytester.makepyfile(TOOLS_MODULE)
    run(pytester, server.url, "--llm-record-mode", "off").assert_outcomes(passed=1)
    first, second = server.requests
    assert first["tools"] == [LOOKUP]
    assert (first["tool_choice"], first["parallel_tool_calls"]) == ("auto", False)
    assert "response_format" not in first and "tool_choice" not in second
    assert second["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": '{"order_id": "A-17"}'},
                }
            ],
        },
        {"role": "tool", "content": '{"status": "shipped", "eta": "Friday"}', "tool_call_id": "call_1"},
    ]


def test_tool_calls_are_recorded_and_replayed_and_a_changed_schema_misses(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server([calls(tool_call("lookup_order", {"order_id": "A-17"})), "Order A-17 ships Friday."])
    pytester.makepyfile(test_orders=TOOLS_MODULE)
    run(pytester, server.url, "--llm-record-mode", "new", subprocess=True).assert_outcomes(passed=1)
    files = sorted((pytester.path / "llm_recordings" / "test_orders.py").glob("[0-9a-f]*.json"))
    recorded = [json.loads(path.read_text()) for path in files]
    with_calls = [r for r in recorded if "tool_calls" in r["completion"]]
    assert len(files) == 2 and len(with_calls) == 1
    assert with_calls[0]["completion"]["tool_calls"] == [
        {"id": "call_1", "name": "lookup_order", "arguments": {"order_id": "A-17"}}
    ]
    assert all(r["key"]["request"]["settings"]["tools"] == [LOOKUP] for r in recorded)
    assert all("response_format" not in r["key"]["request"]["settings"] for r in recorded)

    run(pytester, server.url, "--llm-record-mode", "replay", subprocess=True).assert_outcomes(passed=1)
    assert len(server.requests) == 2  # replayed: the server saw nothing more

    changed = TOOLS_MODULE.replace("Find an order by its id.", "Find an order.")
    pytester.makepyfile(test_orders=changed)
    result = run(pytester, server.url, "--llm-record-mode", "replay", subprocess=True)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*no recording of this openai:gpt-4o-mini call*",
            "what differs from this test's nearest recording:",
            '  tools[0].function.description "Find an order by its id." -> "Find an order."',
        ]
    )


def test_arguments_that_are_not_json_are_kept_raw(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server([calls(tool_call("lookup_order", "{order_id: A-17"))])
    pytester.makepyfile(
        f"""
        def test_call(llm):
            (call,) = llm.complete("Where is A-17?", tools=[{LOOKUP!r}]).tool_calls
            assert call.arguments == "{{order_id: A-17"
            assert call.error.startswith("arguments are not valid JSON: Expecting property name")
        """
    )
    run(pytester, server.url, "--llm-record-mode", "off").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (calls({"id": "call_1", "type": "function", "function": {"arguments": "{}"}}), "names no function"),
        (calls({"type": "function", "function": {"name": "lookup_order", "arguments": "{}"}}), "has no id"),
        (calls({"id": "c", "type": "function", "function": {"name": "lookup_order", "arguments": 7}}), "malformed"),
    ],
    ids=["no-name", "no-id", "arguments-a-number"],
)
def test_a_malformed_tool_call_from_the_server_is_an_error(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer], answer: dict, problem: str
) -> None:
    server = scripted_server([answer])
    pytester.makepyfile(
        f"""
        def test_call(llm):
            llm.complete("Where is A-17?", tools=[{LOOKUP!r}])
        """
    )
    result = run(pytester, server.url, "--llm-record-mode", "off")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"ModelCallError: openai:gpt-4o-mini*{problem}*"])


SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "label",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"intent": {"enum": ["refund", "shipping"]}, "urgency": {"type": "string"}},
            "required": ["intent", "urgency"],
        },
    },
}


def test_a_json_schema_answer_is_checked_and_parsed(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server(
        lambda body: (
            '{"intent": "refund", "urgency": "high"}'
            if "good" in body["messages"][-1]["content"]
            else '{"intent": "complaint"}'
        )
    )
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.llm(response_format={SCHEMA_FORMAT!r})
        def test_good(llm):
            assert llm.complete("good ticket").json == {{"intent": "refund", "urgency": "high"}}

        @pytest.mark.llm(response_format={SCHEMA_FORMAT!r})
        def test_bad(llm):
            llm.complete("bad ticket")
        """
    )
    result = run(pytester, server.url, "--llm-record-mode", "off")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   *StructuredOutputError: openai:gpt-4o-mini: the answer does not match the 'label' JSON Schema "
            "of response_format: $: 'urgency' is a required property; $.intent: 'complaint' is not one of *",
            """E*answer: '{"intent": "complaint"}'""",
        ]
    )
    assert server.requests[0]["response_format"] == SCHEMA_FORMAT
