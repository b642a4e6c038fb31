"""The whole Triple stack in scale-out mode on loopback, for the distributed-mode test.

PostgreSQL (a fresh database on the machine's server), a Chroma server (`chroma run`), Redis (the
machine's, in a database and under key/queue names of this run only), two gunicorn backends on two
ports and two Celery workers. Configuration is by environment only, exactly what an operator sets:
`DATABASE_URL`, `CHROMA_HOST`/`CHROMA_PORT`, `REDIS_URL`, queue names.

Every process is started in its own session and stopped by its own process group id; nothing is
looked up by name. Run by hand to poke at a live stack:

    .venv/bin/python -m tests.distributed.stack      # prints the URLs, Ctrl-C stops everything
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
import requests

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "backend"
VENV_BIN = Path(sys.executable).parent
API = "/api/v1/triple"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


class StackError(RuntimeError):
    """A part of the stack could not be started; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], *, timeout: float, interval: float = 0.25,
             log: Path | None = None) -> Any:
    """Poll `check` until it returns something truthy; raise StackError naming `what` (and its log)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # not up yet: keep the last reason for the error message
            last = exc
        time.sleep(interval)
    tail = ""
    if log is not None and log.exists():
        lines = log.read_text(errors="replace").splitlines()[-25:]
        tail = f"\n--- last lines of {log} ---\n" + "\n".join(lines)
    raise StackError(f"{what} not ready after {timeout:.0f} s (last error: {last!r}){tail}")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it if the test process dies without cleaning up (Linux prctl)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def _env_example_defaults() -> dict[str, str]:
    """Every variable of .env.example with its documented value, so a developer's .env cannot leak in
    (settings.py loads .env only for variables the environment does not set)."""
    values: dict[str, str] = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


# --- PostgreSQL ------------------------------------------------------------------------------------


def _pg_reachable(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=2).close()
        return True
    except psycopg.Error:
        return False


def ensure_postgres(admin_url: str) -> None:
    """Make sure the server answers; start the machine's cluster with pg_ctlcluster if it does not."""
    if _pg_reachable(admin_url):
        return
    clusters = sorted(Path("/etc/postgresql").glob("*/main")) if Path("/etc/postgresql").is_dir() else []
    if clusters and shutil.which("pg_ctlcluster"):
        version = clusters[-1].parent.name
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                       capture_output=True, timeout=60, check=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if _pg_reachable(admin_url):
                return
            time.sleep(0.5)
    raise StackError(
        f"PostgreSQL is not reachable at {admin_url}. Install and start it (apt-get install -y postgresql && "
        "pg_ctlcluster 15 main start), point TEST_POSTGRES_URL at a server with trust auth, or set "
        "SKIP_POSTGRES=1 to skip the PostgreSQL and distributed-mode tests."
    )


