"""Cost of a call: settings overrides first, then the maintained ``genai-prices`` table."""

from __future__ import annotations

import functools
import threading
import warnings
from typing import Mapping

import pytest


class PriceWarning(pytest.PytestWarning):
    """A model has no known price; its calls are counted as free."""


def cost_usd(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    overrides: Mapping[str, tuple[float, float]],
    provider: str | None = None,
) -> float:
    """USD cost of one call. Unknown models cost 0, with one warning naming the setting."""
    if model in overrides:
        per_input, per_output = overrides[model]
        return (prompt_tokens * per_input + completion_tokens * per_output) / 1_000_000
    with _TABLE_LOCK:  # the first lookup imports the table; concurrent calls wait for it
        per_input, per_output = _table_price(model, provider)
    return (prompt_tokens * per_input + completion_tokens * per_output) / 1_000_000


_TABLE_LOCK = threading.Lock()


@functools.cache
def _table_price(model: str, provider: str | None) -> tuple[float, float]:
    import genai_prices

    million = 1_000_000
    try:
        price = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=million, output_tokens=million), model, provider_id=provider
        )
    except LookupError:
        warnings.warn(
            PriceWarning(
                f"pytest-llmops: no price known for model {model!r}; its calls count as $0. "
                f'Set one with llm_prices = "{model} = <input USD/Mtok> <output USD/Mtok>".'
            ),
            stacklevel=2,
        )
        return 0.0, 0.0
    return float(price.input_price), float(price.output_price)
