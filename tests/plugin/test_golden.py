"""The `golden` marker and fixture as pytest runs them: scores recorded, failures explained,
references recorded and updated in snapshot files, repeated samples, metric hooks, xdist."""

from __future__ import annotations

import json

import pytest
import sacrebleu
from rouge_score import rouge_scorer

pytest_plugins = ["pytester"]

# Every record as the controller receives it, one JSON line each (under xdist too).
# The controller's copy only: a process is an xdist worker when its config says so (not the
# environment, which an outer run under xdist sets for every inner run too).
RECORDS_CONFTEST = """
import json, pathlib

ON_WORKER = []

def pytest_configure(config):
    ON_WORKER.append(hasattr(config, "workerinput"))

def pytest_runtest_logreport(report):
    record = getattr(report, "llmops_record", None)
    if record is not None and not ON_WORKER[-1]:
        with open(pathlib.Path(__file__).parent / "records.jsonl", "a") as out:
            out.write(json.dumps(record) + "\\n")
"""


def read_records(pytester: pytest.Pytester) -> list[dict]:
    path = pytester.path / "records.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def scores_by_test(pytester: pytest.Pytester) -> dict[str, list[dict]]:
    return {r["nodeid"].split("::")[-1]: r["scores"] for r in read_records(pytester)}


def literal(*lines: str) -> list[str]:
    """``lines`` as fnmatch patterns whose ``[`` is a bracket, not a character class."""
    return [line.replace("[", "[[]") for line in lines]


@pytest.fixture
def records(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECORDS_CONFTEST)


SUMMARY = "The council approved the new budget on Tuesday after a long debate."
REFERENCE = "On Tuesday the council approved the budget after a lengthy debate."


def test_scores_are_recorded_with_the_libraries_figures(pytester: pytest.Pytester, records: None) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        OUT, REF = {SUMMARY!r}, {REFERENCE!r}

        @pytest.mark.golden(metric="rougeL", threshold=0.5)
        def test_one_metric(golden):
            result = golden.check(OUT, reference=REF)
            assert result.passed and result["rougeL"].threshold == 0.5

        @pytest.mark.golden(metrics={{"rouge1": 0.5, "chrf": {{"threshold": 40, "word_order": 2}}, "ter": 60}})
        def test_several(golden):
            golden.check(OUT, reference=REF)

        @pytest.mark.golden(metrics=["no_refusal", "json_valid"])
        def test_default_thresholds(golden):
            golden.check("Sure! Here you go.")

        def test_exact_by_default(golden):
            golden.check("Paris", reference="Paris")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, failed=1)
    scores = scores_by_test(pytester)
    rouge = rouge_scorer.RougeScorer(["rougeL", "rouge1"]).score(REFERENCE, SUMMARY)
    [score] = scores["test_one_metric"]
    assert score == {
        "metric": "rougeL",
        "value": rouge["rougeL"].fmeasure,
        "threshold": 0.5,
        "passed": True,
        "higher_is_better": True,
        "kind": "golden",
        "label": "output",
        "output": SUMMARY,
        "reference": REFERENCE,
        "details": {
            "precision": rouge["rougeL"].precision,
            "recall": rouge["rougeL"].recall,
            "fmeasure": rouge["rougeL"].fmeasure,
            "tokenizer": "rouge_score",
        },
    }
    several = {s["metric"]: s for s in scores["test_several"]}
    assert several["rouge1"]["value"] == rouge["rouge1"].fmeasure
    assert several["chrf"]["value"] == sacrebleu.CHRF(word_order=2).sentence_score(SUMMARY, [REFERENCE]).score
    assert several["ter"]["value"] == sacrebleu.sentence_ter(SUMMARY, [REFERENCE]).score
    assert several["ter"]["higher_is_better"] is False and several["ter"]["threshold"] == 60
    assert [s["passed"] for s in scores["test_several"]] == [True, True, True]
    assert [(s["metric"], s["passed"]) for s in scores["test_default_thresholds"]] == [
        ("no_refusal", True),
        ("json_valid", False),
    ]
    assert scores["test_exact_by_default"][0]["metric"] == "exact"


