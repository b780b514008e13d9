"""``python -m pytest_llmops history``: the trends of the last runs, as a table and a page."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def declare(parser: argparse.ArgumentParser) -> None:
    given = os.environ.get("PYTEST_LLMOPS_HISTORY")
    parser.add_argument(
        "--db",
        required=not given,
        default=given,
        help="the history: an llm_history value, a file path or a postgresql:// URL (default: $PYTEST_LLMOPS_HISTORY)",
    )
    parser.add_argument(
        "--last", type=_positive, default=20, metavar="N", help="how many of the last runs (default 20)"
    )
    parser.add_argument("--html", type=Path, metavar="PATH", help="also write the trends as a self-contained HTML page")


def run(arguments: argparse.Namespace) -> int:
    """Print the trends (and write the page); 1 when the history cannot be read."""
    from pytest_llmops._optional import MissingExtraError, import_optional

    try:
        store_module = import_optional("pytest_llmops._history.store", "history")
    except MissingExtraError as error:
        print(f"pytest-llmops: {error}")
        return 1
    try:
        store = store_module.open_store(arguments.db, Path.cwd())
        try:
            runs = store.last_runs(arguments.last)
        finally:
            store.close()
    except (store_module.HistoryError, MissingExtraError) as error:
        print(f"pytest-llmops: {error}")
        return 1
    from pytest_llmops._history.trends import trend_lines, trends

    data = trends(runs)
    for line in trend_lines(data):
        print(line)
    if arguments.html:
        from pytest_llmops._files import write_atomic
        from pytest_llmops._history.page import render_trends

        try:
            write_atomic(arguments.html, render_trends(data))
        except OSError as error:
            print(f"pytest-llmops: cannot write {arguments.html}: {error.strerror or error}")
            return 1
        print(f"trends of {len(runs)} runs written to {arguments.html}")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected an integer >= 1")
    return value
