"""A/B variants: the same tests run against other models and other versions of their prompts.

A variant is written ``[label =] part [+ part ...]``. A part that starts with ``@`` picks a
version of the prompt templates: ``@v2`` renders ``summarize@v2`` wherever a test renders
``summarize`` (a template without such a file renders as written). Any other part is a model
spec: it replaces the test's model. ``base =`` (a label and no parts) is the test as written.

The first variant of a list is the control: its tests keep their ids; each other variant's
tests carry its label in theirs (``test_x[v2]``, ``test_x[case-1-v2]``). A label is one word
of letters, digits and ``@ : . _ -``; it names the variant in ids, reports and ``-k``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from pytest_llmops.errors import BadValue

_LABEL = re.compile(r"[\w@:.\-]+")


class VariantError(BadValue):
    """A variant list that cannot be read; the message says which entry and why."""


@dataclass(frozen=True)
class Variant:
    """One arm of a comparison: a label, and what it changes about a test."""

    label: str
    model: str | None = None
    prompts: str | None = None  # the template version: "v2" renders "name@v2"
    control: bool = False

    def template(self, name: str, exists: Callable[[str], bool]) -> str:
        """The template this variant renders where a test asks for ``name``."""
        if self.prompts is None:
            return name
        candidate = f"{name}@{self.prompts}"
        return candidate if exists(candidate) else name


def entries_of(text: str | Sequence[str]) -> list[str]:
    """The entries of a setting: ini lines, or a comma-separated value on the command line."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    return [entry.strip() for line in lines for entry in line.split(",") if entry.strip()]


def parse_variants(entries: Iterable[str]) -> tuple[Variant, ...]:
    """The variants ``entries`` write, the first as the control; :class:`VariantError` when an
    entry cannot be read, two share a label, or fewer than two are given."""
    variants: list[Variant] = []
    for entry in entries:
        variant = _parse_entry(entry, control=not variants)
        if any(v.label == variant.label for v in variants):
            raise VariantError(f"two variants are labelled {variant.label!r}: give each its own `label = ...`")
        variants.append(variant)
    if len(variants) == 1:
        raise VariantError(
            f"one variant ({variants[0].label!r}) compares with nothing: give the control first and "
            "at least one candidate, e.g. `base =, v2 = @v2`"
        )
    return tuple(variants)


def _parse_entry(entry: str, *, control: bool) -> Variant:
    label, sep, definition = entry.partition("=")
    if not sep:
        label, definition = "", entry
    label, parts = label.strip(), [p.strip() for p in definition.split("+")]
    if any(not p for p in parts) and definition.strip():
        raise VariantError(f"variant {entry!r}: an empty part between `+` signs")
    parts = [p for p in parts if p]
    models = [p for p in parts if not p.startswith("@")]
    prompts = [p[1:] for p in parts if p.startswith("@")]
    if len(models) > 1 or len(prompts) > 1:
        raise VariantError(f"variant {entry!r}: at most one model spec and one @version")
    if prompts and not _LABEL.fullmatch(prompts[0]):
        raise VariantError(f"variant {entry!r}: @{prompts[0]} is not a template version (one word)")
    label = label or "+".join(parts)
    if not label:
        raise VariantError(f"variant {entry!r}: the tests as written need a label, e.g. `base =`")
    if not _LABEL.fullmatch(label):
        raise VariantError(
            f"variant label {label!r}: use one word of letters, digits and @ : . _ - (it goes into test ids)"
        )
    return Variant(label, models[0] if models else None, prompts[0] if prompts else None, control)
