"""Answers from the help centre (RAG): retrieval scored against the articles a person labelled,
without a model; each answer checked for personal data and for citing only retrieved articles."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support_app.help_center import Retriever, answer, minilm_embedder

QUESTIONS = yaml.safe_load((Path(__file__).parent / "data" / "help_questions.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def retriever() -> Retriever:
    """The help centre's articles, embedded once with all-MiniLM-L6-v2."""
    return Retriever(minilm_embedder())


@pytest.mark.parametrize("row", QUESTIONS, ids=[row["id"] for row in QUESTIONS])
@pytest.mark.golden(metrics={"recall_at_k": {"threshold": 1, "k": 3}, "mrr": 0.5, "ndcg": {"threshold": 0.8, "k": 3}})
def test_retrieval_finds_the_labelled_articles(retriever, golden, row):
    """No model: the top 3 articles hold every labelled one, the first of them ranked high."""
    context = retriever.search(row["question"])
    golden.check(row["question"], context=context, relevant=row["relevant"])


@pytest.mark.parametrize("row", QUESTIONS, ids=[row["id"] for row in QUESTIONS])
@pytest.mark.golden(metrics={"no_pii": 1, "citations": {"threshold": 1, "min_words": None}})
def test_answer_cites_retrieved_articles_and_leaks_nothing(retriever, llm, prompt, golden, row):
    """The recorded answer holds no e-mail, phone, card, IBAN, IP address or credential, and
    every source it cites is an article that was retrieved for it."""
    reply = answer(row["question"], retriever, llm, prompt)
    golden.check(reply.text, context=reply.context, relevant=row["relevant"])
