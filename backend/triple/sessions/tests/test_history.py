"""History: the database is the source of truth, Redis a cache with the right roles, oldest first."""
from __future__ import annotations

import json
from typing import Any

import pytest

from triple.conversations.models import Chat
from triple.sessions import selectors

pytestmark = pytest.mark.django_db
USER, CHAT, HISTORY = "/api/v1/triple/user/", "/api/v1/triple/chat/", "/api/v1/triple/history/"
QUESTIONS = ["혼자 쓰는 초경량 텐트는 무게가 몇 그램이에요?", "Which gas canister type does the compact stove use?"]


def _converse(api: Any) -> tuple[str, list[dict[str, Any]]]:
    user_id = api.post(USER, {}, format="json").json()["user_id"]
    answers = []
    for question in QUESTIONS:
        response = api.post(CHAT, {"user_id": user_id, "question": question}, format="json")
        assert response.status_code == 200, response.content
        answers.append(response.json())
    return user_id, answers


def _expected(answers: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    turns = []
    for question, answer in zip(QUESTIONS, answers, strict=True):
        turns += [("user", question, answer["chat_id"]), ("assistant", answer["response"], answer["chat_id"])]
    return turns


def _shape(turns: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(t["role"], t["content"], t["chat_id"]) for t in turns]


def test_history_is_oldest_first_with_question_then_answer_roles(api: Any, built_index: Any) -> None:
    user_id, answers = _converse(api)
    body = api.get(HISTORY, {"user_id": user_id}).json()
    assert body["user_id"] == user_id
    assert _shape(body["turns"]) == _expected(answers)
    from triple.core import redis as triple_redis

    cached = [json.loads(item) for item in triple_redis.client().lrange(selectors.history_key(user_id), 0, -1)]
    assert _shape(cached) == _expected(answers)
    assert [t.role for t in selectors.recent_turns(user_id=user_id)] == ["user", "assistant"] * 2


def test_history_is_rebuilt_from_the_database_after_flushdb(own_redis: Any, api: Any, built_index: Any) -> None:
    user_id, answers = _converse(api)
    own_redis.client().flushdb()
    response = api.get(HISTORY, {"user_id": user_id})
    assert response.status_code == 200, response.content
    assert _shape(response.json()["turns"]) == _expected(answers)
    assert own_redis.client().llen(selectors.history_key(user_id)) == 4  # the cache is back
    third = api.post(CHAT, {"user_id": user_id, "question": "반품은 며칠 이내에 가능한가요?"}, format="json")
    assert third.status_code == 200
    turns = api.get(HISTORY, {"user_id": user_id}).json()["turns"]
    assert [t["role"] for t in turns] == ["user", "assistant"] * 3
    assert turns[4]["content"] == "반품은 며칠 이내에 가능한가요?"
    assert Chat.objects.filter(user_id=user_id).count() == 3


def test_a_user_cannot_read_another_users_history(api: Any, built_index: Any) -> None:
    owner, answers = _converse(api)
    other = api.post(USER, {}, format="json").json()["user_id"]
    mine = api.get(HISTORY, {"user_id": other}).json()
    assert mine["user_id"] == other and mine["turns"] == []
    guessed = api.get(HISTORY, {"user_id": owner[:-1] + ("A" if owner[-1] != "A" else "B")})
    assert guessed.status_code == 404
    feedback = api.post("/api/v1/triple/feedback/", {"chat_id": answers[0]["chat_id"], "rating": 1,
                                                      "user_id": other}, format="json")
    assert feedback.status_code == 403 and feedback.json()["error"] == "not_your_chat"



def test_a_turn_appended_while_the_cache_is_cold_rebuilds_it_whole(api: Any, built_index: Any) -> None:
    """The newest turns are appended only to a cached list; if the list expired or was evicted while the
    session lived on, the append rebuilds it from the database instead of starting a list that holds only
    the newest turns (follow-ups would lose the earlier conversation)."""
    from triple.core import redis as triple_redis

    user_id, answers = _converse(api)
    client = triple_redis.client()
    newest = [json.loads(item) for item in client.lrange(selectors.history_key(user_id), -2, -1)]
    client.delete(selectors.history_key(user_id))
    selectors.history_append(user_id=user_id, turns=newest)  # what _record does after the Chat row is written
    cached = [json.loads(item) for item in client.lrange(selectors.history_key(user_id), 0, -1)]
    assert _shape(cached) == _expected(answers)
    assert client.ttl(selectors.history_key(user_id)) > 0
