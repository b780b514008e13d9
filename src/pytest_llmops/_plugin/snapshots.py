"""The run's snapshot store: every process reads the snapshot files; the controller alone
writes them, once, at the end of the session (workers ship what each test used and staged on
its teardown report, and what they collected through the xdist channel).

Unused entries follow the run's one rule (:mod:`.run_rule`): the entry of a test that did not
run to its end keeps its prompts and references.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generator, Iterator, Mapping

import pytest

from pytest_llmops._files import remove_stale_temporaries, shown, write_atomic
from pytest_llmops._plugin import keys
from pytest_llmops._snapshots import (
    FORMAT,
    ItemUse,
    SnapshotError,
    TestSnapshot,
    Unused,
    dump_snapshot_file,
    key_of,
    module_name,
    read_snapshot_file,
    snapshot_format,
    snapshot_path_of,
    test_key,
    version_label,
)

if TYPE_CHECKING:
    from pytest_llmops._plugin.session import LLMSession


class SnapshotStore:
    """Reads snapshot entries for tests, stages writes, and (on the controller) flushes them.

    Registered as a plugin on every process; only the controller writes files.
    """

    def __init__(self, session: LLMSession) -> None:
        config = self.config = session.config
        self.session = session
        self.update: bool = bool(config.getoption("llm_snapshot_update", False))
        self.prune: bool = bool(config.getoption("llm_snapshot_prune", False))
        self.is_worker = session.worker
        self._files: dict[Path, dict[str, TestSnapshot] | SnapshotError] = {}
        self._deselected: list[pytest.Item] = []
        self._here: dict[Path, set[str]] = {}
        self._exists: dict[Path, bool] = {}  # snapshot files found at collection (written only at the end)
        # controller side
        self._collected: dict[Path, set[str]] = {}
        self._results: dict[Path, dict[str, dict[str, Any]]] = {}
        self.drift: list[tuple[str, list[str]]] = []
        self.written: list[tuple[Path, int]] = []
        self.removed: list[Path] = []
        self.unused: list[Unused] = []
        self.problems: list[str] = []
        self.failed_writes = 0  # the run fails: what it staged is lost

    def close(self) -> None:
        """The run is over: what was read and staged goes."""
        self._files.clear()
        self._results.clear()

    # -- the API fixtures use -----------------------------------------------------------

    def snapshot_path(self, item: pytest.Item) -> Path:
        """The snapshot file of ``item``'s module."""
        return snapshot_path_of(item.path)

    def accepted(self, item: pytest.Item, name: str, output: str, source: str, reference: str | None) -> bool:
        """Whether the review being applied makes ``output`` ``item``'s reference ``name`` (its
        current one, ``reference``, came from ``source``: ``snapshot`` or ``given``)."""
        review = self.session.review
        return review is not None and review.accept(item, name, output, source, reference)

    def owner(self, item: pytest.Item) -> str | None:
        """The test whose entry holds ``item``'s references when it is another's: an A/B
        variant's test reads its control's (and never writes one); None for the test's own."""
        return item.stash.get(keys.CONTROL, None)

    def entry(self, item: pytest.Item) -> TestSnapshot | None:
        """``item``'s entry in its snapshot file (its owner's, see :meth:`owner`); raises
        SnapshotError for a corrupt file."""
        owner = self.owner(item)
        return self._file(self.snapshot_path(item)).get(test_key(item) if owner is None else key_of(owner))

    def reference(self, item: pytest.Item, name: str = "output") -> str | None:
        """The stored reference ``name`` of ``item`` (a staged one first), or None."""
        use = self._use(item)
        use.read.add(name)
        if name in use.write:
            return use.write[name]
        entry = self.entry(item)
        return None if entry is None else entry.references.get(name)

    def record_reference(self, item: pytest.Item, name: str, text: str) -> None:
        """Stage ``text`` as ``item``'s reference ``name``; the controller writes it at the end."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a reference name must be non-empty text, not {name!r}")
        if not isinstance(text, str):
            raise TypeError(f"a reference must be text, not {type(text).__name__}")
        use = self._use(item)
        use.read.add(name)
        use.write[name] = text

    def _use(self, item: pytest.Item) -> ItemUse:
        use = item.stash.get(keys.SNAPSHOT_USE, None)
        if use is None:
            use = item.stash[keys.SNAPSHOT_USE] = ItemUse()
        return use

    def _file(self, path: Path) -> dict[str, TestSnapshot]:
        if path not in self._files:
            try:
                self._files[path] = read_snapshot_file(path)
            except SnapshotError as error:
                self._files[path] = error
        loaded = self._files[path]
        if isinstance(loaded, SnapshotError):
            raise loaded
        return loaded

    # -- collection ---------------------------------------------------------------------

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self._deselected.extend(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Note every collected test of modules that have a snapshot file (for unused entries).

        A snapshot file beside them whose module is gone has no test at all.
        """
        collected: dict[Path, set[str]] = {}
        exists = self._exists
        for module, items in _by_module([*session.items, *self._deselected]).items():
            path = snapshot_path_of(module)
            if exists.setdefault(path, path.is_file()):
                collected.setdefault(path, set()).update(test_key(item) for item in items)
        for folder in {path.parent for path in exists if path.parent.is_dir()}:
            for orphan in folder.glob("*.yaml"):
                if not (folder.parent / module_name(orphan)).exists():
                    collected.setdefault(orphan, set())
        self._here = collected
        if not self.is_worker:
            self._merge_collected(collected)

    def worker_part(self) -> dict[str, list[str]]:
        """What an xdist worker tells the controller: the tests it collected, by snapshot file."""
        return {str(path): sorted(names) for path, names in self._here.items()}

    def _merge_collected(self, collected: Mapping[Path, Any]) -> None:
        for path, names in collected.items():
            self._collected.setdefault(Path(path), set()).update(names)

    # -- per test -----------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        # Before the report is made, so the record it carries already holds the drift.
        payload = self._payload(item) if call.when == "teardown" else None
        report = yield
        if payload is not None:
            report.llmops_snapshot = payload  # type: ignore[attr-defined]
        return report

    def _payload(self, item: pytest.Item) -> dict[str, Any] | None:
        """What ``item`` used, and its prompts' drift from its snapshot (marked on its record)."""
        if self.owner(item) is not None:  # nothing of this entry is the test's own
            return None
        record = item.stash.get(keys.RECORD, None)
        use = item.stash.get(keys.SNAPSHOT_USE, None) or ItemUse()
        path = self.snapshot_path(item)
        used_prompts = {p["name"]: p for p in (record.prompts if record else ()) if "hash" in p}
        if not (used_prompts or use.read or use.write or self._exists.get(path, False)):
            return None
        try:
            entry = self.entry(item)
        except SnapshotError:
            entry = None  # reported at setup and at the end; the file is left alone
        drift = []
        marks: dict[str, dict[str, Any]] = {}
        for name, used in sorted(used_prompts.items()):
            before = None if entry is None else entry.prompts.get(name)
            if before is None:
                marks[name] = {"snapshot": "new"}
                if entry is not None:
                    drift.append(f"{name}: new (not in the snapshot)")
            elif before["hash"] != used["hash"]:
                marks[name] = {
                    "snapshot": "changed",
                    "changed_from": {k: v for k, v in before.items() if k != "text"},
                }
                if "text" in before:
                    marks[name]["snapshot_text"] = before["text"]
                drift.append(f"{name}: {version_label(before, used)} -> {version_label(used, before)}")
            else:
                marks[name] = {"snapshot": "same"}
        for prompt in record.prompts if record else ():
            prompt.update(marks.get(str(prompt.get("name")), {}))
        return {
            "path": str(path),
            "key": test_key(item),
            "prompts": {
                name: {k: p[k] for k in ("hash", "version", "text") if p.get(k) is not None}
                for name, p in sorted(used_prompts.items())
            },
            "read": sorted(use.read),
            "write": dict(sorted(use.write.items())),
            "drift": drift,
        }

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        payload = getattr(report, "llmops_snapshot", None)
        if payload is not None:
            self._results.setdefault(Path(payload["path"]), {})[payload["key"]] = {**payload, "nodeid": report.nodeid}
            if payload["drift"]:
                self.drift.append((report.nodeid, payload["drift"]))

    # -- the end of the session (controller) --------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            return
        for part in self.session.worker_parts.values():
            self._merge_collected(part.get("snapshots") or {})
        for path in sorted(set(self._results) | set(self._collected)):
            self._flush(path)
        if self.failed_writes and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _flush(self, path: Path) -> None:
        """Apply this run's changes to ``path`` under a lock shared with every other pytest
        process, on the file as it is now (another run may have written it since it was read),
        so two runs updating one module's snapshots keep both runs' entries."""
        remove_stale_temporaries(path)
        try:
            self._file(path)  # a file that was corrupt when the tests read it stays as it is
            with _locked(path):
                self._apply(path, read_snapshot_file(path))
        except SnapshotError as error:
            self.problems.append(f"not written: {error}")
        except OSError as error:
            self.failed_writes += 1
            self.problems.append(f"cannot write snapshot file {self._show(path)}: {error.strerror or error}")

    def _apply(self, path: Path, before: dict[str, TestSnapshot]) -> None:
        after = copy.deepcopy(before)
        results = self._results.get(path, {})
        for key, used in results.items():
            entry = after.setdefault(key, TestSnapshot())
            if self.update or key not in before:
                if self._finished(used["nodeid"]):
                    entry.prompts.clear()
                entry.prompts.update(used["prompts"])
            entry.references.update(used["write"])
        self._find_unused(path, after, results)
        if self.prune:
            for unused in self.unused:
                if unused.path == path:
                    unused.remove_from(after)
        after = {key: entry for key, entry in after.items() if entry}
        if after == before and not (after and self.update and snapshot_format(path) < FORMAT):
            return  # unchanged; an update still rewrites a file of an older format
        if after:
            write_atomic(path, dump_snapshot_file(after, module_name(path)))
            self.written.append((path, sum(1 for k in after if after[k] != before.get(k))))
        else:
            path.unlink(missing_ok=True)
            self.removed.append(path)

    def _find_unused(self, path: Path, entries: dict[str, TestSnapshot], results: Mapping[str, Any]) -> None:
        collected = None if self.session.rule.picked else self._collected.get(path)
        for key, entry in sorted(entries.items()):
            used = results.get(key)
            if collected is not None and key not in collected and used is None:
                self.unused.append(Unused(path, key))
            elif used is not None and self._finished(used["nodeid"]):
                for name in sorted(set(entry.prompts) - set(used["prompts"])):
                    self.unused.append(Unused(path, key, "prompt", name))
                for name in sorted(set(entry.references) - set(used["read"])):
                    self.unused.append(Unused(path, key, "reference", name))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not (self.drift or self.written or self.removed or self.unused or self.problems):
            return
        write = terminalreporter.write_line
        terminalreporter.section("llmops snapshots")
        if self.drift:
            verb = "updated" if self.update else "changed since its snapshot"
            write(f"prompt {verb}:")
            for nodeid, changes in sorted(self.drift):
                write(f"  {nodeid}: {'; '.join(changes)}")
            if not self.update:
                write("  (accept with --llm-snapshot-update; run just these with --llm-changed-prompts)")
        for path, count in self.written:
            what = f"{count} test{'s' * (count != 1)}" if count else f"in snapshot format {FORMAT}"
            write(f"written: {self._show(path)} ({what})")
        for path in self.removed:
            write(f"removed: {self._show(path)} (no entries left)")
        if self.unused:
            verb = "removed" if self.prune else "unused"
            write(f"{verb} snapshot entries: {len(self.unused)}")
            for unused in self.unused:
                write(f"  {self._show(unused.path)}: {unused.key}: {unused.what}")
            if not self.prune:
                write("  (remove with --llm-snapshot-prune)")
        for problem in self.problems:
            terminalreporter.write_line(problem, red=True)

    def _finished(self, nodeid: str) -> bool:
        return self.session.rule.finished(self.session.outcomes.get(nodeid))

    def _show(self, path: Path) -> str:
        return shown(path, self.config.rootpath)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the cross-process lock of snapshot file ``path``. The lock file lives in the temp
    folder (named by a hash of the file's real path), so nothing appears beside the snapshots."""
    import hashlib

    from filelock import FileLock  # only for a run that writes snapshots

    real = os.path.realpath(path)
    folder = Path(tempfile.gettempdir(), "pytest-llmops-locks")
    folder.mkdir(exist_ok=True)
    name = hashlib.sha256(real.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    with FileLock(folder / f"{name}.lock"):
        yield


def _by_module(items: list[pytest.Item]) -> dict[Path, list[pytest.Item]]:
    """``items`` by their module's path: a snapshot file's path is worked out once per module."""
    modules: dict[Path, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.path, []).append(item)
    return modules
