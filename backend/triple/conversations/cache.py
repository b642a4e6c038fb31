"""The answer cache: the same standalone query, on the same index build, with the same providers,
top_k and filters, within `ANSWER_CACHE_TTL` seconds, gets the stored answer instead of a new one.

The entry keeps the retrieval (chunk ids, ranks, scores) with the answer, so a cached answer still
writes its own Chat row (cached=True) and SearchLog rows: the audit trail of a cached answer is as
complete as that of the answer it repeats. Redis trouble only costs the cache, never the answer.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis
from django.conf import settings

from triple.core import redis as triple_redis
from triple.providers.prompts import PROMPT_VERSION
from triple.retrieval.hybrid import Hit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedAnswer:
    response: str
    provider: str
    model: str
    route: str
    hits: tuple[Hit, ...]
    chat_id: str  # the chat whose answer this is, for the audit trail


def answer_cache_key(*, standalone_query: str, build_id: int, providers: Mapping[str, str], top_k: int,
                     filters: Mapping[str, Any]) -> str:
    material = json.dumps(
        {"q": standalone_query.strip(), "build": build_id, "reasoning": providers.get("reasoning", ""),
         "generation": providers.get("generation", ""), "top_k": top_k, "filters": filters,
         "prompt": PROMPT_VERSION},
        sort_keys=True, ensure_ascii=False, default=str,
    )
    return triple_redis.key("answer", hashlib.sha256(material.encode()).hexdigest())


def answer_cache_get(*, key: str) -> CachedAnswer | None:
    if settings.ANSWER_CACHE_TTL <= 0:
        return None
    try:
        raw = triple_redis.client().get(key)
    except redis.RedisError:
        log.warning("answer cache unreachable; answering without it")
        return None
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return CachedAnswer(response=data["response"], provider=data["provider"], model=data["model"],
                            route=data["route"], hits=tuple(Hit(**hit) for hit in data["hits"]),
                            chat_id=data["chat_id"])
    except (ValueError, KeyError, TypeError):  # an entry written by another version: ignore it
        return None


def answer_cache_set(*, key: str, response: str, provider: str, model: str, route: str, hits: Sequence[Hit],
                     chat_id: str) -> None:
    """Store an answer for `ANSWER_CACHE_TTL` seconds (no-op when the TTL is 0 or Redis is down)."""
    if settings.ANSWER_CACHE_TTL <= 0:
        return
    value = json.dumps({"response": response, "provider": provider, "model": model, "route": route,
                        "hits": [asdict(hit) for hit in hits], "chat_id": chat_id}, ensure_ascii=False)
    try:
        triple_redis.client().set(key, value, ex=settings.ANSWER_CACHE_TTL)
    except redis.RedisError:
        log.warning("answer cache unreachable; answer not cached")
