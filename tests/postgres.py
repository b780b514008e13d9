"""A throwaway PostgreSQL server for the history tests: ``initdb`` in a temporary folder, on a
free port of 127.0.0.1, stopped and removed afterwards.

``initdb`` and ``postgres`` refuse to run as root (CI runs as root): then they run as ``nobody``.
A server that cannot start raises :class:`PostgresUnavailable`, so the tests using it ERROR with
the reason: they never pass without a database.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from servers import free_port


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed or would not start; the message says why."""


def _tools() -> dict[str, str]:
    """``initdb`` and ``pg_ctl``: on PATH, or where Debian's postgresql package puts them."""
    found = {}
    for tool in ("initdb", "pg_ctl"):
        path = shutil.which(tool) or next(
            iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), reverse=True)), None
        )
        if path is None:
            raise PostgresUnavailable(f"{tool} not found: install PostgreSQL (Debian: the postgresql package)")
        found[tool] = path
    return found


class PostgresServer:
    """``with PostgresServer() as url:`` a ``postgresql://`` URL of an empty database."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="llmops-pg-"))
        self.data = self.folder / "data"
        self.url = f"postgresql://llmops@127.0.0.1:{self.port}/postgres"
        self._user = "nobody" if os.geteuid() == 0 else None
        self._tools: dict[str, str] = {}

    def __enter__(self) -> str:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._tools = _tools()
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "llmops", "-A", "trust", "--no-sync", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -F"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options, "-w", "-t", "60", "start"
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, *command: str, check: bool = True) -> None:
        prefix = ["runuser", "-u", self._user, "--"] if self._user else []
        done = subprocess.run(
            [*prefix, self._tools[command[0]], *command[1:]], capture_output=True, text=True, timeout=120, check=False
        )
        if check and done.returncode != 0:
            log = self.folder / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(command[:1])} failed ({done.returncode}): {done.stderr.strip()}\n{tail}"
            )
