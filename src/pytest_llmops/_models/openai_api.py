"""The OpenAI backend: the official ``openai`` SDK against any OpenAI-compatible server."""

from __future__ import annotations

import contextlib
import re
import time
from typing import TYPE_CHECKING, Any, Sequence, cast

import openai

from pytest_llmops._models.base import (
    Generation,
    Message,
    ModelCallError,
    RateLimits,
    Request,
    TokenLogprob,
)
from pytest_llmops._models.sdk import header_count, mapped_errors
from pytest_llmops._models.tools import ToolCall
from pytest_llmops._redact import one_line

if TYPE_CHECKING:
    from openai.types.chat import (
        ChatCompletionMessageParam,
        ChatCompletionToolChoiceOptionParam,
        ChatCompletionToolParam,
    )
    from openai.types.chat.completion_create_params import ResponseFormat

    from pytest_llmops._models.named_endpoints import Target
    from pytest_llmops.settings import Settings

# A placeholder key for local servers that ignore it; never recorded anywhere.
_NO_KEY = "sk-no-key-needed"


class OpenAIBackend:
    """Chat and completions through ``openai.OpenAI``: one attempt per call.

    The SDK's own retries are off: the call pipeline retries (``llm_max_retries``) what this
    reports as a :class:`TransientCallError`, honouring the server's ``Retry-After``.
    """

    batches = False
    #: The spec prefix its messages name.
    prefix = "openai"

    def __init__(self, model: str, target: Target, settings: Settings) -> None:
        self.model = model
        spec = target.spec(self.prefix, model)
        #: The spec and the server, as messages name them.
        self.where = f"{spec} at {target.url}"
        self.endpoint = target.label
        # The pipeline's deadline (llm_timeout) comes first; the client's timeout only ends the
        # thread of an attempt it abandoned.
        self._client = self._new_client(target, target.key(spec) or _NO_KEY, settings.timeout + 1)

    def _new_client(self, target: Target, key: str, timeout: float) -> openai.OpenAI:
        return openai.OpenAI(api_key=key, base_url=target.url, timeout=timeout, max_retries=0)

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        return [self._call(request) for request in requests]

    def _call(self, request: Request) -> Generation:
        with mapped_errors(openai, self.where):
            if request.is_chat:
                return self._chat(request)
            return self._text(request)

    def _common(self, request: Request) -> dict[str, Any]:
        s = request.settings
        kwargs: dict[str, Any] = {"model": self.model, "temperature": s.temperature, "max_tokens": s.max_tokens}
        if s.stream:
            kwargs.update(stream=True, stream_options={"include_usage": True})
        if s.top_p is not None:
            kwargs["top_p"] = s.top_p
        if s.seed is not None:
            kwargs["seed"] = s.seed
        if s.stop:
            kwargs["stop"] = list(s.stop)
        return kwargs

    @staticmethod
    def _tooling(request: Request) -> dict[str, Any]:
        """The SDK's tool and structured-output parameters (its TypedDict shapes) that are set."""
        s = request.settings
        kwargs: dict[str, Any] = {}
        if s.tools is not None:
            kwargs["tools"] = cast("list[ChatCompletionToolParam]", list(s.tools))
        if s.tool_choice is not None:
            kwargs["tool_choice"] = cast("ChatCompletionToolChoiceOptionParam", s.tool_choice)
        if s.parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = s.parallel_tool_calls
        if s.response_format is not None:
            kwargs["response_format"] = cast("ResponseFormat", s.response_format)
        return kwargs

    def _chat(self, request: Request) -> Generation:
        kwargs = {**self._common(request), **self._tooling(request)}
        if request.settings.top_logprobs:
            kwargs.update(logprobs=True, top_logprobs=request.settings.top_logprobs)
        started = time.perf_counter()
        raw = self._client.chat.completions.with_raw_response.create(
            messages=[_sent(m) for m in request.messages], **kwargs
        )
        if request.settings.stream:
            return self._streamed(raw, started, chat=True)
        response = raw.parse()
        choice = self._first_choice(response)
        content = getattr(choice.logprobs, "content", None) if choice.logprobs else None
        message = choice.message
        text = _text_of(message.content)
        if message.content is None and isinstance(getattr(message, "refusal", None), str):
            text = message.refusal  # the model's answer is its refusal (structured outputs)
        calls = self._tool_calls(getattr(message, "tool_calls", None))
        return self._generation(raw, response, text, choice.finish_reason, _chat_logprobs(content), calls)

    def _tool_calls(self, calls: Any) -> tuple[ToolCall, ...]:
        """The answer's function calls; a call the server sent in another shape is an ERROR."""
        found = []
        for position, call in enumerate(calls or (), 1):
            function = getattr(call, "function", None)
            arguments = getattr(function, "arguments", None)
            kind = getattr(call, "type", "function")
            if kind != "function" or function is None or not isinstance(arguments, (str, dict)):
                raise ModelCallError(
                    f"{self.where} answered a malformed tool call {position} "
                    f"(expected a function with its arguments as JSON text): {one_line(repr(call))}"
                )
            name, call_id = getattr(function, "name", None), getattr(call, "id", None)
            if isinstance(arguments, dict):  # some servers send the arguments parsed
                found.append(ToolCall(call_id, name, arguments))  # type: ignore[arg-type]
            else:
                found.append(ToolCall.parsed(call_id, name, arguments))  # type: ignore[arg-type]
        return tuple(found)

    def _text(self, request: Request) -> Generation:
        kwargs = self._common(request)
        if request.settings.top_logprobs:
            kwargs["logprobs"] = request.settings.top_logprobs
        started = time.perf_counter()
        raw = self._client.completions.with_raw_response.create(prompt=request.prompt, **kwargs)
        if request.settings.stream:
            return self._streamed(raw, started, chat=False)
        response = raw.parse()
        choice = self._first_choice(response)
        return self._generation(
            raw, response, _text_of(choice.text), choice.finish_reason, _text_logprobs(choice.logprobs)
        )

    def _streamed(self, raw: Any, started: float, *, chat: bool) -> Generation:
        """A streamed answer read to its end: its text, usage and timings."""
        from pytest_llmops._models.openai_stream import read_stream

        answer = read_stream(raw.parse(), started, chat=chat, where=f"{self.where}")
        prompt_tokens, completion_tokens = answer.tokens
        return Generation(
            text=answer.text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=answer.model or self.model,
            finish_reason=answer.finish_reason,
            logprobs=_chat_logprobs(answer.logprob_tokens) if chat else _text_logprobs(answer.text_logprobs),
            rate_limits=rate_limits(raw.headers),
            system_fingerprint=answer.system_fingerprint,
            ttft_s=answer.ttft_s,
            decode_s=answer.decode_s,
        )

    def _first_choice(self, response: Any) -> Any:
        if not getattr(response, "choices", None):
            raise ModelCallError(f"{self.where} answered without choices: {one_line(repr(response))}")
        return response.choices[0]

    def _generation(
        self, raw: Any, response: Any, text: str, finish: str | None, logprobs: Any, calls: tuple[ToolCall, ...] = ()
    ) -> Generation:
        prompt_tokens, completion_tokens = _usage_as_sent(raw)
        return Generation(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=response.model or self.model,
            finish_reason=finish,
            logprobs=logprobs,
            rate_limits=rate_limits(raw.headers),
            system_fingerprint=getattr(response, "system_fingerprint", None),
            tool_calls=calls,
        )


