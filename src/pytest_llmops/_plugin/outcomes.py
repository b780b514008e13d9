"""How a test ends: the error hierarchy (:mod:`pytest_llmops.errors`) decides ERROR or FAIL,
and an ERROR is an error in every output — the terminal, the JSON, HTML and Markdown reports,
and JUnit XML (whose testcases are rewritten when pytest has written the file).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_llmops._plugin import keys
from pytest_llmops._plugin.wiring import plugin
from pytest_llmops._redact import redact
from pytest_llmops.errors import error_kind

if TYPE_CHECKING:
    from collections.abc import Generator

    from pytest_llmops._plugin.session import LLMSession


class OutcomeHooks:
    """Registered on every process; the JUnit rewrite happens on the controller."""

    def __init__(self, session: LLMSession) -> None:
        self.session = session
        option = session.config.option
        # A user asking for tracebacks gets them; otherwise an ERROR is its one-line reason.
        self.tracebacks = getattr(option, "tbstyle", "auto") in ("long", "native") or getattr(
            option, "fulltrace", False
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        error = call.excinfo.value if call.excinfo is not None else None
        if error is not None:
            _neutralise(error)
        report = yield
        kind = error_kind(error) if report.failed and error is not None else None
        if kind is not None:
            # A server may quote the API key in its error: redacted before any output sees it.
            reason = redact(str(error))
            report.llmops_error = reason  # type: ignore[attr-defined]
            if call.when == "call":
                item.stash[keys.CALL_ERROR] = kind
            if not self.tracebacks:
                label = "ModelCallError" if kind == "infrastructure" else type(error).__name__
                report.longrepr = f"{label}: {reason}"
        if call.when == "teardown":
            self._attach_record(item, report)
            if keys.CALL_ERROR in item.stash:
                from pytest_llmops._report.junit import ERROR_PROPERTY

                # pytest's junitxml writes the teardown report's properties.
                report.user_properties.append((ERROR_PROPERTY, item.stash[keys.CALL_ERROR]))
            keys.release(item)
        return report

    def _attach_record(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """The test's record rides on its teardown report: it survives the trip from a worker."""
        record = item.stash.get(keys.RECORD, None)
        if record is None or not record.used:
            return
        report.llmops_record = record.to_dict()  # type: ignore[attr-defined]
        if getattr(item.config.option, "xmlpath", None):  # --junitxml
            from pytest_llmops._report.junit import junit_properties

            report.user_properties.extend(junit_properties(report.llmops_record))

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
        if report.when == "call" and report.failed and getattr(report, "llmops_error", None):
            return "error", "E", "ERROR"
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        """After pytest's junitxml has written its file: the ERRORs it filed as failures, the
        flaky tests' labels, and the scores where the file's family allows them."""
        xmlpath = getattr(self.session.config.option, "xmlpath", None)
        if self.session.worker or not xmlpath:
            return
        from pytest_llmops._files import write_atomic
        from pytest_llmops._report.flaky import reasons_by_test
        from pytest_llmops._report.junit import finish_junit

        config = self.session.config
        path = Path(xmlpath).expanduser()
        report = getattr(plugin(config, "report"), "report", None) or {}
        flaky = reasons_by_test(report.get("flaky") or [])
        prefix = getattr(config.option, "junitprefix", None)
        try:
            fixed = finish_junit(path.read_text(encoding="utf-8"), config.getini("junit_family"), flaky, prefix)
        except (OSError, SyntaxError):  # ElementTree's ParseError is a SyntaxError
            return  # no file (pytest could not write it) or not XML: pytest reported that
        if fixed is not None:
            write_atomic(path, fixed)


def _neutralise(error: BaseException) -> None:
    """A failure's message may quote untrusted text (model output, a server's error, judge
    reasoning): each exception of the chain whose message holds a control character or a lone
    surrogate gets it with visible escapes instead, before pytest shows or writes it anywhere.
    (The traceback and its source lines are the test's own and stay as they are.)"""
    from pytest_llmops._report.text import needs_escaping, visible

    chain: BaseException | None = error
    seen: set[int] = set()
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        message = str(chain)
        if needs_escaping(message):
            chain.args = (visible(message, lines=True),)
        chain = chain.__cause__ or chain.__context__
