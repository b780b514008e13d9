"""One rule for a complete run, used by every prune (snapshot entries and recordings).

A test that was skipped, xfailed, deselected, failed or errored did not run to its end: what it
would use is kept. A run that stopped early (``-x``, ``--maxfail``, Ctrl-C) prunes nothing, and
tests picked by node id leave the rest of their module unknown.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import pytest

from pytest_llmops._results import TestOutcome


class RunRule:
    """What this run did not run to its end; the session feeds it."""

    def __init__(self, config: pytest.Config) -> None:
        self.deselected: set[str] = set()
        #: Tests named one by one (``path::test``) leave the rest of their module uncollected.
        self.picked = any("::" in arg for arg in config.args)

    def note_deselected(self, items: Iterable[pytest.Item]) -> None:
        self.deselected.update(item.nodeid for item in items)

    @staticmethod
    def finished(outcome: TestOutcome | None) -> bool:
        """Whether a test ran to its end: only a passed test made every call it would make."""
        return outcome is not None and outcome.outcome == "passed"

    def stopped_early(self, session: pytest.Session, exitstatus: int) -> str | None:
        """Why nothing may be pruned at all, or None."""
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            return "the run was interrupted"
        if session.shouldstop or session.shouldfail:
            return "the run stopped early (-x or --maxfail)"
        return None

    def unfinished_modules(self, outcomes: Mapping[str, TestOutcome]) -> set[str]:
        """Test modules (as in node ids) holding a test that did not run to its end."""
        unfinished = {nodeid for nodeid, outcome in outcomes.items() if not self.finished(outcome)}
        if self.picked:
            unfinished |= set(outcomes)
        return {nodeid.split("::", 1)[0] for nodeid in unfinished | self.deselected}
