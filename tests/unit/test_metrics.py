"""The metric library, figure by figure against the libraries it wraps (rouge-score, sacrebleu,
rapidfuzz), plus the string, JSON and refusal metrics, thresholds, options and batch scoring."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
import sacrebleu
from rapidfuzz.distance import Levenshtein
from rouge_score import rouge_scorer

from pytest_llmops._golden import wilson_interval
from pytest_llmops._textdiff import diff_lines, shorten, word_diff
from pytest_llmops.metrics import REQUIRED, Measurement, Metric, MetricError, MetricRegistry, score_many

WORDS = "The the cat's dog running runs ran on a mat 12 3.5 river, river. Über naïve -- (x)".split()


def _texts(seed: int, count: int = 300) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)

    def text(fewest: int) -> str:
        lines = [" ".join(rng.choices(WORDS, k=rng.randint(fewest, 14))) for _ in range(rng.randint(1, 3))]
        return "\n".join(lines)

    # An output may be empty; a reference may not (an empty one is an error, tested below).
    return [text(0) for _ in range(count)], [text(1) for _ in range(count)]


@pytest.fixture(scope="module")
def registry() -> MetricRegistry:
    return MetricRegistry.builtin()


@pytest.mark.parametrize("kind", ["rouge1", "rouge2", "rougeL", "rougeLsum"])
@pytest.mark.parametrize("stemmer", [False, True])
def test_rouge_equals_rouge_score(kind: str, stemmer: bool) -> None:
    outputs, references = _texts(1)  # with "Über naïve": rouge-score's tokenizer asked for by name
    scorer = rouge_scorer.RougeScorer([kind], use_stemmer=stemmer)
    expected = [scorer.score(r, o)[kind] for o, r in zip(outputs, references)]
    got = score_many(kind, outputs, references, stemmer=stemmer, tokenizer="rouge_score")
    assert [m.value for m in got] == [e.fmeasure for e in expected]
    assert [m.details["precision"] for m in got] == [e.precision for e in expected]
    recall = score_many(kind, outputs, references, stemmer=stemmer, measure="recall", tokenizer="rouge_score")
    assert [m.value for m in recall] == [e.recall for e in expected]
    ascii_outputs = [o.replace("Über", "Uber").replace("naïve", "naive") for o in outputs]
    ascii_references = [r.replace("Über", "Uber").replace("naïve", "naive") for r in references]
    by_default = score_many(kind, ascii_outputs, ascii_references, stemmer=stemmer)
    assert [m.value for m in by_default] == [
        scorer.score(r, o)[kind].fmeasure for o, r in zip(ascii_outputs, ascii_references)
    ]
    assert {m.details["tokenizer"] for m in by_default} == {"rouge_score"}


def test_rouge_known_value() -> None:
    [score] = score_many("rougeL", ["the cat sat on the mat"], ["a cat was on the mat"])
    assert score.value == pytest.approx(4 / 6)  # LCS "cat on the mat" over 6 and 6 tokens


def test_bleu_chrf_ter_equal_sacrebleu_sentence_scores() -> None:
    outputs, references = _texts(2, count=60)  # sacrebleu's TER is slow
    pairs = list(zip(outputs, references))
    assert [m.value for m in score_many("bleu", outputs, references)] == [
        sacrebleu.sentence_bleu(o, [r]).score for o, r in pairs
    ]
    assert [m.value for m in score_many("chrf", outputs, references)] == [
        sacrebleu.sentence_chrf(o, [r]).score for o, r in pairs
    ]
    assert [m.value for m in score_many("chrf", outputs, references, word_order=2, lowercase=True)] == [
        sacrebleu.CHRF(word_order=2, lowercase=True).sentence_score(o, [r]).score for o, r in pairs
    ]
    assert [m.value for m in score_many("ter", outputs, references)] == [
        sacrebleu.sentence_ter(o, [r]).score for o, r in pairs
    ]
    assert [m.value for m in score_many("bleu", outputs, references, lowercase=True, tokenize="char")] == [
        sacrebleu.sentence_bleu(o, [r], lowercase=True, tokenize="char").score for o, r in pairs
    ]


def test_edit_ratio_equals_rapidfuzz() -> None:
    outputs, references = _texts(3)
    got = score_many("edit_ratio", outputs, references)
    assert [m.value for m in got] == [Levenshtein.normalized_similarity(o, r) for o, r in zip(outputs, references)]
    assert score_many("edit_ratio", ["kitten"], ["sitting"])[0].details == {"distance": 3}
    assert score_many("edit_ratio", ["ABC"], ["abc"], ignore_case=True)[0].value == 1.0


@pytest.mark.parametrize(
    ("metric", "output", "reference", "options", "value"),
    [
        ("exact", "Paris", "Paris", {}, 1.0),
        ("exact", "Paris ", "Paris", {}, 0.0),
        ("exact", "Paris \n", "Paris", {"strip": True}, 1.0),
        ("normalized", "  the CAPITAL is Paris!", "The capital is  Paris", {}, 1.0),
        ("normalized", "\u201cParis\u201d", '"paris"', {}, 1.0),
        ("normalized", "PARIS", "paris", {"ignore_case": False}, 0.0),
        ("normalized", "Paris.", "Paris", {"ignore_punctuation": False}, 0.0),
        ("contains", "The capital is Paris.", "Paris", {}, 1.0),
        ("contains", "The capital is Paris.", None, {"text": ["Paris", "France"]}, 0.5),
        ("contains", "the capital is paris", None, {"text": "PARIS", "ignore_case": True}, 1.0),
        ("not_contains", "The capital is Paris.", None, {"text": ["Berlin", "Rome"]}, 1.0),
        ("not_contains", "Berlin or Paris", None, {"text": ["Berlin", "Rome"]}, 0.5),
        ("regex", "Order #12345 shipped", None, {"pattern": r"#\d{5}\b"}, 1.0),
        ("regex", "Order 12345", r"^\d+$", {}, 0.0),
        ("regex", "ABC", None, {"pattern": "abc", "flags": "i", "fullmatch": True}, 1.0),
        ("json_valid", '{"a": [1, 2]}', None, {}, 1.0),
        ("json_valid", "{'a': 1}", None, {}, 0.0),
        ("json_valid", '```json\n{"a": 1}\n```', None, {"allow_fence": True}, 1.0),
        (
            "json_equal",
            '{"name": "Ada", "age": 36, "x": 1}',
            '{"name": "Ada", "age": 37}',
            {"fields": ["name", "age"]},
            0.5,
        ),
        ("json_equal", '{"a": {"b": [1, {"c": 2}]}}', '{"a": {"b": [0, {"c": 2}]}}', {"fields": ["a.b.1.c"]}, 1.0),
        ("json_equal", '{"a": 1}', '{"a": 1.0}', {}, 1.0),
        ("no_refusal", "Paris is the capital of France.", None, {}, 1.0),
        ("no_refusal", "As an AI language model, I cannot browse.", None, {}, 0.0),
        ("no_refusal", "I\u2019m sorry, but I can\u2019t help with that.", None, {}, 0.0),
        ("no_refusal", "Nope.", None, {"phrases": ["nope"]}, 0.0),
        ("no_refusal", "I can\u2019t   do THAT, sorry.", None, {"phrases": ["I can\u2019t do that"]}, 0.0),
        ("refusal", "I can't help with that request.", None, {}, 1.0),
    ],
)
def test_known_values(
    registry: MetricRegistry, metric: str, output: str, reference: str | None, options: dict, value: float
) -> None:
    check = registry.check(metric, options=options)
    assert check.measure(output, reference).value == value


def test_details_say_what_went_wrong(registry: MetricRegistry) -> None:
    schema = {"type": "object", "required": ["name"], "properties": {"age": {"type": "integer"}}}
    check = registry.check("json_schema", options={"schema": schema})
    assert check.measure('{"age": "old"}', None) == Measurement(
        0.0, {"errors": ["$: 'name' is a required property", "$.age: 'old' is not of type 'integer'"]}
    )
    assert check.measure('{"name": "Ada", "age": 3}', None).value == 1.0
    assert check.measure("not json", None).details["error"].startswith("not valid JSON: Expecting value at line 1")
    equal = registry.check("json_equal", options={"fields": ["name", "tags.0"]})
    assert equal.measure('{"name": "Bob"}', '{"name": "Ada", "tags": ["x"]}').details == {
        "mismatched": {
            "name": {"output": "Bob", "reference": "Ada"},
            "tags.0": {"output": "<missing>", "reference": "x"},
        }
    }
    missing = registry.check("contains", options={"text": ["Paris", "Lyon"]}).measure("Paris", None)
    assert missing.details == {"missing": ["Lyon"]}
    assert registry.check("no_refusal").measure("As an AI language model I can't", None).details == {
        "refusal": "as an ai language model"
    }


def test_direction_aware_thresholds(registry: MetricRegistry) -> None:
    ter = registry.check("ter", 20)
    assert not ter.metric.higher_is_better
    assert ter.passes(10.0) and ter.passes(20.0) and not ter.passes(20.5)
    rouge = registry.check("rougeL", 0.6)
    assert rouge.passes(0.6) and not rouge.passes(0.59)
    assert registry.get("perplexity").higher_is_better is False
    assert registry.check("chrf").threshold == 50.0  # the default
    assert not rouge.passes(float("nan"))


@pytest.mark.parametrize(
    ("name", "threshold", "options", "message"),
    [
        ("rougel", None, None, "unknown metric 'rougel' (did you mean 'rougeL'"),
        ("rougeL", 1.5, None, "invalid threshold 1.5 for metric 'rougeL': expected a number from 0 to 1"),
        ("ter", -1, None, "invalid threshold -1 for metric 'ter': expected a number >= 0"),
        ("chrf", "40", None, "invalid threshold '40' for metric 'chrf'"),
        ("bleu", True, None, "invalid threshold True"),
        ("rougeL", None, {"stem": True}, "metric 'rougeL' has no option 'stem' (options: measure, stemmer, tokenizer)"),
        ("rougeL", None, {"measure": "f1"}, "option 'measure' must be one of fmeasure, precision, recall"),
        (
            "rouge1",
            None,
            {"tokenizer": "words"},
            "option 'tokenizer' must be one of auto, rouge_score, unicode, characters",
        ),
        ("bleu", None, {"tokenize": "nonsense"}, "bad BLEU options"),
        ("not_contains", None, {}, "metric 'not_contains' needs the option 'text'"),
        ("regex", None, {"pattern": "(unclosed"}, "bad regular expression '(unclosed'"),
        ("regex", None, {"flags": "q"}, "unknown regex flag(s) 'q'"),
        ("json_schema", None, {"schema": {"type": "nonsense"}}, "option 'schema' is not a valid JSON Schema"),
        ("json_equal", None, {"fields": "name"}, "option 'fields' must be a non-empty list"),
        ("chrf", None, {"word_order": 3}, "option 'word_order' must be 0, 1 or 2"),
        ("perplexity", None, {"context": 3}, "option 'context' must be a string"),
    ],
)
def test_misuse_is_explained(
    registry: MetricRegistry, name: str, threshold: object, options: dict | None, message: str
) -> None:
    with pytest.raises(MetricError) as error:
        registry.check(name, threshold, options)
    assert message in str(error.value)


def test_reference_needs(registry: MetricRegistry) -> None:
    assert registry.check("rougeL").needs_reference
    assert registry.check("contains").needs_reference
    assert not registry.check("contains", options={"text": "x"}).needs_reference
    assert not registry.check("regex", options={"pattern": "x"}).needs_reference
    assert not registry.check("json_valid").needs_reference
    assert not registry.check("no_refusal").needs_reference


def test_perplexity_outside_pytest_needs_a_backend(registry: MetricRegistry) -> None:
    with pytest.raises(MetricError, match="outside pytest needs a backend object"):
        registry.check("perplexity")

    class Uniform:
        model = "uniform"

        def log_likelihood(self, text: str, context: str = "") -> tuple[float, int]:
            return -2.0 * len(text.split()), len(text.split())

    check = registry.check("perplexity", 10, {"model": Uniform()})
    measured = check.measure("four words right here", None)
    assert measured.value == pytest.approx(7.389056, rel=1e-6)  # exp(2)
    assert measured.details == {"tokens": 4, "log_likelihood": -8.0, "model": "uniform"}


def test_a_registered_metric_and_first_registration_wins() -> None:
    def words(output: str, reference: str | None, *, per: int = 1) -> float:
        return len(output.split()) / per

    def register_all(register) -> None:  # type: ignore[no-untyped-def]
        register(Metric("words", words, higher_is_better=False, threshold=10, uses_reference=False, options={"per": 1}))
        register(Metric("exact", lambda o, r: 0.5, threshold=1.0))
        from pytest_llmops.metrics import _builtin as builtin

        builtin.BuiltinMetrics().pytest_llmops_register_metrics(register)

    registry = MetricRegistry.collect(register_all)
    assert registry.check("words", options={"per": 2}).measure("a b c d", None).value == 2.0
    assert registry.check("exact").measure("x", "x").value == 0.5
    assert "rougeL" in registry.names
    with pytest.raises(MetricError, match="takes a pytest_llmops.metrics.Metric"):
        MetricRegistry.collect(lambda register: register("words"))
    with pytest.raises(MetricError, match="needs the option 'x'"):
        Metric("m", words, options={"x": REQUIRED}).resolve_options({})


def test_score_many_checks_lengths() -> None:
    with pytest.raises(MetricError, match="2 outputs but 1 references"):
        score_many("exact", ["a", "b"], ["a"])


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(8, 10, 0.95)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    low, high = wilson_interval(10, 10, 0.95)
    assert round(low, 4) == 0.7225 and high == 1.0
    assert wilson_interval(0, 5, 0.95)[0] == 0.0


def test_word_diff_folds_unchanged_text() -> None:
    reference = " ".join(f"w{i}" for i in range(40)) + " end"
    output = " ".join(f"w{i}" for i in range(40)) + " finish"
    assert word_diff(reference, output) == "...(34 words)... w34 w35 w36 w37 w38 w39 [-end-] {+finish+}"
    assert word_diff("a b c", "a x c") == "a [-b-] {+x+} c"


def test_diff_lines_trim_long_texts() -> None:
    reference = "\n".join(f"line {i}" for i in range(200))
    output = "\n".join(f"line {i}" if i % 3 else f"changed {i}" for i in range(200))
    lines = diff_lines(reference, output, max_lines=20)
    assert lines[:2] == ["--- reference", "+++ output"]
    assert len(lines) == 21 and lines[-1].startswith("... (") and lines[-1].endswith("more lines)")
    assert diff_lines("same", "same") == []
    assert diff_lines("a  b", "a b")[0] == "(only whitespace differs)"
    assert len(shorten("x" * 500, 80)) <= 80


def test_importing_the_metrics_loads_no_scoring_library() -> None:
    code = (
        "import sys, pytest_llmops.metrics, pytest_llmops._golden\n"
        "from pytest_llmops.metrics import MetricRegistry\n"
        "r = MetricRegistry.builtin(); r.check('contains').measure('abc', 'b'); r.check('json_valid')\n"
        "heavy = ['torch', 'transformers', 'numpy', 'sacrebleu', 'rouge_score', 'rapidfuzz', 'nltk', 'jsonschema',\n"
        "         'phonenumbers']\n"
        "print([m for m in heavy if m in sys.modules])\n"
        "r.check('rougeL').measure('a b', 'a c')\n"
        "print([m for m in ['nltk', 'rouge_score.rouge_scorer', 'torch'] if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # ROUGE-1/2/L without stemming skip rouge_score.rouge_scorer, whose nltk import costs seconds.
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("template", ["{}", "[1, {}]", '{{"score": {}}}', '```json\n{{"a": [{}]}}\n```'])
def test_json_metrics_accept_only_standard_json(registry: MetricRegistry, constant: str, template: str) -> None:
    text = template.format(constant)
    fence = {"allow_fence": True}
    valid = registry.check("json_valid", options=fence).measure(text, None)
    assert valid == Measurement(0.0, {"error": f"not valid JSON: {constant} is not a JSON number"})
    schema = registry.check("json_schema", options={"schema": {}, **fence}).measure(text, None)
    assert schema.value == 0.0 and constant in schema.details["error"]
    assert registry.check("json_equal", options=fence).measure(text, '{"score": 1}').value == 0.0
    with pytest.raises(MetricError, match=f"the reference is not valid JSON: {constant} is not a JSON number"):
        registry.check("json_equal").measure('{"score": 1}', text)
    assert registry.check("json_valid").measure('{"text": "NaN", "n": 1e300}', None).value == 1.0


REFERENCE_METRICS = [
    "contains",
    "regex",
    "json_equal",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "bleu",
    "chrf",
    "ter",
    "edit_ratio",
]


@pytest.mark.parametrize("metric", REFERENCE_METRICS)
@pytest.mark.parametrize("reference", ["", "   ", "\n\t"])
def test_an_empty_reference_is_an_error(registry: MetricRegistry, metric: str, reference: str) -> None:
    check = registry.check(metric, 0)
    with pytest.raises(MetricError, match=r"the reference is empty \(.*\): '\w+' against it would pass or fail"):
        check.measure("any output at all", reference)
    with pytest.raises(MetricError, match="the reference is empty"):
        check.measure_many(["a", "b"], ["fine", reference])
    with pytest.raises(MetricError, match=f"metric '{metric}' needs a reference and was given none"):
        score_many(metric, ["any output"])


@pytest.mark.parametrize("metric", ["exact", "normalized"])
def test_an_empty_reference_means_an_empty_output_where_that_is_meaningful(
    registry: MetricRegistry, metric: str
) -> None:
    check = registry.check(metric)
    assert check.measure("", "").value == 1.0
    assert check.measure("something", "").value == 0.0


@pytest.mark.parametrize(
    ("metric", "options", "message"),
    [
        ("contains", {"text": ""}, "option 'text' must be a non-empty string"),
        ("contains", {"text": ["Paris", " "]}, "option 'text' must be a non-empty string"),
        ("not_contains", {"text": ""}, "option 'text' must be a non-empty string"),
        ("not_contains", {"text": []}, "option 'text' must be a non-empty string"),
        ("regex", {"pattern": ""}, "option 'pattern' must be a non-empty regular expression"),
        ("regex", {"pattern": "  "}, "option 'pattern' must be a non-empty regular expression"),
    ],
)
def test_empty_texts_in_options_are_refused(registry: MetricRegistry, metric: str, options: dict, message: str) -> None:
    with pytest.raises(MetricError, match=message):
        registry.check(metric, options=options)


def test_options_standing_in_for_the_reference_need_none(registry: MetricRegistry) -> None:
    assert registry.check("contains", options={"text": "Paris"}).measure("Paris", "").value == 1.0
    assert registry.check("regex", options={"pattern": "P"}).measure("Paris", None).value == 1.0
