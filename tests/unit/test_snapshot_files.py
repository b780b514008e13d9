"""The snapshot file format: exact round trips, shared templates, block scalars, stable order,
corrupt files, format 1 still read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_llmops._files import write_atomic
from pytest_llmops._snapshots import (
    SnapshotError,
    TestSnapshot,
    dump_snapshot_file,
    read_snapshot_file,
    snapshot_format,
    snapshot_path_of,
    version_label,
)

F2 = "# snapshot format: 2\n"
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


def test_every_text_round_trips_as_a_changed_line_of_shared_text(tmp_path: Path) -> None:
    renders = ["system:\nBe brief.\n\nuser:\nshared", *(f"system:\nBe brief.\n\nuser:\n{t}" for t in TRICKY_TEXTS)]
    entries = {
        f"test_{i:02}": TestSnapshot(prompts={"p": {"hash": "h", "version": "1", "text": text}})
        for i, text in enumerate(renders + renders[:1])
    }
    path = tmp_path / "test_mod.yaml"
    write_atomic(path, dump_snapshot_file(entries, "test_mod.py"))
    assert read_snapshot_file(path) == entries
    assert path.read_text().count("lines:") == sum(1 for t in TRICKY_TEXTS if "\n" not in t)


def test_each_template_is_written_once_and_each_test_as_its_difference() -> None:
    shared = "system:\nBe brief.\n\nuser:\nHello"
    entries = {
        "test_same": TestSnapshot(prompts={"p": {"hash": "h1", "version": "3", "text": shared}}),
        "test_same_too": TestSnapshot(
            prompts={"p": {"hash": "h1", "version": "3", "text": shared}},
            references={"output": "first line\nsecond line\n"},
        ),
        "test_a_line": TestSnapshot(
            prompts={"p": {"hash": "h1", "version": "3", "text": shared.replace("Hello", "Hi")}}
        ),
        "test_more_lines": TestSnapshot(prompts={"p": {"hash": "h1", "version": "3", "text": shared + "\nthere"}}),
        "test_old[x]": TestSnapshot(prompts={"p": {"hash": "h0", "version": "2"}}),
    }
    text = dump_snapshot_file(entries, "test_mod.py")
    assert text.splitlines() == [
        "# pytest-llmops snapshots of test_mod.py: the prompt versions and reference outputs of each test.",
        "# Review changes like code. Rewrite with `pytest --llm-snapshot-update`.",
        "# snapshot format: 2",
        "templates:",
        "  p:",
        "    hash: h1",
        "    version: '3'",
        "    text: |-",
        "      system:",
        "      Be brief.",
        "",
        "      user:",
        "      Hello",
        "tests:",
        "  test_a_line:",
        "    prompts:",
        "      p:",
        "        lines:",
        "          5: Hi",
        "  test_more_lines:",
        "    prompts:",
        "      p:",
        "        text: |-",
        "          system:",
        "          Be brief.",
        "",
        "          user:",
        "          Hello",
        "          there",
        "  test_old[x]:",
        "    prompts:",
        "      p:",
        "        hash: h0",
        "        version: '2'",
        "  test_same:",
        "    prompts:",
        "      p: {}",
        "  test_same_too:",
        "    prompts:",
        "      p: {}",
        "    references:",
        "      output: |",
        "        first line",
        "        second line",
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
        (F2 + "tests: {}\nother: {}\n", "the top level must have only the keys templates and tests"),
        (F2 + "tests: [a]\n", "templates and tests must be mappings"),
        (F2 + "templates:\n  p: {text: x}\n", "template 'p' needs a hash"),
        (F2 + "tests:\n  test_a:\n    prompts:\n      p: {}\n", "entry 'test_a': prompt 'p' is not under templates"),
        (
            F2 + "templates:\n  p: {hash: h, text: x}\ntests:\n  test_a:\n    prompts:\n      p: {lines: {2: y}}\n",
            "entry 'test_a': prompt 'p': line 2 is not a line of its template (1-1)",
        ),
        (
            F2 + "templates:\n  p: {hash: h}\ntests:\n  test_a:\n    prompts:\n      p: {lines: {1: y}}\n",
            "entry 'test_a': prompt 'p': lines of a template without text",
        ),
        (
            F2 + "templates:\n  p: {hash: h, text: x}\ntests:\n  test_a:\n    prompts:\n      p: {lines: {1: [y]}}\n",
            "entry 'test_a': prompt 'p': line 1 must be one line of text",
        ),
        (
            F2
            + "templates:\n  p: {hash: h, text: x}\ntests:\n  test_a:\n    prompts:\n      p: {lines: {}, text: x}\n",
            "entry 'test_a': prompt 'p': a difference is {}, lines or text, or a full entry with a hash",
        ),
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


@pytest.mark.parametrize("header", ["# snapshot format: 99\n", "# a comment\n# snapshot format: 3\n"])
def test_a_snapshot_file_of_a_newer_format_is_refused_naming_it(tmp_path: Path, header: str) -> None:
    path = tmp_path / "test_mod.yaml"
    path.write_text(header + "test_a:\n  references:\n    output: x\n")
    found = header.split(": ")[-1].strip()
    with pytest.raises(SnapshotError) as raised:
        read_snapshot_file(path)
    assert str(raised.value) == (
        f"{path} was written by a newer pytest-llmops (snapshot format {found}; this version reads 1-2): "
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


def test_a_format_1_file_reads_as_the_same_entries_format_2_writes(tmp_path: Path) -> None:
    path = tmp_path / "test_mod.yaml"
    path.write_text(
        "# snapshot format: 1\n"
        "test_a:\n  prompts:\n    p:\n      hash: h\n      text: Say a\n      version: '1'\n"
        "test_b:\n  prompts:\n    p:\n      hash: h\n      text: Say b\n      version: '1'\n"
        "  references:\n    output: b\n"
    )
    entries = read_snapshot_file(path)
    assert entries["test_b"] == TestSnapshot(
        prompts={"p": {"hash": "h", "version": "1", "text": "Say b"}}, references={"output": "b"}
    )
    assert snapshot_format(path) == 1
    write_atomic(path, dump_snapshot_file(entries, "test_mod.py"))
    assert snapshot_format(path) == 2
    assert read_snapshot_file(path) == entries
