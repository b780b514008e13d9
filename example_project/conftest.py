"""Fixtures of the example suite: the assistant under test, wired to pytest-llmops' fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support_app import SupportAssistant

TICKETS = Path(__file__).parent / "tests" / "data" / "tickets.yaml"


@pytest.fixture(scope="session")
def tickets() -> dict[str, dict[str, Any]]:
    """The dataset's rows by id (the same file the dataset suites read)."""
    return {row["id"]: row for row in yaml.safe_load(TICKETS.read_text(encoding="utf-8"))}


@pytest.fixture
def assistant(llm, prompt) -> SupportAssistant:
    """The app with the test's model (recorded and replayed) and prompt renderer (versioned)."""
    return SupportAssistant(model=llm, prompts=prompt)


@pytest.fixture(scope="session", autouse=True)
def _transformers_imported_once(llm_settings):
    """Work around a pytest-llmops problem: importing transformers from two threads at once
    fails ("cannot import name 'AutoModelForCausalLM'"), which happens when a dataset's live
    calls load the local model in a worker thread while a test loads the embedding model.
    Replay mode makes no live call, so it skips this import."""
    if llm_settings.record_mode != "replay":
        from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer  # noqa: F401
