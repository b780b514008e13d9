"""The transformers backend: an open model run in-process, batched, on CPU or CUDA."""

from __future__ import annotations

import dataclasses
import threading
from itertools import groupby
from pathlib import Path
from typing import Any, Sequence

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

from pytest_llmops._models.base import Generation, GenerationSettings, Message, ModelCallError, Request, TokenLogprob
from pytest_llmops._models.gguf_cache import plain_folder_for
from pytest_llmops._models.tool_text import tool_calls_in

# Progress bars and load chatter would flood test output.
transformers_logging.disable_progress_bar()
transformers_logging.set_verbosity_error()

#: Most prompts sent through one padded forward pass.
MAX_BATCH = 16


def pick_device(setting: str) -> str:
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("llm_device is cuda but torch sees no CUDA device")
    return setting


class TransformersBackend:
    """A causal LM loaded once; requests with equal settings share padded batches.

    Greedy decoding in float32 is exact across runs and batch sizes, which golden outputs need.
    A ``.gguf`` file is converted once to a plain folder in the user cache (see
    :mod:`pytest_llmops._models.gguf_cache`) so later sessions load in seconds.
    """

    batches = True
    in_process = True

    def __init__(self, path: str | Path, *, device: str, one_thread: bool, model_name: str | None = None) -> None:
        """``device`` as ``llm_device`` takes it; ``one_thread`` on an xdist worker (several
        workers each using every core slow one another to a crawl)."""
        path = Path(path).expanduser()
        folder = plain_folder_for(path) if path.suffix == ".gguf" else path
        if one_thread:
            torch.set_num_threads(1)
        self.device = pick_device(device)
        self.model = model_name or path.name
        # transformers' own annotations are too loose to check against: Any here.
        self.tokenizer: Any = AutoTokenizer.from_pretrained(folder)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        net: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        self.net: Any = net.to(self.device)
        self.net.eval()
        self._lock = threading.Lock()

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """Answer ``requests`` in order, batching those that share their settings."""
        results: dict[int, Generation] = {}
        order = sorted(range(len(requests)), key=lambda i: repr(requests[i].settings))
        for _, group in groupby(order, key=lambda i: repr(requests[i].settings)):
            indexes = list(group)
            for start in range(0, len(indexes), MAX_BATCH):
                chunk = indexes[start : start + MAX_BATCH]
                texts = [self._render(requests[i]) for i in chunk]
                with self._lock:
                    generations = self._generate(texts, requests[chunk[0]].settings)
                results.update(zip(chunk, generations))
        return [_with_tool_calls(requests[i], results[i]) for i in range(len(requests))]

    def _render(self, request: Request) -> str:
        if not request.is_chat:
            return request.prompt or ""
        tools = request.settings.tools
        if tools is not None and "tools" not in (self.tokenizer.chat_template or ""):
            raise ModelCallError(
                f"{self.model}'s chat template takes no tools: give tools= to a tool-capable model "
                "(its template shows them to the model; Qwen2.5's does)"
            )
        return self.tokenizer.apply_chat_template(
            [_turn(m) for m in request.messages],
            tools=None if tools is None else list(tools),
            add_generation_prompt=True,
            tokenize=False,
        )

    @torch.inference_mode()
    def _generate(self, texts: list[str], settings: GenerationSettings) -> list[Generation]:
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kwargs: dict[str, Any] = {"max_new_tokens": settings.max_tokens, "pad_token_id": self.tokenizer.pad_token_id}
        if settings.temperature > 0:
            kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p or 1.0)
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if settings.top_logprobs:
            kwargs.update(output_scores=True, return_dict_in_generate=True)
        output = self.net.generate(**inputs, **kwargs)
        sequences = output.sequences if settings.top_logprobs else output
        prompt_len = inputs["input_ids"].shape[1]
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        generations = []
        for row, new_tokens in enumerate(sequences[:, prompt_len:]):
            ids = self._until_eos(new_tokens.tolist())
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            finish = "length" if len(ids) >= settings.max_tokens else "stop"
            text, finish = _cut_at_stop(text, settings.stop, finish)
            logprobs = self._logprobs(output.scores, row, ids, settings.top_logprobs) if settings.top_logprobs else None
            generations.append(Generation(text, int(prompt_tokens[row]), len(ids), self.model, finish, logprobs))
        return generations

    def _until_eos(self, ids: list[int]) -> list[int]:
        ends = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        for position, token in enumerate(ids):
            if token in ends:
                return ids[:position]
        return ids

    def _logprobs(self, scores: tuple[Any, ...], row: int, ids: list[int], top: int) -> tuple[TokenLogprob, ...]:
        tokens = []
        for step, token in enumerate(ids):
            logp = torch.log_softmax(scores[step][row].float(), dim=-1)
            best = torch.topk(logp, top)
            alternatives = tuple(
                (self.tokenizer.decode([i]), float(v)) for v, i in zip(best.values.tolist(), best.indices.tolist())
            )
            tokens.append(TokenLogprob(self.tokenizer.decode([token]), float(logp[token]), alternatives))
        return tuple(tokens)

    def log_likelihood(self, text: str, context: str = "") -> tuple[float, int]:
        """Sum of log-probabilities of ``text``'s tokens after ``context``, and their count."""
        with self._lock, torch.inference_mode():
            context_ids = self.tokenizer(context, add_special_tokens=False)["input_ids"] if context else []
            text_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([context_ids + text_ids], device=self.device)
            logits = self.net(ids).logits[0, :-1].float()
            logp = torch.log_softmax(logits, dim=-1)
            targets = ids[0, 1:]
            picked = logp[torch.arange(len(targets)), targets][max(len(context_ids) - 1, 0) :]
            return float(picked.sum()), int(picked.numel())


def _turn(message: Message) -> dict[str, Any]:
    """A chat turn as chat templates read it: tool calls with their arguments as data."""
    turn = message.to_dict()
    if message.tool_calls:
        turn["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    return turn


def _with_tool_calls(request: Request, generation: Generation) -> Generation:
    """``generation`` with the tool calls its text makes taken out of it, for a call with tools."""
    tools = request.settings.tools
    if tools is None:
        return generation
    text, calls = tool_calls_in(generation.text, {tool["function"]["name"] for tool in tools})
    if not calls:
        return generation
    return dataclasses.replace(generation, text=text, tool_calls=calls, finish_reason="tool_calls")


def _cut_at_stop(text: str, stops: tuple[str, ...], finish: str) -> tuple[str, str]:
    for stop in stops:
        if stop in text:
            text, finish = text.split(stop, 1)[0], "stop"
    return text, finish
