"""``python -m pytest_llmops merge``: read shard reports, merge them, gate, write, give a verdict.

The gate uses the tolerances the shards ran with (``run.settings``), so the merged verdict is
the one a single run of the whole suite would have given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

#: Exit codes: as pytest's for a run that passed or failed; 2 for unusable input.
PASSED, FAILED, REFUSED = 0, 1, 2
_RENDERERS = {
    "json": ("json_report", "render_json"),
    "html": ("html", "render_html"),
    "md": ("markdown", "render_markdown"),
}


def merged_run(
    paths: Sequence[Path], baseline: Path | None, outputs: Mapping[str, Path | None], say: Callable[[str], None]
) -> int:
    """Merge the reports at ``paths``, gate on ``baseline``, write ``outputs`` (format -> path)."""
    import importlib

    from pytest_llmops._files import write_atomic
    from pytest_llmops._report.baseline import ReportFileError, Tolerances, compare, load_report
    from pytest_llmops._report.comparison import ComparisonSettings, compare_variants
    from pytest_llmops._report.data import gate_failed
    from pytest_llmops._report.merge import MergeError, Part, incomplete, merge
    from pytest_llmops._report.terminal import render_terminal
    from pytest_llmops._report.text import visible

    try:
        parts = [Part(str(path), load_report(path, "shard report")) for path in paths]
        report = merge(parts)
        settings = report["run"]["settings"] or {}
        if baseline is not None:
            report["baseline"] = compare(
                load_report(baseline), report, Tolerances.from_settings(settings), str(baseline)
            )
        if settings.get("variants"):
            report["comparison"] = compare_variants(report["tests"], ComparisonSettings.from_settings(settings))
    except (ReportFileError, MergeError) as error:
        say(visible(f"pytest-llmops merge: {error}"))
        return REFUSED
    for kind, path in outputs.items():
        if path is not None:
            module, function = _RENDERERS[kind]
            try:
                write_atomic(
                    path, getattr(importlib.import_module(f"pytest_llmops._report.{module}"), function)(report)
                )
            except OSError as error:
                say(visible(f"pytest-llmops merge: cannot write {path}: {error.strerror or error}"))
                return REFUSED
    for line in render_terminal(report):
        say(line)
    tests = report["summary"]["tests"]
    failed = bool(tests["failed"] or tests["error"] or incomplete(report)) or gate_failed(report)
    say(f"pytest-llmops merge: {'FAILED' if failed else 'passed'}")
    return FAILED if failed else PASSED
