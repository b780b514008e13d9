"""A/B variants in the pytest layer: each model-calling test once per variant.

The tests as collected are the control's (they keep their ids). Each test that takes the
``llm`` or ``case`` fixture is collected with a copy per other variant, placed after it, with
the variant's label in its id: each is a test of its own (outcome, ``-k`` selection,
recordings, pytest-xdist). A copy reads its control's snapshot
entry (its golden references) and never writes one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generator

import pytest

from pytest_llmops._plugin import keys

if TYPE_CHECKING:
    from pytest_llmops._results import TestRecord
    from pytest_llmops._variants import Variant

#: The fixtures through which a test calls the tested model.
MODEL_FIXTURES = ("llm", "case")


class VariantCopies:
    """Makes each variant's copies of the collected tests (registered when a run compares)."""

    def __init__(self, variants: tuple[Variant, ...]) -> None:
        self.variants = variants

    @pytest.hookimpl(wrapper=True)
    def pytest_pycollect_makeitem(
        self, collector: pytest.Collector, name: str, obj: object
    ) -> Generator[None, Any, Any]:
        made = yield
        if not isinstance(made, list):
            return made
        control, *others = self.variants
        expanded: list[Any] = []
        for item in made:
            expanded.append(item)
            if isinstance(item, pytest.Function) and any(f in item.fixturenames for f in MODEL_FIXTURES):
                item.stash[keys.VARIANT] = control
                expanded.extend(_copy(item, variant) for variant in others)
        return expanded


def _copy(item: pytest.Function, variant: Variant) -> pytest.Function:
    """``item`` for ``variant``: ``test_x[v2]``, ``test_x[case-1-v2]``."""
    callspec = getattr(item, "callspec", None)
    ids = f"{callspec.id}-{variant.label}" if callspec is not None else variant.label
    copy = pytest.Function.from_parent(
        item.parent,
        name=f"{item.originalname}[{ids}]",
        callspec=callspec,
        # The fixtures as parametrised for ``item`` (a dataset's rows among them).
        fixtureinfo=item._fixtureinfo,
        originalname=item.originalname,
    )
    copy.stash[keys.VARIANT] = variant
    copy.stash[keys.CONTROL] = item.nodeid
    return copy


def variant_of(item: pytest.Item) -> Variant | None:
    return item.stash.get(keys.VARIANT, None)


def control_of(item: pytest.Item) -> str:
    """The node id whose snapshot entry ``item`` reads: its control's, or its own."""
    return item.stash.get(keys.CONTROL, item.nodeid)


def note_variant(item: pytest.Item, record: TestRecord) -> None:
    """Mark ``record`` with the variant ``item`` runs and the test it is compared with."""
    variant = variant_of(item)
    if variant is not None:
        record.extra["variant"] = {"label": variant.label, "control": control_of(item)}