def test_a_failure_shows_metrics_thresholds_and_a_diff(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.golden(metrics={{"rougeL": 0.9, "ter": 10, "contains": {{"text": ["budget", "mayor"]}}}})
        def test_summary(golden):
            golden.check({SUMMARY!r}, reference={REFERENCE!r})
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        literal(
            "*golden.check(*",
            "E       AssertionError: golden check 'output' failed: rougeL 0.6957 (needs >= 0.9), ter 27.27 (needs <= 10), "
            "contains 0.5 (needs >= 1)",
            "E         rougeL      0.6957  (needs >= 0.9)    FAIL",
            "E                   precision: 0.6667, recall: 0.7273, fmeasure: 0.6957, tokenizer: rouge_score",
            "E         ter          27.27  (needs <= 10)     FAIL",
            "E                   edits: 3, reference_length: 11, tokenizer: tercom",
            "E         contains       0.5  (needs >= 1)      FAIL",
            "E                   missing: ['mayor']",
            "E       output vs the given reference ([-reference only-] {+output only+}):",
            "E         [-On Tuesday the-] {+The+} council approved the {+new+} budget {+on Tuesday+} after a [-lengthy-]",
            "E         {+long+} debate.",
        )
    )


def test_long_outputs_are_trimmed_in_the_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        REF = "\\n".join(f"Step {i}: do thing number {i}." for i in range(300))
        OUT = REF.replace("Step 150:", "Step one hundred fifty:")

        @pytest.mark.golden(metric="exact")
        def test_long(golden):
            golden.check(OUT, reference=REF)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E         --- reference",
            "E         +++ output",
            "E         -Step 150: do thing number 150.",
            "E         +Step one hundred fifty: do thing number 150.",
        ]
    )
    assert len(result.stdout.lines) < 80


def test_missing_reference_update_and_regression(pytester: pytest.Pytester) -> None:
    test_file = pytester.makepyfile(
        test_summary="""
        import pytest

        OUTPUT = "The council approved the budget on Tuesday."

        @pytest.mark.golden(metric="rougeL", threshold=0.8)
        def test_summary(golden):
            golden.check(OUTPUT)
        """
    )
    snapshot = pytester.path / "__llm_snapshots__" / "test_summary.yaml"

    missing = pytester.runpytest()
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(
        [
            "no reference 'output' for this test in __llm_snapshots__/test_summary.yaml.",
            "Record it (then review the file in your PR) with:",
            "    pytest test_summary.py::test_summary --llm-snapshot-update",
        ]
    )
    assert not snapshot.exists()

    recorded = pytester.runpytest("--llm-snapshot-update")
    recorded.assert_outcomes(passed=1)
    assert "output: The council approved the budget on Tuesday." in snapshot.read_text()

    pytester.runpytest().assert_outcomes(passed=1)

    test_file.write_text(test_file.read_text().replace("approved the budget on Tuesday", "rejected the plan"))
    changed = pytester.runpytest()
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(
        literal(
            "E       AssertionError: golden check 'output' failed: rougeL 0.5 (needs >= 0.8)",
            "E       output vs reference 'output' from __llm_snapshots__/test_summary.yaml*",
            "E         The council [-approved-] {+rejected+} the [-budget on Tuesday.-] {+plan.+}",
            "E       if the new output is right, accept it: pytest test_summary.py::test_summary --llm-snapshot-update",
        )
    )
    assert "approved the budget" in snapshot.read_text()

    pytester.runpytest("--llm-snapshot-update").assert_outcomes(passed=1)
    assert "output: The council rejected the plan." in snapshot.read_text()
    pytester.runpytest().assert_outcomes(passed=1)


