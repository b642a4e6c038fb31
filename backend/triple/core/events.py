"""Redis pub/sub events other processes and clients may subscribe to.

Channel names are `<REDIS_KEY_PREFIX>:events:<name>` (`channel(name)`; with the default prefix
`triple:events:session_expired`). Messages are JSON objects:

- `triple:events:session_expired` → `{"user_id"}`: a session ended (DELETE session/, a request found it
  expired, or the beat sweep found its Redis key gone). Published once per session.
- `triple:events:index_activated` → `{"build_id", "collection"}`: an index build became the active one.

Subscribe with `redis-cli SUBSCRIBE triple:events:session_expired` or `client.pubsub().subscribe(channel(name))`.
Pub/sub is fire-and-forget: a subscriber that is not connected at the moment of publishing misses the event,
so clients treat events as hints and re-read state through the API. Publishing is best effort: an event lost
while Redis is down must not fail the work that caused it.
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
