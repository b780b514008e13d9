"""GGUF files converted once to plain transformers folders, cached per file content.

De-quantising a GGUF file on every load costs ~18 s; loading the converted float32 folder
costs ~2 s. The folder lives in the user cache, keyed by the file's SHA-256 and the version of
transformers (a folder one release saves, another may read wrongly: 5.0's, read by 5.25, gives
garbage), written to
a temporary folder first and renamed, so concurrent workers and killed runs never leave half a
model behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    """``$PYTEST_LLMOPS_CACHE``, else ``$XDG_CACHE_HOME/pytest-llmops``, else ``~/.cache/pytest-llmops``."""
    explicit = os.environ.get("PYTEST_LLMOPS_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pytest-llmops"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plain_folder_for(gguf: Path, digest: str | None = None) -> Path:
    """The converted folder of ``gguf`` (whose SHA-256 is ``digest`` when known), converting it
    on first use."""
    from importlib.metadata import version

    converter = f"transformers{version('transformers')}"
    target = cache_root() / "models" / f"{gguf.stem}-{(digest or file_digest(gguf))[:16]}-{converter}"
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        _convert(gguf, scratch)
        try:
            scratch.rename(target)
        except OSError:
            if not (target / "config.json").exists():  # lost a race to a finished twin: fine
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _convert(gguf: Path, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model: Any = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if getattr(model, "hf_quantizer", None) is not None:
        # The weights are plain float32 already; only the marker blocks saving.
        model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
