"""Pieces of the small suites that pytester runs inside the tests."""

from __future__ import annotations

# A conftest for inner suites: every test record (as it travels on the report, so also from
# xdist workers) is appended to records.jsonl in the suite's folder.
RECORDS_CONFTEST = """
import json

def pytest_runtest_logreport(report):
    record = getattr(report, "llmops_record", None)
    if record is not None:
        with open("records.jsonl", "a") as file:
            file.write(json.dumps(record) + "\\n")
"""
