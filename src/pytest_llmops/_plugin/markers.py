"""The plugin's markers: each one's signature, the help line generated from it, and binding.

``pytest --markers`` shows exactly the arguments a marker accepts, because the line is made
from the same function that checks them.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any, Callable, Mapping, NoReturn, Sequence

import pytest

from pytest_llmops._models.generation import RULES


def llm(model: str | None = None, **settings: Any) -> None:
    """model spec and generation settings of the `llm` fixture for this test."""


# The settings the marker takes are the table's: its help line and binding follow the table.
llm.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
        *(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None) for name in RULES),
    ]
)


def llm_dataset(
    path: str | os.PathLike[str],
    *,
    prompt: str | None = None,
    input: str = "input",  # noqa: A002 - the marker's public argument name
    id: str = "id",  # noqa: A002
    expected: str = "expected",
    context: str = "context",
    relevant: str = "relevant",
    turns: str = "turns",
    system: str = "system",
) -> None:
    """one test per row of a JSONL/CSV/YAML case file (path relative to the test file), each
    receiving the row and its model answer, made concurrently with the other cases', as the
    `case` fixture; a row with a `turns` list is a conversation, played turn by turn."""


def llm_judge(
    rubric: str | None = None,
    *,
    criterion: str | None = None,
    threshold: float | None = None,
    label: str | None = None,
    mode: str | None = None,
    scale: tuple[int, int] | None = None,
    votes: int | None = None,
    aggregate: str | None = None,
    weighted: bool | None = None,
    retries: int | None = None,
    template: str | None = None,
    pairwise_template: str | None = None,
    model: str | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    max_tokens: int | None = None,
    calibration: str | None = None,
    min_agreement: float | None = None,
) -> None:
    """how the `judge` fixture grades this test's outputs (threshold 0.5, mode 'score', scale
    (1, 5) and template 'judge_score' unless given)."""


def golden(
    metric: str | None = None,
    threshold: float | None = None,
    *,
    metrics: Mapping[str, Any] | Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    samples: int | None = None,
    min_passes: int | None = None,
    confidence: float | None = None,
) -> None:
    """the metrics (default exact) the `golden` fixture scores outputs with, e.g.
    metrics={"rougeL": 0.6, "chrf": 40}; samples=N, min_passes=k for repeated samples."""


MARKERS: tuple[Callable[..., None], ...] = (llm, llm_dataset, llm_judge, golden)


@functools.cache
def signature(marker: Callable[..., None]) -> inspect.Signature:
    """``marker``'s signature, read once: binding runs for every test that carries it."""
    return inspect.signature(marker)


def help_line(marker: Callable[..., None]) -> str:
    """``name(arguments): what it does``, as ``pytest --markers`` shows it."""
    full = signature(marker)
    bare = full.replace(
        parameters=[p.replace(annotation=inspect.Parameter.empty) for p in full.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )
    return f"{marker.__name__}{bare}: {' '.join((marker.__doc__ or '').split())}"


def register_markers(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", help_line(marker))


def bind_marker(node: pytest.Item, marker: Callable[..., None]) -> dict[str, Any]:
    """The arguments given to ``node``'s closest such marker; TypeError when it refuses them."""
    found = node.get_closest_marker(marker.__name__)
    if found is None:
        return {}
    bound = signature(marker).bind(*found.args, **found.kwargs)
    return {k: v for k, v in bound.arguments.items() if v is not None}


def marker_kwargs(request: pytest.FixtureRequest, marker: Callable[..., None]) -> dict[str, Any]:
    """:func:`bind_marker` for a fixture: bad arguments ERROR the test's set-up, naming them."""
    try:
        return bind_marker(request.node, marker)
    except TypeError as error:
        takes = ", ".join(signature(marker).parameters)
        problem = f"bad arguments to @pytest.mark.{marker.__name__}: {error} (it takes {takes})"
    fail_setup(problem)


def fail_setup(message: str) -> NoReturn:
    """Stop this test's set-up with an ERROR that says what is wrong, without a traceback."""
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)
