"""The model client tests hold: one call, many calls at once, and what each one cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence, TypeVar, Union, cast

from pytest_llmops._models.base import (
    Backend,
    Completion,
    GenerationSettings,
    Message,
    PromptVersion,
    Request,
    messages_from,
)
from pytest_llmops._models.pricing import cost_usd

if TYPE_CHECKING:
    from concurrent.futures import Future

    from pytest_llmops._models.conversation import Conversation


class RenderedPromptLike(Protocol):
    """What the client needs of a rendered prompt template."""

    @property
    def messages(self) -> tuple[Message, ...]: ...

    @property
    def versions(self) -> tuple[PromptVersion, ...]: ...

    @property
    def settings(self) -> Mapping[str, Any]: ...


T = TypeVar("T")
PromptInput = Union[str, Sequence[Union[Message, Mapping[str, Any]]], RenderedPromptLike]


class CallCache(Protocol):
    """Record/replay of calls: ``lookup`` before a call, ``store`` after a live one."""

    def lookup(self, identity: Mapping[str, Any], request: Request) -> Completion | None: ...

    def store(self, identity: Mapping[str, Any], request: Request, completion: Completion) -> None: ...


@dataclass(frozen=True)
class Call:
    """One request of one client, with the template versions its prompt came from."""

    client: LLM
    request: Request
    versions: tuple[PromptVersion, ...] = ()


Outcome = Union[Completion, BaseException]


class CallPipeline(Protocol):
    """The run's one path for model calls (``pytest_llmops._calls.pipeline``)."""

    concurrency: int

    def run(self, calls: Sequence[Call]) -> list[Outcome]: ...

    def submit(self, calls: Sequence[Call]) -> Future[list[Outcome]]: ...

    def gather(self, work: Callable[[Any], T], items: Sequence[Any]) -> list[T]: ...


class CallObserver(Protocol):
    """Sees every answered call, replayed or live (a test's record)."""

    def after(self, request: Request, completion: Completion) -> None: ...


