"""What a metric is: a named scorer, its direction, its default threshold and its options.

A scorer is ``score(output, reference, **options)`` returning a float or a
:class:`Measurement`. Metrics are plain descriptors: cheap to build, and they import their
scoring library only when they first score (see :mod:`pytest_llmops.metrics._builtin`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union

if TYPE_CHECKING:
    from pytest_llmops._grounding import Grounding


class MetricError(ValueError):
    """A metric was misused: unknown name, bad threshold, bad option, unusable input."""


@dataclass(frozen=True)
class Measurement:
    """A scorer's answer: the value, and what a reviewer should see about how it came out."""

    value: float
    details: dict[str, Any] = field(default_factory=dict)


Scorer = Callable[..., Union[float, Measurement]]
BatchScorer = Callable[..., Sequence[Union[float, Measurement]]]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of an option a metric cannot do without.
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Metric:
    """One metric, as registered through ``pytest_llmops_register_metrics``.

    ``score(output, reference, **options)`` gets every option in ``options`` (the defaults,
    overridden by the test's). ``score_batch(outputs, references, **options)``, when given,
    scores a whole dataset at once and must agree with ``score`` pair by pair.
    ``uses_reference`` says whether the metric compares against a reference; when
    ``reference_option`` names an option, that option, when set, stands in for the reference
    (``contains`` with ``text=``). ``bounds`` are the thresholds that make sense (``None``:
    unbounded); ``check_options`` rejects bad option values before any output is scored.
    ``model_option`` means the ``model`` option is a model spec, loaded and passed in as the
    backend. ``empty_reference`` says an empty reference is a meaningful one (``exact``: the
    output must be empty); otherwise a missing, empty or blank reference is a MetricError, as
    it would make the check pass or fail whatever the output. ``inputs`` names the grounding
    inputs the scorer takes as keyword arguments (``context``: the retrieved chunks;
    ``relevant``: the labelled relevant ids; see :mod:`pytest_llmops._grounding`); a check
    given none of one it needs is a MetricError.
    """

    name: str
    score: Scorer
    higher_is_better: bool = True
    threshold: float | None = None
    bounds: tuple[float | None, float | None] = (None, None)
    uses_reference: bool = True
    reference_option: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    check_options: Callable[[Mapping[str, Any]], None] | None = None
    score_batch: BatchScorer | None = None
    model_option: bool = False
    empty_reference: bool = False
    inputs: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        from pytest_llmops._grounding import INPUTS

        unknown = [name for name in self.inputs if name not in INPUTS]
        if unknown:
            raise MetricError(
                f"metric {self.name!r}: unknown input {', '.join(map(repr, unknown))} (inputs: {', '.join(INPUTS)})"
            )

    def resolve_options(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The defaults overridden by ``given``; unknown or missing options raise MetricError."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            accepted = ", ".join(sorted(self.options)) or "none"
            raise MetricError(
                f"metric {self.name!r} has no option {', '.join(map(repr, unknown))} (options: {accepted})"
            )
        resolved = {**self.options, **given}
        missing = sorted(k for k, v in resolved.items() if v is REQUIRED)
        if missing:
            raise MetricError(f"metric {self.name!r} needs the option {', '.join(map(repr, missing))}")
        if self.check_options is not None:
            try:
                self.check_options(resolved)
            except MetricError:
                raise
            except (TypeError, ValueError) as error:
                raise MetricError(f"metric {self.name!r}: {error}") from None
        return resolved

    def needs_reference(self, options: Mapping[str, Any]) -> bool:
        if not self.uses_reference:
            return False
        return not (self.reference_option and options.get(self.reference_option) is not None)

    def check_reference(self, reference: str | None, options: Mapping[str, Any]) -> None:
        """MetricError when this metric needs a reference and ``reference`` says nothing."""
        if self.empty_reference or not self.needs_reference(options):
            return
        if reference is None:
            raise MetricError(f"metric {self.name!r} needs a reference and was given none")
        if not reference.strip():
            raise MetricError(
                f"the reference is empty ({reference!r}): {self.name!r} against it would pass or "
                f"fail whatever the output (an empty `expected` cell in a case file?)"
            )

    def input_values(self, grounding: Grounding | None) -> dict[str, Any]:
        """The keyword arguments ``inputs`` asks of ``grounding``; MetricError for one not given."""
        from pytest_llmops._grounding import INPUTS

        values = {name: None if grounding is None else grounding.get(name) for name in self.inputs}
        missing = [name for name, value in values.items() if value is None]
        if missing == ["tool_calls"]:
            raise MetricError(
                f"metric {self.name!r} needs tool_calls= ({INPUTS['tool_calls']}): "
                "golden.check(completion), or golden.check(output, tool_calls=[...]) for a run's calls"
            )
        if missing:
            raise MetricError(
                f"metric {self.name!r} needs {' and '.join(f'{n}= ({INPUTS[n]})' for n in missing)}, "
                f"e.g. golden.check(output, {', '.join(f'{n}=case.{n}' for n in missing)})"
            )
        return values

    def check_threshold(self, threshold: Any) -> float:
        """``threshold`` (or the default) as a float, or MetricError saying what is accepted."""
        if threshold is None:
            if self.threshold is None:
                raise MetricError(f"metric {self.name!r} has no default threshold: give one")
            return self.threshold
        low, high = self.bounds
        accepted = _describe_bounds(low, high)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise MetricError(f"invalid threshold {threshold!r} for metric {self.name!r}: expected {accepted}")
        if (low is not None and threshold < low) or (high is not None and threshold > high):
            raise MetricError(f"invalid threshold {threshold!r} for metric {self.name!r}: expected {accepted}")
        return float(threshold)

    def passes(self, value: float, threshold: float) -> bool:
        """Whether ``value`` meets ``threshold``; a NaN or infinite value is a broken score, never a pass."""
        if not math.isfinite(value):
            return False
        return value >= threshold if self.higher_is_better else value <= threshold


def _describe_bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"a number from {low:g} to {high:g}"
    if low is not None:
        return f"a number >= {low:g}"
    if high is not None:
        return f"a number <= {high:g}"
    return "a finite number"


def as_measurement(result: float | Measurement) -> Measurement:
    """A scorer's float or Measurement, as a Measurement with a float value."""
    if isinstance(result, Measurement):
        return Measurement(float(result.value), dict(result.details))
    return Measurement(float(result))
