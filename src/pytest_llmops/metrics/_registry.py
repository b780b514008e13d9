"""Metrics by name, gathered from the ``pytest_llmops_register_metrics`` hook on first use.

:class:`MetricRegistry` validates a metric's name, threshold and options once (a
:class:`MetricCheck`), then scores one output or a whole dataset with it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from pytest_llmops.metrics._base import Measurement, Metric, MetricError, as_measurement

if TYPE_CHECKING:
    from pytest_llmops._grounding import Grounding
    from pytest_llmops._models.base import Backend

ModelLoader = Callable[[str], "Backend"]


@dataclass(frozen=True)
class MetricCheck:
    """A metric with its threshold and options, validated: ready to score."""

    metric: Metric
    threshold: float | None
    options: Mapping[str, Any] = field(default_factory=dict)
    #: The options the scorer receives (a ``model`` spec replaced by its backend).
    call_options: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.metric.name

    @property
    def needs_reference(self) -> bool:
        return self.metric.needs_reference(self.options)

    def measure(self, output: str, reference: str | None, grounding: Grounding | None = None) -> Measurement:
        self.metric.check_reference(reference, self.options)
        inputs = self.metric.input_values(grounding)
        return as_measurement(self.metric.score(output, reference, **inputs, **self.call_options))

    def measure_many(
        self,
        outputs: Sequence[str],
        references: Sequence[str | None],
        groundings: Sequence[Grounding | None] | None = None,
    ) -> list[Measurement]:
        """One Measurement per output; ``groundings`` (one per output) feed a metric's ``inputs``."""
        if len(outputs) != len(references):
            raise MetricError(f"{len(outputs)} outputs but {len(references)} references")
        for reference in references:
            self.metric.check_reference(reference, self.options)
        results: Sequence[float | Measurement]
        if self.metric.inputs:
            given = list(groundings) if groundings is not None else [None] * len(outputs)
            if len(given) != len(outputs):
                raise MetricError(f"{len(outputs)} outputs but {len(given)} groundings")
            score, options = self.metric.score, self.call_options
            results = [
                score(o, r, **self.metric.input_values(g), **options) for o, r, g in zip(outputs, references, given)
            ]
        elif self.metric.score_batch is not None:
            results = self.metric.score_batch(outputs, references, **self.call_options)
        else:
            score, options = self.metric.score, self.call_options
            results = [score(o, r, **options) for o, r in zip(outputs, references)]
        return [as_measurement(r) for r in results]

    def passes(self, value: float) -> bool:
        if self.threshold is None:
            raise MetricError(f"metric {self.name!r} was bound without a threshold")
        return self.metric.passes(value, self.threshold)


class MetricRegistry:
    """Registered metrics by name; the first registration of a name wins."""

    def __init__(self, metrics: Mapping[str, Metric], load_model: ModelLoader | None = None) -> None:
        self._metrics = dict(metrics)
        self._load_model = load_model

    @classmethod
    def collect(
        cls, call_hook: Callable[[Callable[[Metric], None]], Any], load_model: ModelLoader | None = None
    ) -> MetricRegistry:
        metrics: dict[str, Metric] = {}

        def register(metric: Metric) -> None:
            if not isinstance(metric, Metric):
                raise MetricError(f"register() takes a pytest_llmops.metrics.Metric, not {type(metric).__name__}")
            metrics.setdefault(metric.name, metric)

        call_hook(register)
        return cls(metrics, load_model)

    @classmethod
    def builtin(cls) -> MetricRegistry:
        """The plugin's own metrics, for use outside a pytest run (scripts, benchmarks)."""
        from pytest_llmops.metrics import _builtin as builtin

        return cls.collect(builtin.BuiltinMetrics().pytest_llmops_register_metrics)

    @property
    def names(self) -> list[str]:
        return sorted(self._metrics)

    def get(self, name: str) -> Metric:
        metric = self._metrics.get(name) if isinstance(name, str) else None
        if metric is None:
            close = difflib.get_close_matches(str(name), self.names, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise MetricError(f"unknown metric {name!r}{hint}; known metrics: {', '.join(self.names)}")
        return metric

    def check(self, name: str, threshold: Any = None, options: Mapping[str, Any] | None = None) -> MetricCheck:
        """Validate ``name``, ``threshold`` (default: the metric's) and ``options`` together."""
        metric = self.get(name)
        return self._bind(metric, metric.check_threshold(threshold), options)

    def _bind(self, metric: Metric, threshold: float | None, options: Mapping[str, Any] | None) -> MetricCheck:
        if options is not None and not isinstance(options, Mapping):
            raise MetricError(f"options of metric {metric.name!r} must be a dict, not {type(options).__name__}")
        resolved = metric.resolve_options(options)
        call_options = dict(resolved)
        if metric.model_option and isinstance(resolved.get("model"), str):
            call_options["model"] = self._model(metric, resolved["model"])
        return MetricCheck(metric, threshold, resolved, call_options)

    def _model(self, metric: Metric, spec: str) -> Backend:
        if self._load_model is None:
            raise MetricError(f"metric {metric.name!r} outside pytest needs a backend object as its `model` option")
        from pytest_llmops._models.registry import UnknownModelError

        try:
            return self._load_model(spec)
        except UnknownModelError as error:
            raise MetricError(f"metric {metric.name!r}: {error}") from None

    def score_many(
        self,
        name: str,
        outputs: Sequence[str],
        references: Sequence[str | None] | None = None,
        *,
        groundings: Sequence[Grounding | None] | None = None,
        **options: Any,
    ) -> list[Measurement]:
        """Score a dataset: one :class:`Measurement` per output, scorer built once; ``groundings``
        (one :class:`~pytest_llmops.metrics.Grounding` per output) feed retrieval and citations."""
        check = self._bind(self.get(name), None, options)
        return check.measure_many(
            list(outputs), list(references) if references is not None else [None] * len(outputs), groundings
        )


@lru_cache(maxsize=1)
def _builtin_registry() -> MetricRegistry:
    return MetricRegistry.builtin()


def score_many(
    metric: str,
    outputs: Sequence[str],
    references: Sequence[str | None] | None = None,
    *,
    groundings: Sequence[Grounding | None] | None = None,
    **options: Any,
) -> list[Measurement]:
    """Score many outputs against their references with a built-in metric, outside pytest.

    ``score_many("rougeL", outputs, references, stemmer=True)`` builds each scorer once and
    batches where the metric can (embeddings run in batches of 64);
    ``score_many("ndcg", outputs, groundings=[Grounding.of(ids, relevant), ...], k=5)`` scores
    retrievals.
    """
    return _builtin_registry().score_many(metric, outputs, references, groundings=groundings, **options)
