"""pytest entry point of pytest-llmops: options, markers, hook wiring and fixtures.

Only light modules are imported here; each fixture imports what it needs when a test uses it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Iterator

import pytest

from pytest_llmops import settings as settings_module
from pytest_llmops.calls.redact import redact_secrets
from pytest_llmops.models.base import ModelCallError
from pytest_llmops.results import TestRecord
from pytest_llmops.session import SESSION_KEY, LLMSession

if TYPE_CHECKING:
    from pytest_llmops.datasets import Case
    from pytest_llmops.golden import Golden
    from pytest_llmops.judge.core import Judge
    from pytest_llmops.models.client import LLM
    from pytest_llmops.prompts import PromptRenderer
    from pytest_llmops.settings import Settings

RECORD_KEY = pytest.StashKey[TestRecord]()

MARKERS = (
    "llm(model=None, *, temperature=None, max_tokens=None, top_p=None, seed=None, stop=None): "
    "model spec and generation settings of the `llm` fixture for this test.",
    "llm_dataset(path, *, prompt=None, input='input', id='id', expected='expected'): one test per "
    "row of a JSONL/CSV/YAML case file (path relative to the test file), each receiving the row and "
    "its model answer, made concurrently with the other cases', as the `case` fixture.",
    "llm_judge(rubric=None, *, criterion=None, threshold=0.5, label=None, mode='score', scale=(1, 5), "
    "votes=None, aggregate=None, weighted=False, retries=None, template='judge_score', "
    "pairwise_template='judge_pairwise', model=None, temperature=None, seed=None, max_tokens=None, "
    "calibration=None, min_agreement=None): how the `judge` fixture grades this test's outputs.",
    "golden(metric=None, threshold=None, *, metrics=None, options=None, samples=None, min_passes=None, "
    "confidence=0.95): the metrics (default exact) the `golden` fixture scores outputs with, "
    'e.g. metrics={"rougeL": 0.6, "chrf": 40}; samples=N, min_passes=k for repeated samples.',
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_llmops import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    settings_module.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    session = config.stash[SESSION_KEY] = LLMSession(config, settings_module.resolve(config))
    config.pluginmanager.register(session, "llmops-session")
    from pytest_llmops.models import builtin

    config.pluginmanager.register(builtin, "llmops-builtin-backends")
    from pytest_llmops.metrics import builtin as builtin_metrics

    config.pluginmanager.register(builtin_metrics, "llmops-builtin-metrics")
    from pytest_llmops import snapshots

    snapshots.install(config)
    from pytest_llmops.report import reporter

    reporter.configure(config, session)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()
        config.pluginmanager.unregister(session)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(ModelCallError):
        # Infrastructure, not quality: a one-line reason instead of a traceback. A server may
        # quote the API key in its error: redacted before it reaches the terminal or a report.
        report.llmops_error = redact_secrets(str(call.excinfo.value))
        report.longrepr = f"ModelCallError: {report.llmops_error}"
    elif report.failed and call.excinfo is not None and (kind := _setup_error(call.excinfo.value)):
        # A broken template or golden check is the test's set-up, not the model's quality.
        report.llmops_error = str(call.excinfo.value)
        report.longrepr = f"{kind}: {call.excinfo.value}"
    if call.when == "teardown":
        record = item.stash.get(RECORD_KEY, None)
        if record is not None and record.used:
            report.llmops_record = record.to_dict()
            if getattr(item.config.option, "xmlpath", None):  # --junitxml
                from pytest_llmops.report.junit import junit_properties

                report.user_properties.extend(junit_properties(report.llmops_record))
    return report


#: Errors of a test's own set-up that surface while it runs: (module, class). An ERROR, not a FAIL.
_SETUP_ERRORS = (("pytest_llmops.prompts", "PromptError"), ("pytest_llmops.golden", "GoldenError"))


def _setup_error(error: BaseException) -> str | None:
    for module_name, class_name in _SETUP_ERRORS:
        module = sys.modules.get(module_name)  # never raised before it is imported
        if module is not None and isinstance(error, getattr(module, class_name)):
            return class_name
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("llm_dataset") is not None:
        from pytest_llmops.datasets import parametrize_cases

        parametrize_cases(metafunc)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    if report.when == "call" and report.failed and getattr(report, "llmops_error", None):
        return "error", "E", "ERROR"
    return None


def _llm_session(config: pytest.Config) -> LLMSession:
    return config.stash[SESSION_KEY]


def record_of(item: pytest.Item) -> TestRecord:
    """The record of ``item``, created on first use."""
    record = item.stash.get(RECORD_KEY, None)
    if record is None:
        record = item.stash[RECORD_KEY] = TestRecord(item.nodeid)
    return record


@pytest.fixture(scope="session")
def llm_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved pytest-llmops settings of this run (CLI, then env, then ini)."""
    return _llm_session(pytestconfig).settings


