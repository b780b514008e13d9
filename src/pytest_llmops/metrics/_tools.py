"""Tool-call metrics: the right tool called, its arguments, a run's trajectory, F1 over calls.

Each takes the run's tool calls (the ``tool_calls`` input: ``golden.check(completion)`` passes
the completion's) and what was expected, as an option or as the reference (a dataset row's
``expected``: a tool name for ``tool_called``, JSON for the others). An expected call is a tool
name, or ``{"name": ..., "arguments": {...}}`` whose arguments must be found in the call's
(a partial match: keys not named are not checked). A call whose arguments are not valid JSON
matches no expected arguments, and every metric names it in its details.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from pytest_llmops._models.tools import ToolCall, json_path, standard_json
from pytest_llmops.metrics._base import Measurement, MetricError

MODES = ("exact", "in_order", "any_order")
_MISSING = object()


def tool_called(
    output: str, reference: str | None, *, tool_calls: Sequence[ToolCall], tool: str | None = None
) -> Measurement:
    """1 when the tool named ``tool`` (default: the reference) was called."""
    wanted = tool if tool is not None else (reference or "").strip()
    if not wanted:
        raise MetricError("metric 'tool_called' needs the tool's name: option tool= or the reference")
    called = [call.name for call in tool_calls]
    return Measurement(float(wanted in called), _details(tool_calls, called=called))


def tool_args(
    output: str,
    reference: str | None,
    *,
    tool_calls: Sequence[ToolCall],
    tool: str | None = None,
    schema: Any = None,
    expected: Mapping[str, Any] | None = None,
    unordered: bool = False,
) -> Measurement:
    """The share of checks the arguments of the first call of ``tool`` (default: the first call) pass:
    valid against ``schema`` (one check), and each key of ``expected`` (default: the reference,
    a JSON object) found with its value (a partial match; lists in any order with ``unordered``)."""
    if expected is None and reference is not None and reference.strip():
        expected = _reference_json(reference, "tool_args", Mapping, "a JSON object of expected arguments")
    if schema is None and expected is None:
        raise MetricError("metric 'tool_args' needs schema= or expected arguments (expected= or the reference)")
    call = next((c for c in tool_calls if tool is None or c.name == tool), None)
    if call is None:
        return Measurement(0.0, _details(tool_calls, problem=f"no call of {tool!r}" if tool else "no tool was called"))
    if call.error is not None:
        return Measurement(0.0, _details(tool_calls, problem=f"{call.name}'s {call.error}"))
    details = _details(tool_calls)
    checks, failures = 0, 0
    if schema is not None:
        checks += 1
        violations = _violations(schema, call.arguments)
        if violations:
            failures += 1
            details["schema_errors"] = violations
    mismatched: dict[str, Any] = {}
    for key, want in (expected or {}).items():
        checks += 1
        got = call.arguments.get(key, _MISSING) if isinstance(call.arguments, Mapping) else _MISSING
        if got is _MISSING or not matches(want, got, unordered):
            mismatched[key] = {"expected": want, "got": "<missing>" if got is _MISSING else got}
    if mismatched:
        details["mismatched"] = mismatched
    return Measurement(1.0 - (failures + len(mismatched)) / checks, details)


def tool_trajectory(
    output: str,
    reference: str | None,
    *,
    tool_calls: Sequence[ToolCall],
    expected: Sequence[Any] | None = None,
    mode: str = "exact",
    unordered: bool = False,
) -> Measurement:
    """How much of the expected sequence of calls the run made: the share of expected calls
    matched, in ``mode``: ``exact`` (these calls, in this order, nothing else: a longer run
    scores by the longer length), ``in_order`` (in this order, other calls between them
    allowed) or ``any_order`` (all of them, in any order, others allowed)."""
    wanted = _expected_calls(expected, reference, "tool_trajectory")
    calls = list(tool_calls)
    if mode == "exact":
        matched = sum(1 for want, call in zip(wanted, calls) if call_matches(want, call, unordered))
        value = matched / max(len(wanted), len(calls)) if wanted or calls else 1.0
    elif mode == "in_order":
        matched, position = 0, 0
        for want in wanted:
            position = next((i + 1 for i in range(position, len(calls)) if call_matches(want, calls[i], unordered)), -1)
            if position < 0:
                break
            matched += 1
        value = matched / len(wanted) if wanted else 1.0
    else:
        matched = _most_matched(wanted, calls, unordered)
        value = matched / len(wanted) if wanted else 1.0
    details = _details(calls, expected=[_label(w) for w in wanted], called=[c.name for c in calls], mode=mode)
    return Measurement(value, details)


def tool_call_f1(
    output: str,
    reference: str | None,
    *,
    tool_calls: Sequence[ToolCall],
    expected: Sequence[Any] | None = None,
    unordered: bool = False,
) -> Measurement:
    """F1 of the calls made against the expected calls (each matched at most once, any order):
    precision is the share of calls that were expected, recall the share of expected calls made."""
    wanted = _expected_calls(expected, reference, "tool_call_f1")
    calls = list(tool_calls)
    matched = _most_matched(wanted, calls, unordered)
    precision = matched / len(calls) if calls else float(not wanted)
    recall = matched / len(wanted) if wanted else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    details = _details(calls, precision=precision, recall=recall, expected=[_label(w) for w in wanted])
    details["called"] = [c.name for c in calls]
    return Measurement(f1, details)


# -- matching -----------------------------------------------------------------------------


def matches(expected: Any, actual: Any, unordered: bool = False) -> bool:
    """Whether ``actual`` holds ``expected``: mappings partially (every expected key, matched),
    lists item by item (in any order with ``unordered``), other values equal (``True`` is not 1)."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and matches(value, actual[key], unordered) for key, value in expected.items()
        )
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return False
        if not unordered:
            return all(matches(e, a, unordered) for e, a in zip(expected, actual))
        return _most_matched_values(expected, actual, unordered) == len(expected)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual)


