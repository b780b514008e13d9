"""The judge's whole path on the real local model (SmolLM2-135M): weak as a judge, but real.

Each inner run is a subprocess: loading the model in two sessions of one process has crashed
(a segfault while collecting garbage of the first session's model).
"""

from __future__ import annotations

import json

import pytest
from inner import RECORDS_CONFTEST

pytest_plugins = ["pytester"]


# Outputs a human marked good or bad for "answers the question correctly".
LABELS = [
    {"question": "What is the capital of France?", "output": "The capital of France is Paris.", "label": "good"},
    {"question": "What is the capital of France?", "output": "The capital of France is Berlin.", "label": "bad"},
    {"question": "What is two plus two?", "output": "Two plus two is four.", "label": "good"},
    {"question": "What is two plus two?", "output": "Two plus two is five.", "label": "bad"},
    {
        "question": "At what temperature does water boil at sea level?",
        "output": "At 100 degrees Celsius.",
        "label": "good",
    },
    {
        "question": "At what temperature does water boil at sea level?",
        "output": "At 10 degrees Celsius.",
        "label": "bad",
    },
]


@pytest.mark.slow
def test_a_local_judge_gives_a_probability_weighted_verdict(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECORDS_CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(rubric="Answers the question correctly", weighted=True, max_tokens=40)
        def test_capital(judge):
            judge.score("The capital of France is Paris.", question="What is the capital of France?")
        """
    )
    result = pytester.runpytest_subprocess("--llm-model", "local", "--llm-record-mode", "off")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*warning: 1 judge verdict came from SmolLM2-135M-Instruct, which is too small to judge*"]
    )
    record = json.loads((pytester.path / "records.jsonl").read_text())
    [call] = record["calls"]
    assert call["role"] == "judge" and call["model"] == "SmolLM2-135M-Instruct"
    assert call["request"]["settings"]["top_logprobs"] == 20 and call["request"]["settings"]["temperature"] == 0.0
    [score] = record["scores"]
    details = score["details"]
    assert score["kind"] == "judge" and details["judge_model"] == "SmolLM2-135M-Instruct"
    assert details["scoring"] == "weighted" and details["template"]["name"] == "judge_score"
    distribution = {int(k): p for k, p in details["votes"][0]["distribution"].items()}
    assert set(distribution) <= {1, 2, 3, 4, 5} and sum(distribution.values()) == pytest.approx(1, abs=1e-5)
    expected = sum(s * p for s, p in distribution.items())
    assert score["value"] == pytest.approx((expected - 1) / 4, abs=1e-5)


@pytest.mark.slow
def test_calibration_catches_that_smollm2_cannot_judge(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", labels="\n".join(json.dumps(case) for case in LABELS))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(rubric="Answers the question correctly", calibration="labels.jsonl", max_tokens=40)
        def test_capital(judge):
            judge.check("The capital of France is Paris.", question="What is the capital of France?")
        """
    )
    result = pytester.runpytest_subprocess("--llm-model", "local", "--llm-record-mode", "off")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*judge:Answers the question correctly: judge local failed calibration, so it grades no tests: "
            "judge agreed with * of 6 labelled cases in *labels.jsonl*needs 0.80*"
        ]
    )
