"""The A/B comparison's statistics, against scipy and hand-computed figures, on report rows."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pytest_llmops._report.comparison import (
    RESAMPLES,
    ComparisonSettings,
    bootstrap_interval,
    compare_variants,
    mcnemar_exact,
)
from pytest_llmops._report.data import build_report
from pytest_llmops._results import TestOutcome

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize(("better", "worse"), [(0, 0), (1, 0), (9, 2), (2, 9), (5, 5), (0, 12), (30, 41)])
def test_mcnemars_exact_test_is_scipys_two_sided_binomial_test(better: int, worse: int) -> None:
    expected = 1.0 if better + worse == 0 else stats.binomtest(better, better + worse, 0.5).pvalue
    assert mcnemar_exact(better, worse) == pytest.approx(expected, rel=1e-12)


def test_the_bootstrap_interval_is_scipys_percentile_interval_within_resampling_noise() -> None:
    noise = random.Random(7)
    differences = [noise.gauss(0.08, 0.1) for _ in range(40)]
    low, high = bootstrap_interval(differences, 0.95, random.Random(1))
    theirs = stats.bootstrap(
        (differences,),
        lambda x: sum(x) / len(x),
        vectorized=False,
        method="percentile",
        n_resamples=RESAMPLES,
        random_state=3,
    ).confidence_interval
    assert low == pytest.approx(theirs.low, abs=0.01) and high == pytest.approx(theirs.high, abs=0.01)
    assert low < sum(differences) / len(differences) < high


def test_the_same_difference_on_every_case_has_no_spread() -> None:
    assert bootstrap_interval([-0.25] * 6, 0.95, random.Random(0)) == (-0.25, -0.25)


def row(nodeid: str, label: str, control: str, outcome: str = "passed", **scores: float) -> TestOutcome:
    return TestOutcome(
        nodeid,
        outcome,
        record={
            "nodeid": nodeid,
            "calls": [{"role": "model", "model": f"echo-{label}", "cost_usd": 0.001 if label == "base" else 0.002}],
            "scores": [{"metric": k, "value": v, "threshold": 0.5, "passed": v >= 0.5} for k, v in scores.items()],
            "prompts": [],
            "extra": {"variant": {"label": label, "control": control}},
        },
    )


def report_of(pairs: list[tuple[dict[str, float], dict[str, float], str, str]], **settings: Any) -> dict[str, Any]:
    """A comparison of ``base`` and ``v2`` over cases given as (base scores, v2 scores, outcomes)."""
    outcomes = []
    for i, (base, v2, base_outcome, v2_outcome) in enumerate(pairs):
        control = f"t.py::test[{i}]"
        outcomes += [
            row(control, "base", control, base_outcome, **base),
            row(f"t.py::test[{i}-v2]", "v2", control, v2_outcome, **v2),
        ]
    tests = build_report(outcomes, {})["tests"]
    comparison = compare_variants(tests, ComparisonSettings(**settings))
    assert comparison is not None
    return comparison


def test_a_variant_worse_on_every_case_is_significant_and_fails_a_gate_on_that_metric() -> None:
    cases = [({"rougeL": 0.8}, {"rougeL": 0.6 - i / 100}, "passed", "failed" if i < 8 else "passed") for i in range(12)]
    comparison = report_of(cases, gate=("rougeL", "passed"))
    control, variant = comparison["variants"]
    assert (control["label"], control["control"], variant["label"]) == ("base", True, "v2")
    metric = variant["paired"]["metrics"]["rougeL"]
    expected = sum(-0.2 - i / 100 for i in range(12)) / 12
    assert metric["mean_difference"] == pytest.approx(expected)
    assert metric["low"] <= expected <= metric["high"] < 0
    assert (metric["better"], metric["worse"], metric["pairs"]) == (0, 12, 12)
    passed = variant["paired"]["passed"]
    assert (passed["better"], passed["worse"]) == (0, 8)
    assert passed["p_value"] == pytest.approx(stats.binomtest(0, 8, 0.5).pvalue)
    assert variant["paired"]["cost_ratio"] == pytest.approx(2.0)
    assert comparison["failed"] and variant["gate"]["failed"]
    assert [reason.split(" ")[0] for reason in variant["gate"]["reasons"]] == ["rougeL", "pass"]
    assert variant["verdict"].startswith(f"v2 vs base: rougeL {expected:+.3g} [")
    assert "0 better / 12 worse; pass 0 better / 8 worse, p = 0.0078; cost x2.00" in variant["verdict"]


def test_a_difference_within_the_noise_is_not_significant_and_passes_the_gate() -> None:
    cases = [({"rougeL": 0.7}, {"rougeL": 0.7 + (0.1 if i % 2 else -0.12)}, "passed", "passed") for i in range(10)]
    comparison = report_of(cases, gate=("rougeL", "passed"))
    metric = comparison["variants"][1]["paired"]["metrics"]["rougeL"]
    assert metric["low"] < 0 < metric["high"] and (metric["better"], metric["worse"]) == (5, 5)
    assert not comparison["failed"] and comparison["variants"][1]["gate"]["reasons"] == []


def test_max_drop_allows_a_small_significant_drop() -> None:
    cases = [({"rougeL": 0.7}, {"rougeL": 0.68}, "passed", "passed") for _ in range(10)]
    assert report_of(cases, gate=("rougeL",))["failed"]
    assert not report_of(cases, gate=("rougeL",), max_drop=0.05)["failed"]


def test_the_figures_repeat_with_the_same_seed_and_move_with_another() -> None:
    cases = [({"m": 0.5}, {"m": 0.5 + random.Random(i).uniform(-0.3, 0.4)}, "passed", "passed") for i in range(15)]

    def interval(seed: int) -> tuple[float, float]:
        metric = report_of(cases, seed=seed)["variants"][1]["paired"]["metrics"]["m"]
        return metric["low"], metric["high"]

    assert interval(3) == interval(3) != interval(4)


def test_only_cases_both_ran_and_decided_are_paired() -> None:
    cases = [({"m": 0.9}, {"m": 0.1}, "passed", "error"), ({"m": 0.9}, {"m": 0.8}, "passed", "passed")]
    comparison = report_of(cases)
    variant = comparison["variants"][1]
    assert variant["paired"]["passed"]["pairs"] == 1
    assert (variant["error"], variant["passed"]) == (1, 1)
    assert len(comparison["cases"]) == 2 and comparison["cases"][0]["cells"] == {
        "base": "t.py::test[0]",
        "v2": "t.py::test[0-v2]",
    }


def test_a_gated_metric_no_pair_scored_fails_rather_than_passing_unseen() -> None:
    comparison = report_of([({"m": 0.9}, {"m": 0.9}, "passed", "passed")], gate=("rougeL",))
    assert comparison["failed"]
    assert comparison["variants"][1]["gate"]["reasons"] == [
        "rougeL: not scored on both sides of any case, so not compared"
    ]


def test_without_the_controls_tests_nothing_is_compared_and_nothing_gated() -> None:
    tests = build_report([row("t.py::test[0-v2]", "v2", "t.py::test[0]", m=0.1)], {})["tests"]
    comparison = compare_variants(tests, ComparisonSettings(gate=("m",)))
    assert comparison is not None and comparison["control"] is None and not comparison["failed"]
    assert comparison["variants"][0]["verdict"] == "v2 vs no control: no case ran in both"


def test_a_run_without_variants_has_no_comparison() -> None:
    tests = build_report([TestOutcome("t.py::test", record={"nodeid": "t.py::test"})], {})["tests"]
    assert compare_variants(tests, ComparisonSettings()) is None
