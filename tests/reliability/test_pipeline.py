"""The one call pipeline: budget reserved before a call, one concurrency bound for every caller,
retries and deadlines owned by the plugin, and a run that ends without waiting for its calls."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import pytest
from servers import InFlight, ScriptedServer

Start = Callable[..., ScriptedServer]
# Readable by the judge in both modes: a score, and a pairwise winner.
JUDGE_ANSWER = '{"reasoning": "fine", "score": 5, "winner": "tie"}'


def _openai(server: ScriptedServer, *more: str) -> list[str]:
    return [
        "--llm-model",
        "openai:scripted",
        "--llm-openai-base-url",
        server.url,
        "--llm-max-retries",
        "0",
        "--llm-record-mode",
        "off",
        "-p",
        "no:cacheprovider",
        *more,
    ]


def _cases(pytester: pytest.Pytester, count: int) -> None:
    (pytester.path / "cases").mkdir(exist_ok=True)
    lines = [json.dumps({"id": f"c{i:02}", "input": f"question {i}"}) for i in range(count)]
    (pytester.path / "cases" / "cases.jsonl").write_text("\n".join(lines) + "\n")


class Billed:
    """A scripted answer that bills like a real server: a token per 4 bytes of the prompt."""

    def __init__(self, text: str, delay: float) -> None:
        self.text, self.delay = text, delay
        self.tokens = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        prompt_tokens = -(-len(json.dumps(body["messages"])) // 4)
        completion_tokens = len(self.text.split())
        with self._lock:
            self.tokens += prompt_tokens + completion_tokens
        time.sleep(self.delay)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        choice = {"index": 0, "message": {"role": "assistant", "content": self.text}, "finish_reason": "stop"}
        return 200, {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "scripted",
            "choices": [choice],
            "usage": usage,
        }


BUDGETED_SUITE = """
import pytest

@pytest.mark.llm(max_tokens=8)
@pytest.mark.llm_judge(rubric="fine", votes=3, max_tokens=8, threshold=0.5)
@pytest.mark.llm_dataset("cases/cases.jsonl")
def test_case(case, judge):
    judge.check(case.output, question=case.inputs["input"])
