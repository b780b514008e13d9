"""Per-test records: what a test asked its models, what it scored, and how it ended."""

from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

from pytest_llmops._models.base import Completion, GenerationSettings, Request

# Between the texts of one template version rendered several times in one test.
RENDER_SEPARATOR = "\n\n- - - next render - - -\n\n"


@dataclass(frozen=True)
class Score:
    """One scored check of an output: a metric's value against its threshold.

    ``kind`` says what produced it (``golden``, ``judge``, ...); ``details`` holds what the
    scorer wants reviewers to see (a judge's reasoning and votes, a diff, a metric's parts).
    """

    metric: str
    value: float
    threshold: float | None
    passed: bool
    higher_is_better: bool = True
    kind: str = "golden"
    label: str | None = None
    output: str | None = None
    reference: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # vars() rather than dataclasses.asdict, which deep-copies every field: only details
        # can hold nested values, and only those are deep-copied.
        details = {k: v if isinstance(v, _ATOMS) else copy.deepcopy(v) for k, v in self.details.items()}
        return {**vars(self), "details": details}


# Values a copy of details may share: they cannot change.
_ATOMS = (str, int, float, type(None))


@dataclass
class TestRecord:
    """Everything one test did with models; JSON-safe through :meth:`to_dict`.

    Filled while the test runs (calls, scores, prompt versions), carried on the test's report
    to the controller (so it survives pytest-xdist), and read by the report writers.
    """

    __test__ = False  # not a test class, despite the name

    nodeid: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    prompts: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    #: Each conversation's place in ``extra["conversations"]``, by its id.
    _conversations: dict[int, int] = field(default_factory=dict, repr=False, compare=False)

    def add_call(self, request: Request, completion: Completion) -> None:
        entry = completion.to_dict()
        entry.pop("logprobs", None)
        if not entry["tool_calls"]:
            del entry["tool_calls"]
        entry["request"] = {**request.to_dict(), "settings": _settings_of(request.settings)}
        with self._lock:
            self.calls.append(entry)

    def add_score(self, score: Score) -> None:
        with self._lock:
            self.scores.append(score.to_dict())

    def add_prompt(self, prompt: Mapping[str, Any], text: str | None = None) -> None:
        """Note a template version this test used, once, with the ``text`` it rendered.

        A version rendered again with other variables keeps each distinct text, in order,
        joined by ``RENDER_SEPARATOR``.
        """
        with self._lock:
            key = (prompt["name"], prompt.get("hash"))
            known = next((p for p in self.prompts if (p["name"], p.get("hash")) == key), None)
            if known is None:
                known = dict(prompt)
                self.prompts.append(known)
            if text is not None:
                renders = known["text"].split(RENDER_SEPARATOR) if "text" in known else []
                if text not in renders:
                    known["text"] = RENDER_SEPARATOR.join([*renders, text])

    def note_conversation(self, key: int, transcript: dict[str, Any]) -> None:
        """Keep conversation ``key``'s transcript as it stands now (in ``extra["conversations"]``)."""
        with self._lock:
            conversations = self.extra.setdefault("conversations", [])
            if key not in self._conversations:
                self._conversations[key] = len(conversations)
                conversations.append(transcript)
            conversations[self._conversations[key]] = transcript

    @property
    def used(self) -> bool:
        return bool(self.calls or self.scores or self.prompts or self.extra)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "calls": list(self.calls),
            "scores": list(self.scores),
            "prompts": list(self.prompts),
            "extra": dict(self.extra),
        }


def _settings_of(settings: GenerationSettings) -> dict[str, Any]:
    """``settings`` as a record keeps them: one dict for every call made with the same settings
    (a run of 100,000 cases holds a handful, not one a call). Nothing writes to a record's dicts."""
    typed = tuple((name, type(value), value) for name, value in vars(settings).items())  # 1 is not 1.0
    try:
        return _shared_settings(typed, settings)
    except TypeError:  # tools or a response format (JSON data): not hashable, kept per call
        return settings.to_dict()


@functools.lru_cache(maxsize=64)
def _shared_settings(typed: tuple[tuple[str, type, Any], ...], settings: GenerationSettings) -> dict[str, Any]:
    return settings.to_dict()


class RecordObserver:
    """A :class:`~pytest_llmops._models.client.CallObserver` writing calls into a record."""

    def __init__(self, record: TestRecord) -> None:
        self.record = record

    def after(self, request: Request, completion: Completion) -> None:
        self.record.add_call(request, completion)
        for version in completion.prompt_versions:
            self.record.add_prompt(version.to_dict())

    def conversed(self, key: int, transcript: dict[str, Any]) -> None:
        """A conversation's turn was answered: its transcript goes to the record."""
        self.record.note_conversation(key, transcript)


@dataclass
class TestOutcome:
    """How one test ended, and its record, as the controller saw them."""

    __test__ = False

    nodeid: str
    outcome: str = "passed"
    duration_s: float = 0.0
    error: str | None = None
    record: dict[str, Any] | None = None
    #: Attempts that failed and were run again (pytest-rerunfailures): the attempts are one test.
    reruns: int = 0
