"""The model client tests hold: one call, many calls at once, and what each one cost."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ContextManager, Iterable, Mapping, Protocol, Sequence, Union

from pytest_llmops.cache import redact_secrets
from pytest_llmops.models.base import (
    Backend,
    Completion,
    Generation,
    GenerationSettings,
    Message,
    ModelCallError,
    PromptVersion,
    Request,
    messages_from,
)
from pytest_llmops.models.lazy import LazyBackend
from pytest_llmops.models.pricing import cost_usd


class RenderedPromptLike(Protocol):
    """What the client needs of a rendered prompt template."""

    messages: tuple[Message, ...]
    versions: tuple[PromptVersion, ...]
    settings: Mapping[str, Any]


PromptInput = Union[str, Sequence[Union[Message, Mapping[str, Any]]], RenderedPromptLike]


class CallCache(Protocol):
    """Record/replay of calls: ``lookup`` before a call, ``store`` after a live one."""

    def lookup(self, identity: Mapping[str, Any], request: Request) -> Completion | None: ...

    def store(self, identity: Mapping[str, Any], request: Request, completion: Completion) -> None: ...


class CallObserver(Protocol):
    """Sees every call: ``before`` may refuse it by raising :class:`ModelCallError`."""

    def before(self, request: Request) -> None: ...

    def after(self, request: Request, completion: Completion) -> None: ...


class CallScheduler:
    """The session's thread pool: at most ``concurrency`` model calls in flight, across tests."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._batch_turns: dict[int, threading.Lock] = {}

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="llmops-call")
            return self._pool

    def turn_of(self, backend: Backend) -> ContextManager[object]:
        """Held while a batching backend runs a batch: batches run one at a time anyway, and time
        spent waiting for the previous one is not the model's latency."""
        if not backend.batches:
            return contextlib.nullcontext()
        with self._lock:
            return self._batch_turns.setdefault(id(backend), threading.Lock())

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class LLM:
    """A model client bound to one backend and the settings of the current test.

    ``complete`` makes one call; ``map`` makes many at once (threads for remote backends, one
    padded batch for local ones); ``acomplete`` is the asyncio form. Every call returns a
    :class:`Completion` with text, usage, latency and cost, and is seen by the test's record
    and, when record/replay is on, by the cache.
    """

    def __init__(
        self,
        spec: str,
        backend: Backend,
        defaults: GenerationSettings,
        scheduler: CallScheduler,
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
        self._scheduler = scheduler
        self._prices = dict(prices or {})
        self._cache = cache
        self._observers = tuple(observers)

    def __repr__(self) -> str:
        return f"<LLM {self.spec} ({self.role})>"

    @property
    def model(self) -> str:
        return self.backend.model

    @property
    def identity(self) -> dict[str, Any]:
        """What, besides the request, determines an answer: backend spec, model, server."""
        return {"spec": self.spec, **getattr(self.backend, "identity", {"model": self.backend.model})}

    def with_observers(self, *observers: CallObserver, cache: CallCache | None = None, role: str | None = None) -> LLM:
        """A client that also reports to ``observers`` (and uses ``cache``, when given)."""
        return self._copy(
            observers=self._observers + observers,
            cache=cache if cache is not None else self._cache,
            role=role or self.role,
        )

    def _copy(self, **changes: Any) -> LLM:
        values = {
            "defaults": self.defaults,
            "prices": self._prices,
            "cache": self._cache,
            "observers": self._observers,
            "role": self.role,
        }
        values.update(changes)
        return LLM(self.spec, self.backend, scheduler=self._scheduler, **values)

    def complete(self, prompt: PromptInput, *, raw: bool = False, **settings: Any) -> Completion:
        """Answer one prompt: a string (one user turn), chat messages, or a rendered template.

        ``raw=True`` sends a text prompt as-is (completions endpoint, no chat template).
        Keyword settings (``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``stop``,
        ``top_logprobs``) override the test's defaults for this call.
        """
        return self.map([prompt], raw=raw, **settings)[0]

    chat = complete

    async def acomplete(self, prompt: PromptInput, *, raw: bool = False, **settings: Any) -> Completion:
        """``complete`` for asyncio code; many may be gathered at once."""
        return await asyncio.get_running_loop().run_in_executor(
            self._scheduler.pool, lambda: self.complete(prompt, raw=raw, **settings)
        )

    def map(self, prompts: Iterable[PromptInput], *, raw: bool = False, **settings: Any) -> list[Completion]:
        """Answer many prompts at once, in order. The first failure is raised after all finish."""
        prepared = [self._request(p, raw, settings) for p in prompts]
        results: list[Completion | None] = [None] * len(prepared)
        missing: list[int] = []
        for index, (request, versions) in enumerate(prepared):
            replay = self._replayed(request, versions)
            if replay is None:
                missing.append(index)
            else:
                results[index] = replay
        if missing:
            for index, completion in zip(missing, self._call_live([prepared[i] for i in missing])):
                results[index] = completion
        return [r for r in results if r is not None]

    def _replayed(self, request: Request, versions: tuple[PromptVersion, ...]) -> Completion | None:
        """The recorded answer to ``request`` (seen by the observers), or None: call live."""
        replay = self._cache.lookup(self.identity, request) if self._cache else None
        if replay is None:
            return None
        replay = dataclasses.replace(
            replay, cached=True, role=self.role, prompt_versions=versions or replay.prompt_versions
        )
        return self._seen(request, replay)

    def _request(self, prompt: PromptInput, raw: bool, overrides: Mapping[str, Any]) -> tuple[Request, tuple[PromptVersion, ...]]:
        versions: tuple[PromptVersion, ...] = ()
        template_settings: Mapping[str, Any] = {}
        if hasattr(prompt, "versions") and hasattr(prompt, "messages"):
            versions, template_settings = prompt.versions, prompt.settings
            messages = prompt.messages
        else:
            messages = messages_from(prompt)  # type: ignore[arg-type]
        settings = self.defaults.updated(**template_settings).updated(**overrides)
        if raw:
            if len(messages) != 1 or messages[0].role != "user":
                raise ValueError("raw=True takes a single text prompt, not chat messages")
            return Request(prompt=messages[0].content, settings=settings), versions
        return Request(messages=tuple(messages), settings=settings), versions

    def _call_live(self, prepared: list[tuple[Request, tuple[PromptVersion, ...]]]) -> list[Completion]:
        for request, _ in prepared:
            for observer in self._observers:
                observer.before(request)
        requests = [request for request, _ in prepared]
        if self.backend.batches or len(requests) == 1:
            timed = [self._timed(requests)]
        else:
            timed = list(self._scheduler.pool.map(lambda r: self._timed([r]), requests))
        outcomes = [(g, elapsed) for generations, elapsed in timed for g in generations]
        completions = []
        failure: BaseException | None = None
        for (request, versions), (generation, elapsed) in zip(prepared, outcomes):
            if isinstance(generation, BaseException):
                failure = failure or generation
                continue
            completions.append(self._finished(request, versions, generation, elapsed))
        if failure is not None:
            raise failure
        return completions

    def _finished(self, request: Request, versions: tuple[PromptVersion, ...], generation: Generation, elapsed: float) -> Completion:
        """A live answer as a Completion: costed, stored in the cache, seen by the observers."""
        completion = self._completion(generation, elapsed, versions)
        if self._cache is not None:
            self._cache.store(self.identity, request, completion)
        return self._seen(request, completion)

    def _timed(self, requests: list[Request]) -> tuple[list[Generation | BaseException], float]:
        """Generations (or the failure, once per request) and the seconds the model took."""
        try:
            if isinstance(self.backend, LazyBackend):
                self.backend.loaded  # noqa: B018 - load outside the timed span: latency is the model's
            with self._scheduler.turn_of(self.backend):
                start = time.perf_counter()
                generations: list[Generation | BaseException] = list(self.backend.generate(requests))
                elapsed = time.perf_counter() - start
            if len(generations) != len(requests):  # answers paired by position: never misfile one
                raise ModelCallError(f"{self.spec}: the backend answered {len(generations)} of {len(requests)} requests")
            return generations, elapsed
        except ModelCallError as error:
            failure = error
        except Exception as error:  # a backend bug or a broken server: still an infrastructure error
            failure = ModelCallError(f"{self.spec}: {type(error).__name__}: {error}")
        return [failure] * len(requests), 0.0

    def _completion(self, generation: Generation, elapsed: float, versions: tuple[PromptVersion, ...]) -> Completion:
        provider = getattr(self.backend, "provider", None)
        cost = 0.0
        if provider or generation.model in self._prices:
            cost = cost_usd(generation.model, generation.prompt_tokens, generation.completion_tokens, self._prices, provider)
        return Completion(
            # A server may echo the API key (a debugging proxy showing the request's headers):
            # redacted here, the test, its snapshot and the reports see what a replay would.
            text=redact_secrets(generation.text),
            model=generation.model,
            backend=self.spec.partition(":")[0],
            prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
            latency_s=elapsed,
            cost_usd=cost,
            finish_reason=generation.finish_reason,
            prompt_versions=versions,
            logprobs=generation.logprobs,
            role=self.role,
        )

    def _seen(self, request: Request, completion: Completion) -> Completion:
        for observer in self._observers:
            observer.after(request, completion)
        return completion


def complete_each(calls: Sequence[tuple[LLM, PromptInput]]) -> list[Completion | BaseException]:
    """Answer one prompt per client, each through its own cache and observers, in this thread.

    Clients on one batching backend share a single ``generate`` call (one padded batch); the
    others are called one by one. A failure is returned in its call's place, never raised, so
    it belongs to its own caller alone.
    """
    outcomes: list[Completion | BaseException | None] = [None] * len(calls)
    live: dict[int, list[tuple[int, LLM, Request, tuple[PromptVersion, ...]]]] = {}
    for index, (llm, prompt) in enumerate(calls):
        try:
            request, versions = llm._request(prompt, False, {})
            outcomes[index] = llm._replayed(request, versions)
            if outcomes[index] is None:
                for observer in llm._observers:
                    observer.before(request)
                key = id(llm.backend) if llm.backend.batches else index
                live.setdefault(key, []).append((index, llm, request, versions))
        except Exception as error:  # noqa: BLE001 - handed back to the call's own test
            outcomes[index] = error
    for group in live.values():
        generations, elapsed = group[0][1]._timed([request for _, _, request, _ in group])
        for (index, llm, request, versions), generation in zip(group, generations):
            if isinstance(generation, BaseException):
                outcomes[index] = generation
                continue
            try:
                outcomes[index] = llm._finished(request, versions, generation, elapsed)
            except Exception as error:  # noqa: BLE001 - a failing cache or observer: this call's
                outcomes[index] = error
    return [outcome for outcome in outcomes if outcome is not None]
