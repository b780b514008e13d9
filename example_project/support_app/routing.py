"""The routing label of a ticket: the model's JSON answer when it is usable, keyword rules otherwise.

Models do not always follow a format instruction (a small local one rarely does), so the app
never trusts the answer's shape: it reads the first JSON object in it, keeps the fields that
hold a known value, and fills the rest from keyword rules. The label it returns always matches
:data:`LABEL_SCHEMA`, whatever the model said.
"""

from __future__ import annotations

import json
import re
from typing import Any

INTENTS = ("shipping", "refund", "billing", "technical", "account", "cancellation")
URGENCIES = ("low", "normal", "high")

#: What :func:`read_label` returns, as a JSON Schema (the tests check every label against it).
LABEL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "intent": {"enum": list(INTENTS)},
        "urgency": {"enum": list(URGENCIES)},
        "source": {"enum": ["model", "rules", "model+rules"]},
    },
    "required": ["intent", "urgency", "source"],
    "additionalProperties": False,
}

# Words that point at an intent, matched at the start of a word. What the customer asks for
# counts 5, a strong word 3, a hint 1; the most points win, ties go to the earlier in _PRIORITY.
_ASKS: dict[str, tuple[str, ...]] = {
    "refund": ("refund", "money back", "store credit"),
    "cancellation": ("cancel",),
}
_STRONG: dict[str, tuple[str, ...]] = {
    "shipping": ("tracking", "parcel", "deliver", "ship to"),
    "refund": ("return",),
    "billing": ("charged", "invoice", "discount", "price"),
    "technical": ("crash", "error", "offline", "pair", "driver"),
    "account": ("password", "account", "personal data"),
    "cancellation": ("end my", "skip the next"),
}
_HINTS: dict[str, tuple[str, ...]] = {
    "shipping": ("address", "arrived", "box", "ship"),
    "refund": ("cracked", "damaged", "too small", "doesn't fit"),
    "billing": ("charge", "vat", "code", "statement", "fee"),
    "technical": ("app", "wifi", "bluetooth", "download", "browser"),
    "account": ("email address", "log in", "logged into"),
    "cancellation": ("subscription", "membership", "plan"),
}
_PRIORITY = ("cancellation", "refund", "account", "billing", "technical", "shipping")
_HIGH = (
    "sorted today",
    "tonight",
    "right now",
    "immediately",
    "asap",
    "urgent",
    "this week",
    "saturday",
    "can't get into",
    "crashes every time",
    "nothing arrived",
    "didn't make",
    "ridiculous",
    "before it ships",
)
_LOW = (
    "how do i",
    "any idea",
    "not in a hurry",
    "where can i",
    "should i",
    "can i still",
    "do you",
    "how long",
    "i'd like to change",
    "can you merge",
    "barely use",
    "too small",
)
_OBJECT = re.compile(r"\{[^{}]*\}")


def read_label(answer: str, ticket: str) -> dict[str, str]:
    """The label of ``ticket``: the model's ``answer`` where it is valid, the rules elsewhere."""
    said = _model_label(answer)
    intent = said.get("intent") or rule_intent(ticket)
    urgency = said.get("urgency") or rule_urgency(ticket)
    source = {2: "model", 0: "rules"}.get(len(said), "model+rules")
    return {"intent": intent, "urgency": urgency, "source": source}


def _model_label(answer: str) -> dict[str, str]:
    """The known values of the first JSON object in ``answer`` (``{}`` when there is none)."""
    for match in _OBJECT.finditer(answer):
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            found = {}
            if str(data.get("intent", "")).lower() in INTENTS:
                found["intent"] = str(data["intent"]).lower()
            if str(data.get("urgency", "")).lower() in URGENCIES:
                found["urgency"] = str(data["urgency"]).lower()
            return found
    return {}


def rule_intent(ticket: str) -> str:
    text = ticket.lower().replace("\u2019", "'")
    points = {
        intent: 5 * _count(text, _ASKS.get(intent, ()))
        + 3 * _count(text, _STRONG[intent])
        + _count(text, _HINTS[intent])
        for intent in INTENTS
    }
    return max(_PRIORITY, key=lambda intent: (points[intent], -_PRIORITY.index(intent)))


def _count(text: str, words: tuple[str, ...]) -> int:
    return sum(len(re.findall(r"\b" + re.escape(word), text)) for word in words)


def rule_urgency(ticket: str) -> str:
    text = ticket.lower().replace("\u2019", "'")
    if any(word in text for word in _HIGH):
        return "high"
    if any(word in text for word in _LOW):
        return "low"
    return "normal"
