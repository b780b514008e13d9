"""What the fixtures do, kept out of the entry module so loading the plugin stays cheap."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, NoReturn

import pytest

from pytest_llmops.models.base import GenerationSettings, ModelCallError
from pytest_llmops.models.client import LLM, CallObserver
from pytest_llmops.results import RecordObserver, TestRecord
from pytest_llmops.session import SESSION_KEY, LLMSession

if TYPE_CHECKING:
    from pytest_llmops.prompts import PromptRenderer
    from pytest_llmops.settings import Settings


def fail_setup(message: str) -> NoReturn:
    """Stop this test's setup with an ERROR that says what is wrong, without a traceback."""
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)


def bind_marker(node: pytest.Item, name: str, signature: Callable[..., Any]) -> dict[str, Any]:
    """The arguments of ``node``'s closest ``@pytest.mark.<name>``; TypeError if ``signature`` refuses them."""
    marker = node.get_closest_marker(name)
    if marker is None:
        return {}
    bound = inspect.signature(signature).bind(*marker.args, **marker.kwargs)
    return {k: v for k, v in bound.arguments.items() if v is not None}


def marker_kwargs(request: pytest.FixtureRequest, name: str, signature: Callable[..., Any]) -> dict[str, Any]:
    """The arguments of the closest ``@pytest.mark.<name>``, checked against ``signature``."""
    try:
        return bind_marker(request.node, name, signature)
    except TypeError as error:
        problem = f"bad arguments to @pytest.mark.{name}: {error}"
    fail_setup(problem)


def llm_marker(
    model: str | None = None,
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop: str | list[str] | None = None,
) -> None:
    """The signature of ``@pytest.mark.llm``."""


def default_generation(settings: Settings) -> GenerationSettings:
    return GenerationSettings(
        temperature=settings.temperature, max_tokens=settings.max_tokens, seed=settings.seed
    )


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
    from pytest_llmops.models.registry import UnknownModelError

    try:
        client = client_for(request.node, spec, generation, observers, role)
    except UnknownModelError as error:
        problem = str(error)
    except (ModelCallError, RuntimeError, ValueError, OSError) as error:
        problem = f"cannot load model {spec!r}: {error}"
    else:
        return client
    fail_setup(f"{problem}; set by {source}")


def client_for(
    node: pytest.Item,
    spec: str,
    generation: GenerationSettings,
    observers: tuple[CallObserver, ...],
    role: str = "model",
) -> LLM:
    """A client for ``spec`` serving ``node`` (its cache); raises if the spec cannot be loaded."""
    session: LLMSession = node.config.stash[SESSION_KEY]
    return LLM(
        spec,
        session.registry.get(spec),
        generation,
        session.pipeline,
        prices=session.settings.prices,
        cache=session.cache_for(node),
        observers=observers,
        role=role,
    )


def tested_model(marked: dict[str, Any], settings: Settings) -> tuple[str, str]:
    """The spec of the tested model (taken out of the ``llm`` marker's arguments ``marked``)
    and what set it: the marker, else ``llm_model``."""
    if "model" in marked:
        return marked.pop("model"), "@pytest.mark.llm"
    return settings.model, "llm_model"


def item_llm(item: pytest.Item, observers: tuple[CallObserver, ...]) -> LLM:
    """What the ``llm`` fixture would give ``item``, built outside a fixture; raises on bad input."""
    settings: Settings = item.config.stash[SESSION_KEY].settings
    marked = bind_marker(item, "llm", llm_marker)
    spec, _ = tested_model(marked, settings)
    return client_for(item, spec, default_generation(settings).updated(**marked), observers)


def make_llm(request: pytest.FixtureRequest, record: TestRecord) -> LLM:
    """The ``llm`` fixture: settings, then the ``llm`` marker, then the call's own arguments."""
    settings: Settings = request.config.stash[SESSION_KEY].settings
    marked = marker_kwargs(request, "llm", llm_marker)
    spec, source = tested_model(marked, settings)
    try:
        generation = default_generation(settings).updated(**marked)
    except (TypeError, ValueError) as error:
        problem = f"bad @pytest.mark.llm settings: {error}"
    else:
        return build_llm(request, spec, generation, (RecordObserver(record),), source=source)
    fail_setup(problem)


def make_prompt(request: pytest.FixtureRequest, record: TestRecord) -> PromptRenderer:
    """The ``prompt`` fixture; a corrupt snapshot file of the test ERRORs its setup."""
    from pytest_llmops.prompts import PromptRenderer, prompt_library
    from pytest_llmops.snapshots import SnapshotError, snapshot_store

    try:
        snapshot_store(request.config).entry(request.node)
    except SnapshotError as error:
        problem = str(error)
    else:
        return PromptRenderer(prompt_library(request.config), record)
    fail_setup(problem)
