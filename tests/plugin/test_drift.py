"""Served-model drift: a scripted OpenAI-compatible server on 127.0.0.1 changes the model it
names (and its ``system_fingerprint``) between runs; the terminal, every report and the gate
say so; recordings whose answer is unchanged keep their files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
from servers import ScriptedServer

pytest_plugins = ["pytester"]

pytest.importorskip("sqlalchemy", reason="the [history] extra (sqlalchemy) is a dev dependency")

SUITE = """
def test_answer(llm):
    assert llm.complete("Where is my order?").text
"""


@pytest.fixture
def server(scripted_server: Callable[..., ScriptedServer], pytester: pytest.Pytester) -> ScriptedServer:
    pytester.makepyfile(test_suite=SUITE)
    return scripted_server(["It ships today."], model="app-2025-01-01", fingerprint="fp_1")


def run(pytester: pytest.Pytester, server: ScriptedServer, *args: str, mode: str = "off") -> pytest.RunResult:
    return pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--llm-model",
        "openai:app",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        mode,
        *args,
    )


def test_a_new_served_model_is_reported_everywhere_and_can_fail_the_run(
    pytester: pytest.Pytester, server: ScriptedServer, tmp_path: Path
) -> None:
    history = (f"--llm-history={tmp_path / 'runs.sqlite'}",)
    for _ in range(2):
        result = run(pytester, server, *history)
        result.assert_outcomes(passed=1)
        assert "SERVED MODEL CHANGED" not in result.stdout.str()

    server.model = "app-2025-06-30"
    reports = ("--llm-report-json", "r.json", "--llm-report-md", "r.md", "--llm-report-html", "r.html")
    result = run(pytester, server, *history, *reports)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK  # reported, not gated, by default
    result.stdout.fnmatch_lines(
        [
            "=*= pytest-llmops =*=",
            "SERVED MODEL CHANGED: openai:app is now served as "
            "app-2025-06-30 (was app-2025-01-01 since run 1, in the history)",
        ]
    )
    [change] = json.loads((pytester.path / "r.json").read_text())["drift"]
    assert change == {
        "spec": "openai:app",
        "kind": "model",
        "now": ["app-2025-06-30"],
        "was": ["app-2025-01-01"],
        "against": "the history",
        "since_run": 1,
        "fails": False,
    }
    assert (
        "> **Served model changed**: openai:app is now served as app-2025-06-30" in (pytester.path / "r.md").read_text()
    )
    assert (
        '<p class="drift" role="alert"><strong>Served model changed:</strong> openai:app is now served as '
        "app-2025-06-30 (was app-2025-01-01 since run 1, in the history)</p>"
    ) in (pytester.path / "r.html").read_text()

    server.fingerprint = "fp_2"
    result = run(pytester, server, *history, "--llm-fail-on-drift", "fingerprint")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "SERVED MODEL CHANGED (fails the run: llm_fail_on_drift): openai:app now answers "
            "with system_fingerprint fp_2 (was fp_1 since run 3, in the history)"
        ]
    )
    assert "is now served as" not in result.stdout.str()  # the model is the same as in run 3
    run(pytester, server, *history, "--llm-fail-on-drift", "model,fingerprint").assert_outcomes(passed=1)


def test_against_the_baseline_without_a_history(pytester: pytest.Pytester, server: ScriptedServer) -> None:
    run(pytester, server, "--llm-report-json", "base.json").assert_outcomes(passed=1)
    server.model = "app-2025-06-30"
    result = run(pytester, server, "--llm-baseline", "base.json", "--llm-fail-on-drift", "model")
    result.stdout.fnmatch_lines(
        [
            "SERVED MODEL CHANGED (fails the run: llm_fail_on_drift): openai:app is now served "
            "as app-2025-06-30 (was app-2025-01-01, in the baseline)"
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_recording_keeps_its_file_when_only_the_served_model_changed(
    pytester: pytest.Pytester, server: ScriptedServer
) -> None:
    run(pytester, server, mode="new").assert_outcomes(passed=1)
    [path] = [p for p in (pytester.path / "llm_recordings").rglob("*.json") if p.name != "_index.json"]
    recorded = path.read_bytes()
    completion = json.loads(recorded)["completion"]
    assert (completion["model"], completion["system_fingerprint"]) == ("app-2025-01-01", "fp_1")

    server.model, server.fingerprint = "app-2025-06-30", "fp_2"
    run(pytester, server, mode="all").assert_outcomes(passed=1)
    assert path.read_bytes() == recorded  # the same answer: the file is as it was

    server.answers = ["It shipped yesterday."]
    run(pytester, server, mode="all").assert_outcomes(passed=1)
    completion = json.loads(path.read_bytes())["completion"]
    assert (completion["text"], completion["model"], completion["system_fingerprint"]) == (
        "It shipped yesterday.",
        "app-2025-06-30",
        "fp_2",
    )
