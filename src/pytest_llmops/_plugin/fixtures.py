"""The plugin's fixtures.

Registered by ``entry`` at configure time. Each fixture imports its implementation when a test
uses it, so loading the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_llmops._plugin import markers
from pytest_llmops._plugin.session import session_of

if TYPE_CHECKING:
    from pytest_llmops._datasets import Case
    from pytest_llmops._golden import Golden, GoldenPlan
    from pytest_llmops._judge.core import Judge
    from pytest_llmops._models.client import LLM
    from pytest_llmops._prompts import PromptRenderer
    from pytest_llmops._results import TestRecord
    from pytest_llmops._variants import Variant
    from pytest_llmops.settings import Settings


@pytest.fixture(scope="session")
def llm_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved pytest-llmops settings of this run (CLI, then env, then ini)."""
    return session_of(pytestconfig).settings


@pytest.fixture
def llm_record(request: pytest.FixtureRequest) -> TestRecord:
    """This test's record of model calls, scores and prompt versions (shown in the reports)."""
    return session_of(request.config).record_of(request.node)


@pytest.fixture
def llm_variant(request: pytest.FixtureRequest) -> Variant | None:
    """The A/B variant this test runs (``label``, ``model``, ``prompts``, ``control``), or None
    when the run compares none (``llm_variants``): for a test that treats a variant otherwise."""
    from pytest_llmops._plugin.variants import variant_of

    return variant_of(request.node)


@pytest.fixture
def llm(request: pytest.FixtureRequest) -> LLM:
    """A model client for this test: ``llm.complete(prompt)``, ``llm.map(prompts)``,
    ``llm.conversation(system=...)`` for multi-turn tests (``conv.say("...")``).

    The model comes from ``@pytest.mark.llm(model=...)``, else ``--llm-model`` / ``llm_model``
    (default ``local``). Each call returns a Completion with text, tokens, latency and cost
    (with ``stream=True``, time to first token and tokens per second too).
    """
    # The record straight from the session, not through the `llm_record` fixture: one fixture
    # fewer to set up per test, which is most of what a replayed test costs.
    from pytest_llmops._plugin.clients import make_llm

    return make_llm(request, session_of(request.config).record_of(request.node))


@pytest.fixture
def prompt(request: pytest.FixtureRequest, llm_record: TestRecord) -> PromptRenderer:
    """Render a template of the prompts folder: ``prompt("summarize", article=text)``.

    Templates live in ``llm_prompts_dir`` (default ``prompts/``); an undefined variable is an
    error. The result goes straight to ``llm.complete(...)``, which records its version.
    """
    from pytest_llmops._plugin.variants import variant_of
    from pytest_llmops._prompts import PromptRenderer
    from pytest_llmops._snapshots import SnapshotError

    session = session_of(request.config)
    try:
        session.snapshots.entry(request.node)
    except SnapshotError as error:
        markers.fail_setup(str(error))
    return PromptRenderer(session.prompts, llm_record, variant_of(request.node))


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Case:
    """One row of a ``@pytest.mark.llm_dataset`` file and the model's answer to it.

    ``case.output`` is the Completion (the calls of all selected cases run concurrently, at most
    ``llm_concurrency`` at once), ``case.inputs`` the row's columns, ``case.expected`` its
    expected column, ``case.id`` its id, ``case.source`` its file and line. The client is the
    one the ``llm`` fixture's defaults give (an override of ``llm`` does not reach it); change
    it with the ``pytest_llmops_case_client`` hook.
    """
    from pytest_llmops._plugin.cases import make_case

    return make_case(request, session_of(request.config))


@pytest.fixture
def judge(request: pytest.FixtureRequest, llm_record: TestRecord) -> Judge:
    """A judge model grading outputs against a rubric: ``judge.check(output, question=...)``.

    Configured by ``@pytest.mark.llm_judge(rubric=... or criterion=..., threshold=...)``; the
    model is ``--llm-judge-model`` (default: the tested model). ``judge.score(...)`` returns the
    verdict without asserting; ``mode="pairwise"`` compares with ``reference=`` in both orders;
    ``judge.calibrate(cases)`` checks the judge against outputs labelled good or bad.
    """
    from pytest_llmops._plugin.judging import make_judge

    return make_judge(request, llm_record)


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    """Score outputs against references: ``golden.check(output)``, ``golden.check_samples(outputs)``.

    Metrics and thresholds come from ``@pytest.mark.golden(metric="rougeL", threshold=0.6)`` or
    ``metrics={"rougeL": 0.6, "chrf": 40}`` (default: exact match). The reference is
    ``reference=`` when given, else this test's entry in its snapshot file (written by
    ``--llm-snapshot-update``). Every score is recorded; a failed check shows a diff.
    """
    from pytest_llmops._golden import Golden

    # The record straight from the session, as the `llm` fixture takes it: one fixture fewer.
    session = session_of(request.config)
    return Golden(
        request.node, session.record_of(request.node), session.metrics, session.snapshots, _golden_plan(request)
    )


def _golden_plan(request: pytest.FixtureRequest) -> GoldenPlan:
    """The plan of the test's ``golden`` marker, validated once per marker: the items of a
    parametrized test (a dataset's rows) share theirs."""
    from pytest_llmops._golden import GoldenError, plan_from_marker
    from pytest_llmops.metrics import MetricError

    session = session_of(request.config)
    mark = request.node.get_closest_marker("golden")
    known = session.golden_plans.get(id(mark))
    if known is not None and known[0] is mark:
        return known[1]
    marked = markers.marker_kwargs(request, markers.golden)
    try:
        plan = plan_from_marker(session.metrics, marked)
    except (GoldenError, MetricError) as error:
        markers.fail_setup(f"bad @pytest.mark.golden on {request.node.nodeid}: {error}")
    session.golden_plans[id(mark)] = (mark, plan)
    return plan
