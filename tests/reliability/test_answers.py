"""A server's answer is checked field by field before anything uses or records it: a broken
field is an ERROR with a one-line reason, never a FAIL and never a recording."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from servers import ScriptedServer

Start = Callable[..., ScriptedServer]


def _answer(content: Any = "fine", *, usage: Any = None, model: Any = "scripted") -> tuple[int, dict[str, Any]]:
    usage = {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8} if usage is None else usage
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    return 200, {"id": "c", "object": "chat.completion", "created": 0, "model": model, "choices": [choice],
                 "usage": usage}


def _run(pytester: pytest.Pytester, server: ScriptedServer) -> pytest.RunResult:
    pytester.makepyfile("def test_it(llm):\n    assert llm.complete('q').text\n")
    return pytester.runpytest("--llm-model", "openai:scripted", "--llm-openai-base-url", server.url,
                              "--llm-max-retries", "0", "--llm-record-mode", "new", "-p", "no:cacheprovider")


@pytest.mark.parametrize(("answer", "reason"), [
    (_answer(5), "text is a int"),
    (_answer({"text": "hi"}), "text is a dict"),
    (_answer([{"type": "image_url", "image_url": {"url": "x"}}]), "text is a list"),
    (_answer(usage={"prompt_tokens": 7, "completion_tokens": -3, "total_tokens": 4}), "completion_tokens is -3, not a count of tokens"),
    (_answer(usage={"prompt_tokens": 10**15, "completion_tokens": 1, "total_tokens": 1}), "prompt_tokens is 1000000000000000, not a count"),
    (_answer(model=42), "model is 42, not a name"),
], ids=["content-int", "content-dict", "content-image-part", "negative-tokens", "absurd-tokens", "model-int"])
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
