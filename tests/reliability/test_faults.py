"""Faults of the model server: the run tells the truth and loses nothing.

Suites of dataset cases call an OpenAI-compatible server on 127.0.0.1 through the real
``openai`` client: ``llm-katan`` with injected faults (``--error-rate``, ``--rate-limit-after``,
``--max-inflight``, ``--latency-ms``) or a scripted server that errors, closes the connection,
answers garbage or hangs. An infrastructure failure is an ERROR with a one-line reason, never a
FAIL or a PASS; the JSON report counts errors apart from failures; a failed call writes no
recording. Figures these tests observed are in the table of docs/guide/reliability-and-security.md.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest
from servers import KatanServer, ScriptedServer, free_port

pytest_plugins = ["pytester"]

DATASET_SUITE = """
import pytest

@pytest.mark.llm_dataset("cases.jsonl")
def test_case(case):
    assert case.output.text.endswith("User: " + case.inputs["input"])
"""


def write_cases(pytester: pytest.Pytester, count: int) -> list[str]:
    ids = [f"c{n:03d}" for n in range(count)]
    lines = [json.dumps({"id": i, "input": f"question {i}", "expected": f"answer {i}"}) for i in ids]
    (pytester.path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    return ids


def run_against(pytester: pytest.Pytester, url: str, *args: str, model: str = "katan-echo") -> pytest.RunResult:
    return pytester.runpytest(
        "--llm-model",
        f"openai:{model}",
        "--llm-openai-base-url",
        url,
        "--llm-prices",
        f"{model} = 0 0",
        "--llm-report-json",
        "report.json",
        "-p",
        "no:cacheprovider",
        *args,
    )


def report(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "report.json").read_text())


def recordings(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    """Every recording written, parsed (a corrupt one fails the test here)."""
    return [json.loads(p.read_text()) for p in sorted((pytester.path / "llm_recordings").rglob("[0-9a-f]*.json"))]


def asked(recording: dict[str, Any]) -> str:
    return recording["key"]["request"]["messages"][-1]["content"]


# The call pipeline logs each retry it makes ("retry 1 of openai:m in 0.430 s: ..."): the
# inner suite writes them down, so the test sees how many retries and how much backoff it took.
RETRY_LOG = """
import logging

class RetryLog(logging.Handler):
    def emit(self, record):
        retry, _, delay, _ = record.args
        with open("retries.log", "a") as log:
            log.write(f"{retry} {delay:.3f}\\n")

HANDLER = RetryLog()

def pytest_configure(config):
    logger = logging.getLogger("pytest_llmops.calls")
    logger.setLevel(logging.INFO)
    logger.addHandler(HANDLER)

def pytest_unconfigure(config):
    logging.getLogger("pytest_llmops.calls").removeHandler(HANDLER)
