"""Secrets and scrubbed data out of everything the plugin keeps or shows: one rule, one place.

The rule (docs/guide/reliability-and-security.md says it to users):

- A **secret** is the value of an environment variable whose name marks one (``*_API_KEY``,
  ``*_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``, ``*_CREDENTIALS``, ...) when the value
  looks like a credential: no whitespace, and 12 or more characters mixing two kinds (lower
  case, upper case, digits, others) or 24 or more of any kind, and not the path of an existing
  file. ``POSTGRES_PASSWORD=postgres`` or ``STATS_KEY=duration`` are words, not credentials.
- **Credentials in a URL**, in any text: the user-info part (``user:pass@``) and the values of
  query parameters that name a secret (``api-key=``, ``token=``, ``sig=``, ...); those of the
  configured server URLs (8 characters or more) count as secrets too, wherever they show up.
- **Endpoint keys**: the value of each variable a named endpoint reads its key from
  (``key_env``), 8 characters or more, whatever the variable's name.
- **Credential-looking strings in any text** (the ``no_pii`` metric's ``credential`` kind, through
  :func:`credential_spans`): the same rule read off the text itself, the value given to a
  secret-named key (``API_KEY=...``, ``"token": "..."``, ``password: ...``) when it looks like
  a credential, and credentials in a URL.
- A secret is replaced by ``<NAME>`` (its variable's name; ``<redacted>`` for URL parts) in
  every form a text can carry it: raw, JSON-escaped (also as ``\\u`` escapes), URL-encoded and
  HTML-escaped. Then the user's scrubbers run (``llm_scrub`` patterns, scrubbers registered by
  ``pytest_llmops_register_scrubbers``).

A run installs its :class:`Redactor` once (:func:`install`); every writer and every message
goes through :func:`redact` before anything is cut short, written or shown.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

Scrubber = Callable[[str], str]

# Environment variables with names like these hold secrets (when their values look like one).
_SECRET_NAME = re.compile(r"(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(_|$)", re.IGNORECASE)
# A scheme is short (bounded, so a long run of letters and dots costs linear time, not quadratic).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,31}://)[^/\s@\"']+@")
_SECRET_PARAMS = r"api[-_]?key|key|token|access[-_]?token|secret|password|passwd|sig|signature|auth|code"
_URL_SECRET_PARAM = re.compile(rf"(?i)([?&;](?:{_SECRET_PARAMS})=)[^&#\s\"'<>]+")
REDACTED = "<redacted>"
_KINDS = (str.islower, str.isupper, str.isdigit)


def looks_like_credential(value: str) -> bool:
    """Whether a secret-named variable's value is a credential rather than an ordinary word."""
    if len(value) < 12 or any(char.isspace() for char in value) or os.path.exists(value):
        return False  # too short to tell from a word, a phrase, or where a secret is kept
    kinds = {next((i for i, kind in enumerate(_KINDS) if kind(char)), len(_KINDS)) for char in value}
    return len(kinds) >= 2 or len(value) >= 24


# A key and the value given to it: ``NAME=value``, ``name: value``, ``"name": "value"``.
_ASSIGNED = re.compile(r"\b([A-Za-z][\w-]{0,40})[\"']?[ \t]*[:=][ \t]*[\"']?([^\s\"'<>,;]+)")


