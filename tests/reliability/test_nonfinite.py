"""NaN and infinite numbers: refused as settings, written as valid JSON, never a pass.

Every numeric field a report writes may be NaN or infinite when a custom metric or backend
says so; no writer crashes, the JSON report stays standard JSON that matches its schema, a
non-finite score fails its check, and no gate comparison (score, cost, latency) lets one pass.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_llmops import settings
from pytest_llmops._cli import main
from pytest_llmops._models import generation
from pytest_llmops._report.baseline import Tolerances, compare
from pytest_llmops._report.data import build_report
from pytest_llmops._report.html import render_html
from pytest_llmops._report.json_report import render_json, validate
from pytest_llmops._report.markdown import render_markdown
from pytest_llmops._report.terminal import render_terminal
from pytest_llmops._results import TestOutcome

pytest_plugins = ["pytester"]

NON_FINITE = ("inf", "-inf", "nan", "Infinity", "NaN")
NUMERIC_OPTIONS = [
    option
    for option in settings.OPTIONS
    if option.parse
    in {
        settings._positive_float,
        settings._non_negative_float,
        settings._positive_int,
        settings._non_negative_int,
        settings._fraction,
    }
    or (getattr(option.parse, "func", None) is generation.from_text and option.parse.args != ("stream",))
]  # a generation setting, read by the table (but the one switch, llm_stream)


@pytest.mark.parametrize("text", NON_FINITE)
@pytest.mark.parametrize("option", NUMERIC_OPTIONS, ids=lambda option: option.name)
def test_every_numeric_setting_refuses_non_finite_values(option: settings.Option, text: str) -> None:
    with pytest.raises(ValueError):
        option.parse(text)


@pytest.mark.parametrize(
    ("option", "line"),
    [
        ("llm_prices", "gpt-x = inf 2"),
        ("llm_prices", "gpt-x = 1 nan"),
        ("llm_max_score_drop_by_metric", "chrf = inf"),
    ],
)
def test_number_lines_refuse_non_finite_values(option: str, line: str) -> None:
    parse = next(o.parse for o in settings.OPTIONS if o.name == option)
    with pytest.raises(ValueError):
        parse(line)


def test_the_numeric_options_are_all_covered() -> None:
    """Every option that takes one number is in NUMERIC_OPTIONS (a new one must be too)."""
    takes_a_number = {
        o.name
        for o in settings.OPTIONS
        if o.name not in ("llm_prices", "llm_max_score_drop_by_metric") and _parses("1", o)
    }
    assert takes_a_number == {o.name for o in NUMERIC_OPTIONS}


def _parses(text: str, option: settings.Option) -> bool:
    try:
        value = option.parse(text)
        return isinstance(value, (int, float)) and not isinstance(value, bool)  # "1" is also "on"
    except ValueError:
        return False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--llm-timeout", "inf"], "*invalid value 'inf' for --llm-timeout: expected a finite number of seconds > 0*"),
        (
            ["--llm-budget-usd", "nan"],
            "*invalid value 'nan' for --llm-budget-usd: expected a finite number of USD > 0*",
        ),
        (["-o", "llm_prices=echo = inf 1"], "*llm_prices in *: expected lines of `model = *` (finite numbers >= 0)*"),
        (["--llm-max-cost-increase", "Infinity"], "*--llm-max-cost-increase: expected a finite number >= 0*"),
    ],
)
def test_a_non_finite_setting_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


# -- reports ------------------------------------------------------------------------------

VALUES = (math.nan, math.inf, -math.inf)


def _call(**numbers: float) -> dict[str, Any]:
    call = {
        "role": "model",
        "model": "m",
        "backend": "echo",
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "latency_s": 0.1,
        "cost_usd": 0.01,
        "cached": False,
        "text": "out",
        "request": {"prompt": "p"},
    }
    return {**call, **numbers}


def _score(value: float = 0.8, threshold: float | None = 0.5, **details: Any) -> dict[str, Any]:
    return {"metric": "m", "value": value, "threshold": threshold, "passed": True, "details": details}


#: Where a non-finite number can come from: a field of a call or of a score.
FIELDS = {
    "score": lambda v: {"scores": [_score(v)], "calls": [_call()]},
    "threshold": lambda v: {"scores": [_score(threshold=v)], "calls": [_call()]},
    "sample values": lambda v: {"scores": [_score(values=[0.8, v])], "calls": [_call()]},
    "latency": lambda v: {"scores": [_score()], "calls": [_call(latency_s=v), _call()]},
    "cost": lambda v: {"scores": [_score()], "calls": [_call(cost_usd=v)]},
    "replayed cost": lambda v: {"scores": [_score()], "calls": [_call(cost_usd=v, cached=True)]},
    "tokens": lambda v: {"scores": [_score()], "calls": [_call(prompt_tokens=v)]},
}


def _report(record: dict[str, Any], budget: float | None = 1.0) -> dict[str, Any]:
    outcomes = [TestOutcome("t.py::broken", record=record), TestOutcome("t.py::fine", record=FIELDS["score"](0.7))]
    return build_report(outcomes, {"model": "m"}, budget)


def _standard_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"bare {name} in the JSON report")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("value", VALUES, ids=str)
@pytest.mark.parametrize("field", FIELDS)
def test_every_writer_takes_a_non_finite_number(field: str, value: float) -> None:
    report = _report(FIELDS[field](value))
    report["baseline"] = compare(_report(FIELDS[field](0.5)), report, Tolerances(0.05, 0.1, 0.1), "base.json")
    written = _standard_json(render_json(report))
    assert validate(written) is None
    assert {"NaN", "Infinity", "-Infinity"} & set(json.dumps(written).replace('"', " ").split())
    assert render_markdown(report) and render_terminal(report)
    assert render_html(report).endswith("</html>")  # (a chart of one finite value is left out)


@pytest.mark.parametrize("value", VALUES, ids=str)
def test_a_non_finite_score_never_counts_as_passed(value: float) -> None:
    test = next(t for t in _report(FIELDS["score"](value))["tests"] if t["nodeid"] == "t.py::broken")
    assert test["scores"][0]["passed"] is False and math.isnan(test["scores"][0]["margin"])


def test_aggregates_do_not_depend_on_where_the_nan_is() -> None:
    first, last = ([_score(v) for v in values] for values in ([math.nan, 0.2, 0.9], [0.2, 0.9, math.nan]))
    for scores in first, last:
        metrics = build_report([TestOutcome("t.py::a", record={"scores": scores})], {})["summary"]["metrics"]["m"]
        assert math.isnan(metrics["min"]) and math.isnan(metrics["max"]) and metrics["non_finite"] == 1


# -- the gate -----------------------------------------------------------------------------


def _gate(baseline_record: dict[str, Any], record: dict[str, Any], **limits: float) -> dict[str, Any]:
    baseline = json.loads(render_json(_report(baseline_record)))  # as read back from the file
    tolerances = Tolerances(0.05, limits.get("cost"), limits.get("latency"))
    return compare(baseline, _report(record), tolerances, "base.json")


#: (field, the limit it needs, what regresses): a cost or latency is never negative, so not -inf.
GATED = [
    ("score", None, "score"),
    ("sample values", None, "score"),
    ("cost", "cost", "cost"),
    ("replayed cost", "cost", "cost"),
    ("latency", "latency", "latency"),
]


@pytest.mark.parametrize(
    ("field", "limit", "what", "value"),
    [(*gated, value) for gated in GATED for value in VALUES if gated[2] == "score" or value > 0 or math.isnan(value)],
)
def test_no_gate_comparison_lets_a_non_finite_value_pass(
    field: str, limit: str | None, what: str, value: float
) -> None:
    limits = {limit: 0.5} if limit else {}
    comparison = _gate(FIELDS[field](0.5), FIELDS[field](value), **limits)
    assert comparison["failed"]
    assert {(r["nodeid"], r["what"]) for r in comparison["regressions"]} >= {("t.py::broken", what)}


@pytest.mark.parametrize("value", VALUES, ids=str)
def test_a_non_finite_baseline_score_is_no_regression_of_a_finite_one(value: float) -> None:
    comparison = _gate(FIELDS["score"](value), FIELDS["score"](0.8))
    assert not comparison["failed"]
    assert [s["status"] for s in comparison["scores"] if s["nodeid"] == "t.py::broken"] == ["improved"]


@pytest.mark.parametrize("spelling", ["NaN", '"NaN"', "Infinity", '"-Infinity"'])
def test_a_baseline_file_with_non_finite_values_is_read_and_gates(pytester: pytest.Pytester, spelling: str) -> None:
    pytester.makepyfile(
        test_gate="""
        from pytest_llmops import Completion, Request
        from pytest_llmops._results import Score

        def test_scored(llm_record):
            llm_record.add_call(Request(), Completion("out", "m", "echo", 1, 1, latency_s=0.1, cost_usd=0.01))
            llm_record.add_score(Score("rougeL", 0.2, 0.1, True))
    """
    )
    args = ("-p", "no:cacheprovider", "--llm-record-mode", "off")
    pytester.runpytest(*args, "--llm-report-json", "base.json").assert_outcomes(passed=1)
    base = Path(pytester.path, "base.json")
    text = re.sub(r'"value":\s*0.2\b', f'"value": {spelling}', base.read_text())
    text, replaced = re.subn(r'"cost_usd":\s*0.01\b', f'"cost_usd": {spelling}', text)
    assert replaced and spelling in text
    base.write_text(text)
    result = pytester.runpytest(
        *args, "--llm-baseline", "base.json", "--llm-max-cost-increase", "0.1", "--llm-report-json", "now.json"
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK  # finite figures now: nothing regressed
    assert validate(_standard_json(Path(pytester.path, "now.json").read_text())) is None


def test_a_custom_metric_returning_nan_or_inf_fails_its_check(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        from pytest_llmops.metrics import Metric

        def pytest_llmops_register_metrics(register):
            register(Metric("broken", lambda output, reference: float(output), threshold=0.5, uses_reference=False))
            register(Metric("broken_low", lambda output, reference: float(output), higher_is_better=False,
                            threshold=0.5, uses_reference=False))
    """)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
        @pytest.mark.parametrize("metric", ["broken", "broken_low"])
        def test_check(golden, metric, value):
            golden.check(value, metric=metric)
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "--llm-report-json", "report.json")
    result.assert_outcomes(failed=6)
    result.stdout.fnmatch_lines(["*golden check 'output' failed: broken nan (needs >= 0.5)*"])
    report = _standard_json(Path(pytester.path, "report.json").read_text())
    assert validate(report) is None
    assert report["summary"]["metrics"]["broken[output]"]["passed"] == 0
    assert report["summary"]["metrics"]["broken_low[output]"]["non_finite"] == 3


def test_validate_report_refuses_bare_nan_literals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "report.json"
    report = _report(FIELDS["score"](math.nan))
    path.write_text(render_json(report))
    assert main(["validate-report", str(path)]) == 0
    path.write_text(json.dumps(report))  # Python's json writes NaN bare
    assert main(["validate-report", str(path)]) == 1
    assert "holds the bare literal NaN" in capsys.readouterr().out
