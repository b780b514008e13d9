"""The run report's writer (controller only): builds the report, writes it, gates on it."""

from __future__ import annotations

import datetime
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import pytest

from pytest_llmops.errors import ConfigError

# Each renderer, the baseline gate and the file writers load only when a run needs them.

if TYPE_CHECKING:
    from pytest_llmops._plugin.history import HistoryWriter
    from pytest_llmops._plugin.session import LLMSession
    from pytest_llmops._results import TestOutcome
    from pytest_llmops.settings import Settings


def run_reporter(session: LLMSession, history: HistoryWriter | None = None) -> RunReporter:
    """The controller's report writer; an unreadable baseline is a usage error, at start-up.
    ``history``: the run history's writer, whose last runs the drift and flaky checks read."""
    baseline = None
    if session.settings.baseline:
        from pytest_llmops._report.baseline import ReportFileError, load_report

        try:
            baseline = load_report(_path(session.config, "llm_baseline", session.settings.baseline))
        except ReportFileError as error:
            raise ConfigError(f"llm_baseline: {error}") from None
    return RunReporter(session.config, session, baseline, history)


def _path(config: pytest.Config, option: str, value: str) -> Path:
    """A path given on the command line is relative to where pytest was started; one from the
    ini file is relative to the rootdir (the ini file's folder), as the prompts folder is."""
    given_here = config.getoption(option, None) is not None
    return (config.invocation_params.dir if given_here else config.rootpath) / value


