"""An empty reference makes ``contains``, ``regex`` and the overlap metrics meaningless: the
test is an ERROR saying so, whether the reference comes from a case file, the test or a snapshot."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_an_empty_expected_cell_is_an_error_naming_the_case(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".csv",
        **{
            "cases/capitals": (
                "id,input,expected\n"
                "france,The capital of France is Paris.,Paris\n"
                "spain,The capital of Spain is Madrid.,\n"
                'italy,The capital of Italy is Rome.,"  "\n'
            )
        },
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_dataset("cases/capitals.csv")
        @pytest.mark.golden(metric="contains")
        def test_contains(case, golden):
            golden.check(case.output, reference=case.expected)

        @pytest.mark.llm_dataset("cases/capitals.csv")
        @pytest.mark.golden(metric="regex")
        def test_regex(case, golden):
            golden.check(case.output, reference=case.expected)
        """
    )
    result = pytester.runpytest("--llm-model", "echo", "--llm-record-mode", "off")
    result.assert_outcomes(passed=2, errors=4)
    result.stdout.fnmatch_lines_random(
        [
            f"*ERROR*::test_{metric}[[]{case}[]]  metric '{metric}': the reference is empty ({shown}): "
            f"'{metric}' against it would pass*"
            for metric in ("contains", "regex")
            for case, shown in (("spain", "''"), ("italy", "'  '"))
        ]
    )


@pytest.mark.parametrize(
    ("marker", "reference"),
    [
        ('metric="contains"', '""'),
        ('metric="regex"', '"\\n"'),
        ('metric="rougeL", threshold=0.1', '""'),
        ('metrics={"bleu": 0, "chrf": 0}', '" "'),
    ],
)
def test_an_empty_given_reference_is_an_error(pytester: pytest.Pytester, marker: str, reference: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.golden({marker})
        def test_hand_written(golden):
            golden.check("Whatever the model said.", reference={reference})
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*GoldenError: metric '*': the reference is empty*"])


def test_an_empty_stored_reference_is_an_error_naming_its_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.golden(metric="contains")
        def test_stored(golden):
            golden.check("")
        """
    )
    pytester.runpytest("--llm-snapshot-update").assert_outcomes(errors=1)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*GoldenError: metric 'contains' against reference 'output' from __llm_snapshots__/*: the reference is empty*"]
    )


def test_an_empty_reference_is_fine_where_it_means_an_empty_output(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.golden(metric="exact")
        def test_silent(golden):
            golden.check("", reference="")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
