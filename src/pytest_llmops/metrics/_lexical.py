"""String metrics: exact and normalised match, contains / not-contains, regular expressions.

Each scores 1.0 or a fraction in [0, 1]; standard library only.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Mapping, Sequence

from pytest_llmops.metrics._base import Measurement, MetricError

REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def normalize(
    text: str, *, ignore_case: bool = True, ignore_whitespace: bool = True, ignore_punctuation: bool = True
) -> str:
    """``text`` with the chosen differences removed (Unicode-aware: curly quotes are punctuation)."""
    text = unicodedata.normalize("NFKC", text)
    if ignore_case:
        text = text.casefold()
    if ignore_punctuation:
        text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    if ignore_whitespace:
        text = " ".join(text.split())
    return text


def exact(output: str, reference: str | None, *, strip: bool = False) -> Measurement:
    if strip:
        output, reference = output.strip(), (reference or "").strip()
    return Measurement(float(output == reference))


def normalized(
    output: str,
    reference: str | None,
    *,
    ignore_case: bool = True,
    ignore_whitespace: bool = True,
    ignore_punctuation: bool = True,
) -> Measurement:
    flags = {
        "ignore_case": ignore_case,
        "ignore_whitespace": ignore_whitespace,
        "ignore_punctuation": ignore_punctuation,
    }
    left, right = normalize(output, **flags), normalize(reference or "", **flags)
    details = {} if left == right else {"normalized_output": left, "normalized_reference": right}
    return Measurement(float(left == right), details)


def _needles(text: str | Sequence[str] | None, reference: str | None) -> list[str]:
    if text is None:
        return [reference or ""]
    return [text] if isinstance(text, str) else list(text)


def _found(output: str, needles: list[str], ignore_case: bool) -> list[bool]:
    haystack = output.casefold() if ignore_case else output
    return [(n.casefold() if ignore_case else n) in haystack for n in needles]


def contains(output: str, reference: str | None, *, text: Any = None, ignore_case: bool = False) -> Measurement:
    """The share of ``text`` (a string or a list; default: the reference) found in the output."""
    needles = _needles(text, reference)
    found = _found(output, needles, ignore_case)
    missing = [n for n, hit in zip(needles, found) if not hit]
    return Measurement(sum(found) / len(needles), {"missing": missing} if missing else {})


def not_contains(output: str, reference: str | None, *, text: Any, ignore_case: bool = False) -> Measurement:
    """The share of the forbidden ``text`` (a string or a list) absent from the output."""
    needles = _needles(text, reference)
    found = _found(output, needles, ignore_case)
    present = [n for n, hit in zip(needles, found) if hit]
    return Measurement(1.0 - sum(found) / len(needles), {"found": present} if present else {})


def check_texts(options: Mapping[str, Any]) -> None:
    """``text`` is None (the reference), a string or a list of them; none empty, as every
    output contains the empty string."""
    text = options["text"]
    if text is None:
        return
    texts = [text] if isinstance(text, str) else text
    if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise MetricError(f"option 'text' must be a non-empty string or a non-empty list of them, not {text!r}")


def _check_flags(flags: str) -> None:
    unknown = set(flags) - set(REGEX_FLAGS)
    if unknown:
        raise MetricError(f"unknown regex flag(s) {''.join(sorted(unknown))!r}: use any of {''.join(REGEX_FLAGS)!r}")


def _compile(pattern: str, flags: str) -> re.Pattern[str]:
    _check_flags(flags)
    value = 0
    for letter in flags:
        value |= REGEX_FLAGS[letter]
    try:
        return re.compile(pattern, value)
    except re.error as error:
        raise MetricError(f"bad regular expression {pattern!r}: {error}") from None


def regex(
    output: str, reference: str | None, *, pattern: str | None = None, flags: str = "", fullmatch: bool = False
) -> Measurement:
    """1.0 when ``pattern`` (default: the reference) is found in (or, with ``fullmatch``, is) the output."""
    compiled = _compile(pattern if pattern is not None else reference or "", flags)
    match = compiled.fullmatch(output) if fullmatch else compiled.search(output)
    return Measurement(float(match is not None), {"match": match.group(0)} if match else {"pattern": compiled.pattern})


def check_regex(options: Mapping[str, Any]) -> None:
    if not isinstance(options["flags"], str):
        raise MetricError(f"option 'flags' must be a string of letters like 'im', not {options['flags']!r}")
    _check_flags(options["flags"])
    pattern = options["pattern"]
    if pattern is not None:
        if not isinstance(pattern, str) or not pattern.strip():
            raise MetricError(
                f"option 'pattern' must be a non-empty regular expression (an empty one matches "
                f"every output), not {pattern!r}"
            )
        _compile(pattern, options["flags"])
