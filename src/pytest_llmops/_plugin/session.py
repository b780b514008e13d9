"""The one owner of a run's state, on every process (the controller and each xdist worker).

It holds the settings, the call pipeline and its budget, the backend and metric registries,
the prompt library, the snapshot store, the recordings, the dataset prefetch, the judge
calibrations already run, and every test's outcome; the hook objects of ``entry`` read it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmops._plugin import keys
from pytest_llmops._plugin.run_rule import RunRule
from pytest_llmops._plugin.xdist import is_worker, send_to_controller, worker_input
from pytest_llmops._redact import install as install_redactor
from pytest_llmops.errors import ConfigError

if TYPE_CHECKING:
    from pytest_llmops._calls.estimate import Estimate
    from pytest_llmops._calls.pipeline import CallPipeline, CallStats
    from pytest_llmops._golden import GoldenPlan
    from pytest_llmops._judge.calibration import Calibration
    from pytest_llmops._models.client import CallCache
    from pytest_llmops._models.registry import BackendRegistry
    from pytest_llmops._plugin.cases import CasePrefetch
    from pytest_llmops._plugin.review import ReviewApplier
    from pytest_llmops._plugin.snapshots import SnapshotStore
    from pytest_llmops._prompts import PromptLibrary
    from pytest_llmops._recordings import Recordings
    from pytest_llmops._redact import Redactor
    from pytest_llmops._results import TestOutcome, TestRecord
    from pytest_llmops.metrics import MetricRegistry
    from pytest_llmops.settings import Settings

_LEDGER = "budget_ledger"


class LLMSession:
    """Created at configure time on every process; registered as a plugin by ``entry``.

    What it owns is built on first use: a run that makes no model call never builds a pipeline.
    """

    #: The dataset prefetch, set by ``cases`` on first use (it builds clients, which read the session).
    cases: CasePrefetch | None = None

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.worker = is_worker(config)
        self.outcomes: dict[str, TestOutcome] = {}
        self.rule = RunRule(config)
        #: Each xdist worker's part, by worker id (controller side).
        self.worker_parts: dict[str, dict[str, Any]] = {}
        #: Judge calibrations run this session: key -> the calibration, or why it could not run.
        self.calibrations: dict[tuple[Any, ...], Calibration | str] = {}
        #: Golden plans by the identity of the marker they were read from (None: no marker).
        self.golden_plans: dict[int, tuple[pytest.Mark | None, GoldenPlan]] = {}
        self.ledger = self._ledger()
        self.recordings = self._recordings()
        #: The review being applied (``--llm-apply-review``), else None.
        self.review: ReviewApplier | None = None
        install_redactor(self._redactor)

    # -- what the session owns, built on first use ----------------------------------------

    @functools.cached_property
    def pipeline(self) -> CallPipeline:
        """The one pipeline of every model call this process makes, with the run's budget."""
        from pytest_llmops._calls.budget import Budget
        from pytest_llmops._calls.pipeline import CallPipeline

        settings = self.settings
        budget = Budget(settings.budget_usd, self.ledger) if settings.budget_usd is not None and self.ledger else None
        return CallPipeline(
            concurrency=settings.concurrency,
            adaptive=settings.adaptive_concurrency,
            timeout_s=settings.timeout,
            max_retries=settings.max_retries,
            budget=budget,
            estimate=self._estimate(),
        )

    def _estimate(self) -> Estimate | None:
        """The run's tally under ``--llm-estimate`` (no call then goes live), else None."""
        if not self.config.getoption("llm_estimate"):
            return None
        from pytest_llmops._calls.estimate import Estimate

        return Estimate()

    @functools.cached_property
    def backends(self) -> BackendRegistry:
        """Backends from every plugin and conftest, gathered on first use."""
        from pytest_llmops._models.registry import BackendRegistry

        return BackendRegistry.from_hooks(self.config, self.settings)

    @functools.cached_property
    def metrics(self) -> MetricRegistry:
        """Metrics from every plugin and conftest; a ``model`` spec loads through the backends
        and its calls go through the pipeline's bound."""
        from pytest_llmops._plugin import wiring
        from pytest_llmops.metrics import MetricRegistry
        from pytest_llmops.metrics._builtin import BuiltinMetrics

        # The built-in metrics join the hook only now (last, as ``trylast``): a run that scores
        # nothing never loads them.
        wiring.register(self.config, "builtin-metrics", BuiltinMetrics(one_thread=self.worker))
        return MetricRegistry.collect(
            lambda register: self.config.hook.pytest_llmops_register_metrics(register=register),
            lambda spec: self.pipeline.bounded(self.backends.get(spec)),
        )

    @functools.cached_property
    def prompts(self) -> PromptLibrary:
        """The library of the prompts folder (``llm_prompts_dir``, under the rootdir)."""
        from pytest_llmops._prompts import PromptLibrary

        return PromptLibrary(self.config.rootpath / Path(self.settings.prompts_dir))

    @functools.cached_property
    def snapshots(self) -> SnapshotStore:
        from pytest_llmops._plugin.snapshots import SnapshotStore

        return SnapshotStore(self)

    def record_of(self, item: pytest.Item) -> TestRecord:
        """The record of ``item``, created on first use."""
        record = item.stash.get(keys.RECORD, None)
        if record is None:
            from pytest_llmops._results import TestRecord

            record = item.stash[keys.RECORD] = TestRecord(item.nodeid)
            if keys.VARIANT in item.stash:
                from pytest_llmops._plugin.variants import note_variant

                note_variant(item, record)
        return record

    def cache_for(self, item: pytest.Item) -> CallCache | None:
        """The record/replay cache for ``item``'s calls (None: every call is live).

        One view per test, shared by all its clients (model and judge), so identical requests
        are numbered per test and a replay-mode miss names the test.
        """
        if self.recordings is None:
            return None
        view = item.stash.get(keys.RECORDINGS, None)
        if view is None:
            from pytest_llmops._recordings import TestRecordings

            view = item.stash[keys.RECORDINGS] = TestRecordings(self.recordings, item)
        return view

    def check_model_specs(self) -> None:
        """Every model spec the settings name (``llm_model``, ``llm_judge_model``) has a backend,
        and each endpoint it names is in ``llm_endpoints``.

        Run at session start, once the plugins and the rootdir's conftests have registered
        theirs; a throwaway registry, as conftests found later may still register more. A
        built-in prefix without an endpoint needs none.
        """
        from pytest_llmops._models.builtin import BUILTINS

        named = (("llm_model", self.settings.model), ("llm_judge_model", self.settings.judge_model))
        others = [
            (name, spec)
            for name, spec in named
            if spec is not None and spec.strip().partition(":")[0] not in BUILTINS  # an endpoint, or a plugin's
        ]
        if not others:
            return
        from pytest_llmops._models.registry import BackendRegistry, UnknownModelError
        from pytest_llmops.settings import source_of

        registry = BackendRegistry.from_hooks(self.config, self.settings)
        for name, spec in others:
            try:
                registry.parse(spec)
            except UnknownModelError as error:
                where = source_of(self.config, name)
                prefix = spec.strip().partition(":")[0].partition("@")[0]
                if prefix in registry.prefixes:  # a known backend, an unknown endpoint
                    raise ConfigError(f"{error}; set by {where}") from None
                known = ", ".join(f"{prefix}:" for prefix in registry.prefixes)
                raise ConfigError(f"unknown model spec {spec!r} for {where}: known prefixes are {known}") from None

    # -- the xdist channel's two ends -----------------------------------------------------

    def worker_input(self) -> dict[str, Any]:
        """What each xdist worker is told: the ``--dist`` mode (for the dataset prefetch) and the
        budget's ledger."""
        from pytest_llmops._plugin.xdist import DIST

        told: dict[str, Any] = {DIST: self.config.getoption("dist", None)}
        if self.ledger is not None:
            told[_LEDGER] = str(self.ledger)
        return told

    def call_stats(self) -> CallStats:
        """The run's model-call figures: this process's and every xdist worker's."""
        from pytest_llmops._calls.pipeline import CallStats

        parts = [part["calls"] for part in self.worker_parts.values()]
        return CallStats.merged([self._own_call_stats(), *parts])

    def called_a_model(self) -> bool:
        """Whether this process or an xdist worker counted a model call (tried or made); it loads
        nothing when none did."""
        return any(part["calls"].get("by_spec") for part in self.worker_parts.values()) or bool(
            self._built_pipeline() is not None and self.call_stats().by_spec
        )

    def _own_call_stats(self) -> dict[str, Any]:
        """This process's model-call figures (none when it built no pipeline)."""
        pipeline = self._built_pipeline()
        return pipeline.figures() if pipeline is not None else {}

    def _own_estimate(self) -> Estimate:
        """This process's ``--llm-estimate`` tally (empty when it built no pipeline)."""
        from pytest_llmops._calls.estimate import Estimate

        pipeline = self._built_pipeline()
        return pipeline.estimate if pipeline is not None and pipeline.estimate is not None else Estimate()

    def _built_pipeline(self) -> CallPipeline | None:
        """The pipeline if a call has needed it, else None (it is not built to be cancelled)."""
        return self.__dict__.get("pipeline")

    # -- hooks ----------------------------------------------------------------------------

    def pytest_sessionstart(self) -> None:
        from pytest_llmops._plugin.log_redaction import redact_captured_logs

        redact_captured_logs(self.config)  # pytest's logging plugin exists from here on

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.rule.note_deselected(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.rule.note_collected(session.items)
        # Every conftest has loaded now: a redactor built earlier (a log record during
        # collection) may lack scrubbers of conftests collected after it; build it again.
        install_redactor(self._redactor)

    @pytest.hookimpl(trylast=True)  # after every other plugin has read the report
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold one phase's report into the test's outcome (controller side)."""
        outcome = self.outcomes.get(report.nodeid)
        if outcome is None:
            from pytest_llmops._results import TestOutcome

            outcome = self.outcomes[report.nodeid] = TestOutcome(report.nodeid)
        outcome.duration_s += report.duration
        if report.outcome == "rerun":  # pytest-rerunfailures: a failed attempt, run again
            outcome.reruns += 1
        record = getattr(report, "llmops_record", None)
        if record is not None:
            outcome.record = record
            if not self.worker:  # a worker's report still travels to the controller
                # pytest keeps every report to the end: the outcome alone holds the record.
                del report.llmops_record
        error = getattr(report, "llmops_error", None)
        if report.failed and (report.when != "call" or error):
            outcome.outcome = "error"
            outcome.error = error or _last_line(report.longreprtext)
        elif report.failed and outcome.outcome != "error":
            outcome.outcome = "failed"
        elif report.skipped and outcome.outcome == "passed":
            outcome.outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        """The run is over (or stopped by ``-x``, ``--maxfail``, Ctrl-C): no call is waited for.

        On a worker, the session's part goes to the controller.
        """
        self._cancel_calls()
        if self.worker:
            send_to_controller(
                self.config,
                {
                    "calls": self._own_call_stats(),
                    "recordings": self.recordings.worker_part() if self.recordings is not None else None,
                    "snapshots": self.snapshots.worker_part(),
                    "selection": self.rule.worker_part(),
                    "estimate": self._own_estimate().worker_part(),
                },
            )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.config.getoption("llm_estimate"):
            estimate = self._own_estimate()
            estimate.absorb(part.get("estimate", {}) for part in self.worker_parts.values())
            for line in estimate.lines():
                terminalreporter.write_line(line)
        if self._built_pipeline() is None and not self.worker_parts:
            return  # no model call was made
        stats = self.call_stats()
        if stats.attempts:
            terminalreporter.write_line(f"pytest-llmops {stats.summary()}")

    def close(self) -> None:
        self._cancel_calls()
        install_redactor(None)
        # Freed now, not by pytest's final garbage collections (which would walk it all).
        self.outcomes.clear()
        self.worker_parts.clear()
        if self.ledger is not None and not self.worker:
            from pytest_llmops._calls.budget import remove_ledger

            remove_ledger(self.ledger)

    def _cancel_calls(self) -> None:
        pipeline = self._built_pipeline()
        if pipeline is not None:
            pipeline.cancel()

    # -- set-up ---------------------------------------------------------------------------

    def _ledger(self) -> Path | None:
        """The budget's ledger (None without a budget): the controller creates it."""
        if self.settings.budget_usd is None:
            return None
        if self.worker:
            return Path(worker_input(self.config)[_LEDGER])
        from pytest_llmops._calls.budget import new_ledger

        return new_ledger()

    def _redactor(self) -> Redactor:
        """The run's one rule for what may be kept or shown, built on first use (after the
        conftests that register scrubbers have loaded)."""
        import os

        from pytest_llmops._redact import Redactor, pattern_scrubber

        scrubbers = [pattern_scrubber(pattern) for pattern in self.settings.scrub]
        self.config.hook.pytest_llmops_register_scrubbers(register=scrubbers.append)
        settings = self.settings
        endpoints = settings.endpoints.values()
        urls = [settings.openai_base_url, settings.azure_endpoint, settings.anthropic_base_url]
        urls += [endpoint.url for endpoint in endpoints]
        keys = [endpoint.key_env for endpoint in endpoints if endpoint.key_env]
        return Redactor.for_run(os.environ, urls, scrubbers, key_variables=keys)

    def _recordings(self) -> Recordings | None:
        """The run's recordings (None when record/replay is off)."""
        from pytest_llmops._plugin.recordings import PRUNE_FLAG

        if self.settings.record_mode == "off":
            if self.config.getoption("llm_recordings_prune", False):
                raise ConfigError(f"{PRUNE_FLAG} needs record/replay on, but llm_record_mode is off")
            return None
        from pytest_llmops._recordings import Recordings

        root = Path(self.config.rootpath, Path(self.settings.recordings_dir).expanduser())
        return Recordings(root, self.settings.record_mode, self.config.rootpath)


def _last_line(text: str) -> str:
    """The last non-blank line of a failure's text: pytest ends it with the error itself."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


SESSION_KEY = pytest.StashKey[LLMSession]()


def session_of(config: pytest.Config) -> LLMSession:
    """The run's session."""
    return config.stash[SESSION_KEY]


def prompt_library(config: pytest.Config) -> PromptLibrary:
    """The run's library of the prompts folder: ``prompt_library(config).render(name, **variables)``."""
    return session_of(config).prompts
