"""Data types shared by every provider. Frozen so a request cannot change under a provider."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["embedding", "reasoning", "generation"]
CHAT_ROLES: tuple[Role, ...] = ("reasoning", "generation")


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.estimated or other.estimated,
        )

    def as_dict(self) -> dict[str, int | bool]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "estimated": self.estimated}


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk as the generator sees it; `number` is the [n] it must cite."""

    number: int
    text: str
    source: str
    locator: str = ""
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationRequest:
    question: str
    passages: tuple[Passage, ...]
    history: tuple[Turn, ...] = ()
    language: str = "ko"


@dataclass(frozen=True)
class GenerationResult:
    text: str
    provider: str
    model: str
    usage: Usage


@dataclass(frozen=True)
class StreamChunk:
    """A text delta, or (on the last chunk) the call's usage."""

    text: str = ""
    usage: Usage | None = None


@dataclass(frozen=True)
class CondenseResult:
    query: str
    provider: str
    model: str
    usage: Usage


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str = ""


@runtime_checkable
class EmbeddingProvider(Protocol):
    name: str
    model: str  # a stable model id; index collections are named after it

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


@runtime_checkable
class GenerationProvider(Protocol):
    name: str
    model: str
    can_stream: bool

    def generate(self, request: GenerationRequest) -> GenerationResult: ...

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]: ...


@runtime_checkable
class ReasoningProvider(Protocol):
    name: str
    model: str

    def condense(self, question: str, history: Sequence[Turn], language: str) -> CondenseResult: ...