def credential_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds a credential by this module's rule: ``(start, end)`` of each value
    given to a secret-named key that looks like a credential, and of each URL credential."""
    spans = []
    for match in _ASSIGNED.finditer(text):
        value = match.group(2).rstrip(".)]}")
        if _SECRET_NAME.search(match.group(1).replace("-", "_")) and looks_like_credential(value):
            spans.append((match.start(2), match.start(2) + len(value)))
    if "://" in text:
        spans += [(m.end(1), m.end() - 1) for m in _URL_USERINFO.finditer(text)]
    if "=" in text:
        spans += [(m.end(1), m.end()) for m in _URL_SECRET_PARAM.finditer(text)]
    return sorted(spans)


def environment_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """Secret values of ``environ``, each with the name it is shown as."""
    return {
        value: f"<{name}>"
        for name, value in sorted(environ.items())
        if _SECRET_NAME.search(name) and looks_like_credential(value)
    }


def url_secrets(url: str) -> dict[str, str]:
    """The password and secret query values of one URL, when long enough (8 characters) to
    replace wherever they show up without touching ordinary words."""
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(url)
        found = [parts.password]
    except ValueError:
        return {}
    secret_param = re.compile(rf"(?i)^(?:{_SECRET_PARAMS})$")
    found += [value for name, value in parse_qsl(parts.query) if secret_param.match(name)]
    return {value: REDACTED for value in found if value and len(value) >= 8}


class Redactor:
    """Replaces secrets in texts and data, then applies the user's scrubbers."""

    def __init__(self, secrets: Mapping[str, str] | None = None, scrubbers: Sequence[Scrubber] = ()) -> None:
        labels: dict[str, str] = {}
        for value, label in (secrets or {}).items():
            for form in _forms(value):
                labels.setdefault(form, label)
        self._labels = labels
        ordered = sorted(labels, key=len, reverse=True)  # a longer form before its own prefix
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._scrubbers = tuple(scrubbers)
        # A form JSON writes as it is shows in the encoding of any text that holds it.
        self._forms_json_safe = all(json.dumps(form)[1:-1] == form for form in labels)

    @classmethod
    def for_run(
        cls,
        environ: Mapping[str, str],
        urls: Iterable[str | None] = (),
        scrubbers: Sequence[Scrubber] = (),
        key_variables: Iterable[str] = (),
    ) -> Redactor:
        """The run's redactor: the environment's secrets, the servers' URL credentials, scrubbers.

        ``key_variables`` hold keys whatever their names (an endpoint's ``key_env``): their
        values are secrets when 8 characters or longer, as a URL's are."""
        secrets = environment_secrets(environ)
        for name in key_variables:
            value = environ.get(name, "")
            if len(value) >= 8:
                secrets.setdefault(value, f"<{name}>")
        for url in urls:
            if url:
                for value, label in url_secrets(url).items():
                    secrets.setdefault(value, label)
        return cls(secrets, scrubbers)

    def text(self, text: str) -> str:
        """``text`` with every secret replaced and every scrubber applied."""
        if self._pattern is not None:
            text = self._pattern.sub(lambda match: self._labels[match.group()], text)
        if "://" in text:
            text = _URL_USERINFO.sub(rf"\1{REDACTED}@", text)
        if "=" in text:
            text = _URL_SECRET_PARAM.sub(rf"\1{REDACTED}", text)
        for scrub in self._scrubbers:
            text = _scrubbed(scrub, text)
        return text

    def encoded(self, value: Any, encode: Callable[[Any], str]) -> str:
        """``encode(self.data(value))`` for a JSON encoder ``encode``; ``value`` is walked only
        when its encoding shows something to replace (or a scrubber, which may match anything,
        is set): most call keys and recordings hold none."""
        text = encode(value)
        return encode(self._walked(value)) if self._may_change(text) else text

    def data(self, value: Any) -> Any:
        """``value`` (JSON-like data) with :meth:`text` applied to every string in it, keys too.

        ``value`` itself when its JSON encoding shows nothing to replace and no scrubber is set:
        a run's report holds thousands of strings, and the C encoder and one search of its text
        cost a fraction of a walk. Else a copy, its tuples made lists."""
        if not self._scrubbers and self._forms_json_safe:
            try:
                encoded = _ENCODE(value)
            except (TypeError, ValueError):  # not JSON data (an object, a cycle): walked
                pass
            else:
                if not self._may_change(encoded):
                    return value
        return self._walked(value)

    def _may_change(self, encoded: str) -> bool:
        """Whether :meth:`data` may change a value whose JSON encoding is ``encoded``: every
        match in one of its strings is a match in the encoding, JSON escapes included."""
        if self._scrubbers or not self._forms_json_safe:
            return True
        if self._pattern is not None and self._pattern.search(encoded):
            return True
        return bool(
            ("://" in encoded and _URL_USERINFO.search(encoded))
            or ("=" in encoded and _URL_SECRET_PARAM.search(encoded))
        )

    def _walked(self, value: Any) -> Any:
        """:meth:`data`, string by string."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self._walked(key): self._walked(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._walked(item) for item in value]
        return value


# Why an encoding shows every match (see _may_change): a secret form JSON writes as it is stays
# whole in the text, and each character the URL patterns match is written as itself or as an
# escape (``\\``, ``\\u0001``) made of characters they match too.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _forms(value: str) -> Iterator[str]:
    """The ways a text may carry ``value``."""
    import html
    from urllib.parse import quote, quote_plus

    yield value
    yield json.dumps(value)[1:-1]
    yield json.dumps(value, ensure_ascii=False)[1:-1]
    yield quote(value, safe="")
    yield quote_plus(value, safe="")
    yield html.escape(value)
    yield html.escape(value, quote=False)


def _scrubbed(scrub: Scrubber, text: str) -> str:
    """One scrubber's result; a scrubber that fails withholds the text rather than leak it."""
    name = getattr(scrub, "__qualname__", repr(scrub))
    try:
        result = scrub(text)
    except Exception as error:  # noqa: BLE001 - a user's scrubber: its failure must not lose a report
        return f"<withheld: scrubber {name} failed: {type(error).__name__}>"
    if not isinstance(result, str):
        return f"<withheld: scrubber {name} returned {type(result).__name__}, not text>"
    return result


def pattern_scrubber(pattern: str) -> Scrubber:
    """A scrubber replacing each match of the regular expression ``pattern`` by ``<scrubbed>``."""
    compiled = re.compile(pattern)

    def scrub(text: str) -> str:
        return compiled.sub("<scrubbed>", text)

    scrub.__qualname__ = f"llm_scrub {pattern!r}"
    return scrub


def _from_environment() -> Redactor:
    return Redactor.for_run(os.environ)


_factory: Callable[[], Redactor] = _from_environment
_installed: Redactor | None = None


def install(factory: Callable[[], Redactor] | None) -> None:
    """From now on every output of this process goes through the redactor ``factory`` builds
    when first needed (None: the environment's secrets alone)."""
    global _factory, _installed
    _factory, _installed = factory or _from_environment, None


def installed() -> Redactor:
    global _installed
    if _installed is None:
        _installed = _factory()
    return _installed


def redact(text: str) -> str:
    """``text`` as the plugin may keep or show it."""
    return installed().text(text)


def redact_data(value: Any) -> Any:
    """JSON-like ``value`` as the plugin may keep or show it: ``value`` itself, not a copy, when
    nothing in it needs replacing (a run's report: its data is not held twice)."""
    return installed().data(value)


def redact_encoded(value: Any, encode: Callable[[Any], str]) -> str:
    """``encode(redact_data(value))`` for a JSON encoder ``encode``, without walking ``value``
    when nothing in it needs replacing."""
    return installed().encoded(value, encode)


def one_line(text: str, width: int = 200) -> str:
    """``text`` redacted, then on one line, then cut to ``width``: never half a secret."""
    line = " ".join(redact(str(text)).split())
    return line if len(line) <= width else line[: width - 3] + "..."
