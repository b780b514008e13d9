"""LLM-as-judge through pytest: a scripted judge server on 127.0.0.1 gives well-formed,
malformed and contradictory answers; the inner suites grade echo outputs with it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import pytest
from inner import RECORDS_CONFTEST
from servers import ScriptedServer

pytest_plugins = ["pytester"]


ServerFactory = Callable[..., ScriptedServer]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(RECORDS_CONFTEST)
    return pytester


def run(pytester: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "--llm-model",
        "echo",
        "--llm-judge-model",
        "openai:judge",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        "off",
        "--llm-prices",
        "scripted = 1000 2000",
        "--llm-max-retries",
        "0",
        *args,
    )


def records(root: Path) -> dict[str, dict[str, Any]]:
    lines = (root / "records.jsonl").read_text().splitlines()
    return {json.loads(line)["nodeid"].split("::")[-1]: json.loads(line) for line in lines}


def prompt_of(body: dict[str, Any]) -> str:
    """The judge prompt's first user turn."""
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def test_check_passes_or_fails_on_the_threshold_and_records_a_pinned_verdict(
    suite: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    def judge(body: dict[str, Any]) -> str:
        if "Go away." in prompt_of(body):
            return "The reply is rude and does not help.\nScore: 2/5"
        return '```json\n{"reasoning": "Polite and says when.", "score": 4}\n```'

    server = scripted_server(judge)
    suite.makepyfile(
        """
        import pytest

        RUBRIC = "Polite, and answers the customer's question"

        @pytest.mark.llm_judge(rubric=RUBRIC, threshold=0.7)
        def test_reply(llm, judge):
            verdict = judge.check(llm.complete("Your order ships tomorrow."), question="Where is my order?")
            assert verdict.value == 0.75 and verdict.reasoning == "Polite and says when."

        @pytest.mark.llm_judge(rubric=RUBRIC, threshold=0.7, label="polite")
        def test_rude(llm, judge):
            judge.check(llm.complete("Go away."), question="Where is my order?")

        @pytest.mark.llm_judge(rubric=RUBRIC, threshold=0.7, label="polite")
        def test_score_does_not_assert(llm, judge):
            assert not judge.score(llm.complete("Go away."))
        """
    )
    result = run(suite, server)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*judge:polite: scored 0.25 (2 on the 1-5 scale), below the threshold 0.70 (judge openai:judge, 1 vote(s))*",
            "*reasoning: The reply is rude and does not help.*",
        ]
    )
    reply = records(suite.path)["test_reply"]
    [score] = reply["scores"]
    assert score["metric"] == "judge:Polite, and answers the customer's qu..."
    assert (score["kind"], score["value"], score["threshold"], score["passed"]) == ("judge", 0.75, 0.7, True)
    assert score["output"] == "Your order ships tomorrow."
    details = score["details"]
    assert details["reasoning"] == "Polite and says when."
    assert (details["judge_spec"], details["judge_model"], details["temperature"], details["seed"]) == (
        "openai:judge",
        "judge",
        0.0,
        0,
    )
    assert details["template"]["name"] == "judge_score" and details["template"]["version"] == "1"
    assert len(details["template"]["hash"]) == 16
    assert (details["mode"], details["scoring"], details["spread"], details["scale"]) == (
        "score",
        "sampled",
        0.0,
        [1, 5],
    )
    assert [v["score"] for v in details["votes"]] == [4]
    # Judge calls are accounted like any other, under their own role.
    assert [c["role"] for c in reply["calls"]] == ["model", "judge"]
    assert reply["calls"][0]["cost_usd"] == 0 and reply["calls"][1]["cost_usd"] > 0
    # What the judge was asked: the pinned settings and the rendered built-in template.
    body = server.requests[0]
    assert (body["model"], body["temperature"], body["seed"], body["max_tokens"]) == ("judge", 0.0, 0, 256)
    assert body["messages"][0]["role"] == "system"
    asked = prompt_of(body)
    for part in (
        "Polite, and answers the customer's question",
        "Where is my order?",
        "Your order ships tomorrow.",
        "from 1 to 5",
    ):
        assert part in asked


