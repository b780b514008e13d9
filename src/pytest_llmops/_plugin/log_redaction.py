"""Captured log records redacted like everything else the plugin shows.

Libraries log what they send (the HTTP client logs each request's URL, credentials and all);
pytest shows captured logs in the terminal, JUnit and ``--log-file``. A filter on each of
pytest's log handlers rewrites a record's message through the run's one redaction rule.
"""

from __future__ import annotations

import logging

import pytest

from pytest_llmops._redact import redact

_HANDLERS = ("caplog_handler", "report_handler", "log_cli_handler", "log_file_handler")


class RedactingFilter(logging.Filter):
    """Replaces a record's message by its redacted text (args already applied)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = redact(message)
        if shown != message:
            record.msg, record.args = shown, ()
        return True


def redact_captured_logs(config: pytest.Config) -> None:
    """Add the filter to every handler of pytest's logging plugin (when it is on)."""
    plugin = config.pluginmanager.get_plugin("logging-plugin")
    if plugin is None:
        return
    log_filter = RedactingFilter()
    for name in _HANDLERS:
        handler = getattr(plugin, name, None)
        if isinstance(handler, logging.Handler):
            handler.addFilter(log_filter)
