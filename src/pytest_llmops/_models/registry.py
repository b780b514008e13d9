"""Backends by spec prefix, gathered from the ``pytest_llmops_register_backends`` hook."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import pytest

    from pytest_llmops._models.base import Backend
    from pytest_llmops.settings import Settings

BackendFactory = Callable[[str, "Settings"], "Backend"]


class UnknownModelError(LookupError):
    """A model spec names no registered backend."""


@dataclass(frozen=True)
class BackendEntry:
    prefix: str
    factory: BackendFactory
    description: str


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

        def register(prefix: str, factory: BackendFactory, description: str = "") -> None:
            entries.setdefault(prefix, BackendEntry(prefix, factory, description))

        config.hook.pytest_llmops_register_backends(register=register)
        return cls(entries, settings)

    @property
    def prefixes(self) -> list[str]:
        return sorted(self._entries)

    def parse(self, spec: str) -> tuple[BackendEntry, str]:
        """Split ``prefix:name`` and find its backend, or raise :class:`UnknownModelError`."""
        prefix, _, name = spec.strip().partition(":")
        entry = self._entries.get(prefix)
        if entry is None:
            known = ", ".join(f"{p}:" for p in self.prefixes)
            raise UnknownModelError(f"unknown model spec {spec!r}: no backend for {prefix!r} (known: {known})")
        return entry, name

    def get(self, spec: str) -> Backend:
        """The backend for ``spec``, built on first use and shared by every test."""
        entry, name = self.parse(spec)
        with self._lock:
            backend = self._loaded.get(spec)
            if backend is None:
                backend = self._loaded[spec] = entry.factory(name, self._settings)
            return backend
