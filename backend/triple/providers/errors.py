"""Our provider error types. Vendor exceptions are mapped to these inside providers/ only."""
from __future__ import annotations


class ProviderError(Exception):
    """A provider call failed. `retryable` marks transient failures (429, 5xx, timeouts, resets)."""

    code = "provider_error"
    retryable = False

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status


class ProviderNotReady(ProviderError):
    code = "provider_not_ready"


class ProviderTimeout(ProviderError):
    code = "provider_timeout"
    retryable = True


class ProviderRateLimited(ProviderError):
    code = "provider_rate_limited"
    retryable = True


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    retryable = True


class ProviderBadRequest(ProviderError):
    code = "provider_bad_request"


class ProviderAuthError(ProviderError):
    code = "provider_auth_error"
