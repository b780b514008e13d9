from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import KatanServer, ScriptedServer  # noqa: E402

# In-process pytester runs restore sys.modules when they end, so whatever an inner run imported
# is imported again by the next one. Extension modules cannot be (numpy: "cannot load module
# more than once per process"; torch crashes): import them once, here, so every run shares them.
# openai too: a call an inner run abandoned at its deadline may still be inside the SDK while the
# next run imports it afresh, and pydantic then fails to build the SDK's models.
SHARED_MODULES = (
    "openai",
    "numpy",
    "torch",
    "tokenizers",
    "safetensors",
    "transformers",
    "transformers.models.llama.modeling_llama",
    "transformers.models.bert.modeling_bert",
    # SQLAlchemy's compiled parts break when imported a second time ("'InternalTraversal' object
    # is not callable"): the history tests read stores in this process.
    "sqlalchemy",
)


def pytest_configure(config: pytest.Config) -> None:
    for name in SHARED_MODULES:
        if importlib.util.find_spec(name.partition(".")[0]) is not None:
            importlib.import_module(name)


@pytest.fixture(autouse=True)
def no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs inside tests (pytester) must not append to the CI job's own $GITHUB_STEP_SUMMARY."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


# Third-party plugins that inner runs never need. pytester restores sys.modules after each
# in-process run, so a plugin that imports its library at session end (hypothesis does) is
# imported and assertion-rewritten again for every inner run: seconds each.
UNNEEDED_PLUGINS = ("hypothesispytest", "anyio", "benchmark", "randomly", "html")  # html: `-p html` where tested


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, with inner runs (in-process and subprocess) freed of unneeded plugins."""
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join(f"-p no:{name}" for name in UNNEEDED_PLUGINS))
    return pytester


@pytest.fixture
def katan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., KatanServer]]:
    """Start ``llm-katan`` servers with the given CLI flags; all are stopped afterwards."""
    started: list[KatanServer] = []

    def start(*args: str, **kwargs: Any) -> KatanServer:
        server = KatanServer(*args, workdir=tmp_path_factory.mktemp("katan"), **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def scripted_server() -> Iterator[Callable[..., ScriptedServer]]:
    """Start :class:`ScriptedServer` instances; all are stopped afterwards."""
    started: list[ScriptedServer] = []

    def start(answers: Any, **kwargs: Any) -> ScriptedServer:
        server = ScriptedServer(answers, **kwargs).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)
