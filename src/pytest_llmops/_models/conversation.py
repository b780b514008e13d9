"""Multi-turn conversations: the user's turns scripted, the assistant's generated with the history.

``conv = llm.conversation(system="You are a support bot")``, then ``reply = conv.say("hi")``:
each turn is one call of the client (so it is recorded, replayed and costed like any call) with
every earlier turn in its messages. ``conv.play(turns)`` says several. The transcript goes to
the test's record (``extra["conversations"]``) after every turn, so a failing test's report
shows how far it got. ``str(conv)`` and ``conv.text`` are the transcript, for a judge grading
the whole conversation (``judge.check(conv, criterion="turn_consistency")``) or a golden check.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, cast

from pytest_llmops._models.base import Message, PromptVersion, messages_from

if TYPE_CHECKING:
    from pytest_llmops._models.base import Completion
    from pytest_llmops._models.client import LLM, PromptInput, RenderedPromptLike

_IDS = itertools.count(1)


@dataclass(frozen=True)
class ScriptedTurn:
    """A user turn to say, and what the reply is expected to be (None: nothing said)."""

    user: str
    expected: Any = None

    @classmethod
    def of(cls, value: Any) -> ScriptedTurn:
        """A turn from a string or ``{"user": text, "expected": ...}``; ValueError if neither."""
        if isinstance(value, ScriptedTurn):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, Mapping) and isinstance(value.get("user"), str) and set(value) <= {"user", "expected"}:
            return cls(value["user"], value.get("expected"))
        raise ValueError(f'a turn is a string or {{"user": text, "expected": ...}}, not {value!r}')


@dataclass(frozen=True)
class Turn:
    """One exchange: what the user said, the assistant's reply, and what it was expected to be."""

    user: str
    reply: Completion
    expected: Any = None

    @property
    def text(self) -> str:
        return self.reply.text


@dataclass(frozen=True)
class _History:
    """The messages of the next call, with the opening template's versions and settings."""

    messages: tuple[Message, ...]
    versions: tuple[PromptVersion, ...]
    settings: Mapping[str, Any]


class Conversation:
    """A multi-turn conversation with one model client; see the module's docstring.

    ``opening`` is what comes before the first user turn: a rendered prompt template (its
    versions are recorded with every turn) or chat messages; ``system`` adds a system turn
    first. Keyword ``settings`` apply to every turn's call (a turn's own override them).
    """

    def __init__(
        self,
        llm: LLM,
        system: str | None = None,
        *,
        opening: PromptInput | None = None,
        name: str | None = None,
        **settings: Any,
    ) -> None:
        self.llm = llm
        self.id = next(_IDS)
        self.name = name
        self.settings = settings
        versions: tuple[PromptVersion, ...] = ()
        template_settings: Mapping[str, Any] = {}
        messages: tuple[Message, ...] = ()
        if opening is not None and hasattr(opening, "versions") and hasattr(opening, "messages"):
            rendered = cast("RenderedPromptLike", opening)
            messages, versions, template_settings = rendered.messages, rendered.versions, rendered.settings
        elif opening is not None:
            messages = messages_from(cast("str | Sequence[Message | Mapping[str, Any]]", opening))
        if system is not None:
            messages = (Message("system", system), *messages)
        self.opening = messages
        self._versions = versions
        self._template_settings = template_settings
        self.turns: list[Turn] = []

    def __repr__(self) -> str:
        return f"<Conversation {self.name or self.id} with {self.llm.spec}: {len(self.turns)} turns>"

    def __str__(self) -> str:
        return self.transcript()

    @property
    def text(self) -> str:
        """The transcript (what a golden check or a judge grades for the whole conversation)."""
        return self.transcript()

    @property
    def messages(self) -> tuple[Message, ...]:
        """Every message so far: the opening, then each user turn and its reply."""
        said = (m for turn in self.turns for m in (Message("user", turn.user), Message("assistant", turn.reply.text)))
        return (*self.opening, *said)

    @property
    def replies(self) -> list[Completion]:
        return [turn.reply for turn in self.turns]

    @property
    def last(self) -> Completion | None:
        """The last reply (None before the first turn)."""
        return self.turns[-1].reply if self.turns else None

    def say(self, text: str, *, expected: Any = None, **settings: Any) -> Completion:
        """Say ``text`` as the user; the assistant's reply, generated with the whole history."""
        if not isinstance(text, str):
            raise TypeError(f"a user turn is text, not {type(text).__name__}")
        history = _History((*self.messages, Message("user", text)), self._versions, self._template_settings)
        reply = self.llm.complete(history, **{**self.settings, **settings})
        self.turns.append(Turn(text, reply, expected))
        self._noted()
        return reply

    def play(self, turns: Iterable[str | Mapping[str, Any] | ScriptedTurn]) -> list[Completion]:
        """Say each scripted turn in order (a string, or ``{"user": ..., "expected": ...}``)."""
        scripted = [ScriptedTurn.of(turn) for turn in turns]
        return [self.say(turn.user, expected=turn.expected) for turn in scripted]

    def transcript(self) -> str:
        """``role: content`` blocks, one a message, blank lines between."""
        return "\n\n".join(f"{m.role}: {m.content}" for m in self.messages)

    def to_dict(self) -> dict[str, Any]:
        """The transcript as the test's record keeps it."""
        return {
            "name": self.name,
            "model": self.llm.spec,
            "messages": [m.to_dict() for m in self.messages],
            "expected": [turn.expected for turn in self.turns],
        }

    def _noted(self) -> None:
        """Tell the client's observers that care (the test's record) how the conversation stands."""
        for observer in self.llm.observers:
            conversed = getattr(observer, "conversed", None)
            if conversed is not None:
                conversed(self.id, self.to_dict())


def scripted_turns(value: Any) -> tuple[ScriptedTurn, ...]:
    """A dataset cell's turns: a non-empty list of strings or ``{"user", "expected"}`` mappings."""
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise ValueError("turns must be a non-empty list of user turns")
    return tuple(ScriptedTurn.of(turn) for turn in value)
