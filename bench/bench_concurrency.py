"""Dataset suites vs a plain sequential pytest suite: wall time of the same model calls.

Remote: 100 cases, each one chat call to llm-katan on 127.0.0.1 answering after 300 ms, each
checked with a contains and a ROUGE-L assertion. (a) a plain parametrized pytest suite calling
``llm.complete`` test after test; (b) ``@pytest.mark.llm_dataset`` with default settings.

Local: 16 cases on the built-in SmolLM2 model (short ``max_tokens``), one padded batch (default
settings) vs one prompt at a time (``--llm-concurrency 1``); both include loading the model.

    python bench/bench_concurrency.py [--cases 100] [--skip-local]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import KatanServer  # noqa: E402

CHECKS = """
    from rouge_score import rouge_scorer

    SCORER = rouge_scorer.RougeScorer(["rougeL"])

    def check(expected, text):
        assert expected in text
        assert SCORER.score(expected, text)["rougeL"].recall >= 0.9
"""

SEQUENTIAL = CHECKS + """
    import json, pathlib, pytest

    ROWS = [json.loads(line) for line in (pathlib.Path(__file__).parent / "cases.jsonl").read_text().splitlines()]

    @pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
    def test_reply(llm, row):
        check(row["expected"], llm.complete(row["input"]).text)
"""

DATASET = CHECKS + """
    import pytest

    @pytest.mark.llm_dataset("cases.jsonl")
    def test_reply(case):
        check(case.expected, case.text)
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


def wall(folder: Path, *flags: str) -> float:
    """Seconds one ``pytest`` process takes on ``folder``; a failing run stops the benchmark."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--llm-record-mode", "off", *flags]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"pytest failed in {folder}:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return seconds


def remote(root: Path, cases: int) -> None:
    questions = [f"Where is my order number {i}?" for i in range(cases)]
    with KatanServer("--latency-ms", "300", workdir=root) as url:
        flags = ("--llm-model", "openai:katan-echo", "--llm-openai-base-url", url, "--llm-max-retries", "0")
        sequential = wall(suite(root / "sequential", SEQUENTIAL, questions), *flags)
        dataset = wall(suite(root / "dataset", DATASET, questions), *flags)
    print(f"{cases} cases x 1 call of 300 ms (llm-katan), contains + ROUGE-L per case; pytest wall time:")
    print(f"  (a) plain sequential suite    {sequential:7.2f} s")
    print(f"  (b) llm_dataset, defaults     {dataset:7.2f} s   {sequential / dataset:5.1f}x faster")


def local(root: Path) -> None:
    questions = [f"In one short sentence, what is {topic}?" for topic in (
        "a cat", "the sun", "rain", "a book", "music", "a tree", "bread", "a river",
        "the moon", "a bicycle", "coffee", "snow", "a city", "the sea", "a bridge", "a garden",
    )]
    folder = suite(root / "local", LOCAL, questions, expected=False)
    flags = ("--llm-model", "local", "--llm-max-tokens", "16")
    wall(folder, *flags)  # converts the GGUF file once, if this machine never did
    one = wall(suite(root / "local-one", LOCAL, questions[:1], expected=False), *flags)
    batched = wall(folder, *flags)
    one_by_one = wall(folder, *flags, "--llm-concurrency", "1")
    print(f"{len(questions)} local cases (SmolLM2-135M in-process, max_tokens 16); pytest wall time:")
    print(f"  model load + 1 case (reference) {one:7.2f} s")
    print(f"  one prompt at a time            {one_by_one:7.2f} s")
    print(f"  one padded batch (defaults)     {batched:7.2f} s   "
          f"{(one_by_one - one) / max(batched - one, 1e-9):5.1f}x faster past the reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as scratch:
        root = Path(scratch)
        remote(root, args.cases)
        if not args.skip_local:
            local(root)


if __name__ == "__main__":
    main()