"""


def test_a_concurrent_dataset_suite_with_multi_vote_judges_cannot_pass_its_budget(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    billed = Billed(JUDGE_ANSWER, delay=0.2)
    server = scripted_server(billed)
    _cases(pytester, 12)
    pytester.makepyfile(test_budgeted=BUDGETED_SUITE)
    # $1 a token: what the whole suite costs (12 cases, each answered, then judged with 3 votes)...
    flags = _openai(
        server, "--llm-prices", "scripted = 1000000 1000000", "--llm-concurrency", "12", "--llm-report-json", "r.json"
    )
    pytester.runpytest(*flags).assert_outcomes(passed=12)
    assert len(server.requests) == 12 * 4
    whole = billed.tokens
    # ...and with half of that as its budget, every call started at once where it can be.
    billed.tokens = 0
    server.requests.clear()
    limit = whole / 2
    result = pytester.runpytest(*flags, "--llm-budget-usd", str(limit))
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes  # a refusal is infrastructure: an ERROR, never a FAIL
    assert outcomes.get("errors", 0) > 0 and outcomes.get("errors", 0) + outcomes.get("passed", 0) == 12
    assert 0 < billed.tokens <= limit, f"the server billed ${billed.tokens} of a ${limit} budget"
    budget = json.loads((pytester.path / "r.json").read_text())["summary"]["budget"]
    assert budget["spent_usd"] == pytest.approx(billed.tokens)
    result.stdout.fnmatch_lines(["*LLM budget exhausted: this call may cost up to $*; it was refused*"])


def test_judge_votes_and_calibration_share_the_one_concurrency_bound(
    pytester: pytest.Pytester, scripted_server: Start
) -> None:
    gate = InFlight(hold=3, delay=0.05)
    server = scripted_server(lambda body: (gate(body), JUDGE_ANSWER)[1])
    pytester.makepyfile(
        test_votes="""
        import pytest

        CASES = [{"output": f"answer {i}", "label": "good"} for i in range(4)]

        @pytest.mark.llm_judge(rubric="fine", votes=8, threshold=0.5)
        def test_votes(judge):
            judge.check("an answer")
            judge.calibrate(CASES)

        @pytest.mark.llm_judge(rubric="fine", mode="pairwise", votes=4)
        def test_pairwise(judge):
            judge.score("new", reference="old")
        """
    )
    pytester.runpytest(*_openai(server, "--llm-concurrency", "3")).assert_outcomes(passed=2)
    assert len(server.requests) == 8 + 4 * 8 + 4 * 2
    assert gate.most == 3  # they overlapped, never beyond llm_concurrency


def test_a_replayed_call_takes_no_budget_and_no_slot(pytester: pytest.Pytester, scripted_server: Start) -> None:
    server = scripted_server(["the answer"])
    pytester.makepyfile("def test_one(llm):\n    assert llm.complete('q').text == 'the answer'\n")
    flags = [
        "--llm-model",
        "openai:scripted",
        "--llm-openai-base-url",
        server.url,
        "-p",
        "no:cacheprovider",
        "--llm-prices",
        "scripted = 100000 100000",
    ]
    pytester.runpytest(*flags, "--llm-record-mode", "new").assert_outcomes(passed=1)
    # A budget no live call fits in: the replay still answers, and no attempt is made.
    replay = pytester.runpytest(*flags, "--llm-record-mode", "replay", "--llm-budget-usd", "0.000001")
    replay.assert_outcomes(passed=1)
    assert len(server.requests) == 1
    replay.stdout.no_fnmatch_line("*attempt*")


def test_retries_are_the_pipelines_and_honour_retry_after(pytester: pytest.Pytester, scripted_server: Start) -> None:
    busy = (429, {"error": {"message": "slow down"}})
    server = scripted_server([busy, busy, "at last"], headers={"Retry-After": "0.3"})
    pytester.makepyfile("def test_one(llm):\n    assert llm.complete('q').text == 'at last'\n")
    started = time.monotonic()
    result = pytester.runpytest(*_openai(server, "--llm-max-retries", "2"))
    waited = time.monotonic() - started
    result.assert_outcomes(passed=1)
    assert len(server.requests) == 3  # one attempt each: the SDK does not retry behind our back
    assert waited >= 0.6  # both waits were at least what the server asked
    result.stdout.fnmatch_lines(["*model calls: 3 attempts, 2 retries*"])
    # Without retries the same answer is an ERROR naming it.
    server.requests.clear()
    pytester.runpytest(*_openai(server, "--llm-max-retries", "0")).assert_outcomes(errors=1)


HANGING_SUITE = """
import pytest

@pytest.mark.llm_dataset("cases/cases.jsonl")
def test_case(case):
    assert case.id != "c00"
"""


class Hanging:
    """Answers question 0 once ``calls`` calls have arrived; every other call hangs for minutes."""

    def __init__(self, calls: int, answer_first: bool) -> None:
        self.calls, self.answer_first = calls, answer_first
        self._arrived = 0
        self._changed = threading.Condition()

    def __call__(self, body: dict[str, Any]) -> Any:
        with self._changed:
            self._arrived += 1
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._arrived >= self.calls, timeout=10)
        if self.answer_first and body["messages"][-1]["content"] == "question 0":
            return "at once"
        return ("!hang", 120)


def test_exitfirst_abandons_the_calls_in_flight(pytester: pytest.Pytester, scripted_server: Start) -> None:
    server = scripted_server(Hanging(16, answer_first=True))
    _cases(pytester, 16)
    pytester.makepyfile(test_hang=HANGING_SUITE)
    # With the default llm_timeout (60 s) the hanging calls would hold the process for minutes.
    # A bound of 32: the endpoint starts at half of it, so all 16 calls go at once.
    result = pytester.runpytest_subprocess(*_openai(server, "-x", "--llm-concurrency", "32"), timeout=50)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*model calls: * attempts, 0 retries, * abandoned when the run stopped*"])
    assert len(server.requests) == 16  # all in flight when the first test failed


def test_ctrl_c_ends_a_run_waiting_for_hanging_calls(pytester: pytest.Pytester, scripted_server: Start) -> None:
    server = scripted_server(Hanging(4, answer_first=False))
    _cases(pytester, 4)
    pytester.makepyfile(test_hang=HANGING_SUITE)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *_openai(server)],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(server.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.requests) == 4, "the calls never started"
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    assert "abandoned when the run stopped" in output
