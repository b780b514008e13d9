"""A streamed OpenAI answer read to its end: text assembled, usage, and when its tokens came.

The chat API streams ``delta.content`` (or ``delta.refusal``) pieces, the completions API
``text`` pieces; with ``stream_options={"include_usage": True}`` a last chunk carries the usage.
Time to first token is taken at the first chunk that brings text; the rest of the stream is the
time the other tokens took. A stream that breaks off (the server closes the connection) or ends
without a finish reason is a :class:`TransientCallError`: retried like a dropped connection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Iterable

import openai

from pytest_llmops._redact import one_line
from pytest_llmops.errors import TransientCallError


@dataclass
class StreamedAnswer:
    """What the chunks of one stream said, in the shapes the non-streamed answer has."""

    chat: bool
    pieces: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Any = None
    model: str | None = None
    system_fingerprint: str | None = None
    #: Chat: the tokens' logprob objects; completions: lists of tokens, logprobs and tops.
    logprob_tokens: list[Any] = field(default_factory=list)
    text_logprobs: Any = None
    ttft_s: float | None = None
    decode_s: float | None = None

    @property
    def text(self) -> str:
        if not self.pieces and self.refusal:
            return "".join(self.refusal)  # the model's answer is its refusal (structured outputs)
        return "".join(self.pieces)

    @property
    def tokens(self) -> tuple[Any, Any]:
        """Prompt and completion tokens as the usage chunk sent them (0, 0 without one)."""
        if self.usage is None:
            return 0, 0
        return getattr(self.usage, "prompt_tokens", 0), getattr(self.usage, "completion_tokens", 0)


def read_stream(chunks: Iterable[Any], started: float, *, chat: bool, where: str) -> StreamedAnswer:
    """Every chunk of ``chunks`` (a stream opened at ``started``, a ``perf_counter`` time)."""
    answer = StreamedAnswer(chat)
    first: float | None = None
    count = 0
    try:
        for chunk in chunks:
            count += 1
            answer.model = getattr(chunk, "model", None) or answer.model
            answer.system_fingerprint = getattr(chunk, "system_fingerprint", None) or answer.system_fingerprint
            if getattr(chunk, "usage", None) is not None:
                answer.usage = chunk.usage
            choices = getattr(chunk, "choices", None)
            if choices:  # the first choice, as a non-streamed answer's
                if _take(answer, choices[0]) and first is None:
                    first = time.perf_counter()
                answer.finish_reason = getattr(choices[0], "finish_reason", None) or answer.finish_reason
    except openai.APIConnectionError as error:
        raise TransientCallError(
            f"{where}: the stream broke off after {count} chunks ({one_line(str(error.__cause__ or error))})"
        ) from None
    end = time.perf_counter()
    if answer.finish_reason is None:
        raise TransientCallError(f"{where}: the stream ended after {count} chunks without a finish reason")
    answer.ttft_s = (first if first is not None else end) - started
    answer.decode_s = end - first if first is not None else None
    return answer


def _take(answer: StreamedAnswer, choice: Any) -> bool:
    """Add one choice's piece to ``answer``; whether it brought text."""
    logprobs = getattr(choice, "logprobs", None)
    if answer.chat:
        delta = getattr(choice, "delta", None)
        content, refusal = getattr(delta, "content", None), getattr(delta, "refusal", None)
        if isinstance(content, str) and content:
            answer.pieces.append(content)
        if isinstance(refusal, str) and refusal:
            answer.refusal.append(refusal)
        answer.logprob_tokens += getattr(logprobs, "content", None) or []
        return bool(content or refusal)
    text = getattr(choice, "text", None)
    if isinstance(text, str) and text:
        answer.pieces.append(text)
    if logprobs is not None and getattr(logprobs, "tokens", None):
        gathered = answer.text_logprobs = answer.text_logprobs or SimpleNamespace(
            tokens=[], token_logprobs=[], top_logprobs=[]
        )
        gathered.tokens += logprobs.tokens
        gathered.token_logprobs += logprobs.token_logprobs or [None] * len(logprobs.tokens)
        gathered.top_logprobs += logprobs.top_logprobs or [None] * len(logprobs.tokens)
    return bool(text)
