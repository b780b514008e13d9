"""What an answer is grounded in: the retrieved chunks (``context``) and the labelled relevant ids;
and what the model did besides answering: the tools it called (``tool_calls``).

A dataset row carries them in its ``context`` and ``relevant`` columns; a test passes them to
``golden.check(output, context=..., relevant=...)``; the metrics that declare them as inputs
(retrieval, citations) receive them parsed and checked here, once.

- ``context``: the retrieved chunks, best first. Each is a mapping with an ``id`` (text or an
  integer) and, optionally, its ``text``; a bare string or integer is a chunk known by its id.
- ``relevant``: the ids a perfect retriever would return: a list (each graded 1), or a mapping of
  id to a relevance grade (a number >= 0, for graded nDCG; 0 is judged not relevant).
- ``tool_calls``: the tool calls of a run, in order (:class:`~pytest_llmops.ToolCall` values or
  their ``{name, arguments}`` dicts); ``golden.check(completion)`` takes the completion's own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from pytest_llmops._models.tools import ToolCall

#: The inputs a metric may declare (``Metric.inputs``), with what a test passes for each.
INPUTS = {
    "context": "the retrieved chunks",
    "relevant": "the labelled relevant ids",
    "tool_calls": "the tool calls made, e.g. a Completion's",
}


# A sentence ends at its stop (closing quotes and brackets with it) before a space, or at a line end.
_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)|\n+")
_WORD = re.compile(r"\w+")
# Citations stay with the sentence they follow: "... five days. [1] Shipping ..."
# An id: up to 40 word characters, dots, colons or dashes, one a digit (bounded: linear time).
_ID = r"(?=[\w.:-]{0,39}\d)[\w.:-]{1,40}"
CITATION = re.compile(rf"\[({_ID}(?:[ \t]*[,;][ \t]*{_ID})*)\](?!\()")


class GroundingError(ValueError):
    """A ``context`` or ``relevant`` value of the wrong shape; the message says which and why."""


@dataclass(frozen=True)
class Chunk:
    """One retrieved chunk: its id, and its text when the case gives it."""

    id: str
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id} if self.text is None else {"id": self.id, "text": self.text}


@dataclass(frozen=True)
class Grounding:
    """The grounding inputs of one output; None where the test gave none."""

    context: tuple[Chunk, ...] | None = None
    relevant: Mapping[str, float] | None = field(default=None, hash=False)
    tool_calls: tuple[ToolCall, ...] | None = field(default=None, hash=False)

    @classmethod
    def of(cls, context: Any = None, relevant: Any = None, tool_calls: Any = None) -> Grounding:
        """The inputs parsed (None stays None); a bad one raises GroundingError."""
        return cls(
            None if context is None else parse_context(context),
            None if relevant is None else parse_relevant(relevant),
            None if tool_calls is None else parse_tool_calls(tool_calls),
        )

    def get(self, name: str) -> Any:
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """The inputs given, as JSON data (what a report shows beside the answer)."""
        data: dict[str, Any] = {}
        if self.context is not None:
            data["context"] = [chunk.to_dict() for chunk in self.context]
        if self.relevant is not None:
            data["relevant"] = dict(self.relevant)
        if self.tool_calls:
            data["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        return data

    @property
    def ids(self) -> list[str]:
        """The retrieved ids, best first."""
        return [chunk.id for chunk in self.context or ()]


def _id(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise GroundingError(f"{what} must be text or an integer, not {type(value).__name__} {value!r}")
    text = str(value).strip()
    if not text:
        raise GroundingError(f"{what} is empty")
    return text


def parse_context(value: Any) -> tuple[Chunk, ...]:
    """``context`` as chunks; the same id twice is an error (a ranking lists each chunk once)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise GroundingError(
            f"context must be a list of chunks ({{id, text}} mappings or ids), not {type(value).__name__}"
        )
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for position, item in enumerate(value, 1):
        if isinstance(item, Chunk):
            chunk = item
        elif isinstance(item, Mapping):
            unknown = sorted(set(map(str, item)) - {"id", "text"})
            if "id" not in item or unknown:
                raise GroundingError(
                    f"context chunk {position} must have an 'id' and may have a 'text'"
                    + (f" (unknown key {', '.join(map(repr, unknown))})" if unknown else "")
                )
            text = item.get("text")
            if text is not None and not isinstance(text, str):
                raise GroundingError(f"context chunk {position}: 'text' must be text, not {type(text).__name__}")
            chunk = Chunk(_id(item["id"], f"context chunk {position}'s id"), text)
        else:
            chunk = Chunk(_id(item, f"context chunk {position}"))
        if chunk.id in seen:
            raise GroundingError(f"context lists chunk {chunk.id!r} twice")
        seen.add(chunk.id)
        chunks.append(chunk)
    return tuple(chunks)


def parse_relevant(value: Any) -> dict[str, float]:
    """``relevant`` as id -> grade (a list grades each id 1)."""
    if isinstance(value, Mapping):
        grades = {}
        for key, grade in value.items():
            if isinstance(grade, bool) or not isinstance(grade, (int, float)) or not math.isfinite(grade) or grade < 0:
                raise GroundingError(f"relevant: the grade of {key!r} must be a number >= 0, not {grade!r}")
            if grade > 0:  # a grade of 0 is judged not relevant: nothing to find
                grades[_id(key, "a relevant id")] = float(grade)
        return grades
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise GroundingError(f"relevant must be a list of ids or a mapping of id to grade, not {type(value).__name__}")
    return {_id(item, "a relevant id"): 1.0 for item in value}


def parse_tool_calls(value: Any) -> tuple[ToolCall, ...]:
    """``tool_calls`` as ToolCall values: each one already, or a ``{name, arguments}`` mapping
    (an ``id`` is optional: a hand-written list of calls needs none)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise GroundingError(f"tool_calls must be a list of tool calls, not {type(value).__name__}")
    calls = []
    for position, item in enumerate(value, 1):
        if isinstance(item, ToolCall):
            calls.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            calls.append(ToolCall.from_dict({"id": f"call_{position}", "arguments": {}, **item}))
        else:
            raise GroundingError(
                f"tool call {position} must be a ToolCall or a {{name, arguments}} mapping, not {item!r}"
            )
    return tuple(calls)


@dataclass(frozen=True)
class Sentence:
    """One sentence of an answer, as offsets into it."""

    start: int
    end: int


def sentences(text: str, citation: re.Pattern[str] = CITATION) -> list[Sentence]:
    """``text``'s sentences (and lines); ``citation`` marks just after a sentence's end are part of it."""
    found: list[Sentence] = []
    start = 0
    for end in _END.finditer(text):
        stop = end.end()
        while True:
            after = citation.match(text, _skip_spaces(text, stop))
            if after is None or after.end() == stop:
                break
            stop = after.end()
        if stop > start and text[start:stop].strip():
            found.append(Sentence(start, stop))
        start = max(start, stop)
    if text[start:].strip():
        found.append(Sentence(start, len(text)))
    return found


def _skip_spaces(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t":
        position += 1
    return position


def is_claim(sentence: str, min_words: int) -> bool:
    """Whether a sentence states something: ``min_words`` words or more, not a question, not a
    lead-in (``Here is what I found:``)."""
    stripped = sentence.strip()
    return not stripped.endswith(("?", ":")) and len(_WORD.findall(stripped)) >= min_words


def claims(text: str, min_words: int = 3) -> list[str]:
    """The claims of an answer: its sentences that state something, citations left in."""
    return [text[s.start : s.end].strip() for s in sentences(text) if is_claim(text[s.start : s.end], min_words)]
