"""Whether a check's work grows linearly with its input: a test of complexity, not of speed
(the ratio of two timings taken in turns on one machine holds under load, where a time limit
does not)."""

from __future__ import annotations

import time
from typing import Callable

#: Four times the input takes about 4x as long when linear, 16x when quadratic.
LINEAR_AT_MOST = 10.0


def growth(run: Callable[[str], object], build: Callable[[int], str], size: int, rounds: int = 3) -> float:
    """How many times longer ``run`` takes on ``build(4 * size)`` than on ``build(size)``: the
    best of ``rounds`` runs each, taken in turns so that both meet the same load."""
    small, large = build(size), build(4 * size)
    best_small = best_large = float("inf")
    for _ in range(rounds):
        best_small = min(best_small, _timed(run, small))
        best_large = min(best_large, _timed(run, large))
    return best_large / max(best_small, 1e-6)


def _timed(run: Callable[[str], object], text: str) -> float:
    started = time.perf_counter()
    run(text)
    return time.perf_counter() - started
