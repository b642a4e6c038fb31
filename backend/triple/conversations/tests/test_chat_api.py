from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from triple.audit.models import SearchLog
from triple.conversations.models import Chat

pytestmark = pytest.mark.django_db
CHAT = "/api/v1/triple/chat/"


def new_user(api: Any) -> str:
    response = api.post("/api/v1/triple/user/", {}, format="json")
    assert response.status_code == 201
    return str(response.json()["user_id"])


def ask(api: Any, user_id: str, question: str, **extra: Any) -> Any:
    return api.post(CHAT, {"user_id": user_id, "question": question, **extra}, format="json")


def test_user_ids_are_unguessable(api: Any, built_index: Any) -> None:
    ids = {new_user(api) for _ in range(3)}
    assert len(ids) == 3 and all(len(i) >= 32 for i in ids)


def test_korean_question_cites_the_right_row_with_its_image(api: Any, built_index: Any) -> None:
    user_id = new_user(api)
    body = ask(api, user_id, "혼자 쓰는 초경량 텐트는 무게가 몇 그램이에요?").json()
    top = body["sources"][0]
    assert (top["document"], top["locator"]) == ("catalog/products.csv", "row=3")
    assert "980g" in body["response"] and "[1]" in body["response"]
    assert body["images"][0].endswith("/files/catalog/images/p003.png")
    assert set(body["timings_ms"]) >= {"retrieve_ms", "generate_ms", "total_ms"}
    assert body["providers"]["generation"]["provider"] == "local"
    image = api.get(body["images"][0].split("testserver")[1])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content).startswith(b"\x89PNG")


def test_english_question_cites_the_stove_manual(api: Any, built_index: Any) -> None:
    user_id = new_user(api)
    body = ask(api, user_id, "Which gas canister type does the compact stove use?").json()
    assert body["sources"][0]["document"] == "docs/stove_manual_en.md"
    assert body["language"] == "en"


def test_chat_writes_one_chat_row_and_a_search_log_row_per_retrieved_chunk(api: Any, built_index: Any) -> None:
    user_id = new_user(api)
    body = ask(api, user_id, "반품은 며칠 이내에 가능한가요?", top_k=4).json()
    chat = Chat.objects.get(id=body["chat_id"])
    assert chat.user_id == user_id and chat.status == "ok" and chat.index_build_id == built_index.id
    assert chat.generation_provider == "local" and chat.prompt_version
    logs = list(SearchLog.objects.filter(chat=chat).order_by("rank"))
    assert [log.rank for log in logs] == [1, 2, 3, 4]
    assert [log.chunk_id for log in logs] == [s["chunk_id"] for s in body["sources"]]


def test_unknown_answer_says_so_in_the_question_language(api: Any, built_index: Any) -> None:
    user_id = new_user(api)
    body = ask(api, user_id, "양자역학의 불확정성 원리를 설명해 주세요").json()
    assert "찾을 수 없습니다" in body["response"]
    assert body["images"] == []


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"question": "안녕"}, 400, "missing_user_id"),
        ({"user_id": "nobody-has-this-id", "question": "안녕"}, 404, "unknown_user"),
        ({"user_id": "{user}"}, 400, "empty_question"),
        ({"user_id": "{user}", "question": "   "}, 400, "empty_question"),
        ({"user_id": "{user}", "question": "가" * 4001}, 400, "question_too_long"),
        ({"user_id": "{user}", "question": "텐트", "top_k": 0}, 400, "invalid_request"),
        ({"user_id": "{user}", "question": "텐트", "providers": {"generation": "nope"}}, 400, "unknown_provider"),
    ],
)
def test_bad_requests_get_the_one_error_shape_and_write_nothing(
    api: Any, built_index: Any, payload: dict[str, Any], status: int, code: str
) -> None:
    user_id = new_user(api)
    payload = {k: (user_id if v == "{user}" else v) for k, v in payload.items()}
    before = Chat.objects.count()
    response = api.post(CHAT, payload, format="json")
    assert response.status_code == status
    assert response.json()["error"] == code and response.json()["message"]
    assert set(response.json()) == {"error", "message"}
    assert Chat.objects.count() == before


