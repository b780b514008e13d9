"""What pins a judge's verdict: rubric, scale, votes, template, sampling; checked up front.

Every option a judge takes is checked here, once, whether it came from
``@pytest.mark.llm_judge(...)`` or from a call (``judge.check(output, threshold=0.8)``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from pytest_llmops._judge.criteria import criterion as builtin_criterion
from pytest_llmops._judge.panel import AGGREGATES
from pytest_llmops._judge.parsing import Scale
from pytest_llmops.errors import SetupError

MODES = ("score", "pairwise")
#: Alternatives asked for per token when weighting a score by its log-probabilities.
TOP_LOGPROBS = 20
PAIRWISE_RUBRIC = "Overall quality: the response is correct, helpful, relevant to the question and clearly written."
_LABEL_LENGTH = 40
#: Options that pick who judges and what it must agree with first, rather than how it grades.
SETUP_OPTIONS = ("model", "calibration", "min_agreement")


class JudgeOptionError(SetupError, ValueError):
    """A judge option (marker, call argument) is unknown or has a value it cannot take."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_scale(value: Any) -> bool:
    if isinstance(value, Scale):
        return True
    return (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(_is_int(end) for end in value)
        and value[0] < value[1]
    )


def _within(low: float, high: float) -> Callable[[Any], bool]:
    return lambda value: _is_number(value) and low <= value <= high


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and value in choices


#: Each option: the test its value must pass, and what it accepts (for the message).
OPTIONS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "rubric": (_is_text, "a non-empty string"),
    "criterion": (_is_text, "a non-empty string naming a built-in criterion"),
    "threshold": (_within(0, 1), "a finite number from 0 to 1 (the score is normalised)"),
    "label": (_is_text, "a non-empty string"),
    "mode": (_one_of(MODES), "one of " + ", ".join(MODES)),
    "scale": (_is_scale, "a pair of integers (low, high) with low < high"),
    "votes": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "aggregate": (_one_of(AGGREGATES), "one of " + ", ".join(AGGREGATES)),
    "weighted": (lambda v: isinstance(v, bool), "True or False"),
    "retries": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "template": (_is_text, "a template name"),
    "pairwise_template": (_is_text, "a template name"),
    "model": (_is_text, "a model spec"),
    "temperature": (_within(0, 2), "a finite number from 0 to 2"),
    "seed": (_is_int, "an integer"),
    "max_tokens": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "calibration": (lambda v: _is_text(v) or isinstance(v, os.PathLike), "a path to a labelled set"),
    "min_agreement": (_within(0, 1), "a number from 0 to 1"),
}


def option_problems(options: Mapping[str, Any]) -> Iterator[str]:
    """What is wrong with each of ``options`` (None values are unset): unknown names, bad values."""
    for name, value in options.items():
        if name not in OPTIONS:
            yield f"unknown option {name!r}; known: {', '.join(OPTIONS)}"
        elif value is not None and not OPTIONS[name][0](value):
            yield f"{name} must be {OPTIONS[name][1]}, got {value!r}"


def check_options(options: Mapping[str, Any]) -> None:
    """Raise :class:`JudgeOptionError` naming every bad option of ``options``."""
    problems = list(option_problems(options))
    if problems:
        raise JudgeOptionError("; ".join(problems))


@dataclass(frozen=True)
class JudgeConfig:
    """One judge's settings; bad values raise :class:`JudgeOptionError` with the reasons.

    The rubric (or criterion) may come later, with the call: :meth:`graded` requires it.
    """

    rubric: str | None = None
    criterion: str | None = None
    label: str | None = None
    threshold: float = 0.5
    scale: Scale = Scale(1, 5)
    mode: str = "score"
    votes: int = 1
    aggregate: str = "mean"
    retries: int = 2
    weighted: bool = False
    template: str = "judge_score"
    pairwise_template: str = "judge_pairwise"
    temperature: float = 0.0
    seed: int = 0
    max_tokens: int = 256

    def __post_init__(self) -> None:
        check_options({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        if not isinstance(self.scale, Scale):
            object.__setattr__(self, "scale", Scale(*self.scale))
        problems = list(self._problems())
        if problems:
            raise JudgeOptionError("; ".join(problems))

    def _problems(self) -> Iterator[str]:
        if self.rubric is not None and self.criterion is not None:
            yield "give a rubric or a criterion, not both"
        if self.criterion is not None:
            try:
                chosen = builtin_criterion(self.criterion)
            except ValueError as error:  # names the known criteria
                yield str(error)
            else:
                if chosen.items is not None and self.mode != "score":
                    yield f"criterion {chosen.name!r} grades {chosen.items} one by one: mode='score' only"
        if self.weighted and not 0 <= self.scale.low < self.scale.high <= 9:
            yield f"weighted scores need a single-digit scale (0-9), got {self.scale}"

    def updated(self, **changes: Any) -> JudgeConfig:
        """A copy with the non-None ``changes``; a new rubric replaces the criterion and back."""
        check_options(changes)
        clean = {k: v for k, v in changes.items() if v is not None}
        if "rubric" in clean and "criterion" not in clean:
            clean["criterion"] = None
        if "criterion" in clean and "rubric" not in clean:
            clean["rubric"] = None
        if "rubric" in clean or "criterion" in clean:
            clean.setdefault("label", None)
        return dataclasses.replace(self, **clean)

    def graded(self) -> JudgeConfig:
        """This config, when it says what to grade against; else a :class:`JudgeOptionError`."""
        if self.mode == "score" and self.rubric is None and self.criterion is None:
            raise JudgeOptionError(
                "the judge has no rubric: give rubric='...' or criterion='...' (fluency, coherence, "
                "relevance, ...) to @pytest.mark.llm_judge(...) or to the call, "
                "e.g. judge.check(output, rubric='Polite')"
            )
        return self

    @property
    def rubric_text(self) -> str:
        if self.criterion is not None:
            return builtin_criterion(self.criterion).rubric
        return self.rubric if self.rubric is not None else PAIRWISE_RUBRIC

    @property
    def needs_reference(self) -> bool:
        return self.mode == "pairwise" or (
            self.criterion is not None and builtin_criterion(self.criterion).needs_reference
        )

    @property
    def metric(self) -> str:
        """``judge:<label>``: the label, the criterion, or the rubric's first words."""
        if self.label:
            return f"judge:{self.label}"
        if self.criterion is not None:
            return f"judge:{builtin_criterion(self.criterion).name}"
        if self.rubric is None:
            return "judge:pairwise"
        words = " ".join(self.rubric.split())
        return "judge:" + (words if len(words) <= _LABEL_LENGTH else words[: _LABEL_LENGTH - 3].rstrip() + "...")

    @property
    def template_name(self) -> str:
        return self.pairwise_template if self.mode == "pairwise" else self.template
