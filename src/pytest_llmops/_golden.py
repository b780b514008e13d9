"""The ``golden`` fixture: score outputs against their references, record the scores, assert.

A reference comes from the test (``reference=``, e.g. a dataset row's expected answer) or
from the test module's snapshot file (:mod:`pytest_llmops._snapshots`), where
``--llm-snapshot-update`` writes it. Every score lands on the test's record as a
:class:`~pytest_llmops._results.Score` of kind ``golden``; a failed check raises an
AssertionError that shows each metric against its threshold and a diff of output vs reference.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any, Mapping, Protocol, Sequence

import pytest

from pytest_llmops._files import shown
from pytest_llmops._grounding import Grounding, GroundingError
from pytest_llmops._models.tools import ToolCall
from pytest_llmops._report.text import visible
from pytest_llmops._results import Score, TestRecord
from pytest_llmops._textdiff import diff_lines, shorten
from pytest_llmops.errors import SetupError
from pytest_llmops.metrics._base import Measurement, MetricError
from pytest_llmops.metrics._registry import MetricCheck, MetricRegistry

DEFAULT_METRIC = "exact"
DEFAULT_NAME = "output"
DEFAULT_CONFIDENCE = 0.95


class GoldenError(SetupError):
    """A golden check was called wrongly (bad metric, threshold, options or arguments)."""


class ReferenceStore(Protocol):
    """Where stored references live: the run's snapshot store."""

    update: bool

    def snapshot_path(self, item: pytest.Item) -> Path: ...

    def owner(self, item: pytest.Item) -> str | None: ...

    def accepted(self, item: pytest.Item, name: str, output: str, source: str, reference: str | None) -> bool: ...

    def reference(self, item: pytest.Item, name: str = "output") -> str | None: ...

    def record_reference(self, item: pytest.Item, name: str, text: str) -> None: ...


@dataclass(frozen=True)
class GoldenPlan:
    """What a golden check measures, and how samples are judged: validated once."""

    checks: tuple[MetricCheck, ...]
    samples: int | None = None
    min_passes: int | None = None
    confidence: float = DEFAULT_CONFIDENCE


def plan_checks(
    registry: MetricRegistry,
    metric: Any = None,
    threshold: Any = None,
    metrics: Any = None,
    options: Any = None,
) -> tuple[MetricCheck, ...] | None:
    """The metric checks asked for (None when none was named); bad ones raise GoldenError."""
    try:
        if metrics is not None:
            if metric is not None or threshold is not None or options is not None:
                raise GoldenError("give either metric= (with threshold= and options=) or metrics=, not both")
            return _from_metrics(registry, metrics)
        if metric is None:
            if threshold is not None or options is not None:
                raise GoldenError("threshold= and options= need a metric=")
            return None
        return (registry.check(metric, threshold, options),)
    except MetricError as error:
        raise GoldenError(str(error)) from None


def _from_metrics(registry: MetricRegistry, metrics: Any) -> tuple[MetricCheck, ...]:
    if isinstance(metrics, str) or not isinstance(metrics, (Mapping, list, tuple)) or not metrics:
        raise GoldenError(
            'metrics= takes a dict of metric names to thresholds (e.g. {"rougeL": 0.6, "chrf": 40}) '
            f"or a list of names, not {metrics!r}"
        )
    if not isinstance(metrics, Mapping):
        return tuple(registry.check(name) for name in metrics)
    checks = []
    for name, spec in metrics.items():
        if isinstance(spec, Mapping):
            options = dict(spec)
            checks.append(registry.check(name, options.pop("threshold", None), options))
        else:
            checks.append(registry.check(name, spec))
    return tuple(checks)


def plan_from_marker(registry: MetricRegistry, marked: Mapping[str, Any]) -> GoldenPlan:
    """The plan of ``@pytest.mark.golden(...)``; bad arguments raise GoldenError."""
    checks = plan_checks(
        registry, marked.get("metric"), marked.get("threshold"), marked.get("metrics"), marked.get("options")
    )
    samples, min_passes = marked.get("samples"), marked.get("min_passes")
    confidence = marked.get("confidence", DEFAULT_CONFIDENCE)
    if samples is not None and not _positive_int(samples):
        raise GoldenError(f"samples= must be an integer >= 1, not {samples!r}")
    if min_passes is not None:
        if not _positive_int(min_passes):
            raise GoldenError(f"min_passes= must be an integer >= 1, not {min_passes!r}")
        if samples is not None and min_passes > samples:
            raise GoldenError(f"min_passes={min_passes} is more than samples={samples}")
    _check_confidence(confidence)
    return GoldenPlan(checks or (registry.check(DEFAULT_METRIC),), samples, min_passes, float(confidence))


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_confidence(confidence: Any) -> None:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise GoldenError(f"confidence= must be a number between 0 and 1 (e.g. 0.95), not {confidence!r}")


