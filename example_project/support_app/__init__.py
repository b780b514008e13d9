"""A customer-support assistant: ticket summaries, routing labels and reply drafts."""

from support_app.assistant import SupportAssistant, Ticket, Triage
from support_app.routing import INTENTS, LABEL_SCHEMA, URGENCIES, read_label

__all__ = ["INTENTS", "LABEL_SCHEMA", "URGENCIES", "SupportAssistant", "Ticket", "Triage", "read_label"]
