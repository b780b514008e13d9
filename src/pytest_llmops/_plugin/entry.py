"""pytest entry point of pytest-llmops: hook wiring only.

Every hook object is registered here, at configure time (the built-in metrics when a run first
builds its metric registry), and unregistered at unconfigure (as pytest's junitxml does). The
run's state lives in :class:`~.session.LLMSession`.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

# Nothing of the plugin is imported here: a run loads only what it uses, when it first does.


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_llmops import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    from pytest_llmops import settings

    settings.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    with _usage_errors():
        _configure(config)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist starts its workers
def pytest_sessionstart(session: pytest.Session) -> None:
    from pytest_llmops._plugin.session import session_of

    llm_session = session_of(session.config)
    if not llm_session.worker:  # the controller checks once for the whole run
        with _usage_errors():
            llm_session.check_model_specs()


@contextlib.contextmanager
def _usage_errors() -> Iterator[None]:
    """A :class:`ConfigError` becomes the ``pytest.UsageError`` pytest stops with, once."""
    from pytest_llmops.errors import ConfigError

    try:
        yield
    except ConfigError as error:
        raise pytest.UsageError(str(error)) from None


def _configure(config: pytest.Config) -> None:
    from pytest_llmops import settings
    from pytest_llmops._models import builtin as builtin_backends
    from pytest_llmops._plugin import fixtures, markers, outcomes
    from pytest_llmops._plugin.session import SESSION_KEY, LLMSession
    from pytest_llmops._plugin.wiring import register
    from pytest_llmops._plugin.xdist import XdistChannel, is_worker

    markers.register_markers(config)
    worker = is_worker(config)
    session = config.stash[SESSION_KEY] = LLMSession(config, settings.resolve(config, worker=worker))
    plugins: dict[str, object] = {
        "session": session,
        "fixtures": fixtures,
        "outcomes": outcomes.OutcomeHooks(session),
        "builtin-backends": builtin_backends,
        "snapshots": session.snapshots,
    }
    if session.settings.variants:
        from pytest_llmops._plugin.variants import VariantCopies

        plugins["variants"] = VariantCopies(session.settings.variants)
    review_file = config.getoption("llm_apply_review", None)
    if review_file:
        from pytest_llmops._plugin.review import ReviewApplier
        from pytest_llmops._review import load_review

        session.review = plugins["review"] = ReviewApplier(
            session, load_review(config.invocation_params.dir / review_file)
        )
    if config.getoption("llm_changed_prompts", False):
        from pytest_llmops._plugin.changed_prompts import ChangedPrompts

        plugins["changed-prompts"] = ChangedPrompts(session)
    if session.settings.shard is not None:
        from pytest_llmops._plugin.sharding import ShardSelection

        plugins["shard"] = ShardSelection(session, session.settings.shard)
    if not worker:
        from pytest_llmops._plugin.reporting import run_reporter

        history = None
        if session.settings.history:
            from pytest_llmops._plugin.history import history_writer

            history = plugins["history"] = history_writer(config, session.settings.history, session.settings.flaky_runs)
        plugins["report"] = run_reporter(session, history)
        if session.recordings is not None:
            from pytest_llmops._plugin.recordings import RecordingsReport

            plugins["recordings"] = RecordingsReport(session, session.recordings)
        if config.pluginmanager.hasplugin("xdist"):
            plugins["xdist"] = XdistChannel(session)
        if config.pluginmanager.hasplugin("html") and config.getoption("htmlpath", None):
            from pytest_llmops._plugin.html_columns import HtmlColumns

            plugins["pytest-html"] = HtmlColumns()
    for name, plugin in plugins.items():
        register(config, name, plugin)


def pytest_unconfigure(config: pytest.Config) -> None:
    from pytest_llmops._plugin.session import SESSION_KEY
    from pytest_llmops._plugin.wiring import unregister_all

    if config.stash.get(SESSION_KEY, None) is None:
        return
    unregister_all(config)  # the session among them
    del config.stash[SESSION_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("llm_dataset") is not None:
        from pytest_llmops._plugin.cases import parametrize_cases

        parametrize_cases(metafunc)
