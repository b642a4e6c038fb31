"""Reads of documents, chunks and index builds."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from triple.knowledge.models import BuildChunk, Chunk, Document, IndexBuild


def active_build() -> IndexBuild | None:
    return IndexBuild.objects.filter(active=True).first()


def build_get(*, build_id: int) -> IndexBuild | None:
    return IndexBuild.objects.filter(id=build_id).first()


def build_by_task(*, task_id: str) -> IndexBuild | None:
    return IndexBuild.objects.filter(task_id=task_id).first()


def builds_in_progress() -> list[IndexBuild]:
    """The running build and the one waiting behind it, oldest first."""
    return list(IndexBuild.objects.filter(status__in=["queued", "running"]).order_by("id"))


def build_list(*, limit: int = 20) -> list[IndexBuild]:
    return list(IndexBuild.objects.order_by("-id")[:limit])


def build_chunk_ids(*, build_id: int) -> list[str]:
    return list(BuildChunk.objects.filter(build_id=build_id).values_list("chunk_id", flat=True))


def iter_build_chunk_rows(*, build_id: int) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(id, space-joined tokens, filterable metadata) of every chunk in a build, streamed, for BM25."""
    rows = (
        Chunk.objects.filter(buildchunk__build_id=build_id)
        .values_list("id", "tokens", "metadata", "source")
        .iterator(chunk_size=2000)
    )
    for chunk_id, chunk_tokens, metadata, source in rows:
        yield chunk_id, chunk_tokens, {**metadata, "source": source}


def build_chunk_rows(*, build_id: int) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(ids, space-joined tokens, filterable metadata) of every chunk in a build, as lists."""
    ids: list[str] = []
    tokens: list[str] = []
    metas: list[dict[str, Any]] = []
    for chunk_id, chunk_tokens, metadata in iter_build_chunk_rows(build_id=build_id):
        ids.append(chunk_id)
        tokens.append(chunk_tokens)
        metas.append(metadata)
    return ids, tokens, metas


def chunks_by_ids(*, ids: Iterable[str]) -> dict[str, Chunk]:
    """The chunks a question retrieved, without their BM25 tokens (read only by index builds; they are
    the biggest column and every answer would fetch them)."""
    return {chunk.id: chunk for chunk in Chunk.objects.filter(id__in=list(ids)).defer("tokens")}


def document_list() -> list[Document]:
    return list(Document.objects.order_by("source"))


def document_get(*, document_id: int) -> Document | None:
    return Document.objects.filter(id=document_id).first()
