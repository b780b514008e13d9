"""The values every backend speaks: requests in, generations out, completions to tests."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from pytest_llmops._models.generation import UNSET_LEFT_OUT, checked
from pytest_llmops._models.tools import ToolCall, standard_json
from pytest_llmops.errors import ModelCallError as ModelCallError  # re-exported: backends raise it
from pytest_llmops.errors import RateLimited as RateLimited
from pytest_llmops.errors import TransientCallError as TransientCallError

ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class Message:
    """One chat turn. An assistant turn may carry the ``tool_calls`` the model made; a ``tool``
    turn answers one of them (``tool_call_id``) with the tool's result as its ``content``."""

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown chat role {self.role!r}; expected one of {', '.join(ROLES)}")
        if self.tool_calls and self.role != "assistant":
            raise ValueError(f"a {self.role} message cannot carry tool calls (only an assistant's can)")
        if not all(isinstance(call, ToolCall) for call in self.tool_calls):
            raise ValueError("a message's tool_calls must be ToolCall values (e.g. completion.tool_calls)")
        if (self.role == "tool") != isinstance(self.tool_call_id, str) or self.tool_call_id == "":
            raise ValueError("a tool message needs the tool_call_id of the call it answers (and only it has one)")

    @classmethod
    def tool_result(cls, call: ToolCall, result: Any) -> Message:
        """The ``tool`` turn that answers ``call``: ``result`` as text (anything else as JSON)."""
        content = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        return cls("tool", content, tool_call_id=call.id)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Ours, or the OpenAI shape (an assistant's ``content`` null beside its tool calls)."""
        content = data.get("content")
        calls = data.get("tool_calls") or ()
        if isinstance(calls, (str, Mapping)) or not isinstance(calls, (list, tuple)):
            raise ValueError(f"a message's tool_calls must be a list, not {type(calls).__name__}")
        return cls(
            role=str(data["role"]),
            content="" if content is None and calls else str(data["content"]),
            tool_calls=tuple(c if isinstance(c, ToolCall) else ToolCall.from_dict(c) for c in calls),
            tool_call_id=None if data.get("tool_call_id") is None else str(data["tool_call_id"]),
        )


@dataclass(frozen=True)
class GenerationSettings:
    """What, besides the input, determines a model's answer."""

    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_logprobs: int | None = None
    #: The tools the model may call (OpenAI's ``{"type": "function", "function": {...}}`` shape).
    tools: tuple[dict[str, Any], ...] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    #: ``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema": {...}}``.
    response_format: dict[str, Any] | None = None
    #: Stream the answer (time to first token and tokens per second are measured).
    stream: bool = False

    def to_dict(self) -> dict[str, Any]:
        # vars() rather than dataclasses.asdict: this runs on every call, replayed ones included.
        data = dict(vars(self))
        if isinstance(self.stop, tuple):
            data["stop"] = list(self.stop)
        if isinstance(self.tools, tuple):
            data["tools"] = list(self.tools)
        for name in UNSET_LEFT_OUT:
            if data[name] is None:
                del data[name]
        if data["stream"] is False:  # a call that does not stream keeps the key it always had
            del data["stream"]
        return data

    def updated(self, where: str = "generation settings", /, **changes: Any) -> GenerationSettings:
        """A copy with the set (non-None) ``changes`` applied, each checked against the table
        of settings; :class:`GenerationSettingError` names ``where`` they were given."""
        given = {name: value for name, value in changes.items() if value is not None}
        if not given:
            return self
        return dataclasses.replace(self, **checked(given, where))


@dataclass(frozen=True)
class PromptVersion:
    """Which template produced a prompt: its name, content hash and declared version."""

    name: str
    hash: str
    version: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version or self.hash[:8]}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromptVersion:
        return cls(name=data["name"], hash=data["hash"], version=data.get("version"))


@dataclass(frozen=True)
class Request:
    """One model call: chat messages, or a raw text prompt when ``messages`` is empty."""

    messages: tuple[Message, ...] = ()
    prompt: str | None = None
    settings: GenerationSettings = field(default_factory=GenerationSettings)

    @property
    def is_chat(self) -> bool:
        return self.prompt is None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"settings": self.settings.to_dict()}
        if self.is_chat:
            data["messages"] = [m.to_dict() for m in self.messages]
        else:
            data["prompt"] = self.prompt
        return data


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token with its log-probability and the top alternatives."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"token": self.token, "logprob": self.logprob, "top": [list(t) for t in self.top]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenLogprob:
        return cls(data["token"], data["logprob"], tuple((t, lp) for t, lp in data.get("top", ())))


@dataclass(frozen=True)
class RateLimits:
    """What a server said of its rate limits with an answer (``x-ratelimit-*`` headers): the
    requests it allows in all, the requests and tokens it still allows, and seconds until each
    allowance has room again."""

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests_s: float | None = None
    remaining_tokens: int | None = None
    reset_tokens_s: float | None = None


