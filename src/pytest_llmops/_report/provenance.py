"""Where a run came from: its git commit and branch, and a digest of its settings."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_llmops.settings import Settings

#: Settings that say where results go, not what they are: a run's digest leaves them out.
_OUTPUTS = ("report_json", "report_html", "report_md", "history", "worker")
#: CI variables naming the commit and the branch, consulted before ``git`` itself.
_CI_COMMIT = ("GITHUB_SHA", "CI_COMMIT_SHA")
_CI_BRANCH = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME")


def git_facts(folder: Path) -> dict[str, str | None] | None:
    """The commit and branch of the checkout holding ``folder``; None outside one (or no git)."""
    commit = _first_set(_CI_COMMIT) or _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None
    branch = _first_set(_CI_BRANCH) or _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    return {"commit": commit, "branch": None if branch == "HEAD" else branch}  # "HEAD": detached


def settings_digest(settings: Settings) -> str:
    """A short digest of the settings that shape results (not where they are written)."""
    values = {name: value for name, value in dataclasses.asdict(settings).items() if name not in _OUTPUTS}
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _first_set(names: tuple[str, ...]) -> str | None:
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def _git(folder: Path, *arguments: str) -> str | None:
    try:
        done = subprocess.run(["git", *arguments], cwd=folder, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
