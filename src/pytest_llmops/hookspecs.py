"""The hooks pytest-llmops offers to other plugins and conftest files.

Added to pytest's hook registry from ``pytest_addhooks``; implement them in a conftest or a
plugin with the ``pytest_llmops_`` names below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from pytest_llmops._models.client import LLM
    from pytest_llmops._models.registry import BackendFactory
    from pytest_llmops.metrics._base import Metric


@pytest.hookspec
def pytest_llmops_register_backends(register: Callable[[str, BackendFactory, str], None]) -> None:
    """Register model backends: ``register(prefix, factory, description)``.

    ``factory(name, settings)`` builds a backend for the spec ``prefix:name`` (``name`` is
    ``""`` for a bare ``prefix``) and must import heavy libraries only when called. The
    plugin's own backends (``echo``, ``local``, ``hf``, ``openai``, ``azure``, ``anthropic``)
    register through this hook, last (``trylast``): the first registration of a prefix wins, so
    a conftest can replace a built-in.

    ``register(prefix, factory, description, endpoints=True)`` lets specs name an endpoint of
    ``llm_endpoints`` (``prefix@name:model``): the factory is then called as
    ``factory(name, settings, endpoint=...)`` with that entry (its ``name``, ``url``,
    ``key_env`` and ``api_version``), or ``None`` for the backend's default server. Name the
    endpoint, never its URL or key, in the backend's ``identity`` (what recordings keep).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       ``endpoints=True``: specs that name an endpoint.
    """


@pytest.hookspec
def pytest_llmops_register_metrics(register: Callable[[Metric], None]) -> None:
    """Register golden-output metrics: ``register(Metric(name, score, ...))``.

    ``score(output, reference, **options)`` returns a float or a
    :class:`~pytest_llmops.metrics.Measurement`; the :class:`~pytest_llmops.metrics.Metric`
    declares its direction, default threshold, accepted thresholds and options. Import heavy
    libraries inside the scorer, not at module level. The plugin's own metrics register
    through this hook, last (``trylast``): the first registration of a name wins, so a
    conftest can replace a built-in. Called once per session, on the first golden check.

    .. versionadded:: 0.1
    """


@pytest.hookspec
def pytest_llmops_register_scrubbers(register: Callable[[Callable[[str], str]], None]) -> None:
    """Register scrubbers: ``register(scrub)``, where ``scrub(text) -> text`` removes what your
    tests send or get that no file or message may keep (customer data in prompts).

    Every text the plugin keeps or shows goes through them, after the secrets are replaced:
    recordings (their keys too: calls that differ only in what was scrubbed share a recording),
    snapshots, reports and error messages. What is sent to the model is left as it is; the
    answer a test gets is scrubbed, so a live run and its replay agree. Scrubbers run in the order registered; one that raises or returns something else than
    text withholds that text (``<withheld: ...>``) rather than let it through. Called once per
    session, when a text is first kept or shown after collection (every conftest has loaded).

    .. versionadded:: 0.2
    """


@pytest.hookspec
def pytest_llmops_run_summary(summary: dict[str, Any], config: pytest.Config) -> None:
    """Receive the finished run report, e.g. to export it (a dashboard, a metrics store).

    Called once per run, on the controller only (never on a pytest-xdist worker), after the
    report files are written. ``summary`` is the JSON report's dict (``schema_version``,
    ``run``, ``summary``, ``tests``, ``baseline``; see ``docs/report-schema.md``); treat it
    as read-only.

    .. versionadded:: 0.1
    """


@pytest.hookspec(firstresult=True)
def pytest_llmops_case_client(item: pytest.Item, llm: LLM) -> LLM | None:
    """Replace the client a dataset case's call is made with; return None to keep ``llm``.

    The calls of ``@pytest.mark.llm_dataset`` cases are made before any of their tests' fixtures
    exist (they run concurrently, ahead of the tests), so a conftest override of the ``llm``
    fixture does not reach them: this hook does. ``llm`` is the client the ``llm`` fixture
    would give ``item``; return, for example, ``llm.with_observers(my_observer)`` or a client
    of your own. Called on the process that makes the call.

    .. versionadded:: 0.2
    """
