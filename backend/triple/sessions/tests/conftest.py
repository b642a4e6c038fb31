"""A private redis-server per test, for tests that flush or stop Redis (never the shared 127.0.0.1:6379)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from triple.core import redis as triple_redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OwnRedis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start_redis(workdir: Path) -> OwnRedis:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = OwnRedis(port, process)
    probe = server.client()
    deadline = time.monotonic() + 10
    while True:
        try:
            probe.ping()
            return server
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                server.stop()
                raise RuntimeError(f"redis-server on port {port} did not start") from None
            time.sleep(0.05)


@pytest.fixture
def own_redis(settings: Any, tmp_path: Path) -> Iterator[OwnRedis]:
    """Point the app at a redis-server of its own (short socket timeout); stopped by PID afterwards."""
    server = start_redis(tmp_path)
    settings.REDIS_URL = server.url
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    triple_redis.client.cache_clear()
    try:
        yield server
    finally:
        server.stop()
        triple_redis.client.cache_clear()
