"""The JSON report: the report dict as written, and its JSON Schema (``report.schema.json``).

Standard JSON has no NaN or Infinity: a non-finite number is written as the string ``"NaN"``,
``"Infinity"`` or ``"-Infinity"`` (see :mod:`~pytest_llmops._report.numbers`).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Mapping

from pytest_llmops._report.numbers import NON_FINITE, json_safe
from pytest_llmops._report.text import well_formed


def render_json(report: Mapping[str, Any]) -> str:
    """Stable, diff-friendly JSON: sorted keys, one top-level key a line and one test a line, a
    final newline; UTF-8 safe (a lone surrogate in any text is U+FFFD; control characters stay,
    as JSON escapes). Written by the C encoder: a report of 10,000 tests takes a fraction of what
    an indented one does."""
    try:
        text = _lines(report)
    except ValueError:  # a non-finite number, which standard JSON cannot hold: spell them all
        text = _lines(json_safe(report))
    return well_formed(text) + "\n"


_encode = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _lines(report: Mapping[str, Any]) -> str:
    """``report`` as compact JSON but for a line break before each top-level key and each test."""
    members = []
    for key in sorted(report):
        value = report[key]
        if key == "tests" and value:
            rows = ",\n".join(map(_encode, value))
            members.append(f"{_encode(key)}:[\n{rows}\n]")
        else:
            members.append(f"{_encode(key)}:{_encode(value)}")
    return "{\n" + ",\n".join(members) + "\n}"


def parse_report(text: str) -> tuple[Any, list[str]]:
    """A JSON report's data, and the bare ``NaN``/``Infinity`` literals it held (Python's
    ``json`` writes them; standard JSON has none); those come back spelled as strings."""
    literals: list[str] = []

    def constant(name: str) -> float:
        literals.append(name)
        return NON_FINITE[name]

    return json_safe(json.loads(text, parse_constant=constant)), literals


@functools.cache
def schema(name: str = "report") -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the report, or of the ``review`` file."""
    text = resources.files("pytest_llmops._report").joinpath(f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def validate(report: Mapping[str, Any], name: str = "report") -> str | None:
    """``None`` when ``report`` matches the schema ``name``, else the first problem and where it is."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema(name)).iter_errors(report))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"at {where}: {error.message}"
