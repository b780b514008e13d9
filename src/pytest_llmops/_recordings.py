"""Record and replay of model calls: one small JSON file per call, named by a hash of its key.

A call's key is everything that determines its answer: the backend identity (spec, model,
server URL; never a secret), the request (messages or prompt, every generation setting, the
tools and response format when set: a changed tool schema is a new call) and
its sample number (the n-th identical request of one test). Recordings of a test module live
in one folder, ``<recordings dir>/<module path>/<hash>.json``, so a module's unused files can
be found and pruned exactly. Files are written atomically and read defensively: a corrupt
one is named in a warning (mode ``new``, then re-recorded) or an ERROR (mode ``replay``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import pytest

from pytest_llmops._files import json_text, leaves, newer_format, shown, write_atomic
from pytest_llmops._redact import redact, redact_encoded
from pytest_llmops.errors import ModelCallError

if TYPE_CHECKING:
    from pytest_llmops._models.base import Completion, Message, Request

#: The format this version writes; it reads every format from 1 on. Format 2 added the
#: per-module index (``_index.json``); a recording file itself is the same in both.
FORMAT = 2
INDEX = "_index.json"
SESSION_FOLDER = "_session"
# Identity fields with names like these hold secrets.
_SECRET_NAME = re.compile(r"api[_-]?key|auth|token|secret|password|credential|cookie", re.IGNORECASE)
_UNSAFE = re.compile(r"[^\w.+=@-]+")


class CorruptRecordingError(Exception):
    """A recording file that cannot be read back; the message names it."""


class NewerRecordingError(CorruptRecordingError):
    """A recording a newer pytest-llmops wrote: never replayed, never recorded over."""


def module_folder(nodeid: str) -> str:
    """The folder of a node's recordings: its module's path (``_session`` outside a module)."""
    return _folder_of_module(nodeid.split("::", 1)[0])


@functools.lru_cache(maxsize=1024)
def _folder_of_module(module: str) -> str:
    if not module:
        return SESSION_FOLDER
    parts = [_UNSAFE.sub("_", part) for part in module.split("/") if part not in ("", ".")]
    return "/".join("__" if part == ".." else part for part in parts)


def test_name(nodeid: str) -> str:
    """A test's name within its module (``TestClass::test_x[p]``), as the index keys it (a
    secret in a parameter id replaced, as everywhere in a written file)."""
    return redact(nodeid.partition("::")[2] or nodeid)


def read_index(path: Path, where: str) -> dict[str, list[str]]:
    """The index ``path`` of a module folder: each test's recording file names ({} when absent).

    A module's recordings are shared by request, so the index says which tests use a file: the
    file may go only when none of them needs it.
    """
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise CorruptRecordingError(f"corrupt recordings index {where} ({error})") from None
    newer = newer_format(where, "recording format", data.get("format") if isinstance(data, dict) else None, FORMAT)
    if newer:
        raise NewerRecordingError(newer)
    tests = data.get("tests") if isinstance(data, dict) else None
    if not isinstance(tests, dict) or not all(
        isinstance(names, list) and all(isinstance(name, str) for name in names) for names in tests.values()
    ):
        raise CorruptRecordingError(f'corrupt recordings index {where} (expected {{"tests": {{test: [file, ...]}}}})')
    return {str(test): list(names) for test, names in tests.items()}


def written_format(path: Path) -> int | None:
    """The format a recording file claims (None when it cannot be read)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    found = data.get("format") if isinstance(data, dict) else None
    return found if _is_count(found) else None


def index_text(tests: Mapping[str, Iterable[str]]) -> str:
    """An index's file text: tests and their files sorted, so it changes only when they do."""
    entries = {test: sorted(set(names)) for test, names in sorted(tests.items()) if names}
    return json_text({"format": FORMAT, "tests": entries})


