"""Tool calls read back from an open model's text (the transformers backend).

Two forms are read: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (the
Hermes format Qwen2.5 and many fine-tunes write; a block cut off by ``max_tokens`` counts to the
end), and an output that is one JSON object ``{"name": ..., "arguments": {...}}`` (optionally in
a code fence) naming one of the tools offered. A block whose JSON is broken is still a call when
its tool's name can be read: its arguments are kept as written, with the error. Ids are
``call_1``, ``call_2``, ... in order, so a recording is the same each run.
"""

from __future__ import annotations

import re
from typing import Any, Collection, Mapping

from pytest_llmops._models.tools import ToolCall, standard_json

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.DOTALL)
_FENCE = re.compile(r"\A\s*```[a-zA-Z0-9_-]*\s*\n(.*?)\n?```\s*\Z", re.DOTALL)
_NAME = re.compile(r'"name"\s*:\s*"([A-Za-z0-9_-]{1,64})"')


def tool_calls_in(text: str, offered: Collection[str]) -> tuple[str, tuple[ToolCall, ...]]:
    """The text left once the tool calls are taken out, and the calls, in order."""
    calls: list[ToolCall] = []
    kept: list[str] = []
    at = 0
    for block in _BLOCK.finditer(text):
        call = _call(block.group(1), len(calls) + 1)
        if call is None:
            continue  # no tool's name in it: not a call, left in the text
        kept.append(text[at : block.start()])
        at = block.end()
        calls.append(call)
    if calls:
        kept.append(text[at:])
        return "".join(kept).strip(), tuple(calls)
    fenced = _FENCE.match(text)
    value, problem = standard_json(fenced.group(1) if fenced else text.strip())
    if problem is None and isinstance(value, Mapping) and value.get("name") in offered and _arguments_key(value):
        call = _from_value(value, 1)
        if call is not None:
            return "", (call,)
    return text, ()


def _call(body: str, number: int) -> ToolCall | None:
    value, problem = standard_json(body)
    if problem is None and isinstance(value, Mapping):
        return _from_value(value, number)
    name = _NAME.search(body)
    if name is None:
        return None
    return ToolCall(f"call_{number}", name.group(1), body, f"the tool call is {problem or 'not a JSON object'}")


def _arguments_key(value: Mapping[str, Any]) -> str | None:
    return next((key for key in ("arguments", "parameters") if key in value), None)


def _from_value(value: Mapping[str, Any], number: int) -> ToolCall | None:
    """A call of ``{"name": ..., "arguments" (or "parameters"): {...} or "<JSON text>"}``."""
    name = value.get("name")
    if not isinstance(name, str) or not name:
        return None
    key = _arguments_key(value)
    arguments = value.get(key, {}) if key else {}
    if isinstance(arguments, str):
        return ToolCall.parsed(f"call_{number}", name, arguments)
    return ToolCall(f"call_{number}", name, arguments)
