"""What pins a judge's verdict: rubric, scale, votes, template, sampling; checked up front."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterator

from pytest_llmops._judge.criteria import criterion as builtin_criterion
from pytest_llmops._judge.panel import AGGREGATES
from pytest_llmops._judge.parsing import Scale

MODES = ("score", "pairwise")
#: Alternatives asked for per token when weighting a score by its log-probabilities.
TOP_LOGPROBS = 20
PAIRWISE_RUBRIC = "Overall quality: the response is correct, helpful, relevant to the question and clearly written."
_LABEL_LENGTH = 40


@dataclass(frozen=True)
class JudgeConfig:
    """One judge's settings. Invalid combinations raise ValueError with the reason."""

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
        if isinstance(self.scale, (tuple, list)):
            object.__setattr__(self, "scale", Scale(*self.scale))
        problems = list(self._problems())
        if problems:
            raise ValueError("; ".join(problems))

    def _problems(self) -> Iterator[str]:
        if self.rubric is not None and self.criterion is not None:
            yield "give a rubric or a criterion, not both"
        if self.criterion is not None:
            builtin_criterion(self.criterion)  # raises with the list of known criteria
        if self.mode not in MODES:
            yield f"mode must be one of {', '.join(MODES)}, got {self.mode!r}"
        elif self.mode == "score" and self.rubric is None and self.criterion is None:
            yield "a judge needs rubric='...' or criterion='...' (fluency, coherence, relevance, ...)"
        if isinstance(self.threshold, bool) or not 0 <= self.threshold <= 1:
            yield f"threshold must be a number from 0 to 1 (the score is normalised), got {self.threshold!r}"
        if isinstance(self.votes, bool) or not isinstance(self.votes, int) or self.votes < 1:
            yield f"votes must be an integer >= 1, got {self.votes!r}"
        if self.aggregate not in AGGREGATES:
            yield f"aggregate must be one of {', '.join(AGGREGATES)}, got {self.aggregate!r}"
        if not isinstance(self.retries, int) or self.retries < 0:
            yield f"retries must be an integer >= 0, got {self.retries!r}"
        if self.weighted and not 0 <= self.scale.low < self.scale.high <= 9:
            yield f"weighted scores need a single-digit scale (0-9), got {self.scale}"
        if not 0 <= self.temperature <= 2:
            yield f"temperature must be from 0 to 2, got {self.temperature!r}"

    def updated(self, **changes: Any) -> JudgeConfig:
        """A copy with the non-None ``changes``; a new rubric replaces the criterion and back."""
        clean = {k: v for k, v in changes.items() if v is not None}
        if "rubric" in clean and "criterion" not in clean:
            clean["criterion"] = None
        if "criterion" in clean and "rubric" not in clean:
            clean["rubric"] = None
        if "rubric" in clean or "criterion" in clean:
            clean.setdefault("label", None)
        return dataclasses.replace(self, **clean)

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
