"""OpenAI-compatible servers the tests start on 127.0.0.1, each on a free port.

- :class:`KatanServer`: the real ``llm-katan`` server (echo backend, fault injection).
- :class:`ScriptedServer`: a tiny in-process server whose answers the test scripts: well-formed,
  malformed, errors, garbage, hangs, closed connections. It answers OpenAI's paths, Azure
  OpenAI's (``/openai/deployments/<d>/chat/completions?api-version=...``) and Anthropic's
  Messages API (``/v1/messages``) each in its own shape.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Sequence

_KATAN = Path(sys.executable).with_name("llm-katan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class KatanServer:
    """``llm-katan`` on 127.0.0.1: ``with KatanServer("--latency-ms", "300") as url: ...``."""

    def __init__(
        self, *args: str, model: str = "katan-echo", workdir: Path | None = None, backend: str = "echo"
    ) -> None:
        self.port = free_port()
        self.model = model
        self.url = f"http://127.0.0.1:{self.port}/v1"
        workdir = workdir or Path(os.environ.get("TMPDIR", "/tmp"))
        self._command = [
            str(_KATAN) if _KATAN.exists() else "llm-katan",
            "--model",
            model,
            "--backend",
            backend,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--stats-file",
            str(workdir / f"katan-{self.port}.json"),
            "--disable-dashboard",
            "--max-concurrent",
            "64",
            "--log-level",
            "warning",
            *args,
        ]
        self._log = workdir / f"katan-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        self.start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> None:
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(self._command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"llm-katan exited: {self._log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llm-katan not ready in {timeout}s: {self._log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


Answer = Any  # a str (the reply text), a dict (the assistant message: tool calls, say), a (status, body)
# tuple, or a callable(request_json) -> any of them
# Special answers: "!garbage" sends non-JSON, "!close" closes the connection, ("!hang", seconds) sleeps,
# ("!drip", seconds) sends the answer one byte every so many seconds; ("!headers", {name: value}, answer)
# sends those headers with the answer; a Streamed answer streams (a text answer to a streamed
# request streams too, a word a chunk, at once).


@dataclass(frozen=True)
class Streamed:
    """A scripted streamed answer: Server-Sent Events, one text piece a chunk, the first after
    ``first`` seconds, each next ``every`` seconds later, then a chunk with the finish reason
    and the usage (``usage=False``: none), then ``[DONE]``. ``break_after``: the connection
    closes after that many pieces, in the middle of the body. A request that does not stream
    gets the pieces joined, as one answer."""

    pieces: tuple[str, ...]
    first: float = 0.0
    every: float = 0.0
    break_after: int | None = None
    usage: bool = True

    @property
    def text(self) -> str:
        return "".join(self.pieces)


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (a timeout, a cancelled run) is expected: no traceback for it."""

    # socketserver's default backlog (5) resets some of 16 calls that connect at once.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ScriptedServer:
    """An OpenAI-compatible server that answers chat and completion calls from a script.

    ``answers`` are served in order (the last one repeats); ``requests`` keeps every request
    body received, and ``seen`` each one's path and the key it carried (``Authorization:
    Bearer``, ``api-key`` or ``x-api-key``), so tests can check what the client sent; with
    ``key`` set, a request carrying another key is answered 401 (and kept in neither);
    ``headers`` go on every answer; ``model`` and ``fingerprint`` (``system_fingerprint``, when
    set) name what served it, and a test may change them between calls.
    """

    def __init__(
        self,
        answers: Sequence[Answer] | Callable[[dict[str, Any]], Answer],
        model: str = "scripted",
        headers: dict[str, str] | None = None,
        fingerprint: str | None = None,
        key: str | None = None,
    ) -> None:
        self.answers = answers
        self.model = model
        self.fingerprint = fingerprint
        self.key = key
        self.headers = dict(headers or {})
        self.requests: list[dict[str, Any]] = []
        self.seen: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        #: The server's root (Azure's endpoint, Anthropic's base URL) and its OpenAI base URL.
        self.root = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = f"{self.root}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_answer(self, body: dict[str, Any]) -> Answer:
        with self._lock:
            self.requests.append(body)
            if callable(self.answers):
                return self.answers  # called outside the lock, so answers can overlap
            index = min(len(self.requests) - 1, len(self.answers) - 1)
            return self.answers[index]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                key = _key_of(self.headers)
                if server.key is not None and key != server.key:
                    return self._send(401, json.dumps({"error": {"message": "invalid API key"}}).encode())
                server.seen.append((self.path, key))
                answer = server._next_answer(body)
                if callable(answer):
                    answer = answer(body)
                self.extra_headers: dict[str, str] = {}
                if isinstance(answer, tuple) and answer[0] == "!headers":
                    self.extra_headers, answer = answer[1], answer[2]
                if body.get("stream") and isinstance(answer, str) and not answer.startswith("!"):
                    answer = Streamed(tuple(word + " " for word in answer.split()[:-1]) + tuple(answer.split()[-1:]))
                if isinstance(answer, Streamed):
                    if body.get("stream"):
                        return self._stream(answer, body)
                    answer = answer.text
                if answer == "!close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if isinstance(answer, tuple) and answer[0] == "!hang":
                    time.sleep(answer[1])
                    answer = "late"
                if answer == "!garbage":
                    return self._send(200, b"<html>not json", "text/html")
                if isinstance(answer, tuple) and answer[0] == "!drip":
                    return self._drip(json.dumps(server._reply(self.path, body, "dripped")).encode(), answer[1])
                if isinstance(answer, tuple):
                    status, payload = answer
                    return self._send(status, json.dumps(payload).encode())
                if isinstance(answer, dict):
                    return self._send(200, json.dumps(server._reply(self.path, body, "", answer)).encode())
                self._send(200, json.dumps(server._reply(self.path, body, str(answer))).encode())

            def _drip(self, data: bytes, every: float) -> None:
                """The whole answer, one byte every ``every`` seconds: each read succeeds, the
                answer never ends in time."""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up
                    for byte in data:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(every)

            def _stream(self, answer: Streamed, body: dict[str, Any]) -> None:
                """``answer`` as Server-Sent Events in a chunked body, each piece when it is due."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                chat = "chat" in self.path
                events = [server._chunk(chat, piece, None) for piece in answer.pieces]
                final = server._chunk(chat, "", "stop")
                if answer.usage and (body.get("stream_options") or {}).get("include_usage"):
                    final["usage"] = server._usage(answer.text)
                with contextlib.suppress(OSError):  # the client gave up
                    self._event(server._chunk(chat, None, None))  # the role, before any text
                    for index, event in enumerate(events):
                        if answer.break_after is not None and index == answer.break_after:
                            self.wfile.write(b"5\r\ndata:")  # half a chunk, then the line goes dead
                            self.wfile.flush()
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        time.sleep(answer.first if index == 0 else answer.every)
                        self._event(event)
                    self._event(final)
                    self._write_chunk(b"data: [DONE]\n\n")
                    self._write_chunk(b"")

            def _event(self, payload: dict[str, Any]) -> None:
                self._write_chunk(f"data: {json.dumps(payload)}\n\n".encode())

            def _write_chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _send(self, status: int, data: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for name, value in {**server.headers, **self.extra_headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    @staticmethod
    def _usage(text: str) -> dict[str, int]:
        return {"prompt_tokens": 7, "completion_tokens": len(text.split()), "total_tokens": 7 + len(text.split())}

    def _chunk(self, chat: bool, text: str | None, finish: str | None) -> dict[str, Any]:
        """One streamed chunk: a piece of text (None: the chat's opening role delta), or the end."""
        if chat:
            delta = {"role": "assistant"} if text is None else ({"content": text} if text else {})
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            kind = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
            kind = "text_completion"
        return {
            "id": "chunk-1",
            "object": kind,
            "created": 0,
            "model": self.model,
            "choices": [choice],
            **self._served(),
        }

    def _reply(
        self, path: str, body: dict[str, Any], text: str, message: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if path.endswith("/v1/messages"):
            return {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": text}],
                "model": self.model,
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 7, "output_tokens": len(text.split())},
            }
        path = path.partition("?")[0]  # Azure's ?api-version=
        usage = self._usage(text)
        if path.endswith("/completions") and "chat" not in path:
            choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            return {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 0,
                "model": self.model,
                "choices": [choice],
                "usage": usage,
                **self._served(),
            }
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text, **(message or {})},
            "finish_reason": "tool_calls" if (message or {}).get("tool_calls") else "stop",
            "logprobs": None,
        }
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": self.model,
            "choices": [choice],
            "usage": usage,
            **self._served(),
        }

    def _served(self) -> dict[str, str]:
        return {"system_fingerprint": self.fingerprint} if self.fingerprint is not None else {}


