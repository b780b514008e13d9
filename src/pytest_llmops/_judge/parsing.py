"""Reading a judge's answer: a score on a scale, or a preference between two outputs.

Judges answer in JSON, in fenced JSON, in JSON buried in prose, or in prose ("Score: 7/10",
"**Rating:** 4 out of 5", "[[B]]"). Anything that cannot be read raises
:class:`UnparsableAnswer` with the reason; the caller retries and finally reports an ERROR.
An answer is untrusted input: one too long or too deeply nested is refused before it is read,
and every pattern here runs in time linear in the answer's length.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterator

SCORE_KEYS = ("score", "rating", "grade", "final_score", "overall")
REASONING_KEYS = ("reasoning", "explanation", "rationale", "reason", "justification", "analysis")
PREFERENCE_KEYS = ("winner", "better", "preference", "choice", "verdict")
#: Longest answer read (a verdict with its reasoning is a few hundred characters).
MOST_CHARACTERS = 20_000
#: Deepest nesting of brackets read (a verdict's JSON is one or two levels deep).
MOST_NESTING = 32

# The patterns avoid adjacent quantifiers that can match the same characters, so a long run of
# spaces or digits cannot make them backtrack for minutes.
_NUMBER = r"(?<![\d.])(?P<num>-?\d+(?:\.\d+)?)"
_OUT_OF = r"(?:\s*(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?))"
_LABELLED = re.compile(
    r"\b(?:final\s+)?(?:score|rating|grade)\b[\s:=*#\-]*(?:(?:is|of)\b[\s*]*)?" + _NUMBER + _OUT_OF + "?",
    re.IGNORECASE,
)
_FRACTION = re.compile(_NUMBER + _OUT_OF)
_BARE = re.compile(r"^[\s*\[(]*" + _NUMBER + r"[\s*\]).]*$")
_FENCE = re.compile(r"```(?:json|JSON)?(.*?)```", re.DOTALL)
_BRACKETED = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)
_LABELLED_CHOICE = re.compile(
    r"\b(?:winner|verdict|better|preference|choice|answer)\b[\s:=*#\-\"']*(?:is\b[\s*\"']*)?"
    r"(?:(?:response|output|assistant)\s+)?(?P<choice>A|B|tie|equal)\b",
    re.IGNORECASE,
)


class UnparsableAnswer(ValueError):
    """The judge's answer holds no score (or preference) that can be read."""


@dataclass(frozen=True)
class Scale:
    """The integer scale a judge scores on, e.g. 1 to 5; scores are normalised to 0..1."""

    low: int = 1
    high: int = 5

    def __post_init__(self) -> None:
        if not all(isinstance(end, int) and not isinstance(end, bool) for end in (self.low, self.high)):
            raise ValueError(f"a judge scale needs integer ends, got {self.low!r}..{self.high!r}")
        if self.high <= self.low:
            raise ValueError(f"a judge scale needs low < high, got {self.low}..{self.high}")

    def normalise(self, score: float) -> float:
        return round((score - self.low) / (self.high - self.low), 6)

    def __contains__(self, score: float) -> bool:
        return self.low <= score <= self.high

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


@dataclass(frozen=True)
class ParsedScore:
    """A score read from an answer: on the judge's scale, normalised, and where it was."""

    score: float
    normalised: float
    reasoning: str
    #: Character offset of the score's digits in the answer (for log-probability weighting).
    offset: int | None = None


def parse_score(text: str, scale: Scale) -> ParsedScore:
    """Read a score on ``scale`` from a judge's answer, or raise :class:`UnparsableAnswer`."""
    _check_readable(text)
    data = _json_object(text, SCORE_KEYS)
    if data is not None:
        key = next(k for k in SCORE_KEYS if k in _lower_keys(data))
        value = _lower_keys(data)[key]
        score, normalised = _score_from_value(value, scale)
        return ParsedScore(score, normalised, _reasoning(data), _json_value_offset(text, key))
    match = _last(_LABELLED.finditer(text)) or _last(_FRACTION.finditer(text)) or _BARE.match(text)
    if match is None:
        raise UnparsableAnswer(f"no score on the {scale} scale found")
    score, normalised = _on_scale(match.group("num"), match.groupdict().get("den"), scale)
    reasoning = (text[: match.start()] + text[match.end() :]).strip(" \n*:-")
    return ParsedScore(score, normalised, reasoning, match.start("num"))


