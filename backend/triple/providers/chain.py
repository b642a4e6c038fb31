"""Fallback chains: the first provider that answers wins; every failure is kept for the audit trail."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar

from triple.providers import registry
from triple.providers.errors import ProviderError
from triple.providers.types import (
    CondenseResult,
    GenerationRequest,
    GenerationResult,
    StreamChunk,
    Turn,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    """A provider call that failed and was passed over."""

    provider: str
    model: str
    error: str
    message: str
    elapsed_ms: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _chain(primary: str, fallbacks: Sequence[str]) -> list[str]:
    names = [primary]
    names += [name for name in fallbacks if name not in names]
    return names


def _failure(name: str, role: str, exc: ProviderError, started: float) -> Attempt:
    model = ""
    with contextlib.suppress(ProviderError):  # a provider that cannot even be built has no model name
        model = getattr(registry.provider_for(role, name), "model", "")  # type: ignore[arg-type]
    return Attempt(name, model, exc.code, exc.message[:500], int((time.perf_counter() - started) * 1000))


def _first_answer(role: str, names: list[str], call: Callable[[str], T]) -> tuple[T, list[Attempt]]:
    """The first provider's answer that does not fail; raises the last error (carrying every failed
    attempt) when all fail."""
    attempts: list[Attempt] = []
    last: ProviderError | None = None
    for name in names:
        started = time.perf_counter()
        try:
            return call(name), attempts
        except ProviderError as exc:
            attempts.append(_failure(name, role, exc, started))
            last = exc
    assert last is not None
    last.attempts = attempts  # type: ignore[attr-defined]
    raise last


def generate(
    request: GenerationRequest, primary: str, fallbacks: Sequence[str]
) -> tuple[GenerationResult, list[Attempt]]:
    """Generate with `primary`, then each fallback in turn; raises the last error when all fail."""
    return _first_answer("generation", _chain(primary, fallbacks),
                         lambda name: registry.generation_provider(name).generate(request))


def stream(
    request: GenerationRequest, primary: str, fallbacks: Sequence[str], attempts: list[Attempt]
) -> Iterator[tuple[str, str, StreamChunk]]:
    """Yields (provider, model, chunk). Falls back only before the first text arrives, since a reader
    cannot un-see half an answer; a failure after that propagates."""
    last: ProviderError | None = None
    for name in _chain(primary, fallbacks):
        started = time.perf_counter()
        produced = False
        try:
            provider = registry.generation_provider(name)
            for chunk in provider.stream(request):
                produced = produced or bool(chunk.text)
                yield name, provider.model, chunk
            return
        except ProviderError as exc:
            attempts.append(_failure(name, "generation", exc, started))
            last = exc
            if produced:
                raise
    assert last is not None
    raise last


def condense(
    question: str, history: Sequence[Turn], language: str, primary: str, fallbacks: Sequence[str]
) -> tuple[CondenseResult, list[Attempt]]:
    """Condense with `primary`, then each fallback in turn; raises the last error when all fail."""
    return _first_answer("reasoning", _chain(primary, fallbacks),
                         lambda name: registry.reasoning_provider(name).condense(question, history, language))
