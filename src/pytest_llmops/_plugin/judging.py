"""The ``judge`` fixture: settings, then ``@pytest.mark.llm_judge``, then calibration."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import pytest

from pytest_llmops._judge.calibration import Calibration, CalibrationFileError, shipped
from pytest_llmops._judge.config import JudgeConfig, JudgeOptionError, check_options
from pytest_llmops._judge.core import Judge, JudgeCalibrationError, JudgeError
from pytest_llmops._models.base import ModelCallError
from pytest_llmops._plugin import markers
from pytest_llmops._plugin.clients import client_for, default_generation, tested_model
from pytest_llmops._plugin.session import session_of
from pytest_llmops._results import RecordObserver

if TYPE_CHECKING:
    from pytest_llmops._models.client import LLM
    from pytest_llmops._results import TestRecord
    from pytest_llmops.settings import Settings

#: A sampled panel needs some randomness to be a panel at all.
PANEL_TEMPERATURE = 0.7


def make_judge(request: pytest.FixtureRequest, record: TestRecord) -> Judge:
    """Build the test's judge; a bad marker, a failed or broken calibration ERRORs the setup.

    Without a marker the judge waits for its rubric: each call may give it (``rubric=``).
    """
    marked = markers.marker_kwargs(request, markers.llm_judge)
    try:
        return _build(request, record, marked, "@pytest.mark.llm_judge")
    except JudgeOptionError as error:
        where = "bad @pytest.mark.llm_judge" if request.node.get_closest_marker("llm_judge") else "judge"
        problem = f"{where}: {error}"
    except JudgeError as error:
        problem = str(error)
    markers.fail_setup(problem)


def _build(request: pytest.FixtureRequest, record: TestRecord, options: dict[str, Any], where: str) -> Judge:
    """The judge ``options`` describe, over the settings, calibrated when they name labels."""
    check_options(options)
    session = session_of(request.config)
    settings = session.settings
    options = dict(options)
    spec, source = _judge_model(request, options.pop("model", None), settings, where)
    calibration = options.pop("calibration", None)
    min_agreement = options.pop("min_agreement", settings.judge_min_agreement)
    votes = options.get("votes", settings.judge_votes)
    defaults = {
        "votes": votes,
        "aggregate": settings.judge_aggregate,
        "retries": settings.judge_retries,
        "temperature": _temperature(settings, votes),
        "seed": settings.seed if settings.seed is not None else 0,
        "max_tokens": settings.max_tokens,
    }
    config = JudgeConfig(**{**defaults, **options})
    # A judge's calls never stream (llm_stream): its timings are the harness's, not the app's.
    generation = default_generation(settings).updated(
        where, temperature=config.temperature, seed=config.seed, max_tokens=config.max_tokens, stream=False
    )
    llm = _client(request, spec, generation, record, source)

    def variant(call_config: JudgeConfig, setup: Mapping[str, Any]) -> Judge:
        asked = {
            **options,
            **_fields(call_config),
            "model": spec,
            "calibration": calibration,
            "min_agreement": min_agreement,
            **setup,
        }
        return _build(request, record, asked, "the judge call")

    judge = Judge(llm, config, session.prompts, record, variant)
    if calibration is not None:
        _calibrated(request, judge, calibration_file(request.node, str(calibration)), min_agreement, record)
    return judge


def _fields(config: JudgeConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def _client(request: pytest.FixtureRequest, spec: str, generation: Any, record: TestRecord, source: str) -> LLM:
    """The judge's client; a spec that cannot be loaded is a :class:`JudgeOptionError` naming ``source``."""
    from pytest_llmops._models.registry import UnknownModelError

    try:
        return client_for(request.node, spec, generation, (RecordObserver(record),), role="judge")
    except UnknownModelError as error:
        problem = str(error)
    except (ModelCallError, RuntimeError, ValueError, OSError) as error:
        problem = f"cannot load model {spec!r}: {error}"
    raise JudgeOptionError(f"{problem}; set by {source}")


def _judge_model(request: pytest.FixtureRequest, marked_model: Any, settings: Settings, where: str) -> tuple[str, str]:
    """The judge's model spec and what set it: ``where`` (marker, call), ``llm_judge_model``,
    the offline judge when it is installed, else the tested model."""
    if marked_model:
        return str(marked_model), where
    if settings.judge_model:
        return settings.judge_model, "llm_judge_model"
    from pytest_llmops._models import judge_model

    if judge_model.installed():
        return judge_model.SPEC, "the offline judge (pytest-llmops[judge] is installed and no judge model is set)"
    try:
        marked_llm = markers.bind_marker(request.node, markers.llm)
    except TypeError:  # the `llm` fixture reports a bad marker; here it names no model
        marked_llm = {}
    spec, source = tested_model(marked_llm, settings)  # as written: every A/B variant has one judge
    return spec, f"{source} (the tested model, as no judge model is set)"


def _temperature(settings: Settings, votes: Any) -> float:
    if settings.judge_temperature is not None:
        return settings.judge_temperature
    return PANEL_TEMPERATURE if isinstance(votes, int) and votes > 1 else 0.0


def calibration_file(item: pytest.Item, name: str) -> Path:
    """Calibration file ``name``: beside the test file, else under the rootdir, else the
    package's labelled set of that name (``calibration="faithfulness"``)."""
    for path in (item.path.parent / name, item.config.rootpath / name):
        if path.exists():
            return path
    return shipped(name) or item.config.rootpath / name


def _calibrated(
    request: pytest.FixtureRequest, judge: Judge, path: Path, min_agreement: float, record: TestRecord
) -> None:
    """Run (once per session and judge) the calibration asked for; a :class:`JudgeError` below the bar."""
    done = session_of(request.config).calibrations
    content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    key = (judge.llm.spec, judge.config, str(path), content, min_agreement)
    if key not in done:
        try:
            done[key] = judge.calibrate(path, min_agreement=min_agreement)
        except JudgeCalibrationError as error:
            done[key] = error.calibration
        except (CalibrationFileError, ModelCallError) as error:
            done[key] = f"{judge.config.metric}: cannot calibrate the judge: {error}"
    else:
        outcome = done[key]
        if isinstance(outcome, Calibration):
            record.extra.setdefault("judge_calibration", []).append(
                {"metric": judge.config.metric, "judge": judge.llm.spec, **outcome.to_dict()}
            )
    outcome = done[key]
    if isinstance(outcome, str):
        raise JudgeError(outcome)
    if not outcome.passed:
        raise JudgeError(
            f"{judge.config.metric}: judge {judge.llm.spec} failed calibration, so it grades no tests: "
            f"{outcome.summary()}",
        )
