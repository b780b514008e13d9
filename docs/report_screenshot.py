"""Regenerate docs/report.png: run a small demo suite twice (baseline, then a prompt edit), write
the HTML report and screenshot it in headless Chromium, one failing test's details opened.

    python docs/report_screenshot.py            # needs `chromium` (apt-get install -y chromium)
                                                # and websockets
    python docs/report_screenshot.py REPORT.html PICTURE.png [TEST-NUMBER]   # any report
    python docs/report_screenshot.py --ab REPORT.html PICTURE.png    # its A/B comparison, matrix open

example_project/docs/ab.png is the example project's A/B demo (its README) taken with ``--ab``.

The report builds its rows in its script: a link to ``report.html#test-N`` opens the N-th test's
details (N counts the tests in the JSON report's order, by test id).
"""

from __future__ import annotations

import base64
import subprocess
import sys
import tempfile
from pathlib import Path

SUITE = """
import pytest
from pytest_llmops import Score

CASES = {
    "refund": ("How do I get a refund for order 1042?", "Open Orders, choose order 1042 and press Refund."),
    "shipping": ("When will order 2231 arrive?", "Order 2231 ships today and arrives in 2 days."),
    "password": ("I forgot my password", "Use Forgot password on the sign-in page."),
    "invoice": ("Send me the invoice for March", "Invoices are under Billing, then History."),
}


def overlap(output, reference):
    words, expected = set(output.lower().split()), set(reference.lower().split())
    return len(words & expected) / len(expected)


@pytest.mark.parametrize("case", sorted(CASES))
def test_support_reply(llm, llm_record, prompt, case):
    question, reference = CASES[case]
    out = llm.complete(prompt("reply", text=reference if case != "invoice" else question))
    value = round(overlap(out.text, reference), 3)
    llm_record.add_score(Score("overlap", value, 0.6, value >= 0.6, output=out.text, reference=reference))
    verdict = 0.9 if value >= 0.6 else 0.3
    llm_record.add_score(Score("judge", verdict, 0.5, verdict >= 0.5, kind="judge", details={
        "reasoning": "Answers the question directly and politely." if verdict > 0.5
        else "Repeats the question instead of answering it."}))
    assert value >= 0.6, "the reply misses the reference"
"""


def main() -> None:
    if sys.argv[1:2] == ["--ab"]:
        screenshot(Path(sys.argv[2]).resolve(), Path(sys.argv[3]).resolve(), None, height=1300)
        return
    if len(sys.argv) > 1:
        page, target = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
        screenshot(page, target, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
        return
    target = Path(__file__).with_name("report.png")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "test_demo.py").write_text(SUITE)
        template = work / "prompts" / "reply.jinja"
        template.parent.mkdir()
        template.write_text("{{ text }}")
        args = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--llm-model",
            "echo",
            "--llm-record-mode",
            "off",
            "--llm-prices",
            "echo = 150 600",
        ]
        subprocess.run([*args, "--llm-report-json", "base.json"], cwd=work, check=False)
        template.write_text("---\nversion: 2\n---\nSure! {{ text }}")
        subprocess.run(
            [*args, "--llm-baseline", "base.json", "--llm-report-html", "report.html"], cwd=work, check=False
        )
        screenshot(work / "report.html", target, 1)  # test_support_reply[invoice], the failing one


def screenshot(page: Path, target: Path, test: int | None, width: int = 1400, height: int = 2200) -> None:
    """``target``: the top of ``page`` in a ``width`` x ``height`` window, the details of its
    ``test``-th test opened (scrolled back to the top: the link scrolls to the test); with no
    ``test``, its A/B comparison at the top, the case-by-variant matrix opened."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from html_check import chromium_session

    fragment = f"#test-{test}" if test is not None else ""
    with (
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as folder,
        chromium_session(page, Path(folder), fragment, width, height) as (send, evaluate),
    ):
        send("Emulation.setScrollbarsHidden", hidden=True)
        if test is None:
            evaluate("document.getElementById('ab-matrix').open = true")
            evaluate("new Promise(done => setTimeout(done, 100))")
        evaluate("window.scrollTo(0, 0)" if test is not None else "document.getElementById('ab').scrollIntoView()")
        evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        target.write_bytes(base64.b64decode(send("Page.captureScreenshot", format="png")["data"]))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
