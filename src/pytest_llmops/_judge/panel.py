"""Turning several judge votes into one decision, reproducibly.

Votes are aggregated by mean, median or strict majority (more than half: a tie stays a tie,
whatever order the votes came in); pairwise answers asked in both orders are reconciled; and
a score can be read from token log-probabilities instead of one sampled number (G-Eval).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Hashable, Sequence, TypeVar

from pytest_llmops._judge.parsing import Scale
from pytest_llmops._models.base import TokenLogprob
from pytest_llmops.settings import JUDGE_AGGREGATES as AGGREGATES

#: Pairwise outcomes from the new output's side, and the score each one is worth.
OUTCOME_VALUES = {"new": 1.0, "tie": 0.5, "reference": 0.0}

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class PanelDecision:
    """What a panel of votes decided."""

    value: float
    passed: bool
    tie: bool
    spread: float


def strict_majority(items: Sequence[T]) -> T | None:
    """The item held by more than half of ``items``; None when there is none."""
    if not items:
        return None
    item, count = Counter(items).most_common(1)[0]
    return item if count * 2 > len(items) else None


def spread(values: Sequence[float]) -> float:
    """The population standard deviation of the votes (0 for a single vote)."""
    return round(statistics.pstdev(values), 6) if len(values) > 1 else 0.0


def decide(values: Sequence[float], threshold: float, aggregate: str) -> PanelDecision:
    """Aggregate normalised votes and compare with ``threshold``.

    ``majority`` passes when more than half of the votes pass on their own; an even split is
    a tie, which does not pass. Its value is the median, which a strict majority of passing
    votes always keeps at or above the threshold.
    """
    if not values:
        raise ValueError("a panel needs at least one vote")
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}; expected one of {', '.join(AGGREGATES)}")
    if aggregate == "mean":
        value = round(statistics.fmean(values), 6)
        return PanelDecision(value, value >= threshold, False, spread(values))
    value = round(statistics.median(values), 6)
    if aggregate == "median":
        return PanelDecision(value, value >= threshold, False, spread(values))
    passing = sum(v >= threshold for v in values)
    tie = passing * 2 == len(values)
    return PanelDecision(value, passing * 2 > len(values), tie, spread(values))


def reconcile_orders(new_first: str, reference_first: str) -> str:
    """One pairwise vote from two answers: ``new_first`` showed the new output as A,
    ``reference_first`` showed it as B. Agreement stands; disagreement is a tie."""
    first = {"A": "new", "B": "reference", "tie": "tie"}[new_first]
    second = {"A": "reference", "B": "new", "tie": "tie"}[reference_first]
    return first if first == second else "tie"


def decide_pairwise(outcomes: Sequence[str]) -> PanelDecision:
    """Pass when the new output is at least as good: a strict majority of ``new`` or ``tie``
    outcomes; with no strict majority the panel is tied."""
    winner = strict_majority(outcomes)
    outcome = winner if winner is not None else "tie"
    values = [OUTCOME_VALUES[o] for o in outcomes]
    return PanelDecision(OUTCOME_VALUES[outcome], outcome != "reference", outcome == "tie", spread(values))


def score_distribution(tokens: Sequence[TokenLogprob], text: str, offset: int, scale: Scale) -> dict[int, float] | None:
    """Probabilities of each score token where the judge wrote its score, renormalised over
    the scale; None when the tokens carry no alternatives there."""
    token = _token_at(tokens, text, offset)
    if token is None or not token.top:
        return None
    mass: dict[int, float] = {}
    alternatives = dict(token.top)
    alternatives.setdefault(token.token, token.logprob)
    for candidate, logprob in alternatives.items():
        stripped = candidate.strip()
        # ASCII digits only: "₀" or "²" is a digit to str.isdigit but no number to int().
        if stripped.isascii() and stripped.isdigit() and int(stripped) in scale:
            mass[int(stripped)] = mass.get(int(stripped), 0.0) + math.exp(logprob)
    total = sum(mass.values())
    if total <= 0:
        return None
    return {score: round(p / total, 6) for score, p in sorted(mass.items())}


def expected_score(distribution: dict[int, float]) -> float:
    """The probability-weighted score (G-Eval's sum of p(s) * s)."""
    return round(sum(score * p for score, p in distribution.items()), 6)


def _token_at(tokens: Sequence[TokenLogprob], text: str, offset: int) -> TokenLogprob | None:
    """The token holding character ``offset`` of ``text``; when the tokens do not spell the
    text exactly (some tokenisers decode single tokens differently), the last token that is
    the score's first digit."""
    if "".join(t.token for t in tokens) == text:
        position = 0
        for token in tokens:
            position += len(token.token)
            if position > offset:
                return token
        return None
    digit = text[offset : offset + 1]
    matching = [t for t in tokens if t.token.strip() == digit]
    return matching[-1] if matching else None
