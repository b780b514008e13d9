"""Transformers backend throughput: 16 short prompts in padded batches vs one by one on CPU.
Target: batched at least 3x the tokens per second.

    python bench/bench_hf_batch.py [--prompts 16] [--max-tokens 24]
"""

from __future__ import annotations

import argparse
import time

from pytest_llmops._models.base import GenerationSettings, Message, Request
from pytest_llmops._models.builtin import BUILTINS
from pytest_llmops.settings import Settings

QUESTIONS = [
    "What is the capital of France?",
    "Name a primary colour.",
    "What is 2 + 2?",
    "Say hello in Spanish.",
    "What do bees make?",
    "How many days are in a week?",
    "What is the opposite of hot?",
    "Name a fruit that is yellow.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=24)
    args = parser.parse_args()
    settings = GenerationSettings(max_tokens=args.max_tokens)
    requests = [
        Request(messages=(Message("user", QUESTIONS[i % len(QUESTIONS)] + f" ({i})"),), settings=settings)
        for i in range(args.prompts)
    ]
    backend = BUILTINS["local"][0]("", Settings())
    backend.generate(requests[:2])  # load and warm up

    start = time.perf_counter()
    single = [backend.generate([r])[0] for r in requests]
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = backend.generate(requests)
    batched_s = time.perf_counter() - start

    single_tokens = sum(g.completion_tokens for g in single)
    batched_tokens = sum(g.completion_tokens for g in batched)
    same = sum(a.text == b.text for a, b in zip(single, batched))
    print(f"SmolLM2-135M-Instruct, {args.prompts} prompts, max_tokens={args.max_tokens}, greedy fp32, CPU")
    print(f"  one by one : {single_s:6.2f} s  {single_tokens / single_s:7.1f} tok/s")
    print(f"  batched    : {batched_s:6.2f} s  {batched_tokens / batched_s:7.1f} tok/s")
    print(f"  throughput ratio: {(batched_tokens / batched_s) / (single_tokens / single_s):.2f}x (target >= 3x)")
    print(f"  identical answers: {same}/{args.prompts}")


if __name__ == "__main__":
    main()