class LLM:
    """A model client bound to one backend and the settings of the current test.

    ``complete`` makes one call; ``map`` makes many at once (concurrently for remote backends,
    one padded batch for local ones); ``acomplete`` is the asyncio form. Every call goes
    through the run's :class:`~pytest_llmops._calls.pipeline.CallPipeline`. Every call returns a
    :class:`Completion` with text, usage, latency and cost, and is seen by the test's record
    and, when record/replay is on, by the cache.
    """

    def __init__(
        self,
        spec: str,
        backend: Backend,
        defaults: GenerationSettings,
        pipeline: CallPipeline,
        *,
        prices: Mapping[str, tuple[float, float]] | None = None,
        cache: CallCache | None = None,
        observers: Sequence[CallObserver] = (),
        role: str = "model",
    ) -> None:
        self.spec = spec
        self.backend = backend
        self.defaults = defaults
        self.role = role
        self.cache = cache
        self.observers = tuple(observers)
        self.pipeline = pipeline
        self._prices = dict(prices or {})

    def __repr__(self) -> str:
        return f"<LLM {self.spec} ({self.role})>"

    @property
    def model(self) -> str:
        return self.backend.model

    @property
    def identity(self) -> dict[str, Any]:
        """What, besides the request, determines an answer: backend spec, model, server."""
        return {"spec": self.spec, **getattr(self.backend, "identity", {"model": self.backend.model})}

    @property
    def where(self) -> str:
        """The spec, and the server it calls when there is one: for messages."""
        server = self.identity.get("base_url")
        return f"{self.spec} at {server}" if server else self.spec

    def with_observers(self, *observers: CallObserver, cache: CallCache | None = None, role: str | None = None) -> LLM:
        """A client that also reports to ``observers`` (and uses ``cache``, when given)."""
        return LLM(
            self.spec,
            self.backend,
            self.defaults,
            self.pipeline,
            prices=self._prices,
            cache=cache if cache is not None else self.cache,
            observers=self.observers + observers,
            role=role or self.role,
        )

    def price(self, prompt_tokens: int, completion_tokens: int, model: str | None = None) -> float:
        """USD a call of these token counts costs on ``model`` (default: this client's; 0 when unknown)."""
        model = model or self.backend.model
        provider = getattr(self.backend, "provider", None)
        if not provider and model not in self._prices:
            return 0.0
        return cost_usd(model, prompt_tokens, completion_tokens, self._prices, provider)

    def complete(self, prompt: PromptInput, *, raw: bool = False, **settings: Any) -> Completion:
        """Answer one prompt: a string (one user turn), chat messages, or a rendered template.

        ``raw=True`` sends a text prompt as-is (completions endpoint, no chat template).
        Keyword settings (``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``stop``,
        ``top_logprobs``; ``tools``, ``tool_choice``, ``parallel_tool_calls``,
        ``response_format``) override the test's defaults for this call. An answer that does
        not match its ``response_format`` raises :class:`~pytest_llmops.errors.StructuredOutputError`
        (an ``AssertionError``: the test FAILs).
        """
        __tracebackhide__ = True
        return self.map([prompt], raw=raw, **settings)[0]

    chat = complete

    async def acomplete(self, prompt: PromptInput, *, raw: bool = False, **settings: Any) -> Completion:
        """``complete`` for asyncio code; many may be gathered at once."""
        import asyncio

        call = self.call(prompt, raw=raw, **settings)
        (outcome,) = await asyncio.wrap_future(self.pipeline.submit([call]))
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def conversation(
        self, system: str | None = None, *, opening: PromptInput | None = None, name: str | None = None, **settings: Any
    ) -> Conversation:
        """A multi-turn conversation: ``reply = conv.say("...")`` sends the whole history each
        turn; ``opening`` (a rendered template or chat messages) comes before the first turn;
        keyword ``settings`` apply to every turn. Its transcript goes to the test's record."""
        from pytest_llmops._models.conversation import Conversation

        return Conversation(self, system, opening=opening, name=name, **settings)

    def map(self, prompts: Iterable[PromptInput], *, raw: bool = False, **settings: Any) -> list[Completion]:
        """Answer many prompts at once, in order. The first failure is raised after all finish."""
        __tracebackhide__ = True
        outcomes = self.pipeline.run([self.call(p, raw=raw, **settings) for p in prompts])
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            raise failure
        return outcomes  # type: ignore[return-value]

    def call(self, prompt: PromptInput, *, raw: bool = False, **overrides: Any) -> Call:
        """The pipeline's call for ``prompt`` with this client's settings and ``overrides``."""
        request, versions = self._request(prompt, raw, overrides)
        return Call(self, request, versions)

    def _request(
        self, prompt: PromptInput, raw: bool, overrides: Mapping[str, Any]
    ) -> tuple[Request, tuple[PromptVersion, ...]]:
        versions: tuple[PromptVersion, ...] = ()
        template_settings: Mapping[str, Any] = {}
        # hasattr, not isinstance on the runtime-checkable Protocol: 50 ns, not 20 us, per call.
        if hasattr(prompt, "versions") and hasattr(prompt, "messages"):
            rendered = cast(RenderedPromptLike, prompt)
            versions, template_settings = rendered.versions, rendered.settings
            messages = rendered.messages
        else:
            messages = messages_from(cast("str | Sequence[Message | Mapping[str, Any]]", prompt))
        settings = self.defaults.updated("the prompt's front matter", **template_settings).updated(
            "the call's arguments", **overrides
        )
        if raw:
            if len(messages) != 1 or messages[0].role != "user":
                raise ValueError("raw=True takes a single text prompt, not chat messages")
            return Request(prompt=messages[0].content, settings=settings), versions
        return Request(messages=tuple(messages), settings=settings), versions
