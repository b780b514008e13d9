"""The run-level side of record/replay: which recordings each test used (with every xdist
worker's), each module folder's index of them, the unused ones reported, and pruned with
``--llm-recordings-prune``.

Pruning follows the run's one rule (:mod:`.run_rule`): nothing when the run stopped early; a
recording goes only when this run did not use it and no test that did not run to its end
(skipped, xfailed, deselected, failed, errored, or not collected) lists it in its module's
index. A recording no index lists that was written before the index existed (format 1) keeps
the older, coarser rule: it stays while its module has a test that did not run to its end. Only the folders
of the test modules this run executed are looked at, and nothing behind a symlink.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import pytest

from pytest_llmops._files import leaves, write_atomic
from pytest_llmops._recordings import (
    INDEX,
    SESSION_FOLDER,
    CorruptRecordingError,
    index_text,
    module_folder,
    read_index,
    test_name,
    written_format,
)
from pytest_llmops._redact import redact

if TYPE_CHECKING:
    from pytest_llmops._plugin.session import LLMSession
    from pytest_llmops._recordings import Recordings

PRUNE_FLAG = "--llm-recordings-prune"
_SHOWN = 10


@dataclass
class _Folder:
    """One module's recordings folder as this run leaves it."""

    name: str
    before: dict[str, list[str]]  # its index as read
    after: dict[str, list[str]]  # its index with this run's tests in it
    finished: set[str] = field(default_factory=set)  # tests (by name) that ran to their end
    unfinished_module: bool = False  # the coarse rule, for files no index ever listed

    def kept(self) -> set[str]:
        """Files a test that did not run to its end lists."""
        return {name for test, names in self.after.items() if test not in self.finished for name in names}

    def listed(self) -> set[str]:
        return {name for names in (*self.before.values(), *self.after.values()) for name in names}


