"""Tool calls: reading them from an open model's text, the values, and the tool metrics' scoring."""

from __future__ import annotations

import pytest

from pytest_llmops import Completion, Message, ToolCall
from pytest_llmops._models.base import GenerationSettings
from pytest_llmops._models.tool_text import tool_calls_in
from pytest_llmops.metrics import Grounding, MetricError, score_many

OFFERED = {"lookup_order", "refund"}


def test_hermes_blocks_are_calls_and_the_text_around_them_stays() -> None:
    text = (
        "Let me check.\n<tool_call>\n"
        '{"name": "lookup_order", "arguments": {"order_id": "A-17"}}\n</tool_call>\n'
        '<tool_call>{"name": "refund", "parameters": {"amount": 5}}</tool_call>'
    )
    left, calls = tool_calls_in(text, OFFERED)
    assert left == "Let me check."
    assert calls == (
        ToolCall("call_1", "lookup_order", {"order_id": "A-17"}),
        ToolCall("call_2", "refund", {"amount": 5}),
    )


def test_a_block_cut_off_by_max_tokens_counts_to_the_end() -> None:
    left, calls = tool_calls_in('<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": "A-', OFFERED)
    (call,) = calls
    assert left == "" and call.name == "lookup_order"
    assert call.arguments == '{"name": "lookup_order", "arguments": {"order_id": "A-'
    assert call.error is not None and call.error.startswith("the tool call is not valid JSON")


def test_a_bare_json_object_is_a_call_only_when_it_names_a_tool_offered() -> None:
    assert tool_calls_in('```json\n{"name": "refund", "arguments": "{\\"amount\\": 5}"}\n```', OFFERED)[1] == (
        ToolCall("call_1", "refund", {"amount": 5}),
    )
    answer = '{"name": "Ann", "arguments": ["a"]}'  # a structured answer, not a call
    assert tool_calls_in(answer, OFFERED) == (answer, ())
    assert tool_calls_in("<tool_call>no name here</tool_call>", OFFERED) == ("<tool_call>no name here</tool_call>", ())


def test_tool_values_round_trip_and_messages_refuse_what_no_server_takes() -> None:
    call = ToolCall.parsed("c1", "lookup_order", '{"order_id": "A-17"}')
    bad = ToolCall.parsed("c2", "lookup_order", "{order_id")
    assert ToolCall.from_dict(call.to_openai()) == call and ToolCall.from_dict(bad.to_dict()) == bad
    assert bad.arguments_text == "{order_id" and bad.error.startswith("arguments are not valid JSON")
    completion = Completion("", "m", "openai", tool_calls=(call, bad))
    assert Completion.from_dict(completion.to_dict()) == completion
    assert completion.message == Message("assistant", "", tool_calls=(call, bad))
    assert Message.from_dict({"role": "assistant", "content": None, "tool_calls": [call.to_openai()]}).tool_calls == (
        call,
    )
    with pytest.raises(ValueError, match="a tool message needs the tool_call_id"):
        Message("tool", "shipped")
    with pytest.raises(ValueError, match="a user message cannot carry tool calls"):
        Message("user", "hi", tool_calls=(call,))
    with pytest.raises(ValueError, match="is not valid JSON: Expecting value"):
        Completion("Sure! {", "m", "openai", spec="openai:m").json  # noqa: B018


def test_a_request_without_tools_keeps_the_key_it_had() -> None:
    """Recordings made before tools existed hold these settings, and nothing more."""
    assert list(GenerationSettings().to_dict()) == [
        "temperature",
        "max_tokens",
        "top_p",
        "seed",
        "stop",
        "top_logprobs",
    ]
    assert Message("user", "hi").to_dict() == {"role": "user", "content": "hi"}


CALLS = (
    ToolCall("1", "lookup_order", {"order_id": "A-17", "tags": ["b", "a"], "gift": True}),
    ToolCall("2", "refund", {"amount": 5}),
    ToolCall.parsed("3", "notify", "{bad"),
)


