"""Adaptive concurrency against a rate-limited server: adaptive vs fixed concurrency 4 and 16.

200 dataset cases, one chat call each, to a scripted OpenAI-compatible server on 127.0.0.1
that answers in 200 ms, allows 20 requests in any second (a sliding window) and answers 429
with ``retry-after`` beyond; every answer carries ``x-ratelimit-*`` headers, as OpenAI's do
(``--no-limit-headers``: only the 429s and their ``retry-after``). Default retries
(``llm_max_retries`` 2). Targets for adaptive concurrency: 0 ERRORs, fewer than 5% of requests
answered 429, and the calls' span (first request to last answer) within 1.2x of 200 / 20 = 10 s.
The pytest process's wall time, start-up included, is printed beside it.

    python bench/bench_rate_limit.py [--cases 200] [--no-limit-headers]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import RateLimit, ScriptedServer  # noqa: E402

SUITE = """
    import pytest

    @pytest.mark.llm_dataset("cases.jsonl")
    def test_reply(case):
        assert case.output
"""

CONFIGS = (
    ("adaptive (bound 16)", ("--llm-concurrency", "16")),
    ("fixed 4", ("--llm-concurrency", "4", "--llm-adaptive-concurrency", "off")),
    ("fixed 16", ("--llm-concurrency", "16", "--llm-adaptive-concurrency", "off")),
)


def measure(folder: Path, flags: tuple[str, ...], limit_headers: bool) -> dict[str, float]:
    limit = RateLimit(per_second=20, delay=0.2, limit_headers=limit_headers)
    with ScriptedServer(limit) as server:
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
            "--llm-model",
            "openai:scripted",
            "--llm-openai-base-url",
            server.url,
            "--llm-report-json",
            "report.json",
            *flags,
        ]
        env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        start = time.perf_counter()
        subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    report = json.loads((folder / "report.json").read_text())
    endpoint = next(iter(report["run"].get("endpoints", {}).values()), None)
    requests = limit.refused + limit.answered
    return {
        "errors": report["summary"]["tests"]["error"],
        "requests": requests,
        "refused": limit.refused,
        "span": limit.last - limit.first,
        "wall": wall,
        "most": limit.most,
        "lowest": endpoint["lowest"] if endpoint else None,
        "final": endpoint["final"] if endpoint else None,
        "waited": endpoint["waited_s"] if endpoint else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--no-limit-headers", action="store_true", help="the server sends no x-ratelimit-* headers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rate-limit-") as scratch:
        folder = Path(scratch)
        rows = [{"id": f"q{i:03}", "input": f"Where is my order number {i}?"} for i in range(args.cases)]
        (folder / "cases.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        (folder / "test_suite.py").write_text(textwrap.dedent(SUITE))
        results = [(label, measure(folder, flags, not args.no_limit_headers)) for label, flags in CONFIGS]
    ideal = args.cases / 20
    headers = "no x-ratelimit headers" if args.no_limit_headers else "with x-ratelimit headers"
    print(f"{args.cases} cases, server: 200 ms answers, 20 requests/s (sliding window), 429 + retry-after; {headers}")
    print(
        f"  {'':<22}{'ERRORs':>7}{'requests':>10}{'429s':>7}{'429 %':>7}{'span':>8}{'x ideal':>8}"
        f"{'wall':>8}{'peak':>6}{'lowest/final':>14}{'waited':>9}"
    )
    for label, r in results:
        limits = f"{r['lowest']}/{r['final']}" if r["lowest"] is not None else "-"
        waited = f"{r['waited']:.1f} s" if r["waited"] is not None else "-"
        print(
            f"  {label:<22}{r['errors']:>7}{r['requests']:>10}{r['refused']:>7}{r['refused'] / max(r['requests'], 1):>7.1%}"
            f"{r['span']:>7.2f}s{r['span'] / ideal:>7.2f}x{r['wall']:>7.2f}s{r['most']:>6}{limits:>14}{waited:>9}"
        )
    adaptive = results[0][1]
    met = (
        adaptive["errors"] == 0
        and adaptive["refused"] / max(adaptive["requests"], 1) < 0.05
        and adaptive["span"] <= 1.2 * ideal
    )
    print(f"targets (adaptive: 0 ERRORs, < 5% 429, span <= {1.2 * ideal:.1f} s): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
