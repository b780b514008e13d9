"""Retrieval metrics against textbook examples whose answers are known, and their misuse."""

from __future__ import annotations

import pytest

from pytest_llmops._grounding import Chunk, Grounding, GroundingError
from pytest_llmops.metrics import MetricError, MetricRegistry


@pytest.fixture(scope="module")
def registry() -> MetricRegistry:
    return MetricRegistry.builtin()


def _measure(registry: MetricRegistry, metric: str, retrieved: list, relevant: object, k: int | None = None) -> float:
    check = registry.check(metric, options={"k": k})
    return check.measure("the answer", None, Grounding.of(retrieved, relevant)).value


# Ten results, relevant at ranks 1, 3, 6, 9 and 10; eight relevant documents exist in all.
TEN = [f"d{i}" for i in range(1, 11)]
EIGHT_RELEVANT = ["d1", "d3", "d6", "d9", "d10", "x1", "x2", "x3"]


@pytest.mark.parametrize(
    ("metric", "k", "expected"),
    [
        ("precision_at_k", 1, 1.0),
        ("precision_at_k", 5, 2 / 5),
        ("precision_at_k", 10, 5 / 10),
        ("precision_at_k", None, 5 / 10),
        ("recall_at_k", 5, 2 / 8),
        ("recall_at_k", 10, 5 / 8),
        ("recall_at_k", 20, 5 / 8),
    ],
)
def test_precision_and_recall_at_k(registry: MetricRegistry, metric: str, k: int | None, expected: float) -> None:
    assert _measure(registry, metric, TEN, EIGHT_RELEVANT, k) == pytest.approx(expected)


def test_precision_at_k_divides_by_k_when_fewer_were_retrieved(registry: MetricRegistry) -> None:
    assert _measure(registry, "precision_at_k", ["a", "b"], ["a"], k=4) == pytest.approx(1 / 4)
    assert _measure(registry, "precision_at_k", ["a", "b"], ["a"]) == pytest.approx(1 / 2)
    assert _measure(registry, "precision_at_k", [], ["a"]) == 0.0


def test_mean_reciprocal_rank_of_the_wikipedia_example(registry: MetricRegistry) -> None:
    # Query "cat": the right answer "cats" third; "torus": "tori" second; "virus": "viruses" first.
    queries = [
        (["catten", "cati", "cats"], ["cats"]),
        (["torii", "tori", "toruses"], ["tori"]),
        (["viruses", "virii", "viri"], ["viruses"]),
    ]
    check = registry.check("mrr")
    measured = check.measure_many(["answer"] * 3, [None] * 3, [Grounding.of(r, rel) for r, rel in queries])
    assert [m.value for m in measured] == pytest.approx([1 / 3, 1 / 2, 1])
    assert sum(m.value for m in measured) / 3 == pytest.approx(11 / 18)  # 0.61
    assert [m.details["first_relevant_rank"] for m in measured] == [3, 2, 1]
    assert _measure(registry, "mrr", ["a", "b", "c"], ["c"], k=2) == 0.0  # not in the top 2


def test_ndcg_of_the_wikipedia_example(registry: MetricRegistry) -> None:
    # Documents D1..D6 ranked as retrieved, graded 3, 2, 3, 0, 1, 2.
    ranking = ["D1", "D2", "D3", "D4", "D5", "D6"]
    grades = {"D1": 3, "D2": 2, "D3": 3, "D4": 0, "D5": 1, "D6": 2}
    check = registry.check("ndcg", options={"k": 6})
    six = check.measure("answer", None, Grounding.of(ranking, grades))
    assert six.details["dcg"] == pytest.approx(6.861, abs=5e-4)
    assert six.details["idcg"] == pytest.approx(7.141, abs=5e-4)  # ideal order 3, 3, 2, 2, 1, 0
    assert six.value == pytest.approx(0.961, abs=5e-4)
    # Two more graded documents exist, D7 (3) and D8 (2), that were not retrieved.
    eight = check.measure("answer", None, Grounding.of(ranking, {**grades, "D7": 3, "D8": 2}))
    assert eight.details["idcg"] == pytest.approx(8.740, abs=5e-4)  # ideal order 3, 3, 3, 2, 2, 2
    assert eight.value == pytest.approx(0.785, abs=5e-4)
    assert eight.details["missed"] == ["D7", "D8"]


