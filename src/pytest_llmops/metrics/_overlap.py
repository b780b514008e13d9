"""Overlap with the reference: ROUGE (rouge-score), BLEU, chrF, TER (sacrebleu, sentence level),
and the edit-distance ratio (rapidfuzz).

Scorer objects are built once per option set and reused, so scoring a dataset costs no more
than calling the libraries directly. ROUGE-1/2/L take rouge-score's own tokens and count
n-gram overlaps and the longest common subsequence (rapidfuzz, C++) with rouge-score's
formulas: the same figures, without importing ``rouge_score.rouge_scorer``, whose import of
nltk (and scipy) costs seconds. Stemming and ROUGE-Lsum use rouge-score itself.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping

from rapidfuzz.distance import LCSseq, Levenshtein
from rouge_score import tokenize as rouge_tokenize
from sacrebleu.metrics import BLEU, CHRF, TER

from pytest_llmops.metrics._base import Measurement, MetricError

if TYPE_CHECKING:
    from rouge_score.rouge_scorer import RougeScorer
    from rouge_score.tokenizers import DefaultTokenizer

ROUGE_MEASURES = ("fmeasure", "precision", "recall")


@lru_cache(maxsize=None)
def _rouge_scorer(kind: str, stemmer: bool) -> RougeScorer:
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer([kind], use_stemmer=stemmer)


@lru_cache(maxsize=1)
def _stemming_tokenizer() -> DefaultTokenizer:
    from rouge_score.tokenizers import DefaultTokenizer

    return DefaultTokenizer(use_stemmer=True)


def _tokens(text: str, stemmer: bool) -> list[str]:
    if stemmer:
        return _stemming_tokenizer().tokenize(text)
    return rouge_tokenize.tokenize(text, None)


def _fmeasure(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _rouge_n(target: list[str], prediction: list[str], n: int) -> tuple[float, float]:
    wanted, got = _ngrams(target, n), _ngrams(prediction, n)
    overlap = sum(min(count, got[gram]) for gram, count in wanted.items())
    return overlap / max(sum(got.values()), 1), overlap / max(sum(wanted.values()), 1)


def _rouge_l(target: list[str], prediction: list[str]) -> tuple[float, float]:
    if not target or not prediction:
        return 0.0, 0.0
    lcs = LCSseq.similarity(target, prediction)
    return lcs / len(prediction), lcs / len(target)


def rouge(kind: str) -> Callable[..., Measurement]:
    """The scorer of one ROUGE variant (``rouge1``, ``rouge2``, ``rougeL``, ``rougeLsum``)."""

    def score(output: str, reference: str | None, *, stemmer: bool = False, measure: str = "fmeasure") -> Measurement:
        if kind == "rougeLsum":
            result = _rouge_scorer(kind, stemmer).score(reference or "", output)[kind]
            precision, recall = result.precision, result.recall
        else:
            target, prediction = _tokens(reference or "", stemmer), _tokens(output, stemmer)
            if kind == "rougeL":
                precision, recall = _rouge_l(target, prediction)
            else:
                precision, recall = _rouge_n(target, prediction, int(kind[5:]))
        parts = {"precision": precision, "recall": recall, "fmeasure": _fmeasure(precision, recall)}
        return Measurement(parts[measure], parts)

    score.__name__ = kind
    return score


def check_rouge(options: Mapping[str, Any]) -> None:
    if not isinstance(options["stemmer"], bool):
        raise MetricError(f"option 'stemmer' must be True or False, not {options['stemmer']!r}")
    if options["measure"] not in ROUGE_MEASURES:
        raise MetricError(f"option 'measure' must be one of {', '.join(ROUGE_MEASURES)}, not {options['measure']!r}")


@lru_cache(maxsize=None)
def _bleu(tokenize: str, lowercase: bool, smooth_method: str) -> BLEU:
    return BLEU(tokenize=tokenize, lowercase=lowercase, smooth_method=smooth_method, effective_order=True)


def bleu(output: str, reference: str | None, *, tokenize: str = "13a", lowercase: bool = False, smooth_method: str = "exp") -> Measurement:
    """Sentence BLEU, 0-100, as ``sacrebleu.sentence_bleu`` computes it."""
    result = _bleu(tokenize, lowercase, smooth_method).sentence_score(output, [reference or ""])
    return Measurement(result.score, {"bp": result.bp, "precisions": list(result.precisions),
                                      "output_length": result.sys_len, "reference_length": result.ref_len})


def check_bleu(options: Mapping[str, Any]) -> None:
    try:
        _bleu(options["tokenize"], bool(options["lowercase"]), options["smooth_method"])
    except (KeyError, ValueError, AssertionError, TypeError) as error:
        raise MetricError(f"bad BLEU options {dict(options)!r}: {error!r}") from None


@lru_cache(maxsize=None)
def _chrf(word_order: int, lowercase: bool) -> CHRF:
    return CHRF(word_order=word_order, lowercase=lowercase)


def chrf(output: str, reference: str | None, *, word_order: int = 0, lowercase: bool = False) -> Measurement:
    """Sentence chrF (``word_order=2``: chrF++), 0-100, as ``sacrebleu.sentence_chrf`` computes it."""
    return Measurement(_chrf(word_order, lowercase).sentence_score(output, [reference or ""]).score)


def check_chrf(options: Mapping[str, Any]) -> None:
    word_order = options["word_order"]
    if isinstance(word_order, bool) or not isinstance(word_order, int) or not 0 <= word_order <= 2:
        raise MetricError(f"option 'word_order' must be 0, 1 or 2, not {word_order!r}")


@lru_cache(maxsize=None)
def _ter(case_sensitive: bool, normalized: bool, no_punct: bool) -> TER:
    return TER(case_sensitive=case_sensitive, normalized=normalized, no_punct=no_punct)


def ter(output: str, reference: str | None, *, case_sensitive: bool = False, normalized: bool = False,
        no_punct: bool = False) -> Measurement:
    """Sentence TER, edits per 100 reference words (lower is better), as ``sacrebleu.sentence_ter``."""
    result = _ter(case_sensitive, normalized, no_punct).sentence_score(output, [reference or ""])
    return Measurement(result.score, {"edits": result.num_edits, "reference_length": result.ref_length})


def edit_ratio(output: str, reference: str | None, *, ignore_case: bool = False) -> Measurement:
    """1 - Levenshtein distance / length of the longer text (1.0: identical)."""
    reference = reference or ""
    if ignore_case:
        output, reference = output.casefold(), reference.casefold()
    return Measurement(Levenshtein.normalized_similarity(output, reference),
                       {"distance": Levenshtein.distance(output, reference)})
