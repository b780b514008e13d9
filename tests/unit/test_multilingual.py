"""Lexical metrics on text that is not English: rouge-score keeps only [a-z0-9], so without
care identical Chinese, Russian or Arabic texts score 0 (and BLEU/TER see a Chinese sentence as
one word). Each pair: a reference and an output differing in one word."""

from __future__ import annotations

import pytest

from pytest_llmops.metrics import score_many

PAIRS = {
    "urdu": ("بلی چٹائی پر بیٹھی ہے۔", "بلی چٹائی پر بیٹھی تھی۔"),
    "vietnamese": ("Con mèo ngồi trên tấm thảm.", "Con mèo đã ngồi trên tấm thảm."),
    "dutch": ("De kat zit op de mat.", "De kat zat op de mat."),
    "chinese": ("今天天气很好，我们去公园散步。", "今天天气不错，我们去公园散步吧。"),
    "russian": ("Кошка сидит на ковре.", "Кошка сидела на ковре."),
    "greek": ("Η γάτα κάθεται στο χαλί.", "Η γάτα καθόταν στο χαλί."),
    "japanese": ("猫はマットの上に座っています。", "猫はマットの上に座っていました。"),
    "arabic": ("القطة تجلس على السجادة.", "القطة جلست على السجادة."),
    "thai": ("แมวนั่งอยู่บนเสื่อ", "แมวนอนอยู่บนเสื่อ"),
    "hindi": ("बिल्ली चटाई पर बैठी है।", "बिल्ली चटाई पर बैठी थी।"),
}
ROUGES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
UNSPACED = {"chinese", "japanese", "thai"}
LATIN = {"vietnamese", "dutch"}


def _one(metric: str, output: str, reference: str, **options: object):  # type: ignore[no-untyped-def]
    return score_many(metric, [output], [reference], **options)[0]


@pytest.mark.parametrize("language", PAIRS)
@pytest.mark.parametrize("metric", ROUGES)
def test_rouge_scores_every_script(metric: str, language: str) -> None:
    output, reference = PAIRS[language]
    same = _one(metric, reference, reference)
    assert same.value == 1.0
    assert same.details["tokenizer"] == ("rouge_score" if reference.isascii() else "unicode")
    close = _one(metric, output, reference)
    assert 0.3 < close.value < 1.0
    if language not in LATIN:  # what rouge-score's own tokenizer makes of it: nothing
        assert _one(metric, reference, reference, tokenizer="rouge_score").value == 0.0


@pytest.mark.parametrize(
    ("text", "tokenizer", "tokens"),
    [
        ("今天天气很好", "unicode", 6),  # Chinese: one token per character
        ("Python 是一种语言", "unicode", 6),  # a Latin word, then five characters
        ("Con mèo ngồi", "unicode", 3),  # Vietnamese words keep their tone marks
        ("बिल्ली बैठी", "unicode", 2),  # Hindi vowel signs stay inside their words
        ("De kat", "characters", 5),
        ("बिल्ली", "characters", 3),  # each consonant with the signs that follow it
    ],
)
def test_the_tokenizers_split_as_documented(text: str, tokenizer: str, tokens: int) -> None:
    from pytest_llmops.metrics._overlap import UnicodeTokenizer

    assert len(UnicodeTokenizer(tokenizer, stemmer=False).tokenize(text)) == tokens
    assert _one("rouge1", text, text, tokenizer=tokenizer).value == 1.0


def test_a_baseline_made_with_another_tokenizer_is_visible() -> None:
    output, reference = PAIRS["vietnamese"]
    by_default = _one("rougeL", output, reference)
    legacy = _one("rougeL", output, reference, tokenizer="rouge_score")
    assert by_default.details["tokenizer"] == "unicode" and legacy.details["tokenizer"] == "rouge_score"
    assert by_default.value != legacy.value


def test_stemming_applies_to_the_english_words_of_unicode_text() -> None:
    stemmed = _one("rouge1", "running Größe", "run Größe", stemmer=True)
    assert stemmed.value == 1.0 and stemmed.details["tokenizer"] == "unicode"
    assert _one("rouge1", "running Größe", "run Größe").value == 0.5


@pytest.mark.parametrize("language", PAIRS)
def test_bleu_chrf_and_ter_score_every_script(language: str) -> None:
    output, reference = PAIRS[language]
    bleu = _one("bleu", output, reference)
    assert 10 < bleu.value < 100
    assert bleu.details["tokenize"] == ({"chinese": "zh"}.get(language, "char") if language in UNSPACED else "13a")
    assert _one("bleu", reference, reference).value == pytest.approx(100.0)
    assert 30 < _one("chrf", output, reference).value < 100
    ter = _one("ter", output, reference)
    assert 0 < ter.value <= 40
    assert ter.details["tokenizer"] == ("tercom, unspaced scripts by character" if language in UNSPACED else "tercom")
    assert _one("ter", reference, reference).value == 0.0


def test_bleu_keeps_a_tokenizer_asked_for_by_name() -> None:
    output, reference = PAIRS["chinese"]
    assert _one("bleu", output, reference, tokenize="13a").details["tokenize"] == "13a"
    assert _one("bleu", output, reference, tokenize="13a").value == 0.0  # the hole "auto" closes
