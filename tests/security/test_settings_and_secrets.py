"""Production settings refuse to start unsafe, and secrets never appear in answers, errors, health or logs."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings as django_settings
from triple.conversations.models import Chat

pytestmark = pytest.mark.django_db
API = "/api/v1/triple/"
SECRETS = {
    "OPENAI_API_KEY": "sk-test-secret-123",
    "GEMINI_API_KEY": "gm-test-secret-456",
    "QWEN_API_KEY": "qw-test-secret-789",
    "SECRET_KEY": "django-test-secret-key-abcdef",
    "OPERATOR_TOKEN": "op-test-secret-token",
}


def run_settings(env: dict[str, str], code: str = "import config.settings as s; print(s.DEBUG)") -> Any:
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    # Set (empty) so a developer's .env (which `make run` fills with a SECRET_KEY) cannot supply them.
    base.update({"SECRET_KEY": "", "DEBUG": ""})
    return subprocess.run([sys.executable, "-c", code], cwd=django_settings.BASE_DIR, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_production_without_a_secret_key_refuses_to_start() -> None:
    out = run_settings({"TRIPLE_ENV": "production"})
    assert out.returncode != 0
    assert "ImproperlyConfigured" in out.stderr and "SECRET_KEY" in out.stderr


def test_production_with_a_secret_key_has_debug_off() -> None:
    out = run_settings({"TRIPLE_ENV": "production", "SECRET_KEY": "x" * 50})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def test_production_refuses_debug_on() -> None:
    out = run_settings({"TRIPLE_ENV": "production", "SECRET_KEY": "x" * 50, "DEBUG": "true"})
    assert out.returncode != 0
    assert "DEBUG" in out.stderr


def test_development_has_debug_on_by_default_and_the_test_settings_off() -> None:
    assert run_settings({"TRIPLE_ENV": "development"}).stdout.strip() == "True"
    assert django_settings.DEBUG is False


# --- secrets --------------------------------------------------------------------------------------------


class EchoingVendor(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that refuses every call and echoes the key it was sent, as vendors do."""

    def do_POST(self) -> None:
        key = self.headers.get("Authorization", "")
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}. sk-test-secr...t-123",
                                     "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echoing_vendor() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingVendor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def secret_settings(settings: Any, echoing_vendor: str) -> Iterator[Any]:
    from triple.providers import registry

    for name, value in SECRETS.items():
        setattr(settings, name, value)
    settings.OPENAI_BASE_URL = echoing_vendor
    settings.PROVIDER_MAX_RETRIES = 0
    registry.reset()
    yield settings
    registry.reset()


def assert_no_secret(text: str) -> None:
    for value in SECRETS.values():
        assert value not in text
    assert "secret-123" not in text and "sk-test-secr" not in text


def test_health_and_providers_never_show_keys(api: Any, secret_settings: Any, built_index: Any) -> None:
    for path in ("health/", "providers/"):
        response = api.get(API + path)
        assert response.status_code in (200, 503)
        assert_no_secret(response.content.decode())


def test_a_vendor_that_echoes_the_key_never_puts_it_in_the_answer_the_audit_row_or_the_logs(
    api: Any, secret_settings: Any, built_index: Any, session_user: Any, caplog: Any, capfd: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    response = api.post(API + "chat/", {"user_id": session_user.user_id, "question": "반품은 며칠 이내에 가능한가요?",
                                        "providers": {"generation": "openai"}}, format="json")
    assert response.status_code == 503, response.content[:500]
    body = response.json()
    assert body["error"] == "generation_failed" and body["message"]
    assert_no_secret(response.content.decode())
    chat = Chat.objects.get(id=body["chat_id"])
    assert chat.status == "failed" and chat.error_code
    assert_no_secret(json.dumps([chat.error, chat.attempts, chat.response]))
    audit = api.get(f"{API}audit/{chat.id}/", HTTP_AUTHORIZATION=f"Bearer {SECRETS['OPERATOR_TOKEN']}")
    if audit.status_code != 404:  # the audit endpoints may be absent in an older tree
        assert audit.status_code == 200
        assert_no_secret(audit.content.decode())
    captured = capfd.readouterr()
    assert_no_secret(caplog.text + captured.out + captured.err)


def test_a_dead_redis_with_a_password_is_reported_without_the_password(api: Any, settings: Any,
                                                                       built_index: Any) -> None:
    from triple.core import redis as triple_redis

    settings.REDIS_URL = "redis://:hunter2-redis-secret@127.0.0.1:1/0"
    triple_redis.client.cache_clear()
    try:
        response = api.get(API + "health/")
    finally:
        triple_redis.client.cache_clear()
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False
    assert "hunter2" not in response.content.decode()


def test_error_bodies_carry_no_stack_traces(api: Any, monkeypatch: pytest.MonkeyPatch, session_user: Any) -> None:
    from triple.conversations import services

    def crash(**kwargs: Any) -> None:
        raise RuntimeError(f"boom with {SECRETS['SECRET_KEY']} at /work/main/backend/x.py line 3")

    monkeypatch.setattr(services, "answer_question", crash)
    response = api.post(API + "chat/", {"user_id": session_user.user_id, "question": "hello there"}, format="json")
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error",
                               "message": "Something went wrong on our side; it has been logged."}
