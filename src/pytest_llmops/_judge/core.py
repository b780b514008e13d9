"""The judge: asks a judge model to grade outputs and turns its answers into verdicts.

Every verdict pins what produced it (judge model, temperature, seeds, template version,
mode) and lands on the test's record as a ``kind="judge"`` score. An answer that cannot be
read is asked again (with a reminder of the format) and finally raises :class:`JudgeError`,
which the plugin reports as an ERROR, never as a FAIL.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, TypeVar

from pytest_llmops._grounding import Chunk, GroundingError, claims, parse_context
from pytest_llmops._judge.calibration import Calibration, LabelledCase, as_cases, load_cases
from pytest_llmops._judge.config import SETUP_OPTIONS, TOP_LOGPROBS, JudgeConfig, JudgeOptionError, check_options
from pytest_llmops._judge.criteria import Criterion
from pytest_llmops._judge.criteria import criterion as builtin_criterion
from pytest_llmops._judge.panel import (
    OUTCOME_VALUES,
    PanelDecision,
    decide,
    decide_pairwise,
    expected_score,
    reconcile_orders,
    score_distribution,
    spread,
)
from pytest_llmops._judge.parsing import MOST_CHARACTERS, Scale, UnparsableAnswer, parse_preference, parse_score
from pytest_llmops._models.base import Completion, Message, ModelCallError, PromptVersion
from pytest_llmops._models.conversation import Conversation
from pytest_llmops._results import Score

if TYPE_CHECKING:
    from pytest_llmops._models.client import LLM
    from pytest_llmops._prompts import PromptLibrary, RenderedPrompt
    from pytest_llmops._results import TestRecord

T = TypeVar("T")
_QUOTE_LENGTH = 300
#: Builds the judge for one call that names a model, a calibration or a least agreement.
Variant = Callable[[JudgeConfig, Mapping[str, Any]], "Judge"]


class JudgeError(ModelCallError):
    """The judge could not grade (unreadable answers, failed calibration): an ERROR."""


class JudgeAnswerError(JudgeError):
    """The judge's answers could not be read, even after the retries."""


class JudgeCalibrationError(JudgeError):
    """The judge disagreed with human labels too often to be trusted with the rubric."""

    def __init__(self, message: str, calibration: Calibration) -> None:
        super().__init__(message)
        self.calibration = calibration


