"""Dataset suites against real models: llm-katan over HTTP, and SmolLM2 batched in-process."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]


def _write_cases(pytester: pytest.Pytester, questions: list[str]) -> None:
    rows = [{"id": f"q{i}", "input": q, "expected": q} for i, q in enumerate(questions)]
    pytester.makefile(".jsonl", **{"cases/support": "\n".join(json.dumps(r) for r in rows)})


@pytest.mark.slow
def test_cases_against_llm_katan(pytester: pytest.Pytester, katan) -> None:
    server = katan("--latency-ms", "300")
    _write_cases(pytester, [f"Where is my order number {i}?" for i in range(12)])
    pytester.makepyfile(
        """
        import pytest
        from rouge_score import rouge_scorer

        SCORER = rouge_scorer.RougeScorer(["rougeL"])

        @pytest.mark.llm_dataset("cases/support.jsonl")
        def test_reply(case):
            assert case.expected in case.text
            assert SCORER.score(case.expected, case.text)["rougeL"].recall == 1.0
            assert case.output.model == "katan-echo" and case.output.completion_tokens > 0
        """
    )
    result = pytester.runpytest(
        "--llm-model",
        "openai:katan-echo",
        "--llm-openai-base-url",
        server.url,
        "--llm-max-retries",
        "0",
        "--llm-record-mode",
        "off",
    )
    result.assert_outcomes(passed=12)
    print(f"12 katan calls of 300 ms each: {result.duration:.2f}s for the whole run (3.6 s one by one)")


LOCAL_SUITE = """
    import pytest

    SEEN = {}
    QUESTIONS = %r

    @pytest.mark.llm_dataset("cases/support.jsonl")
    def test_case(case):
        SEEN[case.id] = case.text
        assert case.text.strip()

    def test_batched_answers_equal_one_by_one(llm):
        assert llm.backend.sizes == [len(QUESTIONS)]
        for i, question in enumerate(QUESTIONS):
            assert llm.complete(question).text == SEEN[f"q{i}"]
        assert llm.backend.sizes == [len(QUESTIONS)] + [1] * len(QUESTIONS)
"""

COUNTING_LOCAL_CONFTEST = """
    from pytest_llmops._models.builtin import BUILTINS

    class CountingBatches:
        def __init__(self, inner):
            self.inner, self.sizes = inner, []
            self.model, self.batches, self.identity = inner.model, inner.batches, inner.identity

        def generate(self, requests):
            self.sizes.append(len(requests))
            return self.inner.generate(requests)

    def pytest_llmops_register_backends(register):
        local = BUILTINS["local"][0]
        register("counted", lambda name, settings: CountingBatches(local(name, settings)), "local, counted")
"""


@pytest.mark.slow
def test_local_model_cases_run_as_one_padded_batch(pytester: pytest.Pytester) -> None:
    questions = [
        "What is the capital of France?",
        "Name a primary colour.",
        "What is two plus two? Answer with a number only, please, and nothing else.",
        "Say hello.",
    ]
    _write_cases(pytester, questions)
    pytester.makeconftest(COUNTING_LOCAL_CONFTEST)
    pytester.makepyfile(LOCAL_SUITE % (questions,))
    # The batch is one call: on a loaded machine it may outlast the default llm_timeout (and be sent again).
    result = pytester.runpytest(
        "--llm-model", "counted", "--llm-max-tokens", "12", "--llm-record-mode", "off", "--llm-timeout", "600"
    )
    result.assert_outcomes(passed=len(questions) + 1)
