"""Keeps the one error shape outside DRF too: unknown URLs and crashes under /api/ answer JSON."""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from triple.api.errors import error_body

log = logging.getLogger("triple.api")


class JsonErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/") and response.status_code in (404, 405, 400, 500) and not _is_json(
            response
        ):
            code = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 500: "internal_error"}
            message = {404: "No such endpoint.", 405: "Method not allowed.", 400: "Bad request.",
                       500: "Something went wrong on our side; it has been logged."}
            return JsonResponse(error_body(code[response.status_code], message[response.status_code]),
                                status=response.status_code)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith("/api/"):
            return None
        log.exception("unhandled error at %s", request.path)
        return JsonResponse(error_body("internal_error", "Something went wrong on our side; it has been logged."),
                            status=500)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")
