"""pytest-html interop: its results table gains each test's scores and cost, through its own
``pytest_html_results_table_header`` and ``pytest_html_results_table_row`` hooks.

Registered only when pytest-html writes a report (``--html``). The cells are HTML, so every
text is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

import pytest

COLUMNS = (("llmScores", "LLM scores"), ("llmCost", "LLM cost"))


class HtmlColumns:
    """Keeps each test's record from its teardown report, for pytest-html's row of it."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.records.clear()

    @pytest.hookimpl(tryfirst=True)  # before pytest-html builds the test's rows at its teardown
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "llmops_record", None)
        if record is not None:
            self.records[report.nodeid] = record

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        for offset, (kind, title) in enumerate(COLUMNS):
            cells.insert(2 + offset, f'<th class="sortable" data-column-type="{kind}">{title}</th>')

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        from pytest_llmops._report.data import call_cost, describe_score, row_of
        from pytest_llmops._report.terminal import money
        from pytest_llmops._results import TestOutcome

        # The test's reports come in order: its record is needed no more after its teardown's row.
        record = self.records.pop(report.nodeid, None) if report.when == "teardown" else self.records.get(report.nodeid)
        row = row_of(TestOutcome(report.nodeid, record=record)) if record else None
        scores = "<br>".join(escape(describe_score(s)) for s in row["scores"]) if row else ""
        cost = escape(money(call_cost(row))) if row and row["calls"] else ""
        for offset, (kind, text) in enumerate(zip((k for k, _ in COLUMNS), (scores, cost))):
            cells.insert(2 + offset, f'<td class="col-{kind}">{text}</td>')
