"""The snapshot file format: exact round trips, block scalars, stable order, corrupt files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_llmops._snapshots import (
    SnapshotError,
    TestSnapshot,
    dump_snapshot_file,
    read_snapshot_file,
    snapshot_path_of,
    version_label,
)
from pytest_llmops._files import write_atomic

TRICKY_TEXTS = [
    "one line",
    "two\nlines",
    "trailing newline\n",
    "two trailing newlines\n\n",
    "  leading spaces\nand more",
    "trailing spaces   \nhere",
    "tab\tand\ttabs\n",
    "windows\r\nline ends",
    "",
    "yes",
    "null",
    "- looks like a list",
    "key: looks like a mapping",
    "#not a comment",
    "unicode: caf\u00e9 \u2014 \u4e2d\u6587 \U0001f600",
    "'quotes' and \"quotes\"",
    "\u00a0non-breaking\u2028line separator",
]


def test_every_text_round_trips_exactly(tmp_path: Path) -> None:
    entries = {
        f"test_{i}": TestSnapshot(prompts={"p": {"hash": "h", "text": text}}, references={"output": text})
        for i, text in enumerate(TRICKY_TEXTS)
    }
    path = tmp_path / "test_mod.yaml"
    write_atomic(path, dump_snapshot_file(entries, "test_mod.py"))
    assert read_snapshot_file(path) == entries


def test_multi_line_text_is_a_block_scalar_and_keys_are_sorted() -> None:
    entries = {
        "test_b": TestSnapshot(references={"output": "first line\nsecond line\n"}),
        "test_a[x]": TestSnapshot(prompts={"summarize": {"version": "3", "hash": "abc123"}}),
    }
    text = dump_snapshot_file(entries, "test_mod.py")
    assert text.splitlines() == [
        "# pytest-llmops snapshots of test_mod.py: the prompt versions and reference outputs of each test.",
        "# Review changes like code. Rewrite with `pytest --llm-snapshot-update`.",
        "# snapshot format: 1",
        "test_a[x]:",
        "  prompts:",
        "    summarize:",
        "      hash: abc123",
        "      version: '3'",
        "test_b:",
        "  references:",
        "    output: |",
        "      first line",
        "      second line",
    ]


def test_empty_entries_are_not_written() -> None:
    text = dump_snapshot_file({"test_a": TestSnapshot()}, "test_mod.py")
    assert "test_a" not in text


@pytest.mark.parametrize(
    "content, problem",
    [
        ("test_a: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "the top level must map test names to entries"),
        ("test_a: just text\n", "entry 'test_a' must be a mapping with keys prompts and references"),
        ("test_a:\n  outputs: {}\n", "entry 'test_a' must be a mapping"),
        ("test_a:\n  prompts:\n    p: {version: '1'}\n", "entry 'test_a': prompt 'p' needs a hash"),
        ("test_a:\n  references:\n    output: [1, 2]\n", "entry 'test_a': reference 'output' must be text"),
        ("test_a:\n  prompts:\n    p: {hash: h, text: [1]}\n", "entry 'test_a': prompt 'p': its text must be text"),
        ("test_a:\n  prompts: [p]\n", "prompts and references must be mappings"),
    ],
)
def test_a_corrupt_file_is_named_with_its_problem(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "test_mod.yaml"
    path.write_text(content)
    with pytest.raises(SnapshotError) as error:
        read_snapshot_file(path)
    message = str(error.value)
    assert message.startswith(f"corrupt snapshot file {path}: ")
    assert problem in message
    assert "never overwritten" in message


def test_a_missing_or_empty_file_has_no_entries(tmp_path: Path) -> None:
    assert read_snapshot_file(tmp_path / "absent.yaml") == {}
    (tmp_path / "empty.yaml").write_text("# only a comment\n")
    assert read_snapshot_file(tmp_path / "empty.yaml") == {}


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "snap" / "test_mod.yaml"
    write_atomic(path, "old: content\n")
    with pytest.raises(TypeError):
        write_atomic(path, None)  # type: ignore[arg-type]  # fails mid-write
    assert path.read_text() == "old: content\n"
    assert os.listdir(path.parent) == ["test_mod.yaml"]


def test_snapshot_paths_sit_beside_the_module() -> None:
    assert snapshot_path_of(Path("/p/tests/test_mod.py")) == Path("/p/tests/__llm_snapshots__/test_mod.yaml")
    assert snapshot_path_of(Path("/p/tests/cases.jsonl")) == Path("/p/tests/__llm_snapshots__/cases.jsonl.yaml")


def test_version_labels() -> None:
    assert version_label({"hash": "0123456789abcdef", "version": "3"}) == "v3"
    assert version_label({"hash": "0123456789abcdef", "version": "beta"}) == "beta"
    assert version_label({"hash": "0123456789abcdef"}) == "01234567"
    same = {"hash": "fedcba9876543210", "version": "3"}
    assert version_label({"hash": "0123456789abcdef", "version": "3"}, same) == "v3 (01234567)"


@pytest.mark.parametrize("header", ["# snapshot format: 99\n", "# a comment\n# snapshot format: 2\n"])
def test_a_snapshot_file_of_a_newer_format_is_refused_naming_it(tmp_path: Path, header: str) -> None:
    path = tmp_path / "test_mod.yaml"
    path.write_text(header + "test_a:\n  references:\n    output: x\n")
    found = header.split(": ")[-1].strip()
    with pytest.raises(SnapshotError) as raised:
        read_snapshot_file(path)
    assert str(raised.value) == (
        f"{path} was written by a newer pytest-llmops (snapshot format {found}; this version reads 1): "
        "upgrade pytest-llmops; it is never overwritten"
    )


@pytest.mark.parametrize("header", ["", "# snapshot format: 1\n", "# pytest-llmops snapshots of test_mod.py\n"])
def test_snapshot_files_of_format_1_are_read(tmp_path: Path, header: str) -> None:
    path = tmp_path / "test_mod.yaml"
    path.write_text(header + "test_a:\n  references:\n    output: x\n")
    assert read_snapshot_file(path)["test_a"].references == {"output": "x"}


@pytest.mark.parametrize("found", ["0", "two", "-1"])
def test_a_snapshot_format_that_is_no_version_is_corrupt(tmp_path: Path, found: str) -> None:
    path = tmp_path / "test_mod.yaml"
    path.write_text(f"# snapshot format: {found}\ntest_a: {{}}\n")
    with pytest.raises(SnapshotError, match=f"corrupt snapshot file .*snapshot format '{found}'"):
        read_snapshot_file(path)
