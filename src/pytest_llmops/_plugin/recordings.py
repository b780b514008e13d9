"""The run-level side of record/replay: which recordings a run used (with every xdist
worker's), the unused ones reported, and pruned with ``--llm-recordings-prune``.

Pruning follows the run's one rule (:mod:`.run_rule`): nothing when the run stopped early; else
only the folders of test modules whose every test ran to its end (a skipped, xfailed,
deselected, failed or errored test keeps its module's recordings). Only the folders of the test
modules this run executed are looked at.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmops._recordings import SESSION_FOLDER, module_folder

if TYPE_CHECKING:
    from pytest_llmops._plugin.session import LLMSession
    from pytest_llmops._recordings import Recordings

PRUNE_FLAG = "--llm-recordings-prune"
_SHOWN = 10


class RecordingsReport:
    """Controller only, where record/replay is on: reports (and prunes) unused recordings."""

    def __init__(self, session: LLMSession, recordings: Recordings) -> None:
        self.session = session
        self.recordings = recordings
        self.prune = bool(session.config.getoption("llm_recordings_prune", False))
        self._lines: list[str] = []

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self._lines = self._finish(session, exitstatus)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self._lines:
            terminalreporter.write_sep("-", "pytest-llmops recordings")
            for line in self._lines:
                terminalreporter.write_line(line)

    def _finish(self, session: pytest.Session, exitstatus: int) -> list[str]:
        recordings = self.recordings
        parts = [part["recordings"] for part in self.session.worker_parts.values() if part.get("recordings")]
        used = set(recordings.used).union(*(part["used"] for part in parts))
        replayed = recordings.replayed + sum(part["replayed"] for part in parts)
        recorded = recordings.recorded + sum(part["recorded"] for part in parts)
        lines = []
        if replayed or recorded:
            lines.append(
                f"{replayed} call(s) replayed, {recorded} recorded (mode {recordings.mode}) in {recordings.shown('')}/"
            )
        rule, outcomes = self.session.rule, self.session.outcomes
        stopped = rule.stopped_early(session, exitstatus)
        if stopped:
            if self.prune:
                lines.append(f"not pruning: {stopped}")
            return lines
        kept = {module_folder(module) for module in rule.unfinished_modules(outcomes)}
        looked_at = {module_folder(nodeid) for nodeid in outcomes} - kept - {SESSION_FOLDER}
        unused = self._unused(looked_at, used)
        if kept and self.prune:
            lines.append(
                f"kept the recordings of {len(kept)} module(s) with tests that did not run to their end "
                f"(skipped, xfailed, deselected, failed or errored): {', '.join(sorted(kept)[:_SHOWN])}"
            )
        if not unused:
            return lines
        shown = [recordings.shown(relpath) for relpath in unused]
        if self.prune:
            for relpath in unused:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(recordings.root / relpath)
            lines.append(f"pruned {len(unused)} unused recording(s):")
        else:
            lines.append(f"{len(unused)} unused recording(s) (delete them with {PRUNE_FLAG}):")
        lines.extend(f"  {path}" for path in shown[:_SHOWN])
        if len(shown) > _SHOWN:
            lines.append(f"  ... and {len(shown) - _SHOWN} more")
        return lines

    def _unused(self, folders: set[str], used: set[str]) -> list[str]:
        """Recordings (and temp files a killed writer left) in ``folders`` this run did not use."""
        unused = []
        for folder in sorted(folders):
            try:
                names = sorted(os.listdir(self.recordings.root / folder))
            except OSError:
                continue
            for name in names:
                relpath = f"{folder}/{name}"
                stale = name.startswith(".") and name.endswith(".tmp")
                if stale or (name.endswith(".json") and relpath not in used):
                    unused.append(relpath)
        return unused
