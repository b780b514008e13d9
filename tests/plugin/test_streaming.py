"""Streamed calls: the real ``openai`` client with ``stream=True`` against servers on 127.0.0.1
that answer Server-Sent Events with scripted delays; timings measured, recorded, replayed,
reported and gated (in a run and in a merged report); a stream broken mid-way is an ERROR.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from servers import KatanServer, ScriptedServer, Streamed

from pytest_llmops._report.json_report import validate

pytest_plugins = ["pytester"]

FIVE = Streamed(("one ", "two ", "three ", "four ", "five"), first=0.3, every=0.1)


def run(pytester: pytest.Pytester, url: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p", "no:cacheprovider", "--llm-model", "openai:app", "--llm-openai-base-url", url, *args
    )


def test_a_streamed_call_measures_time_to_first_token_and_tokens_per_second(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server([FIVE])
    pytester.makepyfile(
        """
        def test_chat(llm):
            out = llm.complete("count to five", stream=True)
            assert out.text == "one two three four five"
            assert (out.prompt_tokens, out.completion_tokens, out.finish_reason) == (7, 5, "stop")
            # The first piece comes 0.3 s in; four more, 0.1 s apart: 5 tokens in >= 0.4 s (only
            # the lower bounds are the server's: a loaded machine may take longer).
            assert out.ttft_s >= 0.3 and out.latency_s >= out.ttft_s + 0.4
            assert 0 < out.tokens_per_s <= 5 / 0.4

        def test_completions(llm):
            out = llm.complete("count", raw=True, stream=True)
            assert out.text == "one two three four five" and out.ttft_s >= 0.3

        def test_a_call_that_does_not_stream_has_no_timings(llm):
            out = llm.complete("count")
            assert out.text == "one two three four five"
            assert out.ttft_s is None and out.tokens_per_s is None
        """
    )
    run(pytester, server.url, "--llm-record-mode", "off").assert_outcomes(passed=3)
    streamed = [body for body in server.requests if body.get("stream")]
    assert len(streamed) == 2
    assert all(body["stream_options"] == {"include_usage": True} for body in streamed)


def test_llm_stream_streams_every_call_and_the_marker_turns_it_off(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server(["fine answer"])
    pytester.makepyfile(
        """
        import pytest

        def test_streamed(llm):
            out = llm.complete("a")
            assert out.text == "fine answer" and out.ttft_s is not None

        @pytest.mark.llm(stream=False)
        def test_not_streamed(llm):
            assert llm.complete("b").ttft_s is None

        @pytest.mark.llm(stream="yes")
        def test_bad_marker(llm):
            pass
        """
    )
    result = run(pytester, server.url, "--llm-record-mode", "off", "--llm-stream", "on")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*bad generation setting(s) stream='yes' (expected True or False*"])
    assert {body["messages"][0]["content"]: bool(body.get("stream")) for body in server.requests} == {
        "a": True,
        "b": False,
    }


def test_a_backend_that_cannot_stream_takes_its_whole_latency_to_the_first_token(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_echo(llm):
            out = llm.complete("hello there", stream=True)
            assert out.text == "hello there"
            assert out.ttft_s == out.latency_s and out.tokens_per_s is None
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "--llm-model", "echo", "--llm-record-mode", "off").assert_outcomes(
        passed=1
    )


def test_a_stream_broken_mid_way_is_retried_then_an_error(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    broken = Streamed(("one ", "two ", "three"), break_after=1)
    pytester.makepyfile(
        """
        def test_chat(llm):
            assert llm.complete("count", stream=True).text == "one two three four five"
        """
    )
    recovers = scripted_server([broken, FIVE])
    run(pytester, recovers.url, "--llm-record-mode", "off").assert_outcomes(passed=1)
    assert len(recovers.requests) == 2

    always = scripted_server([broken])
    result = run(pytester, always.url, "--llm-record-mode", "off", "--llm-max-retries", "1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*openai:app at http://127.0.0.1:*: the stream broke off after 2 chunks*"])
    result.stdout.fnmatch_lines(["*openai:app: 2 of 2 attempts failed*"])
    assert len(always.requests) == 2


def test_a_stream_that_ends_without_a_finish_reason_is_an_error(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server([lambda body: (200, {"choices": []})])
    pytester.makepyfile(
        """
        def test_chat(llm):
            llm.complete("count", stream=True)
        """
    )
    result = run(pytester, server.url, "--llm-record-mode", "off", "--llm-max-retries", "0")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the stream ended after * chunks without a finish reason*"])


REPLAYED = """
import json
from pathlib import Path

