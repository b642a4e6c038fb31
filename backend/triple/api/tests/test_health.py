"""health/: every part answers → 200; Redis stopped → 503 naming it. Uses a Redis server of its own."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from triple.core import redis as triple_redis

pytestmark = pytest.mark.django_db
HEALTH = "/api/v1/triple/health/"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path: Path, settings: Any) -> Iterator[dict[str, Any]]:
    """A private redis-server; settings point at it, and the shared client is rebuilt before and after."""
    port, pidfile = _free_port(), tmp_path / "redis.pid"
    subprocess.run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--daemonize", "yes", "--pidfile", str(pidfile), "--dir", str(tmp_path)], check=True)
    url = f"redis://127.0.0.1:{port}/0"
    probe = redis.Redis.from_url(url, socket_timeout=1)
    for _ in range(100):  # wait until it accepts connections
        try:
            probe.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    state: dict[str, Any] = {"pid": int(pidfile.read_text().strip()), "url": url}
    settings.REDIS_URL = settings.CELERY_BROKER_URL = url
    triple_redis.client.cache_clear()
    yield state
    with contextlib.suppress(ProcessLookupError):
        os.kill(state["pid"], signal.SIGTERM)
    triple_redis.client.cache_clear()


def _stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("redis-server did not stop")


def test_health_is_503_naming_redis_when_redis_stops(api: Any, built_index: Any, own_redis: dict[str, Any]) -> None:
    response = api.get(HEALTH)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["failing"] == []
    assert {"database", "redis", "chroma", "worker", "index", "providers", "queues"} <= set(body["checks"])
    assert body["checks"]["index"]["build_id"] == built_index.id
    assert body["checks"]["providers"]["configured"]["generation"] == "local"

    _stop(own_redis["pid"])
    response = api.get(HEALTH)
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "degraded" and body["failing"] == ["redis"]
    assert body["checks"]["redis"]["ok"] is False and body["checks"]["database"]["ok"] is True


def test_health_is_503_when_the_configured_generator_is_not_ready(api: Any, built_index: Any,
                                                                  settings: Any) -> None:
    settings.GENERATION_PROVIDER = "openai"
    settings.OPENAI_API_KEY = ""
    response = api.get(HEALTH)
    assert response.status_code == 503 and "providers" in response.json()["failing"]
    assert "sk-" not in response.content.decode()
