"""Non-finite numbers (NaN, infinity) in reports: how they are written, read back and shown.

Standard JSON has no NaN or Infinity. The JSON report writes a non-finite number as one of
the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` wherever a number may stand (the
schema allows them there); :func:`number` reads either form back, and so does the baseline
reader for a file holding the bare literals that Python's ``json`` writes.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def spelled(value: float) -> str:
    """How the JSON report writes a non-finite ``value``."""
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float, however deep, spelled as a string."""
    if isinstance(value, float) and not math.isfinite(value):
        return spelled(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def number(value: Any) -> float:
    """A report's number as a float: a JSON number, or one of the spellings of :data:`NON_FINITE`."""
    if isinstance(value, str):
        if value not in NON_FINITE:
            raise ValueError(f"not a number: {value!r}")
        return NON_FINITE[value]
    return float(value)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a number as a report holds it (``True`` and ``False`` are not)."""
    if isinstance(value, str):
        return value in NON_FINITE
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def highest(values: Iterable[float]) -> float:
    """``max`` that is NaN when any value is (``max`` alone depends on the order)."""
    values = list(values)
    return math.nan if any(math.isnan(v) for v in values) else max(values)


def lowest(values: Iterable[float]) -> float:
    """``min`` that is NaN when any value is."""
    values = list(values)
    return math.nan if any(math.isnan(v) for v in values) else min(values)


def word(value: float) -> str:
    """A non-finite value for a reader: ``NaN``, ``inf`` or ``-inf``."""
    return "NaN" if math.isnan(value) else f"{value}"
