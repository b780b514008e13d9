"""Snapshot files: per test module, the prompt versions each test used and its reference outputs.

``tests/test_mod.py`` has its snapshots in ``tests/__llm_snapshots__/test_mod.yaml``, one
entry per test (keyed by the test's name within the module, parameters included)::

    test_summary[short]:
      prompts:
        summarize:
          hash: 5f1c2e9a0b7d3c41
          text: |-
            system:
            Summarize in one sentence.

            user:
            The council met on Monday and approved the budget.
          version: '3'
      references:
        output: |
          The council approved the budget.

A prompt's ``text`` is what the test rendered from it, so a report shows how a changed prompt
differs from the one reviewed.

Every process reads the files; only the controller writes them, once, at the end of the
session: workers ship what each test used and staged on its teardown report.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest

from pytest_llmops.files import remove_stale_temporaries, shown, write_atomic

SNAPSHOT_DIR = "__llm_snapshots__"
_HEADER = (
    "# pytest-llmops snapshots of {module}: the prompt versions and reference outputs of each test.\n"
    "# Review changes like code. Rewrite with `pytest --llm-snapshot-update`.\n"
)
_ENTRY_KEYS = ("prompts", "references")


class SnapshotError(Exception):
    """A snapshot file cannot be read; the message names it."""


@dataclass
class TestSnapshot:
    """One test's entry: the templates it used (name -> hash, version, rendered text) and its
    references."""

    __test__ = False

    prompts: dict[str, dict[str, str]] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.prompts or self.references)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.prompts:
            data["prompts"] = {name: dict(v) for name, v in self.prompts.items()}
        if self.references:
            data["references"] = dict(self.references)
        return data


# -- file format -------------------------------------------------------------------------


def read_snapshot_file(path: Path) -> dict[str, TestSnapshot]:
    """The entries of ``path`` ({} when it does not exist); a bad file raises SnapshotError."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise SnapshotError(f"cannot read snapshot file {path}: {error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise _corrupt(path, f"not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _corrupt(path, "the top level must map test names to entries")
    return {str(key): _entry(path, str(key), value) for key, value in data.items()}


def _entry(path: Path, key: str, value: Any) -> TestSnapshot:
    if not isinstance(value, dict) or set(value) - set(_ENTRY_KEYS):
        raise _corrupt(path, f"entry {key!r} must be a mapping with keys {' and '.join(_ENTRY_KEYS)}")
    prompts = value.get("prompts") or {}
    references = value.get("references") or {}
    if not isinstance(prompts, dict) or not isinstance(references, dict):
        raise _corrupt(path, f"entry {key!r}: prompts and references must be mappings")
    entry = TestSnapshot()
    for name, version in prompts.items():
        if not isinstance(version, dict) or not isinstance(version.get("hash"), str):
            raise _corrupt(path, f"entry {key!r}: prompt {name!r} needs a hash")
        if version.get("text") is not None and not isinstance(version["text"], str):
            raise _corrupt(path, f"entry {key!r}: prompt {name!r}: its text must be text")
        entry.prompts[str(name)] = {"hash": version["hash"]}
        for field_name in ("version", "text"):
            if version.get(field_name) is not None:
                entry.prompts[str(name)][field_name] = str(version[field_name])
    for name, text in references.items():
        if not isinstance(text, str):
            raise _corrupt(path, f"entry {key!r}: reference {name!r} must be text")
        entry.references[str(name)] = text
    return entry


def _corrupt(path: Path, problem: str) -> SnapshotError:
    return SnapshotError(
        f"corrupt snapshot file {path}: {problem}. Fix it or delete it; it is never overwritten."
    )


def dump_snapshot_file(entries: Mapping[str, TestSnapshot], module: str) -> str:
    """YAML with sorted keys and multi-line text as block scalars, behind a header comment."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    data = {key: entries[key].to_dict() for key in sorted(entries) if entries[key]}
    body = yaml.dump(data, Dumper=Dumper, sort_keys=True, allow_unicode=True, width=1 << 30,
                     default_flow_style=False)
    return _HEADER.format(module=module) + body


# -- locations ---------------------------------------------------------------------------


def snapshot_path_of(module: Path) -> Path:
    """``dir/__llm_snapshots__/test_mod.yaml`` for ``dir/test_mod.py`` (``cases.jsonl.yaml``
    for a non-Python file of cases)."""
    stem = module.stem if module.suffix == ".py" else module.name
    return module.parent / SNAPSHOT_DIR / f"{stem}.yaml"


def test_key(item: pytest.Item) -> str:
    """The test's name within its module: ``TestClass::test_name[params]``.

    It is a key inside the module's snapshot file, never a path, so no parameter id can
    make a file land elsewhere.
    """
    _, sep, rest = item.nodeid.partition("::")
    return rest if sep else item.name


def version_label(version: Mapping[str, Any], other: Mapping[str, Any] | None = None) -> str:
    """``v3`` for a declared version (with the hash when ``other`` declares the same one)."""
    declared = version.get("version")
    short = str(version.get("hash", ""))[:8]
    if not declared:
        return short
    label = f"v{declared}" if declared[:1].isdigit() else str(declared)
    if other is not None and other.get("version") == declared:
        label += f" ({short})"
    return label


# -- the store ---------------------------------------------------------------------------


@dataclass
class _ItemUse:
    """What one test read and staged, on the process that ran it."""

    read: set[str] = field(default_factory=set)
    write: dict[str, str] = field(default_factory=dict)


_USE_KEY = pytest.StashKey[_ItemUse]()


@dataclass(frozen=True)
class _Unused:
    """A snapshot entry no test used: a whole test's entry, or one prompt or reference of it."""

    path: Path
    key: str
    kind: str = "test"  # "test", "prompt" or "reference"
    name: str = ""

    @property
    def what(self) -> str:
        return "test no longer exists" if self.kind == "test" else f"{self.kind} {self.name!r}"

    def remove_from(self, entries: dict[str, TestSnapshot]) -> None:
        entry = entries.get(self.key)
        if entry is None:
            return
        if self.kind == "test":
            del entries[self.key]
        else:
            getattr(entry, f"{self.kind}s").pop(self.name, None)


class SnapshotStore:
    """Reads snapshot entries for tests, stages writes, and (on the controller) flushes them.

    Registered as a plugin on every process; only the controller writes files.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.update: bool = bool(config.getoption("llm_snapshot_update", False))
        self.prune: bool = bool(config.getoption("llm_snapshot_prune", False))
        self.changed_only: bool = bool(config.getoption("llm_changed_prompts", False))
        self.is_worker = hasattr(config, "workerinput")
        self._files: dict[Path, dict[str, TestSnapshot] | SnapshotError] = {}
        self._deselected: list[pytest.Item] = []
        self._exists: dict[Path, bool] = {}  # snapshot files found at collection (written only at the end)
        # controller side
        self._collected: dict[Path, set[str]] = {}
        self._results: dict[Path, dict[str, dict[str, Any]]] = {}
        self._unclean: set[str] = set()
        self.drift: list[tuple[str, list[str]]] = []
        self.written: list[tuple[Path, int]] = []
        self.removed: list[Path] = []
        self.unused: list[_Unused] = []
        self.problems: list[str] = []

    # -- the API fixtures use -----------------------------------------------------------

    def snapshot_path(self, item: pytest.Item) -> Path:
        """The snapshot file of ``item``'s module."""
        return snapshot_path_of(Path(item.path))

    def entry(self, item: pytest.Item) -> TestSnapshot | None:
        """``item``'s entry in its snapshot file; raises SnapshotError for a corrupt file."""
        return self._file(self.snapshot_path(item)).get(test_key(item))

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

    def _use(self, item: pytest.Item) -> _ItemUse:
        use = item.stash.get(_USE_KEY, None)
        if use is None:
            use = item.stash[_USE_KEY] = _ItemUse()
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

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """``--llm-changed-prompts``: keep only tests whose snapshot names a changed template."""
        if not self.changed_only:
            return
        from pytest_llmops.prompts import PromptError, prompt_library

        library = prompt_library(config)

        def changed(version: Mapping[str, str], name: str) -> bool:
            try:
                return library.version(name).hash != version["hash"]
            except PromptError:  # gone or broken: run the test, it reports the problem
                return True

        kept, dropped = [], []
        for item in items:
            try:
                entry = self.entry(item)
            except SnapshotError as error:
                raise pytest.UsageError(f"--llm-changed-prompts: {error}") from None
            affected = entry is not None and any(changed(v, n) for n, v in entry.prompts.items())
            (kept if affected else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self._deselected.extend(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Note every collected test of modules that have a snapshot file (for unused entries).

        A snapshot file beside them whose module is gone has no test at all.
        """
        collected: dict[Path, set[str]] = {}
        exists = self._exists
        for item in [*session.items, *self._deselected]:
            path = self.snapshot_path(item)
            if exists.setdefault(path, path.is_file()):
                collected.setdefault(path, set()).add(test_key(item))
        for folder in {path.parent for path in exists if path.parent.is_dir()}:
            for orphan in folder.glob("*.yaml"):
                if not (folder.parent / _module_name(orphan)).exists():
                    collected.setdefault(orphan, set())
        if self.is_worker:
            self.config.workeroutput["llmops_snapshot_keys"] = {
                str(path): sorted(keys) for path, keys in collected.items()
            }
        else:
            self._merge_collected(collected)

    def _merge_collected(self, collected: Mapping[Path, Any]) -> None:
        for path, keys in collected.items():
            self._collected.setdefault(Path(path), set()).update(keys)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: merge what a worker collected."""
        keys = getattr(node, "workeroutput", {}).get("llmops_snapshot_keys", {})
        self._merge_collected(keys)

    # -- per test -----------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        # Before the report is made, so the record it carries already holds the drift.
        payload = self._payload(item) if call.when == "teardown" else None
        report: pytest.TestReport = yield
        if payload is not None:
            report.llmops_snapshot = payload
        return report

    def _payload(self, item: pytest.Item) -> dict[str, Any] | None:
        """What ``item`` used, and its prompts' drift from its snapshot (marked on its record)."""
        from pytest_llmops.plugin import RECORD_KEY

        record = item.stash.get(RECORD_KEY, None)
        use = item.stash.get(_USE_KEY, None) or _ItemUse()
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
            prompt.update(marks.get(prompt.get("name"), {}))
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
        if report.failed or report.skipped:
            self._unclean.add(report.nodeid)
        payload = getattr(report, "llmops_snapshot", None)
        if payload is not None:
            self._results.setdefault(Path(payload["path"]), {})[payload["key"]] = {
                **payload, "nodeid": report.nodeid
            }
            if payload["drift"]:
                self.drift.append((report.nodeid, payload["drift"]))

    # -- the end of the session (controller) --------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            return
        for path in sorted(set(self._results) | set(self._collected)):
            self._flush(path)

    def _flush(self, path: Path) -> None:
        remove_stale_temporaries(path)
        try:
            before = self._file(path)  # as the tests read it: each file is read once a session
        except SnapshotError as error:
            self.problems.append(f"not written: {error}")
            return
        after = copy.deepcopy(before)
        results = self._results.get(path, {})
        for key, used in results.items():
            entry = after.setdefault(key, TestSnapshot())
            if self.update or key not in before:
                if used["nodeid"] not in self._unclean:
                    entry.prompts.clear()
                entry.prompts.update(used["prompts"])
            entry.references.update(used["write"])
        self._find_unused(path, after, results)
        if self.prune:
            for unused in self.unused:
                if unused.path == path:
                    unused.remove_from(after)
        after = {key: entry for key, entry in after.items() if entry}
        if after == before:
            return
        if after:
            write_atomic(path, dump_snapshot_file(after, _module_name(path)))
            self.written.append((path, sum(1 for k in after if after[k] != before.get(k))))
        else:
            path.unlink(missing_ok=True)
            self.removed.append(path)

    def _find_unused(self, path: Path, entries: dict[str, TestSnapshot], results: Mapping[str, Any]) -> None:
        # Tests named one by one (path::test) leave the rest of their module uncollected.
        collected = None if any("::" in arg for arg in self.config.args) else self._collected.get(path)
        for key, entry in sorted(entries.items()):
            used = results.get(key)
            if collected is not None and key not in collected and used is None:
                self.unused.append(_Unused(path, key))
            elif used is not None and used["nodeid"] not in self._unclean:
                for name in sorted(set(entry.prompts) - set(used["prompts"])):
                    self.unused.append(_Unused(path, key, "prompt", name))
                for name in sorted(set(entry.references) - set(used["read"])):
                    self.unused.append(_Unused(path, key, "reference", name))

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
            write(f"written: {self._show(path)} ({count} test{'s' * (count != 1)})")
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

    def _show(self, path: Path) -> str:
        return shown(path, self.config.rootpath)


def _module_name(path: Path) -> str:
    name = path.name.removesuffix(".yaml")
    return name if "." in name else f"{name}.py"


_STORE_KEY = pytest.StashKey[SnapshotStore]()


def install(config: pytest.Config) -> SnapshotStore:
    """Create the session's store and register its hooks (called from ``pytest_configure``)."""
    store = config.stash[_STORE_KEY] = SnapshotStore(config)
    config.pluginmanager.register(store, "llmops-snapshots")
    return store


def snapshot_store(config: pytest.Config) -> SnapshotStore:
    """The session's snapshot store (one per process; the controller writes the files)."""
    return config.stash[_STORE_KEY]
