"""Helpers shared by the remote providers (OpenAI, OpenAI-compatible/Qwen, Gemini) and llama.cpp.

Nothing here imports a vendor SDK: readiness checks must work even when an SDK is missing.
"""
from __future__ import annotations

import importlib
import re
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from django.conf import settings

from triple.providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from triple.providers.prompts import estimate_tokens
from triple.providers.types import Readiness, Usage

# Statuses a provider call is retried on inside the SDK. 408/409 and every other 4xx are not retried:
# a request the vendor rejected once will be rejected again, and the fallback chain is the faster way out.
RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
# A server that asks us to wait longer than this (Retry-After) is not retried: we fall back instead of
# keeping a reader waiting.
MAX_RETRY_AFTER_SECONDS = 10.0

REACHABILITY_TTL_SECONDS = 10.0
REACHABILITY_TIMEOUT_SECONDS = 0.5

T = TypeVar("T")


@dataclass(frozen=True)
class CallSettings:
    """Timeouts and retry budget for every remote call, read from Django settings at build time."""

    read_timeout: float
    connect_timeout: float
    max_retries: int

    @classmethod
    def from_settings(cls) -> CallSettings:
        return cls(
            read_timeout=float(settings.PROVIDER_TIMEOUT_SECONDS),
            connect_timeout=float(settings.PROVIDER_CONNECT_TIMEOUT_SECONDS),
            max_retries=max(0, int(settings.PROVIDER_MAX_RETRIES)),
        )


# --- secrets ------------------------------------------------------------------------


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (and any long fragment of it) replaced by `***`."""
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        text = text.replace(secret, "***")
        # Vendors sometimes echo a key half-masked ("sk-abc...xyz"); drop long fragments of it too.
        for size in (16, 12):
            if len(secret) > size:
                for start in range(len(secret) - size + 1):
                    fragment = secret[start : start + size]
                    if fragment in text:
                        text = text.replace(fragment, "***")
    return text


def public_url(base_url: str) -> str:
    """scheme://host[:port]/path of a base URL, without any user:password@ or query (may hold a key)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


# --- reachability -------------------------------------------------------------------

_reach_cache: dict[tuple[str, int], tuple[float, bool, str]] = {}
_reach_lock = threading.Lock()


def _host_port(base_url: str) -> tuple[str, int] | None:
    parts = urlsplit(base_url)
    if not parts.hostname or parts.scheme not in {"http", "https"}:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_reachable(base_url: str, label: str) -> Readiness:
    """A quick TCP connect to the base URL's host (0.5 s timeout), cached for 10 s per host:port."""
    target = _host_port(base_url)
    if target is None:
        return Readiness(False, f"{label}: base URL '{public_url(base_url)}' is not a valid http(s) URL.")
    now = time.monotonic()
    with _reach_lock:
        cached = _reach_cache.get(target)
    if cached is not None and now - cached[0] < REACHABILITY_TTL_SECONDS:
        return Readiness(cached[1], cached[2])
    try:
        with socket.create_connection(target, timeout=REACHABILITY_TIMEOUT_SECONDS):
            pass
        state = Readiness(True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        state = Readiness(False, f"{label}: cannot reach {public_url(base_url)} ({reason}).")
    with _reach_lock:
        _reach_cache[target] = (now, state.ready, state.reason)
    return state


def clear_reachability_cache() -> None:
    with _reach_lock:
        _reach_cache.clear()


# --- usage --------------------------------------------------------------------------


def make_usage(
    input_tokens: int | None, output_tokens: int | None, messages: Sequence[dict[str, str]], text: str
) -> Usage:
    """The vendor's counts when it gave both; otherwise estimates (and `estimated=True`)."""
    if input_tokens is not None and output_tokens is not None:
        return Usage(int(input_tokens), int(output_tokens), False)
    estimated_in = sum(estimate_tokens(m.get("content", "")) for m in messages)
    return Usage(
        int(input_tokens) if input_tokens is not None else estimated_in,
        int(output_tokens) if output_tokens is not None else estimate_tokens(text),
        True,
    )


# --- errors -------------------------------------------------------------------------


def error_for_status(status: int, label: str, provider: str, detail: str) -> ProviderError:
    """Our error type for an HTTP status from a vendor. `detail` must already be scrubbed."""
    detail = detail.strip()
    suffix = f": {detail[:300]}" if detail else ""
    if status in (401, 403):
        return ProviderAuthError(
            f"{label} rejected the credentials (HTTP {status}). Check the API key setting.",
            provider=provider,
            status=status,
        )
    if status == 429:
        return ProviderRateLimited(
            f"{label} is rate limiting requests (HTTP 429){suffix}", provider=provider, status=status
        )
    if status == 408:
        return ProviderTimeout(f"{label} timed out the request (HTTP 408){suffix}", provider=provider, status=status)
    if status >= 500:
        return ProviderUnavailable(f"{label} is unavailable (HTTP {status}){suffix}", provider=provider, status=status)
    return ProviderBadRequest(f"{label} refused the request (HTTP {status}){suffix}", provider=provider, status=status)


def transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(timeout errors, other transport errors) of whichever httpx flavours are installed.

    SDKs wrap errors raised while sending a request, but not always those raised while reading a streamed
    body (a reset or a read timeout in the middle of an answer), so providers catch these too.
    """
    timeouts: list[type[BaseException]] = []
    transport: list[type[BaseException]] = []
    for module_name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        transport.append(module.TransportError)
    return tuple(timeouts), tuple(transport)


def clean_query(text: str, fallback: str) -> str:
    """A condensed query from a model reply: first non-empty line, without quotes or a 'Query:' label."""
    for line in text.strip().splitlines():
        line = re.sub(r"^(standalone query|query|검색어)\s*[:：]\s*", "", line.strip(), flags=re.IGNORECASE)
        line = line.strip().strip("\"'`“”‘’").strip()
        if line:
            return line
    return fallback


def batched(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
