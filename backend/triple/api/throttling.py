"""Rate limits per session user and per client IP, counted in Redis so every worker process and server
shares one budget.

Fixed windows: one counter key per (scope, identity) made by a Lua script that INCRs and sets the window's
expiry on the first hit, atomically, so a crash between the two can never leave a counter without expiry.
Over the limit → 429 `rate_limited` with `Retry-After` (seconds until the window resets).

Settings: RATE_LIMIT_USER (chat/, per session user) and RATE_LIMIT_IP (chat/ and user/, per REMOTE_ADDR),
written "30/min"; "" or "0" turns a limit off. Redis unreachable → 503 `redis_unavailable`, like every
other session endpoint (failing open would let a Redis outage disable the limits).
"""
from __future__ import annotations

import math
import re
from typing import Any

import redis
from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from triple.api.auth import throttle_user_id
from triple.core import redis as triple_redis
from triple.core.errors import ApplicationError

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
          "d": 86400, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")

# KEYS[1] counter, ARGV[1] window in ms → {count, ms until reset}
_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


def parse_rate(rate: str) -> tuple[int, int] | None:
    """"30/min" → (30, 60); "5/10s" → (5, 10); "" or "0/min" → None (no limit)."""
    if not rate or not rate.strip() or rate.strip() == "0":
        return None
    match = _RATE.match(rate.lower())
    if not match or match.group(3) not in _UNITS:
        raise ValueError(f"rate {rate!r}: write it like '30/min', '120/hour' or '5/10s'")
    count, multiple, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    return (count, multiple * _UNITS[unit]) if count > 0 else None


def rate_limit_hit(*, scope: str, identity: str, rate: str) -> None:
    """Count one request of `identity` against `rate`; raise 429 `rate_limited` when over it."""
    parsed = parse_rate(rate)
    if parsed is None:
        return
    limit, window = parsed
    key = triple_redis.key("ratelimit", scope, identity)
    try:
        client = triple_redis.client()
        count, ttl_ms = client.register_script(_HIT)(keys=[key], args=[window * 1000])
    except redis.RedisError as exc:
        raise triple_redis.unavailable(exc) from None
    if int(count) > limit:
        retry_after = max(1, math.ceil(int(ttl_ms) / 1000))
        raise ApplicationError(
            f"Too many requests ({limit} per {window} s for this {scope}); retry in {retry_after} s.",
            status=429, code="rate_limited", extra={"retry_after": retry_after},
        )


def client_ip(request: Request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it.
    return str(request.META.get("REMOTE_ADDR") or "unknown")


class IpRateThrottle(BaseThrottle):
    """RATE_LIMIT_IP per client address (chat/, user/)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        rate_limit_hit(scope="ip", identity=client_ip(request), rate=settings.RATE_LIMIT_IP)
        return True


class UserRateThrottle(BaseThrottle):
    """RATE_LIMIT_USER per session user (chat/); requests that name no user are left to the IP limit."""

    def allow_request(self, request: Request, view: Any) -> bool:
        if parse_rate(settings.RATE_LIMIT_USER) is None:
            return True
        user_id = throttle_user_id(request)
        if user_id:
            rate_limit_hit(scope="user", identity=user_id, rate=settings.RATE_LIMIT_USER)
        return True
