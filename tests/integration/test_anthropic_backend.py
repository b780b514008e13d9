"""The Anthropic backend: the official ``anthropic`` SDK over HTTP to a scripted Messages API
(``/v1/messages``) on 127.0.0.1; recorded, priced, replayed without the SDK."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from servers import ScriptedServer

pytest_plugins = ["pytester"]

pytest.importorskip("anthropic")

Start = Callable[..., ScriptedServer]
KEY = "sk-ant-api03-4f9c2a7e1b8d4e6f"
MODEL = "claude-3-5-haiku-20241022"


def message(text: str, stop_reason: str = "end_turn", **usage: int) -> tuple[int, dict[str, Any]]:
    """A Messages API answer of ``text``."""
    return 200, {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "model": MODEL,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 3, **usage},
    }


def anthropic_error(status: int, kind: str, text: str, retry_after: str = "0") -> tuple[Any, ...]:
    return (
        "!headers",
        {"retry-after": retry_after},
        (status, {"type": "error", "error": {"type": kind, "message": text}}),
    )


def run(pytester: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return pytester.runpytest(f"--llm-model=anthropic:{MODEL}", f"--llm-anthropic-base-url={server.root}", *args)


def test_a_chat_sends_system_turns_apart_and_reads_usage_stop_reason_and_price(
    pytester: pytest.Pytester, scripted_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted_server([message("Tomorrow.", cache_read_input_tokens=4)], key=KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    pytester.makepyfile(
        """
        import json, os, sys
        import pytest

        @pytest.mark.llm(temperature=0.5, max_tokens=40, top_p=0.9, stop=["END"], seed=3)
        def test_chat(llm):
            out = llm.chat([
                {"role": "system", "content": "Be terse"},
                {"role": "system", "content": "Answer in English"},
                {"role": "user", "content": "Where is my order?"},
            ])
            assert out.text == "Tomorrow."
            with open("out.json", "w") as file:
                json.dump(out.to_dict(), file)
            if os.environ.get("REPLAYING"):  # no SDK and no HTTP client to replay
                assert not {"anthropic", "httpx", "httpx2", "openai"} & set(sys.modules)
        """
    )
    run(pytester, server).assert_outcomes(passed=1)
    [(path, key)] = server.seen
    assert path == "/v1/messages" and key == KEY
    [body] = server.requests
    assert body["system"] == "Be terse\n\nAnswer in English"
    assert body["messages"] == [{"role": "user", "content": "Where is my order?"}]
    assert (body["model"], body["max_tokens"], body["temperature"], body["top_p"]) == (MODEL, 40, 0.5, 0.9)
    assert body["stop_sequences"] == ["END"] and "seed" not in body
    live = json.loads((pytester.path / "out.json").read_text())
    assert (live["prompt_tokens"], live["completion_tokens"], live["finish_reason"]) == (16, 3, "stop")
    assert (live["backend"], live["model"]) == ("anthropic", MODEL)
    assert live["cost_usd"] == pytest.approx((16 * 0.8 + 3 * 4) / 1e6)  # genai-prices' Claude 3.5 Haiku

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("REPLAYING", "1")
    replay = pytester.runpytest_subprocess(
        f"--llm-model=anthropic:{MODEL}", f"--llm-anthropic-base-url={server.root}", "--llm-record-mode=replay"
    )
    replay.assert_outcomes(passed=1)
    assert len(server.requests) == 1
    assert json.loads((pytester.path / "out.json").read_text())["cost_usd"] == live["cost_usd"]
    [recording] = (pytester.path / "llm_recordings").rglob("[!_]*.json")
    assert KEY.encode() not in recording.read_bytes()


@pytest.mark.parametrize(("stop_reason", "finish"), [("max_tokens", "length"), ("pause_turn", "pause_turn")])
def test_stop_reasons_read_as_finish_reasons(
    pytester: pytest.Pytester, scripted_server: Start, stop_reason: str, finish: str
) -> None:
    server = scripted_server([message("Tomor", stop_reason)])
    pytester.makepyfile(f"def test_it(llm):\n    assert llm.complete('hi').finish_reason == {finish!r}\n")
    run(pytester, server, "--llm-record-mode=off").assert_outcomes(passed=1)


def test_429_529_and_5xx_are_retried_with_the_servers_wait_and_a_400_is_an_error(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    server = scripted_server(
        [
            anthropic_error(429, "rate_limit_error", "slow down", retry_after="0.2"),
            anthropic_error(529, "overloaded_error", "Overloaded"),
            anthropic_error(500, "api_error", "oops"),
            message("Tomorrow."),
            anthropic_error(400, "invalid_request_error", "max_tokens: too large"),
        ]
    )
    pytester.makepyfile(
        """
        def test_retried(llm):
            assert llm.complete("first").text == "Tomorrow."

        def test_refused(llm):
            llm.complete("second")
        """
    )
    result = run(pytester, server, "--llm-record-mode=off", "--llm-max-retries=3", "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*anthropic:{MODEL} at {server.root} answered HTTP 400: max_tokens: too large*"])
    assert len(server.requests) == 5


def test_a_raw_prompt_is_an_error_the_messages_api_has_no_text_completions(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    server = scripted_server([message("x")])
    pytester.makepyfile("def test_it(llm):\n    llm.complete('Once upon', raw=True)\n")
    result = run(pytester, server, "--llm-record-mode=off")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the Messages API takes chat turns, not a raw text prompt (raw=True)*"])
    assert server.requests == []


def test_a_named_anthropic_endpoint_reads_its_key_from_key_env(
    pytester: pytest.Pytester, scripted_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted_server([message("Tomorrow.")], key=KEY)
    monkeypatch.setenv("CLAUDE_GATEWAY_KEY", KEY)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    pytester.makepyfile("def test_it(llm):\n    assert llm.complete('hi').text == 'Tomorrow.'\n")
    result = pytester.runpytest(
        f"--llm-model=anthropic@gateway:{MODEL}",
        f"--llm-endpoints=gateway = {server.root} key_env=CLAUDE_GATEWAY_KEY",
        "--llm-record-mode=off",
    )
    result.assert_outcomes(passed=1)
    assert server.seen == [("/v1/messages", KEY)]


def test_anthropics_rate_limit_headers_are_read_for_adaptive_concurrency() -> None:
    import time
    from datetime import datetime, timezone

    from pytest_llmops._models.anthropic_api import rate_limits
    from pytest_llmops._models.base import RateLimits

    reset = datetime.fromtimestamp(time.time() + 30, timezone.utc).isoformat().replace("+00:00", "Z")
    limits = rate_limits(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": reset,
            "anthropic-ratelimit-tokens-remaining": "abc",
        }
    )
    assert limits is not None and (limits.limit_requests, limits.remaining_requests) == (50, 0)
    assert 28 < (limits.reset_requests_s or 0) <= 30 and limits.remaining_tokens is None
    assert rate_limits({}) is None and rate_limits({"anthropic-ratelimit-requests-reset": "soon"}) == RateLimits()
