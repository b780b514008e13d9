"""Failed attempts and retries per model spec: a scripted server on 127.0.0.1 answers 503
before it answers; the counts reach the terminal, the JSON report and the history, the same
under pytest-xdist, and ``llm_max_error_rate`` gates on them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from servers import ScriptedServer

pytest_plugins = ["pytester"]

SUITE = """
def test_first(llm):
    assert llm.complete("one").text == "fine"

def test_second(llm):
    assert llm.complete("two").text == "fine"
"""


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_failed_attempts_and_retries_are_counted_and_gated(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer], tmp_path: Path, workers: tuple[str, ...]
) -> None:
    pytest.importorskip("sqlalchemy", reason="the [history] extra (sqlalchemy) is a dev dependency")
    server = scripted_server([(503, {"error": {"message": "busy"}}), "fine"], model="app")
    pytester.makepyfile(test_suite=SUITE)
    history = tmp_path / "runs.sqlite"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--llm-model",
        "openai:app",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        "off",
        "--llm-report-json",
        "r.json",
        f"--llm-history={history}",
        "--llm-max-error-rate",
        "0.2",
        *workers,
    )
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "errors: openai:app: 1 of 3 attempts failed (33%) > llm_max_error_rate 20%: FAILED; "
            "1 retried, 0 calls failed after their retries"
        ]
    )
    models = json.loads((pytester.path / "r.json").read_text())["summary"]["models"]
    assert models == {
        "openai:app": {
            "calls": 2,
            "attempts": 3,
            "failed_attempts": 1,
            "retries": 1,
            "failed_calls": 0,
            "error_rate": 1 / 3,
            "over_limit": True,
        }
    }

    from pytest_llmops._history.store import open_store

    store = open_store(str(history), tmp_path)
    [run] = store.last_runs()
    store.close()
    [row] = run.models
    assert (row["attempts"], row["failed_attempts"], row["retries"], row["failed_calls"]) == (3, 1, 1, 0)


def test_a_call_failing_after_its_retries_is_counted(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server([(503, {"error": {"message": "busy"}})], model="app")
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--llm-model",
        "openai:app",
        "--llm-openai-base-url",
        server.url,
        "--llm-record-mode",
        "off",
        "--llm-max-retries",
        "1",
        "-k",
        "first",
    )
    result.assert_outcomes(errors=1, deselected=1)
    result.stdout.fnmatch_lines(
        ["errors: openai:app: 2 of 2 attempts failed (100%); 1 retried, 1 calls failed after their retries"]
    )


def test_a_merge_of_shards_gates_the_error_rate_of_the_whole_run(
    pytester: pytest.Pytester, scripted_server: Callable[..., ScriptedServer]
) -> None:
    """Each shard counts its own attempts; the merge adds them up and gates the sum, as one run
    of the whole suite would have: 1 of 3 attempts failed, over a limit of 30%."""
    server = scripted_server([(503, {"error": {"message": "busy"}}), "fine"], model="app")
    pytester.makepyfile(test_suite=SUITE)
    args = ["-p", "no:cacheprovider", "--llm-model", "openai:app", "--llm-openai-base-url", server.url]
    args += ["--llm-record-mode", "off", "--llm-max-error-rate", "0.3"]
    # test_first is in shard 2 of 3 and meets the 503; test_second, in shard 3, does not.
    exits = {}
    for index in (2, 3, 1):
        result = pytester.runpytest_subprocess(*args, f"--llm-shard={index}/3", "--llm-report-json", f"s{index}.json")
        exits[index] = result.ret
    assert exits[2] == pytest.ExitCode.TESTS_FAILED and exits[3] == pytest.ExitCode.OK  # 50% and 0% alone
    merged = subprocess.run(
        [sys.executable, "-m", "pytest_llmops", "merge", "s1.json", "s2.json", "s3.json", "--json", "run.json"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert merged.returncode == 1, merged.stdout
    assert "errors: openai:app: 1 of 3 attempts failed (33%) > llm_max_error_rate 30%: FAILED" in merged.stdout
    model = json.loads((pytester.path / "run.json").read_text())["summary"]["models"]["openai:app"]
    assert (model["attempts"], model["failed_attempts"], model["over_limit"]) == (3, 1, True)
