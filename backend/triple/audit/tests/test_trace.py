"""The audit trace of a normal, a cached, a fallback and a failed answer, and the filtered list."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from triple.conversations.models import Chat, Feedback
from triple.core.errors import ServiceUnavailable
from triple.knowledge.models import Chunk
from triple.providers.local import LocalExtractiveGenerator
from triple.sessions.models import User
from triple.sessions.services import session_expire, user_create

pytestmark = pytest.mark.django_db
AUDIT = "/api/v1/triple/audit/"
QUESTION = "혼자 쓰는 초경량 텐트는 무게가 몇 그램이에요?"
TRACE_KEYS = {"chat_id", "user_id", "created_at", "question", "standalone_query", "language", "route", "status",
              "error_code", "error", "cached", "retrieval", "chunks", "providers", "prompt_version", "attempts",
              "timings_ms", "usage", "response", "feedback"}
CHUNK_KEYS = {"rank", "score", "retriever", "dense_rank", "dense_score", "bm25_rank", "bm25_score", "cited",
              "chunk_id", "source", "locator", "text"}


def trace(operator_api: Any, chat_id: str) -> dict[str, Any]:
    response = operator_api.get(f"{AUDIT}{chat_id}/")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def test_trace_of_a_normal_answer_has_every_part(operator_api: Any, built_index: Any, ask: Any,
                                                 session_user: Any) -> None:
    payload = ask(QUESTION, top_k=4)
    Feedback.objects.create(chat_id=payload["chat_id"], rating=1, comment="정확해요")
    body = trace(operator_api, payload["chat_id"])
    assert set(body) == TRACE_KEYS
    assert body["user_id"] == session_user.user_id and body["question"] == QUESTION
    assert body["standalone_query"] == QUESTION and body["language"] == "ko"
    assert (body["route"], body["status"], body["cached"]) == ("rag", "ok", False)
    assert body["retrieval"] == {"top_k": 4, "filters": {}, "index_build": {
        "id": built_index.id, "collection": built_index.collection, "embedding_model": built_index.embedding_model}}
    assert [c["rank"] for c in body["chunks"]] == [1, 2, 3, 4]
    assert all(set(c) == CHUNK_KEYS for c in body["chunks"])
    top = body["chunks"][0]
    assert (top["source"], top["locator"], top["cited"]) == ("catalog/products.csv", "row=3", True)
    assert top["text"] == Chunk.objects.get(id=top["chunk_id"]).text and "980g" in top["text"]
    assert [c["chunk_id"] for c in body["chunks"]] == [s["chunk_id"] for s in payload["sources"]]
    assert body["providers"]["generation"] == {"provider": "local", "model": LocalExtractiveGenerator.model}
    assert body["providers"]["embedding"] == {"model": built_index.embedding_model}
    assert body["prompt_version"] and body["attempts"] == []
    assert {"retrieve_ms", "generate_ms", "total_ms"} <= set(body["timings_ms"])
    assert body["usage"]["output_tokens"] > 0
    assert "980g" in body["response"]
    assert [(f["rating"], f["comment"]) for f in body["feedback"]] == [(1, "정확해요")]


def test_trace_of_a_cached_answer_is_complete_and_marked(operator_api: Any, built_index: Any, ask: Any,
                                                         settings: Any) -> None:
    from triple.conversations.services import answer_question

    settings.ANSWER_CACHE_TTL = 60
    first = ask(QUESTION)
    other = user_create()
    second = answer_question(user_id=other.user_id, question=QUESTION)
    assert second["chat_id"] != first["chat_id"] and second["cached"] is True
    original, cached = trace(operator_api, first["chat_id"]), trace(operator_api, second["chat_id"])
    assert original["cached"] is False and cached["cached"] is True
    assert cached["user_id"] == other.user_id and cached["response"] == original["response"]
    assert cached["chunks"] == original["chunks"]  # its own SearchLog rows, same retrieval
    assert cached["providers"]["generation"] == original["providers"]["generation"]
    assert cached["usage"]["cached_from"] == first["chat_id"] and cached["usage"]["output_tokens"] == 0
    assert "generate_ms" not in cached["timings_ms"]


def test_no_cache_when_the_ttl_is_zero(built_index: Any, ask: Any, settings: Any) -> None:
    settings.ANSWER_CACHE_TTL = 0
    assert ask(QUESTION)["cached"] is False
    assert ask(QUESTION)["cached"] is False


def test_trace_of_a_fallback_answer_keeps_the_failed_attempt(operator_api: Any, built_index: Any, ask: Any,
                                                             settings: Any, test_providers: None) -> None:
    settings.GENERATION_FALLBACKS = ["local"]
    payload = ask(QUESTION, providers={"generation": "broken"})
    body = trace(operator_api, payload["chat_id"])
    assert body["status"] == "ok" and body["providers"]["generation"]["provider"] == "local"
    assert [(a["provider"], a["error"]) for a in body["attempts"]] == [("broken", "provider_unavailable")]
    assert "980g" in body["response"]


def test_trace_of_a_failed_answer_keeps_the_retrieval_and_the_error(operator_api: Any, built_index: Any,
                                                                    ask: Any, settings: Any,
                                                                    test_providers: None) -> None:
    settings.GENERATION_FALLBACKS = []
    with pytest.raises(ServiceUnavailable) as failure:
        ask(QUESTION, providers={"generation": "broken"})
    body = trace(operator_api, str(failure.value.extra["chat_id"]))
    assert (body["status"], body["error_code"], body["response"]) == ("failed", "provider_unavailable", "")
    assert body["error"] == "the model server is down"
    assert [a["provider"] for a in body["attempts"]] == ["broken"]
    assert len(body["chunks"]) == body["retrieval"]["top_k"] and body["chunks"][0]["locator"] == "row=3"


def test_audit_rows_survive_session_expiry_and_user_deletion(operator_api: Any, built_index: Any, ask: Any,
                                                             session_user: Any) -> None:
    payload = ask(QUESTION)
    session_expire(user=session_user)
    User.objects.filter(user_id=session_user.user_id).delete()
    body = trace(operator_api, payload["chat_id"])
    assert body["user_id"] == session_user.user_id and len(body["chunks"]) == 5


def test_unknown_chat_and_missing_operator_token(api: Any, operator_api: Any, db: Any) -> None:
    response = operator_api.get(f"{AUDIT}{uuid.uuid4()}/")
    assert response.status_code == 404 and response.json()["error"] == "unknown_chat"
    assert api.get(AUDIT).status_code == 401
    api.credentials(HTTP_AUTHORIZATION="Bearer wrong")
    assert api.get(AUDIT).status_code == 403


def _chat(user_id: str, *, status: str = "ok", provider: str = "local", days_ago: int = 0) -> Chat:
    chat = Chat.objects.create(user_id=user_id, question=f"q {user_id}", response="a", status=status,
                               generation_provider=provider, generation_model="m")
    Chat.objects.filter(id=chat.id).update(created_at=timezone.now() - timedelta(days=days_ago))
    return chat


def test_list_filters_and_pagination(operator_api: Any, db: Any) -> None:
    up, down = _chat("alice"), _chat("alice", days_ago=3)
    failed = _chat("bob", status="failed", provider="", days_ago=1)
    gemini = _chat("carol", provider="gemini", days_ago=10)
    Feedback.objects.create(chat=up, rating=-1)
    Feedback.objects.create(chat=up, rating=1)  # the latest rating counts
    Feedback.objects.create(chat=down, rating=-1)

    def ids(**params: Any) -> list[str]:
        response = operator_api.get(AUDIT, params)
        assert response.status_code == 200, response.content
        return [row["chat_id"] for row in response.json()["results"]]

    assert ids() == [str(c.id) for c in (up, failed, down, gemini)]  # newest first
    assert ids(user_id="alice") == [str(up.id), str(down.id)]
    assert ids(status="failed") == [str(failed.id)]
    assert ids(provider="gemini") == [str(gemini.id)]
    assert ids(feedback="up") == [str(up.id)]
    assert ids(feedback="down") == [str(down.id)]
    assert ids(feedback="none") == [str(failed.id), str(gemini.id)]
    today = timezone.now().date()
    assert ids(date_from=str(today - timedelta(days=5)), date_to=str(today - timedelta(days=2))) == [str(down.id)]
    assert ids(date_from=str(today - timedelta(days=1))) == [str(up.id), str(failed.id)]
    assert ids(date_to=str(today - timedelta(days=7))) == [str(gemini.id)]

    page = operator_api.get(AUDIT, {"page_size": 2, "page": 2}).json()
    assert page["count"] == 4 and page["previous"] and page["next"] is None
    assert [row["chat_id"] for row in page["results"]] == [str(down.id), str(gemini.id)]
    row = operator_api.get(AUDIT, {"user_id": "alice"}).json()["results"][0]
    assert set(row) == {"chat_id", "user_id", "question", "response", "status", "route", "cached",
                        "generation_provider", "generation_model", "created_at", "feedback"}
    assert row["feedback"] == 1

    bad = operator_api.get(AUDIT, {"feedback": "maybe"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    bad = operator_api.get(AUDIT, {"date_from": "2026-02-02", "date_to": "2026-01-01"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_date_range"
