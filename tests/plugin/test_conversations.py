"""Multi-turn conversations: ``llm.conversation()`` from code and a dataset's ``turns`` rows;
each turn a recorded call carrying the whole history (checked at a scripted server on
127.0.0.1), per-turn golden checks, judge criteria on the whole transcript, and the transcript
in the record and the reports, escaped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from servers import ScriptedServer

pytest_plugins = ["pytester"]

ServerFactory = Callable[..., ScriptedServer]
HOSTILE = "<img src=x onerror=alert(1)> @everyone"


def numbered(body: dict[str, Any]) -> str:
    """The tested model's answer: which user turn this is."""
    return f"answer {sum(1 for m in body['messages'] if m['role'] == 'user')}"


def report_of(root: Path) -> dict[str, Any]:
    return json.loads((root / "r.json").read_text())


def test_a_conversation_sends_the_history_each_turn_and_records_its_transcript(
    pytester: pytest.Pytester, scripted_server: ServerFactory
) -> None:
    server = scripted_server(numbered, model="app")
    pytester.makepyfile(
        f"""
        def test_chat(llm, golden):
            conv = llm.conversation(system="Be brief")
            assert conv.say("hi").text == "answer 1"
            golden.check(conv.say("and then?"), reference="answer 2")
            assert [m.role for m in conv.messages] == ["system", "user", "assistant", "user", "assistant"]
            assert str(conv).startswith("system: Be brief\\n\\nuser: hi\\n\\nassistant: answer 1")
            assert conv.last is conv.turns[-1].reply and len(conv.replies) == 2

        def test_a_failing_turn(llm, golden):
            conv = llm.conversation()
            golden.check(conv.say({HOSTILE!r}), reference="something else")
        """
    )
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--llm-model",
        "openai:app",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        "off",
        "--llm-report-json",
        "r.json",
        "--llm-report-md",
        "r.md",
        "--llm-report-html",
        "r.html",
    )
    result.assert_outcomes(passed=1, failed=1)
    chat = [body["messages"] for body in server.requests if body["messages"][0]["role"] == "system"]
    assert chat[1] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "answer 1"},
        {"role": "user", "content": "and then?"},
    ]
    rows = {row["nodeid"].split("::")[-1]: row for row in report_of(pytester.path)["tests"]}
    [conversation] = rows["test_chat"]["extra"]["conversations"]
    assert conversation["model"] == "openai:app" and len(conversation["messages"]) == 5
    assert len(rows["test_chat"]["calls"]) == 2
    assert rows["test_a_failing_turn"]["extra"]["conversations"][0]["messages"][0]["content"] == HOSTILE

    markdown = (pytester.path / "r.md").read_text()
    assert markdown.count("### Conversation of") == 1 and "Be brief" not in markdown  # failing tests only
    assert "&lt;img src=x onerror=alert\\(1\\)&gt; @\u2060everyone" in markdown and "<img" not in markdown
    html = (pytester.path / "r.html").read_text()
    assert "<img src=x" not in html and "\\u003cimg src=x onerror=alert(1)>" in html


DATASET = "\n".join(
    json.dumps(row)
    for row in (
        {
            "id": "refund",
            "system": "You are a support bot",
            "turns": ["hello", {"user": "refund please", "expected": "refund please"}],
        },
        {"id": "wrong", "turns": ["hi", {"user": "what now", "expected": "something else"}]},
        {"id": "not-a-list", "turns": "hello"},
        {"id": "empty", "turns": []},
        {"id": "bad-turn", "turns": [{"say": "hello"}]},
    )
)

DATASET_SUITE = """
import pytest

@pytest.mark.llm_dataset("chats.jsonl")
def test_chat(case, golden):
    conv = case.conversation
    assert case.output is conv.last and conv.name == case.id
    for turn in conv.turns:
        if turn.expected is not None:
            golden.check(turn.reply, reference=turn.expected)
"""


def test_a_datasets_turns_rows_are_played_as_conversations_and_replayed(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", chats=DATASET)
    pytester.makepyfile(test_chats=DATASET_SUITE)
    args = ("-p", "no:cacheprovider", "--llm-model", "echo", "--llm-report-json", "r.json")
    result = pytester.runpytest(*args, "--llm-record-mode", "new")
    result.assert_outcomes(passed=1, failed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*chats.jsonl:3: column 'turns': a list of user turns (as JSON in a CSV cell), not 'hello'*",
            "*chats.jsonl:4: column 'turns': turns must be a non-empty list of user turns*",
            "*chats.jsonl:5: column 'turns': a turn is a string or {\"user\": text, \"expected\": ...}, not {'say': 'hello'}*",
        ]
    )
    rows = {row["nodeid"].split("[")[-1].rstrip("]"): row for row in report_of(pytester.path)["tests"]}
    refund = rows["refund"]
    assert [c["request"]["messages"][0] for c in refund["calls"]] == [
        {"role": "system", "content": "You are a support bot"}
    ] * 2
    assert refund["extra"]["conversations"][0]["messages"][-1] == {"role": "assistant", "content": "refund please"}
    assert refund["extra"]["conversations"][0]["expected"] == [None, "refund please"]

    replayed = pytester.runpytest(*args, "--llm-record-mode", "replay")
    replayed.assert_outcomes(passed=1, failed=1, errors=3)
    calls = [c for row in report_of(pytester.path)["tests"] for c in row["calls"]]
    assert len(calls) == 4 and all(c["cached"] for c in calls)


def test_judge_criteria_grade_the_whole_conversation(pytester: pytest.Pytester, scripted_server: ServerFactory) -> None:
    def judge(body: dict[str, Any]) -> str:
        prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
        assert "user: my name is Ada\n\nassistant: my name is Ada\n\nuser: what is my name?" in prompt
        if "Goal reached" in prompt:
            return '{"reasoning": "never said the name", "score": 2}'
        assert "Consistency across turns" in prompt
        return '{"reasoning": "consistent", "score": 5}'

    server = scripted_server(judge)
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def conv(llm):
            conv = llm.conversation()
            conv.play(["my name is Ada", "what is my name?"])
            return conv

        def test_consistent(conv, judge):
            assert judge.check(conv, criterion="turn_consistency").value == 1.0

        def test_goal(conv, judge):
            judge.check(conv, criterion="goal_reached", question="The user learns their name is remembered")

        def test_goal_needs_the_goal(conv, judge):
            judge.check(conv, criterion="goal_reached")
        """
    )
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--llm-model",
        "echo",
        "--llm-judge-model",
        "openai:judge",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        "off",
    )
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*goal_reached: scored 0.25 (2 on the 1-5 scale), below the threshold 0.50*",
            "*goal_reached needs the question: judge.check(output, question=...)*",
        ]
    )


def test_a_datasets_prompt_template_opens_each_conversation(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", chats=json.dumps({"id": "ada", "customer": "Ada", "turns": ["hello", "bye"]}))
    pytester.mkdir("prompts")
    pytester.path.joinpath("prompts", "support.jinja").write_text("system:\nYou help {{ customer }}.\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_dataset("chats.jsonl", prompt="support")
        def test_chat(case, llm_record):
            assert [m.content for m in case.conversation.messages][:2] == ["You help Ada.", "hello"]
            assert [p["name"] for p in llm_record.prompts] == ["support"]
            assert all(c["prompt_versions"][0]["name"] == "support" for c in llm_record.calls)
            assert len(llm_record.calls) == 2
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "--llm-model", "echo", "--llm-record-mode", "off").assert_outcomes(
        passed=1
    )
