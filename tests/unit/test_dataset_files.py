"""Case files read into rows: JSONL, CSV and YAML agree; a bad row is its own BadRow, a bad file an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmops._datasets import BadRow, CaseRow, Dataset, DatasetError, load_cases


def _load(tmp_path: Path, name: str, text: str, **options: str) -> list:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_cases(Dataset(path, name, **options))


SAME_CASES = {
    "cases.jsonl": (
        '{"id": "order", "question": "Where is my order?", "expected": "order"}\n'
        "\n"
        '{"id": 7, "question": "Refund?", "expected": "refund"}\n'
    ),
    "cases.csv": "id,question,expected\norder,Where is my order?,order\n\n7,Refund?,refund\n",
    "cases.yaml": (
        "- id: order\n  question: Where is my order?\n  expected: order\n"
        "\n"
        "- id: 7\n  question: Refund?\n  expected: refund\n"
    ),
}


@pytest.mark.parametrize("name", sorted(SAME_CASES))
def test_every_format_gives_the_same_rows(tmp_path: Path, name: str) -> None:
    rows = _load(tmp_path, name, SAME_CASES[name], prompt="reply")
    assert [(r.id, dict(r.inputs), r.expected) for r in rows] == [
        ("order", {"question": "Where is my order?"}, "order"),
        ("7", {"question": "Refund?"}, "refund"),
    ]
    first_lines = {"cases.jsonl": [1, 3], "cases.csv": [2, 4], "cases.yaml": [1, 5]}[name]
    assert [r.line for r in rows] == first_lines
    assert rows[1].source == f"{name}:{first_lines[1]}"


def test_column_names_are_chosen_by_the_marker(tmp_path: Path) -> None:
    rows = _load(
        tmp_path,
        "c.jsonl",
        '{"key": "a", "q": [{"role": "user", "content": "hi"}], "gold": "hi"}\n',
        id="key",
        input="q",
        expected="gold",
    )
    assert (rows[0].id, rows[0].expected) == ("a", "hi")
    assert rows[0].inputs == {"q": [{"role": "user", "content": "hi"}]}


def test_csv_line_of_a_case_after_a_multiline_field(tmp_path: Path) -> None:
    rows = _load(tmp_path, "c.csv", 'id,input\na,"two\nlines"\nb,x\nc,\n')
    assert [(r.id, r.line) for r in rows] == [("a", 2), ("b", 4), ("c", 5)]
    assert rows[0].inputs["input"] == "two\nlines"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "c.jsonl",
            '{"id": "a", "input": "x"}\n{"id": "b" "input": "y"}\n',
            "c.jsonl:2: not valid JSON (Expecting ',' delimiter, column 12)",
        ),
        (
            "c.jsonl",
            '{"id": "a", "input": "x"}\n["b", "y"]\n',
            "c.jsonl:2: a case must be a mapping of column to value, got list",
        ),
        (
            "c.jsonl",
            '{"id": "a", "input": "x"}\n{"name": "b", "input": "y"}\n',
            "c.jsonl:2: no 'id' column (the case's id)",
        ),
        (
            "c.jsonl",
            '{"id": "a", "input": "x"}\n{"id": " ", "input": "y"}\n',
            "c.jsonl:2: id ' ' cannot name a test: it is empty",
        ),
        (
            "c.jsonl",
            '{"id": "a", "input": "x"}\n{"id": 1.5, "input": "y"}\n',
            "c.jsonl:2: id 1.5 is a float: an id is a string or an integer",
        ),
        (
            "c.jsonl",
            '{"id": "a", "input": "x"}\n\n{"id": "a", "input": "y"}\n',
            "c.jsonl:3: duplicate id 'a' (first on line 1)",
        ),
        (
            "c.jsonl",
            '{"id": "a", "input": "x"}\n{"id": "b", "question": "y"}\n',
            "c.jsonl:2: no 'input' column (the prompt, as no prompt template is named)",
        ),
        ("c.csv", "id,input\na,x\nb\n", "c.csv:3: no value for column(s) input"),
        ("c.csv", "id,input\na,x\nb,y,extra\n", "c.csv:3: more fields than the header has columns"),
        (
            "c.yaml",
            "- id: a\n  input: x\n- just text\n",
            "c.yaml:3: a case must be a mapping of column to value, got str",
        ),
    ],
)
def test_a_bad_row_is_a_bad_row_named_by_its_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    good, bad = _load(tmp_path, name, text)
    assert isinstance(good, CaseRow) and good.id == "a"
    assert isinstance(bad, BadRow)
    assert bad.message == message
    assert bad.id == f"line-{message.split(':')[1]}"


def test_rows_around_bad_ones_are_read_in_file_order(tmp_path: Path) -> None:
    rows = _load(
        tmp_path,
        "c.jsonl",
        (
            '{"id": "a", "input": "x"}\n'
            '{"id": "b" "input": "y"}\n'
            '{"id": "a", "input": "again"}\n'
            '{"id": "c"}\n'
            '{"id": "d", "input": "z"}\n'
        ),
    )
    assert [(type(row).__name__, row.id, row.line) for row in rows] == [
        ("CaseRow", "a", 1),
        ("BadRow", "line-2", 2),
        ("BadRow", "line-3", 3),
        ("BadRow", "line-4", 4),
        ("CaseRow", "d", 5),
    ]


def test_a_file_of_bad_rows_only_still_gives_each_its_row(tmp_path: Path) -> None:
    rows = _load(tmp_path, "c.csv", "id,input\na\nb,x,y\n")
    assert [(row.id, row.message) for row in rows if isinstance(row, BadRow)] == [
        ("line-2", "c.csv:2: no value for column(s) input"),
        ("line-3", "c.csv:3: more fields than the header has columns"),
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.jsonl", "\n\n", "c.jsonl: no cases"),
        ("c.csv", "", "c.csv: no cases"),
        ("c.csv", 'id,input\na,"x"y\n', "c.csv:2: not valid CSV (',' expected after '\"')"),
        ("c.yaml", "id: a\ninput: x\n", "c.yaml: expected a list of cases (one mapping each) at the top level"),
        ("c.yaml", "- id: a\n  input: [x\n", "c.yaml:3: not valid YAML (expected ',' or ']', but got '<stream end>')"),
        ("c.txt", "id,input\n", "c.txt: unknown case file type '.txt'; expected one of .jsonl, .csv, .yaml, .yml"),
    ],
)
def test_a_file_unreadable_as_a_whole_names_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(DatasetError) as error:
        _load(tmp_path, name, text)
    assert str(error.value) == message


def test_a_file_in_another_encoding_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes('{"id": "é", "input": "x"}\n'.encode("latin-1"))
    with pytest.raises(DatasetError, match=r"^cannot read case file c\.jsonl: 'utf-8' codec can't decode"):
        load_cases(Dataset(path, "c.jsonl"))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=f"no case file at {tmp_path / 'nope.jsonl'}$"):
        load_cases(Dataset(tmp_path / "nope.jsonl", "nope.jsonl"))