def test_malformed_json_and_wrong_content_type(api: Any, built_index: Any) -> None:
    response = api.generic("POST", CHAT, "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "malformed_json"
    response = api.generic("POST", CHAT, "question=hi", content_type="text/plain")
    assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"


def test_unknown_endpoint_is_json_404(api: Any) -> None:
    response = api.get("/api/v1/triple/nope/")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_a_failing_generation_leaves_a_complete_failed_row_not_a_half_written_one(
    api: Any, built_index: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triple.providers import local
    from triple.providers.errors import ProviderUnavailable

    def broken(self: Any, request: Any) -> Any:
        raise ProviderUnavailable("the model server is down", provider="local")

    monkeypatch.setattr(local.LocalExtractiveGenerator, "generate", broken)
    user_id = new_user(api)
    response = ask(api, user_id, "텐트 설치 방법")
    assert response.status_code == 503
    assert response.json()["error"] == "generation_failed"
    chat = Chat.objects.get(id=response.json()["chat_id"])
    assert chat.status == "failed" and chat.error_code == "provider_unavailable" and chat.response == ""
    assert chat.attempts[0]["provider"] == "local"
    assert SearchLog.objects.filter(chat=chat).count() == chat.top_k  # the retrieval that happened is kept


def test_a_crash_while_recording_rolls_back_the_chat_row(
    api: Any, built_index: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id = new_user(api)
    original = SearchLog.objects.bulk_create

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(SearchLog.objects, "bulk_create", crash)
    before = Chat.objects.count()
    response = ask(api, user_id, "텐트 설치 방법")
    assert response.status_code == 500 and response.json()["error"] == "internal_error"
    assert Chat.objects.count() == before
    monkeypatch.setattr(SearchLog.objects, "bulk_create", original)


def test_sse_streams_meta_tokens_and_done_in_order(api: Any, built_index: Any) -> None:
    user_id = new_user(api)
    response = api.post(CHAT, {"user_id": user_id, "question": "솔로 울트라라이트 텐트 무게"}, format="json",
                        HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
    raw = b"".join(response.streaming_content).decode()
    events = [(block.split("\n")[0][7:], json.loads(block.split("\n")[1][6:]))
              for block in raw.strip().split("\n\n")]
    names = [name for name, _ in events]
    assert names[0] == "meta" and names[-1] == "done" and names.count("token") >= 2
    streamed = "".join(data["text"] for name, data in events if name == "token")
    assert streamed == events[-1][1]["response"]
    assert Chat.objects.get(id=events[0][1]["chat_id"]).response == streamed


def test_history_is_oldest_first_with_roles(api: Any, built_index: Any) -> None:
    user_id = new_user(api)
    ask(api, user_id, "첫 번째 질문: 텐트")
    ask(api, user_id, "두 번째 질문: 침낭")
    turns = api.get("/api/v1/triple/history/", {"user_id": user_id}).json()["turns"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[0]["content"].startswith("첫 번째") and turns[2]["content"].startswith("두 번째")


def test_openapi_schema_and_offline_swagger(api: Any) -> None:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/triple/chat/" in schema.json()["paths"]
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "swagger-ui" in html


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("events_read", [1, 3])
def test_a_reader_leaving_mid_stream_leaves_a_complete_interrupted_chat_row(
    api: Any, built_index: Any, events_read: int
) -> None:
    user_id = new_user(api)
    response = api.post(CHAT, {"user_id": user_id, "question": "솔로 울트라라이트 텐트 무게"}, format="json",
                        HTTP_ACCEPT="text/event-stream")
    stream = iter(response.streaming_content)
    received = [next(stream).decode() for _ in range(events_read)]
    response.close()  # what the WSGI server does when the client disconnects (it also ends the request)
    connection.close()  # request_finished closed the sqlite handle under Django; start a fresh one
    chat_id = json.loads(received[0].split("\n")[1][6:])["chat_id"]
    chat = Chat.objects.get(id=chat_id)
    streamed = "".join(json.loads(block.split("\n")[1][6:])["text"] for block in received[1:])
    assert chat.status == "interrupted" and chat.response == streamed
    assert streamed or events_read == 1
    assert SearchLog.objects.filter(chat=chat).count() == chat.top_k
    assert "generate_ms" in chat.timings_ms
