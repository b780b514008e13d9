"""Helpers for authors of third-party backends: check a backend keeps the contract.

from pytest_llmops.testing import check_backend

def test_my_backend():
    check_backend(MyBackend("tiny"))
"""

from __future__ import annotations

from pytest_llmops._models.base import Backend, Generation, GenerationSettings, Message, Request


def check_backend(
    backend: Backend, *, chat: bool = True, text: bool = False, max_tokens: int = 8, deterministic: bool = True
) -> list[Generation]:
    """Send a small batch and assert what the plugin relies on; returns the generations.

    Checked: the declared attributes, one generation per request in order, non-negative
    integer usage, a model name, ``max_tokens`` respected, and (when ``deterministic``) greedy
    answers that repeat.
    """
    assert isinstance(backend.model, str) and backend.model, "backend.model must be a non-empty string"
    assert isinstance(backend.batches, bool), "backend.batches must be a bool"
    settings = GenerationSettings(temperature=0.0, max_tokens=max_tokens)
    requests: list[Request] = []
    if chat:
        requests += [
            Request(messages=(Message("user", "Say hello."),), settings=settings),
            Request(messages=(Message("system", "Be brief."), Message("user", "Name a colour.")), settings=settings),
        ]
    if text:
        requests.append(Request(prompt="Once upon a time", settings=settings))
    generations = backend.generate(requests)
    assert len(generations) == len(requests), "generate must answer every request"
    for generation in generations:
        assert isinstance(generation, Generation), f"expected Generation, got {type(generation).__name__}"
        assert isinstance(generation.text, str)
        assert isinstance(generation.prompt_tokens, int) and generation.prompt_tokens >= 0
        assert isinstance(generation.completion_tokens, int) and 0 <= generation.completion_tokens
        assert generation.completion_tokens <= max_tokens, "max_tokens was not respected"
        assert generation.model, "each generation must name its model"
    if deterministic:
        again = backend.generate(requests[:1])
        assert again[0].text == generations[0].text, "greedy (temperature 0) answers must repeat"
    return generations
