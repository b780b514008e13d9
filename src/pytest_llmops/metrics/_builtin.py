"""The plugin's own metrics, registered through its own hook like any third party's.

Each scorer lives in a leaf module (``overlap`` imports rouge-score and sacrebleu,
``semantic`` imports torch) that is imported the first time the metric is used.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any, Callable

import pytest

from pytest_llmops._optional import MissingExtraError, import_optional
from pytest_llmops.metrics._base import REQUIRED, Metric, MetricError

RATIO = (0.0, 1.0)
PERCENT = (0.0, 100.0)


class _Leaf:
    """Something a leaf module makes (a scorer, a stateful scorer object), made on first use."""

    def __init__(self, module: str, make: Callable[[ModuleType], Any], extra: str = "") -> None:
        self.module = module
        self.make = make
        self.extra = extra
        self._target: Any = None
        self._lock = threading.Lock()

    @property
    def target(self) -> Any:
        with self._lock:
            if self._target is None:
                self._target = self.make(_import(self.module, self.extra))
            return self._target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    def method(self, name: str) -> Callable[..., Any]:
        return lambda *args, **kwargs: getattr(self.target, name)(*args, **kwargs)


def _import(module: str, extra: str) -> ModuleType:
    try:
        return import_optional(f"pytest_llmops.metrics._{module}", extra)
    except MissingExtraError as error:
        raise MetricError(str(error)) from None


def _leaf(module: str, name: str) -> _Leaf:
    return _Leaf(module, lambda m: getattr(m, name))


def _rouge(kind: str) -> _Leaf:
    return _Leaf("overlap", lambda m: m.rouge(kind))


def builtin_metrics(*, one_thread: bool = False) -> list[Metric]:
    """Fresh descriptors (stateful scorers such as the embedder are per registry, per session).

    ``one_thread``: this process is one of several (a pytest-xdist worker), so the embedding
    model uses one CPU thread.
    """
    rouge_options = {"stemmer": False, "measure": "fmeasure", "tokenizer": "auto"}
    rouge_check = _leaf("overlap", "check_rouge")
    embedder = _Leaf("semantic", lambda m: m.Embedder(one_thread=one_thread), extra="hf")
    refusal_check = _leaf("refusal", "check_phrases")
    retrieval = [
        Metric(
            name,
            _leaf("retrieval", name),
            threshold=default,
            bounds=RATIO,
            uses_reference=False,
            options={"k": None},
            check_options=_leaf("retrieval", "check_k"),
            inputs=("context", "relevant"),
            description=description,
        )
        for name, default, description in (
            ("precision_at_k", 0.5, "share of the top k retrieved chunks that are relevant"),
            ("recall_at_k", 1.0, "share of the relevant chunks among the top k retrieved"),
            ("mrr", 0.5, "reciprocal rank of the first relevant chunk (mean over cases: MRR)"),
            ("ndcg", 0.7, "normalised discounted cumulative gain of the top k (graded relevance)"),
        )
    ]
    rouges = [
        Metric(
            kind,
            _rouge(kind),
            threshold=default,
            bounds=RATIO,
            options=rouge_options,
            check_options=rouge_check,
            description=description,
        )
        for kind, default, description in (
            ("rouge1", 0.5, "ROUGE-1 F-measure (unigram overlap), rouge-score"),
            ("rouge2", 0.3, "ROUGE-2 F-measure (bigram overlap), rouge-score"),
            ("rougeL", 0.5, "ROUGE-L F-measure (longest common subsequence), rouge-score"),
            ("rougeLsum", 0.5, "ROUGE-Lsum F-measure (summary-level LCS, sentences split on newlines)"),
        )
    ]
    return [
        Metric(
            "exact",
            _leaf("lexical", "exact"),
            threshold=1.0,
            bounds=RATIO,
            options={"strip": False},
            empty_reference=True,
            description="1 when the output equals the reference",
        ),
        Metric(
            "normalized",
            _leaf("lexical", "normalized"),
            threshold=1.0,
            bounds=RATIO,
            options={"ignore_case": True, "ignore_whitespace": True, "ignore_punctuation": True},
            empty_reference=True,
            description="1 when equal once case, whitespace and punctuation are ignored",
        ),
        Metric(
            "contains",
            _leaf("lexical", "contains"),
            threshold=1.0,
            bounds=RATIO,
            reference_option="text",
            options={"text": None, "ignore_case": False},
            check_options=_leaf("lexical", "check_texts"),
            description="share of `text` (default: the reference) found in the output",
        ),
        Metric(
            "not_contains",
            _leaf("lexical", "not_contains"),
            threshold=1.0,
            bounds=RATIO,
            uses_reference=False,
            options={"text": REQUIRED, "ignore_case": False},
            check_options=_leaf("lexical", "check_texts"),
            description="share of the forbidden `text` absent from the output",
        ),
        Metric(
            "regex",
            _leaf("lexical", "regex"),
            threshold=1.0,
            bounds=RATIO,
            reference_option="pattern",
            options={"pattern": None, "flags": "", "fullmatch": False},
            check_options=_leaf("lexical", "check_regex"),
            description="1 when `pattern` (default: the reference) matches the output",
        ),
        Metric(
            "json_valid",
            _leaf("structured", "json_valid"),
            threshold=1.0,
            bounds=RATIO,
            uses_reference=False,
            options={"allow_fence": False},
            description="1 when the output is valid JSON",
        ),
        Metric(
            "json_schema",
            _leaf("structured", "json_schema"),
            threshold=1.0,
            bounds=RATIO,
            uses_reference=False,
            options={"schema": REQUIRED, "allow_fence": False},
            check_options=_leaf("structured", "check_schema"),
            description="1 when the output is JSON valid against `schema` (jsonschema)",
        ),
        Metric(
            "json_equal",
            _leaf("structured", "json_equal"),
            threshold=1.0,
            bounds=RATIO,
            options={"fields": None, "allow_fence": False},
            check_options=_leaf("structured", "check_fields"),
            description="share of `fields` (dotted paths; default: the whole document) equal to the reference's",
        ),
        *rouges,
        Metric(
            "bleu",
            _leaf("overlap", "bleu"),
            threshold=30.0,
            bounds=PERCENT,
            options={"tokenize": "auto", "lowercase": False, "smooth_method": "exp"},
            check_options=_leaf("overlap", "check_bleu"),
            description="sentence BLEU 0-100, sacrebleu",
        ),
        Metric(
            "chrf",
            _leaf("overlap", "chrf"),
            threshold=50.0,
            bounds=PERCENT,
            options={"word_order": 0, "lowercase": False},
            check_options=_leaf("overlap", "check_chrf"),
            description="sentence chrF 0-100 (word_order=2: chrF++), sacrebleu",
        ),
        Metric(
            "ter",
            _leaf("overlap", "ter"),
            higher_is_better=False,
            threshold=50.0,
            bounds=(0.0, None),
            options={"case_sensitive": False, "normalized": False, "no_punct": False},
            description="sentence TER, edits per 100 reference words, sacrebleu",
        ),
        Metric(
            "edit_ratio",
            _leaf("overlap", "edit_ratio"),
            threshold=0.8,
            bounds=RATIO,
            options={"ignore_case": False},
            description="1 - Levenshtein distance / longer length, rapidfuzz",
        ),
        Metric(
            "embedding",
            embedder.method("score"),
            threshold=0.7,
            bounds=(-1.0, 1.0),
            options={"model_path": None},
            score_batch=embedder.method("score_batch"),
            description="cosine similarity of all-MiniLM-L6-v2 embeddings",
        ),
        Metric(
            "perplexity",
            _leaf("perplexity", "perplexity"),
            higher_is_better=False,
            threshold=50.0,
            bounds=(1.0, None),
            uses_reference=False,
            options={"model": "local", "context": ""},
            check_options=_leaf("perplexity", "check_context"),
            model_option=True,
            description="perplexity of the output under a local model (`model` spec, default local)",
        ),
        Metric(
            "no_refusal",
            _leaf("refusal", "no_refusal"),
            threshold=1.0,
            bounds=RATIO,
            uses_reference=False,
            options={"phrases": ()},
            check_options=refusal_check,
            description='1 when the output is not a refusal ("As an AI language model...")',
        ),
        Metric(
            "refusal",
            _leaf("refusal", "refusal"),
            threshold=1.0,
            bounds=RATIO,
            uses_reference=False,
            options={"phrases": ()},
            check_options=refusal_check,
            description="1 when the output is a refusal (for tests that expect one)",
        ),
        Metric(
            "no_pii",
            _leaf("pii", "no_pii"),
            threshold=1.0,
            bounds=RATIO,
            uses_reference=False,
            options={"kinds": None, "region": "US"},
            check_options=_leaf("pii", "check_options"),
            description="1 when the output holds no e-mail, phone, card, IBAN, IP address or credential",
        ),
        Metric(
            "citations",
            _leaf("citations", "citations"),
            threshold=1.0,
            bounds=RATIO,
            uses_reference=False,
            options={"pattern": None, "min_words": 5},
            check_options=_leaf("citations", "check_options"),
            inputs=("context",),
            description="share of claims citing retrieved chunks only ([1], [doc-3]), uncited claims failing",
        ),
        *retrieval,
        *_tool_metrics(),
    ]


def _tool_metrics() -> list[Metric]:
    """The tool-call metrics: each takes the run's calls (the ``tool_calls`` input) and what was
    expected, as an option or as a given reference (never a stored one: no text to store)."""
    calls = _leaf("tools", "check_expected_calls")
    return [
        Metric(
            "tool_called",
            _leaf("tools", "tool_called"),
            threshold=1.0,
            bounds=RATIO,
            uses_reference=False,
            options={"tool": None},
            check_options=_leaf("tools", "check_tool"),
            inputs=("tool_calls",),
            description="1 when the tool `tool` (default: the reference) was called",
        ),
        Metric(
            "tool_args",
            _leaf("tools", "tool_args"),
            threshold=1.0,
            bounds=RATIO,
            uses_reference=False,
            options={"tool": None, "schema": None, "expected": None, "unordered": False},
            check_options=_leaf("tools", "check_args_options"),
            inputs=("tool_calls",),
            description="share of checks the arguments of a `tool`'s call pass: `schema`, `expected` values (partial)",
        ),
        Metric(
            "tool_trajectory",
            _leaf("tools", "tool_trajectory"),
            threshold=1.0,
            bounds=RATIO,
            uses_reference=False,
            options={"expected": None, "mode": "exact", "unordered": False},
            check_options=calls,
            inputs=("tool_calls",),
            description="share of the expected calls made in sequence (mode exact, in_order or any_order)",
        ),
        Metric(
            "tool_call_f1",
            _leaf("tools", "tool_call_f1"),
            threshold=1.0,
            bounds=RATIO,
            uses_reference=False,
            options={"expected": None, "unordered": False},
            check_options=calls,
            inputs=("tool_calls",),
            description="F1 of the calls made against the expected calls (any order)",
        ),
    ]


class BuiltinMetrics:
    """The plug-in the session registers: the built-in metrics, told whether this process is
    a pytest-xdist worker."""

    def __init__(self, *, one_thread: bool = False) -> None:
        self.one_thread = one_thread

    @pytest.hookimpl(trylast=True)
    def pytest_llmops_register_metrics(self, register: Callable[[Metric], None]) -> None:
        for metric in builtin_metrics(one_thread=self.one_thread):
            register(metric)
