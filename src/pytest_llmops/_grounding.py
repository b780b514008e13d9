"""What an answer is grounded in: the retrieved chunks (``context``) and the labelled relevant ids.

A dataset row carries them in its ``context`` and ``relevant`` columns; a test passes them to
``golden.check(output, context=..., relevant=...)``; the metrics that declare them as inputs
(retrieval, citations) receive them parsed and checked here, once.

- ``context``: the retrieved chunks, best first. Each is a mapping with an ``id`` (text or an
  integer) and, optionally, its ``text``; a bare string or integer is a chunk known by its id.
- ``relevant``: the ids a perfect retriever would return: a list (each graded 1), or a mapping of
  id to a relevance grade (a number >= 0, for graded nDCG; 0 is judged not relevant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

#: The inputs a metric may declare (``Metric.inputs``), with what a test passes for each.
INPUTS = {"context": "the retrieved chunks", "relevant": "the labelled relevant ids"}


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

    @classmethod
    def of(cls, context: Any = None, relevant: Any = None) -> Grounding:
        """Both inputs parsed (None stays None); a bad one raises GroundingError."""
        return cls(None if context is None else parse_context(context),
                   None if relevant is None else parse_relevant(relevant))

    def get(self, name: str) -> Any:
        return getattr(self, name)

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
        raise GroundingError(f"context must be a list of chunks ({{id, text}} mappings or ids), not "
                             f"{type(value).__name__}")
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for position, item in enumerate(value, 1):
        if isinstance(item, Chunk):
            chunk = item
        elif isinstance(item, Mapping):
            unknown = sorted(set(map(str, item)) - {"id", "text"})
            if "id" not in item or unknown:
                raise GroundingError(f"context chunk {position} must have an 'id' and may have a 'text'"
                                     + (f" (unknown key {', '.join(map(repr, unknown))})" if unknown else ""))
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
