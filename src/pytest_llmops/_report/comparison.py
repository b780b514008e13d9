"""The A/B comparison: each variant against the control, paired over the cases both ran.

A pure function of the report's rows (each marks its variant and its control's node id in
``extra.variant``) and the comparison's parameters, so a report merged from several runs gives
the same figures. For each metric key, the mean paired difference (variant minus control) with
a percentile-bootstrap interval (seeded per variant and metric, so a rerun gives the same
figures); on pass/fail, McNemar's exact test. A gated key on which a variant is worse than the
control beyond ``max_drop``, with the given confidence, fails the comparison.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from pytest_llmops._report.data import call_cost, latency_summary, metric_summary, model_latencies, percentile

RESAMPLES = 2000
#: The gate's name for pass/fail (the pass rate), beside metric keys.
PASSED = "passed"
_DECIDED = ("passed", "failed")


@dataclass(frozen=True)
class ComparisonSettings:
    """How variants are compared and gated (``llm_ab_*``)."""

    confidence: float = 0.95
    seed: int = 0
    gate: tuple[str, ...] = ()
    max_drop: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "confidence": self.confidence,
            "seed": self.seed,
            "gate": list(self.gate),
            "max_drop": self.max_drop,
            "resamples": RESAMPLES,
        }

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ComparisonSettings:
        """The comparison a run's settings (``run.settings`` of its JSON report) asked for."""
        return cls(
            settings.get("ab_confidence", 0.95),
            settings.get("ab_seed", 0),
            tuple(settings.get("ab_gate", ())),
            settings.get("ab_max_drop", 0.0),
        )


def compare_variants(tests: Sequence[Mapping[str, Any]], settings: ComparisonSettings) -> dict[str, Any] | None:
    """The comparison of the variants in ``tests``; None when the run compared none."""
    arms: dict[str, dict[str, Mapping[str, Any]]] = {}  # label -> control node id -> row
    control_label = None
    for test in tests:
        variant = (test.get("extra") or {}).get("variant")
        if variant:
            arms.setdefault(variant["label"], {})[variant["control"]] = test
            if variant["control"] == test["nodeid"]:
                control_label = variant["label"]
    if not arms:
        return None
    if control_label is None:  # every control test deselected: nothing to compare with
        control_label = ""
    control = arms.get(control_label, {})
    variants = [_arm(label, rows, label == control_label) for label, rows in arms.items()]
    variants.sort(key=lambda v: (not v["control"], v["label"]))
    for variant in variants:
        if not variant["control"]:
            variant["paired"] = _paired(variant["label"], control, arms[variant["label"]], settings)
            variant["gate"] = _gate(variant, control_label, settings)
            variant["verdict"] = verdict(variant, control_label)
    return {
        "control": control_label or None,
        "settings": settings.to_dict(),
        "variants": variants,
        "cases": [
            {"control": case, "cells": {label: rows[case]["nodeid"] for label, rows in arms.items() if case in rows}}
            for case in sorted({case for rows in arms.values() for case in rows})
        ],
        "failed": any(v.get("gate", {}).get("failed") for v in variants),
    }


def _arm(label: str, rows: Mapping[str, Mapping[str, Any]], control: bool) -> dict[str, Any]:
    """One variant's own figures: outcomes, every metric's mean, cost, tokens, latency."""
    tests = list(rows.values())
    counts = {
        outcome: sum(1 for t in tests if t["outcome"] == outcome)
        for outcome in ("passed", "failed", "error", "skipped")
    }
    decided = counts["passed"] + counts["failed"]
    return {
        "label": label,
        "control": control,
        "models": sorted({m for t in tests for m in t["models"]}),
        "prompts": sorted({p["name"] for t in tests for p in t["prompts"]}),
        "tests": len(tests),
        **counts,
        "pass_rate": counts["passed"] / decided if decided else None,
        "metrics": {
            key: {k: m[k] for k in ("count", "mean", "pass_rate", "higher_is_better")}
            for key, m in metric_summary(tests).items()
        },
        "cost_usd": sum(call_cost(t) for t in tests),
        "tokens": sum(t["totals"]["prompt_tokens"] + t["totals"]["completion_tokens"] for t in tests),
        "latency_s": latency_summary(model_latencies(tests)),
        "replayed_latency_s": latency_summary(model_latencies(tests, replayed=True)),
    }


def _paired(
    label: str,
    control: Mapping[str, Mapping[str, Any]],
    candidate: Mapping[str, Mapping[str, Any]],
    settings: ComparisonSettings,
) -> dict[str, Any]:
    """The variant against the control over the cases both ran."""
    cases = sorted(set(control) & set(candidate))
    pairs = [(control[c], candidate[c]) for c in cases]
    decided = [
        (a["outcome"] == "passed", b["outcome"] == "passed")
        for a, b in pairs
        if a["outcome"] in _DECIDED and b["outcome"] in _DECIDED
    ]
    better = sum(1 for a, b in decided if b and not a)
    worse = sum(1 for a, b in decided if a and not b)
    metrics = {}
    for key in sorted({s["key"] for _, b in pairs for s in b["scores"]}):
        values = [(_mean_score(a, key), _mean_score(b, key)) for a, b in pairs]
        finite = [(a, b) for a, b in values if a is not None and b is not None]
        if finite:
            higher = _higher_is_better(pairs, key)
            metrics[key] = _difference(finite, higher, settings, random.Random(f"{settings.seed}:{label}:{key}"))
    control_cost = sum(call_cost(a) for a, _ in pairs)
    return {
        "cases": len(pairs),
        "pairwise": _pairwise(b for _, b in pairs),
        PASSED: {
            "pairs": len(decided),
            "better": better,
            "worse": worse,
            "p_value": mcnemar_exact(better, worse),
            "rate_difference": (better - worse) / len(decided) if decided else None,
        },
        "metrics": metrics,
        "cost_ratio": sum(call_cost(b) for _, b in pairs) / control_cost if control_cost else None,
    }