@dataclass(frozen=True)
class Vote:
    """One judge answer (in pairwise mode, one pair of answers asked in both orders)."""

    value: float
    seed: int
    reasoning: str
    answer: str
    score: float | None = None
    outcome: str | None = None
    orders: tuple[str, str] | None = None
    distribution: dict[int, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        if self.distribution is not None:
            data["distribution"] = {str(k): p for k, p in self.distribution.items()}
        return data


@dataclass(frozen=True)
class Verdict:
    """A judge's decision on one output: normalised value, pass/fail, and why."""

    metric: str
    value: float
    threshold: float
    passed: bool
    reasoning: str
    votes: tuple[Vote, ...]
    tie: bool = False
    spread: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.passed

    def to_score(self, output: str, reference: str | None) -> Score:
        return Score(
            metric=self.metric,
            value=self.value,
            threshold=self.threshold,
            passed=self.passed,
            kind="judge",
            output=output,
            reference=reference,
            details=dict(self.details),
        )

    def explain(self) -> str:
        """One paragraph for a failing check: what was decided, by whom, and why."""
        judge = f"judge {self.details.get('judge_spec')}, {len(self.votes)} vote(s)"
        items = self.details.get("items")
        if items is not None:
            return self._explain_items(items, judge)
        if self.details.get("mode") == "pairwise":
            outcome = "tie" if self.tie else ("new output better" if self.value > 0.5 else "reference better")
            head = f"{self.metric}: {outcome} ({judge})"
        elif self.tie:
            head = f"{self.metric}: the panel tied ({judge}; median {self.value:.2f}, threshold {self.threshold:.2f})"
        else:
            head = f"{self.metric}: scored {self.value:.2f}{self._on_scale()}, below the threshold {self.threshold:.2f} ({judge})"
        return f"{head}\nreasoning: {self.reasoning or '(none given)'}"

    def _explain_items(self, items: Sequence[Mapping[str, Any]], judge: str) -> str:
        """A per-item verdict: how many items passed, then each failing item and why."""
        kind = self.details["item_kind"]
        lines = [
            f"{self.metric}: {sum(i['passed'] for i in items)} of {len(items)} {kind}s pass "
            f"({self.value:.2f}), below the threshold {self.threshold:.2f} ({judge})"
        ]
        for item in items:
            if not item["passed"]:
                name = f"[{item['id']}] " if "id" in item else ""
                lines.append(
                    f"  {self.details['failing']}: {name}{item['text']!r} ({item['reasoning'] or 'no reason given'})"
                )
        return "\n".join(lines)

    def _on_scale(self) -> str:
        """The votes as the judge gave them, `` (2 on the 1-5 scale)``: 0.25 alone hides them."""
        scale = self.details.get("scale")
        given = [vote.score for vote in self.votes if vote.score is not None]
        if not scale or not given:
            return ""
        votes = ", ".join(f"{score:g}" for score in given)
        return f" ({'votes ' if len(given) > 1 else ''}{votes} on the {scale[0]}-{scale[1]} scale)"


@dataclass(frozen=True)
class _Prompt:
    """A rendered judge prompt with extra turns (a retry's reminder); keeps its versions."""

    messages: tuple[Message, ...]
    versions: tuple[PromptVersion, ...]
    settings: Mapping[str, Any]


class Judge:
    """Grades outputs with a judge model: ``score`` returns a verdict, ``check`` asserts it.

    Both take the output (text, a Completion, or a Conversation: its transcript) and optionally the ``question`` and a
    ``reference``; keyword changes (``rubric``, ``criterion``, ``threshold``, ``mode``,
    ``votes``, ...) apply to that one call. ``calibrate`` checks the judge against labels.
    ``variant`` builds the judge of a call that names a ``model``, ``calibration`` or
    ``min_agreement`` (the pytest fixture gives one); without it such a call is refused.
    """

    def __init__(
        self,
        llm: LLM,
        config: JudgeConfig,
        library: PromptLibrary,
        record: TestRecord | None = None,
        variant: Variant | None = None,
    ) -> None:
        self.llm = llm
        self.config = config
        self._library = library
        self._record = record
        self._variant = variant

    def __repr__(self) -> str:
        return f"<Judge {self.llm.spec} {self.config.metric}>"

    def score(
        self,
        output: str | Completion | Conversation,
        *,
        question: str | None = None,
        reference: str | None = None,
        context: Any = None,
        **changes: Any,
    ) -> Verdict:
        """Grade ``output`` and record the verdict on the test, without asserting. ``context``
        (the retrieved chunks, e.g. ``case.context``) grounds the per-item criteria."""
        judge = self._for_call(changes)
        text = _text(output)
        chunks = _chunks(context)
        verdict = judge._grade(judge.config.graded(), text, question, reference, chunks)
        if self._record is not None:
            self._record.add_score(verdict.to_score(text, reference))
            if chunks is not None:  # the report shows them beside the output
                self._record.extra.setdefault("grounding", {})["context"] = [chunk.to_dict() for chunk in chunks]
        return verdict

    def check(
        self,
        output: str | Completion | Conversation,
        *,
        question: str | None = None,
        reference: str | None = None,
        context: Any = None,
        **changes: Any,
    ) -> Verdict:
        """Grade ``output``; fail the test when the verdict does not pass."""
        __tracebackhide__ = True
        verdict = self.score(output, question=question, reference=reference, context=context, **changes)
        if not verdict.passed:
            raise AssertionError(verdict.explain())
        return verdict

    def calibrate(
        self,
        cases: str | Path | Sequence[LabelledCase | Mapping[str, Any]],
        *,
        min_agreement: float = 0.8,
        **changes: Any,
    ) -> Calibration:
        """Grade outputs a human labelled good or bad; raise :class:`JudgeCalibrationError`
        when the judge agrees with fewer than ``min_agreement`` of them."""
        check_options({"min_agreement": min_agreement})
        judge = self._for_call(changes)
        if judge is not self:
            return judge.calibrate(cases, min_agreement=min_agreement)
        config = self.config.graded()
        if isinstance(cases, (str, Path)):
            source, labelled = str(cases), load_cases(Path(cases))
        else:
            source, labelled = "judge.calibrate()", as_cases(cases, "judge.calibrate()")

        def predict(case: LabelledCase) -> Verdict | str:
            try:
                return self._grade(config, case.output, case.question, case.reference, _chunks(case.context))
            except JudgeAnswerError as error:
                return str(error)

        results = self.llm.pipeline.gather(predict, labelled)
        calibration = Calibration(
            source=source,
            labels=tuple(case.good for case in labelled),
            predictions=tuple(r.passed if isinstance(r, Verdict) else None for r in results),
            min_agreement=min_agreement,
            disagreements=tuple(
                _disagreement(case, result)
                for case, result in zip(labelled, results)
                if not isinstance(result, Verdict) or result.passed != case.good
            ),
        )
        if self._record is not None:
            self._record.extra.setdefault("judge_calibration", []).append(
                {"metric": config.metric, "judge": self.llm.spec, **calibration.to_dict()}
            )
        if not calibration.passed:
            raise JudgeCalibrationError(
                f"{config.metric}: judge {self.llm.spec} failed calibration: {calibration.summary()}", calibration
            )
        return calibration

    def _for_call(self, changes: Mapping[str, Any]) -> Judge:
        """The judge of one call: ``changes`` (checked like the marker's) apply to it alone."""
        check_options(changes)
        setup = {k: v for k, v in changes.items() if k in SETUP_OPTIONS and v is not None}
        config = self.config.updated(**{k: v for k, v in changes.items() if k not in SETUP_OPTIONS})
        if not setup:
            return (
                self if config == self.config else Judge(self.llm, config, self._library, self._record, self._variant)
            )
        if self._variant is None:
            raise JudgeOptionError(f"{', '.join(setup)}: this judge takes them only when it is built")
        return self._variant(config, setup)

    # -- grading ---------------------------------------------------------------------------

    def _grade(
        self,
        config: JudgeConfig,
        output: str,
        question: str | None,
        reference: str | None,
        context: tuple[Chunk, ...] | None = None,
    ) -> Verdict:
        needs = builtin_criterion(config.criterion).needs if config.criterion is not None else ()
        if config.mode == "score" and "question" in needs and not question:
            raise JudgeError(f"{config.metric} needs the question: judge.check(output, question=...)")
        per_item = config.criterion is not None and builtin_criterion(config.criterion).items is not None
        if config.mode == "score" and per_item:
            return self._grade_items(
                config, builtin_criterion(config.criterion or ""), output, question, reference, context
            )
        if config.needs_reference and reference is None:
            raise JudgeError(f"{config.metric} needs a reference: judge.check(output, reference=...)")
        seeds = [config.seed + i for i in range(config.votes)]
        if config.mode == "pairwise":
            prompts: tuple[RenderedPrompt, ...] = (
                self._render(
                    config, rubric=config.rubric_text, question=question, response_a=output, response_b=reference
                ),
                self._render(
                    config, rubric=config.rubric_text, question=question, response_a=reference, response_b=output
                ),
            )
            orders = (prompts[0], prompts[1])
            votes = self.llm.pipeline.gather(lambda seed: self._pairwise_vote(config, orders, seed), seeds)
            decision = decide_pairwise([v.outcome or "tie" for v in votes])
        else:
            prompt = self._render(
                config,
                rubric=config.rubric_text,
                criterion=config.criterion,
                output=output,
                question=question,
                reference=reference,
                scale_low=config.scale.low,
                scale_high=config.scale.high,
            )
            votes = self.llm.pipeline.gather(lambda seed: self._score_vote(config, prompt, seed), seeds)
            decision = decide([v.value for v in votes], config.threshold, config.aggregate)
            prompts = (prompt,)
        threshold = 0.5 if config.mode == "pairwise" else config.threshold
        return Verdict(
            metric=config.metric,
            value=decision.value,
            threshold=threshold,
            passed=decision.passed,
            reasoning=_closest(votes, decision).reasoning,
            votes=tuple(votes),
            tie=decision.tie,
            spread=decision.spread,
            details=self._details(config, votes, decision, prompts[0].versions[0], question),
        )

    def _grade_items(
        self,
        config: JudgeConfig,
        criterion: Criterion,
        output: str,
        question: str | None,
        reference: str | None,
        context: tuple[Chunk, ...] | None,
    ) -> Verdict:
        """A per-item criterion: each claim (or chunk) graded 0/1 by its own votes; the value is
        the share of items that pass."""
        items, context_text = _items(config, criterion, output, question, reference, context)
        kind = "claim" if criterion.items == "claims" else "chunk"
        item_config = dataclasses.replace(config, scale=Scale(0, 1))
        prompts = [
            self._library.render(
                "judge_item",
                rubric=criterion.rubric,
                question=question,
                context=context_text,
                item=item["text"],
                item_kind=kind.upper(),
            )
            for item in items
        ]
        asks = [(index, config.seed + vote) for index in range(len(items)) for vote in range(config.votes)]
        votes = self.llm.pipeline.gather(lambda ask: self._score_vote(item_config, prompts[ask[0]], ask[1]), asks)
        graded = []
        for index, item in enumerate(items):
            mine = votes[index * config.votes : (index + 1) * config.votes]
            decision = decide([v.value for v in mine], 0.5, config.aggregate)
            graded.append(
                {
                    **item,
                    "passed": decision.passed,
                    "value": decision.value,
                    "reasoning": _closest(mine, decision).reasoning,
                }
            )
        value = round(sum(i["passed"] for i in graded) / len(graded), 6) if graded else 1.0
        decision = PanelDecision(
            value, value >= config.threshold, False, spread([i["value"] for i in graded] or [value])
        )
        failing = "unsupported" if criterion.name == "faithfulness" else "irrelevant"
        reasoning = "; ".join(f"{failing}: {i['text']!r}" for i in graded if not i["passed"])
        details = self._details(config, votes, decision, self._library.version("judge_item"), question)
        details.update(
            reasoning=reasoning or f"every {kind} passes",
            values=[value],
            scale=[0, 1],
            items=graded,
            item_kind=kind,
            failing=failing,
            **{failing: [i["text"] for i in graded if not i["passed"]]},
        )
        return Verdict(
            metric=config.metric,
            value=value,
            threshold=config.threshold,
            passed=decision.passed,
            reasoning=details["reasoning"],
            votes=tuple(votes),
            spread=decision.spread,
            details=details,
        )

    def _render(self, config: JudgeConfig, **variables: Any) -> RenderedPrompt:
        return self._library.render(config.template_name, **variables)

    def _score_vote(self, config: JudgeConfig, prompt: RenderedPrompt, seed: int) -> Vote:
        parsed, completion = self._ask(config, prompt, seed, lambda c: parse_score(c.text, config.scale))
        distribution = None
        if config.weighted and completion.logprobs and parsed.offset is not None:
            distribution = score_distribution(completion.logprobs, completion.text, parsed.offset, config.scale)
        score = expected_score(distribution) if distribution else parsed.score
        value = config.scale.normalise(score) if distribution else parsed.normalised
        return Vote(value, seed, parsed.reasoning, completion.text, score=score, distribution=distribution)

    def _pairwise_vote(self, config: JudgeConfig, prompts: tuple[RenderedPrompt, RenderedPrompt], seed: int) -> Vote:
        (first, first_answer), (second, second_answer) = self.llm.pipeline.gather(
            lambda prompt: self._ask(config, prompt, seed, lambda c: parse_preference(c.text)), prompts
        )
        outcome = reconcile_orders(first[0], second[0])
        value = OUTCOME_VALUES[outcome]
        reasoning = " | ".join(r for r in (first[1], second[1]) if r)
        answer = f"[new output as A] {first_answer.text}\n[new output as B] {second_answer.text}"
        return Vote(value, seed, reasoning, answer, outcome=outcome, orders=(first[0], second[0]))

    def _ask(
        self, config: JudgeConfig, prompt: RenderedPrompt, seed: int, read: Callable[[Completion], T]
    ) -> tuple[T, Completion]:
        """Call the judge and read its answer, asking again with a reminder when unreadable."""
        current: RenderedPrompt | _Prompt = prompt
        failures: list[tuple[str, str]] = []
        for _ in range(config.retries + 1):
            completion = self.llm.complete(
                current,
                temperature=config.temperature,
                seed=seed,
                max_tokens=config.max_tokens,
                top_logprobs=TOP_LOGPROBS if config.weighted else None,
            )
            try:
                return read(completion), completion
            except UnparsableAnswer as problem:
                failures.append((completion.text, str(problem)))
                current = _Prompt(
                    prompt.messages
                    + (
                        Message("assistant", completion.text[:MOST_CHARACTERS] or "(empty)"),
                        Message("user", _reminder(config, str(problem))),
                    ),
                    prompt.versions,
                    prompt.settings,
                )
        raise JudgeAnswerError(_unreadable(self.llm.spec, config, failures))

    def _details(
        self,
        config: JudgeConfig,
        votes: Sequence[Vote],
        decision: PanelDecision,
        version: PromptVersion,
        question: str | None,
    ) -> dict[str, Any]:
        weighted = any(v.distribution for v in votes)
        return {
            "reasoning": _closest(votes, decision).reasoning if votes else "",
            "votes": [v.to_dict() for v in votes],
            "values": [v.value for v in votes],  # per-vote samples, for the baseline's noise estimate
            "spread": decision.spread,
            "tie": decision.tie,
            "judge_spec": self.llm.spec,
            "judge_model": self.llm.model,
            "temperature": config.temperature,
            "seed": config.seed,
            "seeds": [v.seed for v in votes],
            "max_tokens": config.max_tokens,
            "template": version.to_dict(),
            "mode": config.mode,
            "scoring": "weighted" if weighted else "sampled",
            "aggregate": "majority" if config.mode == "pairwise" else config.aggregate,
            "scale": [config.scale.low, config.scale.high],
            "rubric": config.rubric_text,
            "criterion": config.criterion,
            "question": question,
        }


def _text(output: str | Completion | Conversation) -> str:
    """What is graded: a completion's text, a conversation's transcript, else the string."""
    return output.text if isinstance(output, (Completion, Conversation)) else str(output)


def _chunks(context: Any) -> tuple[Chunk, ...] | None:
    """``context=`` as chunks; a malformed one is a :class:`JudgeOptionError` saying why."""
    if context is None:
        return None
    try:
        return parse_context(context)
    except GroundingError as error:
        raise JudgeOptionError(str(error)) from None


def _items(
    config: JudgeConfig,
    criterion: Criterion,
    output: str,
    question: str | None,
    reference: str | None,
    context: tuple[Chunk, ...] | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """What a per-item criterion grades, and the context text its prompt shows (faithfulness:
    the chunks, else the reference); a missing input is a :class:`JudgeError` naming it."""
    if criterion.items == "chunks":
        if not context:
            raise JudgeError(f"{config.metric} needs the retrieved chunks: judge.check(output, context=case.context)")
        untexted = [chunk.id for chunk in context if not chunk.text]
        if untexted:
            raise JudgeError(f"{config.metric} grades each chunk's text; chunk(s) {', '.join(untexted)} have none")
        return [{"id": chunk.id, "text": chunk.text} for chunk in context], None
    items = [{"text": claim} for claim in claims(output)]
    if "context" not in criterion.needs:
        return items, None
    if context:
        texts = [chunk for chunk in context if chunk.text]
        if not texts:
            raise JudgeError(f"{config.metric} checks claims against the chunks' text, and no chunk has any")
        return items, "\n".join(f"[{chunk.id}] {chunk.text}" for chunk in texts)
    if reference is not None:
        return items, reference
    raise JudgeError(
        f"{config.metric} needs what the answer must be grounded in: "
        f"judge.check(output, context=case.context) or reference=..."
    )


def _closest(votes: Sequence[Vote], decision: PanelDecision) -> Vote:
    """The vote nearest the decision (the first such, in seed order): its reasoning speaks for the panel."""
    return min(votes, key=lambda v: abs(v.value - decision.value))


def _reminder(config: JudgeConfig, problem: str) -> str:
    """Ask again in the template's own format (JSON, "Score: N", a bare number...), which the
    conversation above already states; only what the answer must hold is repeated."""
    if config.mode == "pairwise":
        wanted = "which response is better: A, B or tie"
    else:
        wanted = f"a score from {config.scale.low} to {config.scale.high}"
    return (
        f"Your answer could not be read ({problem}). Answer again, with {wanted}, "
        "in exactly the format the instructions above ask for."
    )


def _unreadable(spec: str, config: JudgeConfig, failures: list[tuple[str, str]]) -> str:
    last_answer, last_problem = failures[-1]
    quoted = " ".join(last_answer.split())
    if len(quoted) > _QUOTE_LENGTH:
        quoted = quoted[: _QUOTE_LENGTH - 3] + "..."
    return (
        f"{config.metric}: judge {spec} gave no readable answer in {len(failures)} attempt(s) "
        f"({last_problem}); its last answer: {quoted!r}"
    )


def _disagreement(case: LabelledCase, result: Verdict | str) -> dict[str, Any]:
    entry: dict[str, Any] = {"output": case.output, "label": "good" if case.good else "bad"}
    if isinstance(result, Verdict):
        entry.update(judged="good" if result.passed else "bad", value=result.value, reasoning=result.reasoning)
    else:
        entry.update(judged=None, error=result)
    return entry
