"""Bad input through the real API: every refusal is a clear {"error", "message"} and nothing is half-stored."""
from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from triple.audit.models import SearchLog
from triple.conversations.models import Chat

pytestmark = pytest.mark.django_db
CHAT = "/api/v1/triple/chat/"
USER = "/api/v1/triple/user/"


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str), body
    assert body["message"], body
    if code is not None:
        assert body["error"] == code, body
    return body


def raw_post(api: Any, path: str, data: bytes | str, content_type: str = "application/json") -> Any:
    return api.generic("POST", path, data, content_type=content_type)


def test_oversized_body_is_413_and_stores_nothing(api: Any, session_user: Any) -> None:
    body = json.dumps({"user_id": session_user.user_id, "question": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    assert_error(raw_post(api, CHAT, body), 413, "payload_too_large")
    assert_error(raw_post(api, USER, body), 413, "payload_too_large")
    assert not Chat.objects.exists()


def test_deeply_nested_json_is_400_not_a_crash(api: Any) -> None:
    depth = 100_000
    assert_error(raw_post(api, CHAT, "[" * depth + "]" * depth), 400, "malformed_json")
    assert_error(raw_post(api, USER, '{"a":' * 20_000 + "1" + "}" * 20_000), 400, "malformed_json")


@pytest.mark.parametrize("payload", [
    b'{"user_id": "\xff\xfe", "question": "hello"}',  # invalid UTF-8
    b'{"user_id": "abc", "question": ',  # truncated
    b"\x00\x01\x02",
    b'{"question": "\xed\xa0\x80"}',  # an encoded lone surrogate is not UTF-8
])
def test_undecodable_or_broken_json_is_400(api: Any, payload: bytes) -> None:
    assert_error(raw_post(api, CHAT, payload), 400, "malformed_json")


def test_json_that_is_not_an_object_is_a_clear_400(api: Any) -> None:
    for payload in ("[]", '"just a string"', "42", "null"):
        assert_error(raw_post(api, CHAT, payload), 400)
        assert_error(raw_post(api, USER, payload), 400)


def test_unsupported_media_type_is_415(api: Any) -> None:
    assert_error(raw_post(api, CHAT, "<q>hi</q>", content_type="application/xml"), 415, "unsupported_media_type")


@pytest.mark.parametrize("question", ["hello\x00world", "bell\x07", "esc \x1b[31mred", "\x08backspace"])
def test_control_characters_in_a_question_are_refused(api: Any, session_user: Any, question: str) -> None:
    response = api.post(CHAT, {"user_id": session_user.user_id, "question": question}, format="json")
    assert_error(response, 400)
    assert not Chat.objects.exists()


def test_question_one_character_over_the_limit_is_refused(api: Any, session_user: Any) -> None:
    question = "가" * (settings.MAX_QUESTION_CHARS + 1)
    response = api.post(CHAT, {"user_id": session_user.user_id, "question": question}, format="json")
    body = assert_error(response, 400, "question_too_long")
    assert str(settings.MAX_QUESTION_CHARS) in body["message"]
    assert not Chat.objects.exists()


@pytest.mark.parametrize("field,value", [
    ("user_id", "u" * 65), ("user_id", ["a"]), ("top_k", 0), ("top_k", 21), ("top_k", "many"),
    ("filters", "not-a-dict"), ("providers", {"embedding": "local"}), ("providers", {"generation": "nope"}),
])
def test_bad_fields_are_clear_400s(api: Any, session_user: Any, field: str, value: Any) -> None:
    body = {"user_id": session_user.user_id, "question": "What is the return window?", field: value}
    assert_error(api.post(CHAT, body, format="json"), 400)
    assert not Chat.objects.exists()


@pytest.mark.parametrize("filters", [
    {"x": [None, None]}, {"x": {"a": 1}}, {"x": []}, {"source": ["a", 1]}, {"$or": [{"a": 1}]},
    {"kind": {"$ne": "csv"}}, {"a b": "c"}, {f"k{i}": 1 for i in range(11)},
])
def test_filters_the_vector_store_cannot_take_are_a_clear_400(
    api: Any, built_index: Any, session_user: Any, filters: dict[str, Any],
) -> None:
    body = {"user_id": session_user.user_id, "question": "반품은 며칠 이내에 가능한가요?", "filters": filters}
    assert_error(api.post(CHAT, body, format="json"), 400)  # found by the schema fuzz: these were 500s
    assert not Chat.objects.exists()


INJECTIONS = [
    "'; DROP TABLE triple_chat; --",
    "1 OR 1=1; SELECT * FROM triple_session_user --",
    "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "{{7*7}} ${7*7} %(secret)s \\u0000",
    "반품 기간은? \" OR \"\"=\" <b>굵게</b>",
]


@pytest.mark.parametrize("question", INJECTIONS)
def test_sql_and_html_in_a_question_are_stored_verbatim_and_returned_as_json(
    api: Any, built_index: Any, session_user: Any, question: str,
) -> None:
    response = api.post(CHAT, {"user_id": session_user.user_id, "question": question}, format="json")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Content-Type-Options"] == "nosniff"  # a browser never renders it as HTML
    chat = Chat.objects.get(id=response.json()["chat_id"])
    assert chat.question == question  # parameterized SQL: stored exactly, tables intact
    assert SearchLog.objects.filter(chat=chat).count() == chat.top_k
    history = api.get("/api/v1/triple/history/", {"user_id": session_user.user_id})
    assert history.status_code == 200 and history["Content-Type"].startswith("application/json")
    assert json.loads(history.content)["turns"][0]["content"] == question
    assert Chat.objects.count() == 1


def test_sql_in_a_user_id_is_just_an_unknown_user(api: Any) -> None:
    response = api.get("/api/v1/triple/history/", {"user_id": "x' OR '1'='1"})
    assert_error(response, 404, "unknown_user")
    response = api.post(CHAT, {"user_id": "x' OR '1'='1", "question": "hi there"}, format="json")
    assert_error(response, 404, "unknown_user")
