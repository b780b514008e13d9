"""The refusal metrics against a labelled set (``data/refusals.yaml``): precision and recall."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_llmops.metrics import MetricRegistry

LABELLED = yaml.safe_load((Path(__file__).parent / "data" / "refusals.yaml").read_text(encoding="utf-8"))
REFUSALS: list[str] = LABELLED["refusals"]
ANSWERS: list[str] = LABELLED["answers"]


@pytest.fixture(scope="module")
def registry() -> MetricRegistry:
    return MetricRegistry.builtin()


def test_the_labelled_set_is_large_and_distinct() -> None:
    assert len(REFUSALS) >= 60 and len(ANSWERS) >= 60
    assert len(set(REFUSALS)) == len(REFUSALS) and len(set(ANSWERS)) == len(ANSWERS)
    assert not set(REFUSALS) & set(ANSWERS)


def test_refusal_precision_and_recall(registry: MetricRegistry) -> None:
    check = registry.check("refusal")
    flagged_refusals = [text for text in REFUSALS if check.measure(text, None).value == 1.0]
    false_alarms = [text for text in ANSWERS if check.measure(text, None).value == 1.0]
    precision = len(flagged_refusals) / (len(flagged_refusals) + len(false_alarms))
    recall = len(flagged_refusals) / len(REFUSALS)
    missed = sorted(set(REFUSALS) - set(flagged_refusals))
    assert precision >= 0.95, f"precision {precision:.3f}; answers taken for refusals: {false_alarms}"
    assert recall >= 0.95, f"recall {recall:.3f}; refusals missed: {missed}"


@pytest.mark.parametrize("text", REFUSALS[:6] + ANSWERS[:6])
def test_no_refusal_is_the_opposite_of_refusal(registry: MetricRegistry, text: str) -> None:
    assert (
        registry.check("no_refusal").measure(text, None).value
        == 1.0 - registry.check("refusal").measure(text, None).value
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("I\u2019m sorry, but I can\u2019t help with that.", "sorry, but i can't"),
        ("Thanks! Sadly I CANNOT   write that for you.", "i cannot write"),
        ("As an AI language model, I cannot browse.", "as an ai language model"),
    ],
)
def test_details_quote_the_refusal(registry: MetricRegistry, text: str, shown: str) -> None:
    assert registry.check("no_refusal").measure(text, None).details == {"refusal": shown}


@pytest.mark.parametrize(
    "text",
    [
        'The bot replied "I cannot do that" and the test checks for it.',
        'Use this check:\n```python\nassert reply != "I can\'t help with that."\n```',
        "The log line `I cannot comply` comes from the parser.",
    ],
)
def test_quoted_and_code_text_is_not_the_model_refusing(registry: MetricRegistry, text: str) -> None:
    assert registry.check("no_refusal").measure(text, None).value == 1.0


def test_own_phrases_are_refusals_too(registry: MetricRegistry) -> None:
    check = registry.check("refusal", options={"phrases": ["Computer says no"]})
    assert check.measure("Well... computer   says NO.", None).details == {"refusal": "computer says no"}
