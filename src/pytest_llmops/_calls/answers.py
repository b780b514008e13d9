"""A backend's answer checked field by field before anything uses or records it."""

from __future__ import annotations

import math

from pytest_llmops._models.base import Generation
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
    for field in ("ttft_s", "decode_s"):
        value = getattr(generation, field)
        if value is not None and not (_is_number(value) and math.isfinite(value) and value >= 0):
            problems.append(f"{field} is {_shown(value)}, not seconds")
    if problems:
        raise ModelCallError(f"{spec}: unusable answer: {'; '.join(problems)}")
    return generation


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(value: object, most: int = 60) -> str:
    """A short one-line ``repr`` of a server's value (it may be long or span lines)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= most else text[: most - 3] + "..."
