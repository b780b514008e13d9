"""Adaptive concurrency: each endpoint (a server's base URL) finds the pace its rate limit allows.

Under the one global bound (``llm_concurrency``), each endpoint has its own limit of calls in
flight. It starts at half the bound (:data:`FIRST_LIMIT_LEAST` or the bound at the least) and
grows by one per answered call (doubling per round of answers) up to the bound: a server's limit
is first met by half as many calls, at a cost of at most one round of answers. A 429 halves the
limit (once per cooldown: the calls already in flight answer 429 too) and pauses every call to
the endpoint for the ``retry-after`` the server asked; from then on each answered call grows it
back by ``1/limit`` (one more per round of answers), never above the bound.

When answers carry ``x-ratelimit-remaining-requests`` (counted when the request arrived, as
OpenAI counts) and ``x-ratelimit-reset-requests``, calls are paced by them: the newest answer's
remaining requests, less the calls started since its own, may start; once that allowance is
spent, the next call waits for the reset, then one call goes and its answer says the rest. A
server that sends no such headers still says, in a 429's ``retry-after``, when its window has
room again: the window is then learned from the 429 and the endpoint's own starts
(:func:`window_from_refusal`), and calls are paced by it as by a window the headers told.

An endpoint's figures (429s, its lowest and final limit, the time its calls waited) go in the
report.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from pytest_llmops._models.base import RateLimits
from pytest_llmops.errors import CallCancelled

#: The pause after a 429 whose server did not say how long to wait.
DEFAULT_PAUSE_S = 1.0
#: A spent allowance whose server did not say when it resets is tried again after this long.
DEFAULT_RESET_S = 1.0
#: Calls started this shortly before another may reach the server after it: an answer's count
#: is not trusted to hold them, nor the window to have let them go. A 429 while paced by the
#: window doubles an endpoint's margin (once per cooldown; a loaded machine delays its calls
#: more), up to the most.
_OVERTAKEN_S_FIRST = 0.02
_OVERTAKEN_S_MOST = 0.5
#: An endpoint's first limit is half the bound, but not below this (nor above the bound).
FIRST_LIMIT_LEAST = 4
#: Calls whose start times an endpoint keeps (to pace by a window of up to this many requests).
_HISTORY = 4096
#: The latest calls a window is learned from, after a 429 that no header explained.
_LEARNED_FROM = 1024


@dataclass(frozen=True)
class Ticket:
    """One call's place at its endpoint: its number (in the order calls started) and start time."""

    number: int
    started: float
    #: Calls started just before it, which may have reached the server after it.
    just_before: int = 0


@dataclass
class EndpointStats:
    """One endpoint's figures: 429 answers, the lowest limit a 429 cut it to (the bound when none
    did), its final limit, and the seconds its calls waited."""

    rate_limited: int = 0
    lowest: int = 0
    final: int = 0
    waited_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rate_limited": self.rate_limited,
            "lowest": self.lowest,
            "final": self.final,
            "waited_s": round(self.waited_s, 3),
        }