def wilson_interval(passes: int, total: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a pass rate: sound for few samples and rates near 0 or 1."""
    if total <= 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    rate = passes / total
    denominator = 1 + z * z / total
    centre = (rate + z * z / (2 * total)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / denominator
    # At 0 or N passes the bound is exactly 0 or 1; rounding would leave a speck.
    low = 0.0 if passes == 0 else max(0.0, centre - half)
    high = 1.0 if passes == total else min(1.0, centre + half)
    return (low, high)


@dataclass(frozen=True)
class GoldenResult:
    """The scores of one golden check; ``result["rougeL"].value`` reads one."""

    name: str
    output: str
    reference: str | None
    scores: tuple[Score, ...]
    updated: bool = False

    @property
    def passed(self) -> bool:
        return all(score.passed for score in self.scores)

    def __getitem__(self, metric: str) -> Score:
        for score in self.scores:
            if score.metric == metric:
                return score
        raise KeyError(metric)


@dataclass(frozen=True)
class SampleResult:
    """A k-of-N check of repeated samples: how many passed every metric, and the interval."""

    name: str
    outputs: tuple[str, ...]
    reference: str | None
    per_sample: tuple[tuple[Score, ...], ...]
    passes: int
    min_passes: int
    interval: tuple[float, float]
    confidence: float
    updated: bool = False

    @property
    def passed(self) -> bool:
        return self.passes >= self.min_passes

    @property
    def pass_rate(self) -> float:
        return self.passes / len(self.outputs)


class Golden:
    """The ``golden`` fixture of one test (see :func:`pytest_llmops._plugin.entry.golden`)."""

    def __init__(
        self, item: pytest.Item, record: TestRecord, registry: MetricRegistry, store: ReferenceStore, plan: GoldenPlan
    ) -> None:
        self._item = item
        self._record = record
        self._registry = registry
        self._store = store
        self._plan = plan
        self._stored_names: set[str] = set()
        # Another test's entry holds this one's references (an A/B variant's, its control's):
        # they are read, never written.
        self._owner = store.owner(item)
        self._updates = store.update and self._owner is None

    @property
    def samples(self) -> int | None:
        """``samples=`` of the test's marker: how many outputs ``check_samples`` expects."""
        return self._plan.samples

    def check(
        self,
        output: Any,
        *,
        reference: Any = None,
        name: str = DEFAULT_NAME,
        metric: str | None = None,
        threshold: float | None = None,
        metrics: Any = None,
        options: Mapping[str, Any] | None = None,
        context: Any = None,
        relevant: Any = None,
        tool_calls: Any = None,
    ) -> GoldenResult:
        """Score ``output`` (text or a Completion) and assert every metric meets its threshold.

        The reference is ``reference=`` when given (text, or JSON data for the tool metrics),
        else the stored reference ``name`` of this test. ``metric=``/``threshold=``/``options=``
        or ``metrics=`` replace the marker's. ``context=`` (the retrieved chunks) and
        ``relevant=`` (the labelled relevant ids) feed the metrics that need them (retrieval,
        citations), e.g. ``case.context``; ``tool_calls=`` (default: a Completion's own) feed the
        tool metrics, e.g. every call of a multi-step run.
        """
        __tracebackhide__ = True
        checks = self._checks(metric, threshold, metrics, options)
        text = _text(output, "output")
        grounding = self._grounding(context, relevant, _calls_of(output, tool_calls))
        ref, source = self._reference(name, reference, checks, text)
        if source in ("snapshot", "given") and self._store.accepted(self._item, name, text, source, ref):
            if source == "snapshot":  # a reviewer accepted this output: it is the reference now
                self._store.record_reference(self._item, name, text)
            ref = text
        scores = self._score(checks, [text], ref, name, source, [grounding])[0]
        updated = False
        if source == "snapshot" and self._updates and not all(s.passed for s in scores):
            ref, updated = self._rerecord(name, text), True
            scores = self._score(checks, [text], ref, name, source, [grounding])[0]
        for score in scores:
            self._record.add_score(score)
        result = GoldenResult(name, text, ref, scores, updated)
        if not result.passed:
            calls = grounding.tool_calls if all("tool_calls" in c.metric.inputs for c in checks) else None
            raise AssertionError(self._explain(result, source, calls))
        return result

    def check_samples(
        self,
        outputs: Sequence[Any],
        *,
        reference: Any = None,
        name: str = DEFAULT_NAME,
        min_passes: int | None = None,
        confidence: float | None = None,
        metric: str | None = None,
        threshold: float | None = None,
        metrics: Any = None,
        options: Mapping[str, Any] | None = None,
        context: Any = None,
        relevant: Any = None,
    ) -> SampleResult:
        """Score N samples of a non-deterministic output; pass when at least ``min_passes``
        (default: the marker's, else all) pass every metric. Records every sample's scores and
        the pass rate with its Wilson interval. A sample that is a Completion brings its own
        tool calls to the tool metrics."""
        __tracebackhide__ = True
        checks = self._checks(metric, threshold, metrics, options)
        samples = _sequence(outputs)
        texts = [_text(o, "sample") for o in samples]
        need = self._min_passes(len(texts), min_passes)
        confidence = self._plan.confidence if confidence is None else confidence
        _check_confidence(confidence)
        grounding = self._grounding(context, relevant)
        groundings = [dataclasses.replace(grounding, tool_calls=self._calls(_calls_of(o, None))) for o in samples]
        ref, source = self._reference(name, reference, checks, texts[0])
        per_sample = self._score(checks, texts, ref, name, source, groundings)
        updated = False
        if source == "snapshot" and self._updates and _count(per_sample) < need:
            ref, updated = self._rerecord(name, texts[0]), True
            per_sample = self._score(checks, texts, ref, name, source, groundings)
        passes = _count(per_sample)
        result = SampleResult(
            name,
            tuple(texts),
            ref,
            tuple(per_sample),
            passes,
            need,
            wilson_interval(passes, len(texts), confidence),
            confidence,
            updated,
        )
        for score in _sample_scores(result):
            self._record.add_score(score)
        if not result.passed:
            raise AssertionError(self._explain_samples(result, source))
        return result

    def score_many(
        self,
        metric: str,
        outputs: Sequence[Any],
        references: Sequence[Any] | None = None,
        *,
        groundings: Sequence[Grounding | None] | None = None,
        **options: Any,
    ) -> list[Measurement]:
        """Score a dataset in one batch (not recorded, not asserted): one Measurement per output."""
        __tracebackhide__ = True
        texts = [_text(o, "output") for o in outputs]
        refs = None if references is None else [None if r is None else _reference_text(r) for r in references]
        try:
            return self._registry.score_many(metric, texts, refs, groundings=groundings, **options)
        except MetricError as error:
            raise GoldenError(str(error)) from None

    # -- internals ----------------------------------------------------------------------

    def _checks(self, metric: Any, threshold: Any, metrics: Any, options: Any) -> tuple[MetricCheck, ...]:
        return plan_checks(self._registry, metric, threshold, metrics, options) or self._plan.checks

    def _grounding(self, context: Any, relevant: Any, tool_calls: Any = None) -> Grounding:
        """The inputs given, parsed; noted on the record (``extra["grounding"]``), which the
        report shows beside the output."""
        try:
            grounding = Grounding.of(context, relevant, tool_calls)
        except GroundingError as error:
            raise GoldenError(str(error)) from None
        if grounding.to_dict():
            self._record.extra.setdefault("grounding", {}).update(grounding.to_dict())
        return grounding

    @staticmethod
    def _calls(tool_calls: Any) -> Any:
        """A sample's tool calls, parsed (None stays None)."""
        try:
            return None if tool_calls is None else Grounding.of(tool_calls=tool_calls).tool_calls
        except GroundingError as error:
            raise GoldenError(str(error)) from None

    def _min_passes(self, total: int, given: int | None) -> int:
        if total == 0:
            raise GoldenError("check_samples needs at least one output")
        expected = self._plan.samples
        if expected is not None and total != expected:
            raise GoldenError(
                f"check_samples got {total} outputs; @pytest.mark.golden(samples={expected}) expects "
                f"{expected} (e.g. llm.map([prompt] * golden.samples))"
            )
        need = given if given is not None else self._plan.min_passes or total
        if not _positive_int(need) or need > total:
            raise GoldenError(f"min_passes must be an integer from 1 to {total} (the number of outputs), not {need!r}")
        return need

    def _reference(self, name: str, given: Any, checks: Sequence[MetricCheck], output: str) -> tuple[str | None, str]:
        """The reference and where it came from: ``given``, ``snapshot``, ``recorded`` or ``none``."""
        __tracebackhide__ = True
        if given is not None:
            return _reference_text(given), "given"
        if not any(check.needs_reference for check in checks):
            return None, "none"
        if not isinstance(name, str) or not name.strip():
            raise GoldenError(f"name= must be non-empty text, not {name!r}")
        if name in self._stored_names:
            raise GoldenError(f"this test already checked its stored reference {name!r}: give each check its own name=")
        self._stored_names.add(name)
        from pytest_llmops._snapshots import SnapshotError

        try:
            stored = self._store.reference(self._item, name)
        except SnapshotError as error:  # the test's files are broken, not the output: an ERROR
            raise GoldenError(str(error)) from None
        if stored is not None:
            return stored, "snapshot"
        if self._updates:
            self._store.record_reference(self._item, name, output)
            return output, "recorded"
        pytest.fail(self._missing(name), pytrace=False)

    def _rerecord(self, name: str, text: str) -> str:
        self._store.record_reference(self._item, name, text)
        return text

    def _score(
        self,
        checks: Sequence[MetricCheck],
        texts: list[str],
        reference: str | None,
        name: str,
        source: str,
        groundings: Sequence[Grounding],
    ) -> list[tuple[Score, ...]]:
        """One tuple of Scores (one per metric) per text (and its grounding); a metric that cannot
        score names the reference it was given (a hand-edited snapshot, say)."""
        references = [reference] * len(texts)
        columns = []
        for check in checks:
            try:
                measured = check.measure_many(texts, references, groundings)
            except MetricError as error:
                against = f" against {self._source_line(name, source)}" if source == "snapshot" else ""
                raise GoldenError(f"metric {check.name!r}{against}: {error}") from None
            columns.append([_score(check, m, t, reference, name) for m, t in zip(measured, texts)])
        return [tuple(row) for row in zip(*columns)]

    def _missing(self, name: str) -> str:
        path = self._snapshot_file()
        return (
            f"no reference {name!r} for this test in {path}.\n"
            f"Record it (then review the file in your PR) with:\n"
            f"    {self._command()}"
        )

    def _command(self) -> str:
        return f"pytest {shlex.quote(self._owner or self._item.nodeid)} --llm-snapshot-update"

    def _snapshot_file(self) -> str:
        return shown(self._store.snapshot_path(self._item), self._item.config.rootpath)

    def _source_line(self, name: str, source: str) -> str:
        if source == "snapshot":
            return f"reference {name!r} from {self._snapshot_file()}"
        if source == "recorded":
            return f"reference {name!r} (recorded by this run)"
        return "the given reference"

    def _explain(self, result: GoldenResult, source: str, tool_calls: Sequence[ToolCall] | None = None) -> str:
        """Why the check failed: each metric against its threshold, then the output against its
        reference; for tool metrics only, the calls made (and the calls expected)."""
        failed = [s for s in result.scores if not s.passed]
        lines = [
            f"golden check {result.name!r} failed: "
            + ", ".join(f"{s.metric} {_figure(s.value)} {_relation(s)}" for s in failed)
        ]
        lines += _score_table(result.scores)
        if tool_calls is not None:
            # A call's name and arguments are the model's text: control characters escaped.
            lines += [
                f"tool calls made ({len(tool_calls)}):",
                *(f"  {visible(call.describe())}" for call in tool_calls),
            ]
            if result.reference is not None:
                lines.append(f"expected ({self._source_line(result.name, source)}): {shorten(result.reference, 200)}")
            return "\n".join(lines)
        lines += _output_vs_reference(result.output, result.reference, self._source_line(result.name, source))
        if source == "snapshot":
            lines.append(self._accepting())
        return "\n".join(lines)

    def _accepting(self) -> str:
        if self._owner is not None:
            return (
                f"this A/B variant's test is checked against the reference of {self._owner}, "
                "its control, and never writes one"
            )
        return f"if the new output is right, accept it: {self._command()}"

    def _explain_samples(self, result: SampleResult, source: str) -> str:
        low, high = result.interval
        lines = [
            f"golden samples {result.name!r} failed: {result.passes} of {len(result.outputs)} samples passed, "
            f"{result.min_passes} needed (pass rate {result.pass_rate:.0%}, "
            f"{result.confidence:.0%} Wilson interval {low:.0%}-{high:.0%})"
        ]
        for index, scores in enumerate(result.per_sample, 1):
            verdict = "ok  " if all(s.passed for s in scores) else "FAIL"
            cells = "  ".join(f"{s.metric} {_figure(s.value)}{'' if s.passed else '!'}" for s in scores)
            lines.append(f"  sample {index:>2} {verdict} {cells}  {shorten(result.outputs[index - 1], 60)!r}")
        worst = next(i for i, scores in enumerate(result.per_sample) if not all(s.passed for s in scores))
        lines.append(f"sample {worst + 1}:")
        lines += _score_table(result.per_sample[worst])
        lines += _output_vs_reference(result.outputs[worst], result.reference, self._source_line(result.name, source))
        return "\n".join(lines)


def _score(check: MetricCheck, measured: Measurement, output: str, reference: str | None, name: str) -> Score:
    assert check.threshold is not None
    return Score(
        metric=check.name,
        value=measured.value,
        threshold=check.threshold,
        passed=check.passes(measured.value),
        higher_is_better=check.metric.higher_is_better,
        kind="golden",
        label=name,
        output=output,
        reference=reference,
        details=measured.details,
    )


def _count(per_sample: Sequence[Sequence[Score]]) -> int:
    return sum(all(s.passed for s in scores) for scores in per_sample)


def _sample_scores(result: SampleResult) -> list[Score]:
    """Every sample's scores (``details["sample"]`` numbers them), then the pass rate of the k-of-N rule."""
    total = len(result.outputs)
    scores = [
        dataclasses.replace(score, details={**score.details, "sample": index})
        for index, sample in enumerate(result.per_sample, 1)
        for score in sample
    ]
    scores.append(
        Score(
            metric="samples_passed",
            value=result.pass_rate,
            threshold=result.min_passes / total,
            passed=result.passed,
            kind="golden",
            label=result.name,
            reference=result.reference,
            details={
                "samples": total,
                "passes": result.passes,
                "min_passes": result.min_passes,
                "confidence": result.confidence,
                "interval": list(result.interval),
            },
        )
    )
    return scores


def _text(value: Any, what: str) -> str:
    text = getattr(value, "text", value)
    if not isinstance(text, str):
        raise GoldenError(f"the {what} must be text or a Completion, not {type(value).__name__}")
    return text


def _reference_text(value: Any) -> str:
    """A given reference as text: JSON data (a dataset row's list of expected calls) as JSON."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return _text(value, "reference")


def _calls_of(output: Any, given: Any) -> Any:
    """The tool calls a check scores: those given, else a Completion's own (None for text)."""
    if given is not None:
        return given
    calls = getattr(output, "tool_calls", None)
    return calls if isinstance(calls, tuple) else None


def _sequence(outputs: Any) -> list[Any]:
    if isinstance(outputs, (str, bytes)) or not isinstance(outputs, Sequence):
        raise GoldenError(f"check_samples takes a list of outputs (e.g. from llm.map), not {type(outputs).__name__}")
    return list(outputs)


def _figure(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def _relation(score: Score) -> str:
    sign = ">=" if score.higher_is_better else "<="
    return f"(needs {sign} {_figure(score.threshold or 0.0)})"


def _score_table(scores: Sequence[Score]) -> list[str]:
    width = max(len(s.metric) for s in scores)
    lines = []
    for score in scores:
        verdict = "ok" if score.passed else "FAIL"
        lines.append(f"  {score.metric:<{width}}  {_figure(score.value):>8}  {_relation(score):<16}  {verdict}")
        if not score.passed and score.details:
            lines += [f"  {'':<{width}}  {line}" for line in _detail_lines(score.details)]
    return lines


def _detail_lines(details: Mapping[str, Any], most: int = 10) -> list[str]:
    """The details on one line, but a list of findings (PII, unsupported claims): one line each."""
    listed = {k: v for k, v in details.items() if isinstance(v, list) and v and all(isinstance(i, Mapping) for i in v)}
    rest = {k: v for k, v in details.items() if k not in listed}
    lines = [shorten(_details(rest), 90)] if rest else []
    for key, items in listed.items():
        lines += [f"{key}: {shorten(_details(item), 90)}" for item in items[:most]]
        if len(items) > most:
            lines.append(f"{key}: ... and {len(items) - most} more")
    return lines


def _details(details: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {_figure(v) if isinstance(v, float) else v}" for k, v in details.items())


def _output_vs_reference(output: str, reference: str | None, source: str) -> list[str]:
    if reference is None:
        lines = textwrap.wrap(output, width=100, max_lines=12, placeholder=" ...")
        return ["output:", *("  " + line for line in lines)] if lines else ["output: (empty)"]
    diff = diff_lines(reference, output)
    if not diff:
        return [f"output equals the {source}"]
    return [f"output vs {source} ([-reference only-] {{+output only+}}):", *("  " + line for line in diff)]
