"""Plugin import cost over ``import pytest``: what ``import pytest_llmops._plugin.entry`` (the
``pytest11`` entry point) adds, in fresh interpreters with bytecode caches warm, medians of
interleaved runs. pytest-xdist's entry (``xdist.plugin``) is measured beside it when installed.
Target: at most 15 ms.

    python bench/bench_import.py [--repeats 21]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys

TARGET_MS = 15.0
OURS = "pytest_llmops._plugin.entry"
XDIST = "xdist.plugin"
TIMED = "import time, pytest; start = time.perf_counter(); import {module}; print(time.perf_counter() - start)"


def import_ms(module: str) -> float:
    """Milliseconds ``import module`` takes in a fresh interpreter that has imported pytest."""
    done = subprocess.run(
        [sys.executable, "-c", TIMED.format(module=module)], check=True, capture_output=True, text=True
    )
    return float(done.stdout) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    modules = [OURS] + ([XDIST] if importlib.util.find_spec("xdist") else [])
    for module in modules:  # a first run writes the bytecode caches
        import_ms(module)
    figures: dict[str, list[float]] = {module: [] for module in modules}
    for _ in range(args.repeats):  # interleaved, so machine noise hits all alike
        for module in modules:
            figures[module].append(import_ms(module))
    print(f"import cost over `import pytest`, median of {args.repeats} interleaved fresh interpreters")
    for module, runs in figures.items():
        print(f"  {module:<28}: {statistics.median(runs):6.1f} ms")
    print(f"  target                      : <= {TARGET_MS:.0f} ms ({OURS})")


if __name__ == "__main__":
    main()
