"""The run history's writer (controller only): opened at start-up, appended to at the end.

A history that cannot be opened (unreachable, written by a newer plugin, its extra missing) is
a usage error before any test runs; one that cannot be written at the end is named in the
terminal and fails the run, like a report file that cannot be written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmops.errors import ConfigError

if TYPE_CHECKING:
    from pytest_llmops._history.store import HistoryStore


def history_writer(config: pytest.Config, value: str, flaky_runs: int) -> HistoryWriter:
    """The writer of the history ``llm_history`` names, checked to be usable now."""
    from pytest_llmops._optional import MissingExtraError, import_optional
    from pytest_llmops._plugin.reporting import _path

    try:
        store_module = import_optional("pytest_llmops._history.store", "history")
    except MissingExtraError as error:
        raise ConfigError(f"llm_history: {error}") from None
    base = _path(config, "llm_history", ".")
    try:
        store: HistoryStore = store_module.open_store(value, Path(base))
        runs = store.last_runs(RUNS_READ, tests=False)  # reachable, and of a schema version this plugin reads
        recent = [run.tests for run in store.last_runs(flaky_runs)]
    except (store_module.HistoryError, MissingExtraError) as error:
        raise ConfigError(f"llm_history: {error}") from None
    from pytest_llmops._history.rows import served_before

    return HistoryWriter(store, served_before(runs), recent)


#: How many of the last runs tell what each model spec was served (and since when).
RUNS_READ = 50


class HistoryWriter:
    """Appends the finished run's report (the ``pytest_llmops_run_summary`` hook) to the store."""

    def __init__(self, store: HistoryStore, served_before: dict[str, Any], recent: list[list[dict[str, Any]]]) -> None:
        self.store = store
        #: Per model spec, what the history's last runs were served, for the drift check.
        self.served_before = served_before
        #: The test rows of the last ``llm_flaky_runs`` runs, for the flaky-test check.
        self.recent = recent
        self.stored: int | None = None
        self.problem: str | None = None

    def pytest_llmops_run_summary(self, summary: dict[str, Any], config: pytest.Config) -> None:
        if not summary["tests"]:  # --collect-only, or nothing selected: no run to keep
            return
        from pytest_llmops._history.store import HistoryError

        try:
            self.stored = self.store.append(summary)
        except HistoryError as error:
            self.problem = f"pytest-llmops: llm_history: {error}"

    @pytest.hookimpl(trylast=True)  # after the report's writer, which calls the summary hook
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.problem and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(trylast=True)  # after the run's summary
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from pytest_llmops._report.text import visible

        if self.problem:
            terminalreporter.write_line(visible(self.problem), red=True)
        elif self.stored is not None:
            terminalreporter.write_line(
                f"pytest-llmops: run {self.stored} appended to the history {visible(self.store.shown)}"
            )

    def close(self) -> None:
        self.store.close()
