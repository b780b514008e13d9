"""The plugin's one command-line entry point: ``python -m pytest_llmops <subcommand>``.

Each subcommand is a function taking its parsed arguments and returning an exit code, added to
:data:`SUBCOMMANDS` with the function that declares its arguments. Tests run with ``pytest``;
this is for what happens around runs (checking a report, merging shard reports; later: history, review).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Sequence

from pytest_llmops import __version__


def _validate_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", type=Path, help="a JSON report written by --llm-report-json")


def validate_report(arguments: argparse.Namespace) -> int:
    """Check a JSON report against the report schema: 0 when it matches, 1 when it does not."""
    from pytest_llmops._report.json_report import parse_report, validate

    path: Path = arguments.report
    try:
        report, literals = parse_report(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"pytest-llmops: cannot read {path}: {error}")
        return 1
    if literals:
        print(
            f"pytest-llmops: {path} is not standard JSON: it holds the bare literal {literals[0]} "
            f'({len(literals)} in all); a report spells a non-finite number as the string "NaN", '
            f'"Infinity" or "-Infinity"'
        )
        return 1
    problem = validate(report)
    if problem is not None:
        print(f"pytest-llmops: {path} does not match the report schema: {problem}")
        return 1
    print(f"{path}: a valid pytest-llmops report (schema version {report['schema_version']})")
    return 0


def _merge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reports", type=Path, nargs="+", help="the JSON reports of the shards (or jobs) of one run")
    parser.add_argument("--json", type=Path, help="write the merged JSON report here")
    parser.add_argument("--html", type=Path, help="write the merged HTML report here")
    parser.add_argument("--md", type=Path, help="write the merged Markdown summary here")
    parser.add_argument(
        "--baseline", type=Path, help="a JSON report to gate the merged run on, with the tolerances the shards ran with"
    )


def merge_reports(arguments: argparse.Namespace) -> int:
    """Merge shard reports into one and gate on it: 0 when every test passed (or skipped) and the
    gate passed, 1 when a test failed or errored, the gate failed, or tests are missing or
    duplicated; 2 when the reports cannot be read or are not parts of one run."""
    from pytest_llmops._report.merge_command import merged_run

    return merged_run(
        arguments.reports,
        arguments.baseline,
        {"json": arguments.json, "html": arguments.html, "md": arguments.md},
        print,
    )


#: name -> (declare its arguments, run it, one line of help).
SUBCOMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]] = {
    "validate-report": (_validate_report_arguments, validate_report, "check a JSON report against its schema"),
    "merge": (_merge_arguments, merge_reports, "merge the JSON reports of a run's shards into one report and one gate"),
}

# The run history's trends: argument declarations only here; its work loads when it runs.
from pytest_llmops._history import command as _history  # noqa: E402

SUBCOMMANDS["history"] = (
    _history.declare,
    _history.run,
    "show the trends of the last runs of the history (llm_history)",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_llmops", description="pytest-llmops outside a test run.")
    parser.add_argument("--version", action="version", version=f"pytest-llmops {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="<subcommand>", required=True)
    for name, (declare, _, summary) in SUBCOMMANDS.items():
        declare(commands.add_parser(name, help=summary, description=summary))
    arguments = parser.parse_args(argv)
    return SUBCOMMANDS[arguments.command][1](arguments)
