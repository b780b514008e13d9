"""Plugin overhead at collection: `pytest --collect-only -q` on 2,000 trivial tests,
with pytest-llmops loaded vs `-p no:llmops`. Target: at most 1.05x.

    python bench/bench_overhead.py [--tests 2000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_suite(folder: Path, count: int) -> None:
    per_file = 100
    for index in range(count // per_file):
        body = "\n\n".join(f"def test_{index}_{n}():\n    assert True" for n in range(per_file))
        (folder / f"test_trivial_{index}.py").write_text(body + "\n")


def collect_seconds(folder: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *extra],
        cwd=folder, check=True, stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_suite(folder, args.tests)
        with_plugin, without = [], []
        for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
            with_plugin.append(collect_seconds(folder))
            without.append(collect_seconds(folder, "-p", "no:llmops"))
    loaded, bare = statistics.median(with_plugin), statistics.median(without)
    print(f"{args.tests} trivial tests, --collect-only, median of {args.repeats} interleaved runs")
    print(f"  with pytest-llmops : {loaded:.3f} s")
    print(f"  -p no:llmops       : {bare:.3f} s")
    print(f"  ratio              : {loaded / bare:.3f}x (target <= 1.05x)")


if __name__ == "__main__":
    main()
