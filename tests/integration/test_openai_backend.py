"""The OpenAI backend: the real `openai` client over HTTP to servers on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest
from servers import KatanServer, ScriptedServer, free_port

pytest_plugins = ["pytester"]


def run(pytester: pytest.Pytester, url: str, *args: str, model: str = "openai:katan-echo") -> pytest.RunResult:
    """Run the inner suite against ``url`` with every call live (no record/replay), in a process
    of its own: the SDK and its HTTP library are imported afresh, as in a user's run (in-process
    runs re-import them beside the outer run's copies, whose exception classes then differ)."""
    return pytester.runpytest_subprocess(
        "--llm-model", model, "--llm-openai-base-url", url, "--llm-record-mode", "off", *args
    )


@pytest.mark.slow
def test_chat_against_llm_katan(pytester: pytest.Pytester, katan: Callable[..., KatanServer]) -> None:
    server = katan()
    pytester.makepyfile(
        """
        from pytest_llmops.testing import check_backend

        def test_chat(llm):
            out = llm.complete("Where is my order?")
            assert "User: Where is my order?" in out.text
            assert out.model == "katan-echo" and out.backend == "openai"
            assert out.prompt_tokens > 0 and out.completion_tokens > 0 and out.latency_s > 0

        def test_system_turn_is_sent(llm):
            out = llm.chat([{"role": "system", "content": "Be terse"}, {"role": "user", "content": "hi"}])
            assert "messages=2" in out.text

        def test_backend_contract(llm):
            check_backend(llm.backend, max_tokens=64, deterministic=False)  # replies carry a timestamp
        """
    )
    run(pytester, server.url, "--llm-prices", "katan-echo = 0 0").assert_outcomes(passed=3)


def test_settings_reach_the_server_and_key_is_sent_only_as_header(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted_server(["fine"])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm(temperature=0.5, max_tokens=12, seed=7, stop=["END"])
        def test_call(llm):
            assert llm.complete("q").text == "fine"

        def test_raw_prompt_uses_completions(llm):
            assert llm.complete("Once upon", raw=True).text == "fine"
        """
    )
    run(pytester, server.url, model="openai:gpt-4o-mini").assert_outcomes(passed=2)
    chat, text = server.requests
    assert chat["model"] == "gpt-4o-mini" and chat["messages"] == [{"role": "user", "content": "q"}]
    assert (chat["temperature"], chat["max_tokens"], chat["seed"], chat["stop"]) == (0.5, 12, 7, ["END"])
    assert text["prompt"] == "Once upon" and "messages" not in text
    assert "sk-test-SECRET" not in repr(server.requests)


def test_raw_prompt_logprobs_are_read(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    logprobs = {
        "tokens": ["Hi", "!"],
        "token_logprobs": [-0.1, -0.5],
        "top_logprobs": [{"Hi": -0.1, "Yo": -2.5}, {"!": -0.5}],
    }
    server = scripted_server(
        [
            (
                200,
                {
                    "id": "c",
                    "object": "text_completion",
                    "created": 0,
                    "model": "scripted",
                    "choices": [{"index": 0, "text": "Hi!", "finish_reason": "stop", "logprobs": logprobs}],
                    "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
                },
            )
        ]
    )
    pytester.makepyfile(
        """
        def test_raw(llm):
            out = llm.complete("Say hi", raw=True, top_logprobs=2)
            assert [(t.token, t.logprob, t.top) for t in out.logprobs] == [
                ("Hi", -0.1, (("Hi", -0.1), ("Yo", -2.5))), ("!", -0.5, (("!", -0.5),))
            ]
        """
    )
    run(pytester, server.url).assert_outcomes(passed=1)
    assert server.requests[0]["logprobs"] == 2


def test_cost_comes_from_the_price_table(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server(["one two three"], model="gpt-4o-mini")
    pytester.makepyfile(
        """
        def test_cost(llm):
            out = llm.complete("q")
            # gpt-4o-mini: $0.15 / $0.60 per million input / output tokens; the server counts 7 + 3.
            assert abs(out.cost_usd - (7 * 0.15 + 3 * 0.60) / 1_000_000) < 1e-12
        """
    )
    run(pytester, server.url, model="openai:gpt-4o-mini").assert_outcomes(passed=1)


def test_transient_errors_are_retried(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    busy = (429, {"error": {"message": "slow down", "type": "rate_limit"}})
    broken = (500, {"error": {"message": "boom", "type": "server"}})
    server = scripted_server([busy, broken, "recovered"])
    pytester.makepyfile("def test_it(llm):\n    assert llm.complete('q').text == 'recovered'\n")
    run(pytester, server.url, "--llm-max-retries", "2").assert_outcomes(passed=1)
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("answers", "args", "reason"),
    [
        ([(500, {"error": {"message": "boom"}})], ["--llm-max-retries", "1"], "*answered HTTP 500: boom*"),
        ([(401, {"error": {"message": "bad key"}})], [], "*answered HTTP 401: bad key*"),
        (["!garbage"], ["--llm-max-retries", "0"], "*/v1 answered without choices: *not json*"),
        (["!close"], ["--llm-max-retries", "0"], "*connection failed*"),
        ([("!hang", 5)], ["--llm-max-retries", "0", "--llm-timeout", "0.5"], "*: no answer within 0.5 s (llm_timeout)"),
    ],
    ids=["500-after-retries", "401", "garbage", "closed-connection", "hang"],
)
def test_failing_server_gives_a_one_line_error(
    pytester: pytest.Pytester,
    scripted_server: Callable[..., ScriptedServer],
    answers: list[Any],
    args: list[str],
    reason: str,
) -> None:
    server = scripted_server(answers)
    pytester.makepyfile("def test_it(llm):\n    llm.complete('q')\n")
    result = run(pytester, server.url, *args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["ModelCallError: openai:katan-echo at http://127.0.0.1:" + reason])
    assert "Traceback" not in result.stdout.str()


def test_outage_errors_every_test_in_bounded_time(pytester: pytest.Pytester) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_it(llm, n):
            llm.complete("q")
        """
    )
    result = run(pytester, url, "--llm-max-retries", "0")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(["*connection failed*"])


def test_map_overlaps_calls_in_time(pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]) -> None:
    in_flight = peak = 0
    lock = threading.Lock()

    def slow_answer(body: dict[str, Any]) -> str:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.3)
        with lock:
            in_flight -= 1
        return "ok"

    server = scripted_server(slow_answer)
    pytester.makepyfile(
        """
        def test_many(llm):
            assert [o.text for o in llm.map([f"q{i}" for i in range(8)])] == ["ok"] * 8
        """
    )
    run(pytester, server.url, "--llm-concurrency", "4").assert_outcomes(passed=1)
    assert len(server.requests) == 8
    assert peak == 4  # bounded by llm_concurrency, and really concurrent


@pytest.mark.slow
def test_rate_limited_katan_is_an_error(pytester: pytest.Pytester, katan: Callable[..., KatanServer]) -> None:
    server = katan("--rate-limit-after", "1")
    pytester.makepyfile(
        """
        def test_first(llm):
            llm.complete("q")

        def test_second(llm):
            llm.complete("q")
        """
    )
    result = run(pytester, server.url, "--llm-max-retries", "1")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*answered HTTP 429*"])


def test_missing_api_key_for_the_hosted_api_is_an_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    pytester.makepyfile("def test_it(llm):\n    llm.complete('q')\n")
    result = pytester.runpytest("--llm-model", "openai:gpt-4o-mini")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*openai:gpt-4o-mini needs OPENAI_API_KEY*"])
