"""The shared Redis client and key naming. Short socket timeouts: a dead Redis must fail fast, not hang."""
from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings

from triple.core.errors import ServiceUnavailable


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        decode_responses=True,
        health_check_interval=30,
    )


def key(*parts: str) -> str:
    return ":".join((settings.REDIS_KEY_PREFIX, *parts))


def unavailable(exc: Exception) -> ServiceUnavailable:
    return ServiceUnavailable("Redis is not reachable; try again shortly.", code="redis_unavailable")


def delete_prefixed_keys() -> int:
    """Delete every key under REDIS_KEY_PREFIX (test runs and benchmarks clean up after themselves)."""
    client_ = client()
    keys = list(client_.scan_iter(f"{settings.REDIS_KEY_PREFIX}:*", count=1000))
    return int(client_.delete(*keys)) if keys else 0
