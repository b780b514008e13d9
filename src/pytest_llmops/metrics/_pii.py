"""``no_pii``: personal data and credentials in an output, each finding by kind and position.

Kinds, each checked beyond its shape so that order numbers, dates and version strings pass:

- ``email``: ``name@domain.tld``.
- ``phone``: what the ``phonenumbers`` library finds as a valid number, its digits grouped as
  the numbering plan groups them, national numbers of ``region`` included; not a number that
  follows an identifier's label (``order``, ``invoice``, ``#``...).
- ``card``: 13 to 19 digits (spaces or dashes between groups) of a card network's range
  passing the Luhn check.
- ``iban``: a country code, two check digits and the account, passing the ISO 13616 mod-97 check.
- ``ip``: an IPv4 or IPv6 address (:mod:`ipaddress`), not dotted numbers written as a version
  or a section (``v1.2.3.4``, ``version 10.4.12.7``, ``section 4.2.1.3``).
- ``credential``: the plugin's one secret rule (:func:`pytest_llmops._redact.credential_spans`).

Details name each finding's kind, start and end (character offsets) and its value masked: the
letters and digits starred, but the last four digits of a card, IBAN or phone number.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from typing import Any, Callable, Iterator, Mapping, Sequence

from pytest_llmops.metrics._base import Measurement, MetricError

KINDS = ("email", "phone", "card", "iban", "ip", "credential")
# Which kind a text found by two is: the digits of a card or an IBAN may also read as a phone.
_PRIORITY = ("credential", "email", "iban", "card", "ip", "phone")
Span = tuple[int, int]

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_CARD_RANGES = ("2", "3", "4", "5", "6")  # Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay
_IBAN = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![\w-])")
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
# Dotted numbers that name a version or a part of a document, not a host.
_NUMBERING_BEFORE = re.compile(
    r"(?i)(?:\bv|§\s*|\b(?:version|release|build|ver|section|chapter|clause|figure|table|step|rule)\.?\s*)$"
)
_ID_LABEL_BEFORE = re.compile(
    r"(?i)(?:#|\b(?:order|invoice|ticket|tracking|ref|reference|sku|isbn|serial|part|confirmation|booking)"
    r"(?:\s+(?:number|no\.?|id))?[\s:#.-]*)\s*$"
)


def check_options(options: Mapping[str, Any]) -> None:
    """Known kinds; a region phonenumbers knows (and phonenumbers itself, when phones are wanted)."""
    kinds = _kinds(options["kinds"])
    region = options["region"]
    if region is not None and not (isinstance(region, str) and region.isalpha() and len(region) == 2):
        raise MetricError(f"region must be a two-letter country code such as 'US' or 'GB', or None, not {region!r}")
    if "phone" in kinds:
        phonenumbers = _phonenumbers()
        if region is not None and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise MetricError(f"region {region!r} is not a region phonenumbers knows")


def _kinds(value: Any) -> tuple[str, ...]:
    if value is None:
        return KINDS
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)) or not value:
        raise MetricError(f"kinds must be a non-empty list of {', '.join(KINDS)}, not {value!r}")
    unknown = sorted(str(kind) for kind in value if kind not in KINDS)
    if unknown:
        raise MetricError(f"unknown PII kind {', '.join(map(repr, unknown))} (kinds: {', '.join(KINDS)})")
    return tuple(kind for kind in KINDS if kind in value)


def _phonenumbers() -> Any:
    from pytest_llmops._optional import MissingExtraError, import_optional

    try:
        return import_optional("phonenumbers", "pii")
    except MissingExtraError as error:
        raise MetricError(f"{error} (or leave 'phone' out of kinds=)") from None


def no_pii(
    output: str, reference: str | None, *, kinds: Sequence[str] | None = None, region: str | None = "US"
) -> Measurement:
    """1.0 when ``output`` holds none of ``kinds`` (default: every kind), else 0.0."""
    wanted = _kinds(kinds)
    findings: list[tuple[Span, str]] = []  # kept sorted, none overlapping
    for kind in (k for k in _PRIORITY if k in wanted):
        for span in _FINDERS[kind](output, region):
            at = bisect.bisect_left(findings, (span, kind))
            before, after = findings[at - 1][0] if at else None, findings[at][0] if at < len(findings) else None
            if (before is None or before[1] <= span[0]) and (after is None or span[1] <= after[0]):
                findings.insert(at, (span, kind))
    shown = [
        {"kind": kind, "start": start, "end": end, "value": _mask(output[start:end], kind)}
        for (start, end), kind in findings
    ]
    return Measurement(0.0 if findings else 1.0, {"found": len(shown), "findings": shown, "kinds": list(wanted)})


def _emails(text: str, region: str | None) -> Iterator[Span]:
    for match in _EMAIL.finditer(text):
        yield match.span()


def _phones(text: str, region: str | None) -> Iterator[Span]:
    phonenumbers = _phonenumbers()
    matcher = phonenumbers.PhoneNumberMatcher(
        text, region.upper() if region else None, leniency=phonenumbers.Leniency.STRICT_GROUPING
    )
    for match in matcher:
        if not _ID_LABEL_BEFORE.search(text[max(0, match.start - 40) : match.start]):
            yield match.start, match.end


def _cards(text: str, region: str | None) -> Iterator[Span]:
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and digits.startswith(_CARD_RANGES) and _luhn(digits):
            yield match.span()


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def _ibans(text: str, region: str | None) -> Iterator[Span]:
    for match in _IBAN.finditer(text):
        compact = match.group().replace(" ", "")
        rearranged = compact[4:] + compact[:4]
        if int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1:
            yield match.span()


def _ips(text: str, region: str | None) -> Iterator[Span]:
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(text):
            if pattern is _IPV4 and _NUMBERING_BEFORE.search(text[max(0, match.start() - 12) : match.start()]):
                continue
            try:
                ipaddress.ip_address(match.group())
            except ValueError:
                continue
            yield match.span()


def _credentials(text: str, region: str | None) -> Iterator[Span]:
    from pytest_llmops._redact import credential_spans

    yield from credential_spans(text)


_FINDERS: dict[str, Callable[[str, str | None], Iterator[Span]]] = {
    "email": _emails,
    "phone": _phones,
    "card": _cards,
    "iban": _ibans,
    "ip": _ips,
    "credential": _credentials,
}


def _mask(value: str, kind: str) -> str:
    """``value`` with its letters and digits starred; a card, IBAN or phone keeps its last 4 digits."""
    keep = 4 if kind in ("card", "iban", "phone") else 0
    kept = 0
    chars = []
    for char in reversed(value):
        if char.isalnum():
            if kept < keep:
                kept += 1
                chars.append(char)
                continue
            chars.append("*")
        else:
            chars.append(char)
    return "".join(reversed(chars))