"""


def retries(pytester: pytest.Pytester) -> list[tuple[int, float]]:
    """``(retry number, backoff seconds)`` of every retry the call pipeline made."""
    path = pytester.path / "retries.log"
    lines = path.read_text().split() if path.exists() else []
    return [(int(n), float(s)) for n, s in zip(lines[::2], lines[1::2])]


@pytest.mark.slow
def test_200_cases_with_20_percent_transient_errors_are_all_evaluated(
    pytester: pytest.Pytester, katan: Callable[..., KatanServer]
) -> None:
    # 6 retries: a case is lost only when 7 attempts in a row fail, 200 * 0.2**7 = 0.003 per run.
    server = katan("--error-rate", "0.2")
    ids = write_cases(pytester, 200)
    pytester.makepyfile(test_suite=DATASET_SUITE)
    pytester.makeconftest(RETRY_LOG)
    started = time.perf_counter()
    result = run_against(pytester, server.url, "--llm-max-retries", "6")
    wall = time.perf_counter() - started
    result.assert_outcomes(passed=200)
    summary = report(pytester)["summary"]
    assert (summary["tests"]["passed"], summary["tests"]["failed"], summary["tests"]["error"]) == (200, 0, 0)
    assert summary["calls"]["live"] == 200
    recorded = recordings(pytester)
    assert sorted(asked(r) for r in recorded) == sorted(f"question {i}" for i in ids)
    made = retries(pytester)
    assert made  # the faults were real: about one attempt in five failed and was retried
    # Every retry is in the report's per-model counts, and every failed attempt was retried.
    [(spec, counted)] = summary["models"].items()
    assert (spec, counted["retries"], counted["failed_attempts"], counted["failed_calls"]) == (
        "openai:katan-echo",
        len(made),
        len(made),
        0,
    )
    assert counted["attempts"] == 200 + len(made) and counted["error_rate"] == len(made) / counted["attempts"]
    print(
        f"\n200 cases, error rate 0.2, 6 retries: {len(made)} retries (at most {max(n for n, _ in made)} for one "
        f"call), {sum(s for _, s in made):.1f}s of backoff in all; {wall:.1f}s wall"
    )


@pytest.fixture
def troubled_server(scripted_server: Callable[..., ScriptedServer]) -> ScriptedServer:
    """Answers by the prompt: right, wrong, HTTP 500, closed connection, garbage, or a hang."""

    def answer(body: dict[str, Any]) -> Any:
        prompt = body["messages"][-1]["content"]
        return {
            "good": "the right answer",
            "wrong": "a wrong answer",
            "error": (500, {"error": {"message": "the model fell over\nTraceback: in worker 3"}}),
            "close": "!close",
            "garbage": "!garbage",
            "hang": ("!hang", 600),  # far past --llm-timeout: only the timeout ends this call
        }[prompt]

    return scripted_server(answer)


OUTAGE_SUITE = """
import pytest

@pytest.mark.llm_dataset("cases.jsonl")
def test_case(case, golden):
    golden.check(case.output, reference="the right answer")