def test_an_unreadable_answer_is_retried_then_an_error_quoting_it(
    suite: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    server = scripted_server(["I think it is quite nice really."])
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(rubric="Kind")
        def test_kind(judge):
            judge.check("Have a nice day")
        """
    )
    result = run(suite, server, "--llm-judge-retries", "2")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*judge:Kind: judge openai:judge gave no readable answer in 3 attempt(s) "
            "(no score on the 1-5 scale found); its last answer: 'I think it is quite nice really.'*"
        ]
    )
    assert len(server.requests) == 3
    retry = server.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "I think it is quite nice really."}
    assert retry[-1]["role"] == "user" and "could not be read" in retry[-1]["content"]
    assert server.requests[2]["messages"][:-2] == retry[:-2]  # the reminder goes after the original prompt
    record = records(suite.path)["test_kind"]
    assert record["scores"] == [] and [c["role"] for c in record["calls"]] == ["judge"] * 3


def test_a_retry_that_reads_grades_normally(suite: pytest.Pytester, scripted_server: ServerFactory) -> None:
    server = scripted_server(["Hmm.", '{"score": 9}', '{"score": 5, "reasoning": "Warm."}'])
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(rubric="Kind", threshold=1.0)
        def test_kind(judge):
            assert judge.check("Have a nice day").reasoning == "Warm."
        """
    )
    run(suite, server).assert_outcomes(passed=1)
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            (500, {"error": {"message": "judge overloaded"}}),
            "*openai:judge at http://127.0.0.1:*HTTP 500: judge overloaded*",
        ),
        ("!garbage", "*openai:judge*"),
    ],
)
def test_a_broken_judge_server_is_an_error_not_a_failure(
    suite: pytest.Pytester, scripted_server: ServerFactory, answer: Any, message: str
) -> None:
    server = scripted_server([answer])
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(rubric="Kind")
        def test_kind(judge):
            judge.check("Have a nice day")
        """
    )
    result = run(suite, server)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


@pytest.mark.parametrize("marker", ['criterion="factual_consistency"', 'rubric="At least as helpful", mode="pairwise"'])
def test_a_judgement_that_needs_a_reference_and_gets_none_is_an_error(
    suite: pytest.Pytester, scripted_server: ServerFactory, marker: str
) -> None:
    server = scripted_server(["Score: 5"])
    suite.makepyfile(
        f"""
        import pytest

        @pytest.mark.llm_judge({marker})
        def test_it(judge):
            judge.check("Paris is in France.")
        """
    )
    result = run(suite, server)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*judge:* needs a reference: judge.check(output, reference=...)*"])
    assert server.requests == []


def test_votes_are_sampled_with_different_seeds_and_aggregated(
    suite: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    by_seed = {0: 5, 1: 1, 2: 4, 3: 1}
    server = scripted_server(
        lambda body: json.dumps({"reasoning": f"seed {body['seed']}", "score": by_seed[body["seed"]]})
    )
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(rubric="Kind", votes=3)
        def test_mean(judge):
            verdict = judge.check("Have a nice day")
            assert verdict.value == round((1 + 0 + 0.75) / 3, 6)

        @pytest.mark.llm_judge(rubric="Kind", votes=3, aggregate="median")
        def test_median(judge):
            assert judge.check("Have a nice day").value == 0.75

        @pytest.mark.llm_judge(rubric="Kind", votes=4, aggregate="majority")
        def test_tie(judge):
            judge.check("Have a nice day")
        """
    )
    result = run(suite, server)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*judge:Kind: the panel tied (judge openai:judge, 4 vote(s); median 0.38, threshold 0.50)*"]
    )
    details = records(suite.path)["test_mean"]["scores"][0]["details"]
    assert details["seeds"] == [0, 1, 2] and details["temperature"] == 0.7
    assert [v["score"] for v in details["votes"]] == [5, 1, 4]
    assert details["spread"] == pytest.approx(0.4249, abs=1e-4)
    assert details["reasoning"] == "seed 2"  # the vote nearest the panel's value speaks for it
    tie = records(suite.path)["test_tie"]["scores"][0]
    assert tie["passed"] is False and tie["details"]["tie"] is True
    assert sorted((b["seed"], b["temperature"]) for b in server.requests[:3]) == [(0, 0.7), (1, 0.7), (2, 0.7)]


