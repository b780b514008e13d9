"""Plugin overhead at collection: `pytest --collect-only -q` with pytest-llmops loaded vs
without it, on 2,000 parametrized tests in ONE module and on 2,000 trivial tests in 20 files,
medians of interleaved runs. Other installed plugins are left out of both runs
(``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``; ours is loaded with ``-p``), so they cannot dilute the
ratio. Target: at most 1.03x.

    python bench/bench_overhead.py [--tests 2000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

TARGET = 1.03
PLUGIN = ("-p", "pytest_llmops._plugin.entry")
PARAMETRIZED = """import pytest


@pytest.mark.parametrize("n", range({count}))
def test_n(n):
    assert n >= 0
"""


def one_module(folder: Path, count: int) -> None:
    (folder / "test_parametrized.py").write_text(PARAMETRIZED.format(count=count))


def many_files(folder: Path, count: int) -> None:
    per_file = 100
    for index in range(count // per_file):
        body = "\n\n".join(f"def test_{index}_{n}():\n    assert True" for n in range(per_file))
        (folder / f"test_trivial_{index}.py").write_text(body + "\n")


SHAPES: dict[str, Callable[[Path, int], None]] = {
    "parametrized tests in one module": one_module,
    "trivial tests in files of 100": many_files,
}


def collect_seconds(folder: Path, *extra: str) -> float:
    environment = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode caches on, as on a user's machine
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *extra],
        cwd=folder,
        check=True,
        stdout=subprocess.DEVNULL,
        env=environment,
    )
    return time.perf_counter() - start


def measure(make_suite: Callable[[Path, int], None], tests: int, repeats: int) -> tuple[float, float]:
    """Median seconds of the collection with the plugin and without it."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_suite(folder, tests)
        collect_seconds(folder, *PLUGIN)  # a first run writes the bytecode caches
        with_plugin, without = [], []
        for _ in range(repeats):  # interleaved, so machine noise hits both alike
            with_plugin.append(collect_seconds(folder, *PLUGIN))
            without.append(collect_seconds(folder))
    return statistics.median(with_plugin), statistics.median(without)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"--collect-only, median of {args.repeats} interleaved runs (target <= {TARGET:.2f}x)")
    for shape, make_suite in SHAPES.items():
        loaded, bare = measure(make_suite, args.tests, args.repeats)
        print(
            f"  {args.tests} {shape}: with pytest-llmops {loaded:.3f} s, without {bare:.3f} s, "
            f"ratio {loaded / bare:.3f}x"
        )


if __name__ == "__main__":
    main()
