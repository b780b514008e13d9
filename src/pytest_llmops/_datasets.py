"""Case files as tests: each row of a JSONL, CSV or YAML file becomes one pytest test.

``@pytest.mark.llm_dataset("cases/support.jsonl", prompt="reply")`` on a test that takes the
``case`` fixture parametrizes it with one :class:`CaseRow` per row, named by the row's id. The
model calls of all selected cases are made ahead of the tests, concurrently (see
:mod:`pytest_llmops._plugin.cases`).

A row that cannot be a case (unreadable, no id, a duplicate id...) is a :class:`BadRow`: its own
test, named ``line-N``, that errors at set-up; the file's other cases run. Only a file that
cannot be read as a whole is a :class:`DatasetError`.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from pytest_llmops._files import name_problem
from pytest_llmops._grounding import Chunk, Grounding, GroundingError
from pytest_llmops._models.conversation import ScriptedTurn, scripted_turns
from pytest_llmops.errors import SetupError

if TYPE_CHECKING:
    from pytest_llmops._models.base import Completion
    from pytest_llmops._models.conversation import Conversation

SUFFIXES = (".jsonl", ".csv", ".yaml", ".yml")


class DatasetError(SetupError, ValueError):
    """A case file that cannot be read as a whole; the message names the file (and line)."""


class RowProblem(ValueError):
    """Why one row cannot be a case; :func:`load_cases` makes it that row's :class:`BadRow`."""


@dataclass(frozen=True)
class Dataset:
    """Where the cases of a test come from and how a row becomes a prompt.

    ``prompt`` names a template rendered with the row's inputs; without one, the row's
    ``input`` column (a string or a list of chat messages) is the prompt. The optional
    ``context`` (retrieved chunks, also an input of the prompt) and ``relevant`` (labelled
    relevant ids) columns are checked as :mod:`pytest_llmops._grounding` reads them.
    """

    path: Path
    label: str  # the path as messages show it: relative to the rootdir when under it
    prompt: str | None = None
    input: str = "input"
    id: str = "id"
    expected: str = "expected"
    context: str = "context"
    relevant: str = "relevant"
    #: A conversation's scripted user turns, and its system turn (see :mod:`pytest_llmops._models.conversation`).
    turns: str = "turns"
    system: str = "system"


