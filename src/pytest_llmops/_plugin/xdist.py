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


#: The key of the controller's ``--dist`` mode in a worker's input (a worker's own reads ``no``).
DIST = "dist"


def scope_of(dist: str | None, nodeid: str) -> str | None:
    """The group of tests ``nodeid`` is sent with, when pytest-xdist sends whole groups to one
    worker: its file (``--dist loadfile``), its module or class (``loadscope``), its
    ``xdist_group`` (``loadgroup``; an ungrouped test is its own group). None under any other
    mode (``load``, ``worksteal``, ``each``, none): a worker then knows only the test it runs."""
    if dist == "loadfile":
        return nodeid.split("::", 1)[0]
    if dist == "loadscope":
        return nodeid.rsplit("::", 1)[0]
    if dist == "loadgroup":  # as xdist splits it: a parameter holding "@" is no group
        return nodeid.split("@")[-1] if nodeid.rfind("@") > nodeid.rfind("]") else nodeid
    return None


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
