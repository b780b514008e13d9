"""JUnit XML with scores: valid against pytest's own schema under xunit2 (the default), scores
per testcase under xunit1; scored, failed, errored and odd-text tests; no name twice.

``tests/data/junit-10.xsd`` is pytest's ``testing/example_scripts/junit-10.xsd`` (MIT).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
from lxml import etree
from servers import ScriptedServer

pytest_plugins = ["pytester"]

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parents[1] / "data" / "junit-10.xsd")))

SUITE = """
import pytest

@pytest.mark.golden(metrics={"exact": 1})
def test_scored(llm, golden):
    golden.check(llm.complete("fine"), reference="fine")
    golden.check(llm.complete("fine"), reference="fine")  # the same metric twice

@pytest.mark.golden(metrics={"exact": 1})
def test_failed(llm, golden):
    golden.check(llm.complete("fine"), reference="other")

def test_errored(llm):
    llm.complete("refuse")

@pytest.mark.golden(metrics={"exact": 1})
@pytest.mark.parametrize("text", ["\\x1b[31m\\x00<b>&\\ud800"], ids=lambda text: text)
def test_odd(llm, golden, text):
    golden.check(llm.complete("odd"), reference=text)
"""


def answer(body: dict[str, Any]) -> Any:
    prompt = body["messages"][-1]["content"]
    if prompt == "refuse":
        return 500, {"error": {"message": "down \x1b[2J\x00\ud800"}}
    return "odd \x1b]0;title\x07\x00\ud800" if prompt == "odd" else prompt


def junit(pytester: pytest.Pytester, server: ScriptedServer, family: str) -> etree._Element:
    pytester.makepyfile(test_scores=SUITE)
    result = pytester.runpytest(
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
        "--junitxml",
        "junit.xml",
        "-o",
        f"junit_family={family}",
    )
    result.assert_outcomes(passed=1, failed=2, errors=1)
    return etree.parse(str(pytester.path / "junit.xml")).getroot()


def names(element: etree._Element) -> list[str]:
    return [p.get("name") for p in element.iterfind("properties/property")]


def test_xunit2_validates_with_scores_on_the_testsuite(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    root = junit(pytester, scripted_server(answer), "xunit2")
    SCHEMA.assertValid(root)
    [suite] = root.iter("testsuite")
    assert (suite.get("failures"), suite.get("errors")) == ("2", "1")
    assert not list(suite.iterfind("testcase/properties"))
    properties = dict((p.get("name"), p.get("value")) for p in suite.iterfind("properties/property"))
    assert properties["test_scores.test_scored::llmops.score.exact[output]"] == "1"
    assert properties["test_scores.test_scored::llmops.score.exact[output]#2"] == "1"
    assert properties["test_scores.test_failed::llmops.score.exact[output]"] == "0"
    assert properties["test_scores.test_errored::llmops.error"] == "infrastructure"
    assert properties["test_scores.test_scored::llmops.tokens_in"] == "14"
    assert [n for n, count in Counter(names(suite)).items() if count > 1] == []


def test_xunit1_keeps_scores_per_testcase(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    root = junit(pytester, scripted_server(answer), "xunit1")
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert names(cases["test_scored"]) == [
        "llmops.score.exact[output]",
        "llmops.score.exact[output]#2",
        "llmops.threshold.exact[output]",
        "llmops.calls",
        "llmops.cached_calls",
        "llmops.tokens_in",
        "llmops.tokens_out",
        "llmops.cost_usd",
        "llmops.latency_s",
    ]
    assert "llmops.error" in names(cases["test_errored"])
    assert cases["test_errored"].find("error") is not None
    for case in cases.values():
        assert [n for n, count in Counter(names(case)).items() if count > 1] == []
    assert root.find("testsuite/properties") is None
