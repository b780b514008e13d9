"""How fast a run ends when it is told to stop while model calls hang.

A scripted OpenAI-compatible server on 127.0.0.1 answers case 0 at once and lets every other
call hang for ten minutes. Measured, side by side, with default settings (``llm_timeout`` 60 s):

- ``-x``: 16 dataset cases, all in flight; case 0 fails. Seconds from the failure being
  reported to the process's exit (the floor: the same suite's exit with nothing in flight).
- Ctrl-C: 4 hanging cases; seconds from SIGINT to the process's exit (the floor: a test
  sleeping, no call).

Target: under 2 s for each.

    python bench/bench_stop.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import ScriptedServer  # noqa: E402

SUITE = """
import pytest

@pytest.mark.llm_dataset("cases.jsonl")
def test_case(case):
    assert case.id != "c00"
"""


def _answer(body: dict[str, Any]) -> Any:
    return "at once" if body["messages"][-1]["content"] == "question 0" else ("!hang", 600)


def _project(folder: Path, cases: int) -> None:
    folder.joinpath("test_hang.py").write_text(SUITE)
    rows = [json.dumps({"id": f"c{i:02}", "input": f"question {i}"}) for i in range(cases)]
    folder.joinpath("cases.jsonl").write_text("\n".join(rows) + "\n")


# Plugins of this machine's environment that a user's run would not have (hypothesis imports
# itself at the end of every run: seconds).
UNRELATED = ("-p", "no:hypothesispytest", "-p", "no:randomly", "-p", "no:benchmark", "-p", "no:anyio")


def _command(url: str, *more: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        *UNRELATED,
        "--llm-model",
        "openai:scripted",
        "--llm-openai-base-url",
        url,
        "--llm-record-mode",
        "off",
        *more,
    ]


def exitfirst(url: str, folder: Path, cases: int) -> float:
    """Seconds from the failure's line on the terminal to the process's exit."""
    _project(folder, cases)
    process = subprocess.Popen(
        _command(url, "-x", "--llm-concurrency", "16"),
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    failed_at = None
    for line in process.stdout:
        if failed_at is None and line.startswith("F"):
            failed_at = time.perf_counter()
    process.wait()
    assert failed_at is not None, "the first case did not fail"
    return time.perf_counter() - failed_at


def ctrl_c(url: str, server: ScriptedServer, folder: Path, *, calls: bool = True) -> float:
    """Seconds from SIGINT to the process's exit, with 4 calls hanging (or, for the floor, one
    test sleeping and no call)."""
    _project(folder, 5)
    server.requests.clear()
    selection = ("-k", "not c00") if calls else ("test_sleep.py",)
    folder.joinpath("test_sleep.py").write_text("import time\n\ndef test_sleep():\n    time.sleep(600)\n")
    process = subprocess.Popen(
        _command(url, *selection), cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if calls:
        while len(server.requests) < 4:
            time.sleep(0.02)
    else:
        time.sleep(3)  # started and sleeping in its test
    started = time.perf_counter()
    process.send_signal(signal.SIGINT)
    process.wait()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with ScriptedServer(_answer) as server, tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        figures: dict[str, list[float]] = {
            "-x, 15 calls in flight": [],
            "-x, nothing in flight (floor)": [],
            "Ctrl-C, 4 calls in flight": [],
            "Ctrl-C, no call (floor)": [],
        }
        for _ in range(args.repeat):  # interleaved: the machine's noise hits each alike
            figures["-x, 15 calls in flight"].append(exitfirst(server.url, folder, 16))
            figures["-x, nothing in flight (floor)"].append(exitfirst(server.url, folder, 1))
            figures["Ctrl-C, 4 calls in flight"].append(ctrl_c(server.url, server, folder))
            figures["Ctrl-C, no call (floor)"].append(ctrl_c(server.url, server, folder, calls=False))
    print(f"{'scenario':<32} {'median s':>9} {'max s':>7}   (target < 2 s)")
    for name, values in figures.items():
        print(f"{name:<32} {statistics.median(values):>9.2f} {max(values):>7.2f}")


if __name__ == "__main__":
    main()
