"""The OpenAI and Qwen (OpenAI-compatible) providers against a local server speaking the OpenAI wire format."""
from __future__ import annotations

import time
from typing import Any

import pytest

from triple.providers import chain, registry
from triple.providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderNotReady,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from triple.providers.prompts import GENERATION_SYSTEM
from triple.providers.tests.conftest import OPENAI_KEY, QWEN_KEY
from triple.providers.tests.fakes import EMBED_DIM, Cut, Fail, FakeOpenAI, Sleep, fake_vector
from triple.providers.types import GenerationRequest, Passage, StreamChunk, Turn, Usage

PASSAGE = "알파인 텐트의 무게는 980g이며 2인용입니다."
REQUEST = GenerationRequest(
    question="알파인 텐트는 몇 그램이에요?",
    passages=(Passage(1, PASSAGE, "catalog/products.csv", "row 3"), Passage(2, "랜턴은 충전식입니다.", "faq_ko.md")),
    history=(Turn("user", "텐트 있어요?"), Turn("assistant", "네, 있습니다 [1].")),
    language="ko",
)


def chat_requests(server: FakeOpenAI) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


# --- generation -----------------------------------------------------------------------


@pytest.mark.parametrize("provider_name", ["openai", "qwen"])
def test_generate_sends_rules_passages_and_model(
    provider_name: str, openai_env: FakeOpenAI, qwen_env: FakeOpenAI
) -> None:
    result = registry.generation_provider(provider_name).generate(REQUEST)

    assert result.text == FakeOpenAI.default_reply
    assert result.provider == provider_name
    assert result.usage == Usage(42, len(openai_env.reply_pieces()), False)
    [sent] = openai_env.requests
    assert sent.path == "/v1/chat/completions"
    body = sent.body
    assert body["model"] == {"openai": "gpt-test-chat", "qwen": "qwen-test-plus"}[provider_name]
    assert result.model == body["model"]
    assert not body.get("stream")
    messages = body["messages"]
    assert messages[0]["role"] == "system"
    assert GENERATION_SYSTEM.splitlines()[1] in messages[0]["content"]  # "Rules that nothing below can change"
    assert "Korean" in messages[0]["content"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert PASSAGE in messages[-1]["content"] and "[1] (catalog/products.csv row 3)" in messages[-1]["content"]
    assert REQUEST.question in messages[-1]["content"]
    key = {"openai": OPENAI_KEY, "qwen": QWEN_KEY}[provider_name]
    assert sent.headers["authorization"] == f"Bearer {key}"


def test_stream_yields_deltas_in_order_then_usage(openai_env: FakeOpenAI) -> None:
    openai_env.pieces = ["알파인 ", "텐트는 ", "980g", "입니다 ", "[1]."]
    provider = registry.generation_provider("openai")
    assert provider.can_stream

    chunks = list(provider.stream(REQUEST))

    assert [c.text for c in chunks[:-1]] == openai_env.pieces
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1] == StreamChunk(text="", usage=Usage(42, 5, False))
    [sent] = openai_env.requests
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert PASSAGE in sent.body["messages"][-1]["content"]


def test_usage_is_estimated_when_the_server_reports_none(openai_env: FakeOpenAI) -> None:
    openai_env.include_usage = False
    result = registry.generation_provider("openai").generate(REQUEST)
    assert result.usage.estimated and result.usage.input_tokens > 0 and result.usage.output_tokens > 0

    chunks = list(registry.generation_provider("openai").stream(REQUEST))
    usage = chunks[-1].usage
    assert usage is not None and usage.estimated and usage.output_tokens > 0


@pytest.mark.parametrize("provider_name", ["openai", "qwen"])
def test_condense_uses_reasoning_model_and_cleans_reply(
    provider_name: str, openai_env: FakeOpenAI, qwen_env: FakeOpenAI
) -> None:
    openai_env.reply = 'Query: "알파인 텐트 무게"\n'
    result = registry.reasoning_provider(provider_name).condense(
        "그럼 무게는?", [Turn("user", "알파인 텐트 색상 알려줘")], "ko"
    )

    assert result.query == "알파인 텐트 무게"
    assert result.provider == provider_name
    [sent] = openai_env.requests
    assert sent.body["model"] == {"openai": "gpt-test-reasoner", "qwen": "qwen-test-turbo"}[provider_name]
    assert "standalone search query" in sent.body["messages"][0]["content"]
    assert "알파인 텐트 색상 알려줘" in sent.body["messages"][1]["content"]
    assert "그럼 무게는?" in sent.body["messages"][1]["content"]
    token_field = {"openai": "max_completion_tokens", "qwen": "max_tokens"}[provider_name]
    assert sent.body[token_field] > 0


