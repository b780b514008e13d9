"""Replay overhead: 1,000 tests that each replay one recorded chat call vs the same 1,000
tests making no model call, run side by side (interleaved), several repeats, medians.

The calls are recorded once from ``openai:katan-echo`` against a real llm-katan server on
127.0.0.1 (``--record-with echo`` records from the offline echo backend instead); the server
is stopped before the replay runs, so a replayed call cannot reach the network. Target: the
replaying run takes at most 1.10x the bare run's wall time.

    python bench/bench_replay.py [--tests 1000] [--repeats 5] [--record-with katan|echo]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import KatanServer  # noqa: E402

SUITE = """
import pytest

@pytest.mark.parametrize("n", range({tests}))
def test_question(n{fixture}):
    {body}
"""
REPLAYED = "assert llm.complete(f'What is the status of order {n}?').text"
BARE = "assert f'What is the status of order {n}?'"


# Bytecode caches on, as on a user's machine.
ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def write_suite(folder: Path, tests: int) -> None:
    (folder / "test_replayed.py").write_text(SUITE.format(tests=tests, fixture=", llm", body=REPLAYED))
    (folder / "test_bare.py").write_text(SUITE.format(tests=tests, fixture="", body=BARE))
    (folder / "pytest.ini").write_text("[pytest]\n")


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pytest_run(folder: Path, target: str, *args: str) -> tuple[float, float]:
    """Wall and CPU time of one whole ``pytest`` process (start-up, collection, run, teardown)."""
    command = [sys.executable, "-m", "pytest", target, "-q", "-p", "no:cacheprovider", *args]
    cpu, start = _cpu_of_children(), time.perf_counter()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=ENVIRONMENT)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return elapsed, _cpu_of_children() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--record-with", choices=("katan", "echo"), default="katan")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        folder = Path(tmp)
        write_suite(folder, options.tests)
        if options.record_with == "katan":
            server = KatanServer(workdir=folder)
            server.start()
            model = ("--llm-model", "openai:katan-echo", "--llm-openai-base-url", server.url)
            try:
                record_s, _ = pytest_run(folder, "test_replayed.py", *model, "--llm-record-mode", "new")
            finally:
                server.stop()
        else:
            model = ("--llm-model", "echo")
            record_s, _ = pytest_run(folder, "test_replayed.py", *model, "--llm-record-mode", "new")
        recorded = len(list((folder / "llm_recordings").rglob("*.json")))
        print(f"recorded {recorded} calls from {model[1]} in {record_s:.2f}s")

        bare, replayed = [], []
        for _ in range(options.repeats):
            bare.append(pytest_run(folder, "test_bare.py", *model))
            replayed.append(pytest_run(folder, "test_replayed.py", *model, "--llm-record-mode", "replay"))

    print(f"{options.tests} tests, {options.repeats} repeats each, whole pytest process (median):")
    for label, index in (("wall", 0), ("CPU", 1)):
        bare_s = statistics.median(t[index] for t in bare)
        replay_s = statistics.median(t[index] for t in replayed)
        print(f"  {label} time:")
        print(f"    no model call        {bare_s:7.3f}s   runs: {_runs(bare, index)}")
        print(f"    one replayed call    {replay_s:7.3f}s   runs: {_runs(replayed, index)}")
        print(f"    ratio                {replay_s / bare_s:7.3f}x   (target <= 1.10x)")
        best = min(t[index] for t in replayed) / min(t[index] for t in bare)
        print(f"    ratio of the best    {best:7.3f}x   (fastest run of each: least disturbed by other load)")
        print(f"    per replayed test    {(replay_s - bare_s) / options.tests * 1e3:7.3f} ms over a bare test")


def _runs(times: list[tuple[float, float]], index: int) -> str:
    return ", ".join(f"{t[index]:.2f}" for t in times)


if __name__ == "__main__":
    main()
