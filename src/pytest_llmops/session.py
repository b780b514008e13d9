"""The run's shared state: settings, backends, the call pool, and the collected records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmops.models.client import CallScheduler
from pytest_llmops.settings import Settings

if TYPE_CHECKING:
    from pytest_llmops.cache import Recordings
    from pytest_llmops.models.client import CallCache, CallObserver
    from pytest_llmops.models.registry import BackendRegistry


@dataclass
class TestOutcome:
    """How one test ended, and its record, as the controller saw them."""

    __test__ = False

    nodeid: str
    outcome: str = "passed"
    duration_s: float = 0.0
    error: str | None = None
    record: dict[str, Any] | None = None


class LLMSession:
    """Created at configure time on every process (controller and xdist workers)."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.scheduler = CallScheduler(settings.concurrency)
        self.outcomes: dict[str, TestOutcome] = {}
        self._registry: BackendRegistry | None = None
        #: Observers of every client's calls, before the test's own (the budget, when set).
        self.call_observers: tuple[CallObserver, ...] = ()
        from pytest_llmops.cache_plugin import recordings_for

        self.recordings: Recordings | None = recordings_for(config, settings, lambda: self.outcomes)

    @property
    def registry(self) -> BackendRegistry:
        """Backends from every plugin and conftest, gathered on first use."""
        if self._registry is None:
            from pytest_llmops.models.registry import BackendRegistry

            self._registry = BackendRegistry.from_hooks(self.config, self.settings)
        return self._registry

    def cache_for(self, item: pytest.Item) -> CallCache | None:
        """The record/replay cache for ``item``'s calls (None: every call is live).

        One view per test, shared by all its clients (model and judge), so identical requests
        are numbered per test and a replay-mode miss names the test.
        """
        return None if self.recordings is None else self.recordings.view_for(item)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold one phase's report into the test's outcome (controller side)."""
        outcome = self.outcomes.setdefault(report.nodeid, TestOutcome(report.nodeid))
        outcome.duration_s += report.duration
        record = getattr(report, "llmops_record", None)
        if record is not None:
            outcome.record = record
        error = getattr(report, "llmops_error", None)
        if report.failed and (report.when != "call" or error):
            outcome.outcome = "error"
            outcome.error = error or _last_line(report.longreprtext)
        elif report.failed and outcome.outcome != "error":
            outcome.outcome = "failed"
        elif report.skipped and outcome.outcome == "passed":
            outcome.outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"

    def close(self) -> None:
        self.scheduler.shutdown()


def _last_line(text: str) -> str:
    """The last non-blank line of a failure's text: pytest ends it with the error itself."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


SESSION_KEY = pytest.StashKey[LLMSession]()
