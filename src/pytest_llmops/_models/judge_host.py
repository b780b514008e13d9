"""One offline judge for every pytest-xdist worker of a run.

Each xdist worker is a process: loading the 1.5B judge in each would take one 6 GB copy per
worker. The first worker that needs it starts this host under a file lock; the host loads the
model once, with every core, and answers all the workers' requests over a local socket
(127.0.0.1, an auth key in a file only this user reads). It ends when the run's controller does.

Run as ``python -m pytest_llmops._models.judge_host ADDRESS_FILE OWNER_PID DEVICE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any, Sequence

from pytest_llmops._models.base import Generation, ModelCallError, Request
from pytest_llmops._models.gguf_cache import cache_root

#: The longest wait for a host to load the model (its first run also converts the file).
START_TIMEOUT_S = 900.0


def address_file(owner_pid: int) -> Path:
    """Where the host of the run whose controller is ``owner_pid`` says how to reach it."""
    return cache_root() / "judge-hosts" / f"{owner_pid}.json"


class HostedBackend:
    """The judge as answered by the host: same model, same batches, another process."""

    batches = True

    def __init__(self, model: str, connection: Connection) -> None:
        self.model = model
        self._connection = connection
        self._lock = threading.Lock()

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        with self._lock:
            try:
                self._connection.send(list(requests))
                kind, payload = self._connection.recv()
            except (OSError, EOFError) as error:
                raise ModelCallError(f"the offline judge's host stopped answering: {error}") from None
        if kind == "error":
            raise ModelCallError(f"the offline judge failed: {payload}")
        return list(payload)


def connect(model: str, owner_pid: int, device: str) -> HostedBackend:
    """A connection to the run's host, started here if no worker has started it yet."""
    from filelock import FileLock

    path = address_file(owner_pid)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
        try:
            return HostedBackend(model, _open(path))
        except (OSError, ValueError, KeyError):  # none yet, or one left by a host that died
            path.unlink(missing_ok=True)
        _start(path, owner_pid, device)
        return HostedBackend(model, _open(path))


def _open(path: Path) -> Connection:
    address = json.loads(path.read_text(encoding="utf-8"))
    return Client((address["host"], address["port"]), authkey=bytes.fromhex(address["key"]))


def _start(path: Path, owner_pid: int, device: str) -> None:
    log = path.with_suffix(".log")
    with log.open("wb") as output:
        host = subprocess.Popen(
            [sys.executable, "-m", __name__, str(path), str(owner_pid), device],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not path.exists():
        if host.poll() is not None or time.monotonic() > deadline:
            host.kill()
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            raise ModelCallError(f"the offline judge's host did not start: {' | '.join(tail) or 'no output'}")
        time.sleep(0.2)


def serve(path: Path, owner_pid: int, device: str) -> None:
    """Load the judge, publish the address, answer until the owner process is gone."""
    import secrets

    from pytest_llmops._models.hf import TransformersBackend
    from pytest_llmops._models.judge_model import MODEL_NAME, judge_folder

    # The one copy of the run: every core is its own.
    backend = TransformersBackend(judge_folder(), device=device, one_thread=False, model_name=MODEL_NAME)
    key = secrets.token_bytes(32)
    listener = Listener(("127.0.0.1", 0), authkey=key)
    host, port = listener.address
    scratch = path.with_suffix(".tmp")
    scratch.touch(mode=0o600)
    scratch.write_text(json.dumps({"host": host, "port": port, "key": key.hex()}), encoding="utf-8")
    os.replace(scratch, path)
    threading.Thread(target=_end_with, args=(owner_pid, path), daemon=True).start()
    while True:
        try:
            connection = listener.accept()
        except OSError:  # a client that failed the key check
            continue
        threading.Thread(target=_answer, args=(backend, connection), daemon=True).start()


def _answer(backend: Any, connection: Connection) -> None:
    with connection:
        while True:
            try:
                requests = connection.recv()
            except (OSError, EOFError):
                return
            try:
                connection.send(("ok", backend.generate(requests)))
            except Exception as error:  # noqa: BLE001 - the worker's call reports it
                connection.send(("error", f"{type(error).__name__}: {error}"))


def _end_with(owner_pid: int, path: Path) -> None:
    while _alive(owner_pid):
        time.sleep(1.0)
    path.unlink(missing_ok=True)
    os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
