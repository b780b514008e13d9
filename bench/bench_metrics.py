"""Scoring a dataset: 10,000 output/reference pairs with ROUGE-L + chrF.

Prints pairs per second side by side for
  * the libraries called directly (one RougeScorer and one CHRF built once, the fastest plain use),
  * ``score_many`` (the batch API the ``golden`` fixture and scripts use),
  * ``MetricCheck.measure`` pair by pair (what one ``golden.check`` costs per metric),
and checks that all three give the same figures.

    python bench/bench_metrics.py [--pairs 10000]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Callable

VOCABULARY = (
    "the council approved a new budget on tuesday after long debate about schools roads library funding "
    "mayor said residents would see lower taxes next year while critics warned of cuts to services and "
    "delays in repairs that had been promised since march report model output reference summary"
).split()


def make_pairs(count: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """References of 15-60 words and outputs that drop, swap or replace some of their words."""
    rng = random.Random(seed)
    outputs, references = [], []
    for _ in range(count):
        reference = rng.choices(VOCABULARY, k=rng.randint(15, 60))
        output = [rng.choice(VOCABULARY) if rng.random() < 0.2 else word for word in reference if rng.random() > 0.1]
        references.append(" ".join(reference).capitalize() + ".")
        outputs.append(" ".join(output).capitalize() + ".")
    return outputs, references


def timed(run: Callable[[], list[float]]) -> tuple[list[float], float]:
    start = time.perf_counter()
    values = run()
    return values, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    count = parser.parse_args().pairs
    outputs, references = make_pairs(count)

    from rouge_score.rouge_scorer import RougeScorer
    from sacrebleu.metrics import CHRF

    from pytest_llmops.metrics import MetricRegistry, score_many

    rouge, chrf = RougeScorer(["rougeL"]), CHRF()
    registry = MetricRegistry.builtin()
    checks = [registry.check("rougeL"), registry.check("chrf")]
    score_many("rougeL", outputs[:1], references[:1])  # imports, outside the clock
    pairs = list(zip(outputs, references))

    rows = {}
    for label, metric_runs in {
        "libraries directly": (
            lambda: [rouge.score(r, o)["rougeL"].fmeasure for o, r in pairs],
            lambda: [chrf.sentence_score(o, [r]).score for o, r in pairs],
        ),
        "score_many (batch)": (
            lambda: [m.value for m in score_many("rougeL", outputs, references)],
            lambda: [m.value for m in score_many("chrf", outputs, references)],
        ),
        "check.measure per pair": tuple(
            (lambda check=check: [check.measure(o, r).value for o, r in pairs]) for check in checks
        ),
    }.items():
        (rouge_values, rouge_s), (chrf_values, chrf_s) = (timed(run) for run in metric_runs)
        rows[label] = (rouge_values, chrf_values, rouge_s, chrf_s)

    baseline = rows["libraries directly"]
    print(f"{count} pairs, ROUGE-L + chrF ({time.strftime('%Y-%m-%d')})")
    print(f"{'':<24}{'ROUGE-L pairs/s':>17}{'chrF pairs/s':>14}{'both pairs/s':>14}{'vs direct':>11}  same figures")
    for label, (rouge_values, chrf_values, rouge_s, chrf_s) in rows.items():
        same = rouge_values == baseline[0] and chrf_values == baseline[1]
        speedup = (baseline[2] + baseline[3]) / (rouge_s + chrf_s)
        print(
            f"{label:<24}{count / rouge_s:>17,.0f}{count / chrf_s:>14,.0f}{count / (rouge_s + chrf_s):>14,.0f}"
            f"{speedup:>10.2f}x  {same}"
        )


if __name__ == "__main__":
    main()
