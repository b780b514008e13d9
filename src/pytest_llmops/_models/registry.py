"""Backends by spec prefix, gathered from the ``pytest_llmops_register_backends`` hook."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import pytest

    from pytest_llmops._models.base import Backend
    from pytest_llmops._models.named_endpoints import NamedEndpoint
    from pytest_llmops.settings import Settings

BackendFactory = Callable[[str, "Settings"], "Backend"]


class UnknownModelError(LookupError):
    """A model spec names no registered backend."""


@dataclass(frozen=True)
class BackendEntry:
    prefix: str
    factory: BackendFactory
    description: str
    #: Whether its specs may name an endpoint of ``llm_endpoints`` (``prefix@name:model``): the
    #: factory is then called with ``endpoint=`` (None for the default endpoint).
    endpoints: bool = False


class BackendRegistry:
    """Registered backends, and one loaded backend per spec for the whole session."""

    def __init__(self, entries: dict[str, BackendEntry], settings: Settings) -> None:
        self._entries = entries
        self._settings = settings
        self._loaded: dict[str, Backend] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_hooks(cls, config: pytest.Config, settings: Settings) -> BackendRegistry:
        entries: dict[str, BackendEntry] = {}

        def register(prefix: str, factory: BackendFactory, description: str = "", *, endpoints: bool = False) -> None:
            entries.setdefault(prefix, BackendEntry(prefix, factory, description, endpoints))

        config.hook.pytest_llmops_register_backends(register=register)
        return cls(entries, settings)

    @property
    def prefixes(self) -> list[str]:
        return sorted(self._entries)

    def parse(self, spec: str) -> tuple[BackendEntry, str, NamedEndpoint | None]:
        """Split ``prefix[@endpoint]:name`` and find its backend and named endpoint, or raise
        :class:`UnknownModelError`."""
        head, _, name = spec.strip().partition(":")
        prefix, at, endpoint_name = head.partition("@")
        entry = self._entries.get(prefix)
        if entry is None:
            known = ", ".join(f"{p}:" for p in self.prefixes)
            raise UnknownModelError(f"unknown model spec {spec!r}: no backend for {prefix!r} (known: {known})")
        if not at:
            return entry, name, None
        if not entry.endpoints:
            raise UnknownModelError(f"model spec {spec!r}: the {prefix} backend calls no named endpoint")
        endpoint = self._settings.endpoints.get(endpoint_name)
        if endpoint is None:
            known = ", ".join(sorted(self._settings.endpoints)) or "none"
            raise UnknownModelError(
                f"model spec {spec!r} names endpoint {endpoint_name!r}, which llm_endpoints does not define "
                f"(defined: {known})"
            )
        return entry, name, endpoint

    def get(self, spec: str) -> Backend:
        """The backend for ``spec``, built on first use and shared by every test."""
        entry, name, endpoint = self.parse(spec)
        with self._lock:
            backend = self._loaded.get(spec)
            if backend is None:
                if entry.endpoints:
                    backend = entry.factory(name, self._settings, endpoint=endpoint)  # type: ignore[call-arg]
                else:
                    backend = entry.factory(name, self._settings)
                self._loaded[spec] = backend
            return backend
