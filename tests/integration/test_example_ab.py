"""The example project's A/B demo, as its README runs it: offline, from its recordings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "example_project"


@pytest.mark.slow  # torch and the embedding model load for the summaries' metrics
def test_the_shorter_summary_prompt_is_significantly_worse_and_fails_the_gate(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_summaries.py",
            "-k",
            "test_summary_matches_the_reference",
            "--llm-variants",
            "base =, short = @short",
            "--llm-ab-gate",
            "rougeL",
            "--llm-record-mode",
            "replay",
            "--llm-report-json",
            str(report),
            "--llm-report-html",
            str(tmp_path / "report.html"),
            "--llm-report-md",
            str(tmp_path / "report.md"),
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert "12 failed, 48 passed" in result.stdout
    assert "short vs base: chrf[output] -9.88 [-13.9, -6.13], 7 better / 23 worse;" in result.stdout
    assert (
        "  short: rougeL[output] -0.0906 [-0.135, -0.0444] is worse than base by more than 0 (95% confidence)"
        in result.stdout
    )
    comparison = json.loads(report.read_text())["comparison"]
    assert [v["label"] for v in comparison["variants"]] == ["base", "short"]
    assert comparison["variants"][1]["prompts"] == ["summarize@short"] and comparison["failed"]
    assert len(comparison["cases"]) == 30
    assert "### A/B comparison (control: base)" in (tmp_path / "report.md").read_text()
