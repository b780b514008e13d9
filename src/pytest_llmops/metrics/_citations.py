"""``citations``: every citation in an answer points at a retrieved chunk, and every claim that
needs one has one.

A citation is ``[1]``, ``[doc-3]`` or ``[1, 2]`` (an id with a digit, in square brackets, not a
Markdown link), or what the ``pattern`` option matches (its first group, else the whole match,
holds the ids, split on commas and semicolons). An id names the chunk with that id; a number
no chunk has as its id names the chunk at that position (``[1]``: the first retrieved).

The answer is split into sentences (a citation just after a sentence's end belongs to it); a
sentence of ``min_words`` words or more that is not a question or a lead-in (ending in ``:``)
is a claim that needs a citation. The score is the share of sentences needing or carrying a
citation whose citations are all known and that carry one; details list each unknown citation
and each uncited claim.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from pytest_llmops._grounding import CITATION, Chunk, is_claim, sentences
from pytest_llmops.metrics._base import Measurement, MetricError


def check_options(options: Mapping[str, Any]) -> None:
    pattern, min_words = options["pattern"], options["min_words"]
    if pattern is not None:
        if not isinstance(pattern, str) or not pattern:
            raise MetricError(f"pattern must be a non-empty regular expression, not {pattern!r}")
        try:
            re.compile(pattern)
        except re.error as error:
            raise MetricError(f"pattern {pattern!r} is not a valid regular expression: {error}") from None
    if min_words is not None and (isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 1):
        raise MetricError(f"min_words must be an integer >= 1, or None (no claim needs a citation), not {min_words!r}")


def citations(
    output: str,
    reference: str | None,
    *,
    context: tuple[Chunk, ...],
    pattern: str | None = None,
    min_words: int | None = 5,
) -> Measurement:
    citation = re.compile(pattern) if pattern is not None else CITATION
    known = {chunk.id for chunk in context}
    by_position = {str(position): chunk.id for position, chunk in enumerate(context, 1)}
    unknown: list[dict[str, Any]] = []
    uncited: list[dict[str, Any]] = []
    cited: list[str] = []
    units = passing = 0
    for sentence in sentences(output, citation):
        text = output[sentence.start : sentence.end]
        marks = list(citation.finditer(text))
        bad = []
        for mark in marks:
            for raw in _ids(mark):
                source = raw if raw in known else by_position.get(raw)
                if source is None:
                    bad.append(raw)
                    unknown.append({"citation": mark.group(), "id": raw, "start": sentence.start + mark.start()})
                elif source not in cited:
                    cited.append(source)
        needs = min_words is not None and is_claim(citation.sub("", text), min_words)
        if not marks and not needs:
            continue
        units += 1
        if marks and not bad:
            passing += 1
        elif not marks:
            uncited.append({"claim": text.strip(), "start": sentence.start + len(text) - len(text.lstrip())})
    details: dict[str, Any] = {
        "claims": units,
        "supported": passing,
        "cited": cited,
        "unknown": unknown,
        "uncited": uncited,
    }
    return Measurement(passing / units if units else 1.0, details)


def _ids(mark: re.Match[str]) -> list[str]:
    held = mark.group(1) if mark.re.groups else mark.group()
    return [part.strip() for part in re.split(r"[,;]", held or "") if part.strip()]