def test_chat(llm):
    out = llm.complete("count to five", stream=True)
    Path("seen.json").write_text(json.dumps([out.text, out.ttft_s, out.tokens_per_s, out.cached]))
"""


def test_a_replay_reproduces_the_text_and_the_recorded_timings(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server([FIVE])
    pytester.makepyfile(test_replay=REPLAYED)
    run(pytester, server.url, "--llm-record-mode", "new").assert_outcomes(passed=1)
    text, ttft, rate, cached = json.loads((pytester.path / "seen.json").read_text())
    [recording] = (pytester.path / "llm_recordings").rglob("[0-9a-f]*.json")
    recorded = json.loads(recording.read_text())
    assert recorded["key"]["request"]["settings"]["stream"] is True
    assert recorded["completion"]["ttft_s"] == round(ttft, 4) and recorded["completion"]["tokens_per_s"] == round(
        rate, 2
    )
    assert not cached

    server.answers = ["a different answer"]  # replay makes no call
    run(pytester, server.url, "--llm-record-mode", "replay").assert_outcomes(passed=1)
    assert json.loads((pytester.path / "seen.json").read_text()) == [
        text,
        recorded["completion"]["ttft_s"],
        recorded["completion"]["tokens_per_s"],
        True,
    ]
    assert len(server.requests) == 1


def test_the_streaming_gate_fails_the_run_and_the_merged_report(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server([FIVE])
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_chat(llm, n):
            llm.complete(f"count {n}", stream=True)

        def test_a_call_that_does_not_stream_is_not_counted(llm):
            llm.complete("plain")
        """
    )
    reports = ("--llm-report-json", "r.json", "--llm-report-md", "r.md", "--llm-report-html", "r.html")
    result = run(pytester, server.url, "--llm-record-mode", "new", "--llm-max-ttft-p95-s", "0.1", *reports)
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "streaming: openai:app: 3 calls, time to first token p50 *ms p95 *ms, tokens/s p50 * p95 *: "
            "FAILED (p95 time to first token * s > llm_max_ttft_p95_s 0.1 s)"
        ]
    )
    report = json.loads((pytester.path / "r.json").read_text())
    assert validate(report) is None
    [(spec, streaming)] = report["summary"]["streaming"].items()
    assert spec == "openai:app" and streaming["calls"] == 3 and not streaming["replayed"]
    assert streaming["ttft_s"]["count"] == 3 and streaming["ttft_s"]["p95"] >= 0.3
    assert streaming["failed"] == [
        f"p95 time to first token {streaming['ttft_s']['p95']:.3g} s > llm_max_ttft_p95_s 0.1 s"
    ]
    assert "### Streaming" in (pytester.path / "r.md").read_text()
    assert "time to first token p50 / p95" in (pytester.path / "r.html").read_text()

    merged = merge_command(pytester.path, "r.json")
    assert merged.returncode == 1 and "FAILED (p95 time to first token" in merged.stdout
    assert "pytest-llmops merge: FAILED" in merged.stdout

    # Replayed, the recorded timings are gated: a lenient limit passes, a tokens/s floor fails.
    server.answers = ["unused"]
    passing = run(pytester, server.url, "--llm-record-mode", "replay", "--llm-max-ttft-p95-s", "5", *reports)
    assert passing.ret == pytest.ExitCode.OK
    passing.stdout.fnmatch_lines(["streaming: openai:app: 3 replayed calls, time to first token *"])
    assert merge_command(pytester.path, "r.json").returncode == 0
    slow = run(pytester, server.url, "--llm-record-mode", "replay", "--llm-min-tokens-per-s-p50", "1000")
    assert slow.ret == pytest.ExitCode.TESTS_FAILED
    slow.stdout.fnmatch_lines(["*FAILED (median * tokens/s < llm_min_tokens_per_s_p50 1000)"])


def merge_command(where: Path, *reports: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmops", "merge", *reports], cwd=where, capture_output=True, text=True
    )


def test_a_bad_gate_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider", "--llm-max-ttft-p95-s", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*invalid value '0' for --llm-max-ttft-p95-s: expected a finite number of seconds > 0*"]
    )


@pytest.mark.slow
def test_llm_katan_streams(pytester: pytest.Pytester, katan: Callable[..., KatanServer]) -> None:
    server = katan("--ttft-ms", "300", "--itl-ms", "20")
    pytester.makepyfile(
        """
        def test_chat(llm):
            out = llm.complete("Where is my order?", stream=True)
            assert "Where is my order?" in out.text and out.completion_tokens > 0
            assert out.ttft_s >= 0.3 and out.tokens_per_s > 0
        """
    )
    pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--llm-model",
        "openai:katan-echo",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        "off",
    ).assert_outcomes(passed=1)
