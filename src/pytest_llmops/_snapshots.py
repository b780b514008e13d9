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

This module is the format; the run's store (``_plugin.snapshots``) reads the files on every
process and writes them on the controller only, once, at the end of the session.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pytest

from pytest_llmops._files import newer_format

SNAPSHOT_DIR = "__llm_snapshots__"
#: The format this version writes and the newest it reads. It is named in the header (a comment,
#: so no test name can collide with it); a file without one is format 1.
FORMAT = 1
_HEADER = (
    "# pytest-llmops snapshots of {module}: the prompt versions and reference outputs of each test.\n"
    "# Review changes like code. Rewrite with `pytest --llm-snapshot-update`.\n"
    "# snapshot format: {format}\n"
)
_FORMAT_LINE = re.compile(r"# snapshot format: (\S+)[ \t]*\r?\n")
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
    except (FileNotFoundError, NotADirectoryError):  # no file (a file in the folder's place fails the write)
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise SnapshotError(f"cannot read snapshot file {path}: {error}") from None
    _check_format(path, text)
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


def _check_format(path: Path, text: str) -> None:
    """Refuse a file of a newer format (named in the header's leading comments)."""
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            return
        match = _FORMAT_LINE.fullmatch(line)
        if match:
            found = int(match[1]) if match[1].isdigit() else match[1]
            newer = newer_format(str(path), "snapshot format", found, FORMAT)
            if newer:
                raise SnapshotError(f"{newer}; it is never overwritten")
            if not (isinstance(found, int) and 1 <= found <= FORMAT):
                raise _corrupt(path, f"snapshot format {match[1]!r} is not one this version wrote")
            return


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
    return _HEADER.format(module=module, format=FORMAT) + body


# -- locations ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)  # asked for every test at collection and at teardown
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
class ItemUse:
    """What one test read and staged, on the process that ran it."""

    read: set[str] = field(default_factory=set)
    write: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Unused:
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


def module_name(path: Path) -> str:
    name = path.name.removesuffix(".yaml")
    return name if "." in name else f"{name}.py"
