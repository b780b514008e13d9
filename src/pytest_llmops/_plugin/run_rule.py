"""One rule for a complete run, used by every prune (snapshot entries and recordings) and by the
baseline gate (to tell a test this run did not run from a removed one).

A test that was skipped, xfailed, deselected, failed or errored did not run to its end: what it
would use is kept. A run that stopped early (``-x``, ``--maxfail``, Ctrl-C) prunes nothing, and
tests picked by node id leave the rest of their module unknown.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import pytest

if TYPE_CHECKING:
    from pytest_llmops._report.selection import Selection
    from pytest_llmops._results import TestOutcome


class RunRule:
    """What this run collected and did not run to its end; the session feeds it, and under
    pytest-xdist each worker's part is absorbed on the controller (which collects nothing)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.deselected: set[str] = set()
        self._collected: set[str] = set()
        #: Collected items whose node ids are not yet in ``_collected``: read only when needed.
        self._items: list[pytest.Item] = []
        #: Tests named one by one (``path::test``) leave the rest of their module uncollected.
        self.picked = any("::" in arg for arg in config.args)

    def note_deselected(self, items: Iterable[pytest.Item]) -> None:
        self.deselected.update(item.nodeid for item in items)

    def note_collected(self, items: Iterable[pytest.Item]) -> None:
        self._items.extend(items)

    @property
    def collected(self) -> set[str]:
        """The node ids of every test collected (on the controller under xdist: the workers')."""
        if self._items:
            self._collected.update(item.nodeid for item in self._items)
            self._items.clear()
        return self._collected

    def worker_part(self) -> dict[str, list[str]]:
        return {"deselected": sorted(self.deselected), "collected": sorted(self.collected)}

    def absorb(self, part: Mapping[str, Any]) -> None:
        """A worker's part (safe to absorb twice)."""
        self.deselected.update(part.get("deselected", ()))
        self._collected.update(part.get("collected", ()))

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

    def selection(self, outcomes: Mapping[str, TestOutcome]) -> Selection:
        """What the command line asked for, what it ignored, and the tests left out."""
        from pytest_llmops._report.selection import Selection

        option = self.config.option
        return Selection(
            asked=tuple(self._node_id(arg) for arg in self.config.args),
            ignored=tuple(self._node_id(path) for path in getattr(option, "ignore", None) or ()),
            ignored_globs=tuple(getattr(option, "ignore_glob", None) or ()),
            deselected=frozenset(self.deselected),
            not_reached=frozenset(self.collected - outcomes.keys()),
        )

    def _node_id(self, arg: str) -> str:
        """A command-line path or node id (relative to where pytest started) as a node-id prefix
        (relative to the rootdir, as pytest's node ids are; ``.`` for the rootdir itself)."""
        path, sep, rest = arg.partition("::")
        absolute = os.path.abspath(self.config.invocation_params.dir / path)
        return Path(os.path.relpath(absolute, self.config.rootpath)).as_posix() + sep + rest
