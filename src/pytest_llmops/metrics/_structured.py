"""JSON metrics: valid JSON, valid against a JSON Schema (jsonschema), equal in chosen fields."""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from jsonschema import exceptions as schema_exceptions
from jsonschema import validators

from pytest_llmops._models.tools import standard_json
from pytest_llmops.metrics._base import Measurement, MetricError

#: Most schema violations kept in a score's details.
MAX_ERRORS = 10

_FENCE = re.compile(r"\A\s*```[a-zA-Z0-9_-]*\s*\n(.*?)\n?```\s*\Z", re.DOTALL)
_MISSING = object()


def parse(text: str, allow_fence: bool) -> tuple[Any, str | None]:
    """The JSON value of ``text`` and None, or None and why it is not standard JSON."""
    if allow_fence:
        fenced = _FENCE.match(text)
        text = fenced.group(1) if fenced else text
    return standard_json(text)


def json_valid(output: str, reference: str | None, *, allow_fence: bool = False) -> Measurement:
    _, problem = parse(output, allow_fence)
    return Measurement(float(problem is None), {"error": problem} if problem else {})


def json_schema(output: str, reference: str | None, *, schema: Any, allow_fence: bool = False) -> Measurement:
    """1.0 when the output is JSON valid against ``schema``; the violations otherwise."""
    value, problem = parse(output, allow_fence)
    if problem:
        return Measurement(0.0, {"error": problem})
    validator = validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    details = [f"{_path(e.absolute_path)}: {e.message}" for e in errors[:MAX_ERRORS]]
    return Measurement(float(not errors), {"errors": details} if errors else {})


def check_schema(options: Mapping[str, Any]) -> None:
    schema = options["schema"]
    if not isinstance(schema, (Mapping, bool)):
        raise MetricError(f"option 'schema' must be a JSON Schema (a dict), not {type(schema).__name__}")
    try:
        validators.validator_for(schema).check_schema(schema)
    except schema_exceptions.SchemaError as error:
        raise MetricError(f"option 'schema' is not a valid JSON Schema: {error.message}") from None


def json_equal(
    output: str, reference: str | None, *, fields: Sequence[str] | None = None, allow_fence: bool = False
) -> Measurement:
    """The share of ``fields`` (dotted paths, e.g. ``items.0.name``; default: the whole
    document) whose values in the output equal the reference's."""
    expected, problem = parse(reference or "", allow_fence=True)
    if problem:
        raise MetricError(f"the reference is {problem}")
    actual, problem = parse(output, allow_fence)
    if problem:
        return Measurement(0.0, {"error": problem})
    paths = list(fields) if fields is not None else [""]
    mismatched = {}
    for path in paths:
        got, want = _lookup(actual, path), _lookup(expected, path)
        if got is _MISSING or got != want:
            mismatched[path or "$"] = {"output": _shown(got), "reference": _shown(want)}
    return Measurement(1.0 - len(mismatched) / len(paths), {"mismatched": mismatched} if mismatched else {})


def check_fields(options: Mapping[str, Any]) -> None:
    fields = options["fields"]
    if fields is None:
        return
    if (
        isinstance(fields, str)
        or not isinstance(fields, Sequence)
        or not fields
        or not all(isinstance(f, str) for f in fields)
    ):
        raise MetricError(f"option 'fields' must be a non-empty list of dotted paths, not {fields!r}")


def _lookup(value: Any, path: str) -> Any:
    for key in path.split(".") if path else ():
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.lstrip("-").isdigit() and -len(value) <= int(key) < len(value):
            value = value[int(key)]
        else:
            return _MISSING
    return value


def _shown(value: Any) -> Any:
    return "<missing>" if value is _MISSING else value


def _path(parts: Sequence[Any]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
