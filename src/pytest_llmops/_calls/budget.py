"""``--llm-budget-usd``: a live call runs only once its most possible cost is reserved.

Before a live call, the pipeline reserves an upper bound of its cost (every token of the
prompt is at least one byte of it, and the answer has at most ``max_tokens``) at the model's
price; a reservation that would take the run past the limit is refused. After the call the
reservation is settled with the real cost. So the run's spend never passes the limit, however
many calls are in flight at once.

Reservations and settlements are lines of an append-only ledger file that every process of
the run (the controller and each pytest-xdist worker) shares under a file lock, so the limit
holds for the whole run, not per worker.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from pytest_llmops.errors import BUDGET_REFUSAL, BudgetExceeded

# Float sums of settled costs drift by a few ulps: a call that fits exactly still fits.
_SLACK = 1e-12


class Budget:
    """The run's spend limit: :meth:`reserve` before a live call, :meth:`settle` after it."""

    def __init__(self, limit_usd: float, ledger: Path) -> None:
        self.limit_usd = limit_usd
        from filelock import FileLock  # only for a run with a budget

        self.ledger = ledger
        self._file_lock = FileLock(f"{ledger}.lock")
        self._lock = threading.Lock()
        self._read_to = 0
        self._total = 0.0

    def reserve(self, amount_usd: float) -> float:
        """Reserve ``amount_usd`` for one call; raise :class:`BudgetExceeded` when it does not fit."""
        if amount_usd <= 0:
            return 0.0
        with self._lock, self._file_lock:
            committed = self._read()
            if committed + amount_usd > self.limit_usd + _SLACK:
                raise BudgetExceeded(
                    f"{BUDGET_REFUSAL}: this call may cost up to ${amount_usd:.4g}, and ${committed:.4g} of "
                    f"the ${self.limit_usd:g} allowed by llm_budget_usd is spent or reserved; it was refused"
                )
            self._append(amount_usd)
        return amount_usd

    def settle(self, reserved_usd: float, cost_usd: float) -> None:
        """Replace a reservation with the call's real cost (0 for a call that failed)."""
        if reserved_usd or cost_usd:
            with self._lock, self._file_lock:
                self._append(cost_usd - reserved_usd)

    def spent(self) -> float:
        """USD spent or reserved by live calls so far, in every process of the run."""
        with self._lock, self._file_lock:
            return self._read()

    def _read(self) -> float:
        try:
            with self.ledger.open("rb") as stream:
                stream.seek(self._read_to)
                fresh = stream.read()
        except FileNotFoundError:  # nothing reserved yet
            fresh = b""
        self._read_to += len(fresh)
        self._total += sum(float(line) for line in fresh.split())
        return self._total

    def _append(self, amount: float) -> None:
        handle = os.open(self.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(handle, f"{amount!r}\n".encode())
        finally:
            os.close(handle)


def new_ledger() -> Path:
    """An empty ledger file for a run (the controller creates it, workers are told its path)."""
    handle, path = tempfile.mkstemp(prefix="pytest-llmops-budget-", suffix=".ledger")
    os.close(handle)
    return Path(path)


def remove_ledger(ledger: Path) -> None:
    """Delete a run's ledger and its lock file."""
    ledger.unlink(missing_ok=True)
    Path(f"{ledger}.lock").unlink(missing_ok=True)