def test_pairwise_asks_both_orders_and_a_disagreement_is_a_tie(
    suite: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    def prefer_good(body: dict[str, Any]) -> str:
        asked = prompt_of(body)
        first, second = asked.split("RESPONSE A:")[1].split("RESPONSE B:")
        winner = "B" if "GOOD" in second and "GOOD" not in first else "A"  # else: position bias
        return json.dumps({"reasoning": f"picked {winner}", "winner": winner})

    server = scripted_server(prefer_good)
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(mode="pairwise")
        def test_new_is_better(judge):
            assert judge.check("GOOD new answer", reference="old answer", question="Q?").value == 1.0

        @pytest.mark.llm_judge(mode="pairwise")
        def test_position_bias_cancels_out(judge):
            verdict = judge.check("new answer", reference="old answer")
            assert verdict.tie and verdict.value == 0.5

        @pytest.mark.llm_judge(mode="pairwise", rubric="Shorter is better")
        def test_reference_is_better(judge):
            judge.check("new answer", reference="GOOD old answer")
        """
    )
    result = run(suite, server)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*judge:Shorter is better: reference better (judge openai:judge, 1 vote(s))*"])
    assert len(server.requests) == 6
    shown_first = [prompt_of(b).split("RESPONSE A:\n")[1].split("\n")[0] for b in server.requests]
    pairs = [set(shown_first[i : i + 2]) for i in (0, 2, 4)]  # one test after the other
    assert pairs == [{"GOOD new answer", "old answer"}, {"new answer", "old answer"}, {"new answer", "GOOD old answer"}]
    details = records(suite.path)["test_position_bias_cancels_out"]["scores"][0]["details"]
    assert details["mode"] == "pairwise" and details["template"]["name"] == "judge_pairwise"
    assert details["votes"][0]["orders"] == ["A", "A"] and details["votes"][0]["outcome"] == "tie"


def _completion_with_logprobs(text: str, tokens: list[tuple[str, dict[str, float]]]) -> tuple[int, dict[str, Any]]:
    content = [
        {
            "token": token,
            "logprob": math.log(top.get(token, 1.0)),
            "bytes": None,
            "top_logprobs": [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in top.items()],
        }
        for token, top in tokens
    ]
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "finish_reason": "stop",
        "logprobs": {"content": content},
    }
    return 200, {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "scripted",
        "choices": [choice],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }


def test_a_weighted_score_uses_the_probabilities_of_the_scale_tokens(
    suite: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    answer = _completion_with_logprobs(
        '{"score": 4}',
        [('{"', {}), ("score", {}), ('":', {}), (" 4", {" 4": 0.5, " 5": 0.3, " 2": 0.2}), ("}", {})],
    )
    server = scripted_server([answer, '{"score": 4}'])
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(rubric="Kind", weighted=True)
        def test_weighted(judge):
            assert judge.check("Have a nice day").value == 0.725

        @pytest.mark.llm_judge(rubric="Kind", weighted=True)
        def test_no_logprobs_falls_back_to_the_sampled_score(judge):
            assert judge.check("Have a nice day").value == 0.75
        """
    )
    run(suite, server).assert_outcomes(passed=2)
    assert server.requests[0]["logprobs"] is True and server.requests[0]["top_logprobs"] == 20
    found = records(suite.path)
    weighted = found["test_weighted"]["scores"][0]["details"]
    assert weighted["scoring"] == "weighted"
    assert weighted["votes"][0]["distribution"] == {"2": 0.2, "4": 0.5, "5": 0.3}
    assert weighted["votes"][0]["score"] == pytest.approx(3.9)
    assert found["test_no_logprobs_falls_back_to_the_sampled_score"]["scores"][0]["details"]["scoring"] == "sampled"


