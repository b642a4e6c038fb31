"""A real Celery worker subprocess for tests, configured by environment variables only.

settings_test makes a new temporary directory per process, so the worker gets `config.settings` plus
explicit variables pointing at this test run's database, vector store, data directory and Redis key
prefix, and queue names of its own, so no other test run's worker can take its tasks.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

BACKEND_DIR = Path(__file__).resolve().parents[3]
CELERY = BACKEND_DIR.parent / ".venv" / "bin" / "celery"


def database_url() -> str:
    """The URL of the database this test process uses (the test database, not the development one)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_for(what: str, check: Callable[[], Any], *, timeout: float, interval: float = 0.1,
             log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


class CeleryWorker:
    """`celery -A config worker -c 1 --pool prefork` on this run's own queues, in its own process group."""

    def __init__(self, *, data_dir: Path, log_dir: Path, index_queue: str, default_queue: str,
                 extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.index_queue = index_queue
        self.default_queue = default_queue
        self.extra_env = extra_env or {}
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.log = log_dir / f"worker-{self.name.split('@')[0]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "TRIPLE_ENV": "test",
            "SECRET_KEY": "test-worker-secret",
            "DATABASE_URL": database_url(),
            "VECTOR_STORE_DIR": str(settings.VECTOR_STORE_DIR),
            "DATA_DIR": str(self.data_dir),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
            "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
            "OPERATOR_TOKEN": settings.OPERATOR_TOKEN,
            "INDEX_QUEUE": self.index_queue,
            "DEFAULT_QUEUE": self.default_queue,
            "EMBEDDING_PROVIDER": settings.EMBEDDING_PROVIDER,
            "LOCAL_EMBEDDING_MODEL": settings.LOCAL_EMBEDDING_MODEL,
            "BM25_TOKENIZER": settings.BM25_TOKENIZER,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self) -> CeleryWorker:
        command = [str(CELERY), "-A", "config", "worker", "-Q", f"{self.index_queue},{self.default_queue}",
                   "-c", "1", "--pool", "prefork", "-n", self.name, "--without-gossip", "--without-mingle",
                   "--loglevel", "INFO"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(command, cwd=BACKEND_DIR, env=self.env(), stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(f"worker {self.name}", lambda: self.alive() and " ready." in self.log_text(), timeout=timeout,
                 interval=0.2, log=self.log)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        """The pool processes (direct children of the worker's main process)."""
        try:
            raw = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in raw.split()]

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once (a crashed machine, an OOM kill)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), SIGKILL of the process group if it lingers."""
        if self.proc is None or not self.alive():
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        with contextlib.suppress(ProcessLookupError):  # a pool process left behind by a killed parent
            os.killpg(self.pid, signal.SIGKILL)