def call_matches(expected: Mapping[str, Any], call: ToolCall, unordered: bool = False) -> bool:
    """Whether ``call`` is the ``{"name", "arguments"?}`` call expected."""
    if call.name != expected["name"]:
        return False
    if "arguments" not in expected:
        return True
    return call.error is None and matches(expected["arguments"], call.arguments, unordered)


def _most_matched(wanted: Sequence[Mapping[str, Any]], calls: Sequence[ToolCall], unordered: bool) -> int:
    """The most expected calls matched to distinct calls (a bipartite matching: augmenting paths)."""
    return _matching(len(wanted), len(calls), lambda i, j: call_matches(wanted[i], calls[j], unordered))


def _most_matched_values(expected: Sequence[Any], actual: Sequence[Any], unordered: bool) -> int:
    return _matching(len(expected), len(actual), lambda i, j: matches(expected[i], actual[j], unordered))


def _matching(left: int, right: int, fits: Any) -> int:
    owner: list[int | None] = [None] * right

    def place(i: int, seen: set[int]) -> bool:
        for j in range(right):
            if j not in seen and fits(i, j):
                seen.add(j)
                taken = owner[j]
                if taken is None or place(taken, seen):
                    owner[j] = i
                    return True
        return False

    return sum(place(i, set()) for i in range(left))


# -- options and references -------------------------------------------------------------


def _expected_calls(expected: Sequence[Any] | None, reference: str | None, metric: str) -> list[dict[str, Any]]:
    if expected is None:
        if reference is None or not reference.strip():
            raise MetricError(f"metric {metric!r} needs the expected calls: expected= or the reference")
        expected = _reference_json(reference, metric, list, "a JSON list of expected calls")
    return [_expected_call(item, position, metric) for position, item in enumerate(expected, 1)]


def _expected_call(item: Any, position: int, metric: str) -> dict[str, Any]:
    """A tool name, or ``{"name": ..., "arguments": {...}}``, as the latter."""
    if isinstance(item, str) and item:
        return {"name": item}
    if isinstance(item, Mapping) and isinstance(item.get("name"), str) and set(item) <= {"name", "arguments"}:
        if "arguments" in item and not isinstance(item["arguments"], Mapping):
            raise MetricError(f"metric {metric!r}: expected call {position}'s arguments must be a mapping")
        return dict(item)
    raise MetricError(
        f'metric {metric!r}: expected call {position} must be a tool name or {{"name": ..., "arguments": {{...}}}}, '
        f"not {item!r}"
    )


def _reference_json(reference: str, metric: str, kind: type, what: str) -> Any:
    value, problem = standard_json(reference)
    if problem or not isinstance(value, kind):
        raise MetricError(f"metric {metric!r}: the reference must be {what}, not {reference[:80]!r}")
    return value


def check_expected_calls(options: Mapping[str, Any]) -> None:
    if options.get("mode", "exact") not in MODES:
        raise MetricError(f"option 'mode' must be one of {', '.join(MODES)}, not {options['mode']!r}")
    expected = options["expected"]
    if expected is not None:
        if isinstance(expected, (str, Mapping)) or not isinstance(expected, Sequence):
            raise MetricError(f"option 'expected' must be a list of calls, not {type(expected).__name__}")
        for position, item in enumerate(expected, 1):
            _expected_call(item, position, "expected")


def check_args_options(options: Mapping[str, Any]) -> None:
    check_tool(options)
    if options["expected"] is not None and not isinstance(options["expected"], Mapping):
        raise MetricError(f"option 'expected' must be a mapping of argument to value, not {options['expected']!r}")
    if options["schema"] is not None:
        from pytest_llmops.metrics._structured import check_schema

        check_schema(options)


def check_tool(options: Mapping[str, Any]) -> None:
    if options["tool"] is not None and (not isinstance(options["tool"], str) or not options["tool"]):
        raise MetricError(f"option 'tool' must be a tool's name, not {options['tool']!r}")


# -- details -----------------------------------------------------------------------------


def _details(calls: Sequence[ToolCall], **more: Any) -> dict[str, Any]:
    """What a reviewer needs: the figures, and each call whose arguments are not valid JSON."""
    details = dict(more)
    malformed = [call.describe() for call in calls if call.error is not None]
    if malformed:
        details["malformed"] = malformed
    return details


def _label(expected: Mapping[str, Any]) -> str:
    if "arguments" not in expected:
        return str(expected["name"])
    return ToolCall("", expected["name"], expected["arguments"]).describe()


def _violations(schema: Any, value: Any) -> list[str]:
    from jsonschema import validators

    errors = sorted(validators.validator_for(schema)(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    return [f"{json_path(e.absolute_path)}: {e.message}" for e in errors[:10]]