def score(metric: str, reference: str | None = None, calls: tuple[ToolCall, ...] = CALLS, **options: object) -> float:
    (measured,) = score_many(metric, [""], [reference], groundings=[Grounding.of(tool_calls=calls)], **options)
    return measured.value


def test_tool_called() -> None:
    assert score("tool_called", tool="refund") == 1.0
    assert score("tool_called", "cancel") == 0.0
    assert score("tool_called", "refund", calls=()) == 0.0


def test_tool_args_partial_schema_and_unordered_lists() -> None:
    assert score("tool_args", '{"order_id": "A-17"}') == 1.0
    assert score("tool_args", expected={"order_id": "A-17", "tags": ["a", "b"]}) == 0.5
    assert score("tool_args", expected={"tags": ["a", "b"]}, unordered=True) == 1.0
    assert score("tool_args", expected={"gift": 1}) == 0.0  # true is not 1
    assert score("tool_args", tool="refund", schema={"type": "object", "required": ["amount"]}) == 1.0
    assert score("tool_args", tool="refund", schema={"required": ["order_id"]}, expected={"amount": 5}) == 0.5
    assert score("tool_args", tool="notify", expected={"x": 1}) == 0.0  # its arguments are not JSON
    assert score("tool_args", tool="cancel", expected={"x": 1}) == 0.0


@pytest.mark.parametrize(
    ("expected", "mode", "value"),
    [
        (["lookup_order", "refund", "notify"], "exact", 1.0),
        (["lookup_order", "refund"], "exact", 2 / 3),
        (["lookup_order", "notify"], "in_order", 1.0),
        (["refund", "lookup_order"], "in_order", 0.5),
        (["refund", "lookup_order"], "any_order", 1.0),
        ([{"name": "lookup_order", "arguments": {"order_id": "B-2"}}, "refund"], "any_order", 0.5),
        ([{"name": "notify", "arguments": {}}], "any_order", 0.0),  # malformed arguments match none
    ],
)
def test_tool_trajectory_modes(expected: list, mode: str, value: float) -> None:
    assert score("tool_trajectory", expected=expected, mode=mode) == pytest.approx(value)


def test_tool_call_f1_matches_each_call_once() -> None:
    assert score("tool_call_f1", '["lookup_order", "refund", "notify"]') == 1.0
    # 2 of 3 calls expected, 2 of 4 expected calls made: P 2/3, R 1/2
    assert score("tool_call_f1", expected=["refund", "refund", "lookup_order", "cancel"]) == pytest.approx(4 / 7)
    assert score("tool_call_f1", expected=[], calls=()) == 1.0


def test_malformed_calls_are_named_in_the_details() -> None:
    (measured,) = score_many("tool_called", [""], groundings=[Grounding.of(tool_calls=CALLS)], tool="refund")
    assert measured.details["malformed"] == [
        "notify({bad) [arguments are not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2]"
    ]


@pytest.mark.parametrize(
    ("metric", "options", "reference", "message"),
    [
        ("tool_called", {}, None, "needs the tool's name: option tool= or the reference"),
        ("tool_args", {}, None, "needs schema= or expected arguments"),
        ("tool_args", {"schema": {"type": "thing"}}, None, "not a valid JSON Schema"),
        ("tool_trajectory", {"mode": "sideways", "expected": []}, None, "option 'mode' must be one of"),
        ("tool_trajectory", {}, '{"name": "refund"}', "the reference must be a JSON list of expected calls"),
        ("tool_call_f1", {"expected": [{"tool": "refund"}]}, None, "expected call 1 must be a tool name or"),
    ],
)
def test_bad_expectations_are_metric_errors(metric: str, options: dict, reference: str | None, message: str) -> None:
    with pytest.raises(MetricError, match=message):
        score(metric, reference, **options)


def test_a_text_output_gives_no_tool_calls() -> None:
    with pytest.raises(MetricError, match=r"needs tool_calls= .*golden.check\(completion\)"):
        score_many("tool_called", ["hi"], tool="refund")
