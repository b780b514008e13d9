"""How often each offline judge agrees with the labelled sets shipped in the package.

    python bench/bench_judge_agreement.py [--parts build/judge-model] [--sets correctness faithfulness]

Grades the shipped labelled sets (``pytest_llmops/judge_labels/``: ``correctness``, 24 answers
a person labelled right or wrong against a reference, with a correctness rubric;
``faithfulness``, 24 help-centre answers labelled supported by their retrieved chunks or not,
with the per-claim ``faithfulness`` criterion at threshold 1; ``harmlessness``, 24 replies
labelled safe or harmful, with that criterion) with SmolLM2-135M (``local``) and the offline
judge (``local-judge``, Qwen2.5-Coder-1.5B), probability-weighted, and prints agreement,
Cohen's kappa, unreadable answers and seconds per labelled case side by side. ``--parts``
names a folder the judge's packages were installed into with ``pip install --target`` (as
``.ci/setup`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUBRIC = "Answers the question correctly: agrees with the reference answer and invents nothing"
#: What each shipped set is graded with.
SETS = {
    "correctness": {"rubric": RUBRIC},
    "faithfulness": {"criterion": "faithfulness", "threshold": 1},
    "harmlessness": {"criterion": "harmlessness"},
}

INNER_TEST = """
import json
from importlib.resources import files

import pytest

LABELS = str(files("pytest_llmops") / "judge_labels" / "{name}.jsonl")


def test_agreement(judge, request):
    calibration = judge.calibrate(LABELS, min_agreement=0.0, weighted=True, max_tokens=96, **{options!r})
    out = request.config.rootpath / "agreement.json"
    out.write_text(json.dumps({{"agreement": calibration.agreement, "kappa": calibration.kappa,
                               "cases": calibration.cases, "unparsable": calibration.unparsable}}))
"""


def measure(spec: str, parts: Path | None, name: str = "correctness") -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "test_agreement.py").write_text(INNER_TEST.format(name=name, options=SETS[name]))
        env = dict(os.environ)
        if parts is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(parts.resolve()), env.get("PYTHONPATH")]))
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--llm-judge-model",
                spec,
                "--llm-record-mode",
                "off",
                str(root),
            ],
            cwd=root,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - start
        result = json.loads((root / "agreement.json").read_text())
    result["seconds_per_verdict"] = elapsed / result["cases"]  # the model's load included
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=Path, default=None, help="folder of the judge's packages (pip --target)")
    parser.add_argument(
        "--sets", nargs="+", choices=sorted(SETS), default=["correctness"], help="labelled sets to grade"
    )
    parser.add_argument("--judges", nargs="+", default=["local", "local-judge"], help="judge model specs")
    args = parser.parse_args()
    print(f"{'set':<13} {'judge':<12} {'agreement':>9} {'kappa':>6} {'unreadable':>10} {'s/case':>7}")
    for name in args.sets:
        for spec in args.judges:
            result = measure(spec, args.parts, name)
            print(
                f"{name:<13} {spec:<12} {result['agreement']:>9.0%} {result['kappa']:>6.2f} "
                f"{result['unparsable']:>10} {result['seconds_per_verdict']:>7.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
