"""Local HTTP servers that speak the OpenAI and Gemini wire formats, for offline provider tests.

Each server binds 127.0.0.1 on a free port, records every request (method, path, headers, JSON body) and
can be scripted per test: queued actions (`Fail`, `Sleep`, `Cut`) are used up one request at a time, after which
the server answers normally with `reply` split into `pieces`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMBED_DIM = 8


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Fail:
    """Answer one request with this status (and a vendor-shaped error body)."""

    status: int
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sleep:
    """Wait this long before answering one request normally (the client should have timed out)."""

    seconds: float


@dataclass(frozen=True)
class Cut:
    """Stream `after` events of one SSE response, then fail: `stall_seconds` > 0 stops sending (the client
    should time out reading), otherwise the connection is closed with the body unfinished."""

    after: int
    stall_seconds: float = 0.0


Action = Fail | Sleep | Cut


def fake_vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255.0, 6) for b in digest[:EMBED_DIM]]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    cut: Cut | None = None

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        fake = self.server.fake
        fake.record(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        action = fake.next_action()
        if isinstance(action, Sleep):
            if fake.stopping.wait(action.seconds):
                return
        elif isinstance(action, Fail):
            self.send_json(action.status, fake.error_body(action), action.headers)
            return
        self.cut = action if isinstance(action, Cut) else None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            fake.answer(self, body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_sse(self, events: list[str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        if self.cut is not None:
            self.send_header("Content-Length", "1000000")  # promise more than will come
        self.end_headers()
        for index, event in enumerate(events):
            if self.cut is not None and index == self.cut.after:
                if self.cut.stall_seconds:
                    self.server.fake.stopping.wait(self.cut.stall_seconds)
                break
            self.wfile.write(f"data: {event}\r\n\r\n".encode())
            self.wfile.flush()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeVendorServer


class FakeVendorServer:
    """Base class: start/stop, request log, action script, scripted reply."""

    default_reply = "The tent weighs 980 g [1]."

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.actions: deque[Action] = deque()
        self.reply = self.default_reply
        self.pieces: list[str] | None = None
        self.include_usage = True
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # lifecycle
    def start(self) -> FakeVendorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # scripting
    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.actions.clear()
        self.reply = self.default_reply
        self.pieces = None
        self.include_usage = True

    def script(self, *actions: Action) -> None:
        with self._lock:
            self.actions.extend(actions)

    def next_action(self) -> Action | None:
        with self._lock:
            return self.actions.popleft() if self.actions else None

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def reply_pieces(self) -> list[str]:
        return self.pieces if self.pieces is not None else re.findall(r"\S+\s*", self.reply)

    # vendor specifics
    def error_body(self, action: Fail) -> Any:
        raise NotImplementedError

    def answer(self, handler: _Handler, body: Any) -> None:
        raise NotImplementedError


class FakeOpenAI(FakeVendorServer):
    """POST /v1/chat/completions (plain and SSE) and /v1/embeddings."""

    prompt_tokens = 42

    def error_body(self, action: Fail) -> Any:
        kinds = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_exceeded"}
        return {"error": {"message": action.message, "type": kinds.get(action.status, "server_error"), "code": None}}

    def answer(self, handler: _Handler, body: Any) -> None:
        path = handler.path.split("?", 1)[0]
        if path.endswith("/chat/completions"):
            if body.get("stream"):
                self._stream(handler, body)
            else:
                handler.send_json(200, self._completion(body))
        elif path.endswith("/embeddings"):
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            handler.send_json(
                200,
                {
                    "object": "list",
                    "model": body["model"],
                    "data": [
                        {"object": "embedding", "index": i, "embedding": fake_vector(text)}
                        for i, text in enumerate(inputs)
                    ],
                    "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
                },
            )
        else:
            handler.send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

    def _usage(self) -> dict[str, int]:
        completion = len(self.reply_pieces())
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }

    def _completion(self, body: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(self.reply_pieces())},
                    "finish_reason": "stop",
                }
            ],
        }
        if self.include_usage:
            payload["usage"] = self._usage()
        return payload

    def _stream(self, handler: _Handler, body: Any) -> None:
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
        }
        events = [json.dumps({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
        for piece in self.reply_pieces():
            events.append(json.dumps({**base, "choices": [{"index": 0, "delta": {"content": piece}}]}))
        events.append(json.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        if self.include_usage and (body.get("stream_options") or {}).get("include_usage"):
            events.append(json.dumps({**base, "choices": [], "usage": self._usage()}))
        events.append("[DONE]")
        handler.send_sse(events)


class FakeGemini(FakeVendorServer):
    """POST /{version}/models/{model}:generateContent, :streamGenerateContent?alt=sse, :batchEmbedContents,
    :embedContent."""

    prompt_tokens = 37
    _route = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^:/]+):(?P<method>\w+)")

    def error_body(self, action: Fail) -> Any:
        statuses = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
        status = statuses.get(action.status, "UNAVAILABLE")
        return {"error": {"code": action.status, "message": action.message, "status": status}}

    def _usage(self, pieces: list[str]) -> dict[str, int]:
        return {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": len(pieces),
            "totalTokenCount": self.prompt_tokens + len(pieces),
        }

    def _candidate(self, text: str, finish: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if finish:
            candidate["finishReason"] = "STOP"
        return candidate

    def answer(self, handler: _Handler, body: Any) -> None:
        match = self._route.match(handler.path)
        if not match:
            handler.send_json(404, {"error": {"code": 404, "message": "no route", "status": "NOT_FOUND"}})
            return
        model, method = match["model"], match["method"]
        pieces = self.reply_pieces()
        if method == "generateContent":
            payload: dict[str, Any] = {"candidates": [self._candidate("".join(pieces), True)], "modelVersion": model}
            if self.include_usage:
                payload["usageMetadata"] = self._usage(pieces)
            handler.send_json(200, payload)
        elif method == "streamGenerateContent":
            events = []
            for i, piece in enumerate(pieces):
                last = i == len(pieces) - 1
                event: dict[str, Any] = {"candidates": [self._candidate(piece, last)], "modelVersion": model}
                if self.include_usage and last:
                    event["usageMetadata"] = self._usage(pieces)
                events.append(json.dumps(event))
            handler.send_sse(events)
        elif method == "batchEmbedContents":
            vectors = [{"values": fake_vector(_gemini_text(r["content"]))} for r in body["requests"]]
            handler.send_json(200, {"embeddings": vectors})
        elif method == "embedContent":
            handler.send_json(200, {"embedding": {"values": fake_vector(_gemini_text(body["content"]))}})
        else:
            handler.send_json(404, {"error": {"code": 404, "message": f"no method {method}", "status": "NOT_FOUND"}})


def _gemini_text(content: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in content.get("parts", []))