"""

OUTAGE_CASES = ("good", "wrong", "error", "close", "garbage", "hang")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_an_outage_is_an_error_never_a_failure_and_is_counted_apart(
    pytester: pytest.Pytester, troubled_server: ScriptedServer, workers: list[str]
) -> None:
    lines = [json.dumps({"id": name, "input": name}) for name in OUTAGE_CASES]
    (pytester.path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    pytester.makepyfile(test_suite=OUTAGE_SUITE)
    result = run_against(
        pytester,
        troubled_server.url,
        "--llm-max-retries",
        "1",
        "--llm-timeout",
        "1",
        "--junitxml",
        "junit.xml",
        *workers,
        model="scripted",
    )
    result.assert_outcomes(passed=1, failed=1, errors=4)
    server = troubled_server.url
    result.stdout.fnmatch_lines_random(
        [
            f"ModelCallError: openai:scripted at {server} answered HTTP 500: the model fell over Traceback: in worker 3",
            f"ModelCallError: openai:scripted at {server}: connection failed (*)",
            f"ModelCallError: openai:scripted at {server} answered without choices: *",
            f"ModelCallError: openai:scripted at {server}: no answer within 1 s (llm_timeout)",
        ]
    )
    rows = {row["nodeid"].split("[")[1].rstrip("]"): row for row in report(pytester)["tests"]}
    assert {name: row["outcome"] for name, row in rows.items()} == {
        "good": "passed",
        "wrong": "failed",
        "error": "error",
        "close": "error",
        "garbage": "error",
        "hang": "error",
    }
    for name in ("error", "close", "garbage", "hang"):
        assert rows[name]["error"].startswith(f"openai:scripted at {server}")
        assert "\n" not in rows[name]["error"]
        assert rows[name]["scores"] == []  # never scored, so never a quality verdict
    assert rows["wrong"]["error"] is None and rows["wrong"]["scores"][0]["passed"] is False
    summary = report(pytester)["summary"]["tests"]
    assert (summary["passed"], summary["failed"], summary["error"]) == (1, 1, 4)
    junit = (pytester.path / "junit.xml").read_text()
    assert 'errors="4"' in junit and 'failures="1"' in junit
    # Only the calls that got an answer are recorded; the failed ones will be tried again.
    assert sorted(asked(r) for r in recordings(pytester)) == ["good", "wrong"]


def test_nothing_listening_errors_every_case_and_records_nothing(pytester: pytest.Pytester) -> None:
    write_cases(pytester, 20)
    pytester.makepyfile(test_suite=DATASET_SUITE)
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = run_against(pytester, url, "--llm-max-retries", "2")
    result.assert_outcomes(errors=20)
    result.stdout.fnmatch_lines([f"ModelCallError: openai:katan-echo at {url}: connection failed (*)"])
    summary = report(pytester)["summary"]["tests"]
    assert (summary["passed"], summary["failed"], summary["error"]) == (0, 0, 20)
    assert not (pytester.path / "llm_recordings").exists()


@pytest.mark.slow
def test_rate_limited_server_records_only_what_it_answered(
    pytester: pytest.Pytester, katan: Callable[..., KatanServer]
) -> None:
    server = katan("--rate-limit-after", "5")
    write_cases(pytester, 12)
    pytester.makepyfile(test_suite=DATASET_SUITE)
    result = run_against(pytester, server.url, "--llm-max-retries", "1", "--llm-concurrency", "4")
    result.assert_outcomes(passed=5, errors=7)
    result.stdout.fnmatch_lines(
        [f"ModelCallError: openai:katan-echo at {server.url} answered HTTP 429: rate limit exceeded"]
    )
    rows = report(pytester)["tests"]
    passed = sorted(row["calls"][0]["request"]["messages"][-1]["content"] for row in rows if row["outcome"] == "passed")
    assert sorted(asked(r) for r in recordings(pytester)) == passed

    # The recorded cases replay with no server at all; one command records the others.
    server.stop()
    replay = run_against(pytester, server.url, "--llm-record-mode", "replay")
    replay.assert_outcomes(passed=5, errors=7)
    replay.stdout.fnmatch_lines(
        [
            "*no recording of this openai:katan-echo call*",
            "7 test(s) made a call with no recording; record them with:",
            "pytest --llm-record-mode=new *",
        ]
    )


@pytest.mark.slow
def test_an_overloaded_server_is_kept_under_its_limit_or_retried(
    pytester: pytest.Pytester, katan: Callable[..., KatanServer]
) -> None:
    server = katan("--max-inflight", "4", "--latency-ms", "300")
    write_cases(pytester, 16)
    pytester.makepyfile(test_suite=DATASET_SUITE)
    pytester.makeconftest(RETRY_LOG)
    # llm_concurrency at the server's limit: it is never overloaded, so no retry is needed.
    run_against(
        pytester, server.url, "--llm-concurrency", "4", "--llm-max-retries", "0", "--llm-record-mode", "off"
    ).assert_outcomes(passed=16)
    # Above it, without retries, the overload shows as ERRORs naming the server's answer...
    overloaded = run_against(
        pytester, server.url, "--llm-concurrency", "16", "--llm-max-retries", "0", "--llm-record-mode", "off"
    )
    outcomes = overloaded.parseoutcomes()
    assert outcomes.get("errors", 0) > 0 and outcomes.get("errors", 0) + outcomes.get("passed", 0) == 16
    assert "failed" not in outcomes
    overloaded.stdout.fnmatch_lines(
        [f"ModelCallError: openai:katan-echo at {server.url} answered HTTP 503: service overloaded"]
    )
    # ...and the pipeline's retries with backoff absorb it.
    run_against(
        pytester, server.url, "--llm-concurrency", "16", "--llm-max-retries", "8", "--llm-record-mode", "off"
    ).assert_outcomes(passed=16)
    made = retries(pytester)
    assert made  # only this run retried (the others had no retries to make)
    print(
        f"\n16 cases, max-inflight 4, llm_concurrency 16, 8 retries: {len(made)} retries "
        f"(at most {max(n for n, _ in made)} for one call)"
    )


@pytest.mark.slow
def test_a_slow_server_times_out_in_bounded_time(pytester: pytest.Pytester, katan: Callable[..., KatanServer]) -> None:
    server = katan("--latency-ms", "6000")  # past the timeout, short enough for the server to stop soon
    write_cases(pytester, 4)
    pytester.makepyfile(test_suite=DATASET_SUITE)
    result = run_against(pytester, server.url, "--llm-timeout", "0.5", "--llm-max-retries", "1")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(
        [f"ModelCallError: openai:katan-echo at {server.url}: no answer within 0.5 s (llm_timeout)"]
    )
    assert not (pytester.path / "llm_recordings").exists()
