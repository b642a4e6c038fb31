"""Replay: the question asked again with other providers or on the original index, and the diff."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from triple.audit.models import SearchLog
from triple.audit.tests.conftest import SCRIPTED_ANSWER
from triple.conversations.models import Chat
from triple.knowledge.models import Chunk, IndexBuild
from triple.sessions import selectors as history
from triple.sessions.services import session_expire

pytestmark = pytest.mark.django_db
QUESTION = "혼자 쓰는 초경량 텐트는 무게가 몇 그램이에요?"


def replay(operator_api: Any, chat_id: str, **body: Any) -> Any:
    return operator_api.post(f"/api/v1/triple/audit/{chat_id}/replay/", body, format="json")


def test_replay_with_another_generator_after_the_session_ended(operator_api: Any, built_index: Any, ask: Any,
                                                               session_user: Any, test_providers: None) -> None:
    original = ask(QUESTION)
    turns_before = history.history_turns(user_id=session_user.user_id)
    session_expire(user=session_user)

    response = replay(operator_api, original["chat_id"], generation_provider="scripted")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["original"]["chat_id"] == original["chat_id"]
    again = body["replay"]
    assert again["route"] == "replay" and again["user_id"] == session_user.user_id and again["status"] == "ok"
    assert again["providers"]["generation"] == {"provider": "scripted", "model": "scripted-v1"}
    assert again["response"] == SCRIPTED_ANSWER and again["chunks"][1]["cited"] is True
    assert Chat.objects.get(id=again["chat_id"]).route == "replay"

    diff = body["diff"]
    assert diff["sources_added"] == [] and diff["sources_removed"] == []  # same index, same retrieval
    assert diff["same_answer"] is False
    lines = diff["answer_diff"].splitlines()
    assert lines[:2] == ["--- original", "+++ replay"]
    assert f"+{SCRIPTED_ANSWER}" in lines
    assert any(line.startswith("-") and "980g" in line for line in lines[2:])
    assert history.history_turns(user_id=session_user.user_id) == turns_before  # not part of the conversation


def test_replay_on_the_original_index_reports_changed_sources(operator_api: Any, built_index: Any) -> None:
    real = Chunk.objects.get(source="catalog/products.csv", locator="row=3")
    stale = list(Chunk.objects.filter(source="docs/faq_ko.md").order_by("ordinal")[:2])
    chat = Chat.objects.create(user_id="gone-user", question=QUESTION, standalone_query=QUESTION, top_k=3,
                               index_build=built_index, generation_provider="local", response="옛 답변 [1]")
    SearchLog.objects.bulk_create([SearchLog(chat=chat, chunk=c, rank=n, score=0.01, retriever="dense")
                                   for n, c in enumerate(stale, start=1)])

    body = replay(operator_api, str(chat.id), use_original_index=True).json()
    assert body["replay"]["retrieval"]["index_build"]["id"] == built_index.id
    added = {(s["source"], s["locator"]) for s in body["diff"]["sources_added"]}
    removed = [s["chunk_id"] for s in body["diff"]["sources_removed"]]
    assert (real.source, real.locator) in added and len(body["diff"]["sources_added"]) == 3
    assert removed == [c.id for c in stale]
    assert body["diff"]["same_answer"] is False and "-옛 답변 [1]" in body["diff"]["answer_diff"]


def test_replay_on_a_pruned_build_is_a_conflict(operator_api: Any, built_index: Any) -> None:
    old = IndexBuild.objects.create(embedding_provider="local", embedding_model=built_index.embedding_model,
                                    status="succeeded", collection="")
    chat = Chat.objects.create(user_id="u", question=QUESTION, index_build=old, response="a")
    response = replay(operator_api, str(chat.id), use_original_index=True)
    assert response.status_code == 409 and response.json()["error"] == "index_build_gone"
    assert not Chat.objects.filter(route="replay").exists()
    assert replay(operator_api, str(chat.id)).status_code == 200  # the active index still answers


def test_replay_errors(operator_api: Any, api: Any, built_index: Any) -> None:
    chat = Chat.objects.create(user_id="u", question=QUESTION, index_build=built_index, response="a")
    response = replay(operator_api, str(uuid.uuid4()))
    assert response.status_code == 404 and response.json()["error"] == "unknown_chat"
    response = replay(operator_api, str(chat.id), generation_provider="nope")
    assert response.status_code == 400 and response.json()["error"] == "unknown_provider"
    assert replay(api, str(chat.id)).status_code == 401
