"""The report's data, baseline rule and renderers, checked by value on hand-made outcomes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from html_check import LiveElements

from pytest_llmops._calls.budget import Budget
from pytest_llmops._report.baseline import Tolerances, compare, gate_lines
from pytest_llmops._report.data import build_report, percentile
from pytest_llmops._report.html import render_html, word_diff
from pytest_llmops._report.json_report import validate
from pytest_llmops._report.markdown import cell, render_markdown
from pytest_llmops._report.terminal import render_terminal
from pytest_llmops._results import TestOutcome
from pytest_llmops.errors import BudgetExceeded

RUN = {"model": "echo", "record_mode": "off", "created": "2024-01-01T00:00:00+00:00"}


def call(
    latency: float,
    cost: float,
    *,
    cached: bool = False,
    role: str = "model",
    text: str = "answer",
    prompt: str = "question",
) -> dict[str, Any]:
    return {
        "text": text,
        "model": "judge-m" if role == "judge" else "m",
        "backend": "echo",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "latency_s": latency,
        "cost_usd": cost,
        "cached": cached,
        "finish_reason": "stop",
        "prompt_versions": [],
        "role": role,
        "request": {"messages": [{"role": "user", "content": prompt}], "settings": {}},
    }


def score(metric: str, value: float, threshold: float | None = 0.5, **more: Any) -> dict[str, Any]:
    passed = threshold is None or value >= threshold
    return {"metric": metric, "value": value, "threshold": threshold, "passed": passed, **more}


def outcome(
    nodeid: str,
    result: str = "passed",
    calls: list[dict[str, Any]] = (),
    scores: list[dict[str, Any]] = (),
    error: str | None = None,
    prompts: list[dict[str, Any]] = (),
) -> TestOutcome:
    record = {"nodeid": nodeid, "calls": list(calls), "scores": list(scores), "prompts": list(prompts), "extra": {}}
    return TestOutcome(nodeid, result, 0.1, error, record)


def sample_report() -> dict[str, Any]:
    return build_report(
        [
            outcome("t.py::b", calls=[call(0.1, 0.01), call(0.3, 0.02, cached=True)], scores=[score("rougeL", 0.8)]),
            outcome(
                "t.py::a",
                "failed",
                calls=[call(0.2, 0.04), call(9.0, 0.5, role="judge")],
                scores=[score("rougeL", 0.4), score("judge", 0.9, details={"reasoning": "fine"})],
            ),
            outcome("t.py::c", "error", error="ModelCallError: server down"),
            TestOutcome("t.py::d", "skipped"),
        ],
        RUN,
        budget_usd=1.0,
    )


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == pytest.approx(4.8)
    assert percentile([7.0], 0.95) == 7.0


def test_aggregates_by_value() -> None:
    report = sample_report()
    summary = report["summary"]
    assert [t["nodeid"] for t in report["tests"]] == ["t.py::a", "t.py::b", "t.py::c", "t.py::d"]
    assert summary["tests"] == {
        "total": 4,
        "passed": 1,
        "failed": 1,
        "error": 1,
        "skipped": 1,
        "xfailed": 0,
        "with_model": 2,
    }
    assert summary["calls"] == {"total": 4, "live": 3, "cached": 1, "model": 3, "judge": 1}
    assert summary["tokens"] == {"prompt": 40, "completion": 20, "total": 60}
    assert summary["cost_usd"]["live"] == pytest.approx(0.55)
    assert summary["cost_usd"]["saved"] == pytest.approx(0.02)
    # Judge calls are not the application's latency, and a replayed one (0.3) is kept apart: 0.1, 0.2 live.
    assert summary["latency_s"]["p50"] == pytest.approx(0.15)
    assert summary["latency_s"]["p95"] == pytest.approx(0.195)
    assert summary["latency_s"]["max"] == pytest.approx(0.2)
    assert summary["replayed_latency_s"] == {"count": 1, "mean": 0.3, "p50": 0.3, "p95": 0.3, "max": 0.3}
    assert summary["metrics"]["rougeL"] == {
        "count": 2,
        "passed": 1,
        "pass_rate": 0.5,
        "mean": pytest.approx(0.6),
        "min": 0.4,
        "max": 0.8,
        "higher_is_better": True,
        "non_finite": 0,
        "range": [0.0, 1.0],
    }
    assert summary["budget"] == {"limit_usd": 1.0, "spent_usd": pytest.approx(0.55), "refused_tests": []}
    assert [(w["nodeid"], w["reason"]) for w in summary["worst_tests"]] == [
        ("t.py::c", "ModelCallError: server down"),
        ("t.py::a", "rougeL 0.4 < 0.5"),
    ]  # b passed with every score above its threshold: nothing to look at
    row = report["tests"][0]
    assert row["models"] == ["m"] and row["judge_models"] == ["judge-m"]
    assert row["totals"]["cost_usd"] == pytest.approx(0.54)


def test_worst_tests_show_the_first_line_of_an_error_that_explains_itself_over_several() -> None:
    miss = "ModelCallError: no recording of this call\nwhat changed: temperature 0.0 -> 0.5\n(see the command)"
    report = build_report([outcome("t.py::m", "error", error=miss)], RUN)
    assert report["summary"]["worst_tests"][0]["reason"] == "ModelCallError: no recording of this call"
    assert report["tests"][0]["error"] == miss  # the test's row keeps all of it


def test_report_matches_its_schema() -> None:
    report = sample_report()
    assert validate(report) is None
    report["summary"]["tests"]["passed"] = -1
    assert "summary/tests/passed" in validate(report)


def test_prompt_drift_marks_the_test() -> None:
    drifted = {"name": "summarize", "hash": "b" * 64, "snapshot": "changed", "changed_from": {"hash": "a" * 64}}
    report = build_report(
        [outcome("t.py::a", prompts=[drifted]), outcome("t.py::b", prompts=[{"name": "x", "hash": "c"}])], RUN
    )
    assert report["summary"]["prompts_changed"] == ["t.py::a"]
    assert [t["prompts_changed"] for t in report["tests"]] == [True, False]


def scored(nodeid: str, *values: float, cost: float = 0.01, latency: float = 0.1, prompt: str = "q") -> TestOutcome:
    return outcome(nodeid, calls=[call(latency, cost, prompt=prompt)], scores=[score("rougeL", v) for v in values])


def test_baseline_single_samples_use_the_tolerance() -> None:
    before = build_report([scored("t::a", 0.90), scored("t::b", 0.90), scored("t::gone", 0.5)], RUN)
    after = build_report([scored("t::a", 0.80), scored("t::b", 0.97), scored("t::new", 0.5)], RUN)
    comparison = compare(before, after, Tolerances(max_score_drop=0.05), "base.json")
    assert [(s["nodeid"], s["status"]) for s in comparison["scores"]] == [("t::a", "regressed"), ("t::b", "improved")]
    assert comparison["new_tests"] == ["t::new"] and comparison["removed_tests"] == ["t::gone"]
    assert comparison["failed"] is True
    assert gate_lines(comparison) == ["t::a: rougeL 0.9 -> 0.8 (-0.1; allowed 0.05)"]
    assert compare(before, after, Tolerances(max_score_drop=0.2), "base.json")["failed"] is False


def test_baseline_tolerance_per_metric_key_then_metric_name() -> None:
    def chrf_and_rouge(nodeid: str, chrf: float, summary: float, title: float) -> TestOutcome:
        return outcome(
            nodeid,
            scores=[
                score("chrf", chrf, 40.0),
                score("rougeL", summary, label="summary"),
                score("rougeL", title, label="title"),
            ],
        )

    before = build_report([chrf_and_rouge("t::a", 61.0, 0.80, 0.80)], RUN)
    after = build_report([chrf_and_rouge("t::a", 59.5, 0.72, 0.72)], RUN)  # -1.5 chrF, -0.08 each rougeL
    flat = compare(before, after, Tolerances(max_score_drop=0.05), "b")
    assert [s["status"] for s in flat["scores"]] == ["regressed"] * 3
    by_metric = {"chrf": 2.0, "rougeL": 0.01, "rougeL[summary]": 0.1}
    scaled = compare(before, after, Tolerances(max_score_drop=0.05, max_score_drop_by_metric=by_metric), "b")
    assert [(s["key"], s["allowed_drop"], s["status"]) for s in scaled["scores"]] == [
        ("chrf", 2.0, "unchanged"),
        ("rougeL[summary]", 0.1, "unchanged"),
        ("rougeL[title]", 0.01, "regressed"),
    ]
    assert gate_lines(scaled) == ["t::a: rougeL[title] 0.8 -> 0.72 (-0.08; allowed 0.01)"]
    assert scaled["tolerances"]["max_score_drop_by_metric"] == {"chrf": 2.0, "rougeL": 0.01, "rougeL[summary]": 0.1}


def test_baseline_drop_within_the_samples_noise_passes() -> None:
    before = build_report([scored("t::a", 0.9, 0.5, 0.9, 0.5)], RUN)  # mean 0.7, noisy
    noisy = build_report([scored("t::a", 0.8, 0.4, 0.8, 0.4)], RUN)  # mean 0.6: -0.1, stderr ~0.16
    steady = build_report([scored("t::a", 0.6, 0.6, 0.6, 0.6)], RUN)
    steady_before = build_report([scored("t::a", 0.7, 0.7, 0.7, 0.7)], RUN)
    within = compare(before, noisy, Tolerances(max_score_drop=0.05), "b")
    assert within["scores"][0]["status"] == "unchanged" and not within["failed"]
    assert within["scores"][0]["stderr"] == pytest.approx(0.1633, abs=1e-4)
    beyond = compare(steady_before, steady, Tolerances(max_score_drop=0.05), "b")
    assert beyond["scores"][0]["status"] == "regressed"


def test_baseline_reads_the_samples_of_a_sampled_score() -> None:
    def sampled(*values: float) -> TestOutcome:
        mean = sum(values) / len(values)
        return outcome("t::a", scores=[score("rougeL", mean, details={"values": list(values)})])

    within = compare(
        build_report([sampled(0.9, 0.5, 0.9, 0.5)], RUN),
        build_report([sampled(0.8, 0.4, 0.8, 0.4)], RUN),
        Tolerances(),
        "b",
    )
    assert within["scores"][0]["baseline"]["n"] == 4 and within["scores"][0]["status"] == "unchanged"


def test_baseline_lower_is_better_metrics_flip_the_sign() -> None:
    def ter(value: float) -> TestOutcome:
        return outcome("t::a", scores=[score("ter", value, None, higher_is_better=False)])

    comparison = compare(build_report([ter(0.2)], RUN), build_report([ter(0.5)], RUN), Tolerances(), "b")
    assert comparison["scores"][0]["status"] == "regressed"


def test_baseline_cost_and_latency_gates_name_the_tests() -> None:
    before = build_report([scored("t::a", 0.9, cost=0.01, latency=1.0), scored("t::b", 0.9, cost=0.01)], RUN)
    after = build_report([scored("t::a", 0.9, cost=0.03, latency=3.0), scored("t::b", 0.9, cost=0.01)], RUN)
    loose = compare(before, after, Tolerances(max_cost_increase=2.0, max_latency_increase=3.0), "b")
    assert not loose["failed"]
    tight = compare(before, after, Tolerances(max_cost_increase=0.5, max_latency_increase=0.5), "b")
    assert tight["failed"] and tight["cost"]["relative"] == pytest.approx(1.0)
    assert [(r["nodeid"], r["what"]) for r in tight["regressions"]] == [("t::a", "cost"), ("t::a", "latency")]
    assert gate_lines(tight)[:2] == [
        "cost of the calls $0.02 -> $0.04 (allowed +50%)",
        "p95 latency 0.955s -> 2.85s (allowed +50%)",
    ]


def test_baseline_shows_changed_prompts() -> None:
    before = build_report([scored("t::a", 0.9, prompt="Summarize: x")], RUN)
    after = build_report([scored("t::a", 0.9, prompt="Summarise briefly: x")], RUN)
    changes = compare(before, after, Tolerances(), "b")["prompt_changes"]
    assert changes == [
        {"nodeid": "t::a", "call": 0, "baseline": "user: Summarize: x", "current": "user: Summarise briefly: x"}
    ]


def test_word_diff() -> None:
    assert word_diff("the cat sat", "the dog sat") == [
        ("equal", "the "),
        ("delete", "cat"),
        ("insert", "dog"),
        ("equal", " sat"),
    ]
    assert word_diff("Please tell the customer now.", "Please ask a client now.") == [
        ("equal", "Please "),
        ("delete", "tell the customer"),
        ("insert", "ask a client"),
        ("equal", " now."),
    ]


def test_markdown_cells_cannot_break_the_table() -> None:
    assert cell("a|b\n<script>") == r"a\|b &lt;script&gt;"
    text = render_markdown(sample_report())
    assert "| t.py::a | failed | rougeL 0.4 &lt; 0.5 |" in text.replace("\\_", "_")


def test_markdown_lists_each_changed_prompt_with_its_tests() -> None:
    changed = {"name": "reply|<b>@you", "version": "2", "hash": "ab" * 32, "snapshot": "changed"}
    unversioned = {"name": "tone", "version": None, "hash": "cd" * 32, "changed_from": {"hash": "ef" * 32}}
    same = {"name": "intro", "version": "1", "hash": "01" * 32, "snapshot": "same"}
    report = build_report(
        [
            outcome("t::a", prompts=[changed, same]),
            outcome("t::b", prompts=[changed, unversioned]),
            outcome("t::c", prompts=[same]),
        ],
        RUN,
    )
    text = render_markdown(report)
    assert (
        "### Changed prompts\n\n| prompt | version | hash | tests |\n|---|---|---|---|\n"
        "| reply\\|&lt;b&gt;@\u2060you | 2 | abababab | 2 |\n| tone |  | cdcdcdcd | 1 |\n"
    ) in text
    assert "intro" not in text
    assert "Changed prompts" not in render_markdown(sample_report())


def test_charts_use_each_metrics_range_and_leave_out_single_values() -> None:
    from pytest_llmops._report.html import charts

    report = build_report(
        [
            outcome(
                f"t::{i}",
                calls=[call(0.1 * (i + 1), 0.01)],
                scores=[score("chrf", value, 50.0), score("rougeL", value / 100), score("judge", 0.9)]
                if i
                else [score("chrf", value, 50.0), score("rougeL", value / 100)],
            )
            for i, value in enumerate([12.5, 22.5, math.nan])
        ],
        RUN,
        metric_range=lambda name: {"chrf": (0.0, 100.0)}.get(name, (0.0, 1.0)),
    )
    assert report["summary"]["metrics"]["chrf"]["range"] == [0.0, 100.0]
    assert report["summary"]["metrics"]["judge"]["range"] == [0.0, 1.0]
    drawn = charts(report)
    assert [(c["key"], c["low"], c["high"], c["left_out"]) for c in drawn["scores"]] == [
        ("chrf", "0", "100", 1),
        ("rougeL", "0", "1", 1),
    ]  # NaN has no bin
    assert drawn["latency"] is not None
    single = charts(build_report([outcome("t::a", calls=[call(0.1, 0.01)], scores=[score("chrf", 20.0)])], RUN))
    assert single == {"scores": [], "latency": None, "cost": None}
    same = charts(
        build_report(
            [outcome(f"t::{i}", calls=[call(0.1, 0.0)], scores=[score("embedding", 1.0 - i * 1e-8)]) for i in range(3)],
            RUN,
        )
    )
    assert same == {"scores": [], "latency": None, "cost": None}  # one value each (as shown), three times


def test_the_html_report_lists_ten_regressions_and_folds_the_rest() -> None:
    before = build_report([scored(f"t::{i:02d}", 0.9) for i in range(12)], RUN)
    after = build_report([scored(f"t::{i:02d}", 0.5) for i in range(12)], RUN)
    after["baseline"] = compare(before, after, Tolerances(max_score_drop=0.05), "base.json")
    listed, _, folded = render_html(after).partition("<details><summary>2 more regressions</summary>")
    assert listed.count('<li class="status-regressed">') == 10 and "t::09" in listed and "t::10" not in listed
    assert folded.count('<li class="status-regressed">') == 2 and "t::10" in folded and "t::11" in folded


def test_terminal_lines() -> None:
    lines = render_terminal(sample_report())
    assert lines[0] == "tests: 4 (1 passed, 1 failed, 1 error, 1 skipped); 2 called a model"
    assert "cost: $0.5500 live, $0.0200 saved by replay" in lines
    assert "budget: $0.5500 of $1.0000 spent" in lines


def hostile_report() -> dict[str, Any]:
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>'
    return build_report(
        [
            outcome(
                f"t.py::test[{evil}]",
                "failed",
                calls=[call(0.1, 0.0, text=evil, prompt=evil)],
                scores=[score("judge", 0.1, output=evil, reference="fine " + evil, details={"reasoning": evil})],
                prompts=[{"name": evil, "hash": "h", "snapshot": "changed", "text": evil, "snapshot_text": "x"}],
                error=evil,
            )
        ],
        {**RUN, "model": evil},
    )


def test_html_keeps_model_text_inert() -> None:
    page = render_html(hostile_report())
    LiveElements(page).assert_inert()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_budget_reservations_are_shared_through_its_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "budget.ledger"
    ledger.touch()
    here, elsewhere = Budget(0.05, ledger), Budget(0.05, ledger)  # two processes of one run
    first = here.reserve(0.03)
    with pytest.raises(
        BudgetExceeded, match=r"may cost up to \$0.03, and \$0.03 of the \$0.05 .* reserved; it was refused"
    ):
        elsewhere.reserve(0.03)  # the first call's reservation counts while it is in flight
    here.settle(first, 0.01)  # it cost less than its bound: the rest is free again
    elsewhere.settle(elsewhere.reserve(0.04), 0.04)
    assert here.spent() == elsewhere.spent() == pytest.approx(0.05)
    with pytest.raises(BudgetExceeded):
        here.reserve(0.001)
    assert here.reserve(0.0) == 0.0  # a free call never needs the budget


def test_a_failed_call_gives_its_reservation_back(tmp_path: Path) -> None:
    budget = Budget(1.0, tmp_path / "budget.ledger")
    budget.settle(budget.reserve(0.9), 0.0)
    assert budget.spent() == 0.0
    budget.reserve(0.9)


def test_a_scores_dict_is_its_own_copy_of_nested_details() -> None:
    from pytest_llmops._results import Score

    votes = [{"score": 4}, {"score": 5}]
    score = Score("judge", 0.9, 0.5, True, details={"reasoning": "fine", "votes": votes, "n": 2, "mean": 4.5})
    data = score.to_dict()
    assert data["details"] == {"reasoning": "fine", "votes": votes, "n": 2, "mean": 4.5}
    assert data["details"] is not score.details and data["details"]["votes"] is not votes
    votes[0]["score"] = 1  # a later change to what the scorer holds does not reach the record
    assert data["details"]["votes"][0] == {"score": 4}