def test_ndcg_with_binary_relevance(registry: MetricRegistry) -> None:
    # Relevant at ranks 1 and 3 of 3, with 2 relevant: (1 + 1/log2(4)) / (1 + 1/log2(3)).
    assert _measure(registry, "ndcg", ["a", "b", "c"], ["a", "c"]) == pytest.approx(1.5 / (1 + 1 / 1.5849625), abs=1e-6)
    assert _measure(registry, "ndcg", ["a", "c", "b"], ["a", "c"]) == pytest.approx(1.0)
    assert _measure(registry, "ndcg", ["b", "d"], ["a", "c"]) == 0.0


def test_details_name_hits_and_misses(registry: MetricRegistry) -> None:
    check = registry.check("recall_at_k", options={"k": 2})
    measured = check.measure("answer", None, Grounding.of([{"id": "a", "text": "A."}, "b", "c"], ["c", "a"]))
    assert measured.details == {"k": 2, "retrieved": ["a", "b"], "hits": ["a"], "missed": ["c"]}


def test_chunks_and_ids_mix_and_pass_through(registry: MetricRegistry) -> None:
    grounding = Grounding.of([{"id": 1, "text": "one"}, Chunk("2"), " 3 "], {"1": 1, "3": 2})
    assert grounding.ids == ["1", "2", "3"] and grounding.context is not None
    assert grounding.context[0].to_dict() == {"id": "1", "text": "one"}
    assert Grounding.of(grounding.context, grounding.relevant) == grounding


@pytest.mark.parametrize(
    ("context", "relevant", "message"),
    [
        ("d1", ["d1"], "context must be a list of chunks"),
        ([{"text": "no id"}], ["d1"], "context chunk 1 must have an 'id'"),
        ([{"id": "a", "score": 1}], ["a"], "unknown key 'score'"),
        ([{"id": "a", "text": 3}], ["a"], "'text' must be text"),
        (["a", "a"], ["a"], "lists chunk 'a' twice"),
        ([["a"]], ["a"], "context chunk 1 must be text or an integer"),
        (["a"], "a", "relevant must be a list of ids"),
        (["a"], {"a": -1}, "grade of 'a' must be a number >= 0"),
        (["a"], [True], "a relevant id must be text or an integer"),
        (["a"], [" "], "a relevant id is empty"),
    ],
)
def test_bad_grounding_is_explained(context: object, relevant: object, message: str) -> None:
    with pytest.raises(GroundingError, match=message.replace("(", r"\(")):
        Grounding.of(context, relevant)


def test_misuse_is_a_metric_error(registry: MetricRegistry) -> None:
    with pytest.raises(MetricError, match=r"needs context= \(the retrieved chunks\) and relevant="):
        registry.check("ndcg").measure("answer", None)
    with pytest.raises(MetricError, match=r"needs relevant="):
        registry.check("mrr").measure("answer", None, Grounding.of(["a"]))
    with pytest.raises(MetricError, match="lists no relevant ids"):
        registry.check("recall_at_k").measure("answer", None, Grounding.of(["a"], {"a": 0}))
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(MetricError, match="k must be an integer >= 1"):
            registry.check("precision_at_k", options={"k": bad})
    with pytest.raises(MetricError, match="unknown input 'sources'"):
        from pytest_llmops.metrics import Metric

        Metric("mine", lambda output, reference: 1.0, inputs=("sources",))


def test_score_many_takes_one_grounding_per_output() -> None:
    from pytest_llmops.metrics import Grounding as Public
    from pytest_llmops.metrics import score_many

    rankings = [(["a", "b"], ["b"]), (["c", "d"], ["c"])]
    measured = score_many("mrr", ["x", "y"], groundings=[Public.of(r, rel) for r, rel in rankings])
    assert [m.value for m in measured] == [0.5, 1.0]
    with pytest.raises(MetricError, match="2 outputs but 1 groundings"):
        score_many("mrr", ["x", "y"], groundings=[Public.of(["a"], ["a"])])
