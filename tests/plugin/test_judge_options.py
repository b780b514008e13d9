"""Judge options checked wherever they are set (marker, call, settings), the judge without a
marker, and judge answers that cannot be trusted: each ends as an ERROR naming the problem."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest
from servers import ScriptedServer

pytest_plugins = ["pytester"]

ServerFactory = Callable[..., ScriptedServer]


def literal(text: str) -> str:
    """``text`` for ``fnmatch_lines``, its ``[`` taken literally (``*`` stays a wildcard)."""
    return text.replace("[", "[[]")


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
        "--llm-max-retries",
        "0",
        *args,
    )


BAD_OPTIONS = [
    ("scale", '(1, "5")', "scale must be a pair of integers (low, high) with low < high, got (1, '5')"),
    ("scale", "(5, 1)", "scale must be a pair of integers (low, high) with low < high, got (5, 1)"),
    ("scale", "(1, 2, 3)", "scale must be a pair of integers*got (1, 2, 3)"),
    ("scale", "(True, 5)", "scale must be a pair of integers*got (True, 5)"),
    ("threshold", '"0.5"', "threshold must be a finite number from 0 to 1*got '0.5'"),
    ("threshold", 'float("nan")', "threshold must be a finite number from 0 to 1*got nan"),
    ("threshold", 'float("inf")', "threshold must be a finite number from 0 to 1*got inf"),
    ("threshold", "1.5", "threshold must be a finite number from 0 to 1*got 1.5"),
    ("min_agreement", "2", "min_agreement must be a number from 0 to 1, got 2"),
    ("min_agreement", '"high"', "min_agreement must be a number from 0 to 1, got 'high'"),
    ("weighted", '"yes"', "weighted must be True or False, got 'yes'"),
    ("weighted", "1", "weighted must be True or False, got 1"),
    ("votes", "0", "votes must be an integer >= 1, got 0"),
    ("votes", "2.5", "votes must be an integer >= 1, got 2.5"),
    ("votes", "True", "votes must be an integer >= 1, got True"),
    ("temperature", "3", "temperature must be a finite number from 0 to 2, got 3"),
    ("temperature", 'float("nan")', "temperature must be a finite number from 0 to 2, got nan"),
    ("temperature", '"hot"', "temperature must be a finite number from 0 to 2, got 'hot'"),
    ("aggregate", '"mode"', "aggregate must be one of mean, median, majority, got 'mode'"),
    ("aggregate", '["mean"]', "aggregate must be one of mean, median, majority, got ['mean']"),
    ("mode", '"ranking"', "mode must be one of score, pairwise, got 'ranking'"),
    ("rubric", '""', "rubric must be a non-empty string, got ''"),
    ("rubric", "42", "rubric must be a non-empty string, got 42"),
    ("criterion", '"  "', "criterion must be a non-empty string naming a built-in criterion, got '  '"),
    ("retries", "-1", "retries must be an integer >= 0, got -1"),
    ("max_tokens", "0", "max_tokens must be an integer >= 1, got 0"),
    ("seed", "1.5", "seed must be an integer, got 1.5"),
    ("model", "3", "model must be a model spec, got 3"),
]


@pytest.mark.parametrize(("option", "value", "message"), BAD_OPTIONS)
@pytest.mark.parametrize("where", ["marker", "call"])
def test_a_bad_option_is_an_error_naming_it_on_the_marker_and_on_a_call(
    pytester: pytest.Pytester, scripted_server: ServerFactory, where: str, option: str, value: str, message: str
) -> None:
    server = scripted_server(['{"score": 5}'])
    given = f"{option}={value}" if option in ("rubric", "criterion") else f'rubric="Kind", {option}={value}'
    if where == "marker":
        test = f"@pytest.mark.llm_judge({given})\ndef test_it(judge):\n    judge.check('Hello')\n"
    else:
        test = f"def test_it(judge):\n    judge.check('Hello', {given})\n"
    pytester.makepyfile("import pytest\n\n" + test)
    result = run(pytester, server)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([literal(f"*{message}*")])
    assert server.requests == []


@pytest.mark.parametrize("where", ["marker", "call", "calibrate"])
def test_an_unknown_option_is_refused_with_the_known_ones(
    pytester: pytest.Pytester, scripted_server: ServerFactory, where: str
) -> None:
    server = scripted_server(['{"score": 5}'])
    test = {
        "marker": "@pytest.mark.llm_judge(rubric='Kind', treshold=0.7)\ndef test_it(judge):\n    judge.check('Hi')\n",
        "call": "def test_it(judge):\n    judge.check('Hi', rubric='Kind', treshold=0.7)\n",
        "calibrate": "def test_it(judge):\n    judge.calibrate([{'output': 'Hi', 'label': 'good'}], rubric='Kind', treshold=0.7)\n",
    }[where]
    pytester.makepyfile("import pytest\n\n" + test)
    result = run(pytester, server)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*treshold*rubric, criterion, threshold, label, mode, scale, votes, *min_agreement*"])


def test_without_a_marker_the_call_gives_the_rubric(pytester: pytest.Pytester, scripted_server: ServerFactory) -> None:
    server = scripted_server(lambda body: '{"score": 1}' if "rude" in json.dumps(body) else '{"score": 5}')
    pytester.makepyfile(
        """
        def test_check(judge):
            assert judge.check("hi", rubric="Is polite").value == 1.0

        def test_criterion_and_threshold(judge):
            judge.check("First this, then that.", criterion="coherence", threshold=0.9)

        def test_calibrate(judge):
            cases = [{"output": "Thanks!", "label": "good"}, {"output": "Go away, rude.", "label": "bad"}]
            assert judge.calibrate(cases, rubric="Is polite", min_agreement=1.0).agreement == 1.0

        def test_a_call_without_rubric(judge):
            judge.check("hi")

        def test_calibrate_without_rubric(judge):
            judge.calibrate([{"output": "hi", "label": "good"}])
        """
    )
    result = run(pytester, server)
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*the judge has no rubric: give rubric='...' or criterion='...' *to @pytest.mark.llm_judge(...) or to the call*"
        ]
        * 2
    )


def test_model_and_calibration_can_be_given_to_a_call(
    pytester: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    server = scripted_server(lambda body: '{"score": 1}' if "rude" in json.dumps(body) else '{"score": 5}')
    pytester.makefile(".jsonl", labels='{"output": "Thanks!", "label": "good"}\n{"output": "rude", "label": "good"}')
    pytester.makepyfile(
        """
        def test_other_model(judge):
            judge.check("hi", rubric="Is polite", model="openai:other")

        def test_calibrated_call(judge):
            judge.check("hi", rubric="Is polite", calibration="labels.jsonl", min_agreement=0.9)
        """
    )
    result = run(pytester, server)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*judge:Is polite: judge openai:judge failed calibration*agreement 0.50*needs 0.90*"])
    assert server.requests[0]["model"] == "other"


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--llm-judge-votes", "0"),
        ("--llm-judge-votes", "two"),
        ("--llm-judge-aggregate", "mode"),
        ("--llm-judge-temperature", "nan"),
        ("--llm-judge-temperature", "2.5"),
        ("--llm-judge-retries", "-1"),
        ("--llm-judge-min-agreement", "2"),
        ("--llm-judge-min-agreement", "inf"),
    ],
)
def test_a_bad_judge_setting_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, scripted_server: ServerFactory, flag: str, value: str
) -> None:
    pytester.makepyfile("def test_it(judge):\n    judge.check('hi', rubric='Kind')\n")
    result = run(pytester, scripted_server(['{"score": 5}']), flag, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*invalid value '{value}' for {flag}: expected *"])


NESTED = '{"score": ' + "[" * 5000 + "4" + "]" * 5000 + "}"
BAD_ANSWERS = [
    (NESTED, "the answer nests brackets more than 32 deep"),
    ('{"score": [4]}', "score [4] is not a number"),
    ('{"score": {"value": 4}}', "score {'value': 4} is not a number"),
    ('{"score": true}', "score True is not a number"),
    ('{"score": NaN}', "score nan is not a finite number"),
    ('{"score": Infinity}', "score inf is not a finite number"),
    ('{"score": 1e400}', "score inf is not a finite number"),
    ('{"score": ' + "9" * 5000 + "}", "no score on the 1-5 scale found"),
    ('{"score": 4, "reasoning": ["fine"]}', "reasoning ['fine'] is not text"),
    ('{"score": 4, "reasoning": 7}', "reasoning 7 is not text"),
    ("Score: 4 " + " " * 3_000_000, "the answer is 3000009 characters long; at most 20000 are read"),
    ("score" + " " * 19_000 + "x", "no score on the 1-5 scale found"),
    ("1" * 19_000, "score '1111*is not a finite number"),
]


@pytest.mark.parametrize(("answer", "reason"), BAD_ANSWERS, ids=[reason[:30] for _, reason in BAD_ANSWERS])
def test_an_untrustworthy_answer_is_an_error_quickly(
    pytester: pytest.Pytester, scripted_server: ServerFactory, answer: str, reason: str
) -> None:
    server = scripted_server([answer])
    pytester.makepyfile("def test_it(judge):\n    judge.check('hi', rubric='Kind', retries=0)\n")
    started = time.monotonic()
    result = run(pytester, server)
    assert time.monotonic() - started < 10
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [literal(f"*judge:Kind: judge openai:judge gave no readable answer in 1 attempt(s) ({reason})*")]
    )


@pytest.mark.parametrize("winner", ['["A"]', '{"A": 1}', "1", "null"])
def test_a_pairwise_winner_that_is_not_text_is_an_error(
    pytester: pytest.Pytester, scripted_server: ServerFactory, winner: str
) -> None:
    server = scripted_server([f'{{"winner": {winner}}}'])
    pytester.makepyfile("def test_it(judge):\n    judge.check('hi', reference='ho', mode='pairwise', retries=0)\n")
    result = run(pytester, server)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*gave no readable answer*is not A, B or tie*"])


@pytest.mark.parametrize("content", [42, {"text": "Score: 4"}, [{"type": "image", "url": "x"}]])
def test_an_answer_that_is_not_text_is_an_error(
    pytester: pytest.Pytester, scripted_server: ServerFactory, content: Any
) -> None:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    body = {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "judge",
        "choices": [choice],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    pytester.makepyfile("def test_it(judge):\n    judge.check('hi', rubric='Kind')\n")
    result = run(pytester, scripted_server([(200, body)]))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*openai:judge*"])


@pytest.mark.parametrize(
    ("instructions", "unreadable", "readable"),
    [
        ("Answer with one line: Score: N", "Looks polite to me.", "Score: 4"),
        ("Answer with a bare number and nothing else.", "four", "4"),
        ("Answer as XML: <grade>N</grade> out of 5", "<grade>good</grade>", "<grade>4/5</grade>"),
    ],
)
def test_the_re_ask_follows_the_templates_own_format(
    pytester: pytest.Pytester, scripted_server: ServerFactory, instructions: str, unreadable: str, readable: str
) -> None:
    server = scripted_server([unreadable, readable])
    pytester.mkdir("prompts")
    (pytester.path / "prompts" / "plain_judge.jinja").write_text(
        f"Grade {{{{ output }}}} for {{{{ rubric }}}} from {{{{ scale_low }}}} to {{{{ scale_high }}}}. {instructions}\n"
    )
    pytester.makepyfile(
        "def test_it(judge):\n    assert judge.check('hi', rubric='Kind', template='plain_judge').value == 0.75\n"
    )
    run(pytester, server).assert_outcomes(passed=1)
    reminder = server.requests[1]["messages"][-1]["content"]
    assert "JSON" not in reminder
    assert "a score from 1 to 5, in exactly the format the instructions above ask for" in reminder
    assert instructions in server.requests[1]["messages"][0]["content"]
