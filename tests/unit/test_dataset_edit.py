"""Writing an accepted output back into its case file: only that value changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_llmops._dataset_edit import write_value
from pytest_llmops._datasets import Dataset, DatasetError, load_cases


def rows(path: Path) -> dict[str, object]:
    return {row.id: row.expected for row in load_cases(Dataset(path, path.name))}


def test_a_jsonl_row_is_written_on_its_line_keeping_the_others_and_their_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_bytes(
        b'{"id": "a", "input": "x", "expected": "old"}\r\n\r\n{"id": "b", "input": "y",   "expected": "keep"}\r\n'
    )
    write_value(path, 1, "expected", 'new \u00e9 "quoted"')
    assert (
        path.read_bytes()
        == (
            '{"id": "a", "input": "x", "expected": "new \u00e9 \\"quoted\\""}\r\n\r\n'
            '{"id": "b", "input": "y",   "expected": "keep"}\r\n'
        ).encode()
    )
    assert rows(path) == {"a": 'new \u00e9 "quoted"', "b": "keep"}


def test_a_csv_record_over_several_lines_is_rewritten_in_place(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes(b'\xef\xbb\xbfid,input,expected\r\na,hi,"two\r\nlines"\r\nb,yo,keep\r\n')
    write_value(path, 2, "expected", "one, with a comma")
    assert path.read_bytes() == b'\xef\xbb\xbfid,input,expected\r\na,hi,"one, with a comma"\r\nb,yo,keep\r\n'
    assert rows(path) == {"a": "one, with a comma", "b": "keep"}


def test_a_yaml_value_is_replaced_in_place_comments_and_block_scalars_around_it_kept(tmp_path: Path) -> None:
    path = tmp_path / "cases.yaml"
    text = (
        "# the cases\n- id: a\n  expected: |\n    old\n    text\n  input: x  # why\n- id: b\n  expected: keep  # note\n"
    )
    path.write_text(text)
    write_value(path, 7, "expected", "b's")  # bottom up, as a review is applied: the lines above stay put
    write_value(path, 2, "expected", "new: a value with a colon")
    assert path.read_text() == text.replace("|\n    old\n    text\n", '"new: a value with a colon"\n').replace(
        "keep  # note", '"b\'s"  # note'
    )
    assert yaml.safe_load(path.read_text())[0] == {"id": "a", "expected": "new: a value with a colon", "input": "x"}


@pytest.mark.parametrize(
    ("name", "content", "line", "problem"),
    [
        ("cases.jsonl", '{"id": "a"}\n', 3, "no JSON row there any more"),
        ("cases.csv", "id,input\na,x\n", 2, "the file has no 'expected' column to write"),
        ("cases.yaml", "- id: a\n  input: x\n", 1, "the row has no 'expected' value to write"),
        ("cases.txt", "", 1, "cannot write a .txt case file"),
    ],
)
def test_a_row_that_cannot_be_written_says_why_and_leaves_the_file(
    tmp_path: Path, name: str, content: str, line: int, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetError, match=problem):
        write_value(path, line, "expected", "x")
    assert path.read_text() == content
