"""pytest-llmops: LLM regression testing with plain pytest.

The public API. Names load on first use (module ``__getattr__``), so ``import pytest_llmops``
costs nothing: no judge, no asyncio, no torch, transformers or openai.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmops._datasets import Case
    from pytest_llmops._golden import Golden
    from pytest_llmops._judge.core import Judge, JudgeError, Verdict
    from pytest_llmops._models.base import (
        Backend,
        Completion,
        Generation,
        GenerationSettings,
        Message,
        PromptVersion,
        Request,
        TokenLogprob,
    )
    from pytest_llmops._models.client import LLM
    from pytest_llmops._models.conversation import Conversation, Turn
    from pytest_llmops._models.tools import ToolCall
    from pytest_llmops._plugin.session import prompt_library
    from pytest_llmops._prompts import PromptRenderer, RenderedPrompt
    from pytest_llmops._report.json_report import validate as validate_report
    from pytest_llmops._results import Score, TestRecord
    from pytest_llmops.errors import (
        BudgetExceeded,
        CallCancelled,
        ConfigError,
        LLMOpsError,
        ModelCallError,
        SetupError,
        StructuredOutputError,
        TransientCallError,
    )
    from pytest_llmops.settings import Settings

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_EXPORTS = {
    "Backend": "pytest_llmops._models.base",
    "BudgetExceeded": "pytest_llmops.errors",
    "CallCancelled": "pytest_llmops.errors",
    "Case": "pytest_llmops._datasets",
    "Completion": "pytest_llmops._models.base",
    "ConfigError": "pytest_llmops.errors",
    "Conversation": "pytest_llmops._models.conversation",
    "Generation": "pytest_llmops._models.base",
    "GenerationSettings": "pytest_llmops._models.base",
    "Golden": "pytest_llmops._golden",
    "Judge": "pytest_llmops._judge.core",
    "JudgeError": "pytest_llmops._judge.core",
    "LLM": "pytest_llmops._models.client",
    "LLMOpsError": "pytest_llmops.errors",
    "Message": "pytest_llmops._models.base",
    "ModelCallError": "pytest_llmops.errors",
    "PromptRenderer": "pytest_llmops._prompts",
    "prompt_library": "pytest_llmops._plugin.session",
    "PromptVersion": "pytest_llmops._models.base",
    "RenderedPrompt": "pytest_llmops._prompts",
    "Request": "pytest_llmops._models.base",
    "Score": "pytest_llmops._results",
    "SetupError": "pytest_llmops.errors",
    "Settings": "pytest_llmops.settings",
    "StructuredOutputError": "pytest_llmops.errors",
    "TestRecord": "pytest_llmops._results",
    "TokenLogprob": "pytest_llmops._models.base",
    "ToolCall": "pytest_llmops._models.tools",
    "TransientCallError": "pytest_llmops.errors",
    "Turn": "pytest_llmops._models.conversation",
    "Verdict": "pytest_llmops._judge.core",
    "validate_report": "pytest_llmops._report.json_report",
}

#: Public names that differ from their definition's.
_ALIASES = {"validate_report": "validate"}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_llmops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _ALIASES.get(name, name))
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return __all__
