"""One family of application errors; the API turns each into {"error": code, "message": text}."""
from __future__ import annotations


class ApplicationError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 extra: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.extra = extra or {}


class InvalidInput(ApplicationError):
    status = 400
    code = "invalid_request"


class NotFound(ApplicationError):
    status = 404
    code = "not_found"


class Unauthorized(ApplicationError):
    status = 401
    code = "unauthorized"


class Forbidden(ApplicationError):
    status = 403
    code = "forbidden"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"


class Unprocessable(ApplicationError):
    status = 422
    code = "unprocessable"


class ServiceUnavailable(ApplicationError):
    status = 503
    code = "service_unavailable"
