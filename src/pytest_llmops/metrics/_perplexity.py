"""Perplexity of an output under a local transformers model (lower is better).

``exp(-mean log-probability)`` of the output's tokens, optionally conditioned on a
``context`` (the prompt). The ``model`` option is a model spec (default ``local``, SmolLM2);
the session's backend for it is reused, and it must offer ``log_likelihood``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from pytest_llmops.metrics._base import Measurement, MetricError


def perplexity(output: str, reference: str | None, *, model: Any, context: str = "") -> Measurement:
    log_likelihood = getattr(model, "log_likelihood", None)
    if log_likelihood is None:
        raise MetricError(
            f"perplexity needs a model that scores log-likelihoods (local or hf:<path>); "
            f"{getattr(model, 'model', model)!r} does not"
        )
    total, tokens = log_likelihood(output, context=context)
    if tokens == 0:
        raise MetricError("perplexity of an empty output is undefined")
    return Measurement(
        math.exp(-total / tokens),
        {"tokens": tokens, "log_likelihood": total, "model": getattr(model, "model", str(model))},
    )


def check_context(options: Mapping[str, Any]) -> None:
    if not isinstance(options["context"], str):
        raise MetricError(f"option 'context' must be a string, not {type(options['context']).__name__}")