@dataclass(frozen=True)
class Generation:
    """What a backend returns for one request."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    finish_reason: str | None = None
    logprobs: tuple[TokenLogprob, ...] | None = None
    #: The server's rate-limit headers, when it sent any (adaptive concurrency reads them).
    rate_limits: RateLimits | None = None
    #: The server's ``system_fingerprint``: its build of the model (changes under one name).
    system_fingerprint: str | None = None
    #: The tools the model called, in order.
    tool_calls: tuple[ToolCall, ...] = ()
    #: A streamed answer's seconds from the request to its first token, and from its first
    #: token to the end of the stream (None: the backend did not stream).
    ttft_s: float | None = None
    decode_s: float | None = None


@dataclass(frozen=True)
class Completion:
    """A model's answer as a test sees it: text plus usage, latency, cost and provenance."""

    text: str
    model: str
    backend: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    cached: bool = False
    finish_reason: str | None = None
    prompt_versions: tuple[PromptVersion, ...] = ()
    logprobs: tuple[TokenLogprob, ...] | None = None
    role: str = "model"
    #: The model spec the call was made to (``openai:gpt-4o-mini``); ``model`` is the name the
    #: server answered with (``gpt-4o-mini-2024-07-18``).
    spec: str = ""
    system_fingerprint: str | None = None
    #: The tools the model called, in order (send them back with :attr:`message`).
    tool_calls: tuple[ToolCall, ...] = ()
    #: Streamed calls only: seconds to the first token (the whole latency for a backend that
    #: cannot stream), and output tokens per second after it (None when not measured).
    ttft_s: float | None = None
    tokens_per_s: float | None = None

    def __str__(self) -> str:
        return self.text

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def json(self) -> Any:
        """The answer's text as parsed JSON (a structured output); ``ValueError`` saying why when
        it is not standard JSON."""
        value, problem = standard_json(self.text)
        if problem:
            raise ValueError(f"the answer of {self.spec or self.model} is {problem}: {self.text[:80]!r}")
        return value

    @property
    def message(self) -> Message:
        """This answer as the assistant turn of a conversation, tool calls included."""
        return Message("assistant", self.text, tool_calls=self.tool_calls)

    def to_dict(self) -> dict[str, Any]:
        data = dict(vars(self))  # every other field is a plain value: no deep copy needed
        data["prompt_versions"] = [p.to_dict() for p in self.prompt_versions]
        data["logprobs"] = None if self.logprobs is None else [t.to_dict() for t in self.logprobs]
        data["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Completion:
        values = dict(data)
        values["prompt_versions"] = tuple(PromptVersion.from_dict(p) for p in values.get("prompt_versions", ()))
        if values.get("logprobs") is not None:
            values["logprobs"] = tuple(TokenLogprob.from_dict(t) for t in values["logprobs"])
        values["tool_calls"] = tuple(ToolCall.from_dict(c) for c in values.get("tool_calls") or ())
        return cls(**{k: v for k, v in values.items() if k in _COMPLETION_FIELDS})


_COMPLETION_FIELDS = frozenset(f.name for f in dataclasses.fields(Completion))


@runtime_checkable
class Backend(Protocol):
    """A model backend. ``generate`` answers a batch of requests, in order.

    Backends that cannot batch natively answer them one by one; the pipeline runs those
    concurrently. Make one attempt and raise :class:`TransientCallError` for a failure worth
    another (429, 5xx, a timeout; with the server's ``retry_after``): the pipeline retries it,
    under ``llm_max_retries``. Raise :class:`ModelCallError` for any other failure.

    Optional: ``in_process = True`` for a backend that computes in this process (or in a local
    process that queues this one's requests, as the offline judge's host); the pipeline then does
    not abandon its calls at ``llm_timeout`` (they would keep the CPU busy).
    ``cheap = True`` for one whose calls are instant, local and do no I/O (``echo``): the
    pipeline answers them in the caller's thread, as handing them to a thread costs more
    (unless it batches: its calls still share batches).
    ``endpoint = "<base URL>"`` for one that calls a server: calls to one endpoint share its
    adaptive concurrency (raise :class:`RateLimited` for a 429, and set ``rate_limits`` on each
    :class:`Generation` when the server says them).
    """

    #: Resolved model name reported with each completion.
    model: str
    #: True when ``generate`` runs a whole batch natively (one padded forward pass).
    batches: bool

    def generate(self, requests: Sequence[Request]) -> list[Generation]: ...


def messages_from(value: str | Iterable[Message | Mapping[str, Any]]) -> tuple[Message, ...]:
    """Normalise a string or a list of messages/dicts into chat messages."""
    if isinstance(value, str):
        return (Message("user", value),)
    return tuple(m if isinstance(m, Message) else Message.from_dict(m) for m in value)
