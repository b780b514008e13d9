"""Odd and hostile text in every report writer: it never crashes one, and shows as inert text.

The representation (``pytest_llmops._report.text``): a lone surrogate is U+FFFD everywhere; a
control character is a visible ``\\xNN`` escape in the terminal, HTML, Markdown and JUnit XML,
and stays (JSON-escaped) in the JSON report.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ElementTree
from typing import Any

import pytest
from html_check import LiveElements

from pytest_llmops._report.data import build_report
from pytest_llmops._report.html import render_html
from pytest_llmops._report.json_report import render_json, validate
from pytest_llmops._report.junit import finish_junit, junit_properties
from pytest_llmops._report.markdown import cell, render_markdown
from pytest_llmops._report.numbers import json_safe
from pytest_llmops._report.terminal import render_terminal
from pytest_llmops._report.text import visible
from pytest_llmops._results import TestOutcome

HOSTILE = {
    "lone-surrogate": "half \ud800 a pair",
    "low-surrogate-first": "\udc00\ud800 reversed",
    "nul": "a\x00b",
    "c0-controls": "bell\x07 back\x08space vt\x0b ff\x0c fs\x1c",
    "c1-controls": "nel\x85 csi\x9b31m",
    "del": "rub\x7fout",
    "ansi-csi": "\x1b[31mred\x1b[0m \x1b[2J\x1b[H",
    "ansi-osc-link": "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07",
    "osc-title": "\x1b]0;pwned\x1b\\",
    "bare-esc": "esc\x1b alone",
    "carriage-return": "PASSED\r FAILED",
    "mixed": "\ud83d\x00\x1b[1m<b>&amp;</b>\ud800",
}
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def hostile_report(text: str) -> dict[str, Any]:
    """A report with ``text`` everywhere untrusted text lands: id, error, output, prompt, reasoning."""
    call = {
        "text": text,
        "model": text,
        "backend": "openai",
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "latency_s": 0.1,
        "cost_usd": 0.0,
        "cached": False,
        "finish_reason": text,
        "role": "model",
        "prompt_versions": [],
        "request": {"messages": [{"role": "user", "content": text}]},
    }
    score = {
        "metric": "exact",
        "label": text,
        "value": 0.0,
        "threshold": 1.0,
        "passed": False,
        "output": text,
        "reference": "x" + text,
        "details": {"reasoning": text},
    }
    prompt = {"name": text, "hash": "h", "snapshot": "changed", "text": text, "snapshot_text": "x"}
    record = {"calls": [call], "scores": [score], "prompts": [prompt], "extra": {text: text}}
    outcomes = [TestOutcome(f"t.py::test[{text}]", "failed", 0.1, f"ModelCallError: {text}", record)]
    return build_report(outcomes, {"model": text, "record_mode": "off", "created": "2024-01-01T00:00:00+00:00"})


cases = pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))


@cases
def test_json_keeps_the_text_and_is_utf8(text: str) -> None:
    written = render_json(hostile_report(text)).encode("utf-8")
    report = json.loads(written)
    assert validate(report) is None
    expected = re.sub("[\ud800-\udfff]", "\ufffd", text)
    assert report["tests"][0]["calls"][0]["text"] == expected
    assert report["tests"][0]["nodeid"] == f"t.py::test[{expected}]"


@pytest.mark.parametrize("value", [0.5, math.nan, math.inf], ids=["finite", "nan", "inf"])
def test_json_is_one_test_a_line_and_holds_what_an_indented_dump_does(value: float) -> None:
    report = hostile_report("plain \x1b text")
    report["tests"].append({**report["tests"][0], "nodeid": "t.py::test_second", "duration_s": value})
    written = render_json(report)  # the C encoder, or with a non-finite number the spelled copy
    assert json.loads(written) == json.loads(json.dumps(json_safe(report), indent=2, sort_keys=True))
    lines = written.splitlines()
    rows = lines[lines.index('"tests":[') + 1 : lines.index("]")]
    assert [json.loads(row.rstrip(","))["nodeid"] for row in rows] == [
        "t.py::test[plain \x1b text]",
        "t.py::test_second",
    ]


@cases
def test_html_shows_control_characters_as_escapes(text: str) -> None:
    page = render_html(hostile_report(text))
    page.encode("utf-8")
    assert not CONTROL.search(page)
    LiveElements(page).assert_inert()
    assert "<b>" not in page


@cases
def test_markdown_shows_control_characters_as_escapes(text: str) -> None:
    markdown = render_markdown(hostile_report(text))
    markdown.encode("utf-8")
    assert not CONTROL.search(markdown)


@cases
def test_terminal_lines_hold_no_control_sequence(text: str) -> None:
    lines = render_terminal(hostile_report(text))
    assert not any(CONTROL.search(line) or "\n" in line for line in lines)
    assert any(visible(f"t.py::test[{text}]") in line for line in lines)


@cases
def test_junit_properties_are_valid_xml_names(text: str) -> None:
    properties = junit_properties(hostile_report(text)["tests"][0])
    assert not any(CONTROL.search(name) for name, _ in properties)
    case = ElementTree.Element("testcase", name="t")
    element = ElementTree.SubElement(case, "properties")
    for name, value in properties:
        ElementTree.SubElement(element, "property", name=name, value=value)
    ElementTree.fromstring(ElementTree.tostring(case))  # parses back: XML 1.0


def test_visible_escapes_every_control_character_and_only_those() -> None:
    controls = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]]
    assert visible("".join(controls)) == "".join(f"\\x{ord(c):02x}" for c in controls)
    assert visible("tab\tand\nnewline", lines=True) == "tab\tand\nnewline"
    assert visible("café ✓ \U0001f600 \u2028") == "café ✓ \U0001f600 \u2028"
    assert visible("\ud800") == "\ufffd"


MENTIONS_LINKS_AND_MARKUP = [
    "@octocat please look",
    "cc @acme/security-team",
    "mail root@example.com",
    "[click](http://evil.example)",
    "![pixel](http://evil.example/p.png)",
    "see https://evil.example/x",
    "go to www.evil.example",
    "<http://evil.example>",
    "<img src=x onerror=alert(1)>",
    "</td></table><script>",
    "a | b | c",
    "`code` and ```fence",
    "line one\nline two\r\n| fake | row |",
    "&lt;script&gt; &amp; &#64;x",
    "fixes #123",
    "**bold** _em_ ~~strike~~",
    "[ref]: http://evil.example",
]


@pytest.mark.parametrize("text", MENTIONS_LINKS_AND_MARKUP)
def test_a_markdown_cell_is_inert_on_github(text: str) -> None:
    shown = cell(text)
    assert "\n" not in shown and "\r" not in shown
    assert not re.search(r"(?<!\\)[|`\[\]()!*_~]", shown)  # Markdown punctuation escaped
    assert not re.search(r"[<>]|&(?!amp;|lt;|gt;)", shown)  # HTML characters as entities
    assert not re.search(r"[@#]\w|://|www\.", shown, re.IGNORECASE)  # nothing GitHub autolinks


def test_a_markdown_cell_keeps_its_text_readable() -> None:
    assert cell("a|b\n<script>") == r"a\|b &lt;script&gt;"
    assert cell("&lt;") == "&amp;lt;"
    assert cell("@user").replace("\u2060", "") == "@user"


def _suite(family_properties: str) -> str:
    return (
        '<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2">'
        f'<testcase classname="t" name="test_a">{family_properties}<failure message="m">x</failure></testcase>'
        '<testcase classname="t" name="test_b" /></testsuite></testsuites>'
    )


def test_finish_junit_moves_scores_to_the_suite_under_xunit2_only() -> None:
    properties = (
        '<properties><property name="llmops.score.exact" value="1" />'
        '<property name="llmops.error" value="infrastructure" />'
        '<property name="mine" value="kept" /></properties>'
    )
    xunit2 = ElementTree.fromstring(finish_junit(_suite(properties), "xunit2") or "")
    suite = xunit2.find("testsuite")
    assert suite is not None
    assert [(p.get("name"), p.get("value")) for p in suite.findall("properties/property")] == [
        ("t.test_a::llmops.score.exact", "1"),
        ("t.test_a::llmops.error", "infrastructure"),
    ]
    assert [p.get("name") for p in suite.iter("testcase").__next__().iter("property")] == ["mine"]
    assert (suite.get("failures"), suite.get("errors")) == ("0", "1")
    xunit1 = ElementTree.fromstring(finish_junit(_suite(properties), "xunit1") or "")
    assert len(list(xunit1.iter("property"))) == 3 and xunit1.find("testsuite/properties") is None
    assert finish_junit(_suite(""), "xunit2") is None  # nothing to change


def test_junit_property_names_are_unique_in_a_testcase() -> None:
    scores = [{"metric": "exact", "value": v, "threshold": 1.0, "passed": v == 1} for v in (1.0, 0.0, 1.0)]
    names = [name for name, _ in junit_properties({"scores": scores})]
    assert names == ["llmops.score.exact", "llmops.score.exact#2", "llmops.score.exact#3", "llmops.threshold.exact"]
