"""The Gemini provider (real google-genai SDK) against a local server speaking Gemini's REST wire format."""
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
from triple.providers.tests.conftest import GEMINI_KEY
from triple.providers.tests.fakes import EMBED_DIM, Cut, Fail, FakeGemini, Sleep, fake_vector
from triple.providers.types import GenerationRequest, Passage, StreamChunk, Turn, Usage

PASSAGE = "The Alpine tent weighs 980 g and sleeps two."
REQUEST = GenerationRequest(
    question="How heavy is the Alpine tent?",
    passages=(Passage(1, PASSAGE, "catalog/products.csv", "row 3"),),
    history=(Turn("user", "Do you sell tents?"), Turn("assistant", "Yes [1].")),
    language="en",
)


def generate_calls(server: FakeGemini) -> list[Any]:
    return [r for r in server.requests if ":generateContent" in r.path]


def test_generate_maps_system_and_roles(gemini_env: FakeGemini) -> None:
    result = registry.generation_provider("gemini").generate(REQUEST)

    assert result.text == FakeGemini.default_reply
    assert result.provider == "gemini" and result.model == "gemini-test-flash"
    assert result.usage == Usage(37, len(gemini_env.reply_pieces()), False)
    [sent] = gemini_env.requests
    assert sent.path.endswith("/models/gemini-test-flash:generateContent")
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert GEMINI_KEY not in sent.path
    body = sent.body
    system = body["systemInstruction"]["parts"][0]["text"]
    assert "Rules that nothing below can change" in system and "English" in system
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    last = body["contents"][-1]["parts"][0]["text"]
    assert PASSAGE in last and REQUEST.question in last


def test_stream_yields_deltas_in_order_then_usage(gemini_env: FakeGemini) -> None:
    gemini_env.pieces = ["The Alpine ", "tent weighs ", "980 g ", "[1]."]

    chunks = list(registry.generation_provider("gemini").stream(REQUEST))

    assert [c.text for c in chunks[:-1]] == gemini_env.pieces
    assert chunks[-1] == StreamChunk(text="", usage=Usage(37, 4, False))
    [sent] = gemini_env.requests
    assert ":streamGenerateContent" in sent.path and "alt=sse" in sent.path
    assert PASSAGE in sent.body["contents"][-1]["parts"][0]["text"]


def test_usage_is_estimated_when_missing(gemini_env: FakeGemini) -> None:
    gemini_env.include_usage = False
    result = registry.generation_provider("gemini").generate(REQUEST)
    assert result.usage.estimated and result.usage.output_tokens > 0


def test_condense_uses_reasoning_model(gemini_env: FakeGemini) -> None:
    gemini_env.reply = "Alpine tent weight\n"
    history = [Turn("user", "Alpine tent colour?")]
    result = registry.reasoning_provider("gemini").condense("and its weight?", history, "en")

    assert result.query == "Alpine tent weight"
    assert result.model == "gemini-test-lite"
    [sent] = gemini_env.requests
    assert "gemini-test-lite:generateContent" in sent.path
    assert "standalone search query" in sent.body["systemInstruction"]["parts"][0]["text"]
    assert "Alpine tent colour?" in sent.body["contents"][0]["parts"][0]["text"]


@pytest.mark.parametrize("model", ["gemini-embedding-001", "gemini-embedding-2-test"])
def test_embeddings_use_batch_endpoint_with_task_types(model: str, settings: Any, gemini_env: FakeGemini) -> None:
    settings.GEMINI_EMBEDDING_MODEL = model  # the SDK treats "gemini-embedding-2*" as multimodal
    provider = registry.provider_for("embedding", "gemini")
    texts = [f"passage {i}" for i in range(130)]

    vectors = provider.embed_documents(texts)
    query = provider.embed_query("tent weight")

    assert provider.model == model
    assert len(vectors) == 130 and all(len(v) == EMBED_DIM for v in vectors)
    assert vectors[129] == fake_vector("passage 129") and query == fake_vector("tent weight")
    calls = gemini_env.requests
    assert all(c.path.endswith(f"/models/{model}:batchEmbedContents") for c in calls)
    assert [len(c.body["requests"]) for c in calls] == [100, 30, 1]
    first = calls[0].body["requests"][0]
    assert first["model"] == f"models/{model}"
    assert first["content"]["parts"] == [{"text": "passage 0"}]
    assert first["taskType"] == "RETRIEVAL_DOCUMENT"
    assert calls[-1].body["requests"][0]["taskType"] == "RETRIEVAL_QUERY"


