"""A customer-support assistant: ticket summaries, routing labels, reply drafts and order look-ups."""

from support_app.assistant import SupportAssistant, Ticket, Triage
from support_app.orders import LOOKUP_ORDER, ORDER_SYSTEM, lookup_order
from support_app.routing import INTENTS, LABEL_SCHEMA, URGENCIES, read_label

__all__ = [
    "INTENTS",
    "LABEL_SCHEMA",
    "LOOKUP_ORDER",
    "ORDER_SYSTEM",
    "URGENCIES",
    "SupportAssistant",
    "Ticket",
    "Triage",
    "lookup_order",
    "read_label",
]
