"""Readable differences between an output and its reference, trimmed for a terminal.

Prose (a few lines) gets a word diff in ``git diff --word-diff`` style, with long unchanged
stretches folded; longer texts get a unified line diff. Either is cut to ``max_lines``.
"""

from __future__ import annotations

import difflib
import re
import textwrap

#: Unchanged words kept on each side of a change in a word diff.
CONTEXT_WORDS = 6
#: Texts with at most this many lines are compared word by word.
PROSE_LINES = 3


def diff_lines(reference: str, output: str, *, width: int = 100, max_lines: int = 30) -> list[str]:
    """Lines showing how ``output`` differs from ``reference`` (empty when equal)."""
    if reference == output:
        return []
    if reference.split() == output.split():
        return [
            "(only whitespace differs)",
            "reference: " + shorten(repr(reference), width - 11),
            "output:    " + shorten(repr(output), width - 11),
        ]
    if max(len(reference.splitlines()), len(output.splitlines())) <= PROSE_LINES:
        lines = textwrap.wrap(
            word_diff(reference, output), width=width, break_long_words=True, break_on_hyphens=False
        ) or [""]
    else:
        lines = list(
            difflib.unified_diff(reference.splitlines(), output.splitlines(), "reference", "output", n=2, lineterm="")
        )
        lines = [shorten(line, width) for line in lines]
    if len(lines) > max_lines:
        hidden = len(lines) - max_lines
        lines = [*lines[:max_lines], f"... ({hidden} more line{'s' * (hidden != 1)})"]
    return lines


def word_diff(reference: str, output: str) -> str:
    """``reference`` with ``[-removed-]`` and ``{+added+}`` words, long equal runs folded."""
    old, new = reference.split(), output.split()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    parts: list[str] = []
    opcodes = matcher.get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            parts.append(_fold(old[i1:i2], first=index == 0, last=index == len(opcodes) - 1))
            continue
        if i2 > i1:
            parts.append("[-" + " ".join(old[i1:i2]) + "-]")
        if j2 > j1:
            parts.append("{+" + " ".join(new[j1:j2]) + "+}")
    return " ".join(p for p in parts if p)


def _fold(words: list[str], *, first: bool, last: bool) -> str:
    keep_before = 0 if first else CONTEXT_WORDS
    keep_after = 0 if last else CONTEXT_WORDS
    if len(words) <= keep_before + keep_after + 3:
        return " ".join(words)
    hidden = len(words) - keep_before - keep_after
    head, tail = words[:keep_before], words[len(words) - keep_after :]
    return " ".join([*head, f"...({hidden} words)...", *tail])


def shorten(text: str, width: int) -> str:
    """``text`` on one line, at most ``width`` characters (the middle elided)."""
    text = re.sub(r"\s", " ", text) if "\n" in text or "\t" in text else text
    if len(text) <= width:
        return text
    keep = max(width - 5, 2)
    return text[: keep - keep // 3] + " ... " + text[len(text) - keep // 3 :]
