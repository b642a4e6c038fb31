"""JSON log lines carry the request id, and personal data never reaches a log line."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from triple.core.logging import JsonFormatter, RequestContextFilter


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The console handler configured by settings.LOGGING, writing JSON into a buffer for the test."""
    handler = next(h for h in logging.getLogger().handlers
                   if any(isinstance(f, RequestContextFilter) for f in h.filters))
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    formatter, stream = handler.formatter, handler.setStream(buffer)
    handler.setFormatter(JsonFormatter())
    yield buffer
    handler.setStream(stream)
    handler.setFormatter(formatter)


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def test_personal_data_is_masked_in_messages_arguments_extras_and_tracebacks(json_lines: io.StringIO) -> None:
    log = logging.getLogger("triple.test")
    log.warning("question from %s (%s)", "kim@example.com", "010-1234-5678", extra={"card": "4111 1111 1111 1111"})
    try:
        raise ValueError("bad RRN 900101-1234567")
    except ValueError:
        log.exception("failed for lee@example.org")
    first, second = records(json_lines)[-2:]
    assert first["message"] == "question from [EMAIL] ([PHONE])" and first["card"] == "[CARD]"
    assert first["level"] == "WARNING" and first["logger"] == "triple.test" and first["request_id"] == "-"
    assert second["message"] == "failed for [EMAIL]"
    assert "ValueError: bad RRN [RRN]" in second["exc"] and "900101" not in json_lines.getvalue()


@pytest.mark.django_db
def test_each_request_gets_an_id_that_is_logged_and_returned(api: Any, json_lines: io.StringIO) -> None:
    response = api.get("/api/v1/triple/nope/kim@example.com/", HTTP_X_REQUEST_ID="req-12345678")
    assert response.status_code == 404 and response["X-Request-ID"] == "req-12345678"
    access = [r for r in records(json_lines) if r["logger"] == "triple.request"][-1]
    assert access["request_id"] == "req-12345678" and access["status"] == 404
    django_line = [r for r in records(json_lines) if r["logger"] == "django.request"][-1]
    assert django_line["request_id"] == "req-12345678"  # logged by Django after the middleware returned
    assert access["path"] == "/api/v1/triple/nope/[EMAIL]/" and "kim@example.com" not in json_lines.getvalue()

    generated = api.get("/api/v1/triple/nope/", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
    assert generated != "bad id with spaces" and len(generated) == 32
    assert records(json_lines)[-1]["request_id"] == generated
    logging.getLogger("triple.test").info("after the request")
    assert records(json_lines)[-1]["request_id"] == "-"