def merged(parts: Iterable[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Endpoint figures of several processes (xdist workers, shards): 429s and waits add up; the
    lowest and final limits are the lowest any process had (each adapts on its own)."""
    total: dict[str, dict[str, Any]] = {}
    for part in parts:
        for name, figures in part.items():
            entry = total.get(name)
            if entry is None:
                total[name] = dict(figures)
                continue
            entry["rate_limited"] += figures["rate_limited"]
            entry["waited_s"] = round(entry["waited_s"] + figures["waited_s"], 3)
            entry["lowest"] = min(entry["lowest"], figures["lowest"])
            entry["final"] = min(entry["final"], figures["final"])
    return dict(sorted(total.items()))


class Endpoint:
    """The adaptive limit of one endpoint; thread-safe."""

    def __init__(self, bound: int, cancelled: threading.Event) -> None:
        self.bound = bound
        self.limit = float(min(bound, max(FIRST_LIMIT_LEAST, bound // 2)))
        #: Until the first 429 or the bound, the limit doubles per round of answers.
        self._starting = True
        self.stats = EndpointStats(lowest=bound, final=int(self.limit))
        self._cancelled = cancelled
        self._busy = 0
        self._paused_until = 0.0
        self._cooldown_until = 0.0
        #: Calls the server's last word allows before it says more (None: it said nothing); when
        #: the server said a spent allowance has room again (None: it did not; the next answer will).
        self._allowance: int | None = None
        self._room_at: float | None = None
        self._allowance_until = 0.0
        #: Calls started so far, and the number of the call whose answer set the allowance.
        self._started = 0
        self._told_by = 0
        #: (number, start) of the latest calls; and the server's window, (limit, seconds), once an
        #: answer has told it: then calls are paced by the window of their own starts.
        self._history: deque[tuple[int, float]] = deque(maxlen=_HISTORY)
        self._window: tuple[int, float] | None = None
        #: Whether the window came from the headers (else from 429s, which may tell it better).
        self._window_told = False
        self._margin = _OVERTAKEN_S_FIRST
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def held(self) -> Iterator[Ticket]:
        """Wait until the endpoint takes one more call (its limit, a pause, its allowance); the
        ticket goes back with the call's answer."""
        began = time.monotonic()
        with self._changed:
            while True:
                if self._cancelled.is_set():
                    raise CallCancelled("the run is ending: this queued call was dropped")
                now = time.monotonic()
                wait = self._wait(now)
                if wait <= 0:
                    break
                self._changed.wait(None if math.isinf(wait) else wait)
            self._busy += 1
            if self._allowance is not None:
                self._allowance -= 1
            self._started += 1
            ticket = Ticket(self._started, now, sum(1 for _, start in self._history if start > now - self._margin))
            self._history.append((self._started, now))
            self.stats.waited_s += now - began
        try:
            yield ticket
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify_all()

    def _wait(self, now: float) -> float:
        """Seconds before a call may start (``inf``: until another call ends); 0: now."""
        if now < self._paused_until:
            return self._paused_until - now
        if self._window is not None:
            room = self._window_room(now, *self._window)
            if room > 0:
                return room
        elif self._allowance is not None and self._allowance <= 0:
            if self._room_at is not None and now < self._room_at:
                return self._room_at - now
            if self._room_at is None and self._busy and now < self._allowance_until:
                return self._allowance_until - now  # a call in flight will answer with more
            # Room again, or nobody left to say: one call goes, and its answer says the rest.
            self._allowance, self._room_at, self._allowance_until = 1, None, now + DEFAULT_RESET_S
        return 0.0 if self._busy < int(self.limit) else math.inf

    def _window_room(self, now: float, limit: int, seconds: float) -> float:
        """Seconds until the server's window holds fewer than ``limit`` of this endpoint's calls."""
        inside = [start for _, start in self._history if start + self._margin > now - seconds]
        if len(inside) < limit:
            return 0.0
        # A call reaches the server a little after it starts here, and not always in order.
        return inside[len(inside) - limit] + seconds + self._margin - now

    def answered(self, ticket: Ticket, limits: RateLimits | None) -> None:
        """A call succeeded: grow the limit (outside a cooldown); take the server's allowance."""
        with self._changed:
            if time.monotonic() >= self._cooldown_until:
                self._set_limit(min(float(self.bound), self.limit + (1 if self._starting else 1 / self.limit)))
                self._starting = self._starting and self.limit < self.bound
            if limits is not None:
                self._allow(ticket, limits)
            self._changed.notify_all()

    def _allow(self, ticket: Ticket, limits: RateLimits) -> None:
        """The server counted every call started before this one, none started after it."""
        if limits.remaining_requests is not None and ticket.number > self._told_by:
            self._told_by = ticket.number
            self._allowance = limits.remaining_requests - (self._started - ticket.number) - ticket.just_before
            reset = limits.reset_requests_s
            # Spent at the server: room comes back when it said; spent later by this endpoint's
            # own calls: their answers say when.
            self._room_at = ticket.started + reset if limits.remaining_requests == 0 and reset is not None else None
            self._allowance_until = time.monotonic() + DEFAULT_RESET_S
            self._learn_window(ticket, limits)
        if limits.remaining_tokens == 0:
            reset = limits.reset_tokens_s if limits.reset_tokens_s is not None else DEFAULT_RESET_S
            self._paused_until = max(self._paused_until, ticket.started + reset)

    def _learn_window(self, ticket: Ticket, limits: RateLimits) -> None:
        """A full window (no request remaining) says its length: it holds the last ``limit`` calls
        the server counted up to this one, and has room when the oldest leaves, ``reset`` after."""
        limit, reset = limits.limit_requests, limits.reset_requests_s
        if not limit or limits.remaining_requests != 0 or reset is None:
            return
        entry = (ticket.number, ticket.started)
        if entry not in self._history:
            return
        position = self._history.index(entry) - limit + 1
        oldest = self._history[position][1] if position >= 0 else None
        if oldest is not None and ticket.started + reset > oldest:
            self._window, self._window_told = (limit, ticket.started + reset - oldest), True

    def rate_limited(self, ticket: Ticket, retry_after: float | None) -> None:
        """A 429: pause the endpoint for ``retry_after``; halve the limit, once per cooldown. The
        server did not count the call: neither does the window. A ``retry-after`` tells the
        window, unless the headers have."""
        with self._changed:
            with contextlib.suppress(ValueError):
                self._history.remove((ticket.number, ticket.started))
            learned = self._window is None
            if retry_after is not None and not self._window_told:
                # Each 429 tells it anew: the calls refused beside it drop out of the count. Calls
                # started just after it may have reached the server before it.
                starts = [start for _, start in self._history if start < ticket.started + self._margin]
                self._window = window_from_refusal(starts, ticket.started, retry_after, self._margin) or self._window
            now = time.monotonic()
            self.stats.rate_limited += 1
            pause = retry_after if retry_after is not None else DEFAULT_PAUSE_S
            self._paused_until = max(self._paused_until, now + pause)
            self._starting = False
            if now >= self._cooldown_until:
                self._set_limit(max(1.0, self.limit / 2))
                self.stats.lowest = min(self.stats.lowest, int(self.limit))
                self._cooldown_until = now + pause + 0.1
                if self._window is not None and not learned:
                    self._margin = min(2 * self._margin, _OVERTAKEN_S_MOST)
            self._allowance = None  # the pause stands in for it until an answer says more
            self._changed.notify_all()

    def _set_limit(self, limit: float) -> None:
        self.limit = limit
        self.stats.final = int(limit)

    def cancel(self) -> None:
        with self._changed:
            self._changed.notify_all()


def window_from_refusal(
    starts: list[float], refused: float, retry_after: float, margin: float
) -> tuple[int, float] | None:
    """The narrowest sliding window, (limit, seconds), that explains a 429 and every call before it.

    ``starts``: when the calls the server counted started, oldest first; ``refused``: when the
    refused call started; the server said it has room ``retry_after`` later, when the oldest call
    in its window leaves. If that is the call started at ``starts[i]``, the window is
    ``refused + retry_after - starts[i]`` long and holds the calls from ``i`` on, and the call
    before it had already left, ``retry_after`` or more earlier. Of the calls that fit, the one
    whose window never held more calls than its limit, and is the narrowest, is taken: the
    strictest pace the server's answers allow. ``margin``: how far a call's arrival at the server
    may trail its start here.
    """
    first = max(0, len(starts) - _LEARNED_FROM)
    latest = starts[first:]
    for oldest in range(len(starts) - 1, first - 1, -1):
        if oldest and starts[oldest - 1] > starts[oldest] - retry_after + margin:
            continue
        limit, seconds = len(starts) - oldest, refused + retry_after - starts[oldest]
        if seconds <= 2 * margin:  # too short to tell from the calls' own jitter (or none at all)
            continue
        if _never_above(latest, limit, seconds - margin):
            return limit, seconds
    return None


def _never_above(starts: list[float], limit: int, seconds: float) -> bool:
    """No ``seconds`` of these starts (oldest first) held more than ``limit`` of them."""
    inside_from = 0
    for index, start in enumerate(starts):
        while inside_from < index and starts[inside_from] <= start - seconds:
            inside_from += 1
        if index - inside_from + 1 > limit:
            return False
    return True


def display_name(url: str) -> str:
    """A base URL as reports show it: no credentials, query or fragment."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else url


class Endpoints:
    """Every endpoint's adaptive limit, by name (``None`` when adaptive concurrency is off)."""

    def __init__(self, bound: int, cancelled: threading.Event) -> None:
        self._bound = bound
        self._cancelled = cancelled
        self._endpoints: dict[str, Endpoint] = {}
        self._lock = threading.Lock()

    def of(self, name: str) -> Endpoint:
        with self._lock:
            endpoint = self._endpoints.get(name)
            if endpoint is None:
                endpoint = self._endpoints[name] = Endpoint(self._bound, self._cancelled)
            return endpoint

    def figures(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: endpoint.stats.to_dict() for name, endpoint in sorted(self._endpoints.items())}

    def cancel(self) -> None:
        with self._lock:
            endpoints = list(self._endpoints.values())
        for endpoint in endpoints:
            endpoint.cancel()
