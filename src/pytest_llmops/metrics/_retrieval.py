"""Retrieval metrics without a model: the case's retrieved ids (its ``context``, best first)
against its labelled ``relevant`` ids.

``k`` cuts the ranking (None: every retrieved chunk). Precision@k divides by ``k`` itself, as
TREC does, so retrieving fewer than ``k`` chunks costs precision; nDCG uses the grades of a
graded ``relevant`` mapping (gain = grade, discount log2(rank + 1)).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from pytest_llmops._grounding import Chunk
from pytest_llmops.metrics._base import Measurement, MetricError


def check_k(options: Mapping[str, Any]) -> None:
    k = options["k"]
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise MetricError(f"k must be an integer >= 1 or None (every retrieved chunk), not {k!r}")


def _ranking(context: tuple[Chunk, ...], relevant: Mapping[str, float], k: int | None) -> list[str]:
    if not relevant:
        raise MetricError("the case lists no relevant ids: a retrieval score against them would be meaningless")
    ids = [chunk.id for chunk in context]
    return ids if k is None else ids[:k]


def _details(top: list[str], relevant: Mapping[str, float], k: int | None) -> dict[str, Any]:
    return {
        "k": k,
        "retrieved": top,
        "hits": [i for i in top if i in relevant],
        "missed": [i for i in relevant if i not in top],
    }


def precision_at_k(
    output: str,
    reference: str | None,
    *,
    context: tuple[Chunk, ...],
    relevant: Mapping[str, float],
    k: int | None = None,
) -> Measurement:
    top = _ranking(context, relevant, k)
    details = _details(top, relevant, k)
    denominator = k if k is not None else len(top)
    return Measurement(len(details["hits"]) / denominator if denominator else 0.0, details)


def recall_at_k(
    output: str,
    reference: str | None,
    *,
    context: tuple[Chunk, ...],
    relevant: Mapping[str, float],
    k: int | None = None,
) -> Measurement:
    top = _ranking(context, relevant, k)
    details = _details(top, relevant, k)
    return Measurement(len(details["hits"]) / len(relevant), details)


def mrr(
    output: str,
    reference: str | None,
    *,
    context: tuple[Chunk, ...],
    relevant: Mapping[str, float],
    k: int | None = None,
) -> Measurement:
    """The reciprocal rank of the first relevant chunk (0 when none is in the top ``k``): its mean
    over a dataset's cases is the mean reciprocal rank."""
    top = _ranking(context, relevant, k)
    rank = next((position for position, i in enumerate(top, 1) if i in relevant), None)
    return Measurement(1 / rank if rank else 0.0, {**_details(top, relevant, k), "first_relevant_rank": rank})


def ndcg(
    output: str,
    reference: str | None,
    *,
    context: tuple[Chunk, ...],
    relevant: Mapping[str, float],
    k: int | None = None,
) -> Measurement:
    top = _ranking(context, relevant, k)
    dcg = _dcg([relevant.get(i, 0.0) for i in top])
    ideal = _dcg(sorted(relevant.values(), reverse=True)[:k])
    details = {**_details(top, relevant, k), "dcg": round(dcg, 6), "idcg": round(ideal, 6)}
    return Measurement(dcg / ideal if ideal else 0.0, details)


def _dcg(gains: list[float]) -> float:
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, 1))
