"""Rate limits per user and per IP, counted in Redis: one budget across worker processes and servers."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings

from triple.api.throttling import parse_rate

pytestmark = pytest.mark.django_db
USER, CHAT = "/api/v1/triple/user/", "/api/v1/triple/chat/"
BACKEND = Path(__file__).resolve().parents[3]


def test_rates_parse() -> None:
    assert parse_rate("30/min") == (30, 60)
    assert parse_rate("120/minute") == (120, 60)
    assert parse_rate("5/10s") == (5, 10)
    assert parse_rate("1000/hour") == (1000, 3600)
    assert parse_rate("") is None and parse_rate("0") is None and parse_rate("0/min") is None
    with pytest.raises(ValueError):
        parse_rate("thirty per minute")


def test_chat_is_limited_per_user_with_retry_after(api: Any, session_user: Any, settings: Any) -> None:
    settings.RATE_LIMIT_USER, settings.RATE_LIMIT_IP = "2/min", ""
    # Empty questions are refused by the view (400) but still count: the limit runs first.
    for _ in range(2):
        response = api.post(CHAT, {"user_id": session_user.user_id, "question": ""}, format="json")
        assert response.status_code == 400
    limited = api.post(CHAT, {"user_id": session_user.user_id, "question": ""}, format="json")
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited" and limited.json()["message"]
    assert 1 <= int(limited["Retry-After"]) <= 60
    from triple.sessions.services import user_create

    other = user_create()
    assert api.post(CHAT, {"user_id": other.user_id, "question": ""}, format="json").status_code == 400


def test_user_creation_is_limited_per_ip(api: Any, settings: Any) -> None:
    settings.RATE_LIMIT_IP = "3/min"
    for _ in range(3):
        assert api.post(USER, {}, format="json", REMOTE_ADDR="10.9.0.1").status_code == 201
    limited = api.post(USER, {}, format="json", REMOTE_ADDR="10.9.0.1")
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    assert api.post(USER, {}, format="json", REMOTE_ADDR="10.9.0.2").status_code == 201


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {process.returncode}")
        try:
            # history/ without a user id is answered before any rate limit is counted
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/triple/history/", timeout=2).status_code == 400:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start")


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[list[int], str]]:
    """Two gunicorn processes sharing one SQLite file and the real Redis (own key prefix)."""
    prefix = f"{django_settings.REDIS_KEY_PREFIX}:procs"  # under the run's prefix: removed with it
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "TRIPLE_ENV": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "VECTOR_STORE_DIR": str(tmp_path / "vs"),
        "REDIS_URL": django_settings.REDIS_URL, "REDIS_KEY_PREFIX": prefix, "RATE_LIMIT_IP": "3/min",
        "SECRET_KEY": "two-servers-test", "LOG_LEVEL": "WARNING", "HF_HUB_OFFLINE": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BACKEND, env=env,
                   check=True, timeout=120)
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    ports = [_free_port(), _free_port()]
    processes = [
        subprocess.Popen([gunicorn, "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                          "--log-level", "warning"], cwd=BACKEND, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in ports
    ]
    try:
        for port, process in zip(ports, processes, strict=True):
            _wait_ready(port, process)
        yield ports, prefix
    finally:
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


@pytest.mark.slow
def test_ip_limit_is_shared_between_two_server_processes(two_servers: tuple[list[int], str]) -> None:
    (first, second), prefix = two_servers
    statuses = []
    for port in (first, second, first, second, first):
        response = httpx.post(f"http://127.0.0.1:{port}{USER}", json={}, timeout=30)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["error"] == "rate_limited"
            assert int(response.headers["Retry-After"]) >= 1
    # Each process alone saw at most three requests; only a shared counter refuses the 4th and 5th.
    assert statuses == [201, 201, 201, 429, 429]
    from triple.core import redis as triple_redis

    assert triple_redis.client().get(f"{prefix}:ratelimit:ip:127.0.0.1") == "5"
