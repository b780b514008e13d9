"""Writing the JSON and HTML reports of a large run, and opening the HTML in headless Chromium.

A synthetic run of N tests (default 5,000 and 10,000): each test one model call with a ~200
character output and prompt, a ROUGE-L score against a reference (some fail), a judge score
with reasoning on every tenth test, a changed prompt on every fiftieth, and a baseline
comparison against the same run with its scores moved by up to 0.2. Times, as medians of ``--repeat`` runs:

- writing: ``render_json`` + ``render_html`` of the built report (what the plugin does after
  building the report dict), per test;
- size: the HTML and JSON files, per test beyond the model texts (outputs, prompts, references,
  reasoning: text any report must hold once);
- opening: headless Chromium loading the HTML until the first frame after the report's script
  has built the table (``data-ready``), by the page's own clock from the start of navigation
  (browser start-up left out), over the DevTools protocol, when ``chromium`` is installed.

    PYTHONPATH=src python bench/bench_report.py [--tests 5000 10000] [--repeat 5] [--no-browser]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import websockets

from pytest_llmops._report.baseline import Tolerances, compare
from pytest_llmops._report.data import build_report
from pytest_llmops._report.html import render_html
from pytest_llmops._report.json_report import render_json
from pytest_llmops._results import TestOutcome

WORDS = (
    "the model answered quickly and the refund was issued to the customer after review of "
    "their order history shipping delay policy exception weekend support ticket"
).split()

TARGET_WRITE_MS = 0.2
TARGET_EXTRA_KB = 1.0
TARGET_OPEN_S = 2.0  # at 10,000 tests


def sentence(rng: random.Random, chars: int = 200) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(WORDS))
    return " ".join(words)


def outcomes(n: int, drift: float = 0.0) -> tuple[list[TestOutcome], int]:
    """``n`` outcomes, and the characters of model text (prompts, outputs, references, reasoning).
    ``drift``: the same run with each score moved by up to that much (a baseline)."""
    rng, moves = random.Random(1), random.Random(2)
    texts = 0
    result = []
    for i in range(n):
        prompt, output, reference = sentence(rng), sentence(rng), sentence(rng)
        value = round(min(1.0, max(0.0, rng.uniform(0.3, 1.0) + moves.uniform(-drift, drift))), 4)
        scores: list[dict[str, Any]] = [
            {
                "metric": "rougeL",
                "value": value,
                "threshold": 0.5,
                "passed": value >= 0.5,
                "output": output,
                "reference": reference,
                "kind": "metric",
            }
        ]
        texts += len(prompt) + len(output) + len(reference)
        calls = [
            {
                "role": "model",
                "model": "gpt-4o-mini",
                "backend": "openai",
                "prompt_tokens": 60 + i % 40,
                "completion_tokens": 50 + i % 30,
                "latency_s": rng.uniform(0.1, 2.0),
                "cost_usd": 0.0004,
                "cached": i % 3 == 0,
                "finish_reason": "stop",
                "prompt_versions": ["support@v3"],
                "text": output,
                "request": {"messages": [{"role": "user", "content": prompt}]},
            }
        ]
        if i % 10 == 0:
            reasoning = sentence(rng, 150)
            texts += len(reasoning)
            judged = round(min(1.0, max(0.0, rng.uniform(0, 1) + moves.uniform(-drift, drift))), 3)
            scores.append(
                {
                    "metric": "judge",
                    "label": "helpful",
                    "value": judged,
                    "threshold": 0.5,
                    "passed": judged >= 0.5,
                    "kind": "judge",
                    "details": {"reasoning": reasoning},
                }
            )
            calls.append(
                {
                    **calls[0],
                    "role": "judge",
                    "model": "judge-1",
                    "text": reasoning,
                    "request": {"messages": [{"role": "user", "content": "Judge: " + output}]},
                }
            )
            texts += len(reasoning) + len(output) + 7
        prompts: list[dict[str, Any]] = [{"name": "support", "version": "v3", "hash": f"{i:064x}", "snapshot": "same"}]
        if i % 50 == 0:
            prompts = [
                {
                    "name": "support",
                    "version": "v4",
                    "hash": f"{i:064x}",
                    "snapshot": "changed",
                    "text": prompt,
                    "snapshot_text": prompt.replace("the", "a"),
                }
            ]
            texts += 2 * len(prompt)
        failed = any(not s["passed"] for s in scores)
        result.append(
            TestOutcome(
                f"tests/test_support.py::test_reply[case-{i:05d}]",
                "failed" if failed else "passed",
                rng.uniform(0.1, 2.0),
                "AssertionError: rougeL below threshold" if failed else None,
                {"calls": calls, "scores": scores, "prompts": prompts, "extra": {}},
            )
        )
    return result, texts


def synthetic_report(n: int) -> tuple[dict[str, Any], int]:
    run = {
        "model": "gpt-4o-mini",
        "judge_model": "judge-1",
        "record_mode": "replay",
        "created": "2024-01-01T00:00:00+00:00",
    }
    now, texts = outcomes(n)
    before, _ = outcomes(n, drift=0.2)
    report = build_report(now, run)
    report["baseline"] = compare(build_report(before, run), report, Tolerances(0.05, 0.2, 0.5), "main-report.json")
    return report, texts


def median_s(action: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# Installed before the page's own scripts: the time of the first frame after the report's
# script marks the page ready (the table's first rows built).
MARK_OPENED = """
new MutationObserver(function (changes, observer) {
  if (document.body && document.body.getAttribute("data-ready") === "true") {
    observer.disconnect();
    requestAnimationFrame(function () { window.__opened_ms = performance.now(); });
  }
}).observe(document, {attributes: true, subtree: true, attributeFilter: ["data-ready"]});
"""


async def _opened_ms(endpoint: str, page: Path, timeout_s: float) -> float:
    """Over the browser's DevTools ``endpoint``: open ``page`` in a new tab, and read the time
    ``MARK_OPENED`` noted (milliseconds since navigation started)."""
    ids = itertools.count(1)
    async with websockets.connect(endpoint, max_size=None) as browser:

        async def send(method: str, session: str | None = None, **params: object) -> dict:
            number = next(ids)
            message = {"id": number, "method": method, "params": params}
            if session:
                message["sessionId"] = session
            await browser.send(json.dumps(message))
            while True:
                answer = json.loads(await browser.recv())
                if answer.get("id") == number:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer["result"]

        target = (await send("Target.createTarget", url="about:blank"))["targetId"]
        session = (await send("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        await send("Page.enable", session)
        await send("Page.addScriptToEvaluateOnNewDocument", session, source=MARK_OPENED)
        await send("Page.navigate", session, url=page.as_uri())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            value = (await send("Runtime.evaluate", session, expression="window.__opened_ms || 0", returnByValue=True))[
                "result"
            ].get("value")
            if value:
                await send("Target.closeTarget", targetId=target)
                return float(value)
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{page} did not open within {timeout_s} s")


def opened_s(browser: str, page: Path, profile: Path, timeout_s: float = 120.0) -> float:
    """Seconds from the start of navigation to the first frame of the ready report (browser
    start-up left out: the page's own clock)."""
    process = subprocess.Popen(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                return asyncio.run(_opened_ms(found.group(1), page, timeout_s)) / 1000
        raise RuntimeError("chromium printed no DevTools endpoint")
    finally:
        process.kill()
        process.wait()


def row(name: str, figure: str, target: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    print(f"  {name:<44} {figure:>14}   target {target:<14} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, nargs="+", default=[5000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    browser = None if args.no_browser else shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for n in args.tests:
            report, texts = synthetic_report(n)
            written: dict[str, str] = {}

            def write() -> None:
                written["json"] = render_json(report)
                written["html"] = render_html(report)

            seconds = median_s(write, args.repeat)
            html_bytes = len(written["html"].encode("utf-8"))
            json_bytes = len(written["json"].encode("utf-8"))
            page = root / f"report-{n}.html"
            page.write_text(written["html"], encoding="utf-8")
            per_test_ms = seconds / n * 1000
            extra_kb = (html_bytes - texts) / n / 1024
            print(f"{n:,} tests ({texts / n:.0f} characters of model text per test), median of {args.repeat}:")
            row("JSON + HTML written", f"{seconds:.2f} s", "", None)
            row("  per test", f"{per_test_ms:.3f} ms", f"<= {TARGET_WRITE_MS} ms", per_test_ms <= TARGET_WRITE_MS)
            row("HTML size", f"{html_bytes / 1e6:.1f} MB", "", None)
            row(
                "  per test beyond the model texts",
                f"{extra_kb:.2f} KB",
                f"<= {TARGET_EXTRA_KB} KB",
                extra_kb <= TARGET_EXTRA_KB,
            )
            row("JSON size", f"{json_bytes / 1e6:.1f} MB", "", None)
            if browser:
                opened = statistics.median(opened_s(browser, page, root / "profile") for _ in range(args.repeat))
                target = f"<= {TARGET_OPEN_S} s" if n >= 10000 else ""
                row(
                    "Chromium opens it (to its first frame)",
                    f"{opened:.2f} s",
                    target,
                    opened <= TARGET_OPEN_S if n >= 10000 else None,
                )
        if not browser:
            print("(chromium not installed: opening not timed)")


if __name__ == "__main__":
    main()
