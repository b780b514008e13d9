"""``--llm-estimate``: what a run would call live and could cost, with no call made."""

from __future__ import annotations

from typing import Callable

import pytest
from servers import ScriptedServer

ServerFactory = Callable[..., ScriptedServer]

SUITE = """
import pytest

def test_recorded(llm):
    assert llm.complete("hello", max_tokens=100).text == "Hi there."

@pytest.mark.parametrize("question", ["one", "two"])
def test_new(llm, question):
    llm.complete(question, max_tokens=100)

@pytest.mark.llm("local")
def test_local(llm):
    llm.complete("free")
"""

# Where the inner run says whether any model was loaded: an estimate loads none.
CONFTEST = """
import sys

def pytest_sessionfinish(session):
    (session.config.rootpath / f"loaded-{id(session)}.txt").write_text(str("torch" in sys.modules))
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two workers"])
def test_an_estimate_lists_the_calls_that_would_go_live_and_makes_none(
    pytester: pytest.Pytester, scripted_server: ServerFactory, workers: list[str]
) -> None:
    server = scripted_server(["Hi there."])
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    flags = ["--llm-model", "openai:gpt-x", "--llm-openai-base-url", server.url, "--llm-prices", "gpt-x = 1 2"]
    pytester.runpytest_subprocess(*flags, "-k", "recorded").assert_outcomes(passed=1, deselected=3)
    assert len(server.requests) == 1

    result = pytester.runpytest_subprocess(*flags, "--llm-estimate", "-rs", *workers)

    result.assert_outcomes(passed=1, skipped=3)  # the recorded call replays; nothing else is called
    assert len(server.requests) == 1
    assert {p.read_text() for p in pytester.path.glob("loaded-*.txt")} == {"False"}
    # One bound a call: (3 prompt bytes + 16 of message overhead) x $1/Mtok + 100 tokens x $2/Mtok.
    result.stdout.fnmatch_lines(
        [
            "*estimate: would call openai:gpt-x live (at most $0.0002)*",
            "*estimate: would call local live (at most $0.0000)*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "estimate: 3 calls would go live, at most $0.0004 in all; none was made",
            "  openai:gpt-x: 2 calls, at most $0.0004",
            "  local: 1 call, at most $0.0000",
        ]
    )
    assert not list((pytester.path / "llm_recordings").rglob("*test_new*"))  # nothing recorded
    assert result.ret == pytest.ExitCode.OK
