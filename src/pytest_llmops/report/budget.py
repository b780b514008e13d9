"""``--llm-budget-usd``: refuse live model calls once the run's live calls have cost the limit.

The spend is kept in an append-only ledger file that every process of the run (the controller
and each pytest-xdist worker) appends its live costs to, so the limit holds for the whole run,
not per worker. The check happens before each live call; calls already in flight when the limit
is reached still finish, so the spend may pass the limit by those calls' cost.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from pytest_llmops.models.base import Completion, ModelCallError, Request
from pytest_llmops.report.data import BUDGET_REFUSAL


class Budget:
    """A :class:`~pytest_llmops.models.client.CallObserver` that caps the run's live spend."""

    def __init__(self, limit_usd: float, ledger: Path) -> None:
        self.limit_usd = limit_usd
        self.ledger = ledger
        self._lock = threading.Lock()
        self._read_to = 0
        self._spent = 0.0

    def spent(self) -> float:
        """USD spent by live calls so far, in every process of the run."""
        with self._lock:
            with self.ledger.open("rb") as stream:
                stream.seek(self._read_to)
                fresh = stream.read()
            complete = fresh[: fresh.rfind(b"\n") + 1]  # a line being appended is read next time
            self._read_to += len(complete)
            self._spent += sum(float(line) for line in complete.split())
            return self._spent

    def before(self, request: Request) -> None:
        spent = self.spent()
        if spent >= self.limit_usd:
            raise ModelCallError(
                f"{BUDGET_REFUSAL}: live calls have cost ${spent:.4g} of the "
                f"${self.limit_usd:g} allowed by llm_budget_usd; this call was refused"
            )

    def after(self, request: Request, completion: Completion) -> None:
        if completion.cached or not completion.cost_usd:
            return
        # One short O_APPEND write per call: lines from several processes never interleave.
        handle = os.open(self.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(handle, f"{completion.cost_usd!r}\n".encode())
        finally:
            os.close(handle)


def new_ledger() -> Path:
    """An empty ledger file for a run (the controller creates it, workers are told its path)."""
    handle, path = tempfile.mkstemp(prefix="pytest-llmops-budget-", suffix=".ledger")
    os.close(handle)
    return Path(path)


class ShareLedger:
    """pytest-xdist hook: hand the controller's ledger path to each worker it starts."""

    def __init__(self, ledger: Path) -> None:
        self.ledger = ledger

    def pytest_configure_node(self, node: object) -> None:
        node.workerinput["llmops_budget_ledger"] = str(self.ledger)  # type: ignore[attr-defined]