def parse_preference(text: str) -> tuple[str, str]:
    """Read which of two outputs a judge prefers: ``("A" | "B" | "tie", reasoning)``."""
    _check_readable(text)
    data = _json_object(text, PREFERENCE_KEYS)
    if data is not None:
        lowered = _lower_keys(data)
        value = next(lowered[k] for k in PREFERENCE_KEYS if k in lowered)
        if not isinstance(value, str):
            raise UnparsableAnswer(f"preference {_shown(value)} is not A, B or tie")
        return _choice(value), _reasoning(data)
    match = _last(_BRACKETED.finditer(text)) or _last(_LABELLED_CHOICE.finditer(text))
    if match is None:
        stripped = text.strip().strip("*.\"'[]() ")
        if stripped.lower() in ("a", "b", "tie", "c"):
            return _choice(stripped), ""
        raise UnparsableAnswer("no preference (A, B or tie) found")
    reasoning = (text[: match.start()] + text[match.end() :]).strip(" \n*:-")
    return _choice(match.group(1)), reasoning


def _choice(value: str) -> str:
    word = value.strip().strip("*.\"'[]() ").lower()
    word = re.sub(r"^(?:response|output|assistant)\s+", "", word)
    if word in ("a", "b"):
        return word.upper()
    if word in ("tie", "c", "equal", "both", "draw", "same"):
        return "tie"
    raise UnparsableAnswer(f"preference {value!r} is not A, B or tie")


def _check_readable(text: Any) -> None:
    """Refuse an answer that is not text, or too long or too deeply nested to read safely."""
    if not isinstance(text, str):
        raise UnparsableAnswer(f"the answer is a {type(text).__name__}, not text")
    if len(text) > MOST_CHARACTERS:
        raise UnparsableAnswer(f"the answer is {len(text)} characters long; at most {MOST_CHARACTERS} are read")
    if _nesting(text) > MOST_NESTING:
        raise UnparsableAnswer(f"the answer nests brackets more than {MOST_NESTING} deep")


def _nesting(text: str) -> int:
    """The deepest nesting of ``{}`` and ``[]`` in ``text`` (brackets in strings count too)."""
    depth = deepest = 0
    for char in text:
        if char in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "}]":
            depth = max(depth - 1, 0)
    return deepest


def _score_from_value(value: Any, scale: Scale) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _on_scale(value, None, scale)
    match = (_FRACTION.search(value) or _BARE.match(value)) if isinstance(value, str) else None
    if match is None:
        raise UnparsableAnswer(f"score {_shown(value)} is not a number")
    return _on_scale(match.group("num"), match.groupdict().get("den"), scale)


def _finite(number: str | float) -> float:
    try:
        value = float(number)
    except OverflowError:  # an integer too large for a float
        value = math.inf
    if not math.isfinite(value):
        raise UnparsableAnswer(f"score {_shown(number)} is not a finite number")
    return value


def _on_scale(number: str | float, denominator: str | None, scale: Scale) -> tuple[float, float]:
    score = _finite(number)
    if denominator is not None and _finite(denominator) != scale.high:
        # "7/10" on a 1-5 scale: the judge chose its own scale; keep its proportion.
        out_of = _finite(denominator)
        if out_of <= 0 or not 0 <= score <= out_of:
            raise UnparsableAnswer(f"score {number}/{denominator} is not a proportion")
        fraction = round(score / out_of, 6)
        return scale.low + fraction * (scale.high - scale.low), fraction
    if score not in scale:
        raise UnparsableAnswer(f"score {_shown(number)} is outside the {scale} scale")
    return score, scale.normalise(score)


def _json_object(text: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (fenced, whole, or embedded) holding one of ``keys``."""
    for candidate in _json_objects(text):
        if any(k in _lower_keys(candidate) for k in keys):
            return candidate
    return None


def _json_objects(text: str) -> Iterator[dict[str, Any]]:
    for block in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        decoder = json.JSONDecoder()
        for start in [i for i, char in enumerate(block) if char == "{"]:
            try:
                value, _ = decoder.raw_decode(block, start)
            except ValueError:  # not JSON, or a number with more digits than Python reads
                continue
            if isinstance(value, dict):
                yield value


def _lower_keys(data: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in data.items()}


def _reasoning(data: dict[str, Any]) -> str:
    lowered = _lower_keys(data)
    for key in REASONING_KEYS:
        if lowered.get(key) is None:
            continue
        if not isinstance(lowered[key], str):
            raise UnparsableAnswer(f"{key} {_shown(lowered[key])} is not text")
        return str(lowered[key]).strip()
    return ""


def _shown(value: Any, most: int = 60) -> str:
    """A short one-line ``repr`` of an answer's value (it may be long)."""
    text = " ".join(repr(value).split()) if not isinstance(value, int) or abs(value) < 10**most else "a huge integer"
    return text if len(text) <= most else text[: most - 3] + "..."


def _json_value_offset(text: str, key: str) -> int | None:
    match = _last(re.finditer(rf'"{re.escape(key)}"\s*:\s*(?:"\s*)?(-?\d)', text, re.IGNORECASE))
    return match.start(1) if match else None


def _last(matches: Iterator[re.Match[str]]) -> re.Match[str] | None:
    last = None
    for last in matches:  # noqa: B007 - only the last one is wanted
        pass
    return last
