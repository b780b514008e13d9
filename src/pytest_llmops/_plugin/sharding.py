"""``--llm-shard i/N``: run one shard of the suite, deselecting the others' tests.

The split is by test id (:mod:`pytest_llmops._shards`), so every machine, and every xdist worker,
deselects the same tests. A shard is a deselecting run: prunes and the unused-snapshot report
keep what the other shards' modules use, by the run's one rule (:mod:`.run_rule`). A shard that
gets no test (a small suite, many shards) passes: pytest's "no tests collected" (exit 5) would
fail its CI job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_llmops._plugin.session import LLMSession
    from pytest_llmops._shards import Shard


class ShardSelection:
    """Registered on every process when ``llm_shard`` is set."""

    def __init__(self, session: LLMSession, shard: Shard) -> None:
        self.session = session
        self.shard = shard

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        kept = [item for item in items if self.shard.holds(item.nodeid)]
        if len(kept) < len(items):
            config.hook.pytest_deselected(items=[item for item in items if not self.shard.holds(item.nodeid)])
            items[:] = kept

    def pytest_report_header(self) -> str:
        return f"pytest-llmops: shard {self.shard} (llm_shard)"

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        rule = self.session.rule  # under xdist the controller learns it from the workers
        if rule.deselected and not rule.collected and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            session.exitstatus = pytest.ExitCode.OK
