"""The run's shared state: settings, backends, the call pool, and the collected records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmops.calls.budget import Budget, new_ledger, remove_ledger
from pytest_llmops.calls.pipeline import CallPipeline, CallStats
from pytest_llmops.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_llmops.cache import Recordings
    from pytest_llmops.models.client import CallCache
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
        self.outcomes: dict[str, TestOutcome] = {}
        self._worker_stats: dict[str, dict[str, int]] = {}
        self._registry: BackendRegistry | None = None
        self.ledger, self._owns_ledger = _ledger(config, settings)
        budget = Budget(settings.budget_usd, self.ledger) if settings.budget_usd is not None and self.ledger else None
        self.pipeline = CallPipeline(
            concurrency=settings.concurrency,
            timeout_s=settings.timeout,
            max_retries=settings.max_retries,
            budget=budget,
        )
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

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        """The run is over (or stopped by ``-x``, ``--maxfail``, Ctrl-C): no call is waited for."""
        self.pipeline.cancel()
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[_CALL_STATS] = self.pipeline.stats.to_dict()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A worker's call figures, kept by worker id: xdist may report one worker twice."""
        stats = getattr(node, "workeroutput", {}).get(_CALL_STATS)
        if stats is not None:
            self._worker_stats[node.workerinput["workerid"]] = stats

    def call_stats(self) -> CallStats:
        """The run's model-call figures: this process's and every xdist worker's."""
        return CallStats.merged([self.pipeline.stats.to_dict(), *self._worker_stats.values()])

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        stats = self.call_stats()
        if stats.attempts:
            terminalreporter.write_line(f"pytest-llmops {stats.summary()}")

    def close(self) -> None:
        self.pipeline.cancel()
        if self.ledger is not None and self._owns_ledger:
            remove_ledger(self.ledger)


def _ledger(config: pytest.Config, settings: Settings) -> tuple[Path | None, bool]:
    """The budget's ledger (None without a budget), and whether this process created it."""
    from pathlib import Path

    if settings.budget_usd is None:
        return None, False
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        return Path(worker["llmops_budget_ledger"]), False
    return new_ledger(), True


def _last_line(text: str) -> str:
    """The last non-blank line of a failure's text: pytest ends it with the error itself."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


SESSION_KEY = pytest.StashKey[LLMSession]()
_CALL_STATS = "llmops_call_stats"
