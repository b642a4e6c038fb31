"""The one error shape, everywhere: {"error": "<stable_code>", "message": "<human text>"}."""
from __future__ import annotations

import logging
from typing import Any

import redis
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from triple.core.errors import ApplicationError
from triple.providers.errors import ProviderError

log = logging.getLogger("triple.api")


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **extra}


def _flatten(detail: Any, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        out: list[str] = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else f"{prefix}{key}"
            out += _flatten(value, f"{name}." if name else "")
        return out
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item, prefix)]
    return [f"{prefix.rstrip('.')}: {detail}" if prefix else str(detail)]


_DRF_CODES: list[tuple[type[Exception], int, str]] = [
    (drf.ParseError, 400, "malformed_json"),
    (drf.UnsupportedMediaType, 415, "unsupported_media_type"),
    (drf.NotAcceptable, 406, "not_acceptable"),
    (drf.NotAuthenticated, 401, "unauthorized"),
    (drf.AuthenticationFailed, 401, "invalid_token"),
    (drf.PermissionDenied, 403, "forbidden"),
    (drf.NotFound, 404, "not_found"),
    (drf.MethodNotAllowed, 405, "method_not_allowed"),
    (drf.Throttled, 429, "rate_limited"),
]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        status, body = exc.status, error_body(exc.code, exc.message, **exc.extra)
        if "retry_after" in exc.extra:
            headers["Retry-After"] = str(exc.extra["retry_after"])
    elif isinstance(exc, drf.ValidationError):
        status, body = 400, error_body("invalid_request", "; ".join(_flatten(exc.detail)) or "Invalid request.")
    elif isinstance(exc, RequestDataTooBig):
        status, body = 413, error_body("payload_too_large", "The request body is too large.")
    elif isinstance(exc, RecursionError):
        status, body = 400, error_body("malformed_json", "The JSON body is nested too deeply.")
    elif isinstance(exc, Http404):
        status, body = 404, error_body("not_found", "Not found.")
    elif isinstance(exc, ProviderError):
        status, body = 503, error_body(exc.code, exc.message)
    elif isinstance(exc, redis.RedisError):
        status, body = 503, error_body("redis_unavailable", "Redis is not reachable; try again shortly.")
    else:
        for cls, code_status, code in _DRF_CODES:
            if isinstance(exc, cls):
                status, body = code_status, error_body(code, str(getattr(exc, "detail", exc)))
                wait = getattr(exc, "wait", None)
                if wait:
                    headers["Retry-After"] = str(int(wait) + 1)
                break
        else:
            log.exception("unhandled error in %s", context.get("view").__class__.__name__)
            status, body = 500, error_body("internal_error", "Something went wrong on our side; it has been logged.")
    return Response(body, status=status, headers=headers)


# Django's own error views (config.urls handler400/handler500): a request refused before any view runs
# (a Host outside ALLOWED_HOSTS, another SuspiciousOperation) or a crash outside DRF keeps the one shape.
def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def server_error_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("internal_error", "Something went wrong on our side; it has been logged."),
                        status=500)
