"""A run whose model answers odd text (lone surrogates, NUL, control sequences) with record mode
off and every report on: no writer crashes, every report is written, and none shows a control
character (the JSON report keeps them, escaped as JSON does)."""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import pytest
from servers import ScriptedServer

pytest_plugins = ["pytester"]

ODD = {
    "surrogate": "half \ud800 pair \udfff",
    "nul": "nul \x00 byte",
    "ansi": "\x1b[31mred\x1b[0m \x1b]8;;http://evil.example\x07link\x1b]8;;\x07 \x1b[2J",
    "tricks": "ok\rFAILED\x08\x08 bell\x07 nel\x85 del\x7f",
}
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

SUITE = f"""
import pytest

ODD = {ODD!r}

@pytest.mark.golden(metrics={{"exact": 1}})
@pytest.mark.parametrize("kind", list(ODD))
def test_answer(llm, golden, kind):
    golden.check(llm.complete(kind), reference="expected " + ODD[kind])

@pytest.mark.parametrize("kind", list(ODD), ids=lambda kind: ODD[kind])
def test_odd_id(llm, kind):
    assert llm.complete(kind).text

def test_server_error(llm):
    llm.complete("refuse")
"""


def answer(body: dict[str, Any]) -> Any:
    prompt = body["messages"][-1]["content"]
    if prompt == "refuse":
        return 400, {"error": {"message": "no: " + "".join(ODD.values())}}
    return ODD[prompt]


@pytest.fixture
def run(pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]) -> pytest.RunResult:
    server = scripted_server(answer)
    pytester.makepyfile(test_odd=SUITE)
    return pytester.runpytest(
        "--llm-model",
        "openai:scripted",
        "--llm-openai-base-url",
        server.url,
        "--llm-max-retries",
        "0",
        "--llm-record-mode",
        "off",
        "-p",
        "no:cacheprovider",
        "--llm-report-json",
        "out/report.json",
        "--llm-report-html",
        "out/report.html",
        "--llm-report-md",
        "out/report.md",
        "--junitxml",
        "out/junit.xml",
    )


def test_odd_text_never_loses_a_report(pytester: pytest.Pytester, run: pytest.RunResult) -> None:
    run.assert_outcomes(failed=4, passed=4, errors=1)
    out = pytester.path / "out"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    texts = {call["text"] for test in report["tests"] for call in test["calls"]}
    assert "half \ufffd pair \ufffd" in texts and "nul \x00 byte" in texts  # JSON: U+FFFD; NUL kept, escaped
    for name in ("report.html", "report.md", "junit.xml"):
        written = (out / name).read_text(encoding="utf-8")
        assert not CONTROL.search(written), name
    assert "\\x1b[31mred" in (out / "report.html").read_text(encoding="utf-8")


def test_the_terminal_gets_no_control_sequence(run: pytest.RunResult) -> None:
    assert not CONTROL.search(run.stdout.str())
    run.stdout.fnmatch_lines(["*ModelCallError: openai:scripted * answered HTTP 400: no: half * pair *nul \\x00 byte*"])
    run.stdout.fnmatch_lines(["*golden check 'output' failed*", "*FAILED\\x08\\x08 bell\\x07*"])
