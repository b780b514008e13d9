"""Named endpoints (``llm_endpoints``) and the server each HTTP backend's calls go to.

An entry is ``name = URL [key_env=VARIABLE] [api_version=VERSION]``; a spec picks one with
``prefix@name:model`` (``openai@judge:gpt-4o``). What identifies a named endpoint is its name
alone: recordings keep the name (never its URL or key), so a recording made against one server
replays where the same name points at another. The key is read from ``key_env`` when a call
goes live, never from the entry itself; an entry without ``key_env`` sends no key (a local
server). A spec without ``@name`` calls its backend's default endpoint, identified by its URL
as before named endpoints existed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from pytest_llmops.errors import BadValue, ModelCallError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPTIONS = ("key_env", "api_version")


@dataclass(frozen=True)
class NamedEndpoint:
    """One entry of ``llm_endpoints``: a server by name, and where its key is kept."""

    name: str
    url: str
    #: The environment variable holding the key (None: the server takes none).
    key_env: str | None = None
    #: The API version an Azure OpenAI endpoint is called with.
    api_version: str | None = None


def parse_endpoints(lines: str | Sequence[str]) -> dict[str, NamedEndpoint]:
    """The entries of ``llm_endpoints`` (ini lines, or ``;``-separated on the command line);
    :class:`BadValue` names the entry that cannot be read and why."""
    text = lines.replace(";", "\n") if isinstance(lines, str) else "\n".join(lines)
    found: dict[str, NamedEndpoint] = {}
    for entry in (line.strip() for line in text.splitlines()):
        if not entry:
            continue
        endpoint = _entry(entry)
        if endpoint.name in found:
            raise BadValue(f"endpoint {endpoint.name!r} is named twice")
        found[endpoint.name] = endpoint
    return found


def _entry(entry: str) -> NamedEndpoint:
    name, sep, rest = entry.partition("=")
    name = name.strip()
    if not sep or not _NAME.fullmatch(name):
        raise BadValue(f"{entry!r} does not start with a name (letters, digits, '_', '.', '-') and '='")
    words = rest.split()
    if not words or "=" in words[0]:
        raise BadValue(f"endpoint {name!r} has no URL")
    url, *given = words
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadValue(f"endpoint {name!r}: {url!r} is not an http:// or https:// URL")
    options: dict[str, str] = {}
    for option in given:
        key, sep, value = option.partition("=")
        if key not in _OPTIONS or not sep or not value:
            raise BadValue(f"endpoint {name!r}: {option!r} is not one of {', '.join(o + '=...' for o in _OPTIONS)}")
        if key in options:
            raise BadValue(f"endpoint {name!r} sets {key} twice")
        options[key] = value
    if "key_env" in options and not _VARIABLE.fullmatch(options["key_env"]):
        raise BadValue(f"endpoint {name!r}: key_env={options['key_env']!r} is not an environment variable's name")
    return NamedEndpoint(name, url, options.get("key_env"), options.get("api_version"))


@dataclass(frozen=True)
class Target:
    """Where one HTTP backend's calls go: a server, where its key is kept, and how recordings
    and reports name it."""

    url: str
    #: The environment variable holding the key (None: no key is sent).
    key_env: str | None
    #: The named endpoint (None: the backend's default endpoint).
    name: str | None = None
    #: Whether a call may not go without a key (a named endpoint's key_env, a public API).
    key_required: bool = True
    api_version: str | None = None
    #: What a missing key's message adds (the default endpoint's other way out).
    hint: str = ""

    @classmethod
    def named(cls, endpoint: NamedEndpoint, api_version: str | None = None) -> Target:
        """A named endpoint's target; ``api_version`` unless the entry says its own."""
        return cls(
            endpoint.url,
            endpoint.key_env,
            endpoint.name,
            key_required=endpoint.key_env is not None,
            api_version=endpoint.api_version or api_version,
        )

    @property
    def label(self) -> str:
        """What adaptive concurrency keys on and reports show: the name, else the URL."""
        return self.name or self.url

    def spec(self, prefix: str, model: str) -> str:
        """The model spec that calls ``model`` here: ``prefix:model``, ``prefix@name:model``."""
        return f"{prefix}@{self.name}:{model}" if self.name else f"{prefix}:{model}"

    def identity(self, model: str) -> dict[str, Any]:
        """What recording keys keep of this target: the endpoint's name, or the default's URL."""
        return {"model": model, "endpoint": self.name} if self.name else {"model": model, "base_url": self.url}

    def key(self, spec: str, environ: Mapping[str, str] = os.environ) -> str | None:
        """The key, read now from ``key_env``; :class:`ModelCallError` when a required one is unset."""
        value = environ.get(self.key_env) if self.key_env else None
        if not value and self.key_required:
            hint = f" (key_env of endpoint {self.name!r} in llm_endpoints)" if self.name else self.hint
            raise ModelCallError(f"{spec} needs {self.key_env}{hint}")
        return value or None
