"""Every per-test key of the plugin: what one test carries in its ``item.stash``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

import pytest

if TYPE_CHECKING:
    from concurrent.futures import Future

    from pytest_llmops._models.base import Completion
    from pytest_llmops._recordings import TestRecordings
    from pytest_llmops._results import TestRecord
    from pytest_llmops._snapshots import ItemUse
    from pytest_llmops._variants import Variant

    Outcome = Union[Completion, BaseException]

#: The test's record of calls, scores and prompt versions (carried on its report).
RECORD = pytest.StashKey["TestRecord"]()
#: The test's view of the recordings, shared by all its clients (calls are numbered per test).
RECORDINGS = pytest.StashKey["TestRecordings"]()
#: The snapshot references the test read and staged.
SNAPSHOT_USE = pytest.StashKey["ItemUse"]()
#: The kind of error ("infrastructure", "setup") that ended the test's call phase.
CALL_ERROR = pytest.StashKey[str]()
#: The test's prefetched case call: its batch's future and its place in it.
PREFETCHED = pytest.StashKey["tuple[Future[list[Outcome]], int]"]()
#: The A/B variant the test runs (kept for a rerun; absent when the run compares none).
VARIANT = pytest.StashKey["Variant"]()
#: The node id of the test's control, for a test of a variant other than the control.
CONTROL = pytest.StashKey[str]()
#: What applying a review did to the test, or why it did not (``--llm-apply-review``).
REVIEW = pytest.StashKey["list[dict[str, Any]]"]()


_PER_TEST: tuple[pytest.StashKey[Any], ...] = (RECORD, RECORDINGS, SNAPSHOT_USE, CALL_ERROR, PREFETCHED, REVIEW)


def release(item: pytest.Item) -> None:
    """Drop what ``item`` carries, once its teardown report holds what the run needs of it: a
    suite of thousands of tests keeps no per-test state alive (nor makes pytest's final garbage
    collections walk it)."""
    for key in _PER_TEST:
        if key in item.stash:
            del item.stash[key]
