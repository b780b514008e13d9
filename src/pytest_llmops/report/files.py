"""Writing report files: atomically (temp file + rename), so a killed run leaves no half file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8), creating its folder when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def append_text(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` (as ``$GITHUB_STEP_SUMMARY`` expects)."""
    with path.open("a", encoding="utf-8", newline="\n") as stream:
        stream.write(text)
