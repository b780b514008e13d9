"""Dataset cases: one test per row, and their model calls made concurrently ahead of the tests.

When the first case test sets up, every selected case of the run (``session.items``: after
``-k``, ``-m``, ``--lf`` and other deselection) is planned: its prompt rendered and a client
built for its own test, so each call goes through that test's cache and record. The calls go to
the run's call pipeline, in test order (``llm_concurrency`` bounds them); calls of a batching
backend share padded batches of up to ``llm_concurrency`` prompts. Each test then waits only for
its own answer, and a failed call errors only its own test. A call the pipeline answers in the
caller's thread (a cheap backend's, such as ``echo``) is not sent ahead: its test makes it, at
set-up, through the same pipeline.

The clients are built as the ``llm`` fixture would build them, but outside any fixture: a
conftest override of ``llm`` does not reach them. Customise them with the
``pytest_llmops_case_client`` hook.
"""

from __future__ import annotations

from concurrent.futures import CancelledError, Future
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, Union

import pytest

from pytest_llmops._calls.pipeline import answered_inline
from pytest_llmops._datasets import BadRow, Case, CaseRow, Dataset, DatasetError, load_cases
from pytest_llmops._files import shown
from pytest_llmops._models.base import Completion, messages_from
from pytest_llmops._plugin import keys, markers
from pytest_llmops._plugin.variants import variant_of
from pytest_llmops.errors import CallCancelled

if TYPE_CHECKING:
    from pytest_llmops._models.client import Call, PromptInput
    from pytest_llmops._models.conversation import Conversation
    from pytest_llmops._plugin.session import LLMSession
    from pytest_llmops._results import TestRecord
    from pytest_llmops._variants import Variant

Outcome = Union[Completion, BaseException]
Pending = tuple[Future[list[Outcome]], int]


def parametrize_cases(metafunc: pytest.Metafunc) -> None:
    """``pytest_generate_tests`` for a test marked ``llm_dataset``: one test per row (a bad row's
    test errors at set-up; a file unreadable as a whole is a collection error)."""
    where = f"@pytest.mark.llm_dataset on {metafunc.definition.nodeid}"
    try:
        arguments = markers.bind_marker(metafunc.definition, markers.llm_dataset)
    except TypeError as error:
        raise pytest.Collector.CollectError(f"bad arguments to {where}: {error}") from None
    if "case" not in metafunc.fixturenames:
        raise pytest.Collector.CollectError(f"{where}: the test must take the `case` fixture")
    path = metafunc.definition.path.parent / Path(arguments.pop("path"))
    dataset = Dataset(path, shown(path.resolve(), metafunc.config.rootpath.resolve()), **arguments)
    try:
        rows = load_cases(dataset)
    except DatasetError as error:
        raise pytest.Collector.CollectError(f"{where}: {error}") from None
    metafunc.parametrize("case", rows, ids=[row.id for row in rows], indirect=True)


def case_row_of(item: pytest.Item) -> CaseRow | None:
    callspec = getattr(item, "callspec", None)
    row = callspec.params.get("case") if callspec is not None else None
    return row if isinstance(row, CaseRow) else None


