"""A backend's answer checked field by field before anything uses or records it."""

from __future__ import annotations

import math

from pytest_llmops._models.base import Generation
from pytest_llmops._models.tools import ToolCall
from pytest_llmops.errors import ModelCallError

#: No real call has more tokens than this: a larger count is a broken answer, not a cost.
MOST_TOKENS = 100_000_000


def check_generation(generation: object, spec: str) -> Generation:
    """``generation`` when every field has the type the plugin relies on; else a one-line ERROR."""
    if not isinstance(generation, Generation):
        raise ModelCallError(f"{spec}: the backend answered a {type(generation).__name__}, not a Generation")
    problems = []
    if not isinstance(generation.text, str):
        problems.append(f"text is a {type(generation.text).__name__}")
    for field in ("prompt_tokens", "completion_tokens"):
        value = getattr(generation, field)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MOST_TOKENS:
            problems.append(f"{field} is {_shown(value)}, not a count of tokens")
    if not isinstance(generation.model, str) or not generation.model:
        problems.append(f"model is {_shown(generation.model)}, not a name")
    if generation.finish_reason is not None and not isinstance(generation.finish_reason, str):
        problems.append(f"finish_reason is a {type(generation.finish_reason).__name__}")
    if generation.system_fingerprint is not None and not isinstance(generation.system_fingerprint, str):
        problems.append(f"system_fingerprint is {_shown(generation.system_fingerprint)}, not text")
    problems += _tool_call_problems(generation.tool_calls)
    for field in ("ttft_s", "decode_s"):
        value = getattr(generation, field)
        if value is not None and not (_is_number(value) and math.isfinite(value) and value >= 0):
            problems.append(f"{field} is {_shown(value)}, not seconds")
    if problems:
        raise ModelCallError(f"{spec}: unusable answer: {'; '.join(problems)}")
    return generation


def _tool_call_problems(calls: object) -> list[str]:
    """What makes the tool calls unusable: a call without an id or a function's name (arguments
    that are not valid JSON are the model's mistake, kept for the metrics to report)."""
    if not isinstance(calls, tuple):
        return [f"tool_calls is a {type(calls).__name__}, not a tuple"]
    problems = []
    for position, call in enumerate(calls, 1):
        if not isinstance(call, ToolCall):
            problems.append(f"tool call {position} is a {type(call).__name__}, not a ToolCall")
            continue
        if not isinstance(call.id, str) or not call.id:
            problems.append(f"tool call {position} has no id ({_shown(call.id)})")
        if not isinstance(call.name, str) or not call.name:
            problems.append(f"tool call {position} names no function ({_shown(call.name)})")
        if call.error is not None and not isinstance(call.error, str):
            problems.append(f"tool call {position}'s error is {_shown(call.error)}, not text")
    return problems


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(value: object, most: int = 60) -> str:
    """A short one-line ``repr`` of a server's value (it may be long or span lines)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= most else text[: most - 3] + "..."
