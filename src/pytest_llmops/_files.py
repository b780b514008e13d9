"""Writing the files a run leaves behind (recordings, snapshots, reports) safely.

A file is written to a temporary sibling and renamed over its target, so a killed process
leaves every file whole or absent, never half-written.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import time
from pathlib import Path

# A temporary file older than this was left by a killed run: no live write takes so long.
STALE_AFTER_S = 300
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: The most bytes one path component may have (ext4, APFS, NTFS and most others).
MOST_NAME_BYTES = 255
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SEPARATOR = re.compile(r"[/\\]")


def json_text(data: object, *, indent: int | None = 2) -> str:
    """``data`` as JSON text that UTF-8 can hold: readable non-ASCII text, and a lone surrogate
    (a model's broken output) written as its ``\\udXXX`` escape, which reads back the same."""
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8, ``\\n`` line ends), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = _new_temporary(path)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _new_temporary(path: Path) -> tuple[int, str]:
    """A new temporary sibling of ``path``, created with the mode a plain ``open`` would give
    (0o666 less the umask, applied by the system: the umask is never read or changed)."""
    for _ in range(100):
        temporary = os.path.join(path.parent, f".{path.name}.{os.urandom(4).hex()}.tmp")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def remove_stale_temporaries(path: Path) -> None:
    """Delete the temporaries of ``path`` that a killed run left behind (older than five minutes)."""
    cutoff = time.time() - STALE_AFTER_S
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


def newer_format(where: str, kind: str, found: object, newest: int) -> str | None:
    """Why a file claiming version ``found`` of ``kind`` (``recording format``) is beyond this
    plugin, which reads 1 to ``newest`` (None: it is not). An older plugin names the file and
    asks for an upgrade; it never reads or overwrites what a newer one wrote."""
    if not isinstance(found, int) or isinstance(found, bool) or found <= newest:
        return None
    readable = "1" if newest == 1 else f"1-{newest}"
    return (
        f"{where} was written by a newer pytest-llmops ({kind} {found}; this version "
        f"reads {readable}): upgrade pytest-llmops"
    )


def leaves(path: Path, root: Path) -> bool:
    """Whether ``path`` (under ``root``), its symlinks resolved, lands outside ``root``."""
    return not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def shown(path: Path, root: Path) -> str:
    """``path`` as a user should see it: relative to ``root`` (the rootdir) when inside it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name one file or one test (None when it can): it is not text, is
    blank, holds a control character or a path separator, or is longer than a file system allows."""
    if not isinstance(name, str):
        return f"is not text but {type(name).__name__}"
    if not name.strip():
        return "is empty"
    for pattern, what in ((_CONTROL, "a control character"), (_SEPARATOR, "a path separator")):
        found = pattern.search(name)
        if found:
            return f"holds {what} ({found.group()!r})"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MOST_NAME_BYTES:
        return f"is {size} bytes long: a file name may have {MOST_NAME_BYTES}"
    return None


def append_text(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` (as ``$GITHUB_STEP_SUMMARY`` expects)."""
    with path.open("a", encoding="utf-8", newline="\n") as stream:
        stream.write(text)
