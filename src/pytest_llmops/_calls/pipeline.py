"""The one path of every model call: the ``llm`` fixture, dataset prefetch, judge votes,
calibration cases and pairwise orders all go through :meth:`CallPipeline.run`.

validate the request -> replay (a hit returns at once: no budget, no slot, no network) ->
under ``--llm-estimate``, stop: the call is counted and its test skipped -> reserve budget ->
wait for the endpoint's adaptive limit (:mod:`.endpoints`) -> wait for a slot of the one bound (``llm_concurrency``) -> one attempt under
a wall-clock deadline (``llm_timeout``), retried here (``llm_max_retries``, backoff honouring
``Retry-After``) -> validate the answer -> cost, redact -> record -> observers.

A call to a cheap backend (``cheap = True``: instant, local, no I/O, like ``echo``) takes every
stage in the caller's thread: handing it to a thread would cost more than answering it.

:meth:`CallPipeline.cancel` (the run is ending: ``-x``, ``--maxfail``, Ctrl-C) drops queued
calls and stops waiting for those in flight; an abandoned attempt ends on a daemon thread that
nobody waits for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from pytest_llmops._calls import endpoints
from pytest_llmops._calls.answers import check_generation
from pytest_llmops._models.base import Backend, Completion, Generation, GenerationSettings, Message, Request
from pytest_llmops._models.client import Call, Outcome
from pytest_llmops._models.generation import GenerationSettingError, checked, consistent
from pytest_llmops._models.lazy import LazyBackend
from pytest_llmops._models.tools import ToolCall, answer_problem
from pytest_llmops._redact import redact, redact_data
from pytest_llmops.errors import CallCancelled, ModelCallError, RateLimited, StructuredOutputError, TransientCallError

if TYPE_CHECKING:
    from pytest_llmops._calls.budget import Budget
    from pytest_llmops._calls.estimate import Estimate
    from pytest_llmops._models.client import LLM

_log = logging.getLogger("pytest_llmops.calls")
T = TypeVar("T")

#: The longest wait between attempts, whatever a server's ``Retry-After`` asks for.
MOST_BACKOFF_S = 30.0
_FIRST_BACKOFF_S = 0.5
# Bytes a chat message adds around its content (role, separators): a generous bound.
_MESSAGE_OVERHEAD = 16


#: What is counted per model spec: live attempts, those that failed (retried or not), retries,
#: and calls that ended in an error (after their retries).
SPEC_COUNTS = ("attempts", "failed_attempts", "retries", "failed_calls")


@dataclass
class CallStats:
    """What the pipeline did: live attempts, retries, attempts past ``llm_timeout``, attempts in
    flight when the run stopped, the most attempts in flight at once, each endpoint's
    adaptive-concurrency figures (:class:`~.endpoints.EndpointStats`), and per model spec the
    :data:`SPEC_COUNTS`."""

    attempts: int = 0
    retries: int = 0
    timed_out: int = 0
    abandoned: int = 0
    most_in_flight: int = 0
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_spec: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def count(self, spec: str, name: str) -> None:
        """One more ``name`` (of :data:`SPEC_COUNTS`) for ``spec``; the caller holds the lock."""
        counts = self.by_spec.setdefault(spec, dict.fromkeys(SPEC_COUNTS, 0))
        counts[name] += 1

    @classmethod
    def merged(cls, parts: Iterable[Mapping[str, Any]]) -> CallStats:
        """The run's figures from each process's: counts add up, the peak is the highest."""
        total = cls()
        parts = list(parts)
        for part in parts:
            for name in ("attempts", "retries", "timed_out", "abandoned"):
                setattr(total, name, getattr(total, name) + part.get(name, 0))
            total.most_in_flight = max(total.most_in_flight, part.get("most_in_flight", 0))
            for spec, counts in part.get("by_spec", {}).items():
                mine = total.by_spec.setdefault(spec, dict.fromkeys(SPEC_COUNTS, 0))
                for name in SPEC_COUNTS:
                    mine[name] += counts.get(name, 0)
        total.endpoints = endpoints.merged(part.get("endpoints", {}) for part in parts)
        return total

    def summary(self) -> str:
        line = f"model calls: {_count(self.attempts, 'attempt')}, {_count(self.retries, 'retry', 'retries')}"
        if self.timed_out:
            line += f", {self.timed_out} timed out (llm_timeout)"
        if self.abandoned:
            line += f", {self.abandoned} abandoned when the run stopped"
        return line


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"


class _Slots:
    """The one bound: at most ``size`` attempts in flight; a wait ends early on cancellation."""

    def __init__(self, size: int, stats: CallStats) -> None:
        self.size = size
        self._busy = 0
        self._stats = stats
        self._changed = threading.Condition()
        self._cancelled = False

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._changed:
            while self._busy >= self.size and not self._cancelled:
                self._changed.wait()
            if self._cancelled:
                raise CallCancelled("the run is ending: this queued call was dropped")
            self._busy += 1
            self._stats.attempts += 1
            self._stats.most_in_flight = max(self._stats.most_in_flight, self._busy)
        try:
            yield
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify()

    def cancel(self) -> None:
        with self._changed:
            self._cancelled = True
            self._changed.notify_all()


def backoff(attempt: int, error: BaseException) -> float:
    """The wait after failed attempt number ``attempt``: exponential with jitter; a server's
    ``Retry-After`` when it asks for longer; never more than ``MOST_BACKOFF_S``."""
    wait = _FIRST_BACKOFF_S * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
    asked = getattr(error, "retry_after", None)
    if asked is not None:
        wait = max(wait, asked)
    return min(wait, MOST_BACKOFF_S)


class CallPipeline:
    """Owned by the run's session; shared by every client, so its bound and budget are the run's."""

    def __init__(
        self,
        *,
        concurrency: int,
        timeout_s: float,
        max_retries: int,
        budget: Budget | None = None,
        estimate: Estimate | None = None,
        adaptive: bool = True,
    ) -> None:
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.budget = budget
        #: Set by ``--llm-estimate``: no call goes live, each is counted there instead.
        self.estimate = estimate
        self.stats = CallStats()
        self._slots = _Slots(concurrency, self.stats)
        self._cancelled = threading.Event()
        #: Each endpoint's adaptive limit (None: ``llm_adaptive_concurrency`` is off).
        self.endpoints = endpoints.Endpoints(concurrency, self._cancelled) if adaptive else None
        self._lock = threading.Lock()
        self._waits: set[threading.Event] = set()
        self._turns: dict[int, threading.Lock] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._on_pool = threading.local()

    # -- running calls ---------------------------------------------------------------------

    def run(self, calls: Sequence[Call]) -> list[Outcome]:
        """The outcome of each call, in order: its Completion, or the error that is its alone.

        Calls to one batching backend share padded batches of up to ``llm_concurrency``
        prompts; the others run concurrently, each in a slot of the bound.
        """
        outcomes: list[Outcome | None] = [None] * len(calls)
        live: dict[int, list[int]] = {}
        for index, call in enumerate(calls):
            try:
                check_settings(call.request)
                outcomes[index] = self._replayed(call)
            except Exception as error:  # noqa: BLE001 - handed back to this call's caller
                outcomes[index] = error
                continue
            if outcomes[index] is None:
                backend = call.client.backend
                live.setdefault(id(backend) if backend.batches else -1 - index, []).append(index)
        chunks = [
            group[start : start + self.concurrency]
            for group in live.values()
            for start in range(0, len(group), self.concurrency)
        ]
        inline: list[list[int]] = []
        pooled: list[list[int]] = []
        for chunk in chunks:
            (inline if answered_inline(calls[chunk[0]].client.backend) else pooled).append(chunk)
        answers = [self._live([calls[i] for i in chunk]) for chunk in inline]
        answers += self.gather(lambda c: self._live([calls[i] for i in c]), pooled)
        for chunk, results in zip(inline + pooled, answers):
            for index, outcome in zip(chunk, results):
                outcomes[index] = outcome
        return [_redacted(_structured(call, outcome)) for call, outcome in zip(calls, outcomes) if outcome is not None]

    def submit(self, calls: Sequence[Call]) -> Future[list[Outcome]]:
        """Start ``calls`` on the pipeline's threads (``acomplete``); the future holds the outcomes.

        Calls that are all answered inline (:func:`answered_inline`) are answered here, in the
        caller's thread: the future is done when it is returned.
        """
        if not all(answered_inline(call.client.backend) for call in calls):
            return self._threads().submit(self.run, calls)
        done: Future[list[Outcome]] = Future()
        done.set_result(self.run(calls))
        return done

    def gather(self, work: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        """``work`` over ``items``, in order, concurrently on the pipeline's threads.

        Inline on a pipeline thread already: there are no nested pools, and the calls inside
        ``work`` are bounded by the slots wherever they run.
        """
        if len(items) <= 1 or getattr(self._on_pool, "yes", False):
            return [work(item) for item in items]
        futures = [self._threads().submit(work, item) for item in items]
        return [future.result() for future in futures]

    def bounded(self, backend: Backend) -> Backend:
        """``backend`` for a model-backed metric: each of its calls (``log_likelihood``, ...)
        takes a slot of the one bound and the backend's turn, like any model call."""
        return _Bounded(self, backend)

    def cancel(self) -> None:
        """The run is ending: drop queued calls, stop waiting for those in flight (once)."""
        if self._cancelled.is_set():
            return
        self._cancelled.set()
        self._slots.cancel()
        if self.endpoints is not None:
            self.endpoints.cancel()
        with self._lock:
            self.stats.abandoned += len(self._waits)
            for wait in self._waits:
                wait.set()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the stages ------------------------------------------------------------------------

    def _replayed(self, call: Call) -> Completion | None:
        cache = call.client.cache
        replay = cache.lookup(call.client.identity, call.request) if cache is not None else None
        if replay is None:
            return None
        replay = dataclasses.replace(
            replay,
            cached=True,
            role=call.client.role,
            prompt_versions=call.versions or replay.prompt_versions,
            spec=call.client.spec,
        )
        return self._observed(call, replay)

    def _live(self, chunk: Sequence[Call]) -> list[Outcome]:
        """Answers to calls of one client's backend (one batch, or a single call)."""
        client = chunk[0].client
        outcomes: list[Outcome | None] = [None] * len(chunk)
        reserved = [0.0] * len(chunk)
        for index, call in enumerate(chunk):
            if self.estimate is not None:
                outcomes[index] = self.estimate.refuse(call.client.spec, self._cost_bound(call))
                continue
            try:
                reserved[index] = self._reserve(call)
            except ModelCallError as error:
                outcomes[index] = error
        going = [index for index, outcome in enumerate(outcomes) if outcome is None]
        if going:
            try:
                generations, elapsed = self._attempts(client, [chunk[i].request for i in going])
            except ModelCallError as error:
                generations, elapsed = [error] * len(going), 0.0
            for index, generation in zip(going, generations):
                outcomes[index] = self._finished(chunk[index], generation, elapsed, reserved[index])
        return [outcome for outcome in outcomes if outcome is not None]

    def _reserve(self, call: Call) -> float:
        if self.budget is None:
            return 0.0
        if self._cancelled.is_set():
            raise CallCancelled("the run is ending: this queued call was dropped")
        return self.budget.reserve(self._cost_bound(call))

    @staticmethod
    def _cost_bound(call: Call) -> float:
        """The most ``call`` can cost: every prompt byte a token, and ``max_tokens`` of answer."""
        return call.client.price(prompt_token_bound(call.request), call.request.settings.max_tokens)

    def _attempts(self, client: LLM, requests: list[Request]) -> tuple[list[Generation | BaseException], float]:
        """One attempt, and up to ``llm_max_retries`` more after a transient failure, each after
        its backoff; the last failure is raised."""
        backend = client.backend
        if isinstance(backend, LazyBackend):
            backend.loaded  # noqa: B018 - load before the deadline and the timed span: latency is the model's
        attempt = 1
        while True:
            self._count(client.spec, "attempts")
            try:
                return self._attempt(client, requests)
            except CallCancelled:
                raise
            except TransientCallError as error:
                self._count(client.spec, "failed_attempts")
                if attempt > self.max_retries:
                    raise
                wait = backoff(attempt, error)
                self._count_retry(client, attempt, wait, error)
                self._sleep(wait)
                attempt += 1
            except ModelCallError:
                self._count(client.spec, "failed_attempts")
                raise

    def _attempt(self, client: LLM, requests: list[Request]) -> tuple[list[Generation | BaseException], float]:
        backend = client.backend
        endpoint = self._endpoint_of(backend)
        with endpoint.held() if endpoint is not None else contextlib.nullcontext() as ticket, self._slot_for(backend):
            start = time.perf_counter()
            try:
                generations: list[Generation | BaseException] = list(self._within_deadline(client, requests))
            except RateLimited as error:
                if endpoint is not None and ticket is not None:
                    endpoint.rate_limited(ticket, error.retry_after)
                raise
            except ModelCallError:
                raise
            except Exception as error:  # a backend bug or a broken server: still infrastructure
                raise ModelCallError(f"{client.spec}: {type(error).__name__}: {error}") from None
            elapsed = time.perf_counter() - start
        if endpoint is not None and ticket is not None:
            for generation in generations:
                if isinstance(generation, Generation):
                    endpoint.answered(ticket, generation.rate_limits)
        if len(generations) != len(requests):  # answers are paired by position: never misfile one
            raise ModelCallError(f"{client.spec}: the backend answered {len(generations)} of {len(requests)} requests")
        return generations, elapsed

    def _within_deadline(self, client: LLM, requests: list[Request]) -> Sequence[Generation]:
        """``generate`` on a daemon thread, waited for at most ``llm_timeout`` seconds.

        An in-process backend runs here: abandoning it would leave it busy on the CPU.
        """
        backend = client.backend
        if getattr(backend, "in_process", False):
            return backend.generate(requests)
        finished = threading.Event()
        answer: dict[str, Any] = {}

        def attempt() -> None:
            try:
                answer["generations"] = backend.generate(requests)
            except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
                answer["error"] = error
            finally:
                finished.set()

        with self._lock:
            self._waits.add(finished)
        try:
            threading.Thread(target=attempt, name="llmops-attempt", daemon=True).start()
            finished.wait(self.timeout_s)
        finally:
            with self._lock:
                self._waits.discard(finished)
        if "error" in answer:
            raise answer["error"]
        if "generations" in answer:
            return answer["generations"]
        if self._cancelled.is_set():  # counted by cancel()
            raise CallCancelled(f"{client.spec}: the run is ending: stopped waiting for this call")
        with self._lock:
            self.stats.timed_out += 1
        raise TransientCallError(f"{client.where}: no answer within {self.timeout_s:g} s (llm_timeout)")

    def _finished(self, call: Call, generation: Generation | BaseException, elapsed: float, reserved: float) -> Outcome:
        """A live answer checked, costed, redacted, recorded and observed; or its error."""
        cost = 0.0
        try:
            if isinstance(generation, BaseException):
                raise generation
            checked = check_generation(generation, call.client.spec)
            # A server may echo the API key (a debugging proxy showing the request's headers):
            # redacted here, so the test, its snapshot, reports and warnings see what a replay would.
            model = redact(checked.model)
            cost = call.client.price(checked.prompt_tokens, checked.completion_tokens, model)
            ttft, rate = stream_timings(call.request, checked, elapsed)
            completion = Completion(
                text=redact(checked.text),
                model=model,
                backend=call.client.spec.partition(":")[0].partition("@")[0],
                prompt_tokens=checked.prompt_tokens,
                completion_tokens=checked.completion_tokens,
                latency_s=elapsed,
                cost_usd=cost,
                finish_reason=checked.finish_reason,
                prompt_versions=call.versions,
                logprobs=checked.logprobs,
                role=call.client.role,
                spec=call.client.spec,
                system_fingerprint=None if checked.system_fingerprint is None else redact(checked.system_fingerprint),
                tool_calls=tuple(ToolCall.from_dict(redact_data(c.to_dict())) for c in checked.tool_calls),
                ttft_s=ttft,
                tokens_per_s=rate,
            )
            if call.client.cache is not None:
                call.client.cache.store(call.client.identity, call.request, completion)
            return self._observed(call, completion)
        except ModelCallError as error:
            if not isinstance(error, CallCancelled):
                self._count(call.client.spec, "failed_calls")
            return error
        except Exception as error:  # noqa: BLE001 - a failing cache or observer: this call's alone
            self._count(call.client.spec, "failed_calls")
            return ModelCallError(f"{call.client.spec}: {type(error).__name__}: {error}")
        finally:
            if self.budget is not None:
                self.budget.settle(reserved, cost)

    def _observed(self, call: Call, completion: Completion) -> Completion:
        for observer in call.client.observers:
            observer.after(call.request, completion)
        return completion

    # -- plumbing --------------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        """:attr:`stats` with each endpoint's figures, as the session reports them."""
        if self.endpoints is not None:
            self.stats.endpoints = self.endpoints.figures()
        return self.stats.to_dict()

    def _endpoint_of(self, backend: Backend) -> endpoints.Endpoint | None:
        """The adaptive limit of the server ``backend`` calls (None: no server, or adaptive off)."""
        if self.endpoints is None:
            return None
        name = getattr(backend, "endpoint", None)
        return self.endpoints.of(endpoints.display_name(name)) if isinstance(name, str) and name else None

    def _threads(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._cancelled.is_set():
                raise CallCancelled("the run is ending: no new model calls")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.concurrency, thread_name_prefix="llmops-call", initializer=self._mark_pool_thread
                )
            return self._pool

    def _mark_pool_thread(self) -> None:
        self._on_pool.yes = True

    @contextlib.contextmanager
    def _slot_for(self, backend: Backend) -> Iterator[None]:
        """A slot of the one bound, then ``backend``'s turn: held by every piece of model work."""
        with self._slots.held(), self._turn_of(backend):
            yield

    def _turn_of(self, backend: Backend) -> contextlib.AbstractContextManager[object]:
        """Held while a batching backend runs a batch: its batches run one at a time anyway."""
        if not backend.batches:
            return contextlib.nullcontext()
        with self._lock:
            return self._turns.setdefault(id(backend), threading.Lock())

    def _sleep(self, seconds: float) -> None:
        if self._cancelled.wait(seconds):
            raise CallCancelled("the run is ending: this call's retry was dropped")

    def _count(self, spec: str, name: str) -> None:
        with self._lock:
            self.stats.count(spec, name)

    def _count_retry(self, client: LLM, attempt: int, wait: float, error: BaseException) -> None:
        """Every retry is counted and logged (``pytest_llmops._calls``): retry number, spec, wait, why."""
        with self._lock:
            self.stats.retries += 1
            self.stats.count(client.spec, "retries")
        _log.info("retry %d of %s in %.3f s: %s", attempt, client.spec, wait, redact(str(error)))


