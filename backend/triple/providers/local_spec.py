"""Registration of the built-in offline `local` provider."""
from __future__ import annotations

from typing import Any

from django.conf import settings

from triple.providers.registry import ProviderSpec
from triple.providers.types import Readiness


def _build(role: str) -> Any:
    from triple.providers import local

    if role == "embedding":
        return local.LocalEmbedding(settings.LOCAL_EMBEDDING_MODEL, threads=settings.LOCAL_EMBEDDING_THREADS)
    if role == "reasoning":
        return local.LocalCondenser()
    return local.LocalExtractiveGenerator()


SPEC = ProviderSpec(
    name="local",
    label="Local (offline)",
    roles=frozenset({"embedding", "reasoning", "generation"}),
    needs_key=False,
    key_env_var=None,
    readiness=lambda: Readiness(True),
    build=_build,
)