class CasePrefetch:
    """The run's case calls in flight; started by the first case test that sets up.

    Under pytest-xdist with ``--dist loadfile``, ``loadscope`` or ``loadgroup`` a worker is sent
    whole groups of tests: the first case test of a group to set up there prefetches the group's
    cases, as one process prefetches the run's. Under other modes a worker does not know which
    tests it will be sent: each case then calls when its test sets up.
    """

    def __init__(self, session: LLMSession) -> None:
        self.session = session
        self.started = False
        #: Under xdist: the selected tests by the group they are sent in (None: not grouped yet).
        self._groups: dict[str, list[pytest.Item]] | None = None
        self.controls: dict[str, Pending] = {}  # an A/B control's tests' calls, by node id

    def prompt_for(self, row: CaseRow, record: TestRecord | None, variant: Variant | None) -> PromptInput:
        """The prompt of ``row``: its template (the A/B ``variant``'s version of it) rendered
        with its inputs (noted on ``record``), or its input column."""
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
        from pytest_llmops._prompts import PromptError, note_rendered

        library = self.session.prompts
        if variant is not None:
            name = variant.template(name, library.has)
        try:
            rendered = library.render(name, **row.inputs)
        except PromptError as error:
            raise DatasetError(f"case {row.id!r} at {row.source}: {error}") from None
        if record is not None:
            note_rendered(record, rendered)
        return rendered

    def take(self, item: pytest.Item, items: Sequence[pytest.Item]) -> Outcome | None:
        """``item``'s prefetched outcome (waiting for it), or None: the test calls itself."""
        if self.session.worker:
            self._prefetch_group(item, items)
        elif not self.started:
            self.started = True
            self._submit(self._plan(items))
        pending = item.stash.get(keys.PREFETCHED, None)
        if pending is None:
            return None
        del item.stash[keys.PREFETCHED]  # a rerun of the test calls afresh
        return _result(pending)

    def control_answer(self, item: pytest.Item, row: CaseRow) -> Completion:
        """The control's answer to ``row``, for ``item``, a variant's test: the control's test's
        own when it was sent ahead in this process, else asked again from ``item`` as the control
        asks it (in ``item``'s recordings; its call's role is ``control``, apart from the
        variant's own calls)."""
        from pytest_llmops._plugin.clients import item_llm

        record = self.session.record_of(item)
        record.extra["variant"]["control_answer"] = True
        pending = self.controls.get(item.stash[keys.CONTROL])
        if pending is not None:
            outcome = _result(pending)
        else:
            control = self.session.settings.variants[0]
            llm = item_llm(item, record, control, role="control")
            outcome = llm.complete(self.prompt_for(row, None, control))
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _prefetch_group(self, item: pytest.Item, items: Sequence[pytest.Item]) -> None:
        """On a worker: prefetch the cases of ``item``'s group, once (see :func:`.xdist.scope_of`)."""
        from pytest_llmops._plugin.xdist import DIST, scope_of, worker_input

        dist = worker_input(self.session.config).get(DIST)
        if scope_of(dist, item.nodeid) is None:
            return
        if self._groups is None:
            self._groups = {}
            for each in items:
                self._groups.setdefault(scope_of(dist, each.nodeid) or "", []).append(each)
        group = self._groups.pop(scope_of(dist, item.nodeid) or "", None)
        if group:
            self._submit(self._plan(group))

    def _plan(self, items: Sequence[pytest.Item]) -> list[tuple[pytest.Item, Call]]:
        from pytest_llmops._plugin.clients import answered_at_once, item_llm

        planned = []
        for item in items:
            row = case_row_of(item)
            if row is None or row.turns is not None or _may_be_skipped(item):
                continue  # a conversation's turns wait for each other: its test plays them
            try:
                if answered_at_once(item):
                    continue  # its test makes the call itself, as cheaply
                record = self.session.record_of(item)
                llm = item_llm(item, record)
                if not answered_inline(llm.backend):  # a hook's client may be answered inline too
                    planned.append((item, llm.call(self.prompt_for(row, record, variant_of(item)))))
            except Exception:  # noqa: BLE001 - its test makes the call itself and reports why not
                continue
        return planned

    def _submit(self, planned: list[tuple[pytest.Item, Call]]) -> None:
        """Each call to the pipeline on its own; calls of a batching backend in shared chunks."""
        pipeline = self.session.pipeline
        batches: dict[int, list[tuple[pytest.Item, Call]]] = {}

        def send(chunk: list[tuple[pytest.Item, Call]]) -> None:
            future = pipeline.submit([call for _, call in chunk])
            for index, (item, _) in enumerate(chunk):
                item.stash[keys.PREFETCHED] = (future, index)
                variant = variant_of(item)
                if variant is not None and variant.control:
                    self.controls[item.nodeid] = (future, index)

        for item, call in planned:
            backend = call.client.backend
            if not backend.batches:
                send([(item, call)])
                continue
            batch = batches.setdefault(id(backend), [])
            batch.append((item, call))
            if len(batch) == pipeline.concurrency:
                send(batches.pop(id(backend)))
        for batch in batches.values():
            send(batch)


def _result(pending: Pending) -> Outcome:
    future, index = pending
    try:
        return future.result()[index]
    except CancelledError:
        return CallCancelled("the run is ending: this case's call was dropped")


def _may_be_skipped(item: pytest.Item) -> bool:
    """Whether a skip mark might skip ``item``: it is not prefetched (no paid call for a test that
    never runs); if it does run, it makes its call at set-up."""
    xfail = item.get_closest_marker("xfail")
    return bool(
        item.get_closest_marker("skip")
        or item.get_closest_marker("skipif")
        or (xfail is not None and xfail.kwargs.get("run") is False)
    )


def make_case(request: pytest.FixtureRequest, session: LLMSession) -> Case:
    """The ``case`` fixture: this row's answer, prefetched, or called now when it could not be."""
    from pytest_llmops._plugin.clients import make_llm

    row = getattr(request, "param", None)
    if isinstance(row, BadRow):
        markers.fail_setup(row.message)
    if not isinstance(row, CaseRow):
        markers.fail_setup(f"{request.node.nodeid}: the `case` fixture needs @pytest.mark.llm_dataset(...)")
    prefetch = session.cases = session.cases or CasePrefetch(session)
    outcome = prefetch.take(request.node, request.session.items)
    record = session.record_of(request.node)
    conversation = None
    if row.turns is not None:
        conversation = _played(request, prefetch, row, record)
        outcome = conversation.replies[-1]
    elif outcome is None:
        try:
            prompt = prefetch.prompt_for(row, record, variant_of(request.node))
        except DatasetError as error:
            markers.fail_setup(str(error))
        outcome = make_llm(request, record, case=True).complete(prompt)
    if isinstance(outcome, BaseException):
        raise outcome
    record.extra["case"] = {"id": row.id, "source": row.source, **row.grounding.to_dict()}
    node = request.node
    answer_of_control = (lambda: prefetch.control_answer(node, row)) if keys.CONTROL in node.stash else None
    return Case(
        row.id, dict(row.inputs), row.expected, outcome, row.source, row.grounding, answer_of_control, conversation
    )


def _played(request: pytest.FixtureRequest, prefetch: CasePrefetch, row: CaseRow, record: TestRecord) -> Conversation:
    """A conversation row's conversation, every scripted turn said: the opening is the row's
    prompt template (when the dataset names one) after its ``system`` column (when it has one)."""
    from pytest_llmops._plugin.clients import make_llm

    try:
        opening = prefetch.prompt_for(row, record, variant_of(request.node)) if row.dataset.prompt else None
    except DatasetError as error:
        markers.fail_setup(str(error))
    llm = make_llm(request, record, case=True)
    conversation = llm.conversation(row.inputs.get(row.dataset.system), opening=opening, name=row.id)
    conversation.play(row.turns or ())
    return conversation
