"""Overlap with the reference: ROUGE (rouge-score), BLEU, chrF, TER (sacrebleu, sentence level),
and the edit-distance ratio (rapidfuzz).

Scorer objects are built once per option set and reused, so scoring a dataset costs no more
than calling the libraries directly. ROUGE-1/2/L take rouge-score's own tokens and count
n-gram overlaps and the longest common subsequence (rapidfuzz, C++) with rouge-score's
formulas: the same figures, without importing ``rouge_score.rouge_scorer``, whose import of
nltk (and scipy) costs seconds. Stemming and ROUGE-Lsum use rouge-score itself.

rouge-score keeps only ``[a-z0-9]``: Chinese, Russian or Arabic text has no tokens at all and
scores 0 even against itself. So ROUGE's ``tokenizer`` option picks: ``rouge_score`` (its own,
exact figures), ``unicode`` (Unicode words; scripts written without spaces, such as Chinese,
Japanese and Thai, one token per character), ``characters`` (every letter or digit a token),
or ``auto``, the default: ``rouge_score`` when both texts are ASCII, ``unicode`` otherwise.
BLEU's default tokenizer (``auto``) and TER split unspaced scripts alike, for the same reason.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping

from rapidfuzz.distance import LCSseq, Levenshtein
from rouge_score import tokenize as rouge_tokenize
from sacrebleu.metrics import BLEU, CHRF, TER

from pytest_llmops.metrics._base import Measurement, MetricError

if TYPE_CHECKING:
    from rouge_score.rouge_scorer import RougeScorer
    from rouge_score.tokenizers import DefaultTokenizer

ROUGE_MEASURES = ("fmeasure", "precision", "recall")
ROUGE_TOKENIZERS = ("auto", "rouge_score", "unicode", "characters")

#: Scripts written without spaces between words (Thai, Lao, Myanmar, Khmer, kana, Han).
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)
#: Han ideographs alone: sacrebleu's ``zh`` tokenizer is made for them.
_NOT_HAN = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\uff66-\uff9f]")


@cache
def _rouge_scorer(kind: str, tokenizer: str, stemmer: bool) -> RougeScorer:
    from rouge_score.rouge_scorer import RougeScorer

    if tokenizer == "rouge_score":
        return RougeScorer([kind], use_stemmer=stemmer)
    return RougeScorer([kind], tokenizer=_unicode_tokenizer(tokenizer, stemmer))


@lru_cache(maxsize=1)
def _stemming_tokenizer() -> DefaultTokenizer:
    from rouge_score.tokenizers import DefaultTokenizer

    return DefaultTokenizer(use_stemmer=True)


def _is_word_part(char: str) -> bool:
    return unicodedata.category(char)[0] in "LMN"


def _words(text: str) -> list[str]:
    """Unicode words (letters, marks and digits), casefolded; unspaced scripts char by char."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(char if _is_word_part(char) else " " for char in text)
    return _spaced(text).split()


def _spaced(text: str) -> str:
    """``text`` with every character of an unspaced script set apart as a word."""
    return _UNSPACED.sub(lambda m: f" {m.group(0)} ", text)


def _characters(text: str) -> list[str]:
    """Every letter or digit a token, with the marks that follow it (a vowel sign, an accent)."""
    tokens: list[str] = []
    for char in unicodedata.normalize("NFKC", text).casefold():
        kind = unicodedata.category(char)[0]
        if kind == "M" and tokens:
            tokens[-1] += char
        elif kind in "LN":
            tokens.append(char)
    return tokens


@lru_cache(maxsize=1)
def _porter_stem() -> Callable[[str], str]:
    from nltk.stem import porter  # what rouge-score stems with

    stem: Callable[[str], str] = porter.PorterStemmer().stem
    return stem


class UnicodeTokenizer:
    """Unicode words for ROUGE (rouge-score's tokenizer interface); ASCII words of more than
    three letters Porter-stemmed with ``stemmer``, as rouge-score stems."""

    def __init__(self, name: str, stemmer: bool) -> None:
        self.split = _characters if name == "characters" else _words
        self.stem = _porter_stem() if stemmer else None

    def tokenize(self, text: str) -> list[str]:
        tokens = self.split(text)
        if self.stem is None:
            return tokens
        return [self.stem(t) if len(t) > 3 and t.isascii() and t.isalpha() else t for t in tokens]


def rouge_tokenizer(option: str, output: str, reference: str) -> str:
    """The tokenizer ``option`` means for this pair: ``auto`` is ``rouge_score`` for ASCII text."""
    if option != "auto":
        return option
    return "rouge_score" if output.isascii() and reference.isascii() else "unicode"


def _tokens(text: str, tokenizer: str, stemmer: bool) -> list[str]:
    if tokenizer != "rouge_score":
        return _unicode_tokenizer(tokenizer, stemmer).tokenize(text)
    if stemmer:
        return _stemming_tokenizer().tokenize(text)
    return rouge_tokenize.tokenize(text, None)


