"""Writing one value back into a case file: a row's column, the rest of the file as it was.

Applying a review writes an accepted output into the row its reference came from. Only that
value's text changes: a JSONL row is written again on its line, a CSV record in its lines, and a
YAML value is replaced in place by a double-quoted scalar (comments, order and the other rows'
formatting stay). :class:`DatasetError` says why a row cannot be written.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pytest_llmops._datasets import DatasetError
from pytest_llmops._files import write_atomic


def write_value(path: Path, line: int, column: str, value: str) -> None:
    """Set ``column`` of the row that starts on ``line`` of ``path`` to ``value``."""
    edit = {".jsonl": _jsonl, ".csv": _csv, ".yaml": _yaml, ".yml": _yaml}.get(path.suffix.lower())
    if edit is None:
        raise DatasetError(f"{path}: cannot write a {path.suffix} case file")
    try:
        text = path.read_bytes().decode("utf-8")  # line ends as they are
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"cannot read case file {path}: {error}") from None
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    write_atomic(path, bom + edit(text[len(bom) :], line, column, value, f"{path}:{line}"))


def _jsonl(text: str, line: int, column: str, value: str, where: str) -> str:
    lines = text.split("\n")
    try:
        row = json.loads(lines[line - 1])
    except (IndexError, ValueError):
        raise DatasetError(f"{where}: no JSON row there any more") from None
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: the row is not a mapping")
    row[column] = value
    lines[line - 1] = json.dumps(row, ensure_ascii=False) + ("\r" if lines[line - 1].endswith("\r") else "")
    return "\n".join(lines)


def _csv(text: str, line: int, column: str, value: str, where: str) -> str:
    lines = list(io.StringIO(text, newline=""))
    reader = csv.DictReader(lines, strict=True)
    if reader.fieldnames is None or column not in reader.fieldnames:
        raise DatasetError(f"{where}: the file has no {column!r} column to write")
    end = reader.line_num
    for row in reader:
        start = next(n for n in range(end + 1, reader.line_num + 1) if lines[n - 1].strip("\r\n"))
        end = reader.line_num
        if start == line:
            row[column] = value
            ending = "\r\n" if lines[end - 1].endswith("\r\n") else "\n"
            record = io.StringIO()
            csv.DictWriter(record, reader.fieldnames, lineterminator=ending).writerow(row)
            return "".join([*lines[: start - 1], record.getvalue(), *lines[end:]])
    raise DatasetError(f"{where}: no CSV record starts there any more")


def _yaml(text: str, line: int, column: str, value: str, where: str) -> str:
    import yaml

    document = yaml.compose(text, Loader=yaml.SafeLoader)
    rows = document.value if isinstance(document, yaml.SequenceNode) else []
    row = next((node for node in rows if node.start_mark.line + 1 == line), None)
    if not isinstance(row, yaml.MappingNode):
        raise DatasetError(f"{where}: no YAML row starts there any more")
    found = next((v for k, v in row.value if isinstance(k, yaml.ScalarNode) and k.value == column), None)
    if not isinstance(found, yaml.ScalarNode):
        raise DatasetError(f"{where}: the row has no {column!r} value to write")
    start, end = found.start_mark.index, found.end_mark.index
    old = text[start:end]
    trailing = old[len(old.rstrip("\n")) :] if found.style in ("|", ">") else ""
    return text[:start] + json.dumps(value, ensure_ascii=False) + trailing + text[end:]