@pytest.fixture
def llm_record(request: pytest.FixtureRequest) -> TestRecord:
    """This test's record of model calls, scores and prompt versions (shown in the reports)."""
    return record_of(request.node)


@pytest.fixture
def llm(request: pytest.FixtureRequest) -> LLM:
    """A model client for this test: ``llm.complete(prompt)``, ``llm.map(prompts)``.

    The model comes from ``@pytest.mark.llm(model=...)``, else ``--llm-model`` / ``llm_model``
    (default ``local``). Each call returns a Completion with text, tokens, latency and cost.
    """
    from pytest_llmops.fixtures import make_llm

    # The record straight from the item, not through the `llm_record` fixture: one fixture
    # fewer to set up per test, which is most of what a replayed test costs.
    return make_llm(request, record_of(request.node))


@pytest.fixture
def prompt(request: pytest.FixtureRequest, llm_record: TestRecord) -> PromptRenderer:
    """Render a template of the prompts folder: ``prompt("summarize", article=text)``.

    Templates live in ``llm_prompts_dir`` (default ``prompts/``); an undefined variable is an
    error. The result goes straight to ``llm.complete(...)``, which records its version.
    """
    from pytest_llmops.fixtures import make_prompt

    return make_prompt(request, llm_record)


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Case:
    """One row of a ``@pytest.mark.llm_dataset`` file and the model's answer to it.

    ``case.output`` is the Completion (the calls of all selected cases run concurrently, at most
    ``llm_concurrency`` at once), ``case.inputs`` the row's columns, ``case.expected`` its
    expected column, ``case.id`` its id, ``case.source`` its file and line.
    """
    from pytest_llmops.prefetch import make_case

    return make_case(request)


@pytest.fixture
def judge(request: pytest.FixtureRequest, llm_record: TestRecord) -> Judge:
    """A judge model grading outputs against a rubric: ``judge.check(output, question=...)``.

    Configured by ``@pytest.mark.llm_judge(rubric=... or criterion=..., threshold=...)``; the
    model is ``--llm-judge-model`` (default: the tested model). ``judge.score(...)`` returns the
    verdict without asserting; ``mode="pairwise"`` compares with ``reference=`` in both orders;
    ``judge.calibrate(cases)`` checks the judge against outputs labelled good or bad.
    """
    from pytest_llmops.judge.fixture import make_judge

    return make_judge(request, llm_record)


@pytest.fixture
def golden(request: pytest.FixtureRequest, llm_record: TestRecord) -> Golden:
    """Score outputs against references: ``golden.check(output)``, ``golden.check_samples(outputs)``.

    Metrics and thresholds come from ``@pytest.mark.golden(metric="rougeL", threshold=0.6)`` or
    ``metrics={"rougeL": 0.6, "chrf": 40}`` (default: exact match). The reference is
    ``reference=`` when given, else this test's entry in its snapshot file (written by
    ``--llm-snapshot-update``). Every score is recorded; a failed check shows a diff.
    """
    from pytest_llmops.golden import make_golden

    return make_golden(request, llm_record)
