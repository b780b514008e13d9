"""Why a replayed call found no recording: what differs between the call made and the nearest
recording of the same test.

A recording's key is ``{"backend": {...}, "request": {"settings": {...}, "messages" | "prompt"},
"sample": n}``. The nearest recorded key is the one with the fewest differences (a changed
setting or backend field counts one, changed text counts by how much of it changed); its
differences are named: a word diff of the messages or prompt, each setting and backend field
that changed (``temperature 0.0 -> 0.5``), or the sample number when the same call was made
more often than it was recorded. Everything shown is redacted.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Mapping, Sequence

from pytest_llmops._redact import redact, redact_data
from pytest_llmops._textdiff import shorten, word_diff

NEVER_RECORDED = "this test has never been recorded"
#: The widest a diff or value is shown.
_WIDTH = 200


def explain(call: Mapping[str, Any], recorded: Sequence[Mapping[str, Any]]) -> list[str]:
    """Lines saying how the key ``call`` differs from the nearest of the ``recorded`` keys of
    the same test (``[NEVER_RECORDED]`` when there are none)."""
    if not recorded:
        return [NEVER_RECORDED]
    call = redact_data(dict(call))  # recorded keys were redacted when written
    nearest = min(recorded, key=lambda key: _distance(call, key))
    return [redact(line) for line in differences(nearest, call)]


def differences(recorded: Mapping[str, Any], call: Mapping[str, Any]) -> list[str]:
    """What changed from the key ``recorded`` to the key ``call``, one line per change."""
    lines = [f"{name} {_shown(old)} -> {_shown(new)}" for name, old, new in _changed_fields(recorded, call)]
    old_text, new_text = _text(recorded), _text(call)
    if old_text != new_text:
        lines.insert(0, f"{_text_kind(call)}: {shorten(word_diff(old_text, new_text), _WIDTH)}")
    if not lines and recorded.get("sample") != call.get("sample"):
        lines.append(
            f"this identical call is made more often in this test than it was recorded "
            f"(this is call {_count(call) + 1})"
        )
    return lines or ["the recording's key is the same; its file is missing"]


def _changed_fields(recorded: Mapping[str, Any], call: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """The settings, then the backend fields (model, server URL, ...), whose values differ; in a
    setting of JSON data (tools, a response format), the leaves that differ
    (``tools[0].function.description``)."""
    changed: list[tuple[str, Any, Any]] = []
    for section in (("request", "settings"), ("backend",)):
        old, new = _section(recorded, section), _section(call, section)
        for name in sorted(old.keys() | new.keys()):
            if old.get(name) != new.get(name):
                changed += _leaves(name, old.get(name), new.get(name))
    return changed


def _leaves(path: str, old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """Where ``old`` and ``new`` differ, down to the first values that are not both mappings
    (or lists of one length)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return [
            change
            for key in sorted(old.keys() | new.keys())
            if old.get(key) != new.get(key)
            for change in _leaves(f"{path}.{key}", old.get(key), new.get(key))
        ]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [change for i, (a, b) in enumerate(zip(old, new)) if a != b for change in _leaves(f"{path}[{i}]", a, b)]
    return [(path, old, new)]


def _distance(call: Mapping[str, Any], recorded: Mapping[str, Any]) -> float:
    old, new = _text(recorded).split(), _text(call).split()
    text_change = 1.0 - difflib.SequenceMatcher(a=old, b=new, autojunk=False).ratio() if old != new else 0.0
    sample_change = 0.1 if recorded.get("sample") != call.get("sample") else 0.0
    return len(_changed_fields(recorded, call)) + text_change + sample_change


def _section(key: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
    value: Any = key
    for name in path:
        value = value.get(name) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _text(key: Mapping[str, Any]) -> str:
    """The call's input as one text: its prompt, or its messages as ``role: content`` lines."""
    request = _section(key, ("request",))
    if request.get("prompt") is not None:
        return str(request["prompt"])
    messages = request.get("messages") or []
    return "\n".join(f"{m.get('role')}: {m.get('content')}{_calls(m)}" for m in messages if isinstance(m, Mapping))


def _calls(message: Mapping[str, Any]) -> str:
    """An assistant turn's tool calls as ``name(arguments)`` after its content."""
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return ""
    return "".join(
        f" {c.get('name')}({json.dumps(c.get('arguments'), ensure_ascii=False)})"
        for c in calls
        if isinstance(c, Mapping)
    )


def _text_kind(key: Mapping[str, Any]) -> str:
    return "prompt" if _section(key, ("request",)).get("prompt") is not None else "messages"


def _count(key: Mapping[str, Any]) -> int:
    sample = key.get("sample")
    return sample if isinstance(sample, int) else 0


def _shown(value: Any) -> str:
    """A setting's or field's value as JSON writes it (``0.5``, ``"gpt-4o"``, ``null``)."""
    return shorten(json.dumps(value, ensure_ascii=False), _WIDTH // 2)