class _Bounded:
    """A backend whose every method call runs in a slot of the pipeline and the backend's turn."""

    def __init__(self, pipeline: CallPipeline, backend: Backend) -> None:
        self._pipeline = pipeline
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._backend, name)
        if not callable(value):
            return value

        def bounded(*args: Any, **kwargs: Any) -> Any:
            with self._pipeline._slot_for(self._backend):
                return value(*args, **kwargs)

        return bounded


def answered_inline(backend: Backend) -> bool:
    """Whether calls to ``backend`` take every stage in the caller's thread: it says its calls
    are cheap (``cheap = True``: instant, local, no I/O), so a thread would only add its own
    cost. A batching backend's calls still share its batches."""
    return getattr(backend, "cheap", False) is True and not backend.batches


def _structured(call: Call, outcome: Outcome) -> Outcome:
    """A completion that does not answer in its call's ``response_format`` (a tool call is no
    such answer) becomes a :class:`StructuredOutputError`: a FAIL, as the model answered badly.
    Checked after recording, so its replay FAILs alike."""
    response_format = call.request.settings.response_format
    if response_format is None or not isinstance(outcome, Completion) or outcome.tool_calls:
        return outcome
    problem = answer_problem(response_format, outcome.text)
    if problem is None:
        return outcome
    text = outcome.text if len(outcome.text) <= 200 else outcome.text[:197] + "..."
    return StructuredOutputError(f"{call.client.spec}: {problem}\nanswer: {text!r}", outcome)


