"""A backend known by name at once and loaded on its first live call.

Replayed calls and collection never pay for importing torch or openai, loading weights or
building an HTTP client: only a call that must reach the model does.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping, Sequence

from pytest_llmops._models.base import Backend, Generation, ModelCallError, Request


class LazyBackend:
    """Stands in for the backend ``load()`` builds, until a request needs it."""

    #: Its first call loads a model or a client: never answered in the caller's thread.
    cheap = False

    def __init__(
        self,
        model: str,
        load: Callable[[], Backend],
        *,
        batches: bool,
        in_process: bool = False,
        identity: Mapping[str, Any] | None = None,
        provider: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.model = model
        #: The server its calls go to (known before loading: adaptive concurrency keys on it).
        self.endpoint = endpoint
        self.batches = batches
        self.in_process = in_process
        self.identity = dict(identity or {"model": model})
        self.provider = provider
        self._load = load
        self._backend: Backend | None = None
        self._failure: str | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> Backend:
        """The real backend, loaded once; a load that failed fails every later call the same way."""
        with self._lock:
            if self._backend is None:
                if self._failure is None:
                    try:
                        self._backend = self._load()
                    except ModelCallError as error:
                        self._failure = str(error)
                    except Exception as error:  # noqa: BLE001 - any load failure is infrastructure
                        self._failure = f"cannot load model {self.model!r}: {type(error).__name__}: {error}"
                if self._failure is not None:
                    raise ModelCallError(self._failure)
            return self._backend  # type: ignore[return-value]

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        return self.loaded.generate(requests)

    def __getattr__(self, name: str) -> Any:
        # Backend-specific extras (e.g. log_likelihood of the transformers backend).
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.loaded, name)
