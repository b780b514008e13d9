"""pytest-llmops: LLM regression testing with plain pytest.

The public API; importing it loads nothing heavy (no torch, transformers or openai).
"""

from __future__ import annotations

from pytest_llmops.models.base import (
    Backend,
    Completion,
    Generation,
    GenerationSettings,
    Message,
    ModelCallError,
    PromptVersion,
    Request,
    TokenLogprob,
)
from pytest_llmops.judge.core import Judge, JudgeError, Verdict
from pytest_llmops.models.client import LLM
from pytest_llmops.results import TestRecord
from pytest_llmops.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "LLM",
    "Backend",
    "Completion",
    "Generation",
    "GenerationSettings",
    "Judge",
    "JudgeError",
    "Message",
    "ModelCallError",
    "PromptVersion",
    "Request",
    "Settings",
    "TestRecord",
    "TokenLogprob",
    "Verdict",
    "__version__",
]