def _redacted(outcome: Outcome) -> Outcome:
    """An error's message as it may be shown: a server may quote a secret in it."""
    if isinstance(outcome, BaseException) and len(outcome.args) == 1 and isinstance(outcome.args[0], str):
        outcome.args = (redact(outcome.args[0]),)
    return outcome


def stream_timings(request: Request, generation: Generation, elapsed: float) -> tuple[float | None, float | None]:
    """A streamed call's ``ttft_s`` and ``tokens_per_s`` (the completion tokens over the
    seconds after the first token). A backend that cannot stream (``echo``, ``hf``) answers
    whole: its first token comes with the last, after the whole latency, and its rate is not
    measured. A call that did not ask to stream has neither."""
    if not request.settings.stream:
        return None, None
    if generation.ttft_s is None:
        return elapsed, None
    decode = generation.decode_s
    return generation.ttft_s, generation.completion_tokens / decode if decode and generation.completion_tokens else None


def prompt_token_bound(request: Request) -> int:
    """An upper bound of the request's prompt tokens: every token is at least one byte of it
    (the tools' and response format's JSON included: the server puts them in the prompt)."""
    settings = request.settings
    extra = sum(
        len(json.dumps(value).encode()) for value in (settings.tools, settings.response_format) if value is not None
    )
    if not request.is_chat:
        return len((request.prompt or "").encode("utf-8", "surrogatepass")) + _MESSAGE_OVERHEAD + extra
    return extra + sum(_message_bytes(m) + _MESSAGE_OVERHEAD for m in request.messages)