class RunReporter:
    """Controller only: builds the report once the run is over, writes it, and gates on it."""

    def __init__(
        self,
        config: pytest.Config,
        session: LLMSession,
        baseline: dict[str, Any] | None,
        history: HistoryWriter | None = None,
    ) -> None:
        self.config = config
        self.session = session
        self.baseline = baseline
        self.served_before = history.served_before if history else None
        self.recent_tests = history.recent if history else None
        self.report: dict[str, Any] | None = None
        self.problems: list[str] = []

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self._needed():
            return
        from pytest_llmops._collector import paused
        from pytest_llmops._report.data import gate_failed

        with paused():
            report = self._built()
            self._write(report)
        self.config.hook.pytest_llmops_run_summary(summary=report, config=self.config)
        if (gate_failed(report) or self.problems) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def close(self) -> None:
        self.report = None

    def _needed(self) -> bool:
        """Whether anything reads the report: a report file, the baseline gate, a summary hook,
        the budget line, the error-rate gate, or the terminal summary of tests that called (or
        tried to call) a model or scored. A run of plain tests (or ``--collect-only``) builds none."""
        settings = self.session.settings
        return bool(
            settings.report_json
            or settings.report_html
            or settings.report_md
            or self.baseline is not None
            or settings.budget_usd is not None
            or settings.max_error_rate is not None
            or self.session.called_a_model()
            or self.config.hook.pytest_llmops_run_summary.get_hookimpls()
            or any(outcome.record for outcome in self.session.outcomes.values())
        )

    def _built(self) -> dict[str, Any]:
        """The run's report (kept as ``self.report``), redacted, with its baseline comparison."""
        from pytest_llmops import __version__
        from pytest_llmops._report.data import build_report

        settings = self.session.settings
        provenance = _provenance(self.config, settings)
        run = {
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "model": settings.model,
            "judge_model": settings.judge_model,
            "record_mode": settings.record_mode,
            "selection": self.session.rule.selection(self.session.outcomes).to_dict(),
            "settings": settings.reported(),
            "shard": settings.shard.to_dict() if settings.shard is not None else None,
            "commit": (provenance["git"] or {}).get("commit"),
            "version": __version__,
            "endpoints": self.session.call_stats().endpoints,
        }
        run.update(provenance)
        report = build_report(_released(self.session.outcomes.values()), run, settings.budget_usd, self._metric_range)
        # A prompt may quote a secret of the environment (an API key): no report shows it.
        report = self.report = _redacted(report)
        report["comparison"] = self._compared(report)
        report["drift"] = self._drift(report)
        report["flaky"] = self._flaky(report)
        from pytest_llmops._report.data import model_summary

        # The pipeline's counts: every attempt, failed ones and retries too (no test row has them).
        report["summary"]["models"] = model_summary(
            report["tests"], self.session.call_stats().by_spec, settings.max_error_rate
        )
        report["summary"]["max_error_rate"] = settings.max_error_rate
        if self.baseline is not None:
            from pytest_llmops._report.baseline import Tolerances, compare

            tolerances = Tolerances.from_settings(report["run"]["settings"])
            report["baseline"] = compare(self.baseline, report, tolerances, str(settings.baseline))
        return report

    def _flaky(self, report: dict[str, Any]) -> list[dict[str, Any]]:
        """The tests this run shows flaky, and those that passed and failed over the history's
        last runs (with one)."""
        from pytest_llmops._report.flaky import combined, flaky_in_run

        over_history: list[dict[str, Any]] = []
        if self.recent_tests is not None:
            from pytest_llmops._history.flaky import flaky_tests

            over_history = flaky_tests(report["tests"], self.recent_tests)
        return combined(flaky_in_run(report["tests"]), over_history)

    def _drift(self, report: dict[str, Any]) -> list[dict[str, Any]]:
        """How the served models changed against the history's last runs and, for a spec the
        history has not seen, against the baseline."""
        from pytest_llmops._report.drift import changes, served

        now = served(report["tests"])
        failing = self.session.settings.fail_on_drift
        found = changes(now, self.served_before or {}, "the history", failing)
        if self.baseline is not None:
            unseen = {spec: values for spec, values in now.items() if spec not in (self.served_before or {})}
            found += changes(unseen, served(self.baseline.get("tests", [])), "the baseline", failing)
        return found

    def _compared(self, report: dict[str, Any]) -> dict[str, Any] | None:
        """The A/B comparison of the run's variants (None when it compared none)."""
        if not self.session.settings.variants:
            return None
        from pytest_llmops._report.comparison import ComparisonSettings, compare_variants

        return compare_variants(report["tests"], ComparisonSettings.from_settings(report["run"]["settings"]))

    def _metric_range(self, name: str) -> tuple[float | None, float | None]:
        """The scale of metric ``name`` (its registered ``bounds``); 0 to 1 for a score of no
        registered metric (a judge's, a custom one)."""
        from pytest_llmops._report.data import DEFAULT_RANGE

        registry = self.session.metrics
        return registry.get(name).bounds if name in registry.names else DEFAULT_RANGE

    def _write(self, report: dict[str, Any]) -> None:
        """Write each report asked for; one that cannot be written is named, the others still are."""
        from pytest_llmops._files import append_text, remove_stale_temporaries, write_atomic

        settings = self.session.settings
        markdown = functools.cache(lambda: _render("markdown", "render_markdown", report))
        for option, path, render in (
            ("llm_report_json", settings.report_json, lambda: _render("json_report", "render_json", report)),
            ("llm_report_html", settings.report_html, lambda: _render("html", "render_html", report)),
            ("llm_report_md", settings.report_md, markdown),
        ):
            if path:
                target = _path(self.config, option, path)
                remove_stale_temporaries(target)
                self._attempt(option, target, lambda: write_atomic(target, render()))
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary and _used_models(report):
            self._attempt(
                "GITHUB_STEP_SUMMARY", Path(step_summary), lambda: append_text(Path(step_summary), markdown())
            )

    def _attempt(self, setting: str, target: Path, write: Callable[[], None]) -> None:
        try:
            write()
        except OSError as error:
            self.problems.append(f"pytest-llmops: {setting}: cannot write {target}: {error.strerror or error}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report is not None and _used_models(self.report):
            from pytest_llmops._report.terminal import render_terminal

            terminalreporter.write_sep("=", "pytest-llmops")
            for line in render_terminal(self.report):
                terminalreporter.write_line(line)
        if self.problems:
            from pytest_llmops._report.text import visible

            for problem in self.problems:
                terminalreporter.write_line(visible(problem), red=True)


def _provenance(config: pytest.Config, settings: Settings) -> dict[str, Any]:
    """The run's git commit and branch (when it has them) and its settings' digest."""
    from pytest_llmops._report.provenance import git_facts, settings_digest

    return {"git": git_facts(config.rootpath), "settings_digest": settings_digest(settings)}


def _redacted(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with no secret in it, checked row by row: its text is never encoded whole (a
    run of 100,000 tests would hold all of it twice at its end)."""
    from pytest_llmops._redact import redact_data

    rest = redact_data({key: value for key, value in report.items() if key != "tests"})
    rows = [redact_data(row) for row in report["tests"]]
    return {key: rows if key == "tests" else rest[key] for key in report}


def _released(outcomes: Iterable[TestOutcome]) -> Iterator[TestOutcome]:
    """Each outcome, its record dropped once its report row is built (the row holds it now): a
    run of 100,000 cases never holds every record twice."""
    for outcome in outcomes:
        yield outcome
        outcome.record = None


def _render(module: str, function: str, report: dict[str, Any]) -> str:
    """``report`` rendered by ``pytest_llmops._report.<module>.<function>``, loaded only now."""
    import importlib

    render: Callable[[dict[str, Any]], str] = getattr(
        importlib.import_module(f"pytest_llmops._report.{module}"), function
    )
    return render(report)


def _used_models(report: dict[str, Any]) -> bool:
    summary = report["summary"]
    return bool(
        summary["calls"]["total"]
        or summary["metrics"]
        or report["baseline"]
        or summary["budget"]
        or report.get("comparison")
        or report.get("drift")
        or report.get("flaky")
        or any(m["failed_attempts"] or m["retries"] for m in summary.get("models", {}).values())
    )
