"""Checking a judge against outputs a human already labelled good or bad.

A labelled set is a JSONL, JSON or YAML file of cases ``{output, label, question?, reference?,
context?}``
where ``label`` is good/bad (pass/fail, yes/no, true/false, 1/0). The judge grades each case
with the test's rubric; its agreement with the labels decides whether it may grade tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

#: The labelled sets shipped in the package, usable as ``calibration="<name>"``.
LABELS = Path(__file__).parents[1] / "judge_labels"
_GOOD = {"good", "pass", "passed", "yes", "true", "1", "ok"}
_BAD = {"bad", "fail", "failed", "no", "false", "0"}


class CalibrationFileError(ValueError):
    """A labelled set that cannot be read; the message names the file and the case."""


@dataclass(frozen=True)
class LabelledCase:
    output: str
    good: bool
    question: str | None = None
    reference: str | None = None
    context: Any = None  # the retrieved chunks, for the grounding criteria

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> LabelledCase:
        if not isinstance(data, Mapping):
            raise CalibrationFileError(f"{where}: a case must be a mapping, got {type(data).__name__}")
        if "output" not in data or "label" not in data:
            raise CalibrationFileError(f"{where}: a case needs 'output' and 'label' (good or bad)")
        return cls(
            output=str(data["output"]),
            good=_label(data["label"], where),
            question=None if data.get("question") is None else str(data["question"]),
            reference=None if data.get("reference") is None else str(data["reference"]),
            context=data.get("context"),
        )


def shipped(name: str) -> Path | None:
    """The package's labelled set ``name`` (``correctness``, ``faithfulness``, ``harmlessness``), if any."""
    path = LABELS / f"{name}.jsonl"
    return path if name.isidentifier() and path.is_file() else None


def _label(value: Any, where: str) -> bool:
    word = str(value).strip().lower()
    if word in _GOOD:
        return True
    if word in _BAD:
        return False
    raise CalibrationFileError(f"{where}: label {value!r} is neither good nor bad")


def load_cases(path: Path) -> list[LabelledCase]:
    """The labelled cases of a ``.jsonl``, ``.json``, ``.yaml`` or ``.yml`` file."""
    if not path.is_file():
        raise CalibrationFileError(f"calibration file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        cases = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                raise CalibrationFileError(f"{path}:{number}: not JSON ({error.msg})") from None
            cases.append(LabelledCase.from_mapping(data, f"{path}:{number}"))
    elif suffix in (".json", ".yaml", ".yml"):
        cases = _from_document(path, text, suffix)
    else:
        raise CalibrationFileError(f"calibration file {path}: expected .jsonl, .json, .yaml or .yml")
    if not cases:
        raise CalibrationFileError(f"calibration file {path} holds no cases")
    return cases


def _from_document(path: Path, text: str, suffix: str) -> list[LabelledCase]:
    import yaml

    try:
        document = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise CalibrationFileError(f"{path}: cannot parse: {' '.join(str(error).split())}") from None
    if isinstance(document, Mapping):
        document = document.get("cases")
    if not isinstance(document, list):
        raise CalibrationFileError(f"{path}: expected a list of cases (or a mapping with 'cases')")
    return [LabelledCase.from_mapping(case, f"{path} case {i}") for i, case in enumerate(document, 1)]


@dataclass(frozen=True)
class Calibration:
    """How far a judge agreed with human labels; ``None`` predictions were unparsable."""

    source: str
    labels: tuple[bool, ...]
    predictions: tuple[bool | None, ...]
    min_agreement: float
    disagreements: tuple[dict[str, Any], ...] = field(default=())

    @property
    def cases(self) -> int:
        return len(self.labels)

    @property
    def agreed(self) -> int:
        return sum(p is not None and p == label for label, p in zip(self.labels, self.predictions))

    @property
    def unparsable(self) -> int:
        return sum(p is None for p in self.predictions)

    @property
    def agreement(self) -> float:
        return round(self.agreed / self.cases, 6) if self.cases else 0.0

    @property
    def kappa(self) -> float:
        """Cohen's kappa: agreement beyond what chance would give (unparsable = wrong)."""
        predicted = [label if p == label else not label for label, p in zip(self.labels, self.predictions)]
        n = self.cases
        chance_good = (sum(self.labels) / n) * (sum(predicted) / n)
        chance_bad = (1 - sum(self.labels) / n) * (1 - sum(predicted) / n)
        expected = chance_good + chance_bad
        if expected >= 1:
            return 1.0 if self.agreement == 1 else 0.0
        return round((self.agreement - expected) / (1 - expected), 6)

    @property
    def passed(self) -> bool:
        return self.agreement >= self.min_agreement

    def summary(self) -> str:
        text = (
            f"judge agreed with {self.agreed} of {self.cases} labelled cases in {self.source} "
            f"(agreement {self.agreement:.2f}, kappa {self.kappa:.2f}; needs {self.min_agreement:.2f})"
        )
        if self.unparsable:
            text += f"; {self.unparsable} answer(s) could not be parsed"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "cases": self.cases,
            "agreed": self.agreed,
            "agreement": self.agreement,
            "kappa": self.kappa,
            "unparsable": self.unparsable,
            "min_agreement": self.min_agreement,
            "passed": self.passed,
            "disagreements": list(self.disagreements),
        }


def as_cases(items: Sequence[LabelledCase | Mapping[str, Any]], source: str) -> list[LabelledCase]:
    """Cases given in code, as :class:`LabelledCase` or mappings (at least one)."""
    if not items:
        raise CalibrationFileError(f"{source} was given no cases")
    return [
        item if isinstance(item, LabelledCase) else LabelledCase.from_mapping(item, f"{source} case {i}")
        for i, item in enumerate(items, 1)
    ]
