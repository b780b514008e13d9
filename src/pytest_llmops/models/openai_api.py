"""The OpenAI backend: the official ``openai`` SDK against any OpenAI-compatible server."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Sequence

import openai

from pytest_llmops.models.base import Generation, ModelCallError, Request, TokenLogprob
from pytest_llmops.models.builtin import DEFAULT_OPENAI_URL

if TYPE_CHECKING:
    from pytest_llmops.settings import Settings

# A placeholder key for local servers that ignore it; never recorded anywhere.
_NO_KEY = "sk-no-key-needed"


class OpenAIBackend:
    """Chat and completions through ``openai.OpenAI``, with the SDK's own retries and backoff."""

    batches = False

    def __init__(self, model: str, settings: Settings) -> None:
        base_url = settings.openai_base_url
        api_key = os.environ.get("OPENAI_API_KEY")
        if not api_key and not base_url:
            raise ModelCallError(
                f"openai:{model} needs OPENAI_API_KEY (or llm_openai_base_url for a local server)"
            )
        self.model = model
        self.base_url = base_url or DEFAULT_OPENAI_URL
        self._client = openai.OpenAI(
            api_key=api_key or _NO_KEY,
            base_url=base_url,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        return [self._call(request) for request in requests]

    def _call(self, request: Request) -> Generation:
        try:
            if request.is_chat:
                return self._chat(request)
            return self._text(request)
        except openai.APIStatusError as error:
            raise ModelCallError(
                f"openai:{self.model} at {self.base_url} answered HTTP {error.status_code}: "
                f"{_one_line(_server_message(error))}"
            ) from None
        except openai.APITimeoutError:
            raise ModelCallError(f"openai:{self.model} at {self.base_url} timed out") from None
        except openai.APIConnectionError as error:
            raise ModelCallError(
                f"openai:{self.model} at {self.base_url}: connection failed ({_one_line(str(error.__cause__ or error))})"
            ) from None
        except openai.APIError as error:
            raise ModelCallError(
                f"openai:{self.model} at {self.base_url} failed: {_one_line(str(error))}"
            ) from None

    def _common(self, request: Request) -> dict[str, Any]:
        s = request.settings
        kwargs: dict[str, Any] = {"model": self.model, "temperature": s.temperature, "max_tokens": s.max_tokens}
        if s.top_p is not None:
            kwargs["top_p"] = s.top_p
        if s.seed is not None:
            kwargs["seed"] = s.seed
        if s.stop:
            kwargs["stop"] = list(s.stop)
        return kwargs

    def _chat(self, request: Request) -> Generation:
        kwargs = self._common(request)
        if request.settings.top_logprobs:
            kwargs.update(logprobs=True, top_logprobs=request.settings.top_logprobs)
        response = self._client.chat.completions.create(
            messages=[m.to_dict() for m in request.messages], **kwargs
        )
        choice = self._first_choice(response)
        logprobs = None
        content = getattr(choice.logprobs, "content", None) if choice.logprobs else None
        if content:
            logprobs = tuple(
                TokenLogprob(t.token, t.logprob, tuple((a.token, a.logprob) for a in t.top_logprobs or ()))
                for t in content
            )
        return self._generation(response, choice.message.content or "", choice.finish_reason, logprobs)

    def _text(self, request: Request) -> Generation:
        kwargs = self._common(request)
        if request.settings.top_logprobs:
            kwargs["logprobs"] = request.settings.top_logprobs
        response = self._client.completions.create(prompt=request.prompt, **kwargs)
        choice = self._first_choice(response)
        logprobs = None
        if choice.logprobs and choice.logprobs.tokens:  # the completions API's own shape
            tops = choice.logprobs.top_logprobs or [None] * len(choice.logprobs.tokens)
            logprobs = tuple(
                TokenLogprob(token, logprob, tuple((top or {}).items()))
                for token, logprob, top in zip(choice.logprobs.tokens, choice.logprobs.token_logprobs or (), tops)
            )
        return self._generation(response, choice.text or "", choice.finish_reason, logprobs)

    def _first_choice(self, response: Any) -> Any:
        if not getattr(response, "choices", None):
            raise ModelCallError(
                f"openai:{self.model} at {self.base_url} answered without choices: {_one_line(repr(response))}"
            )
        return response.choices[0]

    def _generation(self, response: Any, text: str, finish: str | None, logprobs: Any) -> Generation:
        usage = response.usage
        return Generation(
            text=text,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            model=response.model or self.model,
            finish_reason=finish,
            logprobs=logprobs,
        )


def _server_message(error: openai.APIStatusError) -> str:
    """The server's own words: the body's error message, without the SDK's prefix."""
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return error.message


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= 200 else line[:197] + "..."