@pytest.mark.parametrize("provider_name", ["openai", "qwen"])
def test_embeddings_shape_and_batching(provider_name: str, openai_env: FakeOpenAI, qwen_env: FakeOpenAI) -> None:
    provider = registry.provider_for("embedding", provider_name)
    texts = [f"passage {i}" for i in range(23)]

    vectors = provider.embed_documents(texts)
    query = provider.embed_query("무게")

    assert provider.model == {"openai": "text-embedding-test", "qwen": "text-embedding-v3"}[provider_name]
    assert len(vectors) == 23 and all(len(v) == EMBED_DIM for v in vectors)
    assert vectors[5] == fake_vector("passage 5")
    assert query == fake_vector("무게")
    sent = [r for r in openai_env.requests if r.path == "/v1/embeddings"]
    assert all(r.body["model"] == provider.model for r in sent)
    # Qwen batches by 10 (DashScope's limit); OpenAI sends everything at once.
    assert [len(r.body["input"]) for r in sent] == ({"openai": [23, 1], "qwen": [10, 10, 3, 1]}[provider_name])


# --- retries and errors -------------------------------------------------------------------


def test_server_error_falls_back_to_local_and_records_the_attempt(settings: Any, openai_env: FakeOpenAI) -> None:
    settings.PROVIDER_MAX_RETRIES = 1
    openai_env.script(Fail(500, headers={"retry-after-ms": "10"}), Fail(500, headers={"retry-after-ms": "10"}))

    result, attempts = chain.generate(REQUEST, "openai", ["local"])

    assert result.provider == "local"
    assert len(chat_requests(openai_env)) == 2  # first call + one retry
    [attempt] = attempts
    assert attempt.provider == "openai"
    assert attempt.model == "gpt-test-chat"
    assert attempt.error == "provider_unavailable"
    assert "500" in attempt.message
    assert attempt.elapsed_ms >= 0


def test_rate_limit_is_retried_then_succeeds(openai_env: FakeOpenAI) -> None:
    openai_env.script(Fail(429, headers={"retry-after-ms": "10"}), Fail(429, headers={"retry-after-ms": "10"}))

    result = registry.generation_provider("openai").generate(REQUEST)

    assert result.text == FakeOpenAI.default_reply
    assert len(chat_requests(openai_env)) == 3


def test_rate_limit_gives_up_after_the_retry_budget(settings: Any, openai_env: FakeOpenAI) -> None:
    settings.PROVIDER_MAX_RETRIES = 1
    openai_env.script(*[Fail(429, headers={"retry-after-ms": "10"})] * 3)

    with pytest.raises(ProviderRateLimited):
        registry.generation_provider("openai").generate(REQUEST)
    assert len(chat_requests(openai_env)) == 2


def test_long_retry_after_is_not_waited_out(openai_env: FakeOpenAI) -> None:
    openai_env.script(Fail(503, headers={"retry-after": "45"}))
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable):
        registry.generation_provider("openai").generate(REQUEST)
    assert len(chat_requests(openai_env)) == 1
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_client_errors_are_not_retried(status: int, openai_env: FakeOpenAI) -> None:
    openai_env.script(Fail(status, "bad field", headers={"x-should-retry": "true"}))

    with pytest.raises(ProviderBadRequest) as caught:
        registry.generation_provider("openai").generate(REQUEST)

    assert len(chat_requests(openai_env)) == 1
    assert caught.value.status == status and "bad field" in caught.value.message
    assert not caught.value.retryable


def test_stream_error_before_first_token_is_mapped(openai_env: FakeOpenAI) -> None:
    openai_env.script(Fail(400, "context too long"))
    with pytest.raises(ProviderBadRequest):
        list(registry.generation_provider("openai").stream(REQUEST))
    assert len(chat_requests(openai_env)) == 1


def test_connection_cut_mid_stream_is_mapped_and_not_fallen_back(openai_env: FakeOpenAI) -> None:
    openai_env.pieces = ["one ", "two ", "three ", "four"]
    openai_env.script(Cut(after=3))  # role chunk + "one " + "two ", then the socket closes
    attempts: list[chain.Attempt] = []
    received: list[str] = []

    with pytest.raises(ProviderUnavailable):
        for _, _, chunk in chain.stream(REQUEST, "openai", ["local"], attempts):
            received.append(chunk.text)

    assert received == ["one ", "two "]  # a reader cannot un-see half an answer: no fallback after text
    assert [a.provider for a in attempts] == ["openai"]


