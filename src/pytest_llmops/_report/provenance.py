"""Which code a report describes: the commit checked out where the run started.

Shard reports of one CI run must come from the same commit; the merge refuses any other mix.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def head_commit(root: Path) -> str | None:
    """The commit ``root`` has checked out (``git rev-parse HEAD``), or None outside a git
    work tree or without git."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None