LABELS = [
    {"output": "Happy to help! Your order ships tomorrow.", "label": "good"},
    {"output": "Thanks for waiting, it arrives Monday.", "label": "good"},
    {"output": "Figure it out yourself, rude customer.", "label": "bad"},
    {"output": "Stop asking me, rude.", "label": "bad"},
]

CALIBRATED_SUITE = """
import pytest

@pytest.mark.llm_judge(rubric="Polite", calibration="labels.jsonl")
def test_one(judge):
    judge.check("Glad to help.")

@pytest.mark.llm_judge(rubric="Polite", calibration="labels.jsonl")
def test_two(judge):
    judge.check("You are welcome.")
"""


def test_a_judge_that_fails_calibration_grades_no_tests(suite: pytest.Pytester, scripted_server: ServerFactory) -> None:
    server = scripted_server(['{"reasoning": "Looks fine.", "score": 5}'])  # a yes-man
    suite.makefile(".jsonl", labels="\n".join(json.dumps(case) for case in LABELS))
    suite.makepyfile(CALIBRATED_SUITE)
    result = run(suite, server)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*judge:Polite: judge openai:judge failed calibration, so it grades no tests: judge agreed with 2 of 4 "
            "labelled cases in *labels.jsonl (agreement 0.50, kappa 0.00; needs 0.80)*"
        ]
        * 2
    )
    assert len(server.requests) == 4  # calibrated once per session, and nothing graded


def test_a_calibrated_judge_grades_and_reports_its_agreement(
    suite: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    server = scripted_server(lambda body: '{"score": 1}' if "rude" in prompt_of(body) else '{"score": 5}')
    suite.makefile(".yaml", labels=json.dumps({"cases": LABELS}))
    suite.makepyfile(CALIBRATED_SUITE.replace("labels.jsonl", "labels.yaml"))
    run(suite, server, "--llm-judge-min-agreement", "1").assert_outcomes(passed=2)
    assert len(server.requests) == 4 + 2
    for record in records(suite.path).values():
        [calibration] = record["extra"]["judge_calibration"]
        assert (calibration["agreement"], calibration["kappa"], calibration["cases"]) == (1.0, 1.0, 4)
        assert calibration["metric"] == "judge:Polite" and calibration["judge"] == "openai:judge"


def test_calibrate_in_code_stops_the_test_with_an_error(suite: pytest.Pytester, scripted_server: ServerFactory) -> None:
    server = scripted_server(lambda body: "No idea." if "Hello!" in prompt_of(body) else '{"score": 1}')
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(rubric="Polite", retries=0)
        def test_calibrate(judge):
            judge.calibrate([{"output": "Hello!", "label": "good"}, {"output": "Go away", "label": "bad"}], min_agreement=1.0)
        """
    )
    result = run(suite, server)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*judge agreed with 1 of 2 labelled cases in judge.calibrate() *1 answer(s) could not be parsed*"]
    )


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            'criterion="wit"',
            "*unknown judge criterion 'wit'; built-in criteria: answer_relevance, coherence, consistency, *toxicity*",
        ),
        ('rubric="x", threshold=7', "*threshold must be a finite number from 0 to 1 (the score is normalised), got 7*"),
        ("", "*the judge has no rubric: give rubric='...' or criterion='...'*"),
        ('rubric="x", criterion="fluency"', "*give a rubric or a criterion, not both*"),
        (
            'rubric="x", bogus=1',
            "*bad arguments to @pytest.mark.llm_judge*unexpected keyword argument 'bogus' (it takes rubric, criterion, threshold, *)",
        ),
        ('rubric="x", weighted=True, scale=(1, 10)', "*weighted scores need a single-digit scale (0-9), got 1-10*"),
        ('rubric="x", aggregate="mode"', "*aggregate must be one of mean, median, majority, got 'mode'*"),
        (
            'rubric="x", calibration="missing.jsonl"',
            "*cannot calibrate the judge: calibration file *missing.jsonl does not exist*",
        ),
        ('rubric="x", template="nope"', "*unknown prompt template 'nope'*"),
    ],
)
def test_a_bad_marker_is_a_setup_error_with_the_reason(
    suite: pytest.Pytester, scripted_server: ServerFactory, marker: str, message: str
) -> None:
    server = scripted_server(['{"score": 5}'])
    suite.makepyfile(
        f"""
        import pytest

        @pytest.mark.llm_judge({marker})
        def test_marked(judge):
            judge.check("Hello")
        """
    )
    result = run(suite, server)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_a_bad_judge_setting_is_a_usage_error(suite: pytest.Pytester, scripted_server: ServerFactory) -> None:
    result = run(suite, scripted_server(["x"]), "--llm-judge-aggregate", "mode")
    result.stderr.fnmatch_lines(
        ["*invalid value 'mode' for --llm-judge-aggregate: expected one of mean, median, majority*"]
    )


def test_a_built_in_criterion_and_a_project_template(suite: pytest.Pytester, scripted_server: ServerFactory) -> None:
    server = scripted_server(['{"score": 5}'])
    suite.mkdir("prompts")
    (suite.path / "prompts" / "my_judge.jinja").write_text(
        "---\nversion: mine-2\n---\nsystem:\nYou grade poems.\nuser:\n{{ rubric }} | {{ output }} | 1 to {{ scale_high }}\n"
    )
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(criterion="coherence")
        def test_criterion(judge):
            judge.check("First this, then that.")

        @pytest.mark.llm_judge(rubric="Rhymes", template="my_judge")
        def test_template(judge):
            judge.check("Roses are red")
        """
    )
    run(suite, server).assert_outcomes(passed=2)
    assert "Coherence: the output is well-structured" in prompt_of(server.requests[0])
    assert server.requests[1]["messages"] == [
        {"role": "system", "content": "You grade poems."},
        {"role": "user", "content": "Rhymes | Roses are red | 1 to 5"},
    ]
    found = records(suite.path)
    assert found["test_criterion"]["scores"][0]["metric"] == "judge:coherence"
    template = found["test_template"]["scores"][0]["details"]["template"]
    assert (template["name"], template["version"]) == ("my_judge", "mine-2")


