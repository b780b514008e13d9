"""The model calls of dataset cases, made concurrently ahead of the tests that check them.

When the first case test sets up, every selected case of the run (``session.items``: after
``-k``, ``-m``, ``--lf`` and other deselection) is planned: its prompt rendered and a client
built for its own test, so each call goes through that test's cache and record. The calls are
submitted, in test order, to the session's bounded pool (``llm_concurrency``); clients of a
batching backend share padded batches of up to ``llm_concurrency`` prompts. Each test then
waits only for its own answer, and a failed call errors only its own test.
"""

from __future__ import annotations

from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Sequence, Union

import pytest

from pytest_llmops.datasets import Case, CaseRow, DatasetError
from pytest_llmops.errors import CallCancelled
from pytest_llmops.models.base import Completion, messages_from
from pytest_llmops.session import SESSION_KEY

if TYPE_CHECKING:
    from pytest_llmops.calls.pipeline import Call
    from pytest_llmops.models.client import LLM, PromptInput
    from pytest_llmops.results import TestRecord

Outcome = Union[Completion, BaseException]
PREFETCH_KEY = pytest.StashKey["CasePrefetch"]()
_PENDING_KEY = pytest.StashKey["tuple[Future[list[Outcome]], int]"]()


def case_row_of(item: pytest.Item) -> CaseRow | None:
    callspec = getattr(item, "callspec", None)
    row = callspec.params.get("case") if callspec is not None else None
    return row if isinstance(row, CaseRow) else None


def prompt_for(row: CaseRow, config: pytest.Config, record: TestRecord) -> PromptInput:
    """The prompt of ``row``: its template rendered with its inputs (noted on ``record``), or
    its input column."""
    name = row.dataset.prompt
    if name is None:
        value = row.inputs[row.dataset.input]
        try:
            return messages_from(value)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DatasetError(
                f"{row.source}: column {row.dataset.input!r} must be a string or a list of chat "
                f"messages ({type(error).__name__}: {error})"
            ) from None
    from pytest_llmops.prompts import PromptError, note_rendered, prompt_library

    try:
        rendered = prompt_library(config).render(name, **row.inputs)
    except PromptError as error:
        raise DatasetError(f"case {row.id!r} at {row.source}: {error}") from None
    note_rendered(record, rendered)
    return rendered


class CasePrefetch:
    """The run's case calls in flight; started by the first case test that sets up."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started = False
        self._futures: list[Future[list[Outcome]]] = []
        # Under pytest-xdist a worker does not know which tests it will be sent: each case then
        # calls when its test sets up, and the workers give the parallelism.
        self.enabled = not hasattr(config, "workerinput")

    def take(self, item: pytest.Item, items: Sequence[pytest.Item]) -> Outcome | None:
        """``item``'s prefetched outcome (waiting for it), or None: the test calls itself."""
        if self.enabled and not self.started:
            self.started = True
            self.config.pluginmanager.register(self, "llmops-case-prefetch")
            self._submit(self._plan(items))
        pending = item.stash.get(_PENDING_KEY, None)
        if pending is None:
            return None
        del item.stash[_PENDING_KEY]  # a rerun of the test calls afresh
        future, index = pending
        try:
            return future.result()[index]
        except CancelledError:
            return CallCancelled("the run is ending: this case's call was dropped")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        """Drop the calls not started yet (``-x``, ``--maxfail``, Ctrl-C): no test will read them."""
        for future in self._futures:
            future.cancel()
        self.config.pluginmanager.unregister(self)

    def _plan(self, items: Sequence[pytest.Item]) -> list[tuple[pytest.Item, LLM, PromptInput]]:
        from pytest_llmops.fixtures import item_llm
        from pytest_llmops.plugin import record_of
        from pytest_llmops.results import RecordObserver

        planned = []
        for item in items:
            row = case_row_of(item)
            if row is None or _may_be_skipped(item):
                continue
            try:
                record = record_of(item)
                llm = item_llm(item, (RecordObserver(record),))
                prompt = prompt_for(row, self.config, record)
            except Exception:  # noqa: BLE001 - its test makes the call itself and reports why not
                continue
            planned.append((item, llm, prompt))
        return planned

    def _submit(self, planned: list[tuple[pytest.Item, LLM, PromptInput]]) -> None:
        """Each call to the pipeline on its own; calls of a batching backend in shared chunks."""
        pipeline = self.config.stash[SESSION_KEY].pipeline
        batches: dict[int, list[tuple[pytest.Item, Call]]] = {}

        def send(chunk: list[tuple[pytest.Item, Call]]) -> None:
            future = pipeline.submit([call for _, call in chunk])
            self._futures.append(future)
            for index, (item, _) in enumerate(chunk):
                item.stash[_PENDING_KEY] = (future, index)

        for item, llm, prompt in planned:
            try:
                call = llm.call(prompt)
            except Exception:  # noqa: BLE001 - its test makes the call itself and reports why not
                continue
            if not llm.backend.batches:
                send([(item, call)])
                continue
            batch = batches.setdefault(id(llm.backend), [])
            batch.append((item, call))
            if len(batch) == pipeline.concurrency:
                send(batches.pop(id(llm.backend)))
        for batch in batches.values():
            send(batch)


def _may_be_skipped(item: pytest.Item) -> bool:
    """Whether a skip mark might skip ``item``: it is not prefetched (no paid call for a test that
    never runs); if it does run, it makes its call at set-up."""
    xfail = item.get_closest_marker("xfail")
    return bool(item.get_closest_marker("skip") or item.get_closest_marker("skipif")
                or (xfail is not None and xfail.kwargs.get("run") is False))


def make_case(request: pytest.FixtureRequest) -> Case:
    """The ``case`` fixture: this row's answer, prefetched, or called now when it could not be."""
    from pytest_llmops.fixtures import fail_setup, make_llm
    from pytest_llmops.plugin import record_of

    row = getattr(request, "param", None)
    if not isinstance(row, CaseRow):
        fail_setup(f"{request.node.nodeid}: the `case` fixture needs @pytest.mark.llm_dataset(...)")
    prefetch = request.config.stash.get(PREFETCH_KEY, None)
    if prefetch is None:
        prefetch = request.config.stash[PREFETCH_KEY] = CasePrefetch(request.config)
    outcome = prefetch.take(request.node, request.session.items)
    record = record_of(request.node)
    if outcome is None:
        try:
            prompt = prompt_for(row, request.config, record)
        except DatasetError as error:
            problem = str(error)
        else:
            outcome = make_llm(request, record).complete(prompt)
        if outcome is None:
            fail_setup(problem)
    if isinstance(outcome, BaseException):
        raise outcome
    record.extra["case"] = {"id": row.id, "source": row.source}
    return Case(row.id, dict(row.inputs), row.expected, outcome, row.source)
