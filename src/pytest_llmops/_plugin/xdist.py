"""The one pytest-xdist channel: which process this is, what the controller tells each worker,
and what each worker sends back.

Workers put their part in ``config.workeroutput``; the controller keeps each worker's part by
worker id, so a worker that xdist reports down twice (it does on Ctrl-C) is merged once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_llmops._plugin.session import LLMSession

#: The key of the plugin's part in ``workerinput`` and ``workeroutput``.
CHANNEL = "llmops"


def is_worker(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist worker (the controller writes the shared files)."""
    return hasattr(config, "workerinput")


def worker_input(config: pytest.Config) -> dict[str, Any]:
    """What the controller told this worker (empty on the controller)."""
    return dict(getattr(config, "workerinput", {}).get(CHANNEL, {}))


def send_to_controller(config: pytest.Config, part: dict[str, Any]) -> None:
    """On a worker, hand the session's part to the controller."""
    config.workeroutput[CHANNEL] = part  # type: ignore[attr-defined]


class XdistChannel:
    """Registered on the controller only when pytest-xdist is installed."""

    def __init__(self, session: LLMSession) -> None:
        self.session = session

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[CHANNEL] = self.session.worker_input()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        part = getattr(node, "workeroutput", {}).get(CHANNEL)
        if part is not None:
            self.session.worker_parts[node.workerinput["workerid"]] = part
            self.session.rule.absorb(part.get("selection", {}))
