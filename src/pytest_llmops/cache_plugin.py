"""The run-level side of record/replay: which recordings a run used, merged across xdist
workers, and the unused ones reported (and pruned with ``--llm-recordings-prune``).

Pruning is exact only for a complete, green run: a test that failed, errored, was deselected
or never ran might not have made all its calls, so such a run reports and prunes nothing. Only
the folders of the test modules this run executed are looked at.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import pytest

from pytest_llmops.cache import SESSION_FOLDER, Recordings, module_folder

if TYPE_CHECKING:
    from pytest_llmops.session import TestOutcome
    from pytest_llmops.settings import Settings

PRUNE_FLAG = "--llm-recordings-prune"
_WORKER_OUTPUT = "llmops_recordings"
_SHOWN_UNUSED = 10


class RecordingsPlugin:
    """Registered on every process where record/replay is on; owns the run's :class:`Recordings`."""

    def __init__(self, config: pytest.Config, recordings: Recordings, outcomes: Callable[[], Mapping[str, TestOutcome]]) -> None:
        self.config = config
        self.recordings = recordings
        self.prune = bool(config.getoption("llm_recordings_prune", False))
        self._outcomes = outcomes
        self._partial: str | None = _partial_selection(config)
        self._lines: list[str] = []

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        if items:
            self._partial = f"{len(items)} test(s) were deselected"

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[_WORKER_OUTPUT] = {
                "used": sorted(self.recordings.used),
                "replayed": self.recordings.replayed,
                "recorded": self.recordings.recorded,
                "partial": self._partial,
            }
            return
        self._lines = self._finish(exitstatus)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """Merge a finished xdist worker's recordings into the controller's."""
        data = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
        if not data:
            return
        self.recordings.used.update(data["used"])
        self.recordings.replayed += data["replayed"]
        self.recordings.recorded += data["recorded"]
        self._partial = self._partial or data["partial"]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self._lines:
            terminalreporter.write_sep("-", "pytest-llmops recordings")
            for line in self._lines:
                terminalreporter.write_line(line)

    def _finish(self, exitstatus: int) -> list[str]:
        recordings = self.recordings
        lines = []
        if recordings.replayed or recordings.recorded:
            lines.append(
                f"{recordings.replayed} call(s) replayed, {recordings.recorded} recorded "
                f"(mode {recordings.mode}) in {recordings.shown('')}/"
            )
        outcomes = self._outcomes()
        reason = self._partial or _incomplete(outcomes, exitstatus)
        if reason:
            if self.prune:
                lines.append(f"not pruning: {reason}; pruning needs a complete run where every test passed")
            return lines
        unused = self._unused({module_folder(nodeid) for nodeid in outcomes})
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
        lines.extend(f"  {path}" for path in shown[:_SHOWN_UNUSED])
        if len(shown) > _SHOWN_UNUSED:
            lines.append(f"  ... and {len(shown) - _SHOWN_UNUSED} more")
        return lines

    def _unused(self, folders: set[str]) -> list[str]:
        """Recordings (and temp files a killed writer left) in ``folders`` this run did not use."""
        unused = []
        for folder in sorted(folders - {SESSION_FOLDER}):
            try:
                names = sorted(os.listdir(self.recordings.root / folder))
            except OSError:
                continue
            for name in names:
                relpath = f"{folder}/{name}"
                stale = name.startswith(".") and name.endswith(".tmp")
                if stale or (name.endswith(".json") and relpath not in self.recordings.used):
                    unused.append(relpath)
        return unused


def recordings_for(config: pytest.Config, settings: Settings, outcomes: Callable[[], Mapping[str, TestOutcome]]) -> Recordings | None:
    """The run's recordings (None when record/replay is off), with their plugin registered."""
    prune = config.getoption("llm_recordings_prune", False)
    if settings.record_mode == "off":
        if prune:
            raise pytest.UsageError(f"pytest-llmops: {PRUNE_FLAG} needs record/replay on, but llm_record_mode is off")
        return None
    root = Path(config.rootpath, os.path.expanduser(settings.recordings_dir))
    recordings = Recordings(root, settings.record_mode, config.rootpath)
    config.pluginmanager.register(RecordingsPlugin(config, recordings, outcomes), "llmops-recordings")
    return recordings


def _partial_selection(config: pytest.Config) -> str | None:
    picked = [arg for arg in config.args if "::" in arg]
    return f"tests were picked by node id ({picked[0]})" if picked else None


def _incomplete(outcomes: Mapping[str, TestOutcome], exitstatus: int) -> str | None:
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "the run was interrupted"
    bad = sorted(nodeid for nodeid, outcome in outcomes.items() if outcome.outcome in ("failed", "error"))
    if bad:
        return f"{len(bad)} test(s) failed or errored (first: {bad[0]})"
    return None

