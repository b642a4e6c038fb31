"""Qwen, or any other OpenAI-compatible endpoint (DashScope compatible mode, vLLM, Ollama, llama.cpp server).

Reuses the OpenAI implementation with `QWEN_API_BASE`. The key is optional: local servers take none.
"""
from __future__ import annotations

from django.conf import settings

from triple.providers.http_compat import CallSettings, check_reachable
from triple.providers.openai_provider import OpenAICompatibleProvider
from triple.providers.registry import ProviderSpec
from triple.providers.types import Readiness

# Sent as the bearer token when QWEN_API_KEY is empty: the SDK insists on one, local servers ignore it.
NO_KEY = "EMPTY"
# DashScope's compatible-mode embeddings take at most 10 texts a request.
EMBED_BATCH_SIZE = 10


def _model_for(role: str) -> str:
    return {
        "generation": settings.QWEN_CHAT_MODEL,
        "reasoning": settings.QWEN_REASONING_MODEL,
        "embedding": settings.QWEN_EMBEDDING_MODEL,
    }[role]


def _build(role: str) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        name="qwen",
        label="Qwen (OpenAI-compatible)",
        model=_model_for(role),
        base_url=settings.QWEN_API_BASE,
        api_key=settings.QWEN_API_KEY or NO_KEY,
        call=CallSettings.from_settings(),
        embed_batch_size=EMBED_BATCH_SIZE,
        max_tokens_field="max_tokens",
    )


def _readiness() -> Readiness:
    if not settings.QWEN_API_BASE:
        return Readiness(False, "Qwen is not configured: set QWEN_API_BASE (an OpenAI-compatible /v1 URL).")
    try:
        import openai  # noqa: F401
    except ImportError:
        return Readiness(False, "Qwen: the openai package is not installed.")
    return check_reachable(settings.QWEN_API_BASE, "Qwen")


SPEC = ProviderSpec(
    name="qwen",
    label="Qwen (OpenAI-compatible)",
    roles=frozenset({"embedding", "reasoning", "generation"}),
    needs_key=False,
    key_env_var="QWEN_API_KEY",
    readiness=_readiness,
    build=_build,
)
