"""One launcher for a live Triple stack on free loopback ports, shared by the frontend's AppTest and client
tests, the Chromium end-to-end test and scripts/screenshot.py.

Each stack gets its own temporary folder (a copy of data/, a SQLite database, a Chroma folder), its own
Redis key prefix and its own Celery queue names, so it never touches the developer's data or another
test run on the shared Redis. The migrated and indexed starting point is built once per process and
copied for every further stack. Every process is started here and stopped by its own PID.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "backend"
VENV_BIN = Path(sys.executable).parent
OPERATOR_TOKEN = "e2e-operator-token"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
WARM_UP_QUESTION = "텐트 무게"

_template: Path | None = None


class StackError(RuntimeError):
    """A part of the stack did not start; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def backend_env(root: Path, prefix: str, *, index_queue: str, default_queue: str) -> dict[str, str]:
    """The explicit environment of every backend process of one stack (never the test process's settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "TRIPLE_ENV": "test",
        "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
        "VECTOR_STORE_DIR": str(root / "vector_store"),
        "DATA_DIR": str(root / "data"),
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "OPERATOR_TOKEN": OPERATOR_TOKEN,
        "INDEX_QUEUE": index_queue,
        "DEFAULT_QUEUE": default_queue,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMBEDDING_PROVIDER": "local",
        "REASONING_PROVIDER": "local",
        "GENERATION_PROVIDER": "local",
        "GENERATION_FALLBACKS": "",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
        # Every test request comes from 127.0.0.1; the limits have their own backend tests.
        "RATE_LIMIT_USER": "",
        "RATE_LIMIT_IP": "",
    })
    return env


def _manage(env: dict[str, str], *args: str, log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run([str(VENV_BIN / "python"), "manage.py", *args], cwd=BACKEND, env=env,
                              stdout=out, stderr=subprocess.STDOUT, timeout=600)
    if done.returncode != 0:
        raise StackError(f"manage.py {' '.join(args)} failed:\n{_tail(log)}")


def prepared_template() -> Path:
    """A migrated database and an index built from the shipped corpus; made once per process."""
    global _template
    if _template is None or not _template.exists():
        root = Path(tempfile.mkdtemp(prefix="triple-stack-template-"))
        shutil.copytree(REPO / "data", root / "data", ignore=shutil.ignore_patterns("uploads"))
        env = backend_env(root, f"triple-tpl-{uuid.uuid4().hex[:8]}", index_queue="unused", default_queue="unused")
        log = root / "prepare.log"
        _manage(env, "migrate", "--noinput", "-v0", log=log)
        _manage(env, "build_vectors", "--quiet", log=log)
        atexit.register(shutil.rmtree, root, True)
        _template = root
    return _template


@dataclass
class Stack:
    """A running API (gunicorn), optionally a Celery worker and the Streamlit UI."""

    worker: bool = False
    ui: bool = False
    warm_up: bool = True
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="triple-stack-")))
    prefix: str = field(default_factory=lambda: f"triple-ui-{uuid.uuid4().hex[:10]}")
    api_port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def operator_token(self) -> str:
        return OPERATOR_TOKEN

    @property
    def queues(self) -> tuple[str, str]:
        return f"{self.prefix}-indexing", f"{self.prefix}-default"

    @property
    def env(self) -> dict[str, str]:
        index_queue, default_queue = self.queues
        return backend_env(self.root, self.prefix, index_queue=index_queue, default_queue=default_queue)

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    # -- lifecycle --

    def start(self) -> Stack:
        try:
            self._copy_template()
            self._start_api()
            if self.warm_up:
                self._warm_up()
            if self.worker:
                self._start_worker()
            if self.ui:
                self._start_ui()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _copy_template(self) -> None:
        template = prepared_template()
        for name in ("data", "vector_store"):
            shutil.copytree(template / name, self.root / name, dirs_exist_ok=True)
        shutil.copy2(template / "db.sqlite3", self.root / "db.sqlite3")
        # Migrations added by other work since the template was made are applied here (fast when none).
        _manage(self.env, "migrate", "--noinput", "-v0", log=self.log("prepare"))

    def _spawn(self, name: str, args: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        out = self.log(name).open("ab")
        # A new session: a stop signal reaches the server and its children (gunicorn workers) and nothing else.
        self.processes[name] = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def _wait_http(self, name: str, url: str, timeout: float, ok: tuple[int, ...] = (200,)) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise StackError(f"{name} exited with {process.returncode}:\n{_tail(self.log(name))}")
            try:
                if httpx.get(url, timeout=2).status_code in ok:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise StackError(f"{name} did not answer at {url} within {timeout:.0f} s:\n{_tail(self.log(name))}")

    def _start_api(self) -> None:
        self._spawn("api", [str(VENV_BIN / "gunicorn"), "config.wsgi:application", "--bind",
                            f"127.0.0.1:{self.api_port}", "--workers", "1", "--threads", "8",
                            "--worker-class", "gthread", "--timeout", "120"], cwd=BACKEND, env=self.env)
        # 503 is a degraded but answering API (no worker heartbeat, for instance).
        self._wait_http("api", f"{self.api_url}/api/v1/triple/health/", 60, ok=(200, 503))

    def _warm_up(self) -> None:
        """Ask once so the embedding model is loaded before any timed test."""
        with httpx.Client(base_url=f"{self.api_url}/api/v1/triple/", timeout=120) as http:
            user = http.post("user/", json={}).json()["user_id"]
            http.post("chat/", json={"user_id": user, "question": WARM_UP_QUESTION})
            http.request("DELETE", "session/", json={"user_id": user})

    def _start_worker(self) -> None:
        index_queue, default_queue = self.queues
        self._spawn("worker", [str(VENV_BIN / "celery"), "-A", "config", "worker", "-Q",
                               f"{index_queue},{default_queue}", "--pool", "solo", "--concurrency", "1",
                               "--without-mingle", "--without-gossip", "--loglevel", "warning",
                               "--hostname", f"{self.prefix}@%h"], cwd=BACKEND, env=self.env)

    def _start_ui(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
        env.update({"TRIPLE_API_URL": self.api_url, "TRIPLE_OPERATOR_TOKEN": OPERATOR_TOKEN,
                    "PYTHONUNBUFFERED": "1"})
        self._spawn("ui", [str(VENV_BIN / "streamlit"), "run", str(REPO / "frontend" / "app.py"),
                           "--server.address", "127.0.0.1", "--server.port", str(self.ui_port),
                           "--server.headless", "true", "--browser.gatherUsageStats", "false",
                           "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
                           "--client.showErrorDetails", "none"], cwd=REPO, env=env)
        self._wait_http("ui", f"{self.ui_url}/_stcore/health", 60)

    def stop(self) -> None:
        """Stop what this stack started, by PID, then remove its Redis keys and its folder."""
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
        self._forget_redis_keys()
        if not os.environ.get("TRIPLE_KEEP_STACK"):
            shutil.rmtree(self.root, ignore_errors=True)

    def _forget_redis_keys(self) -> None:
        try:
            import redis

            client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
            for pattern in (f"{self.prefix}:*", f"{self.prefix}-*", f"*{self.prefix}-indexing*",
                            f"*{self.prefix}-default*"):
                keys = list(client.scan_iter(pattern, count=1000))
                if keys:
                    client.delete(*keys)
        except Exception:  # cleanup must not hide the test's own result
            pass


if __name__ == "__main__":  # `python tests/e2e/stack.py`: run a throwaway stack by hand until Ctrl-C
    with Stack(worker=True, ui=True) as stack:
        print(f"API {stack.api_url}  UI {stack.ui_url}  operator token {stack.operator_token}  logs {stack.root}")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
