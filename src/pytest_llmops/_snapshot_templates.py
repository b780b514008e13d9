"""Snapshot format 2: each template once per file, each test's render as its difference.

A module's tests mostly render a template alike but for the lines their variables fill, so a
file lists each template once under ``templates:`` (its hash, version and the text most tests
rendered: the shared text) and each test's prompt as how its render differs from it:

- ``{}``: the shared hash, version and text;
- ``lines: {N: text}``: the shared text with line N (from 1) replaced, for a render of as
  many lines;
- ``text: ...``: the whole render, for one of another line count;
- ``hash: ...`` (with its ``version`` and ``text``): another version of the template; nothing
  is shared.

A one-word edit of a template then changes its entry under ``templates:`` and no test's.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Hashable, Iterable, Mapping, TypeVar

Prompt = Mapping[str, str]  # hash, and version and text when it has them
_FIELDS = ("hash", "version", "text")
_T = TypeVar("_T", bound=Hashable)


def ordered(prompt: Prompt) -> dict[str, str]:
    """``prompt``'s fields in the order a file shows them: hash, version, text."""
    return {key: prompt[key] for key in _FIELDS if key in prompt}


def shared_templates(uses: Iterable[Mapping[str, Prompt]]) -> dict[str, dict[str, str]]:
    """Per template name (sorted), the version most of ``uses`` (each test's prompts) rendered,
    and the text most of those rendered; ties go to the smallest, so the choice is stable."""
    found: dict[str, list[Prompt]] = {}
    for prompts in uses:
        for name, prompt in prompts.items():
            found.setdefault(name, []).append(prompt)
    return {name: _most_common(found[name]) for name in sorted(found)}


def _most_common(prompts: list[Prompt]) -> dict[str, str]:
    version = _mode([(p["hash"], p.get("version", "")) for p in prompts], lambda v: v)
    texts = [p.get("text") for p in prompts if (p["hash"], p.get("version", "")) == version]
    text = _mode(texts, lambda t: (t is None, t or ""))
    shared = {"hash": version[0]}
    if version[1]:
        shared["version"] = version[1]
    if text is not None:
        shared["text"] = text
    return shared


def _mode(values: list[_T], order: Callable[[_T], Any]) -> _T:
    """The most common of ``values``; of equally common ones, the first by ``order``."""
    counts = Counter(values)
    return min(counts, key=lambda value: (-counts[value], order(value)))


def difference(prompt: Prompt, shared: Prompt) -> dict[str, Any]:
    """How ``prompt`` differs from its template's ``shared`` entry ({} when it does not)."""
    if (prompt["hash"], prompt.get("version")) != (shared["hash"], shared.get("version")) or (
        "text" in shared and "text" not in prompt
    ):
        return ordered(prompt)
    text, base = prompt.get("text"), shared.get("text")
    if text == base:
        return {}
    assert text is not None  # a prompt without text differs from shared text by its hash entry
    if base is not None:
        lines, base_lines = text.split("\n"), base.split("\n")
        if len(lines) == len(base_lines):
            changed = zip(lines, base_lines)
            return {"lines": {n: line for n, (line, old) in enumerate(changed, 1) if line != old}}
    return {"text": text}


def applied(name: str, diff: Any, shared: Prompt | None) -> Any:
    """The prompt ``diff`` (read from a file) stands for; a full entry (or a value that is no
    difference at all, for the caller to refuse) as it is. A bad difference raises ValueError."""
    if not isinstance(diff, dict) or "hash" in diff:
        return diff
    if shared is None:
        raise ValueError(f"prompt {name!r} is not under templates")
    unknown = sorted(str(key) for key in diff if key not in ("text", "lines"))
    if unknown or len(diff) > 1:
        raise ValueError(f"prompt {name!r}: a difference is {{}}, lines or text, or a full entry with a hash")
    prompt: dict[str, Any] = dict(shared)
    if "text" in diff:
        prompt["text"] = diff["text"]
    elif "lines" in diff:
        prompt["text"] = _with_lines(name, diff["lines"], shared.get("text"))
    return prompt


def _with_lines(name: str, changes: Any, base: str | None) -> str:
    if base is None:
        raise ValueError(f"prompt {name!r}: lines of a template without text")
    lines = base.split("\n")
    if not isinstance(changes, dict):
        raise ValueError(f"prompt {name!r}: lines must map line numbers to text")
    for number, line in changes.items():
        if not (isinstance(number, int) and 1 <= number <= len(lines)):
            raise ValueError(f"prompt {name!r}: line {number!r} is not a line of its template (1-{len(lines)})")
        if not isinstance(line, str) or "\n" in line:
            raise ValueError(f"prompt {name!r}: line {number} must be one line of text")
        lines[number - 1] = line
    return "\n".join(lines)
