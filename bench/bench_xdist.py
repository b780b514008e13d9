"""Dataset cases under pytest-xdist: one process vs ``-n 4 --dist loadfile`` vs ``-n 4`` (load).

200 cases in 4 files (50 each), one chat call each, to a scripted OpenAI-compatible server on
127.0.0.1 answering after 300 ms; ``llm_concurrency`` 16. Target: ``-n 4 --dist loadfile`` no
slower than one process (on a machine with a core per worker: each worker is an interpreter
that starts, imports the SDK and makes its calls, CPU time printed beside). The most calls in
flight at once, measured at the server, beside each.

    python bench/bench_xdist.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import InFlight, ScriptedServer  # noqa: E402

SUITE = """
    import pytest

    @pytest.mark.llm_dataset("cases.jsonl")
    def test_reply(case):
        assert case.output
"""
FILES, CASES = 4, 50


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(folder: Path, flags: tuple[str, ...]) -> tuple[float, float, int]:
    in_flight = InFlight(delay=0.3)
    with ScriptedServer(in_flight) as server:
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--llm-record-mode",
            "off",
            "--llm-model",
            "openai:scripted",
            "--llm-openai-base-url",
            server.url,
            *flags,
        ]
        cpu, start = _children_cpu(), time.perf_counter()
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=dict(os.environ))
        wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:])
    return wall, cpu, in_flight.most


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-xdist-") as scratch:
        folder = Path(scratch)
        rows = [{"id": f"q{i:03}", "input": f"Where is my order number {i}?"} for i in range(CASES)]
        (folder / "cases.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        for index in range(FILES):
            (folder / f"test_part{index}.py").write_text(textwrap.dedent(SUITE))
        print(f"{FILES * CASES} cases in {FILES} files, server answering after 300 ms, llm_concurrency 16:")
        for label, flags in (
            ("one process", ()),
            ("-n 4 --dist loadfile", ("-n", "4", "--dist", "loadfile")),
            ("-n 4 (--dist load)", ("-n", "4")),
        ):
            wall, cpu, most = measure(folder, flags)
            print(f"  {label:<24}{wall:7.2f} s wall {cpu:6.2f} s CPU   {most:3} calls in flight at most")


if __name__ == "__main__":
    main()
