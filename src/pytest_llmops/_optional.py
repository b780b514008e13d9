"""Importing the modules that need optional heavy libraries (torch, transformers, openai, ...).

One process-wide lock: two threads importing transformers at once (a dataset prefetch loading
the model while a test loads the embedding metric) can see it half-initialised.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType

_IMPORT_LOCK = threading.RLock()


class MissingExtraError(RuntimeError):
    """An optional dependency is not installed; the message says what to install."""


def import_optional(module: str, extra: str = "") -> ModuleType:
    """Import ``module`` (one thread at a time); a missing library names what to install."""
    with _IMPORT_LOCK:
        try:
            return importlib.import_module(module)
        except ImportError as error:
            if error.name is None or error.name.startswith("pytest_llmops"):
                raise
            install = f"pip install 'pytest-llmops[{extra}]'" if extra else f"pip install {error.name}"
            raise MissingExtraError(f"{error.name!r} is not installed: {install}") from None
