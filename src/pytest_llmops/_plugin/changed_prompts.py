"""``--llm-changed-prompts``: run only the tests whose snapshot names a template that changed.

When no test is affected, nothing needs to run: the run says so and exits 0 (pytest's own
"no tests collected", exit 5, would fail the CI step that asked the question). Under
pytest-xdist the controller learns it from the workers' selections (the run's rule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import pytest

from pytest_llmops._snapshots import SnapshotError

if TYPE_CHECKING:
    from pytest_llmops._plugin.session import LLMSession

FLAG = "--llm-changed-prompts"


class ChangedPrompts:
    """Registered on every process when the flag is given."""

    def __init__(self, session: LLMSession) -> None:
        self.session = session
        self.nothing_changed = False

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            (kept if self._affected(item) else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def _affected(self, item: pytest.Item) -> bool:
        """Whether a template ``item``'s snapshot names has changed (a test without one: no)."""
        try:
            entry = self.session.snapshots.entry(item)
        except SnapshotError as error:
            raise pytest.UsageError(f"pytest-llmops: {FLAG}: {error}") from None
        return entry is not None and any(self._changed(name, version) for name, version in entry.prompts.items())

    def _changed(self, name: str, version: Mapping[str, str]) -> bool:
        from pytest_llmops._prompts import PromptError

        try:
            return self.session.prompts.version(name).hash != version["hash"]
        except PromptError:  # gone or broken: run the test, it reports the problem
            return True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        rule = self.session.rule
        self.nothing_changed = bool(rule.deselected) and not rule.collected
        if self.nothing_changed and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            session.exitstatus = pytest.ExitCode.OK

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.nothing_changed:
            terminalreporter.write_line(
                f"pytest-llmops {FLAG}: no test uses a prompt template that changed since its snapshot; nothing to run"
            )
