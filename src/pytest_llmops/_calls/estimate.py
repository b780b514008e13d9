"""``--llm-estimate``: the calls a run would make live, and what they could cost, making none.

A call that would replay replays as usual; every other call is refused before it reserves
budget or a slot (so no backend is loaded and nothing is sent), and its test is skipped
saying what it would have called. The bound of a call's cost is the budget's: every prompt
byte a token, and ``max_tokens`` of answer.
"""

from __future__ import annotations

import threading
from typing import Any, Iterable, Mapping

import pytest


class WouldCallLive(pytest.skip.Exception):  # type: ignore[name-defined]  # pytest's public alias
    """The outcome of a call that ``--llm-estimate`` kept from going live: its test skips."""


class Estimate:
    """Per model spec: how many calls would go live and their cost's upper bound in USD."""

    def __init__(self) -> None:
        self.by_spec: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def refuse(self, spec: str, bound_usd: float) -> WouldCallLive:
        """Count one call that would go live; the skip its caller gets instead of an answer."""
        with self._lock:
            tally = self.by_spec.setdefault(spec, [0, 0.0])
            tally[0] += 1
            tally[1] += bound_usd
        return WouldCallLive(f"estimate: would call {spec} live (at most ${bound_usd:.4f})")

    def worker_part(self) -> dict[str, list[float]]:
        return {spec: list(tally) for spec, tally in self.by_spec.items()}

    def absorb(self, parts: Iterable[Mapping[str, Any]]) -> None:
        """Add each xdist worker's tallies to this process's."""
        for part in parts:
            for spec, (calls, usd) in part.items():
                tally = self.by_spec.setdefault(spec, [0, 0.0])
                tally[0] += calls
                tally[1] += usd

    def lines(self) -> list[str]:
        """The terminal's account: one line in all, then one per model spec, dearest first."""
        calls = sum(int(tally[0]) for tally in self.by_spec.values())
        usd = sum(tally[1] for tally in self.by_spec.values())
        lines = [
            f"estimate: {calls} call{'' if calls == 1 else 's'} would go live, at most ${usd:.4f} in all; none was made"
        ]
        for spec, (count, cost) in sorted(self.by_spec.items(), key=lambda item: (-item[1][1], item[0])):
            lines.append(f"  {spec}: {int(count)} call{'' if count == 1 else 's'}, at most ${cost:.4f}")
        return lines
