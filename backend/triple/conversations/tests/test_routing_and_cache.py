"""Intent routing (small talk, out of corpus), the answer cache, and PII masking of stored questions."""
from __future__ import annotations

import json
from typing import Any

import pytest

from triple.audit.models import SearchLog
from triple.conversations import routing
from triple.conversations.models import Chat
from triple.providers.prompts import NOT_FOUND
from triple.retrieval.hybrid import Hit

CHAT = "/api/v1/triple/chat/"


@pytest.mark.parametrize(("question", "language", "kind"), [
    ("안녕하세요", "ko", "greeting"), ("안녕하세요!! ㅎㅎ", "ko", "greeting"), ("hi there 👋", "en", "greeting"),
    ("Good morning!", "en", "greeting"), ("고마워요", "ko", "thanks"), ("thanks a lot!", "en", "thanks"),
    ("감사합니다, 안녕히 계세요", "ko", "thanks"), ("안녕히 가세요", "ko", "goodbye"), ("bye", "en", "goodbye"),
    ("넌 누구야?", "ko", "identity"), ("What can you do?", "en", "identity"),
])
def test_small_talk_is_recognised(question: str, language: str, kind: str) -> None:
    found = routing.smalltalk_detect(question, language)
    assert found is not None and found.kind == kind
    assert found.reply == routing.REPLIES[kind][language]


@pytest.mark.parametrize("question", [
    "안녕하세요, 텐트 가격 알려 주세요", "Hi, what is the return policy?", "텐트", "help me find a tent",
    "반품 감사 기간", "안녕 텐트는 몇 개 있어요", "hey 2",
])
def test_questions_that_only_start_politely_go_to_retrieval(question: str) -> None:
    assert routing.smalltalk_detect(question, "ko") is None


def test_out_of_corpus_needs_both_retrievers_to_be_weak() -> None:
    def hit(dense: float | None, bm25: float | None) -> Hit:
        return Hit("c", 1, 0.01, "dense+bm25", 1, dense, 1 if bm25 else None, bm25)

    assert routing.out_of_corpus([])
    assert routing.out_of_corpus([hit(0.10, 3.0)])  # both weak
    assert routing.out_of_corpus([hit(0.18, None)])  # no query term in the corpus, dense weak
    assert not routing.out_of_corpus([hit(0.24, None)])  # cross-lingual: no shared term, fair dense match
    assert not routing.out_of_corpus([hit(0.10, 12.0)])  # a strong term match
    assert not routing.out_of_corpus([hit(0.10, 2.0), hit(0.18, 1.0)])  # the best of each counts


def new_user(api: Any) -> str:
    return str(api.post("/api/v1/triple/user/", {}, format="json").json()["user_id"])


@pytest.mark.django_db
def test_small_talk_is_answered_without_retrieval_and_recorded(api: Any, built_index: Any) -> None:
    body = api.post(CHAT, {"user_id": new_user(api), "question": "안녕하세요!"}, format="json").json()
    assert body["route"] == "smalltalk" and body["response"] == routing.REPLIES["greeting"]["ko"]
    assert body["sources"] == [] and body["index_build"] is None
    chat = Chat.objects.get(id=body["chat_id"])
    assert (chat.route, chat.generation_provider, chat.index_build_id) == ("smalltalk", "router", None)
    assert not SearchLog.objects.filter(chat=chat).exists()
    assert "retrieve_ms" not in chat.timings_ms


@pytest.mark.django_db
def test_out_of_corpus_question_gets_an_honest_answer_and_keeps_its_retrieval(api: Any, built_index: Any) -> None:
    body = api.post(CHAT, {"user_id": new_user(api), "question": "비트코인 시세 알려줘"}, format="json").json()
    assert body["route"] == "out_of_corpus" and body["response"] == NOT_FOUND["ko"]
    chat = Chat.objects.get(id=body["chat_id"])
    assert (chat.route, chat.generation_provider, chat.index_build_id) == ("out_of_corpus", "router", built_index.id)
    assert SearchLog.objects.filter(chat=chat).count() == chat.top_k  # why it was judged out of corpus