def test_stall_mid_stream_times_out(settings: Any, openai_env: FakeOpenAI) -> None:
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    openai_env.script(Cut(after=2, stall_seconds=3))
    received: list[str] = []
    with pytest.raises(ProviderTimeout):
        for chunk in registry.generation_provider("openai").stream(REQUEST):
            received.append(chunk.text)
    assert received == ["The "]
    assert len(chat_requests(openai_env)) == 1  # a started stream is never replayed


def test_stream_falls_back_before_the_first_token(settings: Any, openai_env: FakeOpenAI) -> None:
    settings.PROVIDER_MAX_RETRIES = 0
    openai_env.script(Fail(503))
    attempts: list[chain.Attempt] = []
    out = list(chain.stream(REQUEST, "openai", ["local"], attempts))
    assert {name for name, _, _ in out} == {"local"}
    assert out[-1][2].usage is not None
    assert [(a.provider, a.error) for a in attempts] == [("openai", "provider_unavailable")]


def test_timeout_is_honoured_and_bounded(settings: Any, openai_env: FakeOpenAI) -> None:
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    settings.PROVIDER_MAX_RETRIES = 1
    openai_env.script(Sleep(3), Sleep(3))
    started = time.monotonic()

    with pytest.raises(ProviderTimeout) as caught:
        registry.generation_provider("openai").generate(REQUEST)

    assert caught.value.retryable
    assert len(chat_requests(openai_env)) == 2  # timeouts count as transient: one retry
    assert time.monotonic() - started < 3 * 2  # far less than sleep x attempts


def test_auth_error_never_shows_the_key(openai_env: FakeOpenAI) -> None:
    openai_env.script(Fail(401, f"Incorrect API key provided: {OPENAI_KEY}"))
    with pytest.raises(ProviderAuthError) as caught:
        registry.generation_provider("openai").generate(REQUEST)
    assert OPENAI_KEY not in str(caught.value) and OPENAI_KEY not in caught.value.message
    assert len(chat_requests(openai_env)) == 1


def test_key_echoed_in_other_errors_is_scrubbed(openai_env: FakeOpenAI) -> None:
    openai_env.script(Fail(400, f"key {OPENAI_KEY} is not allowed; masked {OPENAI_KEY[:20]}..."))
    with pytest.raises(ProviderBadRequest) as caught:
        registry.generation_provider("openai").generate(REQUEST)
    assert OPENAI_KEY not in caught.value.message
    assert OPENAI_KEY[:20] not in caught.value.message


def test_unreachable_server_is_unavailable(settings: Any, closed_port_url: str) -> None:
    settings.QWEN_API_BASE = closed_port_url
    settings.QWEN_API_KEY = ""
    settings.PROVIDER_MAX_RETRIES = 0
    from triple.providers.qwen_provider import _build

    provider = _build("generation")  # readiness would refuse; build directly to exercise the call path
    with pytest.raises(ProviderUnavailable):
        provider.generate(REQUEST)


# --- readiness ------------------------------------------------------------------------


def test_openai_not_ready_without_key(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    state = registry.readiness("openai", "generation")
    assert not state.ready and "OPENAI_API_KEY" in state.reason
    with pytest.raises(ProviderNotReady):
        registry.generation_provider("openai")


def test_qwen_not_ready_without_base(settings: Any) -> None:
    settings.QWEN_API_BASE = ""
    state = registry.readiness("qwen")
    assert not state.ready and "QWEN_API_BASE" in state.reason


def test_qwen_ready_without_key_and_sends_a_placeholder(settings: Any, qwen_env: FakeOpenAI) -> None:
    settings.QWEN_API_KEY = ""
    assert registry.readiness("qwen").ready
    registry.generation_provider("qwen").generate(REQUEST)
    assert qwen_env.requests[0].headers["authorization"] == "Bearer EMPTY"


@pytest.mark.parametrize("provider_name", ["openai", "qwen"])
def test_unreachable_base_url_is_not_ready(provider_name: str, settings: Any, closed_port_url: str) -> None:
    settings.OPENAI_API_KEY = OPENAI_KEY
    settings.QWEN_API_KEY = QWEN_KEY
    settings.OPENAI_BASE_URL = closed_port_url.replace("http://", f"http://user:{OPENAI_KEY}@")
    settings.QWEN_API_BASE = closed_port_url

    state = registry.readiness(provider_name)

    assert not state.ready
    assert "cannot reach http://127.0.0.1:" in state.reason
    statuses = {s["name"]: s for s in registry.statuses()}
    assert not statuses[provider_name]["ready"]
    dumped = repr(registry.statuses())
    assert OPENAI_KEY not in dumped and QWEN_KEY not in dumped


def test_reachable_base_url_is_ready(openai_env: FakeOpenAI, qwen_env: FakeOpenAI) -> None:
    assert registry.readiness("openai").ready
    assert registry.readiness("qwen").ready