# --- processes -------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def children(self) -> list[int]:
        """PIDs of the direct children of this process (a Celery worker's pool processes)."""
        found: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            try:
                found += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
        return found

    def terminate(self) -> None:
        """SIGTERM the process group this process leads."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL whatever is left of the process group (pool children, gunicorn workers) and reap."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


def stop_all(procs: list[Proc], grace: float = 10.0) -> None:
    for proc in procs:
        proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
    for proc in procs:
        proc.kill()


@dataclass
class Stack:
    """Start with `start()`, always `stop()` (it is safe after a partial start)."""

    backends: int = 2
    workers: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    pg_admin_url: str = field(default_factory=lambda: os.environ.get("TEST_POSTGRES_URL") or DEFAULT_PG_URL)
    redis_base_url: str = field(default_factory=lambda: os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL)

    def __post_init__(self) -> None:
        self.run_id = "triple-dist-" + secrets.token_hex(4)
        self.root = Path(tempfile.mkdtemp(prefix=self.run_id + "-"))
        self.data_dir = self.root / "data"
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.db_name = self.run_id.replace("-", "_")
        self.operator_token = secrets.token_urlsafe(24)
        self.index_queue = f"{self.run_id}-indexing"
        self.default_queue = f"{self.run_id}-default"
        self.redis_db = 0
        self.chroma_port = 0
        self.procs: list[Proc] = []
        self.backend_urls: list[str] = []
        self.worker_names: list[str] = []
        self.worker_procs: dict[str, Proc] = {}
        self._db_created = False
        self._control: Any = None
        self.task_ids: set[str] = set()  # Celery results to delete at the end

    # -- configuration ------------------------------------------------------------------------------

    @property
    def admin_url(self) -> str:
        return _with_database(self.pg_admin_url, "postgres")

    @property
    def database_url(self) -> str:
        return _with_database(self.pg_admin_url, self.db_name)

    @property
    def redis_url(self) -> str:
        return self._redis_url(self.redis_db)

    def _redis_url(self, db: int) -> str:
        parts = urlsplit(self.redis_base_url)  # any database number in the base URL is replaced
        return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _env_example_defaults()}
        env.update(_env_example_defaults())
        env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "TRIPLE_ENV": "test",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "LOG_FORMAT": "plain",
            "DATABASE_URL": self.database_url,
            "CHROMA_HOST": "127.0.0.1",
            "CHROMA_PORT": str(self.chroma_port),
            # Must stay unused: with CHROMA_HOST set nothing may be written to an embedded store.
            "VECTOR_STORE_DIR": str(self.root / "embedded_vector_store_unused"),
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.redis_url,
            "CELERY_RESULT_BACKEND": self.redis_url,
            "REDIS_KEY_PREFIX": self.run_id,
            "INDEX_QUEUE": self.index_queue,
            "DEFAULT_QUEUE": self.default_queue,
            "OPERATOR_TOKEN": self.operator_token,
            "DATA_DIR": str(self.data_dir),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        })
        # prometheus_client changes mode when this merely exists; one gunicorn process each needs none.
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(self.extra_env)
        return env

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> Stack:
        shutil.copytree(REPO / "data", self.data_dir, ignore=shutil.ignore_patterns("uploads"))
        self._start_postgres_database()
        self.redis_db = self._pick_redis_db()
        self._start_chroma()
        self._migrate()
        for number in range(1, self.workers + 1):
            self._start_worker(f"w{number}-{self.run_id}@loopback")
        for _ in range(self.backends):
            self._start_backend()
        for url, proc in zip(self.backend_urls, [p for p in self.procs if p.name.startswith("api")], strict=True):
            wait_for(f"backend {url}", lambda url=url: self._backend_ready(url), timeout=120, log=proc.log)
        for name in self.worker_names:
            wait_for(f"Celery worker {name}", lambda name=name: self.control().ping(destination=[name], timeout=1.0),
                     timeout=120, interval=0.5, log=self.worker_procs[name].log)
        return self

    def stop(self) -> None:
        stop_all(list(reversed(self.procs)))
        self.procs.clear()
        self._clean_redis()
        if self._control is not None:
            with contextlib.suppress(Exception):
                self._control.close()
        self._drop_database()
        if os.environ.get("TRIPLE_DISTRIBUTED_KEEP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- parts --------------------------------------------------------------------------------------

    def _start_postgres_database(self) -> None:
        ensure_postgres(self.admin_url)
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self._db_created = True

    def _drop_database(self) -> None:
        if not self._db_created:
            return
        try:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            self._db_created = False
        except psycopg.Error as exc:
            print(f"warning: could not drop database {self.db_name}: {exc}", file=sys.stderr)

    def _redis(self, db: int | None = None) -> redis.Redis:
        return redis.Redis.from_url(self._redis_url(self.redis_db if db is None else db), socket_timeout=5,
                                    socket_connect_timeout=2)

    def _pick_redis_db(self) -> int:
        """An empty numbered database, so our short-lived queues never meet another run's unacked
        messages. Queue names and key prefix are unique to this run in any case."""
        try:
            self._redis(0).ping()
        except redis.RedisError as exc:
            raise StackError(f"Redis is not reachable at {self.redis_base_url}: {exc}. Start it "
                             "(scripts/services.sh ensure_redis does) or set TEST_REDIS_URL.") from None
        for db in range(15, 0, -1):
            try:
                if self._redis(db).dbsize() == 0:
                    return db
            except redis.ResponseError:  # fewer databases configured
                continue
        return 0

    def _clean_redis(self) -> None:
        """Delete only this run's keys (never FLUSHDB/FLUSHALL: the server is shared). Kombu keeps queue
        bindings as set members; ours are removed, and Redis drops a set once it is empty."""
        try:
            client = self._redis()
            mine = [self.run_id]
            if self._control is not None:
                mine.append(str(self._control.control.mailbox.oid))
            for binding in client.scan_iter("_kombu.binding.*", count=1000):
                members = [m for m in client.smembers(binding) if any(t.encode() in m for t in mine)]
                if members:
                    client.srem(binding, *members)
            for exchange in client.zrange("_kombu.binding_deadlines", 0, -1):
                if not client.exists(b"_kombu.binding." + exchange):  # nobody else binds to it
                    client.zrem("_kombu.binding_deadlines", exchange)
            doomed = list(client.scan_iter(f"*{self.run_id}*", count=1000))
            doomed += [f"celery-task-meta-{task_id}" for task_id in self.task_ids]
            if doomed:
                client.delete(*doomed)
        except redis.RedisError as exc:
            print(f"warning: could not clean Redis keys of {self.run_id}: {exc}", file=sys.stderr)

    def _spawn(self, name: str, cmd: list[str], *, cwd: Path) -> Proc:
        log = self.logs / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(cmd, cwd=cwd, env=self.env(), stdout=handle, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True,
                                 preexec_fn=_die_with_parent)
        handle.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def _start_chroma(self) -> None:
        self.chroma_port = free_port()
        chroma = VENV_BIN / "chroma"
        proc = self._spawn("chroma", [str(chroma), "run", "--path", str(self.root / "chroma"),
                                      "--host", "127.0.0.1", "--port", str(self.chroma_port)], cwd=self.root)
        wait_for("Chroma server", lambda: requests.get(f"{self.chroma_url}/api/v2/heartbeat", timeout=2).ok,
                 timeout=60, log=proc.log)

    @property
    def chroma_url(self) -> str:
        return f"http://127.0.0.1:{self.chroma_port}"

    def chroma_collections(self) -> list[str]:
        got = requests.get(f"{self.chroma_url}/api/v2/tenants/default_tenant/databases/default_database/collections",
                           timeout=10)
        got.raise_for_status()
        return [c["name"] for c in got.json()]

    def _migrate(self) -> None:
        log = self.logs / "migrate.log"
        done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v1"], cwd=BACKEND,
                              env=self.env(), capture_output=True, timeout=300, check=False)
        log.write_bytes(done.stdout + done.stderr)
        if done.returncode != 0:
            raise StackError(f"migrate failed ({done.returncode}):\n{(done.stdout + done.stderr).decode()[-3000:]}")

    def _start_worker(self, name: str) -> None:
        short = name.split("-", 1)[0]
        proc = self._spawn(f"worker-{short}", [
            str(VENV_BIN / "celery"), "-A", "config", "worker", "-Q", f"{self.index_queue},{self.default_queue}",
            "-c", "1", "-n", name, "--without-gossip", "--without-mingle", "--loglevel=INFO",
        ], cwd=BACKEND)
        self.worker_names.append(name)
        self.worker_procs[name] = proc

    def _start_backend(self) -> None:
        port = free_port()
        number = len(self.backend_urls) + 1
        self._spawn(f"api{number}", [
            str(VENV_BIN / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "--threads", "4", "--worker-class", "gthread", "--timeout", "120",
            "--access-logfile", "-", "--error-logfile", "-",
        ], cwd=BACKEND)
        self.backend_urls.append(f"http://127.0.0.1:{port}")

    @staticmethod
    def _backend_ready(url: str) -> bool:
        # 503 is fine here: there is no index yet. Database, Redis and Chroma must answer.
        body = requests.get(f"{url}{API}/health/", timeout=5).json()
        return all(body["checks"][part]["ok"] for part in ("database", "redis", "chroma"))

    # -- helpers for the test -----------------------------------------------------------------------

    def control(self) -> Any:
        """A bare Celery app on the broker, for ping / inspect / cancel_consumer (no Django needed)."""
        if self._control is None:
            from celery import Celery

            self._control = Celery(f"{self.run_id}-control", broker=self.redis_url)
        return self._control.control

    def operator_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_token}"}

    def sql(self, query: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            return list(conn.execute(query, tuple(params)).fetchall())

    def describe(self) -> str:
        return json.dumps({
            "backends": self.backend_urls, "workers": self.worker_names, "chroma": self.chroma_url,
            "database": self.database_url, "redis": self.redis_url, "queues": [self.index_queue, self.default_queue],
            "operator_token": self.operator_token, "logs": str(self.logs),
        }, indent=2)


def main() -> None:
    stack = Stack()
    with stack:
        print(stack.describe(), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
