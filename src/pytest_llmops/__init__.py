"""pytest-llmops: LLM regression testing with plain pytest.

The public API. Names load on first use (module ``__getattr__``), so ``import pytest_llmops``
costs nothing: no judge, no asyncio, no torch, transformers or openai.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmops.datasets import Case
    from pytest_llmops.errors import (
        BudgetExceeded,
        CallCancelled,
        ConfigError,
        LLMOpsError,
        ModelCallError,
        SetupError,
        TransientCallError,
    )
    from pytest_llmops.golden import Golden
    from pytest_llmops.judge.core import Judge, JudgeError, Verdict
    from pytest_llmops.models.base import (
        Backend,
        Completion,
        Generation,
        GenerationSettings,
        Message,
        PromptVersion,
        Request,
        TokenLogprob,
    )
    from pytest_llmops.models.client import LLM
    from pytest_llmops.prompts import PromptRenderer, RenderedPrompt
    from pytest_llmops.results import Score, TestRecord
    from pytest_llmops.settings import Settings

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_EXPORTS = {
    "Backend": "pytest_llmops.models.base",
    "BudgetExceeded": "pytest_llmops.errors",
    "CallCancelled": "pytest_llmops.errors",
    "Case": "pytest_llmops.datasets",
    "Completion": "pytest_llmops.models.base",
    "ConfigError": "pytest_llmops.errors",
    "Generation": "pytest_llmops.models.base",
    "GenerationSettings": "pytest_llmops.models.base",
    "Golden": "pytest_llmops.golden",
    "Judge": "pytest_llmops.judge.core",
    "JudgeError": "pytest_llmops.judge.core",
    "LLM": "pytest_llmops.models.client",
    "LLMOpsError": "pytest_llmops.errors",
    "Message": "pytest_llmops.models.base",
    "ModelCallError": "pytest_llmops.errors",
    "PromptRenderer": "pytest_llmops.prompts",
    "PromptVersion": "pytest_llmops.models.base",
    "RenderedPrompt": "pytest_llmops.prompts",
    "Request": "pytest_llmops.models.base",
    "Score": "pytest_llmops.results",
    "SetupError": "pytest_llmops.errors",
    "Settings": "pytest_llmops.settings",
    "TestRecord": "pytest_llmops.results",
    "TokenLogprob": "pytest_llmops.models.base",
    "TransientCallError": "pytest_llmops.errors",
    "Verdict": "pytest_llmops.judge.core",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_llmops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return __all__
