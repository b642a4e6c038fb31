"""Response shapes of the Triple API (the API may add fields; these are the ones the UI reads)."""
from __future__ import annotations

from typing import Any, Literal, TypedDict


class Session(TypedDict):
    user_id: str
    expires_at: str


class Source(TypedDict, total=False):
    number: int
    chunk_id: str
    document: str
    locator: str
    score: float
    retriever: str
    dense_score: float | None
    bm25_score: float | None
    snippet: str
    image_urls: list[str]
    cited: bool


class ProviderUse(TypedDict, total=False):
    provider: str | None
    model: str | None


class ChatResult(TypedDict, total=False):
    chat_id: str
    response: str
    status: str
    language: str
    standalone_query: str
    sources: list[Source]
    images: list[str]
    providers: dict[str, ProviderUse]
    index_build: Any
    attempts: list[dict[str, Any]]
    timings_ms: dict[str, float]
    usage: dict[str, Any]


class Turn(TypedDict, total=False):
    role: Literal["user", "assistant"]
    content: str
    chat_id: str
    created_at: str


class ProviderStatus(TypedDict, total=False):
    name: str
    label: str
    roles: list[str]
    needs_key: bool
    key_env_var: str | None
    ready: bool
    reason: str


class Providers(TypedDict, total=False):
    selection: dict[str, str]
    defaults: dict[str, str]
    embedding: dict[str, Any]
    presets: dict[str, dict[str, str]]
    providers: list[ProviderStatus]


class Health(TypedDict, total=False):
    status: Literal["ok", "degraded"]
    checks: dict[str, dict[str, Any]]
    providers: list[ProviderStatus]


class Progress(TypedDict, total=False):
    done: int
    total: int
    stage: str


class IndexBuild(TypedDict, total=False):
    id: int
    status: str
    stage: str
    active: bool
    embedding_model: str
    progress: Progress
    counts: dict[str, Any]
    failures: list[dict[str, Any]]
    error: str
    task_id: str | None
    created_at: str
    finished_at: str | None


class IndexStatus(TypedDict, total=False):
    active: IndexBuild | None
    in_progress: list[IndexBuild]
    builds: list[IndexBuild]


class Document(TypedDict, total=False):
    id: int
    source: str
    kind: str
    status: str
    error: str
    rows: int
    size_bytes: int
    sha256: str
    created_at: str
    indexed_at: str | None


class Upload(TypedDict, total=False):
    document: Document
    task_id: str


class Task(TypedDict, total=False):
    task_id: str
    state: Literal["queued", "running", "succeeded", "unchanged", "failed"]
    progress: Progress
    result: Any
    error: str | None
    build_id: int | None


class AuditRow(TypedDict, total=False):
    chat_id: str
    user_id: str
    question: str
    response: str
    status: str
    route: str
    generation_provider: str | None
    generation_model: str | None
    created_at: str
    feedback: Any


class AuditPage(TypedDict, total=False):
    count: int
    next: str | None
    previous: str | None
    results: list[AuditRow]


class Replay(TypedDict, total=False):
    original: dict[str, Any]
    replay: dict[str, Any]
    diff: dict[str, Any]
