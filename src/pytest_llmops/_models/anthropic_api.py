"""The Anthropic backend: the official ``anthropic`` SDK and its Messages API."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

import anthropic

from pytest_llmops._models.base import Generation, ModelCallError, RateLimits, Request
from pytest_llmops._models.sdk import header_count, mapped_errors

if TYPE_CHECKING:
    from pytest_llmops._models.named_endpoints import Target
    from pytest_llmops.settings import Settings

# A placeholder key for local servers that ignore it; never recorded anywhere.
_NO_KEY = "sk-ant-no-key-needed"

#: Anthropic's stop reasons in the words of every other backend (OpenAI's); others as they are.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class AnthropicBackend:
    """Chat through ``anthropic.Anthropic``'s Messages API: one attempt per call.

    System turns go in the ``system`` parameter (joined by a blank line); ``stop`` becomes
    ``stop_sequences``. The API has no seed, no log-probabilities and no raw text completions:
    a seed is not sent, logprobs are None, and ``raw=True`` is an ERROR. Its 429, 529
    ("overloaded") and 5xx answers are transient, as the OpenAI backend's are.
    """

    batches = False

    def __init__(self, model: str, target: Target, settings: Settings) -> None:
        self.model = model
        spec = target.spec("anthropic", model)
        self.where = f"{spec} at {target.url}"
        self.endpoint = target.label
        self._client = anthropic.Anthropic(
            api_key=target.key(spec) or _NO_KEY, base_url=target.url, timeout=settings.timeout + 1, max_retries=0
        )

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        return [self._call(request) for request in requests]

    def _call(self, request: Request) -> Generation:
        if not request.is_chat:
            raise ModelCallError(f"{self.where}: the Messages API takes chat turns, not a raw text prompt (raw=True)")
        with mapped_errors(anthropic, self.where):
            raw = self._client.messages.with_raw_response.create(**self._arguments(request))
            message = raw.parse()
        usage = message.usage
        prompt_tokens = usage.input_tokens
        for cached in (usage.cache_creation_input_tokens, usage.cache_read_input_tokens):
            if isinstance(cached, int) and isinstance(prompt_tokens, int):
                prompt_tokens += cached  # counted apart from input_tokens: every token of the prompt
        return Generation(
            text="".join(block.text for block in message.content if block.type == "text"),
            prompt_tokens=prompt_tokens,
            completion_tokens=usage.output_tokens,
            model=message.model or self.model,
            finish_reason=FINISH_REASONS.get(message.stop_reason or "", message.stop_reason),
            rate_limits=rate_limits(raw.headers),
        )

    def _arguments(self, request: Request) -> dict[str, Any]:
        s = request.settings
        # Sampling goes as the API's own fields: newer SDKs (2.x) no longer take them as arguments.
        sampling: dict[str, Any] = {"temperature": s.temperature}
        if s.top_p is not None:
            sampling["top_p"] = s.top_p
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": s.max_tokens,
            "messages": [m.to_dict() for m in request.messages if m.role != "system"],
            "extra_body": sampling,
        }
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        if system:
            kwargs["system"] = system
        if s.stop:
            kwargs["stop_sequences"] = list(s.stop)
        return kwargs


def rate_limits(headers: Any) -> RateLimits | None:
    """The ``anthropic-ratelimit-requests-{limit,remaining,reset}`` and
    ``anthropic-ratelimit-tokens-{remaining,reset}`` headers (a reset as an RFC 3339 time); None without any."""
    values = {
        name: headers.get(f"anthropic-ratelimit-{name}")
        for name in ("requests-limit", "requests-remaining", "requests-reset", "tokens-remaining", "tokens-reset")
    }
    if all(value is None for value in values.values()):
        return None
    return RateLimits(
        limit_requests=header_count(values["requests-limit"]),
        remaining_requests=header_count(values["requests-remaining"]),
        reset_requests_s=_seconds_until(values["requests-reset"]),
        remaining_tokens=header_count(values["tokens-remaining"]),
        reset_tokens_s=_seconds_until(values["tokens-reset"]),
    )


def _seconds_until(value: str | None) -> float | None:
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - time.time())
    return None
