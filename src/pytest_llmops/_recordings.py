"""Record and replay of model calls: one small JSON file per call, named by a hash of its key.

A call's key is everything that determines its answer: the backend identity (spec, model,
server URL; never a secret), the request (messages or prompt, every generation setting) and
its sample number (the n-th identical request of one test). Recordings of a test module live
in one folder, ``<recordings dir>/<module path>/<hash>.json``, so a module's unused files can
be found and pruned exactly. Files are written atomically and read defensively: a corrupt
one is named in a warning (mode ``new``, then re-recorded) or an ERROR (mode ``replay``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import pytest

from pytest_llmops._files import json_text, shown, write_atomic
from pytest_llmops._redact import redact_data
from pytest_llmops._models.base import Completion, ModelCallError, Request

if TYPE_CHECKING:
    from pytest_llmops._models.base import Message

FORMAT = 1
SESSION_FOLDER = "_session"
# Identity fields with names like these hold secrets.
_SECRET_NAME = re.compile(r"api[_-]?key|auth|token|secret|password|credential|cookie", re.IGNORECASE)
_UNSAFE = re.compile(r"[^\w.+=@-]+")
# Completion fields worth keeping; cached/role/prompt versions come from the replaying call.
_RECORDED_FIELDS = (
    "text", "model", "backend", "prompt_tokens", "completion_tokens", "latency_s", "cost_usd",
    "finish_reason", "logprobs",
)


class CorruptRecordingError(Exception):
    """A recording file that cannot be read back; the message names it."""


def module_folder(nodeid: str) -> str:
    """The folder of a node's recordings: its module's path (``_session`` outside a module)."""
    return _folder_of_module(nodeid.split("::", 1)[0])


@functools.lru_cache(maxsize=1024)
def _folder_of_module(module: str) -> str:
    if not module:
        return SESSION_FOLDER
    parts = [_UNSAFE.sub("_", part) for part in module.split("/") if part not in ("", ".")]
    return "/".join("__" if part == ".." else part for part in parts)


def _public(identity: Mapping[str, Any]) -> dict[str, Any]:
    return {k: identity[k] for k in sorted(identity) if not _SECRET_NAME.search(k)}


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Recordings:
    """The run's recordings folder: reading, atomic writing, and what this run used."""

    def __init__(self, root: Path, mode: str, rootdir: Path) -> None:
        self.root = root
        self.mode = mode
        self.rootdir = rootdir
        self.used: set[str] = set()
        self.replayed = 0
        self.recorded = 0
        self._lock = threading.Lock()

    def worker_part(self) -> dict[str, Any]:
        """What an xdist worker tells the controller: the recordings it used, and its counts."""
        return {"used": sorted(self.used), "replayed": self.replayed, "recorded": self.recorded}

    def shown(self, relpath: str) -> str:
        """A recording's path as a user should see it (relative to the rootdir when inside)."""
        return shown(self.root / relpath, self.rootdir)

    def read(self, relpath: str) -> Completion | None:
        """The completion recorded at ``relpath``; None when there is none."""
        try:
            with open(os.path.join(self.root, relpath), "rb") as file:
                raw = file.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise CorruptRecordingError(f"cannot read recording {self.shown(relpath)}: {error}") from None
        try:
            data = json.loads(raw)
            completion = data["completion"]
            if data.get("format") != FORMAT or not all(
                isinstance(completion[k], str) for k in ("text", "model", "backend")
            ):
                raise ValueError("not a recording of this plugin's format")
            result = Completion.from_dict(completion)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            reason = f"{type(error).__name__}: {error}"
            raise CorruptRecordingError(f"corrupt recording {self.shown(relpath)} ({reason})") from None
        self.note(relpath, replayed=True)
        return result

    def write(self, relpath: str, key: dict[str, Any], completion: Completion) -> None:
        """Write one recording atomically: a killed process leaves every other file whole."""
        recorded = completion.to_dict()
        recorded["latency_s"] = round(recorded["latency_s"], 4)  # 0.1 ms: smaller diffs on re-record
        data = {"format": FORMAT, "key": key, "completion": {k: recorded[k] for k in _RECORDED_FIELDS}}
        text = json_text(redact_data(data))
        path = self.root / relpath
        try:
            write_atomic(path, text)
        except OSError as error:
            raise ModelCallError(f"cannot write recording {self.shown(relpath)}: {error}") from None
        self.note(relpath, replayed=False)

    def note(self, relpath: str, *, replayed: bool) -> None:
        with self._lock:
            self.used.add(relpath)
            if replayed:
                self.replayed += 1
            else:
                self.recorded += 1


class TestRecordings:
    """One test's :class:`~pytest_llmops._models.client.CallCache`: its calls, numbered."""

    __test__ = False

    def __init__(self, recordings: Recordings, node: pytest.Item) -> None:
        self.recordings = recordings
        self.node = node
        self.folder = module_folder(node.nodeid)
        self._samples: dict[str, int] = {}
        self._pending: dict[str, deque[tuple[str, int]]] = {}
        self._lock = threading.Lock()

    def lookup(self, identity: Mapping[str, Any], request: Request) -> Completion | None:
        base = self._base(identity, request)
        relpath, sample = self._next(base)
        mode = self.recordings.mode
        completion = None
        if mode != "all":
            try:
                completion = self.recordings.read(relpath)
            except CorruptRecordingError as error:
                if mode == "replay":
                    raise ModelCallError(f"{self.node.nodeid}: {error}") from None
                self.node.warn(pytest.PytestWarning(f"pytest-llmops: {error}; recording it again"))
            if completion is None and mode == "replay":
                raise ModelCallError(self._missing(identity, request, relpath))
        if completion is None:
            with self._lock:
                self._pending.setdefault(base, deque()).append((relpath, sample))
        return completion

    def store(self, identity: Mapping[str, Any], request: Request, completion: Completion) -> None:
        base = self._base(identity, request)
        with self._lock:
            pending = self._pending.get(base)
            slot = pending.popleft() if pending else None
        relpath, sample = slot or self._next(base)
        asked = request.to_dict()
        settings = asked.pop("settings")
        key = {"backend": _public(identity), "request": {**asked, "settings": settings}, "sample": sample}
        self.recordings.write(relpath, key, completion)

    @staticmethod
    def _base(identity: Mapping[str, Any], request: Request) -> str:
        """What names a call's file: its key as the recording keeps it (secrets replaced, so a
        rotated token finds the same file)."""
        return _CANONICAL.encode(redact_data({"backend": _public(identity), "request": request.to_dict()}))

    def _next(self, base: str) -> tuple[str, int]:
        """The file of the next sample of ``base`` in this test."""
        with self._lock:
            sample = self._samples.get(base, 0)
            self._samples[base] = sample + 1
        digest = hashlib.sha256(f"{base}\n{sample}".encode("utf-8", "surrogatepass")).hexdigest()[:24]
        return f"{self.folder}/{digest}.json", sample

    def _missing(self, identity: Mapping[str, Any], request: Request, relpath: str) -> str:
        nodeid = self.node.nodeid
        return (
            f"{nodeid}: no recording of this {identity.get('spec', 'model')} call "
            f"({_summary(request)}; looked for {self.recordings.shown(relpath)}) and "
            f"llm_record_mode is 'replay'; record it with: pytest --llm-record-mode=new '{nodeid}'"
        )


def _summary(request: Request) -> str:
    text = request.prompt if not request.is_chat else _last_user(request.messages)
    line = " ".join((text or "").split())
    return repr(line if len(line) <= 60 else line[:57] + "...")


def _last_user(messages: tuple[Message, ...]) -> str:
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


