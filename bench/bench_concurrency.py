"""Dataset suites vs a plain sequential pytest suite: wall time of the same model calls.

Remote: 100 cases, each one chat call to llm-katan on 127.0.0.1 answering after 300 ms, each
checked with a contains and a ROUGE-L assertion (the plugin's golden metrics). (a) a plain parametrized pytest suite calling
``llm.complete`` test after test; (b) ``@pytest.mark.llm_dataset`` with default settings.

The floor printed beside them is what no plugin can beat at 16 calls in flight: a pytest process
that only collects the suite with the openai SDK imported and its client built (start-up, the
SDK's import, pytest's and the interpreter's exit), plus ceil(cases / 16) rounds of 300 ms.

Local: 16 cases on the built-in SmolLM2 model (short ``max_tokens``), one padded batch (default
settings) vs one prompt at a time (``--llm-concurrency 1``); both include loading the model.

Child processes write and reuse bytecode caches, as Python does on a user's machine (a run
first warms them).

    python bench/bench_concurrency.py [--cases 100] [--repeat 3] [--skip-local]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import KatanServer  # noqa: E402

# The plugin's own metrics: its ROUGE-L gives rouge-score's figures without importing nltk.
CHECKS = """
    import pytest

    golden = pytest.mark.golden(metrics={"contains": 1, "rougeL": {"threshold": 0.9, "measure": "recall"}})
"""

SEQUENTIAL = (
    CHECKS
    + """
    import json, pathlib

    ROWS = [json.loads(line) for line in (pathlib.Path(__file__).parent / "cases.jsonl").read_text().splitlines()]

    @golden
    @pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
    def test_reply(llm, golden, row):
        golden.check(llm.complete(row["input"]), reference=row["expected"])
"""
)

DATASET = (
    CHECKS
    + """
    @golden
    @pytest.mark.llm_dataset("cases.jsonl")
    def test_reply(case, golden):
        golden.check(case.output, reference=case.expected)
"""
)

# Imports the openai SDK and builds its client at start-up, as a run's first live call does.
SDK_LOADED = """
    import openai

    openai.OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
"""

LOCAL = """
    import pytest

    @pytest.mark.llm_dataset("cases.jsonl")
    def test_reply(case):
        assert case.text.strip()
"""


def suite(folder: Path, body: str, questions: list[str], expected: bool = True) -> Path:
    folder.mkdir(parents=True)
    rows = [{"id": f"q{i:03}", "input": q, **({"expected": q} if expected else {})} for i, q in enumerate(questions)]
    (folder / "cases.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "test_suite.py").write_text(textwrap.dedent(body))
    return folder


def run(folder: Path, *flags: str) -> tuple[float, float]:
    """Wall and CPU seconds of one ``pytest`` process on ``folder``; a failing run stops here.

    Only pytest-llmops is loaded (no other installed pytest plugin), as on a user's machine.
    CPU time is printed too: on a busy machine the wall time stretches, CPU time much less.
    """
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "pytest_llmops._plugin.entry",
        "-p",
        "no:cacheprovider",
        "--llm-record-mode",
        "off",
        *flags,
    ]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cpu_before, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu_before
    if done.returncode != 0:
        raise SystemExit(f"pytest failed in {folder}:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return seconds, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def row(label: str, figures: tuple[float, float], note: str = "") -> None:
    print(f"  {label:<34}{figures[0]:7.2f} s wall {figures[1]:6.2f} s CPU   {note}")


def remote(root: Path, cases: int, repeat: int) -> None:
    questions = [f"Where is my order number {i}?" for i in range(cases)]
    with KatanServer("--latency-ms", "300", workdir=root) as url:
        flags = ("--llm-model", "openai:katan-echo", "--llm-openai-base-url", url, "--llm-max-retries", "0")
        sequential = run(suite(root / "sequential", SEQUENTIAL, questions), *flags)
        folder = suite(root / "dataset", DATASET, questions)
        loaded = suite(root / "sdk-loaded", DATASET, questions)
        (loaded / "conftest.py").write_text(textwrap.dedent(SDK_LOADED))
        run(folder, *flags)  # warms the bytecode caches
        startup, sdk, dataset, wide = medians(
            repeat,
            [
                lambda: run(folder, *flags, "--collect-only"),
                lambda: run(loaded, *flags, "--collect-only"),
                lambda: run(folder, *flags),
                lambda: run(folder, *flags, "--llm-concurrency", "64"),
            ],
        )
    rounds = -(-cases // 16) * 0.3
    print(
        f"{cases} cases x 1 chat call answered after 300 ms (llm-katan), contains + ROUGE-L each "
        f"(medians of {repeat} interleaved runs; (a) once):"
    )
    row("start-up + collection only", startup, "(--collect-only: imports, case file)")
    row("  the same with the openai SDK loaded", sdk, "(its import and client, and exit)")
    row("floor at 16 in flight", (sdk[0] + rounds, sdk[1]), f"(that + {rounds:.1f} s of 300 ms rounds)")
    row("(a) plain sequential suite", sequential)
    row(
        "(b) llm_dataset, default settings",
        dataset,
        f"{sequential[0] / dataset[0]:.1f}x faster than (a); floor + {dataset[0] - sdk[0] - rounds:.2f} s",
    )
    row("    llm_dataset, --llm-concurrency 64", wide, f"{sequential[0] / wide[0]:.1f}x faster than (a)")


def medians(repeat: int, measures: list[Callable[[], tuple[float, float]]]) -> list[tuple[float, float]]:
    """Each measure's median wall and CPU over ``repeat`` rounds that run every measure once."""
    rounds = [[measure() for measure in measures] for _ in range(repeat)]
    return [
        (statistics.median(r[i][0] for r in rounds), statistics.median(r[i][1] for r in rounds))
        for i in range(len(measures))
    ]


def local(root: Path) -> None:
    topics = (
        "a cat",
        "the sun",
        "rain",
        "a book",
        "music",
        "a tree",
        "bread",
        "a river",
        "the moon",
        "a bicycle",
        "coffee",
        "snow",
        "a city",
        "the sea",
        "a bridge",
        "a garden",
    )
    questions = [f"In one short sentence, what is {topic}?" for topic in topics]
    folder = suite(root / "local", LOCAL, questions, expected=False)
    flags = ("--llm-model", "local", "--llm-max-tokens", "16")
    run(folder, *flags)  # converts the GGUF file once, if this machine never did
    one = run(suite(root / "local-one", LOCAL, questions[:1], expected=False), *flags)
    one_by_one = run(folder, *flags, "--llm-concurrency", "1")
    batched = run(folder, *flags)
    print(f"{len(questions)} local cases (SmolLM2-135M in-process, max_tokens 16):")
    row("model load + 1 case (reference)", one)
    row("one prompt at a time (concurrency 1)", one_by_one)
    speedup = (one_by_one[0] - one[0]) / max(batched[0] - one[0], 1e-9)
    row("one padded batch (default settings)", batched, f"{speedup:.1f}x faster past the reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per figure (median)")
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as scratch:
        root = Path(scratch)
        remote(root, args.cases, args.repeat)
        if not args.skip_local:
            local(root)


if __name__ == "__main__":
    main()
