"""Per-test cost of a dataset suite: ``llm_dataset`` on the ``echo`` backend, each case checked
with a contains and a ROUGE-L assertion (``golden``), vs the same checks made with the plugin's
``score_many`` in a bare parametrized test that uses no plugin fixture.

Both are whole ``pytest`` processes with only pytest-llmops loaded, no report asked for, run
interleaved several times; wall time, CPU time and peak memory (the child's ``ru_maxrss``) are
medians. Targets: the dataset run takes at most 1.15x the bare run's wall time, and holds at most
5 KB per test more than the bare run at its peak.

    python bench/bench_dataset.py [--cases 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import NamedTuple

GOLDEN = 'pytest.mark.golden(metrics={"contains": 1, "rougeL": {"threshold": 0.9, "measure": "recall"}})'

DATASET = f"""
    import pytest

    @{GOLDEN}
    @pytest.mark.llm_dataset("cases.jsonl")
    def test_reply(case, golden):
        golden.check(case.output, reference=case.expected)
"""

BARE = """
    import json, pathlib

    import pytest

    from pytest_llmops.metrics import score_many

    ROWS = [json.loads(line) for line in (pathlib.Path(__file__).parent / "cases.jsonl").read_text().splitlines()]

    @pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
    def test_reply(row):
        output = row["input"]  # what the echo backend answers
        (contains,) = score_many("contains", [output], [row["expected"]])
        (rouge,) = score_many("rougeL", [output], [row["expected"]], measure="recall")
        assert contains.value >= 1 and rouge.value >= 0.9
"""

TARGET_RATIO = 1.15
TARGET_KB_PER_TEST = 5.0


class Figures(NamedTuple):
    wall_s: float
    cpu_s: float
    peak_mb: float


def write_suite(folder: Path, body: str, cases: int) -> Path:
    folder.mkdir()
    rows = [
        {"id": f"q{i:05}", "input": f"Where is my order number {i}?", "expected": f"order number {i}"}
        for i in range(cases)
    ]
    (folder / "cases.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "test_suite.py").write_text(textwrap.dedent(body))
    (folder / "pytest.ini").write_text("[pytest]\n")
    return folder


def pytest_run(folder: Path) -> Figures:
    """One whole ``pytest`` process on ``folder``; its own rusage, so its peak memory is its alone."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "pytest_llmops._plugin.entry",
        "-p",
        "no:cacheprovider",
        "--llm-model",
        "echo",
        "--llm-record-mode",
        "off",
    ]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode caches on, as on a user's machine
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"pytest failed in {folder}:\n{output[-3000:].decode(errors='replace')}")
    return Figures(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)  # ru_maxrss: KB on Linux


def median(runs: list[Figures]) -> Figures:
    return Figures(*(statistics.median(run[i] for run in runs) for i in range(len(Figures._fields))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as tmp:
        bare_folder = write_suite(Path(tmp, "bare"), BARE, options.cases)
        dataset_folder = write_suite(Path(tmp, "dataset"), DATASET, options.cases)
        bare_runs, dataset_runs = [], []
        for _ in range(options.repeats):
            bare_runs.append(pytest_run(bare_folder))
            dataset_runs.append(pytest_run(dataset_folder))
    bare, dataset = median(bare_runs), median(dataset_runs)

    print(
        f"{options.cases} cases, contains + ROUGE-L each, whole pytest process "
        f"(medians of {options.repeats} interleaved runs):"
    )
    print(f"  {'':<34}{'wall':>9}{'CPU':>9}{'peak RSS':>11}")
    for label, figures in (("bare parametrized test (score_many)", bare), ("llm_dataset on echo (golden)", dataset)):
        print(f"  {label:<34}{figures.wall_s:8.2f}s{figures.cpu_s:8.2f}s{figures.peak_mb:8.0f} MB")
    ratio = dataset.wall_s / bare.wall_s
    per_test_ms = (dataset.wall_s - bare.wall_s) / options.cases * 1e3
    per_test_kb = (dataset.peak_mb - bare.peak_mb) * 1024 / options.cases
    print(f"  wall ratio                        {ratio:8.2f}x   (target <= {TARGET_RATIO:.2f}x)")
    print(f"  CPU ratio                         {dataset.cpu_s / bare.cpu_s:8.2f}x")
    print(f"  per dataset test                  {per_test_ms:8.3f} ms over a bare test")
    print(
        f"  peak memory per dataset test      {per_test_kb:8.1f} KB over a bare test   "
        f"(target <= {TARGET_KB_PER_TEST:.0f} KB)"
    )


if __name__ == "__main__":
    main()
