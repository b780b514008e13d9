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
    """Each test's two cells, made once from the record on its teardown report, for
    pytest-html's rows of it (one per phase report, all built at its teardown)."""

    def __init__(self) -> None:
        self.cells: dict[str, tuple[str, str]] = {}

    def close(self) -> None:
        self.cells.clear()

    @pytest.hookimpl(tryfirst=True)  # before pytest-html builds the test's rows at its teardown
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "llmops_record", None)
        if record is not None:
            self.cells[report.nodeid] = _cells(report.nodeid, record)

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        for offset, (kind, title) in enumerate(COLUMNS):
            cells.insert(2 + offset, f'<th class="sortable" data-column-type="{kind}">{title}</th>')

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        # The test's reports come in order: its cells are needed no more after its teardown's row.
        texts = self.cells.pop(report.nodeid, None) if report.when == "teardown" else self.cells.get(report.nodeid)
        for offset, ((kind, _), text) in enumerate(zip(COLUMNS, texts or ("", ""))):
            cells.insert(2 + offset, f'<td class="col-{kind}">{text}</td>')


def _cells(nodeid: str, record: dict[str, Any]) -> tuple[str, str]:
    """The scores and the cost of a test's ``record``, as escaped HTML."""
    from pytest_llmops._report.data import call_cost, describe_score, row_of
    from pytest_llmops._report.terminal import money
    from pytest_llmops._results import TestOutcome

    row = row_of(TestOutcome(nodeid, record=record))
    scores = "<br>".join(escape(describe_score(s)) for s in row["scores"])
    return scores, escape(money(call_cost(row))) if row["calls"] else ""