@pytest.mark.django_db
def test_routing_can_be_turned_off(api: Any, built_index: Any, settings: Any) -> None:
    settings.INTENT_ROUTING = False
    body = api.post(CHAT, {"user_id": new_user(api), "question": "안녕하세요"}, format="json").json()
    assert body["route"] != "smalltalk" and body["sources"]


def sse(api: Any, user_id: str, question: str) -> dict[str, Any]:
    response = api.post(CHAT, {"user_id": user_id, "question": question}, format="json",
                        HTTP_ACCEPT="text/event-stream")
    raw = b"".join(response.streaming_content).decode()
    events = [(block.split("\n")[0][7:], json.loads(block.split("\n")[1][6:])) for block in raw.strip().split("\n\n")]
    assert next(name for name, _ in events) == "meta" and events[-1][0] == "done"
    done: dict[str, Any] = events[-1][1]
    done["tokens"] = "".join(data["text"] for name, data in events if name == "token")
    return done


@pytest.mark.django_db
def test_streamed_small_talk_and_cached_answers(api: Any, built_index: Any, settings: Any) -> None:
    settings.ANSWER_CACHE_TTL = 60
    greeting = sse(api, new_user(api), "hello")
    assert greeting["route"] == "smalltalk" and greeting["tokens"] == routing.REPLIES["greeting"]["en"]

    question = "Which gas canister type does the compact stove use?"
    first = api.post(CHAT, {"user_id": new_user(api), "question": question}, format="json").json()
    streamed = sse(api, new_user(api), question)
    assert first["cached"] is False and streamed["cached"] is True
    assert streamed["tokens"] == streamed["response"] == first["response"]
    assert [s["chunk_id"] for s in streamed["sources"]] == [s["chunk_id"] for s in first["sources"]]
    row = Chat.objects.get(id=streamed["chat_id"])
    assert row.cached and SearchLog.objects.filter(chat=row).count() == len(first["sources"])


@pytest.mark.django_db
def test_cache_key_separates_builds_providers_and_options(built_index: Any, settings: Any) -> None:
    from triple.conversations.cache import answer_cache_key

    base = {"standalone_query": "텐트", "build_id": 1, "providers": {"reasoning": "local", "generation": "local"},
            "top_k": 5, "filters": {}}
    key = answer_cache_key(**base)  # type: ignore[arg-type]
    assert key.startswith(f"{settings.REDIS_KEY_PREFIX}:answer:")
    assert answer_cache_key(**{**base, "standalone_query": " 텐트 "}) == key  # type: ignore[arg-type]
    for change in ({"build_id": 2}, {"providers": {"reasoning": "local", "generation": "gemini"}}, {"top_k": 3},
                   {"filters": {"kind": "csv"}}, {"standalone_query": "텐트 가격"}):
        assert answer_cache_key(**{**base, **change}) != key  # type: ignore[arg-type]


@pytest.mark.django_db
def test_pii_is_masked_in_stored_questions_when_configured(api: Any, built_index: Any, settings: Any) -> None:
    question = "주문 확인 부탁해요. 연락처 010-1234-5678, 메일 kim@example.com, 카드 4111 1111 1111 1111"
    settings.AUDIT_MASK_PII = False
    plain = api.post(CHAT, {"user_id": new_user(api), "question": question}, format="json").json()
    assert Chat.objects.get(id=plain["chat_id"]).question == question
    settings.AUDIT_MASK_PII = True
    masked = api.post(CHAT, {"user_id": new_user(api), "question": question}, format="json").json()
    stored = Chat.objects.get(id=masked["chat_id"])
    assert stored.question == "주문 확인 부탁해요. 연락처 [PHONE], 메일 [EMAIL], 카드 [CARD]"
    assert "010-1234-5678" not in stored.standalone_query
