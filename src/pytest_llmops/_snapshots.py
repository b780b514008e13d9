"""Snapshot files: per test module, the prompt versions each test used and its reference outputs.

``tests/test_mod.py`` has its snapshots in ``tests/__llm_snapshots__/test_mod.yaml``. Each
template the module's tests rendered is listed once, with the text most of them rendered;
each test (keyed by its name within the module, parameters included) records how its render
differs from that, and its references (format 2, :mod:`._snapshot_templates`)::

    templates:
      summarize:
        hash: 5f1c2e9a0b7d3c41
        version: '3'
        text: |-
          system:
          Summarize in one sentence.

          user:
          The council met on Monday and approved the budget.
    tests:
      test_summary[short]:
        prompts:
          summarize: {}
        references:
          output: |
            The council approved the budget.
      test_summary[long]:
        prompts:
          summarize:
            lines:
              5: The council met on Monday, argued, and approved the budget.

In memory an entry holds each prompt's full ``text`` (what the test rendered), so a report
shows how a changed prompt differs from the one reviewed. Format 1 files (one full entry per
test at the top level) are still read; the next write is format 2.

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
from pytest_llmops._snapshot_templates import applied, difference, ordered, shared_templates

SNAPSHOT_DIR = "__llm_snapshots__"
#: The format this version writes and the newest it reads. It is named in the header (a comment,
#: so no test name can collide with it); a file without one is format 1.
FORMAT = 2
_HEADER = (
    "# pytest-llmops snapshots of {module}: the prompt versions and reference outputs of each test.\n"
    "# Review changes like code. Rewrite with `pytest --llm-snapshot-update`.\n"
    "# snapshot format: {format}\n"
)
_FORMAT_LINE = re.compile(r"# snapshot format: (\S+)[ \t]*\r?\n")
_ENTRY_KEYS = ("prompts", "references")
_SECTIONS = ("templates", "tests")


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
    found = _format_of(path, text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise _corrupt(path, f"not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _corrupt(path, "the top level must map test names to entries")
    tests = data if found == 1 else _expanded(path, data)
    return {str(key): _entry(path, str(key), value) for key, value in tests.items()}


def snapshot_format(path: Path) -> int:
    """The format ``path`` was written in (1 for a file without the header's format line)."""
    try:
        return _format_of(path, path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return FORMAT


def _expanded(path: Path, data: dict[Any, Any]) -> dict[Any, Any]:
    """The tests of format 2 ``data``, each prompt with its template's shared fields filled in."""
    if set(data) - set(_SECTIONS):
        raise _corrupt(path, f"the top level must have only the keys {' and '.join(_SECTIONS)}")
    templates, tests = data.get("templates") or {}, data.get("tests") or {}
    if not isinstance(templates, dict) or not isinstance(tests, dict):
        raise _corrupt(path, f"{' and '.join(_SECTIONS)} must be mappings")
    shared = {str(name): _prompt(path, f"template {name!r}", value) for name, value in templates.items()}
    expanded = {}
    for key, value in tests.items():
        if isinstance(value, dict) and isinstance(value.get("prompts"), dict):
            try:
                prompts = {
                    name: applied(str(name), diff, shared.get(str(name))) for name, diff in value["prompts"].items()
                }
            except ValueError as error:
                raise _corrupt(path, f"entry {key!r}: {error}") from None
            value = {**value, "prompts": prompts}
        expanded[key] = value
    return expanded


def _entry(path: Path, key: str, value: Any) -> TestSnapshot:
    if not isinstance(value, dict) or set(value) - set(_ENTRY_KEYS):
        raise _corrupt(path, f"entry {key!r} must be a mapping with keys {' and '.join(_ENTRY_KEYS)}")
    prompts = value.get("prompts") or {}
    references = value.get("references") or {}
    if not isinstance(prompts, dict) or not isinstance(references, dict):
        raise _corrupt(path, f"entry {key!r}: prompts and references must be mappings")
    entry = TestSnapshot()
    for name, version in prompts.items():
        entry.prompts[str(name)] = _prompt(path, f"entry {key!r}: prompt {name!r}", version)
    for name, text in references.items():
        if not isinstance(text, str):
            raise _corrupt(path, f"entry {key!r}: reference {name!r} must be text")
        entry.references[str(name)] = text
    return entry


def _prompt(path: Path, where: str, version: Any) -> dict[str, str]:
    """A template version as read: its hash, and its version and rendered text when given."""
    if not isinstance(version, dict) or not isinstance(version.get("hash"), str):
        raise _corrupt(path, f"{where} needs a hash")
    if version.get("text") is not None and not isinstance(version["text"], str):
        raise _corrupt(path, f"{where}: its text must be text")
    prompt = {"hash": version["hash"]}
    for field_name in ("version", "text"):
        if version.get(field_name) is not None:
            prompt[field_name] = str(version[field_name])
    return prompt


def _format_of(path: Path, text: str) -> int:
    """The format named in the header's leading comments (1 without one); a newer one is refused."""
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        match = _FORMAT_LINE.fullmatch(line)
        if match:
            found = int(match[1]) if match[1].isdigit() else match[1]
            newer = newer_format(str(path), "snapshot format", found, FORMAT)
            if newer:
                raise SnapshotError(f"{newer}; it is never overwritten")
            if not (isinstance(found, int) and 1 <= found <= FORMAT):
                raise _corrupt(path, f"snapshot format {match[1]!r} is not one this version wrote")
            return found
    return 1


def _corrupt(path: Path, problem: str) -> SnapshotError:
    return SnapshotError(f"corrupt snapshot file {path}: {problem}. Fix it or delete it; it is never overwritten.")


def dump_snapshot_file(entries: Mapping[str, TestSnapshot], module: str) -> str:
    """Format 2 YAML behind a header comment: every key in a fixed order (sorted names), multi-line
    text as block scalars, so an unchanged suite writes the same bytes."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    kept = {key: entries[key] for key in sorted(entries) if entries[key]}
    templates = shared_templates(entry.prompts for entry in kept.values())
    data: dict[str, Any] = {"templates": {name: ordered(t) for name, t in templates.items()}} if templates else {}
    data["tests"] = {key: _differences(entry, templates) for key, entry in kept.items()}
    body = yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=1 << 30, default_flow_style=False)
    return _HEADER.format(module=module, format=FORMAT) + body


def _differences(entry: TestSnapshot, templates: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if entry.prompts:
        data["prompts"] = {name: difference(entry.prompts[name], templates[name]) for name in sorted(entry.prompts)}
    if entry.references:
        data["references"] = {name: entry.references[name] for name in sorted(entry.references)}
    return data


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
    return key_of(item.nodeid) or item.name


def key_of(nodeid: str) -> str:
    """:func:`test_key` of the test ``nodeid`` ("" for a node id of no test in a module)."""
    return nodeid.partition("::")[2]


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
