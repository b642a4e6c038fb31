"""Redis pub/sub events other processes and clients may subscribe to.

Channels: `triple:events:session_expired` ({"user_id"}), `triple:events:index_activated` ({"build_id", ...}).
Publishing is best effort: an event lost while Redis is down must not fail the work that caused it.
"""
from __future__ import annotations

import json
import logging

import redis

from triple.core import redis as triple_redis

log = logging.getLogger(__name__)
CHANNELS = ("session_expired", "index_activated")


def channel(name: str) -> str:
    return triple_redis.key("events", name)


def publish(name: str, payload: dict[str, object]) -> None:
    try:
        triple_redis.client().publish(channel(name), json.dumps(payload, ensure_ascii=False))
    except redis.RedisError as exc:
        log.warning("could not publish %s: %s", name, exc)
