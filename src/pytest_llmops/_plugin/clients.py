"""The model clients the fixtures, the judge and dataset cases use: settings, then markers."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import pytest

from pytest_llmops._models.base import GenerationSettings, ModelCallError
from pytest_llmops._models.generation import GenerationSettingError
from pytest_llmops._plugin import markers
from pytest_llmops._plugin.session import LLMSession, session_of
from pytest_llmops._plugin.variants import variant_of
from pytest_llmops._results import RecordObserver, TestRecord

if TYPE_CHECKING:
    from pytest_llmops._models.client import LLM, CallObserver
    from pytest_llmops._variants import Variant
    from pytest_llmops.settings import Settings


def default_generation(settings: Settings) -> GenerationSettings:
    """The run's generation settings (one value for every test that keeps them)."""
    return _generation(settings.temperature, settings.max_tokens, settings.seed, settings.stream)


@functools.lru_cache(maxsize=8, typed=True)
def _generation(temperature: float, max_tokens: int, seed: int | None, stream: bool) -> GenerationSettings:
    return GenerationSettings(temperature=temperature, max_tokens=max_tokens, seed=seed, stream=stream)


def marked_generation(node: pytest.Item, marked: dict[str, object], settings: Settings) -> GenerationSettings:
    """The run's defaults with the ``llm`` marker's settings ``marked`` (its model taken out);
    :class:`GenerationSettingError` names the marker and the test."""
    return default_generation(settings).updated(f"@pytest.mark.llm on {node.nodeid}", **marked)


def build_llm(
    request: pytest.FixtureRequest,
    spec: str,
    generation: GenerationSettings,
    observers: tuple[CallObserver, ...],
    role: str = "model",
    *,
    source: str,
) -> LLM:
    """A client for ``spec``; a spec that cannot be loaded ERRORs the test with the reason and
    the ``source`` that set it (a marker or a setting)."""
    from pytest_llmops._models.registry import UnknownModelError

    try:
        return client_for(request.node, spec, generation, observers, role)
    except UnknownModelError as error:
        problem = str(error)
    except (ModelCallError, RuntimeError, ValueError, OSError) as error:
        problem = f"cannot load model {spec!r}: {error}"
    markers.fail_setup(f"{problem}; set by {source}")


def client_for(
    node: pytest.Item,
    spec: str,
    generation: GenerationSettings,
    observers: tuple[CallObserver, ...],
    role: str = "model",
) -> LLM:
    """A client for ``spec`` serving ``node`` (its cache); raises if the spec cannot be loaded."""
    from pytest_llmops._models.client import LLM

    session: LLMSession = session_of(node.config)
    return LLM(
        spec,
        session.backends.get(spec),
        generation,
        session.pipeline,
        prices=session.settings.prices,
        cache=session.cache_for(node),
        observers=observers,
        role=role,
    )


def tested_model(marked: dict[str, object], settings: Settings, variant: Variant | None = None) -> tuple[str, str]:
    """The spec of the tested model (taken out of the ``llm`` marker's arguments ``marked``)
    and what set it: the A/B ``variant`` the test runs, else the marker, else ``llm_model``."""
    named = marked.pop("model", None)
    if variant is not None and variant.model is not None:
        return variant.model, f"llm_variants (variant {variant.label!r})"
    if named is not None:
        return str(named), "@pytest.mark.llm"
    return settings.model, "llm_model"


def item_llm(item: pytest.Item, record: TestRecord, variant: Variant | None = None, role: str = "model") -> LLM:
    """A dataset case's client for ``item`` (as A/B ``variant``, else its own), built outside a
    fixture; raises on bad input.

    What the ``llm`` fixture's defaults would give, then ``pytest_llmops_case_client``.
    """
    settings = session_of(item.config).settings
    marked = markers.bind_marker(item, markers.llm)
    spec, _ = tested_model(marked, settings, variant or variant_of(item))
    llm = client_for(item, spec, marked_generation(item, marked, settings), (RecordObserver(record),), role)
    return _case_client(item, llm)


def answered_at_once(item: pytest.Item) -> bool:
    """Whether a dataset case's call would be answered in its test's own thread (its backend's
    calls are :func:`~pytest_llmops._calls.pipeline.answered_inline`), told without building its
    client: not when a ``pytest_llmops_case_client`` hook may replace that client."""
    from pytest_llmops._calls.pipeline import answered_inline

    if item.config.hook.pytest_llmops_case_client.get_hookimpls():
        return False
    session = session_of(item.config)
    spec, _ = tested_model(markers.bind_marker(item, markers.llm), session.settings, variant_of(item))
    return answered_inline(session.backends.get(spec))


def make_llm(request: pytest.FixtureRequest, record: TestRecord, *, case: bool = False) -> LLM:
    """The ``llm`` fixture: settings, then the ``llm`` marker, then the call's own arguments.

    ``case``: the client of a dataset case that makes its call at set-up.
    """
    settings = session_of(request.config).settings
    marked = markers.marker_kwargs(request, markers.llm)
    spec, source = tested_model(marked, settings, variant_of(request.node))
    try:
        generation = marked_generation(request.node, marked, settings)
    except GenerationSettingError as error:
        markers.fail_setup(str(error))
    llm = build_llm(request, spec, generation, (RecordObserver(record),), source=source)
    return _case_client(request.node, llm) if case else llm


def _case_client(item: pytest.Item, llm: LLM) -> LLM:
    replaced = item.config.hook.pytest_llmops_case_client(item=item, llm=llm)
    return llm if replaced is None else replaced
