"""Calls to a cheap backend (``cheap = True``, like ``echo``) take every stage of the pipeline in
the caller's thread: the same answers, budget, deadline, retries, recording, statistics and
redaction as calls that go to the pipeline's threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Sequence

import pytest

from pytest_llmops._calls.budget import Budget
from pytest_llmops._calls.pipeline import MOST_BACKOFF_S, CallPipeline, answered_inline, backoff
from pytest_llmops._models.base import Completion, GenerationSettings, Request, TransientCallError
from pytest_llmops._models.client import LLM
from pytest_llmops._models.echo import EchoBackend
from pytest_llmops._models.lazy import LazyBackend
from pytest_llmops._redact import Redactor, install
from pytest_llmops.errors import BudgetExceeded


class Echo(EchoBackend):
    """The echo backend, cheap or not, noting the thread each batch ran on."""

    def __init__(self, cheap: bool, *, in_process: bool = True, delay: float = 0.0, flaky: int = 0) -> None:
        super().__init__()
        self.cheap, self.in_process = cheap, in_process
        self.delay, self.flaky = delay, flaky
        self.threads: list[threading.Thread] = []

    def generate(self, requests: Sequence[Request]) -> list[Any]:
        self.threads.append(threading.current_thread())
        if self.flaky:
            self.flaky -= 1
            raise TransientCallError("busy, try again")
        time.sleep(self.delay)
        return super().generate(requests)


class Cache:
    """A record/replay cache that replays nothing and keeps what is stored."""

    def __init__(self) -> None:
        self.stored: list[tuple[Request, Completion]] = []

    def lookup(self, identity: Any, request: Request) -> None:
        return None

    def store(self, identity: Any, request: Request, completion: Completion) -> None:
        self.stored.append((request, completion))


def _pipeline(**overrides: Any) -> CallPipeline:
    options = {"concurrency": 4, "timeout_s": 5.0, "max_retries": 0, **overrides}
    return CallPipeline(**options)


def _llm(pipeline: CallPipeline, backend: Echo, cache: Cache | None = None, **prices: Any) -> LLM:
    return LLM("echo", backend, GenerationSettings(max_tokens=8), pipeline, cache=cache, prices=prices)


def test_only_a_cheap_backend_that_does_not_batch_is_answered_inline() -> None:
    batching = Echo(cheap=True)
    batching.batches = True
    lazy = LazyBackend("m", lambda: Echo(cheap=True), batches=False)
    assert answered_inline(Echo(cheap=True))
    assert not answered_inline(Echo(cheap=False))
    assert not answered_inline(batching)
    assert not answered_inline(lazy)
    assert lazy._backend is None  # asking did not load it


@pytest.mark.parametrize("how", ["run", "submit"])
def test_inline_and_pooled_calls_give_the_same_outcomes(how: str) -> None:
    prompts = ["one", "two words", "three more words"]
    results = {}
    for cheap in (True, False):
        pipeline, backend, cache = _pipeline(), Echo(cheap=cheap), Cache()
        calls = [_llm(pipeline, backend, cache).call(prompt) for prompt in prompts]
        outcomes = pipeline.run(calls) if how == "run" else pipeline.submit(calls).result()
        here = all(thread is threading.current_thread() for thread in backend.threads)
        assert here is cheap, "a cheap backend runs in the caller's thread, another on the pipeline's"
        stats = pipeline.stats.to_dict()
        del stats["most_in_flight"]  # one at a time inline; as the threads go on the pool
        results[cheap] = (
            [(o.text, o.prompt_tokens, o.completion_tokens, o.cached) for o in outcomes],
            sorted(completion.text for _, completion in cache.stored),
            stats,
        )
    assert results[True] == results[False]
    assert results[True][0][1] == ("two words", 2, 2, False)
    assert results[True][2]["attempts"] == 3


def test_an_inline_call_obeys_the_budget(tmp_path: Path) -> None:
    ledger = tmp_path / "budget.ledger"
    ledger.touch()
    pipeline = _pipeline(budget=Budget(0.001, ledger))
    (outcome,) = pipeline.run([_llm(pipeline, Echo(cheap=True), echo=(1000.0, 1000.0)).call("a question")])
    assert isinstance(outcome, BudgetExceeded)
    assert pipeline.stats.attempts == 0


def test_an_inline_call_is_retried_by_the_pipeline() -> None:
    pipeline, backend = _pipeline(max_retries=2), Echo(cheap=True, flaky=1)
    pipeline._sleep = lambda seconds: None  # type: ignore[method-assign]
    (outcome,) = pipeline.run([_llm(pipeline, backend).call("again")])
    assert isinstance(outcome, Completion) and outcome.text == "again"
    assert (pipeline.stats.attempts, pipeline.stats.retries) == (2, 1)
    assert backend.threads == [threading.current_thread()] * 2


def test_an_inline_call_keeps_the_deadline_of_a_backend_that_is_not_in_process() -> None:
    pipeline = _pipeline(timeout_s=0.05)
    (outcome,) = pipeline.run([_llm(pipeline, Echo(cheap=True, in_process=False, delay=1.0)).call("slow")])
    assert isinstance(outcome, TransientCallError) and "llm_timeout" in str(outcome)
    assert pipeline.stats.timed_out == 1


def test_an_inline_answer_is_redacted_before_it_is_recorded() -> None:
    install(lambda: Redactor({"sk-abcdefgh12345678": "<OPENAI_API_KEY>"}))
    try:
        pipeline, cache = _pipeline(), Cache()
        (outcome,) = pipeline.run([_llm(pipeline, Echo(cheap=True), cache).call("my key is sk-abcdefgh12345678")])
    finally:
        install(None)
    assert outcome.text == "my key is <OPENAI_API_KEY>"
    assert [completion.text for _, completion in cache.stored] == [outcome.text]


def test_a_call_whose_retries_run_out_ends_with_its_last_failure() -> None:
    pipeline, backend = _pipeline(max_retries=1), Echo(cheap=True, flaky=5)
    waits: list[float] = []
    pipeline._sleep = waits.append  # type: ignore[method-assign]
    (outcome,) = pipeline.run([_llm(pipeline, backend).call("again")])
    assert isinstance(outcome, TransientCallError) and "busy" in str(outcome)
    assert (pipeline.stats.attempts, pipeline.stats.retries, len(waits)) == (2, 1, 1)


def test_backoff_grows_honours_retry_after_and_is_capped() -> None:
    asked = TransientCallError("slow down", retry_after=7.0)
    assert 0.25 <= backoff(1, TransientCallError("x")) <= 0.5
    assert 1.0 <= backoff(3, TransientCallError("x")) <= 2.0
    assert backoff(1, asked) == 7.0
    assert backoff(20, TransientCallError("x")) == MOST_BACKOFF_S
