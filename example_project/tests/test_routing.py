"""Routing labels: always valid JSON for the router, and the right intent or urgency per ticket."""

from __future__ import annotations

import json

import pytest
from support_app import INTENTS, LABEL_SCHEMA, URGENCIES, read_label

LABEL_METRICS = {
    "json_schema": {"schema": LABEL_SCHEMA},
    # The share of the two fields that match the label a person gave; 0.5: one of them.
    "json_equal": {"fields": ["intent", "urgency"], "threshold": 0.5},
}


@pytest.mark.llm_dataset("data/tickets.yaml", prompt="classify", expected="label")
@pytest.mark.golden(metrics=LABEL_METRICS)
def test_label_is_valid_and_routes_the_ticket(case, golden):
    label = read_label(case.text, case.inputs["ticket"])
    golden.check(json.dumps(label), reference=json.dumps(case.expected))


def test_the_classify_prompt_lists_every_label(prompt):
    text = prompt("classify", ticket="(any)").text
    assert all(intent in text for intent in INTENTS)
    assert all(urgency in text for urgency in URGENCIES)


# The app's own logic, without a model: plain pytest tests live in the same suite.


def test_a_valid_model_answer_is_used():
    answer = 'Sure! {"intent": "Billing", "urgency": "high"} Hope this helps.'
    assert read_label(answer, "anything") == {"intent": "billing", "urgency": "high", "source": "model"}


@pytest.mark.parametrize(
    "answer",
    [
        "The customer wants a refund.",
        '{"intent": "refund"',
        '{"intent": "free money", "urgency": "whenever"}',
        "",
    ],
)
def test_an_unusable_answer_falls_back_to_the_rules(answer):
    label = read_label(answer, "The blender arrived cracked, I want my money back.")
    assert label == {"intent": "refund", "urgency": "normal", "source": "rules"}


def test_a_partial_answer_is_completed_by_the_rules():
    label = read_label('{"intent": "account", "urgency": "soon"}', "Please sort it out today, it's urgent.")
    assert label == {"intent": "account", "urgency": "high", "source": "model+rules"}