def test_passing_references_are_kept_in_update_mode_and_unused_ones_reported(pytester: pytest.Pytester) -> None:
    test_file = pytester.makepyfile(
        test_two="""
        import pytest

        @pytest.mark.golden(metric="rougeL", threshold=0.5)
        def test_two(golden):
            golden.check("one two three four", name="first")
            golden.check("five six", name="second")
        """
    )
    snapshot = pytester.path / "__llm_snapshots__" / "test_two.yaml"
    pytester.runpytest("--llm-snapshot-update").assert_outcomes(passed=1)
    assert "first: one two three four" in snapshot.read_text()

    # Close enough to pass: an update keeps the reviewed reference instead of churning it.
    test_file.write_text(test_file.read_text().replace("one two three four", "one two three five"))
    pytester.runpytest("--llm-snapshot-update").assert_outcomes(passed=1)
    assert "first: one two three four" in snapshot.read_text()

    test_file.write_text(test_file.read_text().replace('golden.check("five six", name="second")', "pass"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*unused snapshot entries: 1*", "*test_two.yaml: test_two: reference 'second'*"])


def test_references_from_a_dataset_need_no_snapshot(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        ROWS = [{"input": "capital of France", "expected": "Paris"},
                {"input": "capital of Italy", "expected": "Rome"}]

        @pytest.mark.golden(metric="contains")
        @pytest.mark.parametrize("row", ROWS)
        def test_row(golden, row):
            golden.check(f"The {row['input']} is Paris.", reference=row["expected"])
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*contains * 0 * (needs >= 1) * FAIL", "*missing: [[]'Rome']"])
    assert not (pytester.path / "__llm_snapshots__").exists()


def test_completions_are_scored_by_their_text(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.golden(metric="normalized")
        def test_echo(llm, golden):
            golden.check(llm.complete("Hello,   WORLD!"), reference="hello world")
        """
    )
    pytester.runpytest("--llm-model", "echo").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            'metric="rougeX"',
            "bad @pytest.mark.golden on test_*.py::test_marked: unknown metric 'rougeX' (did you mean 'rougeL'*",
        ),
        ('metric="rougeL", threshold=60', "*invalid threshold 60 for metric 'rougeL': expected a number from 0 to 1*"),
        ('metrics={"chrf": -5}', "*invalid threshold -5 for metric 'chrf': expected a number from 0 to 100*"),
        (
            'metric="rougeL", treshold=0.5',
            "bad arguments to @pytest.mark.golden: got an unexpected keyword argument 'treshold' "
            "(it takes metric, threshold, metrics, options, samples, min_passes, confidence)",
        ),
        ('metric="rougeL", metrics={"chrf": 40}', "*give either metric= (with threshold= and options=) or metrics=*"),
        ('metrics="rougeL"', "*metrics= takes a dict of metric names to thresholds*"),
        ('metric="regex", options={"pattern": "("}', "*bad regular expression '('*"),
        ('metric="rougeL", samples=3, min_passes=4', "*min_passes=4 is more than samples=3*"),
        ("samples=0", "*samples= must be an integer >= 1, not 0*"),
        ('metric="perplexity", options={"model": "nope:x"}', "*metric 'perplexity': unknown model spec 'nope:x'*"),
    ],
)
def test_bad_markers_are_setup_errors_naming_the_test(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.golden({marker})
        def test_marked(golden):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_marked*", message])


def test_misused_checks_are_errors_not_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_unknown_metric(golden):
            golden.check("x", reference="x", metric="blue")

        def test_not_text(golden):
            golden.check(42, reference="42")

        @pytest.mark.golden(metric="rougeL")
        def test_same_reference_twice(golden):
            golden.check("a", reference=None)
            golden.check("b")

        @pytest.mark.golden(metric="json_equal")
        def test_bad_reference(golden):
            golden.check("{}", reference="not json")

        @pytest.mark.golden(metric="perplexity", options={"model": "echo"})
        def test_perplexity_needs_log_likelihoods(golden):
            golden.check("Paris.")
        """
    )
    result = pytester.runpytest("--llm-snapshot-update")
    result.assert_outcomes(errors=5)
    result.stdout.fnmatch_lines_random(
        [
            "*GoldenError: unknown metric 'blue' (did you mean 'bleu'?)*",
            "*GoldenError: the output must be text or a Completion, not int*",
            "*GoldenError: this test already checked its stored reference 'output': give each check its own name=*",
            "*GoldenError: metric 'json_equal': the reference is not valid JSON*",
            "*GoldenError: metric 'perplexity': perplexity needs a model that scores log-likelihoods (local or "
            "hf:<path>); 'echo' does not*",
        ]
    )


def test_repeated_samples_pass_when_k_of_n_pass(pytester: pytest.Pytester, records: None) -> None:
    pytester.makepyfile(
        """
        import pytest

        SAMPLES = ["The capital is Paris.", "Paris is the capital.", "It is Paris.", "I think it is Lyon."]

        @pytest.mark.golden(metric="contains", samples=4, min_passes=3)
        def test_three_of_four(golden):
            result = golden.check_samples(SAMPLES, reference="Paris")
            assert (result.passes, result.min_passes) == (3, 3)

        @pytest.mark.golden(metric="contains", samples=4)
        def test_all_needed(golden):
            golden.check_samples(SAMPLES, reference="Paris")

        @pytest.mark.golden(metric="contains", samples=3)
        def test_wrong_count(golden):
            golden.check_samples(SAMPLES, reference="Paris")

        @pytest.mark.golden(metric="contains", samples=5, min_passes=5)
        def test_with_llm_map(llm, golden):
            golden.check_samples(llm.map(["Paris"] * golden.samples), reference="Paris")
        """
    )
    result = pytester.runpytest("--llm-model", "echo")
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        literal(
            "E       AssertionError: golden samples 'output' failed: 3 of 4 samples passed, 4 needed "
            "(pass rate 75%, 95% Wilson interval 30%-95%)",
            "E         sample  1 ok   contains 1  'The capital is Paris.'",
            "E         sample  4 FAIL contains 0!  'I think it is Lyon.'",
            "E       sample 4:",
            "E         contains         0  (needs >= 1)      FAIL",
            "E                   missing: ['Paris']",
        )
    )
    result.stdout.fnmatch_lines(
        ["*GoldenError: check_samples got 4 outputs; @pytest.mark.golden(samples=3) expects 3*"]
    )
    *samples, rate = scores_by_test(pytester)["test_three_of_four"]
    assert [(s["metric"], s["value"], s["passed"], s["details"]["sample"]) for s in samples] == [
        ("contains", 1.0, True, 1),
        ("contains", 1.0, True, 2),
        ("contains", 1.0, True, 3),
        ("contains", 0.0, False, 4),
    ]
    assert samples[3]["output"] == "I think it is Lyon." and samples[3]["details"]["missing"] == ["Paris"]
    assert (rate["metric"], rate["value"], rate["threshold"], rate["passed"]) == ("samples_passed", 0.75, 0.75, True)
    assert [round(x, 4) for x in rate["details"]["interval"]] == [0.3006, 0.9544]


CONFTEST_METRICS = """
import pytest
from pytest_llmops.metrics import Measurement, Metric


def word_count(output, reference, *, unit="words"):
    count = len(output.split()) if unit == "words" else len(output)
    return Measurement(count, {"unit": unit})


def pytest_llmops_register_metrics(register):
    register(Metric("length", word_count, higher_is_better=False, threshold=5, bounds=(0, None),
                    uses_reference=False, options={"unit": "words"}))
    register(Metric("exact", lambda output, reference: float(output.strip() == reference.strip()), threshold=1.0))
"""


def test_a_conftest_registers_metrics_and_overrides_builtins(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST_METRICS)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.golden(metric="length", threshold=3)
        def test_short(golden):
            golden.check("one two three")

        @pytest.mark.golden(metrics={"length": {"threshold": 10, "unit": "chars"}})
        def test_too_long(golden):
            golden.check("one two three")

        def test_exact_replaced(golden):
            golden.check("  Paris \\n", reference="Paris")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*golden check 'output' failed: length 13 (needs <= 10)*", "*unit: chars*"])


@pytest.mark.slow
def test_under_xdist_references_and_scores_reach_the_controller(pytester: pytest.Pytester, records: None) -> None:
    pytester.makepyfile(
        **{
            f"test_mod{i}": f"""
            import pytest

            @pytest.mark.golden(metrics={{"rougeL": 0.6, "chrf": 40}})
            @pytest.mark.parametrize("n", range(3))
            def test_case(golden, n):
                golden.check(f"answer {i} number {{n}} is fine")
            """
            for i in range(2)
        }
    )
    pytester.runpytest_subprocess("-n", "2", "--llm-snapshot-update").assert_outcomes(passed=6)
    for i in range(2):
        text = (pytester.path / "__llm_snapshots__" / f"test_mod{i}.yaml").read_text()
        assert all(
            f"  test_case[{n}]:\n    references:\n      output: answer {i} number {n} is fine" in text for n in range(3)
        )
    (pytester.path / "records.jsonl").unlink()
    pytester.runpytest_subprocess("-n", "2").assert_outcomes(passed=6)
    records = read_records(pytester)
    assert sorted(r["nodeid"] for r in records) == [
        f"test_mod{i}.py::test_case[{n}]" for i in range(2) for n in range(3)
    ]
    scores = [s for r in records for s in r["scores"]]
    assert {(s["metric"], s["value"], s["passed"]) for s in scores} == {("rougeL", 1.0, True), ("chrf", 100.0, True)}


def test_string_metrics_load_no_heavy_library(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import sys

        def pytest_sessionfinish(session):
            heavy = ["torch", "transformers", "sacrebleu", "rouge_score", "rapidfuzz", "numpy"]
            print("HEAVY:", [m for m in heavy if m in sys.modules])
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.golden(metrics={"exact": 1, "contains": 1, "no_refusal": 1})
        def test_plain(golden):
            golden.check("Paris", reference="Paris")
        """
    )
    result = pytester.runpytest_subprocess("-s", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*HEAVY: []"])


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.golden(metric=None, threshold=None, *, metrics=None, *"])
