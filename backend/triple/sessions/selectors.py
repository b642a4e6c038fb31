"""Reads of conversation history: the database is the source of truth, Redis a cache of recent turns."""
from __future__ import annotations

import contextlib
import json

import redis
from django.conf import settings

from triple.core import redis as triple_redis
from triple.providers.types import Turn


def history_key(user_id: str) -> str:
    return triple_redis.key("history", user_id)


def history_turns(*, user_id: str, limit: int | None = None) -> list[dict[str, str]]:
    """The session's turns, oldest first: [{role, content, chat_id}], question then answer.

    Served from Redis when cached; rebuilt from the database when the cache is missing (e.g. after FLUSHDB).
    """
    key = history_key(user_id)
    try:
        raw = triple_redis.client().lrange(key, 0, -1)
    except redis.RedisError:
        raw = []
    if raw:
        turns = [json.loads(item) for item in raw]
    else:
        turns = _turns_from_db(user_id)
        _cache(user_id, turns)
    return turns[-limit:] if limit else turns


def _turns_from_db(user_id: str) -> list[dict[str, str]]:
    from triple.conversations.models import Chat

    turns: list[dict[str, str]] = []
    rows = Chat.objects.filter(user_id=user_id).exclude(route="replay").order_by("created_at")
    for chat in rows.values("id", "question", "response", "status", "created_at"):
        turns.append({"role": "user", "content": chat["question"], "chat_id": str(chat["id"]),
                      "created_at": chat["created_at"].isoformat()})
        if chat["response"]:
            turns.append({"role": "assistant", "content": chat["response"], "chat_id": str(chat["id"]),
                          "created_at": chat["created_at"].isoformat()})
    return turns


def _cache(user_id: str, turns: list[dict[str, str]]) -> None:
    if not turns:
        return
    try:
        pipe = triple_redis.client().pipeline()
        key = history_key(user_id)
        pipe.delete(key)
        pipe.rpush(key, *[json.dumps(t, ensure_ascii=False) for t in turns])
        pipe.expire(key, settings.SESSION_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError:
        pass


def history_append(*, user_id: str, turns: list[dict[str, str]]) -> None:
    """Add the newest turns to the cache (the database rows are already written)."""
    key = history_key(user_id)
    try:
        # RPUSHX appends only to a cached list (one round trip); no list means the cache is cold or was
        # flushed, and it is rebuilt whole from the database, which already holds these turns.
        pipe = triple_redis.client().pipeline()
        pipe.rpushx(key, *[json.dumps(t, ensure_ascii=False) for t in turns])
        pipe.expire(key, settings.SESSION_TTL_SECONDS)
        length, _ = pipe.execute()
        if not length:
            _cache(user_id, _turns_from_db(user_id))
    except redis.RedisError:
        # A cache that missed a turn would serve a gap until it expires; dropping it makes the next read
        # rebuild from the database. (If Redis is down, the key is not reachable for reads either.)
        with contextlib.suppress(redis.RedisError):
            triple_redis.client().delete(key)


def recent_turns(*, user_id: str) -> tuple[Turn, ...]:
    """The last HISTORY_TURNS question/answer pairs, oldest first, as condensation and generation take them."""
    turns = history_turns(user_id=user_id, limit=settings.HISTORY_TURNS * 2)
    return tuple(Turn(role=t["role"], content=t["content"]) for t in turns)  # type: ignore[arg-type]