def _public(identity: Mapping[str, Any]) -> dict[str, Any]:
    return {k: identity[k] for k in sorted(identity) if not _SECRET_NAME.search(k)}


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Recordings:
    """The run's recordings folder: reading, atomic writing, and what this run used."""

    def __init__(self, root: Path, mode: str, rootdir: Path) -> None:
        self.root = root
        self.mode = mode
        self.rootdir = rootdir
        #: The recordings each test (by node id) used this run.
        self.used: dict[str, set[str]] = {}
        self.replayed = 0
        self.recorded = 0
        #: The tests (by node id) that made a call with no recording, in mode ``replay``.
        self.missed: set[str] = set()
        self._lock = threading.Lock()

    def worker_part(self) -> dict[str, Any]:
        """What an xdist worker tells the controller: the recordings it used, its misses and
        its counts."""
        used = {nodeid: sorted(relpaths) for nodeid, relpaths in self.used.items()}
        return {"used": used, "missed": sorted(self.missed), "replayed": self.replayed, "recorded": self.recorded}

    def shown(self, relpath: str) -> str:
        """A recording's path as a user should see it (relative to the rootdir when inside)."""
        return shown(self.root / relpath, self.rootdir)

    def read(self, relpath: str, nodeid: str) -> Completion | None:
        """The completion recorded at ``relpath`` for test ``nodeid``; None when there is none."""
        result = self.load(relpath)
        if result is not None:
            self.note(relpath, nodeid, replayed=True)
        return result

    def load(self, relpath: str) -> Completion | None:
        """The completion at ``relpath`` (None: no file); raises :class:`CorruptRecordingError`
        or, for a file a newer plugin wrote, :class:`NewerRecordingError`."""
        try:
            with open(os.path.join(self.root, relpath), "rb") as file:
                raw = file.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise CorruptRecordingError(f"cannot read recording {self.shown(relpath)}: {error}") from None
        try:
            return _completion(json.loads(raw.decode("utf-8")), lambda: self.shown(relpath))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            reason = f"{type(error).__name__}: {error}"
            raise CorruptRecordingError(f"corrupt recording {self.shown(relpath)} ({reason})") from None

    def write(self, relpath: str, nodeid: str, key: dict[str, Any], completion: Completion) -> None:
        """Write one recording atomically: a killed process leaves every other file whole."""
        recorded = completion.to_dict()
        for name, digits in _ROUNDED.items():  # smaller diffs on re-record
            if recorded[name] is not None:
                recorded[name] = round(recorded[name], digits)
        kept = {k: recorded[k] for k in _FIELDS}
        kept.update({k: recorded[k] for k in _OPTIONAL if recorded[k] not in (None, [])})
        data = {"format": FORMAT, "key": key, "completion": kept}
        text = redact_encoded(data, json_text)
        path = self.root / relpath
        if leaves(path, self.root):
            raise ModelCallError(
                f"not writing recording {self.shown(relpath)}: a symlink leads it out of {self.shown('')}/"
            )
        if not _same_answer(path, text):
            try:
                write_atomic(path, text)
            except OSError as error:
                raise ModelCallError(f"cannot write recording {self.shown(relpath)}: {error}") from None
        self.note(relpath, nodeid, replayed=False)

    def recorded_keys(self, folder: str, nodeid: str) -> list[dict[str, Any]]:
        """The keys of the recordings that ``folder``'s index lists for test ``nodeid`` (files
        that cannot be read are left out); raises :class:`CorruptRecordingError` for the index."""
        index = read_index(self.root / folder / INDEX, self.shown(f"{folder}/{INDEX}"))
        keys = []
        for name in index.get(test_name(nodeid), ()):
            try:
                data = json.loads((self.root / folder / name).read_bytes().decode("utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("key"), dict):
                keys.append(data["key"])
        return keys

    def note_miss(self, nodeid: str) -> None:
        with self._lock:
            self.missed.add(nodeid)

    def note(self, relpath: str, nodeid: str, *, replayed: bool) -> None:
        with self._lock:
            self.used.setdefault(nodeid, set()).add(relpath)
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
        if mode == "all":
            self._refuse_newer(relpath)
        else:
            try:
                completion = self.recordings.read(relpath, self.node.nodeid)
            except CorruptRecordingError as error:
                if mode == "replay" or isinstance(error, NewerRecordingError):
                    raise ModelCallError(f"{self.node.nodeid}: {error}") from None
                self.node.warn(pytest.PytestWarning(f"pytest-llmops: {error}; recording it again"))
            if completion is None and mode == "replay":
                self.recordings.note_miss(self.node.nodeid)
                raise ModelCallError(self._missing(identity, request, relpath, sample))
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
        self.recordings.write(relpath, self.node.nodeid, _key(identity, request, sample), completion)

    def _refuse_newer(self, relpath: str) -> None:
        """Mode ``all`` records over every file, except one a newer plugin wrote."""
        try:
            self.recordings.load(relpath)
        except NewerRecordingError as error:
            raise ModelCallError(f"{self.node.nodeid}: {error}") from None
        except CorruptRecordingError:
            pass  # recorded over, as in mode ``all`` every file is

    @staticmethod
    def _base(identity: Mapping[str, Any], request: Request) -> str:
        """What names a call's file: its key as the recording keeps it (secrets replaced, so a
        rotated token finds the same file)."""
        return redact_encoded({"backend": _public(identity), "request": request.to_dict()}, _CANONICAL.encode)

    def _next(self, base: str) -> tuple[str, int]:
        """The file of the next sample of ``base`` in this test."""
        import hashlib  # loaded by the first call, not at start-up

        with self._lock:
            sample = self._samples.get(base, 0)
            self._samples[base] = sample + 1
        digest = hashlib.sha256(f"{base}\n{sample}".encode("utf-8", "surrogatepass")).hexdigest()[:24]
        return f"{self.folder}/{digest}.json", sample

    def _missing(self, identity: Mapping[str, Any], request: Request, relpath: str, sample: int) -> str:
        """Why the call missed: what differs from the nearest recording of this test."""
        from pytest_llmops._replay_miss import NEVER_RECORDED, explain  # loaded by the first miss

        nodeid = self.node.nodeid
        try:
            why = explain(_key(identity, request, sample), self.recordings.recorded_keys(self.folder, nodeid))
        except CorruptRecordingError as error:
            why = [f"cannot tell what changed: {error}"]
        heading = (
            f"{nodeid}: no recording of this {identity.get('spec', 'model')} call "
            f"({_summary(request)}; looked for {self.recordings.shown(relpath)}) and "
            f"llm_record_mode is 'replay' (see the command to record it at the end of the run)"
        )
        if why == [NEVER_RECORDED]:
            return f"{heading}; {NEVER_RECORDED}"
        return "\n".join([heading, "what differs from this test's nearest recording:", *(f"  {line}" for line in why)])


def _key(identity: Mapping[str, Any], request: Request, sample: int) -> dict[str, Any]:
    """A call's key as its recording keeps it."""
    asked = request.to_dict()
    settings = asked.pop("settings")
    return {"backend": _public(identity), "request": {**asked, "settings": settings}, "sample": sample}


def _same_answer(path: Path, text: str) -> bool:
    """Whether the recording at ``path`` already holds ``text`` but for its latency and the
    server's names of the model (:data:`_PROVENANCE`): a call re-recorded
    (``--llm-record-mode=all``) with the same answer leaves its file as it was, so a pull
    request's diff shows only answers that changed (a new ``system_fingerprint`` is no new answer)."""
    try:
        before = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return False
    after = json.loads(text)
    if not isinstance(before, dict) or not isinstance(before.get("completion"), dict):
        return False
    for name in _PROVENANCE:
        before["completion"].pop(name, None)
        after["completion"].pop(name, None)
    return bool(before == after)


def _completion(data: Any, where: Callable[[], str]) -> Completion:
    """The completion of a parsed recording file (named by ``where()``, in a message), every
    field checked: a hand-edited file with a wrong type is corrupt here, not a crash later (in
    a metric or in the report)."""
    if not isinstance(data, dict):
        raise TypeError("a recording is a JSON object")
    newer = (
        newer_format(where(), "recording format", data.get("format"), FORMAT) if data.get("format") != FORMAT else None
    )
    if newer:
        raise NewerRecordingError(newer)
    if not _is_count(data.get("format")) or data["format"] < 1:
        raise ValueError(f"format {data.get('format')!r} is not a recording format")
    if not isinstance(data.get("key"), dict) or not isinstance(data.get("completion"), dict):
        raise TypeError("a recording holds a 'key' and a 'completion' object")
    completion = data["completion"]
    for name, (check, wanted) in _FIELDS.items():
        if name not in completion:
            raise KeyError(f"the completion has no {name!r}")
        if not check(completion[name]):
            raise TypeError(f"the completion's {name!r} is {_kind(completion[name])}, not {wanted}")
    for name, (check, wanted) in _OPTIONAL.items():
        if name in completion and not check(completion[name]):
            raise TypeError(f"the completion's {name!r} is {_kind(completion[name])}, not {wanted}")
    from pytest_llmops._models.base import Completion  # loaded with the first replayed call

    return Completion.from_dict(completion)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_logprobs(value: Any) -> bool:
    """None, or a list of ``{"token": text, "logprob": number, "top": [[text, number], ...]}``."""
    if value is None:
        return True
    return isinstance(value, list) and all(
        isinstance(token, dict)
        and isinstance(token.get("token"), str)
        and _is_number(token.get("logprob"))
        and isinstance(token.get("top", []), list)
        and all(
            isinstance(top, list) and len(top) == 2 and isinstance(top[0], str) and _is_number(top[1])
            for top in token.get("top", [])
        )
        for token in value
    )


def _is_tool_calls(value: Any) -> bool:
    """A list of ``{"id": text, "name": text, "arguments": JSON, "error"?: text}``."""
    return isinstance(value, list) and all(
        isinstance(call, dict)
        and isinstance(call.get("id"), str)
        and isinstance(call.get("name"), str)
        and "arguments" in call
        and isinstance(call.get("error", ""), str)
        for call in value
    )


# The completion fields a recording keeps, in file order, with what each must be; cached, role
# and prompt versions come from the replaying call.
_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "text": (lambda v: isinstance(v, str), "text"),
    "model": (lambda v: isinstance(v, str), "text"),
    "backend": (lambda v: isinstance(v, str), "text"),
    "prompt_tokens": (_is_count, "a count"),
    "completion_tokens": (_is_count, "a count"),
    "latency_s": (_is_number, "a number"),
    "cost_usd": (_is_number, "a number"),
    "finish_reason": (lambda v: v is None or isinstance(v, str), "text or null"),
    "logprobs": (_is_logprobs, "null or a list of tokens"),
}


#: Fields a recording keeps when the call had them (files written before them lack them).
_OPTIONAL: dict[str, tuple[Callable[[Any], bool], str]] = {
    "system_fingerprint": (lambda v: v is None or isinstance(v, str), "text or null"),
    "tool_calls": (_is_tool_calls, "a list of {id, name, arguments} tool calls"),
    # A streamed call's timings: a replay reproduces them.
    "ttft_s": (lambda v: v is None or _is_number(v), "a number or null"),
    "tokens_per_s": (lambda v: v is None or _is_number(v), "a number or null"),
}
#: What says how and where an answer was made, not what it is: a re-recording that changes only
#: these keeps the file.
_PROVENANCE = ("latency_s", "model", "system_fingerprint", "ttft_s", "tokens_per_s")
#: Timings kept to so many decimals (0.1 ms; a hundredth of a token per second).
_ROUNDED = {"latency_s": 4, "ttft_s": 4, "tokens_per_s": 2}


def _kind(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {json.dumps(value)[:40]}"


def _summary(request: Request) -> str:
    text = request.prompt if not request.is_chat else _last_user(request.messages)
    line = " ".join((text or "").split())
    return repr(line if len(line) <= 60 else line[:57] + "...")


def _last_user(messages: tuple[Message, ...]) -> str:
    return next((m.content for m in reversed(messages) if m.role == "user"), "")
