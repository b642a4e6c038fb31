"""Reads of the audit trail: filtered chat lists, whole traces, and row streams for export."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from triple.audit.models import SearchLog
from triple.conversations.models import Chat, Feedback
from triple.core.errors import NotFound

EXPORT_FIELDS = (
    "chat_id", "created_at", "user_id", "question", "standalone_query", "language", "route", "status", "cached",
    "error_code", "response", "reasoning_provider", "reasoning_model", "generation_provider", "generation_model",
    "embedding_model", "index_build_id", "prompt_version", "top_k", "filters", "attempts", "timings_ms", "usage",
    "feedback",
)


@dataclass(frozen=True)
class ChatFilters:
    user_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    provider: str | None = None
    status: str | None = None
    feedback: str | None = None  # up | down | none
    route: str | None = None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def chat_list(*, filters: ChatFilters) -> QuerySet[Chat]:
    """Chats matching the filters, newest first, each annotated with its latest feedback rating."""
    latest = Feedback.objects.filter(chat=OuterRef("pk")).order_by("-created_at", "-id").values("rating")[:1]
    qs = Chat.objects.annotate(latest_rating=Subquery(latest, output_field=IntegerField()))
    if filters.user_id:
        qs = qs.filter(user_id=filters.user_id)
    if filters.date_from:
        qs = qs.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(created_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    if filters.provider:
        qs = qs.filter(Q(generation_provider=filters.provider) | Q(reasoning_provider=filters.provider))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.route:
        qs = qs.filter(route=filters.route)
    if filters.feedback == "up":
        qs = qs.filter(latest_rating=1)
    elif filters.feedback == "down":
        qs = qs.filter(latest_rating=-1)
    elif filters.feedback == "none":
        qs = qs.filter(latest_rating__isnull=True)
    return qs.order_by("-created_at", "-id")


def chat_rows(*, filters: ChatFilters, chunk_size: int = 500) -> Iterator[dict[str, Any]]:
    """Export rows one by one: a server-side cursor where the database has one, never the whole table."""
    columns = [name for name in EXPORT_FIELDS if name not in ("chat_id", "feedback")]
    rows = chat_list(filters=filters).values("id", "latest_rating", *columns)
    for row in rows.iterator(chunk_size=chunk_size):
        row["chat_id"] = str(row.pop("id"))
        row["feedback"] = row.pop("latest_rating")
        row["created_at"] = row["created_at"].isoformat()
        yield {name: row[name] for name in EXPORT_FIELDS}


def chat_get(*, chat_id: uuid.UUID) -> Chat:
    chat = Chat.objects.select_related("index_build").filter(id=chat_id).first()
    if chat is None:
        raise NotFound("No chat with this id.", code="unknown_chat")
    return chat


def chat_trace(*, chat: Chat) -> dict[str, Any]:
    """Everything about one answer: question, retrieval with each chunk's text as it was, providers,
    attempts, timings, tokens, answer and feedback."""
    build = chat.index_build
    logs = SearchLog.objects.filter(chat=chat).select_related("chunk").order_by("rank")
    return {
        "chat_id": str(chat.id),
        "user_id": chat.user_id,
        "created_at": chat.created_at.isoformat(),
        "question": chat.question,
        "standalone_query": chat.standalone_query,
        "language": chat.language,
        "route": chat.route,
        "status": chat.status,
        "error_code": chat.error_code,
        "error": chat.error,
        "cached": chat.cached,
        "retrieval": {
            "top_k": chat.top_k,
            "filters": chat.filters,
            "index_build": ({"id": build.id, "collection": build.collection, "embedding_model": build.embedding_model}
                            if build else None),
        },
        "chunks": [
            {"rank": log.rank, "score": log.score, "retriever": log.retriever, "dense_rank": log.dense_rank,
             "dense_score": log.dense_score, "bm25_rank": log.bm25_rank, "bm25_score": log.bm25_score,
             "cited": log.cited, "chunk_id": log.chunk_id, "source": log.chunk.source, "locator": log.chunk.locator,
             "text": log.chunk.text}
            for log in logs
        ],
        "providers": {
            "reasoning": {"provider": chat.reasoning_provider or None, "model": chat.reasoning_model or None},
            "generation": {"provider": chat.generation_provider or None, "model": chat.generation_model or None},
            "embedding": {"model": chat.embedding_model or None},
        },
        "prompt_version": chat.prompt_version,
        "attempts": chat.attempts,
        "timings_ms": chat.timings_ms,
        "usage": chat.usage,
        "response": chat.response,
        "feedback": [
            {"rating": item.rating, "comment": item.comment, "created_at": item.created_at.isoformat()}
            for item in chat.feedback.order_by("created_at", "id")
        ],
    }