@dataclass(frozen=True, slots=True)  # one per test, kept for the whole run: no __dict__
class CaseRow:
    """One row of a case file, as collected: the value ``case`` is parametrized with."""

    dataset: Dataset
    id: str
    line: int
    inputs: Mapping[str, Any]
    expected: Any = None
    grounding: Grounding = Grounding()
    #: A conversation row's user turns (None: a one-call row).
    turns: tuple[ScriptedTurn, ...] | None = None

    @property
    def source(self) -> str:
        return f"{self.dataset.label}:{self.line}"

    def __repr__(self) -> str:
        return f"<case {self.id!r} at {self.source}>"


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that cannot be a case: its test, named by its line, errors at set-up with ``message``."""

    dataset: Dataset
    line: int
    problem: str

    @property
    def id(self) -> str:
        return f"line-{self.line}"  # the same on every xdist worker: no row content in it

    @property
    def message(self) -> str:
        return f"{self.dataset.label}:{self.line}: {self.problem}"

    def __repr__(self) -> str:
        return f"<bad row at {self.dataset.label}:{self.line}>"


@dataclass(frozen=True)
class Case:
    """What a dataset test receives: the row and the model's answer to it.

    ``output`` is the Completion (made concurrently with the other cases' calls; a conversation
    row's last reply, its turns in ``conversation``), ``inputs``
    the row's columns but the id, the expected and the relevant ones, ``expected`` that
    column's value; ``context`` the retrieved chunks and ``relevant`` the labelled relevant ids
    (id -> grade) of a row that has them, for ``golden.check(..., context=case.context,
    relevant=case.relevant)``.
    """

    id: str
    inputs: Mapping[str, Any]
    expected: Any
    output: Completion
    source: str
    grounding: Grounding = Grounding()
    #: The control's answer to this row, asked for when first read (A/B variants' tests only).
    answer_of_control: Callable[[], Completion] | None = field(default=None, repr=False, compare=False)
    #: A conversation row's conversation, every scripted turn played (``output`` is its last reply).
    conversation: Conversation | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        return self.output.text

    @property
    def context(self) -> tuple[Chunk, ...] | None:
        return self.grounding.context

    @property
    def relevant(self) -> Mapping[str, float] | None:
        return self.grounding.relevant

    @functools.cached_property
    def control(self) -> Completion | None:
        """In an A/B comparison, the control's answer to this row, for a variant's test (for a
        pairwise judge: ``judge.check(case.output, reference=case.control.text)``); None in the
        control's own test and in a run that compares no variants."""
        return None if self.answer_of_control is None else self.answer_of_control()


def load_cases(dataset: Dataset) -> list[CaseRow | BadRow]:
    """Read every row of ``dataset``'s file, checking ids and columns row by row."""
    path, shown = dataset.path, dataset.label
    if path.suffix.lower() not in SUFFIXES:
        raise DatasetError(f"{shown}: unknown case file type {path.suffix!r}; expected one of {', '.join(SUFFIXES)}")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's BOM is no column name
    except FileNotFoundError:
        raise DatasetError(f"no case file at {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"cannot read case file {shown}: {error}") from None
    # A reader yields (line, the row's values or the RowProblem that kept it from reading them),
    # and raises DatasetError when the file cannot be read as a whole.
    reader = {".jsonl": _jsonl_rows, ".csv": _csv_rows}.get(path.suffix.lower(), _yaml_rows)
    rows: list[CaseRow | BadRow] = []
    first_line: dict[str, int] = {}
    for line, values in reader(shown, text):
        try:
            row = _case_row(dataset, line, values, first_line)
        except (RowProblem, GroundingError) as problem:
            rows.append(BadRow(dataset, line, str(problem)))
            continue
        first_line[row.id] = line
        rows.append(row)
    if not rows:
        raise DatasetError(f"{shown}: no cases")
    return rows


def _case_row(dataset: Dataset, line: int, values: Any, first_line: Mapping[str, int]) -> CaseRow:
    """``values`` (a row as read, or why it could not be read) as a case; else a RowProblem."""
    if isinstance(values, RowProblem):
        raise values
    if not isinstance(values, dict):
        raise RowProblem(f"a case must be a mapping of column to value, got {type(values).__name__}")
    if dataset.id not in values:
        raise RowProblem(f"no {dataset.id!r} column (the case's id)")
    case_id = _case_id(values[dataset.id])
    if case_id in first_line:
        raise RowProblem(f"duplicate id {case_id!r} (first on line {first_line[case_id]})")
    turns = _turns(values, dataset)
    if dataset.prompt is None and turns is None and dataset.input not in values:
        raise RowProblem(f"no {dataset.input!r} column (the prompt, as no prompt template is named)")
    inputs = {k: v for k, v in values.items() if k not in (dataset.id, dataset.expected, dataset.relevant)}
    context = _cell(values, dataset.context)
    if context is not None:
        inputs[dataset.context] = context  # a template loops over the chunks, a CSV's too
    grounding = Grounding.of(context, _cell(values, dataset.relevant))
    return CaseRow(dataset, case_id, line, inputs, values.get(dataset.expected), grounding, turns)


def _turns(values: Mapping[str, Any], dataset: Dataset) -> tuple[ScriptedTurn, ...] | None:
    """A conversation row's turns (None without the column); a RowProblem says what is wrong."""
    cell = values.get(dataset.turns)
    if cell is None:
        return None
    try:
        turns = scripted_turns(json.loads(cell) if isinstance(cell, str) else cell)  # a CSV cell holds JSON
    except ValueError as error:
        problem = error if not isinstance(cell, str) else f"a list of user turns (as JSON in a CSV cell), not {cell!r}"
        raise RowProblem(f"column {dataset.turns!r}: {problem}") from None
    system = values.get(dataset.system)
    if system is not None and not isinstance(system, str):
        raise RowProblem(f"column {dataset.system!r} (the conversation's system turn) must be text")
    return turns


def _cell(values: Mapping[str, Any], column: str) -> Any:
    """A grounding column's value: a string (a CSV cell) is read as JSON; a bad one is a RowProblem."""
    value = values.get(column)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except ValueError:
            raise RowProblem(
                f'column {column!r} must hold a JSON list (e.g. ["doc-1", "doc-3"]), not {value!r}'
            ) from None
    return value


def _case_id(value: Any) -> str:
    """A row's id as its test's id: a string or an integer that can name a test and a file."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowProblem(f"id {value!r} is a {type(value).__name__}: an id is a string or an integer")
    case_id = str(value).strip()
    problem = name_problem(case_id)
    if problem is not None:
        raise RowProblem(f"id {value!r} cannot name a test: it {problem}")
    return case_id


def _jsonl_rows(shown: str, text: str) -> Iterator[tuple[int, Any]]:
    for line, content in enumerate(text.split("\n"), start=1):  # JSON text may hold U+2028
        if not content.strip():
            continue
        try:
            values = json.loads(content)
        except json.JSONDecodeError as error:
            values = RowProblem(f"not valid JSON ({error.msg}, column {error.colno})")
        except ValueError as error:  # a number too long to read
            values = RowProblem(f"unreadable value ({error})")
        yield line, values


def _csv_rows(shown: str, text: str) -> Iterator[tuple[int, Any]]:
    lines = list(io.StringIO(text, newline=""))  # split as csv does: on \n, \r\n and \r only
    reader = csv.DictReader(lines, strict=True)
    try:
        if reader.fieldnames is None:  # reading the header; an empty file has none
            return
        end = reader.line_num
        for values in reader:
            # The first line of this record: csv skips empty lines before it.
            start = next(n for n in range(end + 1, reader.line_num + 1) if lines[n - 1].strip("\r\n"))
            end = reader.line_num
            yield start, _csv_problem(values) or values
    except csv.Error as error:
        # DictReader counts a record's lines once it is read: its inner reader's count has the bad one.
        raise DatasetError(f"{shown}:{reader.reader.line_num}: not valid CSV ({error})") from None


def _csv_problem(values: dict[str | None, Any]) -> RowProblem | None:
    """Why a CSV record does not fit its header (csv keys extra fields None, gives missing ones None)."""
    if None in values:
        return RowProblem("more fields than the header has columns")
    missing = [str(column) for column, value in values.items() if value is None]
    return RowProblem(f"no value for column(s) {', '.join(missing)}") if missing else None


def _yaml_rows(shown: str, text: str) -> Iterator[tuple[int, Any]]:
    import yaml

    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
        values = yaml.safe_load(text)
    except ValueError as error:  # a number too long to read
        raise DatasetError(f"{shown}: unreadable value ({error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or error
        raise DatasetError(f"{shown}{line}: not valid YAML ({problem})") from None
    if not isinstance(document, yaml.SequenceNode) or not isinstance(values, list):
        raise DatasetError(f"{shown}: expected a list of cases (one mapping each) at the top level")
    for node, row in zip(document.value, values):
        yield node.start_mark.line + 1, row
