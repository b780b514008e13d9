"""Reading judge answers: JSON in its several wrappings, prose scores, preferences."""

from __future__ import annotations

import pytest

from pytest_llmops._judge.parsing import Scale, UnparsableAnswer, parse_preference, parse_score

FIVE = Scale(1, 5)


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ('{"reasoning": "Polite and complete.", "score": 4}', 4),
        ('```json\n{"reasoning": "ok", "score": 5}\n```', 5),
        ('Here is my grade:\n```\n{"Score": "3", "Explanation": "meh"}\n```\nThanks!', 3),
        ('I think so. {"rating": 2, "rationale": "rude"} Done.', 2),
        ('{"score": "4/5", "reasoning": "fine"}', 4),
        ("The reply is polite.\nScore: 4", 4),
        ("**Rating:** 5 out of 5", 5),
        ("Reasoning: answers the question.\nFinal score = 2/5", 2),
        ("3", 3),
        ("**4**", 4),
    ],
)
def test_scores_in_every_usual_shape_are_read(answer: str, score: float) -> None:
    parsed = parse_score(answer, FIVE)
    assert parsed.score == score
    assert parsed.normalised == FIVE.normalise(score)


def test_a_score_on_the_judges_own_scale_keeps_its_proportion() -> None:
    parsed = parse_score("Polite, but vague. Score: 7/10", FIVE)
    assert parsed.normalised == 0.7
    assert parsed.score == pytest.approx(1 + 0.7 * 4)
    assert parsed.reasoning == "Polite, but vague."


def test_the_last_labelled_score_wins_over_earlier_mentions() -> None:
    answer = "A score: 1 would mean rude. This reply is kind.\nScore: 5"
    assert parse_score(answer, FIVE).score == 5


def test_reasoning_comes_from_json_keys() -> None:
    parsed = parse_score('{"score": 3, "reasoning": "  Half right.  "}', FIVE)
    assert parsed.reasoning == "Half right."


def test_offset_points_at_the_score_digits() -> None:
    answer = '{"reasoning": "score 1 is wrong", "score": 4}'
    parsed = parse_score(answer, FIVE)
    assert answer[parsed.offset] == "4"
    prose = "Good.\nScore: 5/5"
    assert prose[parse_score(prose, FIVE).offset] == "5"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("I cannot grade this.", "no score"),
        ('{"score": 9}', "outside the 1-5 scale"),
        ('{"score": "excellent"}', "not a number"),
        ('{"score": true}', "not a number"),
        ("Score: 12/10", "not a proportion"),
        ("Score: 0", "outside the 1-5 scale"),
        ("", "no score"),
    ],
)
def test_unreadable_answers_raise_with_the_reason(answer: str, reason: str) -> None:
    with pytest.raises(UnparsableAnswer, match=reason):
        parse_score(answer, FIVE)


def test_a_scale_must_go_up() -> None:
    with pytest.raises(ValueError, match="low < high"):
        Scale(5, 5)


@pytest.mark.parametrize(
    ("answer", "preference"),
    [
        ('{"reasoning": "A is kinder", "winner": "A"}', "A"),
        ('```json\n{"winner": "Response B", "reasoning": "x"}\n```', "B"),
        ('{"winner": "tie"}', "tie"),
        ("Both are fine. [[C]]", "tie"),
        ("Assistant B is more accurate. [[B]]", "B"),
        ("Winner: output A", "A"),
        ("Verdict: **tie**", "tie"),
        ("B", "B"),
    ],
)
def test_preferences_are_read(answer: str, preference: str) -> None:
    assert parse_preference(answer)[0] == preference


def test_an_unreadable_preference_raises() -> None:
    with pytest.raises(UnparsableAnswer, match="no preference"):
        parse_preference("They are both responses.")
    with pytest.raises(UnparsableAnswer, match="not A, B or tie"):
        parse_preference('{"winner": "neither"}')
