"""The customer-support assistant: summarise a ticket, label it for routing, draft a reply.

The assistant is given a model and a prompt renderer instead of creating them, so the same
code runs in production (an OpenAI client, the prompts folder) and under pytest (the
``llm`` and ``prompt`` fixtures of pytest-llmops, which record and replay every call).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from support_app.routing import read_label


class Model(Protocol):
    """Answers a rendered prompt; the answer has a ``.text`` (pytest-llmops' ``llm`` fits)."""

    def complete(self, prompt: Any) -> Any: ...


class Prompts(Protocol):
    """Renders a template of the prompts folder by name (pytest-llmops' ``prompt`` fits)."""

    def __call__(self, name: str, /, **variables: Any) -> Any: ...


@dataclass(frozen=True)
class Ticket:
    customer: str
    text: str


@dataclass(frozen=True)
class Triage:
    """Everything the agent sees for one ticket."""

    summary: str
    label: dict[str, str]
    reply: str


class SupportAssistant:
    def __init__(self, model: Model, prompts: Prompts) -> None:
        self.model = model
        self.prompts = prompts

    def summarise(self, ticket: Ticket) -> str:
        answer = self.model.complete(self.prompts("summarize", customer=ticket.customer, ticket=ticket.text))
        return clean_summary(answer.text)

    def classify(self, ticket: Ticket) -> dict[str, str]:
        """The routing label; always valid (see :mod:`support_app.routing`)."""
        answer = self.model.complete(self.prompts("classify", ticket=ticket.text))
        return read_label(answer.text, ticket.text)

    def draft_reply(self, ticket: Ticket) -> str:
        """A draft for the agent; a holding reply when the model's draft is unusable."""
        answer = self.model.complete(self.prompts("reply", customer=ticket.customer, ticket=ticket.text))
        return finish_reply(answer.text, ticket.customer)

    def triage(self, ticket: Ticket) -> Triage:
        return Triage(self.summarise(ticket), self.classify(ticket), self.draft_reply(ticket))


#: Drafts saying any of these are never shown to an agent (lower case, straight apostrophes).
UNUSABLE = (
    "unable to assist",
    "unable to help",
    "not able to help",
    "not equipped",
    "can't help",
    "cannot help",
    "sorry for your loss",
    "as a customer support agent",
    "as a customer-support agent",
    "as an ai",
)
HOLDING_REPLY = (
    "Hi {customer}, thank you for getting in touch. I'm looking into your request and "
    "will get back to you within one working day."
)


def finish_reply(answer: str, customer: str) -> str:
    """What the agent sees of the model's answer: cleaned, and guarded."""
    return guard_reply(clean_reply(answer), customer)


def guard_reply(draft: str, customer: str) -> str:
    """``draft`` greeting the customer by name; the holding reply when the draft refuses,
    deflects or is empty."""
    text = draft.lower().replace("\u2019", "'")
    if not text.strip() or any(phrase in text for phrase in UNUSABLE):
        return HOLDING_REPLY.format(customer=customer)
    first_line = draft.split("\n", 1)[0]
    return draft if customer in first_line else f"Hi {customer},\n\n{draft}"


def clean_summary(text: str) -> str:
    """The first paragraph of the answer, without a "Summary:" lead-in."""
    first = text.strip().split("\n\n", 1)[0].strip()
    for lead in ("Summary:", "**Summary:**", "Summary -"):
        if first.startswith(lead):
            first = first[len(lead) :].strip()
    return " ".join(first.split())


def clean_reply(text: str) -> str:
    """The reply without trailing whitespace or a cut-off last sentence."""
    text = text.strip()
    end = max(text.rfind(mark) for mark in (".", "!", "?"))
    return text[: end + 1] if end > len(text) // 2 else text