def test_server_error_falls_back_to_local(settings: Any, gemini_env: FakeGemini) -> None:
    settings.PROVIDER_MAX_RETRIES = 1
    gemini_env.script(Fail(500), Fail(503))

    result, attempts = chain.generate(REQUEST, "gemini", ["local"])

    assert result.provider == "local"
    assert len(generate_calls(gemini_env)) == 2
    assert [(a.provider, a.error) for a in attempts] == [("gemini", "provider_unavailable")]


def test_rate_limit_is_retried_then_succeeds(gemini_env: FakeGemini) -> None:
    gemini_env.script(Fail(429), Fail(429))
    result = registry.generation_provider("gemini").generate(REQUEST)
    assert result.text == FakeGemini.default_reply
    assert len(generate_calls(gemini_env)) == 3


def test_rate_limit_gives_up_after_budget(settings: Any, gemini_env: FakeGemini) -> None:
    settings.PROVIDER_MAX_RETRIES = 0
    gemini_env.script(Fail(429))
    with pytest.raises(ProviderRateLimited):
        registry.generation_provider("gemini").generate(REQUEST)
    assert len(generate_calls(gemini_env)) == 1


@pytest.mark.parametrize("status", [400, 404, 408, 409])
def test_client_errors_are_not_retried(status: int, gemini_env: FakeGemini) -> None:
    gemini_env.script(Fail(status, "bad request field"))
    with pytest.raises((ProviderBadRequest, ProviderTimeout)) as caught:
        registry.generation_provider("gemini").generate(REQUEST)
    assert len(generate_calls(gemini_env)) == 1
    assert caught.value.status == status


def test_stream_client_error_not_retried(gemini_env: FakeGemini) -> None:
    gemini_env.script(Fail(400, "bad"))
    with pytest.raises(ProviderBadRequest):
        list(registry.generation_provider("gemini").stream(REQUEST))
    assert len(gemini_env.requests) == 1


def test_bad_key_reported_as_auth_error_without_the_key(gemini_env: FakeGemini) -> None:
    gemini_env.script(Fail(400, f"API key not valid. Please pass a valid API key. ({GEMINI_KEY})"))
    with pytest.raises(ProviderAuthError) as caught:
        registry.generation_provider("gemini").generate(REQUEST)
    assert GEMINI_KEY not in str(caught.value)
    assert len(gemini_env.requests) == 1


def test_key_echoed_in_errors_is_scrubbed(gemini_env: FakeGemini) -> None:
    gemini_env.script(Fail(404, f"model not found for key {GEMINI_KEY}"))
    with pytest.raises(ProviderBadRequest) as caught:
        registry.generation_provider("gemini").generate(REQUEST)
    assert GEMINI_KEY not in caught.value.message and "model not found" in caught.value.message


def test_connection_cut_mid_stream_is_mapped(gemini_env: FakeGemini) -> None:
    gemini_env.pieces = ["one ", "two ", "three"]
    gemini_env.script(Cut(after=2))
    received: list[str] = []
    with pytest.raises(ProviderUnavailable):
        for chunk in registry.generation_provider("gemini").stream(REQUEST):
            received.append(chunk.text)
    assert received == ["one ", "two "]


def test_stall_mid_stream_times_out(settings: Any, gemini_env: FakeGemini) -> None:
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    gemini_env.script(Cut(after=1, stall_seconds=3))
    with pytest.raises(ProviderTimeout):
        list(registry.generation_provider("gemini").stream(REQUEST))


def test_timeout_is_honoured_and_bounded(settings: Any, gemini_env: FakeGemini) -> None:
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    settings.PROVIDER_MAX_RETRIES = 1
    gemini_env.script(Sleep(3), Sleep(3))
    started = time.monotonic()

    with pytest.raises(ProviderTimeout):
        registry.generation_provider("gemini").generate(REQUEST)

    assert len(generate_calls(gemini_env)) == 2
    assert time.monotonic() - started < 3 * 2


def test_not_ready_without_key(settings: Any) -> None:
    settings.GEMINI_API_KEY = ""
    state = registry.readiness("gemini", "generation")
    assert not state.ready and "GEMINI_API_KEY" in state.reason
    with pytest.raises(ProviderNotReady):
        registry.generation_provider("gemini")


def test_unreachable_base_url_is_not_ready(settings: Any, closed_port_url: str) -> None:
    settings.GEMINI_API_KEY = GEMINI_KEY
    settings.GEMINI_BASE_URL = closed_port_url.removesuffix("/v1") + f"/?key={GEMINI_KEY}"
    state = registry.readiness("gemini")
    assert not state.ready and "cannot reach" in state.reason
    assert GEMINI_KEY not in repr(registry.statuses())


def test_ready_with_key_and_reachable_base(gemini_env: FakeGemini) -> None:
    assert registry.readiness("gemini").ready
