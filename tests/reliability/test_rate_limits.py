"""Adaptive concurrency: per endpoint, under ``llm_concurrency``, the pipeline starts at half the
bound, backs off on 429s and paces by ``x-ratelimit-*`` headers or, without them, by the window
a 429's ``retry-after`` tells; it grows back on success and reports what it did.

Each suite calls a scripted server on 127.0.0.1 that enforces a real rate limit.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Callable

import pytest
from servers import InFlight, RateLimit, ScriptedServer

from pytest_llmops._calls.endpoints import Endpoint, window_from_refusal
from pytest_llmops._models.openai_api import rate_limits

Start = Callable[..., ScriptedServer]

SUITE = """
import pytest

@pytest.mark.llm_dataset("cases.jsonl")
def test_reply(case):
    assert case.output
"""


def _suite(pytester: pytest.Pytester, count: int) -> None:
    lines = [json.dumps({"id": f"c{i:02}", "input": f"question {i}"}) for i in range(count)]
    (pytester.path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    pytester.makepyfile(test_suite=SUITE)


def _run(pytester: pytest.Pytester, server: ScriptedServer, *more: str) -> tuple[pytest.RunResult, dict]:
    result = pytester.runpytest(
        "--llm-model",
        "openai:scripted",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        "off",
        "-p",
        "no:cacheprovider",
        "--llm-report-json",
        "report.json",
        *more,
    )
    return result, json.loads((pytester.path / "report.json").read_text())


def test_a_rate_limited_server_is_paced_without_errors_and_never_above_the_bound(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    limit = RateLimit(per_second=20, delay=0.05)
    server = scripted_server(limit)
    _suite(pytester, 45)
    result, report = _run(pytester, server, "--llm-concurrency", "12")
    result.assert_outcomes(passed=45)
    assert limit.refused <= 5  # 45 calls at 20 a second: paced by the headers, not by 429s
    assert limit.most <= 12
    figures = report["run"]["endpoints"][server.url]
    assert figures["rate_limited"] == limit.refused and figures["final"] <= 12
    assert figures["waited_s"] > 0.5  # 45 calls at 20/s take two seconds: most of them waited
    result.stdout.fnmatch_lines([f"endpoint {server.url}: {limit.refused} answered 429; concurrency lowest *"])


def test_a_429_halves_the_endpoint_pauses_it_for_retry_after_and_it_grows_back(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    answered = InFlight(delay=0.05)
    refused = ("!headers", {"retry-after": "0.4"}, (429, {"error": {"message": "slow down"}}))
    server = scripted_server([refused, *[answered] * 30])
    _suite(pytester, 30)
    start = time.monotonic()
    result, report = _run(pytester, server, "--llm-concurrency", "4")
    result.assert_outcomes(passed=30)
    assert time.monotonic() - start > 0.4  # the retried call waited for what the server asked
    figures = report["run"]["endpoints"][server.url]
    assert figures["rate_limited"] == 1
    assert figures["lowest"] == 2  # halved once (a bound of 4 is also where it starts)
    assert figures["final"] == 4  # and back at the bound, never above it
    assert figures["waited_s"] > 0.3  # other calls waited out the pause


def test_without_rate_limit_headers_the_window_a_429_tells_paces_the_calls(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    limit = RateLimit(per_second=20, delay=0.05, limit_headers=False)
    server = scripted_server(limit)
    _suite(pytester, 60)
    result, report = _run(pytester, server, "--llm-concurrency", "8")
    result.assert_outcomes(passed=60)
    # Rounds of 4 (half the bound), 8 and 8 fill the window; the next round of 8 is refused and
    # tells the window. Paced by it, the other 40 calls (two more seconds) meet few 429s, if any;
    # halving alone would meet one or more 429s at every regrowth.
    assert limit.refused <= 12
    assert report["run"]["endpoints"][server.url]["rate_limited"] == limit.refused


def test_an_endpoint_starts_at_half_the_bound_and_doubles_to_it_until_a_429() -> None:
    endpoint = Endpoint(16, threading.Event())
    assert endpoint.limit == 8
    for _ in range(8):  # a round of answers
        with endpoint.held() as ticket:
            pass
        endpoint.answered(ticket, None)
    assert endpoint.limit == 16
    assert Endpoint(3, threading.Event()).limit == 3 and Endpoint(6, threading.Event()).limit == 4
    halved = Endpoint(16, threading.Event())
    with halved.held() as ticket:
        pass
    halved.rate_limited(ticket, 0.0)
    time.sleep(0.15)  # past the cooldown
    halved.answered(ticket, None)
    assert halved.limit == 4 + 1 / 4  # halved from 8, then grown by 1/limit, no longer doubling


def test_the_window_learned_from_a_429_is_the_narrowest_that_explains_every_call() -> None:
    burst = [0.0] * 16 + [0.2] * 4  # 16 calls at once, then 4 more as the first answers came
    assert window_from_refusal(burst, refused=0.2, retry_after=0.8, margin=0.02) == (20, 1.0)
    # Calls evenly paced at the server's 20 a second, one refused at 0.98 (room at 1.0, when the
    # call at 0 leaves): a narrower window of the same pace explains them too, and is taken.
    even = [i * 0.05 for i in range(20)]
    limit, seconds = window_from_refusal(even, refused=0.98, retry_after=0.02, margin=0.01) or (0, 1.0)
    assert seconds < 1.0 and 19 <= limit / seconds <= 20.5
    # A window the earlier calls would have overfilled does not explain them: 12 calls at 0 and 8
    # at 0.5, refused at 0.6 with room at 1.0, are 20 in 1 s (8 in 0.5 s would have refused 4).
    uneven = [0.0] * 12 + [0.5] * 8
    assert window_from_refusal(uneven, refused=0.6, retry_after=0.4, margin=0.02) == (20, 1.0)
    # A call started just after the refused one (it reached the server first) and a retry-after
    # shorter than that: no window ends before the calls in it began, nor is one so short told.
    assert window_from_refusal([0.5, 0.51], refused=0.5, retry_after=0.001, margin=0.02) is None
    # Nothing before it to count: a 429 on the first call tells no window.
    assert window_from_refusal([], refused=0.0, retry_after=1.0, margin=0.02) is None


def test_fixed_concurrency_keeps_the_bound_and_reports_no_endpoint(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    in_flight = InFlight(hold=4, delay=0.05)
    server = scripted_server(in_flight)
    _suite(pytester, 12)
    result, report = _run(pytester, server, "--llm-concurrency", "4", "--llm-adaptive-concurrency", "off")
    result.assert_outcomes(passed=12)
    assert in_flight.most == 4
    assert report["run"]["endpoints"] == {}
    assert "endpoint " not in result.stdout.str()


def test_rate_limit_headers_are_read_as_openai_writes_them() -> None:
    limits = rate_limits(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "6m0s",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": "20ms",
        }
    )
    assert limits is not None
    assert (limits.limit_requests, limits.remaining_requests, limits.reset_requests_s) == (500, 499, 360.0)
    assert (limits.remaining_tokens, limits.reset_tokens_s) == (0, 0.02)
    assert rate_limits({"x-ratelimit-reset-requests": "1.5"}).reset_requests_s == 1.5  # type: ignore[union-attr]
    assert rate_limits({"x-ratelimit-reset-requests": "soon"}).reset_requests_s is None  # type: ignore[union-attr]
    assert rate_limits({"content-type": "application/json"}) is None


def test_a_bad_switch_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_only():\n    pass\n")
    result = pytester.runpytest("--llm-adaptive-concurrency", "sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid value 'sometimes' for --llm-adaptive-concurrency: expected on or off*"])
