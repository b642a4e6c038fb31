"""Per-session provider choices for reasoning and generation, kept in Redis so every worker sees them.

The key expires with the session. Choosing a provider that is not ready is refused at selection time.
"""
from __future__ import annotations

import json

import redis
from django.conf import settings

from triple.core import redis as triple_redis
from triple.core.errors import Conflict, InvalidInput
from triple.providers import registry

PRESETS: dict[str, dict[str, str]] = {
    "local_only": {"reasoning": "local", "generation": "local"},
    "gemini_only": {"reasoning": "gemini", "generation": "gemini"},
    "openai_only": {"reasoning": "openai", "generation": "openai"},
    "qwen_only": {"reasoning": "qwen", "generation": "qwen"},
    "qwen_reasoning_gemini_generation": {"reasoning": "qwen", "generation": "gemini"},
    "llamacpp_only": {"reasoning": "llamacpp", "generation": "llamacpp"},
}


def _key(user_id: str) -> str:
    return triple_redis.key("providers", user_id)


def defaults() -> dict[str, str]:
    return {"reasoning": settings.REASONING_PROVIDER, "generation": settings.GENERATION_PROVIDER}


def selection_get(*, user_id: str) -> dict[str, str]:
    """The effective choice for a session: its overrides on top of the environment's defaults."""
    chosen = defaults()
    try:
        raw = triple_redis.client().get(_key(user_id))
    except redis.RedisError as exc:
        raise triple_redis.unavailable(exc) from None
    if raw:
        chosen.update(json.loads(raw))
    return chosen


def validate_choice(role: str, name: str) -> None:
    if name not in registry.specs():
        raise InvalidInput(f"Unknown provider '{name}' for {role}.", code="unknown_provider")
    state = registry.readiness(name, role)
    if not state.ready:
        raise Conflict(f"Provider '{name}' is not ready for {role}: {state.reason}", code="provider_not_ready")


def selection_set(*, user_id: str, reasoning: str | None = None, generation: str | None = None,
                  preset: str | None = None, ttl_seconds: int | None = None) -> dict[str, str]:
    if preset:
        if preset not in PRESETS:
            raise InvalidInput(f"Unknown preset '{preset}'. Known: {', '.join(PRESETS)}.", code="unknown_preset")
        reasoning = reasoning or PRESETS[preset]["reasoning"]
        generation = generation or PRESETS[preset]["generation"]
    changes = {role: name for role, name in (("reasoning", reasoning), ("generation", generation)) if name}
    if not changes:
        raise InvalidInput("Give reasoning_provider, generation_provider or preset.", code="nothing_to_change")
    for role, name in changes.items():
        validate_choice(role, name)
    current = selection_get(user_id=user_id)
    overrides = {role: current[role] for role in ("reasoning", "generation") if current[role] != defaults()[role]}
    overrides.update(changes)
    try:
        client = triple_redis.client()
        ttl = ttl_seconds or max(1, client.pttl(triple_redis.key("session", user_id)) // 1000)
        client.set(_key(user_id), json.dumps(overrides), ex=ttl)
    except redis.RedisError as exc:
        raise triple_redis.unavailable(exc) from None
    return selection_get(user_id=user_id)


def selection_clear(*, user_id: str) -> dict[str, str]:
    try:
        triple_redis.client().delete(_key(user_id))
    except redis.RedisError as exc:
        raise triple_redis.unavailable(exc) from None
    return defaults()
