"""The one table of generation settings: each setting's check and what it accepts.

Every place a setting can be given uses it: ``@pytest.mark.llm``, a template's front matter,
a call's arguments (``llm.complete(..., temperature=0.2)``), the ini keys and flags
(``llm_temperature``), and the pipeline's last check of each request. A new setting joins
by adding one :class:`Rule` here (and its field to ``GenerationSettings``).

``None`` means "not set" at every site that takes keyword settings (the marker, a call, front
matter): the sites leave it out, and the value it would replace stays.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from pytest_llmops._models import tools
from pytest_llmops.errors import SetupError

#: The most tokens one completion may ask for: more than any model's context holds.
MOST_TOKENS = 1_000_000
#: The most alternatives per token a backend is asked for (OpenAI's limit).
MOST_TOP_LOGPROBS = 20
_SEED_BOUND = 2**63  # a 64-bit signed integer, as servers and torch take it


class GenerationSettingError(SetupError, ValueError):
    """A generation setting is unknown or has a value it cannot take; the message says where."""


def _number(low: float, high: float, *, above_low: bool = False) -> Callable[[Any], float]:
    """A check of finite numbers (not bools) in ``[low, high]`` (``(low, high]`` with ``above_low``)."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError
        if not math.isfinite(value) or not low <= value <= high or (above_low and value == low):
            raise ValueError
        return value

    return check


def _integer(low: int, high: int) -> Callable[[Any], int]:
    """A check of integers (not bools) in ``[low, high]``."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError
        return value

    return check


def _stop(value: Any) -> tuple[str, ...]:
    """One stop string or a list of them, each non-empty, as a tuple."""
    stops = (value,) if isinstance(value, str) else value
    if not isinstance(stops, (list, tuple)) or not all(isinstance(s, str) and s for s in stops):
        raise ValueError
    return tuple(stops)


def _flag(value: Any) -> bool:
    """A bool (not 0 or 1: ``stream=1`` is more likely a slip than a choice)."""
    if not isinstance(value, bool):
        raise ValueError
    return value


def switch(text: str) -> bool:
    """``on``/``off`` (also ``true``/``false``, ``yes``/``no``: a word, not a number), as an ini
    value or a flag spells a switch."""
    words = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}
    value = words.get(str(text).strip().lower())
    if value is None:
        raise ValueError(text)
    return value


@dataclass(frozen=True)
class Rule:
    """One setting: its check (the value as used, or ``ValueError``), what it accepts, and how
    an ini value or flag (text) reads as one."""

    name: str
    check: Callable[[Any], Any]
    accepted: str
    from_text: Callable[[str], Any]


RULES: Mapping[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("temperature", _number(0, 2), "a number from 0 to 2", float),
        Rule("max_tokens", _integer(1, MOST_TOKENS), f"an integer from 1 to {MOST_TOKENS}", int),
        Rule("top_p", _number(0, 1, above_low=True), "a number in (0, 1]", float),
        Rule("seed", _integer(-_SEED_BOUND, _SEED_BOUND - 1), "a 64-bit integer", int),
        Rule("stop", _stop, "a non-empty string or a list of them", str),
        Rule("top_logprobs", _integer(0, MOST_TOP_LOGPROBS), f"an integer from 0 to {MOST_TOP_LOGPROBS}", int),
        # Request inputs a model answers from, not sampling settings; they join the table so the
        # marker, front matter and calls take them alike, and the recording key holds them.
        Rule("tools", tools.check_tools, 'a list of {"type": "function", "function": {...}} tools', json.loads),
        Rule("tool_choice", tools.check_tool_choice, "auto, none, required or a function to call", json.loads),
        Rule("parallel_tool_calls", _flag, "true or false", switch),
        Rule("response_format", tools.check_response_format, "a text, json_object or json_schema format", json.loads),
        Rule("stream", _flag, "True or False (on or off in an ini value or flag)", switch),
    )
}
#: The settings a request leaves out of its key (and the server out of its call) when unset:
#: recordings made before they existed keep their names.
UNSET_LEFT_OUT = ("tools", "tool_choice", "parallel_tool_calls", "response_format")


def checked(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``values``, each checked and as used (``stop`` a tuple).

    :class:`GenerationSettingError` names ``where`` and every bad setting, with what it accepts.
    """
    unknown = sorted(str(name) for name in values if name not in RULES)
    if unknown:
        raise GenerationSettingError(
            f"{where}: unknown generation setting(s) {', '.join(unknown)}; known: {', '.join(RULES)}"
        )
    good: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in values.items():
        try:
            good[name] = RULES[name].check(value)
        except (ValueError, TypeError, OverflowError) as error:
            why = f": {error}" if isinstance(error, ValueError) and error.args else ""
            problems.append(f"{name}={value!r} (expected {RULES[name].accepted}){why}")
    if problems:
        raise GenerationSettingError(f"{where}: bad generation setting(s) {'; '.join(problems)}")
    return good


def consistent(values: Mapping[str, Any], where: str) -> None:
    """A request's settings, all checked, do not contradict one another (a ``tool_choice``
    naming a tool the call does not offer); :class:`GenerationSettingError` says where."""
    problem = tools.inconsistency(values)
    if problem:
        raise GenerationSettingError(f"{where}: {problem}")


def from_text(name: str, text: str) -> Any:
    """The value of setting ``name`` written as ``text`` (an ini value, a flag); ValueError if bad."""
    rule = RULES[name]
    return rule.check(rule.from_text(text.strip()))
