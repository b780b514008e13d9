"""The HTML report as a reviewer reads it: the page headless Chromium shows once its script ran."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from html_check import chromium_evaluate
from test_report_data import RUN, outcome

from pytest_llmops._report.data import build_report
from pytest_llmops._report.html import render_html
from pytest_llmops._results import TestOutcome

# Each row's id and its first cell's text, the review mode's controls left out.
ROWS = (
    "Array.from(document.querySelectorAll('#tests > tbody')).map(b => [b.id, (cell => { cell = cell.cloneNode(true); "
    "cell.querySelectorAll('.review').forEach(e => e.remove()); return cell.textContent; })(b.querySelector('tr.test').cells[0])])"
)
OPENED = "Array.from(document.querySelectorAll('#tests details[open]')).map(d => d.closest('tbody').id)"


def page(tmp_path: Path, *outcomes: TestOutcome) -> Path:
    path = tmp_path / "report.html"
    path.write_text(render_html(build_report(outcomes, RUN)), encoding="utf-8")
    return path


def test_errors_then_failures_sort_first_each_with_its_reason(tmp_path: Path) -> None:
    long_error = "ModelCallError: <b>" + "x" * 300 + "\nsecond line"
    report = page(
        tmp_path,
        outcome("t::a"),
        outcome("t::b", "failed", error="AssertionError: the reply misses it"),
        outcome("t::c", "error", error=long_error),
        outcome("t::d"),
        outcome("t::e", "error", error="boom"),
    )
    rows = chromium_evaluate(report, tmp_path, ROWS)
    assert rows == [
        ["test-3", "t::c" + "ModelCallError: <b>" + "x" * 140 + "\u2026"],  # first line, cut to 160, as text
        ["test-5", "t::eboom"],
        ["test-2", "t::bAssertionError: the reply misses it"],
        ["test-1", "t::a"],
        ["test-4", "t::d"],
    ]
    assert len(rows[0][1]) - len("t::c") == 160


def test_the_tests_table_fits_a_1400_pixel_window(tmp_path: Path) -> None:
    nodeid = "tests/test_support.py::test_reply[" + "a-very-long-parameter-id-" * 20 + "]"
    failed = outcome(
        nodeid,
        "failed",
        error="AssertionError: " + "the reply misses the reference " * 10,
        scores=[{"metric": "rougeL", "value": 0.2, "threshold": 0.5, "passed": False}],
    )
    width = chromium_evaluate(
        page(tmp_path, failed, outcome("t::" + "b" * 400)),
        tmp_path,
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]",
    )
    assert width[0] <= 1400 and width[0] <= width[1]  # no horizontal scroll (the width beside the scroll bar)


def test_the_url_hash_opens_a_tests_details_at_load_and_when_it_changes(tmp_path: Path) -> None:
    report = page(tmp_path, *(outcome(f"t::{name}") for name in "abcd"))
    changed = (
        "new Promise(done => { window.addEventListener('hashchange', () => setTimeout(() => done("
        f"[{OPENED}, location.hash]))); location.hash = '#test-4'; }})"
    )
    assert chromium_evaluate(report, tmp_path, OPENED, "#test-2") == ["test-2"]
    assert chromium_evaluate(report, tmp_path, changed, "#test-2") == [["test-2", "test-4"], "#test-4"]


def test_a_word_diff_shows_each_change_as_its_deleted_then_its_inserted_words(tmp_path: Path) -> None:
    prompt: dict[str, Any] = {
        "name": "reply",
        "version": "2",
        "hash": "ab" * 32,
        "snapshot": "changed",
        "snapshot_text": "Please tell the customer about the subscription.",
        "text": "Please ask a client about the plan.",
    }
    pieces = chromium_evaluate(
        page(tmp_path, outcome("t::a", prompts=[prompt])),
        tmp_path,
        "Array.from(document.querySelector('#test-1 div.text').childNodes).map(n => [n.nodeName, n.textContent])",
        "#test-1",
    )
    assert pieces == [
        ["#text", "Please "],
        ["DEL", "tell the customer"],
        ["INS", "ask a client"],
        ["#text", " about the "],
        ["DEL", "subscription."],
        ["INS", "plan."],
    ]


def test_a_grounded_case_shows_its_answer_beside_its_context(tmp_path: Path) -> None:
    answer = "Refunds take 5 days [kb-2]. Refunds are paid in cash."
    scores = [
        {
            "metric": "judge:faithfulness",
            "value": 0.5,
            "threshold": 1,
            "passed": False,
            "kind": "judge",
            "output": answer,
            "details": {"unsupported": ["Refunds are paid in cash."], "reasoning": "unsupported: ..."},
        },
        {
            "metric": "judge:context_relevance",
            "value": 0.5,
            "threshold": 1,
            "passed": False,
            "kind": "judge",
            "output": answer,
            "details": {"items": [{"id": "kb-2", "passed": True}, {"id": "kb-7", "passed": False}]},
        },
    ]
    failed = outcome("t::rag", "failed", scores=scores)
    failed.record["extra"]["case"] = {
        "id": "rag",
        "source": "cases.jsonl:1",
        "relevant": {"kb-2": 1.0, "kb-4": 1.0},
        "context": [{"id": "kb-2", "text": "Refunds take 5 days."}, {"id": "kb-7", "text": "<b>Shipping</b> is free."}],
    }
    shown = chromium_evaluate(
        page(tmp_path, failed),
        tmp_path,
        """(() => {
        const box = document.querySelector('#test-1 .grounding');
        return {
          marked: Array.from(box.querySelectorAll('mark.unsupported')).map(m => m.textContent),
          answer: box.querySelector('div.text').textContent,
          chunks: Array.from(box.querySelectorAll('div.chunk')).map(c => c.textContent),
          bold: box.querySelectorAll('b').length,
          missed: box.querySelector('p.fail').textContent,
        };
    })()""",
        "#test-1",
    )
    assert shown == {
        "marked": ["Refunds are paid in cash."],
        "answer": answer,
        "chunks": ["1. kb-2 relevant\nRefunds take 5 days.", "2. kb-7 judged irrelevant\n<b>Shipping</b> is free."],
        "bold": 0,  # chunk text is text, never markup
        "missed": "Relevant, not retrieved: kb-4",
    }
