"""Structured logs: one JSON object per line, a request id on every line, personal data masked.

`RequestIdMiddleware` takes the caller's `X-Request-ID` (when it looks like an id) or makes one, keeps
it in a context variable until the response is closed, returns it as a response header and logs
one access line per request. `RequestContextFilter` copies the id onto each record and masks personal
data in the rendered message, so neither formatter can leak an e-mail or a card number.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

from triple.core.pii import mask_pii

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_VALID_ID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
access_log = logging.getLogger("triple.request")

# Attributes every LogRecord has; anything else was passed through `extra=` and belongs in the JSON.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}


def current_request_id() -> str:
    return _request_id.get()


class RequestContextFilter(logging.Filter):
    """Adds `record.request_id` and masks personal data in the message and in `extra` strings."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = str(record.msg)
        record.msg, record.args = mask_pii(message), None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_pii(value))
        return True


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", "request_id", ...extra, "exc"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in body:
                body[key] = _masked(value)
        if record.exc_info:
            body["exc"] = mask_pii(self.formatException(record.exc_info))
        return json.dumps(body, ensure_ascii=False, default=str)


def _masked(value: Any) -> Any:
    """An `extra` value as JSON can carry it, with personal data masked (objects such as Django's request
    become their masked text)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.loads(mask_pii(json.dumps(value, ensure_ascii=False, default=str)))
    return mask_pii(str(value))


class PlainFormatter(logging.Formatter):
    """Human-readable lines for development; the exception text is masked like the message."""

    def formatException(self, ei: Any) -> str:
        return mask_pii(super().formatException(ei))


class RequestIdMiddleware:
    """Gives each request an id (the caller's `X-Request-ID` if valid) and logs one access line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        # Cleared on request_finished, not on the way out of here: Django logs 4xx/5xx after the
        # middleware returns, and a streamed answer is written (and logged) after that too.
        _request_id.set(request_id)
        request.request_id = request_id  # type: ignore[attr-defined]
        started = time.perf_counter()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        access_log.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={"method": request.method, "path": request.path, "status": response.status_code,
                   "duration_ms": round((time.perf_counter() - started) * 1000, 2)},
        )
        return response


def _clear_request_id(**kwargs: Any) -> None:
    _request_id.set("")


request_finished.connect(_clear_request_id, dispatch_uid="triple-clear-request-id")