def _pairwise(tests: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per pairwise judge key, the variant's wins, ties and losses against the control's answer
    (the verdicts of tests that read ``case.control``)."""
    counts: dict[str, dict[str, int]] = {}
    for test in tests:
        if not test["extra"]["variant"].get("control_answer"):
            continue
        for score in test["scores"]:
            if score.get("kind") == "judge" and score["details"].get("mode") == "pairwise":
                tally = counts.setdefault(score["key"], {"wins": 0, "ties": 0, "losses": 0})
                value = float(score["value"])
                tally["wins" if value > 0.5 else "losses" if value < 0.5 else "ties"] += 1
    return dict(sorted(counts.items()))


def _mean_score(test: Mapping[str, Any], key: str) -> float | None:
    values = [float(s["value"]) for s in test["scores"] if s["key"] == key]
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite and len(finite) == len(values) else None


def _higher_is_better(pairs: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]], key: str) -> bool:
    return next((bool(s["higher_is_better"]) for _, b in pairs for s in b["scores"] if s["key"] == key), True)


def _difference(
    values: Sequence[tuple[float, float]], higher_is_better: bool, settings: ComparisonSettings, rng: random.Random
) -> dict[str, Any]:
    """The mean paired difference (variant minus control), its bootstrap interval, and how many
    cases got better or worse (in the metric's own direction)."""
    differences = [b - a for a, b in values]
    low, high = bootstrap_interval(differences, settings.confidence, rng)
    sign = 1 if higher_is_better else -1
    return {
        "pairs": len(differences),
        "control_mean": sum(a for a, _ in values) / len(values),
        "variant_mean": sum(b for _, b in values) / len(values),
        "mean_difference": sum(differences) / len(differences),
        "low": low,
        "high": high,
        "better": sum(1 for d in differences if d * sign > 0),
        "worse": sum(1 for d in differences if d * sign < 0),
        "higher_is_better": higher_is_better,
    }


def bootstrap_interval(differences: Sequence[float], confidence: float, rng: random.Random) -> tuple[float, float]:
    """The percentile-bootstrap interval of the mean of ``differences``."""
    n = len(differences)
    if len(set(differences)) == 1:
        return differences[0], differences[0]
    means = sorted(sum(rng.choices(differences, k=n)) / n for _ in range(RESAMPLES))
    tail = (1 - confidence) / 2
    return percentile(means, tail), percentile(means, 1 - tail)


def mcnemar_exact(better: int, worse: int) -> float:
    """McNemar's exact two-sided p-value for ``better`` and ``worse`` discordant pairs."""
    n = better + worse
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(better, worse) + 1))
    return min(1.0, 2 * tail / 2**n)


def _gate(variant: Mapping[str, Any], control: str, settings: ComparisonSettings) -> dict[str, Any]:
    """Whether ``variant`` is worse than the control on a gated key, beyond ``max_drop``, with
    ``confidence``; a gated key the pairs never scored fails too (nothing shows it is not worse)."""
    paired = variant["paired"]
    if not paired["cases"]:
        return {"failed": False, "reasons": [f"not compared: no case ran with {control or 'the control'} too"]}
    reasons = []
    alpha = 1 - settings.confidence
    for name in settings.gate:
        if name == PASSED:
            passed = paired[PASSED]
            drop = -(passed["rate_difference"] or 0.0)
            if passed["worse"] > passed["better"] and passed["p_value"] < alpha and drop > settings.max_drop:
                reasons.append(
                    f"pass rate {drop:.0%} lower than {control} "
                    f"({passed['worse']} worse / {passed['better']} better, p = {passed['p_value']:.3g})"
                )
            continue
        keys = [k for k in paired["metrics"] if k == name or k.partition("[")[0] == name]
        if not keys:
            reasons.append(f"{name}: not scored on both sides of any case, so not compared")
        for key in keys:
            metric = paired["metrics"][key]
            sign = 1 if metric["higher_is_better"] else -1
            best_case = max(metric["low"] * sign, metric["high"] * sign)  # the interval's better end
            if best_case < -settings.max_drop:
                reasons.append(
                    f"{key} {_interval(metric)} is worse than {control} by more than "
                    f"{settings.max_drop:g} ({settings.confidence:.0%} confidence)"
                )
    return {"failed": bool(reasons), "reasons": reasons}


def verdict(variant: Mapping[str, Any], control: str) -> str:
    """``v2 vs base: rougeL +0.08 [0.03, 0.12], 9 better / 2 worse; pass 3 better / 1 worse,
    p = 0.62; cost x1.40``."""
    paired = variant["paired"]
    parts = [f"{key} {_interval(m)}, {m['better']} better / {m['worse']} worse" for key, m in paired["metrics"].items()]
    parts += [
        f"{key} {t['wins']} wins / {t['ties']} ties / {t['losses']} losses" for key, t in paired["pairwise"].items()
    ]
    passed = paired[PASSED]
    if passed["pairs"]:
        parts.append(f"pass {passed['better']} better / {passed['worse']} worse, p = {passed['p_value']:.2g}")
    if paired["cost_ratio"] is not None:
        parts.append(f"cost x{paired['cost_ratio']:.2f}")
    if not paired["cases"]:
        parts = ["no case ran in both"]
    return f"{variant['label']} vs {control or 'no control'}: {'; '.join(parts)}"


def _interval(metric: Mapping[str, Any]) -> str:
    return f"{metric['mean_difference']:+.3g} [{metric['low']:.3g}, {metric['high']:.3g}]"
