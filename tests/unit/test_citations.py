"""``citations``: citations point at retrieved chunks (by id or position), claims carry one."""

from __future__ import annotations

from typing import Callable

import pytest
from scaling import LINEAR_AT_MOST, growth

from pytest_llmops._grounding import Grounding, sentences
from pytest_llmops.metrics import MetricError, MetricRegistry

CONTEXT = Grounding.of([{"id": "doc-1", "text": "Refunds take 5 days."}, {"id": "doc-3", "text": "Shipping is free."}])


@pytest.fixture(scope="module")
def registry() -> MetricRegistry:
    return MetricRegistry.builtin()


def _measure(registry: MetricRegistry, text: str, **options: object):
    return registry.check("citations", options=options).measure(text, None, CONTEXT)


@pytest.mark.parametrize(
    "text",
    [
        "Refunds take five working days [doc-1]. Shipping is free on every order [doc-3].",
        "Refunds take five working days [1]. Shipping is free on every order [2].",  # by position
        "Refunds take five working days. [doc-1] Shipping is free on every order. [2]",  # after the stop
        "Refunds take five working days and shipping is free [doc-1, doc-3].",
        "Refunds take five working days [doc-1][doc-3].",
        "Thanks for asking! Refunds take five working days [1]. Anything else I can do?",  # short, a question
        "Here is what the policy says:\n- Refunds take five working days [1]\n- Shipping is free for everyone [2]",
        "",
    ],
)
def test_answers_citing_retrieved_chunks_pass(registry: MetricRegistry, text: str) -> None:
    measured = _measure(registry, text)
    assert measured.value == 1.0, measured.details
    assert measured.details["unknown"] == [] and measured.details["uncited"] == []


def test_a_citation_of_a_chunk_not_retrieved_fails_naming_it(registry: MetricRegistry) -> None:
    text = "Refunds take five working days [doc-1]. Shipping is free on every order [doc-9]."
    measured = _measure(registry, text)
    assert measured.value == 0.5
    assert measured.details["unknown"] == [{"citation": "[doc-9]", "id": "doc-9", "start": text.index("[doc-9]")}]
    assert measured.details["cited"] == ["doc-1"]
    assert _measure(registry, "It takes five days [3].").value == 0.0  # two chunks: no third


def test_an_uncited_claim_fails_naming_it(registry: MetricRegistry) -> None:
    text = "Refunds take five working days [1]. Our warehouse ships from Rotterdam every morning."
    measured = _measure(registry, text)
    assert measured.value == 0.5
    assert measured.details["uncited"] == [
        {"claim": "Our warehouse ships from Rotterdam every morning.", "start": text.index("Our")}
    ]
    assert _measure(registry, text, min_words=None).value == 1.0  # only the citations are checked
    assert _measure(registry, "Refunds take five days.", min_words=5).value == 1.0  # 4 words: no claim


def test_a_pattern_of_your_own(registry: MetricRegistry) -> None:
    text = "Refunds take five working days (source: doc-1). Shipping is free, always (source: doc-3)."
    assert _measure(registry, text).value == 0.0  # the default pattern sees no citation
    assert _measure(registry, text, pattern=r"\(source: ([\w-]+)\)").value == 1.0
    assert _measure(registry, "Refunds take five working days {1}.", pattern=r"\{\d+\}").value == 0.0  # no group: "{1}"


def test_markdown_links_and_brackets_are_not_citations(registry: MetricRegistry) -> None:
    measured = _measure(registry, "See [the refund policy](https://example.com/1) [1]. Tick [x] when done.")
    assert measured.value == 1.0 and measured.details["cited"] == ["doc-1"]


def test_sentences_keep_their_citations() -> None:
    text = "One fact here. [1] Two facts! [2][3]\nA line [4]"
    assert [text[s.start : s.end].strip() for s in sentences(text)] == [
        "One fact here. [1]",
        "Two facts! [2][3]",
        "A line [4]",
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pattern": "(["}, "not a valid regular expression"),
        ({"pattern": ""}, "pattern must be a non-empty regular expression"),
        ({"min_words": 0}, "min_words must be an integer >= 1"),
    ],
)
def test_bad_options_are_refused(registry: MetricRegistry, options: dict, message: str) -> None:
    with pytest.raises(MetricError, match=message):
        registry.check("citations", options=options)


def test_it_needs_the_context(registry: MetricRegistry) -> None:
    with pytest.raises(MetricError, match=r"needs context="):
        registry.check("citations").measure("Refunds take five days [1].", None)


#: Texts of ``n`` repeats; "[" + 6,000 digits took 1.3 s with an unbounded id pattern.
ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "digits": lambda n: "[" + "1" * n,
    "ids": lambda n: "[1" + ", 1" * n,
    "brackets": lambda n: "[a" * n,
    "sentences": lambda n: "x. [1]" * n,
}


@pytest.mark.parametrize("build", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_long_adversarial_outputs_take_linear_time(registry: MetricRegistry, build: Callable[[int], str]) -> None:
    assert growth(lambda text: _measure(registry, text), build, 7_500) < LINEAR_AT_MOST