def test_the_judge_defaults_to_the_tested_model(suite: pytest.Pytester, scripted_server: ServerFactory) -> None:
    server = scripted_server(['{"score": 5}'])
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.llm("openai:tested")
        @pytest.mark.llm_judge(rubric="Kind")
        def test_default(llm, judge):
            judge.check(llm.complete("hi"))
        """
    )
    result = suite.runpytest(
        "--llm-model",
        "echo",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        "off",
        "--llm-prices",
        "scripted = 1 2",
    )
    result.assert_outcomes(passed=1)
    assert "too small to judge" not in result.stdout.str()  # only SmolLM2's verdicts are warned about
    assert [b["model"] for b in server.requests] == ["tested", "tested"]
    assert [c["role"] for c in records(suite.path)["test_default"]["calls"]] == ["model", "judge"]


def test_judge_calls_are_recorded_and_replayed_like_any_other(
    suite: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    server = scripted_server(['{"score": 4, "reasoning": "Fine."}'])
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.llm_judge(rubric="Kind", votes=2)
        def test_kind(judge):
            assert judge.check("Have a nice day").reasoning == "Fine."
        """
    )
    args = (
        "--llm-model",
        "echo",
        "--llm-judge-model",
        "openai:judge",
        "--llm-openai-base-url",
        server.url,
        "--llm-prices",
        "scripted = 1 2",
    )
    suite.runpytest(*args).assert_outcomes(passed=1)
    assert len(server.requests) == 2
    (suite.path / "records.jsonl").unlink()
    suite.runpytest(*args, "--llm-record-mode", "replay").assert_outcomes(passed=1)
    assert len(server.requests) == 2
    calls = records(suite.path)["test_kind"]["calls"]
    assert [(c["role"], c["cached"]) for c in calls] == [("judge", True), ("judge", True)]
