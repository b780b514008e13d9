"""The one error hierarchy: what went wrong decides how a test ends.

- :class:`ConfigError`: a setting, marker or file given for the whole run is unusable; raised
  as ``pytest.UsageError`` at start-up.
- :class:`SetupError`: a test's own set-up is broken (a template, a golden reference, a
  dataset row, a judge's configuration): the test is an ERROR, not a FAIL.
- :class:`ModelCallError`: infrastructure (server, network, timeout, budget, cancellation):
  an ERROR in every output, never a quality FAIL.

A quality problem is an ``AssertionError``: the only thing that makes a test FAIL.

:class:`PromptWarning` (a ``UserWarning``) flags a template that works but likely not as meant.
"""

from __future__ import annotations


class LLMOpsError(Exception):
    """Base of every error pytest-llmops raises on purpose."""


class ConfigError(LLMOpsError):
    """A run-wide setting, flag or file cannot be used; the message names it.

    Raised while the plugin configures itself, and turned into the ``pytest.UsageError``
    pytest stops with at start-up, once.
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"pytest-llmops: {message}")


class BadValue(LLMOpsError, ValueError):
    """A value of a setting or marker that cannot be used, with the reason (shown as given)."""


class SetupError(LLMOpsError):
    """A test's set-up (template, golden reference, dataset, judge configuration) is broken."""


class PromptWarning(UserWarning):
    """A prompt template renders, but likely not as its author meant; the warning's location is
    the template file and line."""


class ModelCallError(LLMOpsError):
    """A model call failed for infrastructure reasons (server, network, timeout, budget).

    The plugin reports a test that raises it as an ERROR, never as a quality FAIL.
    """


class TransientCallError(ModelCallError):
    """A failure worth another attempt (HTTP 429 or 5xx, a timeout, a dropped connection).

    ``retry_after`` is the wait in seconds the server asked for, when it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientCallError):
    """The server refused the call for its rate limit (HTTP 429): the pipeline retries it, and
    slows down every call to the same endpoint (adaptive concurrency)."""


#: The start of the reason of a call refused by ``llm_budget_usd``.
BUDGET_REFUSAL = "LLM budget exhausted"


class BudgetExceeded(ModelCallError):
    """A live call was refused: it could cost more than what is left of ``llm_budget_usd``."""


class CallCancelled(ModelCallError):
    """A call was dropped because the run is ending (``-x``, ``--maxfail``, Ctrl-C)."""


class StructuredOutputError(LLMOpsError, AssertionError):
    """A model's answer does not match its call's ``response_format`` (not JSON, or not valid
    against the JSON Schema): the model answered badly, so the test FAILs. ``completion`` is the
    answer (recorded and reported like any other)."""

    def __init__(self, message: str, completion: object = None) -> None:
        super().__init__(message)
        self.completion = completion


def error_kind(error: BaseException) -> str | None:
    """``"infrastructure"`` or ``"setup"`` for errors that make a test an ERROR; None otherwise."""
    if isinstance(error, ModelCallError):
        return "infrastructure"
    if isinstance(error, SetupError):
        return "setup"
    return None
