"""Fixtures for the audit tests: scripted and failing generators registered through the real registry."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from triple.providers import registry
from triple.providers.errors import ProviderUnavailable
from triple.providers.registry import ProviderSpec
from triple.providers.types import GenerationRequest, GenerationResult, Readiness, StreamChunk, Usage

SCRIPTED_ANSWER = "Scripted answer from the second passage. [2]"


class ScriptedGenerator:
    """Always cites passage 2, so a replay's answer differs from the local generator's."""

    name = "scripted"
    model = "scripted-v1"
    can_stream = True

    def generate(self, request: GenerationRequest) -> GenerationResult:
        return GenerationResult(SCRIPTED_ANSWER, self.name, self.model, Usage(11, 7, False))

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        yield StreamChunk(text=SCRIPTED_ANSWER)
        yield StreamChunk(usage=Usage(11, 7, False))


class BrokenGenerator:
    name = "broken"
    model = "broken-v1"
    can_stream = True

    def generate(self, request: GenerationRequest) -> GenerationResult:
        raise ProviderUnavailable("the model server is down", provider=self.name)

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        raise ProviderUnavailable("the model server is down", provider=self.name)
        yield StreamChunk()  # pragma: no cover - makes this a generator


def _spec(name: str, generator: type) -> ProviderSpec:
    return ProviderSpec(name=name, label=name.title(), roles=frozenset({"generation"}), needs_key=False,
                        key_env_var=None, readiness=lambda: Readiness(True), build=lambda role: generator())


@pytest.fixture
def test_providers() -> Iterator[None]:
    """`scripted` and `broken` generation providers, registered like plugins and removed afterwards."""
    registry.specs()  # built-ins first, so ours do not count as "loaded" ones
    registry.register(_spec("scripted", ScriptedGenerator))
    registry.register(_spec("broken", BrokenGenerator))
    yield
    for name in ("scripted", "broken"):
        registry._specs.pop(name, None)
    registry.reset()


@pytest.fixture
def ask(session_user: Any) -> Any:
    """Ask through the real question path as a live session user; returns the payload."""
    from triple.conversations.services import answer_question

    def _ask(question: str, **kwargs: Any) -> dict[str, Any]:
        return answer_question(user_id=session_user.user_id, question=question, **kwargs)

    return _ask
