"""How `llm_variants` entries read: labels, model specs, template versions, and the errors."""

from __future__ import annotations

import re

import pytest

from pytest_llmops._variants import Variant, VariantError, entries_of, parse_variants


def test_entries_come_one_a_line_or_comma_separated() -> None:
    assert entries_of("base =, v2 = @v2") == ["base =", "v2 = @v2"]
    assert entries_of(["openai:gpt-4o-mini", "", "mini = openai:gpt-4.1-mini, x"]) == [
        "openai:gpt-4o-mini",
        "mini = openai:gpt-4.1-mini",
        "x",
    ]


def test_parts_are_a_model_spec_a_template_version_or_both_and_the_first_is_the_control() -> None:
    variants = parse_variants(["openai:gpt-4o-mini", "mini = openai:gpt-4.1-mini + @short", "@v2", "base ="])
    assert variants == (
        Variant("openai:gpt-4o-mini", model="openai:gpt-4o-mini", control=True),
        Variant("mini", model="openai:gpt-4.1-mini", prompts="short"),
        Variant("@v2", prompts="v2"),
        Variant("base"),
    )


def test_a_template_version_falls_back_to_the_template_as_written() -> None:
    variant = Variant("v2", prompts="v2")
    assert variant.template("summarize", {"summarize@v2"}.__contains__) == "summarize@v2"
    assert variant.template("classify", {"summarize@v2"}.__contains__) == "classify"
    assert Variant("base").template("summarize", lambda name: True) == "summarize"


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        (["base =", "base = @v2"], "two variants are labelled 'base'"),
        (["openai:a"], "compares with nothing"),
        (["echo", "="], "the tests as written need a label"),
        (["echo", "x = echo + local"], "at most one model spec and one @version"),
        (["echo", "x = echo +"], "an empty part between `+` signs"),
        (["echo", "has space = local"], "use one word"),
        (["echo", "x = @v 2"], "is not a template version"),
    ],
)
def test_an_entry_that_cannot_be_read_says_why(entries: list[str], problem: str) -> None:
    with pytest.raises(VariantError, match=re.escape(problem)):
        parse_variants(entries)