@cache
def _unicode_tokenizer(name: str, stemmer: bool) -> UnicodeTokenizer:
    return UnicodeTokenizer(name, stemmer)


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

    def score(
        output: str, reference: str | None, *, stemmer: bool = False, measure: str = "fmeasure", tokenizer: str = "auto"
    ) -> Measurement:
        reference = reference or ""
        tokenizer = rouge_tokenizer(tokenizer, output, reference)
        if kind == "rougeLsum":
            result = _rouge_scorer(kind, tokenizer, stemmer).score(reference, output)[kind]
            precision, recall = result.precision, result.recall
        else:
            target, prediction = _tokens(reference, tokenizer, stemmer), _tokens(output, tokenizer, stemmer)
            if kind == "rougeL":
                precision, recall = _rouge_l(target, prediction)
            else:
                precision, recall = _rouge_n(target, prediction, int(kind[5:]))
        parts = {"precision": precision, "recall": recall, "fmeasure": _fmeasure(precision, recall)}
        return Measurement(parts[measure], {**parts, "tokenizer": tokenizer})

    score.__name__ = kind
    return score


def check_rouge(options: Mapping[str, Any]) -> None:
    if not isinstance(options["stemmer"], bool):
        raise MetricError(f"option 'stemmer' must be True or False, not {options['stemmer']!r}")
    if options["measure"] not in ROUGE_MEASURES:
        raise MetricError(f"option 'measure' must be one of {', '.join(ROUGE_MEASURES)}, not {options['measure']!r}")
    if options["tokenizer"] not in ROUGE_TOKENIZERS:
        raise MetricError(
            f"option 'tokenizer' must be one of {', '.join(ROUGE_TOKENIZERS)}, not {options['tokenizer']!r}"
        )


@cache
def _bleu(tokenize: str, lowercase: bool, smooth_method: str) -> BLEU:
    return BLEU(tokenize=tokenize, lowercase=lowercase, smooth_method=smooth_method, effective_order=True)


def bleu_tokenizer(option: str, output: str, reference: str) -> str:
    """sacrebleu's tokenizer ``option`` means for this pair: ``auto`` is ``13a`` (sacrebleu's
    default) unless a text has unspaced script: ``zh`` for Han alone, else ``char``."""
    if option != "auto":
        return option
    text = output + reference
    if not _UNSPACED.search(text):
        return "13a"
    return "char" if _NOT_HAN.search(text) else "zh"


def bleu(
    output: str, reference: str | None, *, tokenize: str = "auto", lowercase: bool = False, smooth_method: str = "exp"
) -> Measurement:
    """Sentence BLEU, 0-100, as ``sacrebleu.sentence_bleu`` computes it."""
    reference = reference or ""
    tokenize = bleu_tokenizer(tokenize, output, reference)
    result = _bleu(tokenize, lowercase, smooth_method).sentence_score(output, [reference])
    return Measurement(
        result.score,
        {
            "bp": result.bp,
            "precisions": list(result.precisions),
            "output_length": result.sys_len,
            "reference_length": result.ref_len,
            "tokenize": tokenize,
        },
    )


def check_bleu(options: Mapping[str, Any]) -> None:
    try:
        _bleu(bleu_tokenizer(options["tokenize"], "", ""), bool(options["lowercase"]), options["smooth_method"])
    except (KeyError, ValueError, AssertionError, TypeError) as error:
        raise MetricError(f"bad BLEU options {dict(options)!r}: {error!r}") from None


@cache
def _chrf(word_order: int, lowercase: bool) -> CHRF:
    return CHRF(word_order=word_order, lowercase=lowercase)


def chrf(output: str, reference: str | None, *, word_order: int = 0, lowercase: bool = False) -> Measurement:
    """Sentence chrF (``word_order=2``: chrF++), 0-100, as ``sacrebleu.sentence_chrf`` computes it."""
    return Measurement(_chrf(word_order, lowercase).sentence_score(output, [reference or ""]).score)


def check_chrf(options: Mapping[str, Any]) -> None:
    word_order = options["word_order"]
    if isinstance(word_order, bool) or not isinstance(word_order, int) or not 0 <= word_order <= 2:
        raise MetricError(f"option 'word_order' must be 0, 1 or 2, not {word_order!r}")


@cache
def _ter(case_sensitive: bool, normalized: bool, no_punct: bool) -> TER:
    return TER(case_sensitive=case_sensitive, normalized=normalized, no_punct=no_punct)


def ter(
    output: str,
    reference: str | None,
    *,
    case_sensitive: bool = False,
    normalized: bool = False,
    no_punct: bool = False,
) -> Measurement:
    """Sentence TER, edits per 100 reference words (lower is better), as ``sacrebleu.sentence_ter``;
    in unspaced scripts (Chinese, Japanese, Thai) each character counts as a word."""
    reference = reference or ""
    unspaced = bool(_UNSPACED.search(output + reference))
    if unspaced:
        output, reference = _spaced(output), _spaced(reference)
    result = _ter(case_sensitive, normalized, no_punct).sentence_score(output, [reference])
    return Measurement(
        result.score,
        {
            "edits": result.num_edits,
            "reference_length": result.ref_length,
            "tokenizer": "tercom, unspaced scripts by character" if unspaced else "tercom",
        },
    )


def edit_ratio(output: str, reference: str | None, *, ignore_case: bool = False) -> Measurement:
    """1 - Levenshtein distance / length of the longer text (1.0: identical)."""
    reference = reference or ""
    if ignore_case:
        output, reference = output.casefold(), reference.casefold()
    return Measurement(
        Levenshtein.normalized_similarity(output, reference), {"distance": Levenshtein.distance(output, reference)}
    )
