"""Panels of votes, both-order pairwise answers, log-probability weighted scores, and how a
failing verdict is explained."""

from __future__ import annotations

import math

import pytest

from pytest_llmops._judge.core import Verdict, Vote
from pytest_llmops._judge.panel import (
    decide,
    decide_pairwise,
    expected_score,
    reconcile_orders,
    score_distribution,
    strict_majority,
)
from pytest_llmops._judge.parsing import Scale
from pytest_llmops._models.base import TokenLogprob


def test_mean_and_median_compare_with_the_threshold() -> None:
    votes = [0.25, 0.75, 1.0]
    mean = decide(votes, 0.7, "mean")
    assert (mean.value, mean.passed) == (pytest.approx(0.666667), False)
    median = decide(votes, 0.7, "median")
    assert (median.value, median.passed) == (0.75, True)
    assert mean.spread == pytest.approx(0.3118, abs=1e-4)


def test_majority_needs_more_than_half_of_the_votes() -> None:
    assert decide([1.0, 1.0, 0.0], 0.5, "majority").passed
    assert not decide([1.0, 0.0, 0.0], 0.5, "majority").passed


@pytest.mark.parametrize("order", [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
def test_an_even_split_is_a_tie_whatever_the_order(order: list[float]) -> None:
    decision = decide(order, 0.5, "majority")
    assert decision.tie and not decision.passed
    assert decision.value == 0.5  # the median, though >= threshold, does not pass a tie


def test_a_single_vote_has_no_spread() -> None:
    assert decide([0.5], 0.5, "majority") == decide([0.5], 0.5, "majority")
    assert decide([0.5], 0.5, "mean").spread == 0.0


def test_unknown_aggregate_and_empty_panel_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown aggregate 'mode'"):
        decide([1.0], 0.5, "mode")
    with pytest.raises(ValueError, match="at least one vote"):
        decide([], 0.5, "mean")


def test_strict_majority_is_none_on_a_plurality_or_a_tie() -> None:
    assert strict_majority(["a", "a", "b"]) == "a"
    assert strict_majority(["a", "b", "c"]) is None
    assert strict_majority(["b", "a"]) is None
    assert strict_majority(["a", "b"]) is None
    assert strict_majority([]) is None


@pytest.mark.parametrize(
    ("new_first", "reference_first", "outcome"),
    [
        ("A", "B", "new"),  # the new output won in both positions
        ("B", "A", "reference"),
        ("A", "A", "tie"),  # position bias: each time the first answer won
        ("B", "B", "tie"),
        ("tie", "tie", "tie"),
        ("A", "tie", "tie"),
    ],
)
def test_both_orders_must_agree(new_first: str, reference_first: str, outcome: str) -> None:
    assert reconcile_orders(new_first, reference_first) == outcome


def test_pairwise_passes_when_at_least_as_good() -> None:
    assert decide_pairwise(["new"]).passed
    assert decide_pairwise(["tie"]).passed and decide_pairwise(["tie"]).tie
    assert not decide_pairwise(["reference", "reference", "new"]).passed
    split = decide_pairwise(["reference", "new"])
    assert split.tie and split.passed and split.value == 0.5


def _token(text: str, probabilities: dict[str, float]) -> TokenLogprob:
    top = tuple((t, math.log(p)) for t, p in probabilities.items())
    return TokenLogprob(text, math.log(probabilities.get(text, 0.01)), top)


def test_the_score_is_weighted_by_the_probabilities_of_the_scale_tokens() -> None:
    text = '{"score": 4}'
    tokens = [
        TokenLogprob('{"', 0.0),
        TokenLogprob("score", 0.0),
        TokenLogprob('":', 0.0),
        _token(" 4", {" 4": 0.6, " 5": 0.2, " 3": 0.1, " x": 0.1}),
        TokenLogprob("}", 0.0),
    ]
    distribution = score_distribution(tokens, text, text.index("4"), Scale(1, 5))
    assert distribution == pytest.approx({3: 1 / 9, 4: 6 / 9, 5: 2 / 9}, abs=1e-6)
    assert expected_score(distribution) == pytest.approx((3 + 24 + 10) / 9, abs=1e-5)


def test_tokens_that_do_not_spell_the_text_are_matched_by_digit() -> None:
    text = "Score: 2"
    tokens = [TokenLogprob("Score", 0.0), TokenLogprob(":", 0.0), _token("2", {"2": 0.5, "1": 0.5})]
    assert score_distribution(tokens, text, 7, Scale(1, 5)) == {1: 0.5, 2: 0.5}


def test_unicode_digits_among_the_alternatives_are_no_scores() -> None:
    # Qwen2.5-Coder offered "₀" (subscript zero) beside "0" for a 0-1 verdict: int() refuses it.
    text = "Score: 0"
    tokens = [TokenLogprob("Score: ", 0.0), _token("0", {"0": 0.5, "1": 0.25, "₀": 0.125, "²": 0.125})]
    assert score_distribution(tokens, text, 7, Scale(0, 1)) == pytest.approx({0: 2 / 3, 1: 1 / 3}, abs=1e-6)


def test_no_alternatives_means_no_distribution() -> None:
    text = "Score: 2"
    tokens = [TokenLogprob("Score: ", 0.0), TokenLogprob("2", math.log(0.9))]
    assert score_distribution(tokens, text, 7, Scale(1, 5)) is None
    tokens = [TokenLogprob("Score: ", 0.0), _token("2", {"2": 0.9, "x": 0.1})]
    assert score_distribution(tokens, text, 7, Scale(3, 5)) is None  # no token on the scale


@pytest.mark.parametrize(
    ("scores", "shown"),
    [
        ((2,), "scored 0.25 (2 on the 1-5 scale), below"),
        ((2, 3, 1), "scored 0.25 (votes 2, 3, 1 on the 1-5 scale), below"),
        ((), "scored 0.25, below"),  # no raw score given (a verdict built by hand)
    ],
)
def test_a_failing_verdict_shows_the_votes_on_the_judges_own_scale(scores: tuple[int, ...], shown: str) -> None:
    votes = tuple(Vote((score - 1) / 4, seed, "terse", str(score), score=score) for seed, score in enumerate(scores))
    verdict = Verdict("judge:polite", 0.25, 0.7, False, "terse", votes, details={"scale": [1, 5], "judge_spec": "echo"})
    assert shown in verdict.explain()
