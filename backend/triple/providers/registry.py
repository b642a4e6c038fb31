"""The provider registry: one `ProviderSpec` per provider, built-ins registered the way a plugin would be.

Clients are built once per (role, name) and reused by every request in the process.
"""
from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from triple.providers.errors import ProviderNotReady
from triple.providers.types import (
    EmbeddingProvider,
    GenerationProvider,
    Readiness,
    ReasoningProvider,
    Role,
)


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    label: str
    roles: frozenset[str]
    needs_key: bool
    key_env_var: str | None
    readiness: Callable[[], Readiness]
    build: Callable[[str], Any]  # role -> provider instance for that role


_BUILTINS = (
    "triple.providers.local_spec",
    "triple.providers.llamacpp_provider",
    "triple.providers.openai_provider",
    "triple.providers.gemini_provider",
    "triple.providers.qwen_provider",
)
_specs: dict[str, ProviderSpec] = {}
_instances: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()
_loaded = False


def register(spec: ProviderSpec) -> None:
    _specs[spec.name] = spec
    for key in [k for k in _instances if k[1] == spec.name]:
        _instances.pop(key, None)


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    for module_name in _BUILTINS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        register(module.SPEC)
    _loaded = True


def specs() -> dict[str, ProviderSpec]:
    _load_builtins()
    return dict(_specs)


def get_spec(name: str) -> ProviderSpec:
    all_specs = specs()
    if name not in all_specs:
        raise ProviderNotReady(f"Unknown provider '{name}'. Known: {', '.join(sorted(all_specs))}.", provider=name)
    return all_specs[name]


def readiness(name: str, role: str | None = None) -> Readiness:
    spec = get_spec(name)
    if role is not None and role not in spec.roles:
        return Readiness(False, f"{spec.label} does not offer the {role} role.")
    return spec.readiness()


def provider_for(role: Role, name: str | None = None) -> Any:
    """The shared client for a role; `name` defaults to the role's provider from settings."""
    name = name or default_provider(role)
    key = (role, name)
    instance = _instances.get(key)
    if instance is not None:
        return instance
    with _lock:
        if key not in _instances:
            state = readiness(name, role)
            if not state.ready:
                raise ProviderNotReady(state.reason, provider=name)
            _instances[key] = get_spec(name).build(role)
        return _instances[key]


def default_provider(role: Role) -> str:
    return {
        "embedding": settings.EMBEDDING_PROVIDER,
        "reasoning": settings.REASONING_PROVIDER,
        "generation": settings.GENERATION_PROVIDER,
    }[role]


def embedding_provider() -> EmbeddingProvider:
    return provider_for("embedding")  # type: ignore[no-any-return]


def generation_provider(name: str | None = None) -> GenerationProvider:
    return provider_for("generation", name)  # type: ignore[no-any-return]


def reasoning_provider(name: str | None = None) -> ReasoningProvider:
    return provider_for("reasoning", name)  # type: ignore[no-any-return]


def statuses() -> list[dict[str, Any]]:
    """Every provider's readiness for each role it offers; never includes a key."""
    out = []
    for spec in specs().values():
        state = spec.readiness()
        out.append(
            {
                "name": spec.name,
                "label": spec.label,
                "roles": sorted(spec.roles),
                "needs_key": spec.needs_key,
                "key_env_var": spec.key_env_var,
                "ready": state.ready,
                "reason": state.reason,
            }
        )
    return out


def reset() -> None:
    """Forget built clients (tests change settings between cases)."""
    with _lock:
        _instances.clear()