def tool_call(name: str, arguments: Any, call_id: str = "call_1") -> dict[str, Any]:
    """One tool call as a Chat Completions answer carries it; ``arguments`` as data (sent as
    JSON text) or as the text itself (a malformed call, say)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def calls(*tool_calls: dict[str, Any]) -> dict[str, Any]:
    """A scripted answer that calls tools instead of answering in text."""
    return {"content": None, "tool_calls": list(tool_calls)}


def _key_of(headers: Any) -> str | None:
    """The key a request carries: OpenAI's bearer token, Azure's ``api-key``, Anthropic's ``x-api-key``."""
    bearer = headers.get("Authorization") or ""
    if bearer.startswith("Bearer "):
        return bearer.removeprefix("Bearer ")
    return headers.get("api-key") or headers.get("x-api-key")


class InFlight:
    """A scripted answer: the last user turn back, after ``delay``; it counts calls in flight.

    The first calls are held until ``hold`` of them are in flight at once (or 10 s pass), so a
    client that overlaps its calls reaches exactly its bound, whatever the machine's speed.
    """

    def __init__(self, hold: int = 1, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.hold, self.delay, self.fail_on = hold, delay, fail_on
        self.now = self.most = 0
        self._changed = threading.Condition()

    def __call__(self, body: dict[str, Any]) -> Any:
        text = body["messages"][-1]["content"]
        with self._changed:
            self.now += 1
            self.most = max(self.most, self.now)
            self._changed.notify_all()
            self._changed.wait_for(lambda: self.most >= self.hold, timeout=10)
        time.sleep(self.delay)
        with self._changed:
            self.now -= 1
        if self.fail_on and self.fail_on in text:
            return 500, {"error": {"message": "the model fell over"}}
        return text


class RateLimit:
    """A scripted answer: a server that allows ``per_second`` requests in any second (a sliding
    window), answers each after ``delay``, and answers 429 with ``retry-after`` beyond.

    With ``limit_headers`` every answer says ``x-ratelimit-limit-requests``,
    ``x-ratelimit-remaining-requests`` and ``x-ratelimit-reset-requests`` (the wait until the
    window has room again), counted when the request arrives, as OpenAI does. It counts the
    429s, the answers, and the most calls in flight.
    """

    def __init__(self, per_second: int = 20, delay: float = 0.2, limit_headers: bool = True) -> None:
        self.per_second, self.delay, self.limit_headers = per_second, delay, limit_headers
        self.refused = self.answered = self.now = self.most = 0
        #: When the first request arrived and the last answer went (monotonic seconds).
        self.first = self.last = 0.0
        self._accepted: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Any:
        with self._lock:
            now = time.monotonic()
            self.first = self.first or now
            self._accepted = [t for t in self._accepted if t > now - 1.0]
            full = len(self._accepted) >= self.per_second
            if not full:
                self._accepted.append(now)
                self.now += 1
                self.most = max(self.most, self.now)
            room_in = self._accepted[0] + 1.0 - now if full else 0.0
            headers = self._headers(now)
            if full:
                self.refused += 1
        if full:
            headers["retry-after"] = f"{room_in:.3f}"
            return "!headers", headers, (429, {"error": {"message": "Rate limit reached: 20 requests per second"}})
        time.sleep(self.delay)
        with self._lock:
            self.now -= 1
            self.answered += 1
            self.last = time.monotonic()
        return "!headers", headers, body["messages"][-1]["content"]

    def _headers(self, now: float) -> dict[str, str]:
        if not self.limit_headers:
            return {}
        full = len(self._accepted) >= self.per_second
        reset = self._accepted[0] + 1.0 - now if full and self._accepted else 0.0
        return {
            "x-ratelimit-limit-requests": str(self.per_second),
            "x-ratelimit-remaining-requests": str(self.per_second - len(self._accepted)),
            "x-ratelimit-reset-requests": f"{max(reset, 0.0):.3f}s",
        }
