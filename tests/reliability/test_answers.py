"""A server's answer is checked field by field before anything uses or records it: a broken
field is an ERROR with a one-line reason, never a FAIL and never a recording."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest
from servers import ScriptedServer

Start = Callable[..., ScriptedServer]


def _answer(content: Any = "fine", *, usage: Any = None, model: Any = "scripted") -> tuple[int, dict[str, Any]]:
    usage = {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8} if usage is None else usage
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    return 200, {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [choice],
        "usage": usage,
    }


def _run(pytester: pytest.Pytester, server: ScriptedServer) -> pytest.RunResult:
    pytester.makepyfile("def test_it(llm):\n    assert llm.complete('q').text\n")
    return pytester.runpytest(
        "--llm-model",
        "openai:scripted",
        "--llm-openai-base-url",
        server.url,
        "--llm-max-retries",
        "0",
        "--llm-record-mode",
        "new",
        "-p",
        "no:cacheprovider",
    )


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (_answer(5), "text is a int"),
        (_answer({"text": "hi"}), "text is a dict"),
        (_answer([{"type": "image_url", "image_url": {"url": "x"}}]), "text is a list"),
        (
            _answer(usage={"prompt_tokens": 7, "completion_tokens": -3, "total_tokens": 4}),
            "completion_tokens is -3, not a count of tokens",
        ),
        (
            _answer(usage={"prompt_tokens": 10**15, "completion_tokens": 1, "total_tokens": 1}),
            "prompt_tokens is 1000000000000000, not a count",
        ),
        (_answer(model=42), "model is 42, not a name"),
        (
            _answer(usage={"prompt_tokens": "7", "completion_tokens": 1, "total_tokens": 8}),
            "prompt_tokens is '7', not a count",
        ),
        (
            _answer(usage={"prompt_tokens": 7, "completion_tokens": 1.5, "total_tokens": 8}),
            "completion_tokens is 1.5, not a count",
        ),
        (
            _answer(usage={"prompt_tokens": 7, "completion_tokens": True, "total_tokens": 8}),
            "completion_tokens is True, not a count",
        ),
        (_answer(usage="seven"), "prompt_tokens is 'seven', not a count"),
    ],
    ids=[
        "content-int",
        "content-dict",
        "content-image-part",
        "negative-tokens",
        "absurd-tokens",
        "model-int",
        "tokens-as-text",
        "tokens-fractional",
        "tokens-bool",
        "usage-not-an-object",
    ],
)
def test_a_broken_answer_is_an_error_and_is_not_recorded(
    pytester: pytest.Pytester, scripted_server: Start, answer: Any, reason: str
) -> None:
    result = _run(pytester, scripted_server([answer]))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"ModelCallError: openai:scripted: unusable answer: {reason}*"])
    assert not list(pytester.path.rglob("llm_recordings/**/[0-9a-f]*.json"))


def test_content_given_as_text_parts_is_read_as_its_text(pytester: pytest.Pytester, scripted_server: Start) -> None:
    parts = [{"type": "text", "text": "Paris is "}, {"type": "text", "text": "the capital."}]
    result = _run(pytester, scripted_server([_answer(parts)]))
    result.assert_outcomes(passed=1)
    [recording] = pytester.path.rglob("llm_recordings/**/[0-9a-f]*.json")
    assert json.loads(recording.read_text())["completion"]["text"] == "Paris is the capital."


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"content": None, "refusal": "I can't help with that."}, "I can't help with that."),
        (
            {
                "content": None,
                "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
            },
            "",
        ),
    ],
    ids=["refusal-field", "tool-calls"],
)
def test_null_content_beside_a_refusal_or_tool_calls_is_a_valid_answer(
    pytester: pytest.Pytester, scripted_server: Start, message: dict[str, Any], text: str
) -> None:
    status, body = _answer()
    body["choices"][0]["message"] = {"role": "assistant", **message}
    pytester.makepyfile(f"def test_it(llm):\n    assert llm.complete('q').text == {text!r}\n")
    result = pytester.runpytest(
        "--llm-model",
        "openai:scripted",
        "--llm-openai-base-url",
        scripted_server([(status, body)]).url,
        "--llm-max-retries",
        "0",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1)


def test_llm_timeout_bounds_an_attempt_against_a_server_that_drips_its_answer(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    """Every byte arrives before the SDK's read timeout: only a wall-clock deadline ends it."""
    server = scripted_server([("!drip", 0.25)])  # ~300 bytes: 75 s for the whole answer
    pytester.makepyfile("def test_it(llm):\n    llm.complete('q')\n")
    started = time.monotonic()
    result = pytester.runpytest(
        "--llm-model",
        "openai:scripted",
        "--llm-openai-base-url",
        server.url,
        "--llm-max-retries",
        "0",
        "--llm-timeout",
        "1",
        "-p",
        "no:cacheprovider",
    )
    took = time.monotonic() - started
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no answer within 1 s (llm_timeout)*"])
    assert took < 20, f"the run took {took:.0f} s: the deadline did not end the attempt"
