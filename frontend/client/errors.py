"""One error type for every failure the client sees, with a stable `code` the UI maps to plain words."""
from __future__ import annotations

from typing import Any

# Codes the client itself produces (the API's own codes pass through unchanged).
BACKEND_UNREACHABLE = "backend_unreachable"
BACKEND_TIMEOUT = "backend_timeout"
ENDPOINT_UNAVAILABLE = "endpoint_unavailable"
BAD_RESPONSE = "bad_response"


class ApiError(Exception):
    """An API error (`{error, message}` with its HTTP status) or a transport failure (status 0)."""

    def __init__(self, code: str, message: str, status: int = 0, extra: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra or {}
