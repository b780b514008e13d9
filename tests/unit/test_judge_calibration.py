"""Labelled sets for judge calibration: files, labels, agreement and kappa."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmops._judge.calibration import Calibration, CalibrationFileError, as_cases, load_cases


def test_jsonl_yaml_and_json_files_are_read(tmp_path: Path) -> None:
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_text(
        '{"output": "Hi!", "label": "good", "question": "Greet"}\n\n{"output": "Go away", "label": false}\n'
    )
    yaml_file = tmp_path / "cases.yaml"
    yaml_file.write_text("cases:\n  - output: Hi!\n    label: pass\n  - output: Go away\n    label: bad\n")
    json_file = tmp_path / "cases.json"
    json_file.write_text('[{"output": "Hi!", "label": 1}, {"output": "Go away", "label": "no"}]')
    for path in (jsonl, yaml_file, json_file):
        cases = load_cases(path)
        assert [(c.output, c.good) for c in cases] == [("Hi!", True), ("Go away", False)]
    assert load_cases(jsonl)[0].question == "Greet"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.jsonl", '{"output": "x", "label": "good"}\nnot json\n', r"c.jsonl:2: not JSON"),
        ("c.jsonl", '{"output": "x", "label": "maybe"}\n', r"c.jsonl:1: label 'maybe' is neither good nor bad"),
        ("c.jsonl", '{"label": "good"}\n', r"c.jsonl:1: a case needs 'output' and 'label'"),
        ("c.yaml", "output: x\n", r"c.yaml: expected a list of cases"),
        ("c.yaml", "- [unclosed\n", r"c.yaml: cannot parse"),
        ("c.jsonl", "\n", r"c.jsonl holds no cases"),
        ("c.csv", "output,label\n", r"expected .jsonl, .json, .yaml or .yml"),
    ],
)
def test_bad_files_are_named_with_the_case(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CalibrationFileError, match=message):
        load_cases(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CalibrationFileError, match="does not exist"):
        load_cases(tmp_path / "nope.jsonl")


def test_cases_in_code() -> None:
    cases = as_cases([{"output": "a", "label": "good"}], "judge.calibrate()")
    assert cases[0].good
    with pytest.raises(CalibrationFileError, match=r"judge.calibrate\(\) case 1: a case needs"):
        as_cases([{"text": "a"}], "judge.calibrate()")
    with pytest.raises(CalibrationFileError, match=r"judge.calibrate\(\) was given no cases"):
        as_cases([], "judge.calibrate()")


def test_agreement_and_kappa() -> None:
    perfect = Calibration("s", (True, False, True, False), (True, False, True, False), 0.8)
    assert (perfect.agreement, perfect.kappa, perfect.passed) == (1.0, 1.0, True)
    # A judge that calls everything good agrees on half and is no better than chance.
    yes_man = Calibration("s", (True, False, True, False), (True, True, True, True), 0.8)
    assert (yes_man.agreement, yes_man.kappa, yes_man.passed) == (0.5, 0.0, False)
    assert "agreed with 2 of 4 labelled cases in s (agreement 0.50, kappa 0.00; needs 0.80)" in yes_man.summary()


def test_unparsable_answers_count_against_the_judge() -> None:
    calibration = Calibration("s", (True, False), (None, False), 0.5)
    assert calibration.agreed == 1 and calibration.unparsable == 1
    assert calibration.passed
    assert "1 answer(s) could not be parsed" in calibration.summary()
    assert calibration.to_dict()["unparsable"] == 1