class RecordingsReport:
    """Controller only, where record/replay is on: keeps each module's index, reports (and
    prunes) unused recordings."""

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
        used = self._used()
        lines = self._counts() + self._record_misses()
        folders, problems = self._folders(used)
        lines.extend(problems)
        for folder in folders:
            self._write_index(folder, lines)
        stopped = self.session.rule.stopped_early(session, exitstatus)
        if stopped:
            if self.prune:
                lines.append(f"not pruning: {stopped}")
            return lines
        all_used = set().union(*used.values())
        unused, kept = self._unused(folders, all_used)
        if kept and self.prune:
            lines.append(
                f"kept {len(kept)} unused recording(s) that tests which did not run to their end may need "
                f"(skipped, xfailed, deselected, failed or errored), in: {', '.join(sorted(kept)[:_SHOWN])}"
            )
        if unused:
            lines.extend(self._report_unused(unused))
        return lines

    def _used(self) -> dict[str, set[str]]:
        """The recordings each test used, on this process and every xdist worker."""
        used = {nodeid: set(relpaths) for nodeid, relpaths in self.recordings.used.items()}
        for part in self._parts():
            for nodeid, relpaths in part["used"].items():
                used.setdefault(nodeid, set()).update(relpaths)
        return used

    def _record_misses(self) -> list[str]:
        """One shell-ready command recording every test that missed in mode ``replay`` (with
        every xdist worker's)."""
        missed = set(self.recordings.missed).union(*(part.get("missed", ()) for part in self._parts()))
        if not missed:
            return []
        import shlex

        command = " ".join(["pytest", "--llm-record-mode=new", *map(shlex.quote, sorted(missed))])
        return [f"{len(missed)} test(s) made a call with no recording; record them with:", redact(command)]

    def _parts(self) -> list[dict[str, Any]]:
        return [part["recordings"] for part in self.session.worker_parts.values() if part.get("recordings")]

    def _counts(self) -> list[str]:
        parts, recordings = self._parts(), self.recordings
        replayed = recordings.replayed + sum(part["replayed"] for part in parts)
        recorded = recordings.recorded + sum(part["recorded"] for part in parts)
        if not (replayed or recorded):
            return []
        return [f"{replayed} call(s) replayed, {recorded} recorded (mode {recordings.mode}) in {recordings.shown('')}/"]

    # -- the index of each module folder --------------------------------------------------

    def _folders(self, used: dict[str, set[str]]) -> tuple[list[_Folder], list[str]]:
        """The module folders of the tests this run executed, with their indexes updated."""
        rule, outcomes = self.session.rule, self.session.outcomes
        unfinished = {module_folder(module) for module in rule.unfinished_modules(outcomes)}
        by_folder: dict[str, list[str]] = {}
        for nodeid in outcomes:
            by_folder.setdefault(module_folder(nodeid), []).append(nodeid)
        by_folder.pop(SESSION_FOLDER, None)
        folders, problems = [], []
        for name, nodeids in sorted(by_folder.items()):
            path = self.recordings.root / name
            if leaves(path / INDEX, self.recordings.root):
                problems.append(
                    f"not looked at: {self.recordings.shown(name)} (a symlink out of the recordings folder)"
                )
                continue
            try:
                before = read_index(path / INDEX, self.recordings.shown(f"{name}/{INDEX}"))
            except CorruptRecordingError as error:
                problems.append(f"not indexed or pruned: {error}")
                continue
            folder = _Folder(name, before, dict(before), unfinished_module=name in unfinished)
            self._index_tests(folder, nodeids, used)
            folders.append(folder)
        return folders, problems

    def _index_tests(self, folder: _Folder, nodeids: Iterable[str], used: dict[str, set[str]]) -> None:
        """A finished test lists exactly what it used; one that did not finish adds what it used
        to what it listed; a test the module no longer has is dropped (when the whole module
        was collected)."""
        rule = self.session.rule
        for nodeid in nodeids:
            name = test_name(nodeid)
            files = {relpath.rpartition("/")[2] for relpath in used.get(nodeid, ())}
            if rule.finished(self.session.outcomes.get(nodeid)):
                folder.finished.add(name)
                folder.after[name] = sorted(files)
            else:
                folder.after[name] = sorted(files.union(folder.before.get(name, ())))
        if not rule.picked:
            known = {
                test_name(nodeid) for nodeid in rule.collected | rule.deselected if module_folder(nodeid) == folder.name
            }
            known.update(test_name(nodeid) for nodeid in nodeids)
            folder.after = {test: names for test, names in folder.after.items() if test in known}

    def _write_index(self, folder: _Folder, lines: list[str]) -> None:
        """Write the folder's index when its content changed (an empty one is removed)."""
        if index_text(folder.after) == index_text(folder.before):
            return
        path = self.recordings.root / folder.name / INDEX
        shown = self.recordings.shown(f"{folder.name}/{INDEX}")
        try:
            if any(folder.after.values()):
                write_atomic(path, index_text(folder.after))
            else:
                path.unlink(missing_ok=True)
        except OSError as error:
            lines.append(f"cannot write recordings index {shown}: {error}")

    # -- unused recordings ----------------------------------------------------------------

    def _unused(self, folders: list[_Folder], used: set[str]) -> tuple[list[str], set[str]]:
        """Recordings (and temp files a killed writer left) this run did not use and no test
        that did not finish may need; and the folders where such tests kept some."""
        unused, kept = [], set()
        for folder in folders:
            needed, listed = folder.kept(), folder.listed()
            for name in self._files(folder.name):
                relpath = f"{folder.name}/{name}"
                if relpath in used:
                    continue
                stale = name.startswith(".") and name.endswith(".tmp")
                unindexed = name not in listed and folder.unfinished_module and self._before_index(relpath)
                if not stale and (name in needed or unindexed):
                    kept.add(folder.name)
                else:
                    unused.append(relpath)
        return unused, kept

    def _before_index(self, relpath: str) -> bool:
        """Whether a recording was written before modules had an index (format 1, or unreadable:
        kept by the coarse rule rather than lost)."""
        found = written_format(self.recordings.root / relpath)
        return found is None or found < 2

    def _files(self, folder: str) -> list[str]:
        """The recording and temporary files of a folder; symlinks are never ours."""
        try:
            with os.scandir(self.recordings.root / folder) as entries:
                names = [entry.name for entry in entries if entry.is_file(follow_symlinks=False)]
        except OSError:
            return []
        return sorted(
            name
            for name in names
            if name != INDEX and (name.endswith(".json") or (name.startswith(".") and name.endswith(".tmp")))
        )

    def _report_unused(self, unused: list[str]) -> list[str]:
        shown = [self.recordings.shown(relpath) for relpath in unused]
        if self.prune:
            for relpath in unused:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.recordings.root / relpath)
            lines = [f"pruned {len(unused)} unused recording(s):"]
        else:
            lines = [f"{len(unused)} unused recording(s) (delete them with {PRUNE_FLAG}):"]
        lines.extend(f"  {path}" for path in shown[:_SHOWN])
        if len(shown) > _SHOWN:
            lines.append(f"  ... and {len(shown) - _SHOWN} more")
        return lines
