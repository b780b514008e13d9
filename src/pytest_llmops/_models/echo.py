"""A deterministic, instant, offline backend: it answers with the last user turn."""

from __future__ import annotations

from typing import Sequence

from pytest_llmops._models.base import Generation, Request


def _words(text: str) -> int:
    return len(text.split())


class EchoBackend:
    """Echoes the request back (an optional ``echo:<prefix>`` is put before the answer).

    Token counts are word counts. Useful for plugin tests and for wiring a suite up before a
    real model is chosen.
    """

    batches = False
    in_process = True
    cheap = True

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.model = f"echo:{prefix}" if prefix else "echo"
        self.identity = {"model": self.model}

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        return [self._answer(request) for request in requests]

    def _answer(self, request: Request) -> Generation:
        if request.is_chat:
            users = [m.content for m in request.messages if m.role == "user"]
            source = users[-1] if users else ""
            prompt_words = sum(_words(m.content) for m in request.messages)
        else:
            source = request.prompt or ""
            prompt_words = _words(source)
        text = f"{self.prefix} {source}".strip() if self.prefix else source
        words = text.split()
        finish = "stop"
        if len(words) > request.settings.max_tokens:
            text, finish = " ".join(words[: request.settings.max_tokens]), "length"
        for stop in request.settings.stop:
            text = text.split(stop, 1)[0]
        return Generation(text, prompt_words, _words(text), self.model, finish)