def _message_bytes(message: Message) -> int:
    calls = sum(len(c.name) + len(c.arguments_text.encode("utf-8", "surrogatepass")) for c in message.tool_calls)
    return len(message.content.encode("utf-8", "surrogatepass")) + calls


def check_settings(request: Request) -> None:
    """A request's generation settings, checked against the table before it is sent (a request
    built by hand has passed no other check); :class:`SetupError` names the bad ones."""
    settings = request.settings
    if not request.is_chat and (settings.tools is not None or settings.response_format is not None):
        raise GenerationSettingError(
            "the request's generation settings: tools and response_format need chat messages, not a raw text prompt"
        )
    # Each value with its type: True == 1, but seed=True is no seed.
    typed = tuple((name, type(value), value) for name, value in vars(request.settings).items())
    try:
        hash(typed)
    except TypeError:  # tools or a response format (JSON data), or a bad value: checked each time
        _check_settings(typed)
    else:
        _checked_settings(typed)


@functools.lru_cache(maxsize=256)
def _checked_settings(typed: tuple[tuple[str, type, Any], ...]) -> None:
    """:func:`_check_settings`, remembered when good: most calls of a run share a few settings."""
    _check_settings(typed)


def _check_settings(typed: tuple[tuple[str, type, Any], ...]) -> None:
    given = {name: value for name, _, value in typed if value is not None or _required(name)}
    consistent(checked(given, "the request's generation settings"), "the request's generation settings")


def _required(name: str) -> bool:
    """Whether setting ``name`` always has a value (its default is not None)."""
    return getattr(GenerationSettings, name) is not None