def _sent(message: Message) -> ChatCompletionMessageParam:
    """A chat turn as the SDK sends it: an assistant's tool calls in the API's shape (content
    null beside them when it has none), a tool result with the id of the call it answers."""
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        data["tool_calls"] = [call.to_openai() for call in message.tool_calls]
        data["content"] = message.content or None
    if message.tool_call_id is not None:
        data["tool_call_id"] = message.tool_call_id
    return cast("ChatCompletionMessageParam", data)


def _chat_logprobs(content: Any) -> tuple[TokenLogprob, ...] | None:
    """The chat API's ``logprobs.content`` tokens as :class:`TokenLogprob` (None without any)."""
    if not content:
        return None
    return tuple(
        TokenLogprob(t.token, t.logprob, tuple((a.token, a.logprob) for a in t.top_logprobs or ())) for t in content
    )


def _text_logprobs(logprobs: Any) -> tuple[TokenLogprob, ...] | None:
    """The completions API's own shape (``tokens``, ``token_logprobs``, ``top_logprobs``)."""
    if not logprobs or not logprobs.tokens:
        return None
    tops = logprobs.top_logprobs or [None] * len(logprobs.tokens)
    return tuple(
        TokenLogprob(token, logprob, tuple((top or {}).items()))
        for token, logprob, top in zip(logprobs.tokens, logprobs.token_logprobs or (), tops)
    )


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def rate_limits(headers: Any) -> RateLimits | None:
    """The ``x-ratelimit-limit-requests``, ``x-ratelimit-remaining-{requests,tokens}`` and
    ``x-ratelimit-reset-{requests,tokens}`` headers (a reset as ``1s``, ``6m0s``, ``20ms`` or plain seconds); None without any."""
    values = {
        name: headers.get(f"x-ratelimit-{name}")
        for name in ("limit-requests", "remaining-requests", "reset-requests", "remaining-tokens", "reset-tokens")
    }
    if all(value is None for value in values.values()):
        return None
    return RateLimits(
        limit_requests=header_count(values["limit-requests"]),
        remaining_requests=header_count(values["remaining-requests"]),
        reset_requests_s=_duration(values["reset-requests"]),
        remaining_tokens=header_count(values["remaining-tokens"]),
        reset_tokens_s=_duration(values["reset-tokens"]),
    )


def _duration(value: str | None) -> float | None:
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value.strip():
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def _usage_as_sent(raw: Any) -> tuple[Any, Any]:
    """The token counts as the server sent them: the SDK turns ``"12"`` into 12 without a word,
    and the answer check must see a server that counts in strings."""
    try:
        body = raw.http_response.json()
    except ValueError:
        return 0, 0
    usage = body.get("usage") if isinstance(body, dict) else None
    if usage is None:
        return 0, 0
    if not isinstance(usage, dict):
        return usage, usage
    return usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)


def _text_of(content: Any) -> Any:
    """An answer's text: a string, nothing (``""``), or a list of text parts (some gateways
    answer so) joined. Anything else is handed on as it is, for the answer check to refuse."""
    if content is None:
        return ""
    if isinstance(content, list):
        texts = [_part_text(part) for part in content]
        if all(text is not None for text in texts):
            return "".join(text for text in texts if text is not None)
    return content


def _part_text(part: Any) -> str | None:
    """The text of one ``{"type": "text", "text": ...}`` part (a dict or the SDK's object)."""
    kind = part.get("type") if isinstance(part, dict) else getattr(part, "type", None)
    text = part.get("text") if isinstance(part, dict) else getattr(part, "text", None)
    return text if kind == "text" and isinstance(text, str) else None
