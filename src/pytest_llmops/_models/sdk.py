"""What the vendors' SDKs (``openai``, ``anthropic``: one client design) share: their errors as
the call pipeline's (what is worth another attempt, with the wait the server asked for), and
the counts in their rate-limit headers."""

from __future__ import annotations

import contextlib
import email.utils
import time
from types import ModuleType
from typing import Any, Iterator

from pytest_llmops._models.base import ModelCallError, RateLimited, TransientCallError
from pytest_llmops._redact import one_line


@contextlib.contextmanager
def mapped_errors(sdk: ModuleType, where: str) -> Iterator[None]:
    """Run an SDK call: a 429 is :class:`RateLimited`, a 5xx (Anthropic's 529 "overloaded"
    too), a timeout or a failed connection :class:`TransientCallError` (with the server's
    ``retry-after``), any other failure :class:`ModelCallError`; ``where`` names the spec and server."""
    try:
        yield
    except sdk.APIStatusError as error:
        message = f"{where} answered HTTP {error.status_code}: {one_line(server_message(error))}"
        if error.status_code == 429:
            raise RateLimited(message, retry_after=retry_after(error.response)) from None
        if error.status_code >= 500:
            raise TransientCallError(message, retry_after=retry_after(error.response)) from None
        raise ModelCallError(message) from None
    except sdk.APITimeoutError:
        raise TransientCallError(f"{where} timed out") from None
    except sdk.APIConnectionError as error:
        raise TransientCallError(f"{where}: connection failed ({one_line(str(error.__cause__ or error))})") from None
    except sdk.APIError as error:
        raise ModelCallError(f"{where} failed: {one_line(str(error))}") from None


def server_message(error: Any) -> str:
    """The server's own words: the body's error message (OpenAI's ``{"message"}``, Anthropic's
    ``{"error": {"message"}}``), without the SDK's prefix."""
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return str(error.message)


def retry_after(response: Any) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms``, ``retry-after``: seconds or a date)."""
    headers = getattr(response, "headers", None) or {}
    milliseconds = headers.get("retry-after-ms")
    with contextlib.suppress(TypeError, ValueError):
        if milliseconds is not None:
            return max(0.0, float(milliseconds) / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def header_count(value: str | None) -> int | None:
    """A count a header says (``"12"``, ``"12.0"``); None when it says none."""
    with contextlib.suppress(TypeError, ValueError):
        return max(0, int(float(value)))  # type: ignore[arg-type]
    return None
