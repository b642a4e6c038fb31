#!/usr/bin/env python
"""Faults under load: nothing lost while Redis restarts, the provider times out and a worker dies mid-build.

Starts its own stack on loopback and stops it by PID when done (or on Ctrl-C):

- redis-server on a free port (never the shared 6379), no persistence, so a restart is also a flush;
- gunicorn (gthread) with the Django API; a Celery worker on its own queues;
- a fake OpenAI-compatible vendor (the `qwen` provider points at it) that answers, or hangs;
- a temporary SQLite database, vector store and copy of the corpus.

Then N sessions (threads) ask questions for `--duration` seconds while these phases run in turn:

  normal -> redis_down (redis-server stopped) -> redis_back (restarted, empty) -> provider_hang (every
  generation call hangs past PROVIDER_TIMEOUT_SECONDS; GENERATION_FALLBACKS=local answers) ->
  provider_back -> worker_kill (a document is uploaded, the worker is SIGKILLed mid-embedding, restarted,
  the build is re-run) -> normal.

Every request is counted in the phase in effect when it ends, and classified: answered (200 with a
chat_id), refused with a clear error (a JSON body {"error", "message"}: 503 redis_unavailable, 503
generation_failed, ...), or unclear (anything else: a 5xx without the error shape, a broken connection, a
client timeout). Afterwards the database is checked:

  lost = 200s whose chat_id has no Chat row
       + 200s whose Chat row has a different number of SearchLog rows than the sources it returned
       + Chat rows (status ok, any route but small talk) whose SearchLog count is not their top_k

Exit status 0 only when lost == 0, unclear == 0, no 5xx but 503, every warm-up question answered, no
session ended (sessions live 30 minutes; a Redis restart must not end them) and no log holds a secret.
Usage:

  .venv/bin/python bench/faults.py --duration 180 --sessions 16          # the figures in docs/reliability.md
  .venv/bin/python bench/faults.py --duration 45 --sessions 16 --corpus small   # the CI form
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
BACKEND = REPO / "backend"
BIN = Path(sys.executable).parent
API = "/api/v1/triple/"
SMALL_CORPUS = ("docs/faq_en.md", "docs/faq_ko.md", "docs/stove_manual_en.md", "docs/tent_manual_ko.md",
                "docs/shipping_rates_en.md", "docs/warranty_ko.txt", "docs/care_guide_en.txt", "docs/rental_ko.md")
PROVIDER_TIMEOUT = 2.0
CLIENT_TIMEOUT = 60.0
NEW_CHUNKS = 24  # chunks of the document uploaded in the worker_kill phase
KILL_AFTER_NEW = 6  # the worker is killed once this many of them are embedded
# Only the worker embeds slowly (2 chunks a batch, 0.3 s a batch), so it can be killed mid-build.
WORKER_SLOW_EMBED = {"EMBED_BATCH_SIZE": "2", "INDEX_TEST_EMBED_DELAY": "0.3"}


def log(message: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, check: Any, timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- the fake vendor ----------------------------------------------------------------------------------


class FakeVendor:
    """OpenAI-compatible chat completions (JSON and SSE). Mode `ok` answers at once; mode `hang` holds the
    request open for `hang_seconds` (longer than the provider's timeout) and then drops it."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.hang_seconds = PROVIDER_TIMEOUT * 3
        self.calls: Counter[str] = Counter()
        self.stopping = threading.Event()
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                vendor.calls[vendor.mode] += 1
                if vendor.mode == "hang":
                    vendor.stopping.wait(vendor.hang_seconds)
                    self.close_connection = True
                    return
                text = "According to the documents, see passage [1]."
                model = body.get("model", "fake")
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for piece in (text[:20], text[20:]):
                        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model,
                                 "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    done = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model,
                            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}
                    self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
                    self.close_connection = True
                    return
                payload = json.dumps({
                    "id": "c1", "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


# --- the stack ----------------------------------------------------------------------------------------


class Stack:
    """Processes started here, each in its own process group, stopped by their own PIDs."""

    def __init__(self, tmp: Path, corpus: str, vendor: FakeVendor) -> None:
        self.tmp = tmp
        self.redis_port = free_port()
        self.api_port = free_port()
        self.token = "faults-" + uuid.uuid4().hex
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.data_dir = tmp / "data"
        self.db_path = tmp / "db.sqlite3"
        self._copy_corpus(corpus)
        self.env = self._env(vendor)

    def _copy_corpus(self, corpus: str) -> None:
        source = REPO / "data"
        if corpus == "full":
            shutil.copytree(source, self.data_dir, ignore=shutil.ignore_patterns("uploads", "eval"))
            return
        for rel in SMALL_CORPUS:
            (self.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / rel, self.data_dir / rel)

    def _env(self, vendor: FakeVendor) -> dict[str, str]:
        keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
        env = {k: v for k, v in os.environ.items() if k in keep}
        redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "TRIPLE_ENV": "test",  # honours INDEX_TEST_EMBED_DELAY (a slow build the script can kill mid-way)
            "SECRET_KEY": "faults-" + uuid.uuid4().hex,
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "VECTOR_STORE_DIR": str(self.tmp / "vector_store"),
            "DATA_DIR": str(self.data_dir),
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "REDIS_KEY_PREFIX": "faults",
            "REDIS_SOCKET_TIMEOUT": "1",
            "INDEX_QUEUE": "faults-indexing",
            "DEFAULT_QUEUE": "faults-default",
            "OPERATOR_TOKEN": self.token,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "RATE_LIMIT_USER": "0",
            "RATE_LIMIT_IP": "0",
            "GENERATION_PROVIDER": "qwen",
            "GENERATION_FALLBACKS": "local",
            "QWEN_API_BASE": vendor.base_url,
            "QWEN_CHAT_MODEL": "fake-qwen",
            "PROVIDER_TIMEOUT_SECONDS": str(PROVIDER_TIMEOUT),
            "PROVIDER_CONNECT_TIMEOUT_SECONDS": "1",
            "PROVIDER_MAX_RETRIES": "0",
            "INDEX_STALE_SECONDS": "4",
            "CELERY_VISIBILITY_TIMEOUT": "30",
            "INDEX_TASK_TIME_LIMIT": "600",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "LOG_FORMAT": "plain",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        })
        return env

    # processes
    def _spawn(self, name: str, command: list[str], extra: dict[str, str] | None = None) -> None:
        out = (self.tmp / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(command, cwd=BACKEND, env={**self.env, **(extra or {})}, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def _stop(self, name: str, sig: int = signal.SIGTERM, wait: float = 15) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # children left behind by a killed parent
            os.killpg(proc.pid, signal.SIGKILL)

    def start_redis(self) -> None:
        self._spawn("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
                              "--appendonly", "no", "--dir", str(self.tmp)])
        wait_until("redis", lambda: socket.create_connection(("127.0.0.1", self.redis_port), 0.5).close() or True,
                   timeout=20)

    def stop_redis(self) -> None:
        self._stop("redis", signal.SIGKILL)

    def migrate_and_build(self) -> None:
        """Create the tables and build the first index, in one process (one Django start-up, not two)."""
        code = ("import django; django.setup(); from django.core.management import call_command; "
                "call_command('migrate', interactive=False, verbosity=0); call_command('build_vectors')")
        out = subprocess.run([str(BIN / "python"), "-c", code], cwd=BACKEND, env=self.env, capture_output=True,
                             text=True, timeout=900)
        if out.returncode != 0:
            raise RuntimeError(f"migrate/build_vectors failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")

    def start_api(self) -> None:
        self._spawn("gunicorn", [str(BIN / "gunicorn"), "config.wsgi:application", "--bind",
                                 f"127.0.0.1:{self.api_port}", "--workers", "2", "--threads", "8",
                                 "--worker-class", "gthread", "--timeout", "120", "--graceful-timeout", "10"])
        wait_until("the API", lambda: httpx.get(f"{self.url}health/", timeout=5).status_code in (200, 503),
                   timeout=180, interval=0.5)

    def start_worker(self, wait: bool = True) -> None:
        log_file = self.tmp / "worker.log"
        self._worker_log_offset = log_file.stat().st_size if log_file.exists() else 0
        self._spawn("worker", [str(BIN / "celery"), "-A", "config", "worker", "-Q", "faults-indexing,faults-default",
                               "-c", "1", "--pool", "prefork", "-n", f"faults-{uuid.uuid4().hex[:6]}@localhost",
                               "--without-gossip", "--without-mingle", "--loglevel", "INFO"], WORKER_SLOW_EMBED)
        if wait:
            self.wait_worker()

    def wait_worker(self) -> None:
        log_file, offset = self.tmp / "worker.log", self._worker_log_offset
        wait_until("the Celery worker", lambda: b" ready." in log_file.read_bytes()[offset:], timeout=120,
                   interval=0.3)

    def kill_worker(self) -> None:
        self._stop("worker", signal.SIGKILL, wait=10)

    def stop_all(self) -> None:
        for name in ("gunicorn", "worker", "redis"):
            self._stop(name, signal.SIGTERM if name != "redis" else signal.SIGKILL)

    def secrets_in_logs(self) -> list[str]:
        """Log files of the stack that contain the operator token or the secret key (must be none)."""
        secrets = [self.token, self.env["SECRET_KEY"]]
        return sorted(path.name for path in self.tmp.glob("*.log")
                      if any(secret.encode() in path.read_bytes() for secret in secrets))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}{API}"

    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# --- the load -----------------------------------------------------------------------------------------


@dataclass
class Record:
    phase: str
    outcome: str  # answered | refused | unclear
    status: int
    code: str = ""
    chat_id: str = ""
    sources: int = -1
    provider: str = ""
    stream: bool = False
    cached: bool = False
    seconds: float = 0.0


@dataclass
class Load:
    stack: Stack
    sessions: int
    questions: list[str]
    phase: str = "normal"
    stop: threading.Event = field(default_factory=threading.Event)
    records: list[Record] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    session_errors: Counter[str] = field(default_factory=Counter)

    def add(self, record: Record) -> None:
        # A request counts in the phase in effect when its outcome is known: a provider or Redis fault hits
        # a request at the stage that uses it, seconds after it started under load.
        record.phase = self.phase
        with self.lock:
            self.records.append(record)

    def _session(self, client: httpx.Client) -> str | None:
        try:
            response = client.post("user/", json={})
        except httpx.HTTPError as exc:
            self.session_errors[type(exc).__name__] += 1
            return None
        if response.status_code == 201:
            return str(response.json()["user_id"])
        self.session_errors[f"{response.status_code}"] += 1
        return None

    def run_session(self, number: int) -> None:
        rng = random.Random(number)
        stream = number % 4 == 3  # a quarter of the sessions read the answer as SSE
        with httpx.Client(base_url=self.stack.url, timeout=CLIENT_TIMEOUT) as client:
            user_id = None
            while not self.stop.is_set():
                if user_id is None:
                    user_id = self._session(client)
                    if user_id is None:
                        self.stop.wait(0.5)
                        continue
                question = rng.choice(self.questions)
                record = self.ask_stream(client, user_id, question) if stream else self.ask(client, user_id, question)
                self.add(record)
                if record.code in ("unknown_user", "session_expired"):
                    user_id = None
                if record.outcome != "answered":
                    self.stop.wait(0.2)

    def ask(self, client: httpx.Client, user_id: str, question: str) -> Record:
        phase, started = self.phase, time.monotonic()
        try:
            response = client.post("chat/", json={"user_id": user_id, "question": question})
        except httpx.HTTPError as exc:
            return Record(phase, "unclear", 0, type(exc).__name__, seconds=time.monotonic() - started)
        elapsed = time.monotonic() - started
        body = _json(response)
        if response.status_code == 200 and isinstance(body, dict) and body.get("chat_id"):
            return Record(phase, "answered", 200, chat_id=body["chat_id"], sources=len(body.get("sources", [])),
                          provider=(body.get("providers", {}).get("generation") or {}).get("provider", ""),
                          cached=bool(body.get("cached")), seconds=elapsed)
        return _refusal(phase, response.status_code, body, elapsed)

    def ask_stream(self, client: httpx.Client, user_id: str, question: str) -> Record:
        phase, started = self.phase, time.monotonic()
        headers = {"Accept": "text/event-stream"}
        try:
            with client.stream("POST", "chat/", json={"user_id": user_id, "question": question},
                               headers=headers) as response:
                if response.status_code != 200 or not response.headers.get("content-type", "").startswith(
                        "text/event-stream"):
                    response.read()
                    return _refusal(phase, response.status_code, _json(response), time.monotonic() - started,
                                    stream=True)
                events = _sse_events(response.iter_lines())
        except httpx.HTTPError as exc:
            return Record(phase, "unclear", 0, type(exc).__name__, stream=True, seconds=time.monotonic() - started)
        elapsed = time.monotonic() - started
        done = [data for event, data in events if event == "done"]
        errors = [data for event, data in events if event == "error"]
        if done and done[-1].get("chat_id"):
            data = done[-1]
            return Record(phase, "answered", 200, chat_id=data["chat_id"], sources=len(data.get("sources", [])),
                          provider=(data.get("providers", {}).get("generation") or {}).get("provider", ""),
                          cached=bool(data.get("cached")), stream=True, seconds=elapsed)
        if errors and _shaped(errors[-1]):
            return Record(phase, "refused", 200, errors[-1]["error"], chat_id=errors[-1].get("chat_id", ""),
                          stream=True, seconds=elapsed)
        return Record(phase, "unclear", 200, "stream_without_done", stream=True, seconds=elapsed)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _shaped(body: Any) -> bool:
    return (isinstance(body, dict) and isinstance(body.get("error"), str) and bool(body["error"])
            and isinstance(body.get("message"), str) and bool(body["message"]))


def _refusal(phase: str, status: int, body: Any, elapsed: float, stream: bool = False) -> Record:
    if status >= 400 and _shaped(body):
        return Record(phase, "refused", status, body["error"], stream=stream, seconds=elapsed)
    return Record(phase, "unclear", status, "unshaped", stream=stream, seconds=elapsed)


def _sse_events(lines: Any) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    event, data = "message", ""
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
        elif not line.strip() and data:
            with contextlib.suppress(ValueError):
                events.append((event, json.loads(data)))
            event, data = "message", ""
    if data:
        with contextlib.suppress(ValueError):
            events.append((event, json.loads(data)))
    return events


# --- phases -------------------------------------------------------------------------------------------


def field_notes(n: int) -> str:
    return "# Field notes\n\n" + "\n\n".join(
        f"## Note {i}\nLantern model FN-{1000 + i} ran for {10 + i} hours on one charge during field test {i}, "
        f"at {i % 7 - 3} degrees, with the beam set to level {i % 4 + 1}."
        for i in range(n)
    ) + "\n"


@dataclass
class BuildReport:
    upload_status: int = 0
    killed_at: dict[str, Any] = field(default_factory=dict)
    killed_state: str = ""
    rerun_state: str = ""
    rerun_counts: dict[str, Any] = field(default_factory=dict)
    seconds_to_active: float = 0.0
    old_index_answered_while_killed: bool = False
    note: str = ""


def worker_kill_phase(stack: Stack, load: Load, deadline: float) -> BuildReport:
    """Upload a document (which requests a build), SIGKILL the worker while it embeds, restart it, and get
    the build done: the killed build is reaped once its heartbeat is stale, and a rebuild request resumes
    from the vectors already stored."""
    report = BuildReport()
    started = time.monotonic()
    with httpx.Client(base_url=stack.url, timeout=30, headers=stack.operator()) as op:
        files = {"file": ("zz_field_notes_en.md", field_notes(NEW_CHUNKS).encode(), "text/markdown")}
        upload = op.post("documents/", files=files)
        report.upload_status = upload.status_code
        if upload.status_code != 202:
            report.note = f"upload refused: {upload.text[:200]}"
            return report
        task_id = upload.json()["task_id"]

        def embedding() -> dict[str, Any] | None:
            task = op.get(f"tasks/{task_id}/").json()
            progress = task.get("progress", {})
            if task.get("state") in ("succeeded", "failed", "unchanged"):
                return task
            # The new document's chunks are embedded last: kill once a few of them are stored, so the re-run
            # shows it resumes from the killed build's vectors (embedded < NEW_CHUNKS).
            if (task.get("state") == "running" and progress.get("stage") == "embed"
                    and progress.get("done", 0) >= progress.get("total", 0) - NEW_CHUNKS + KILL_AFTER_NEW > 0):
                return task
            return None

        task = wait_until("the build to start embedding", embedding, timeout=max(90.0, deadline - time.monotonic()),
                          interval=0.3)
        if task.get("state") != "running":
            report.note = f"the build finished before the kill ({task.get('state')})"
            return report
        stack.kill_worker()
        report.killed_at = task.get("progress", {})
        log(f"worker SIGKILLed at {report.killed_at}")
        load.phase = "worker_killed"
        active = op.get("index/").json().get("active") or {}
        report.old_index_answered_while_killed = active.get("id") != task.get("build_id")
        stack.start_worker()
        load.phase = "worker_back"

        def rerun() -> str | None:
            state = op.get(f"tasks/{task_id}/").json().get("state")
            if state == "succeeded":
                return task_id  # the message came back from the broker and the same task finished
            response = op.post("index/rebuild/")
            return str(response.json()["task_id"]) if response.status_code == 202 else None

        rerun_id = wait_until("the killed build to be reaped or redelivered", rerun, timeout=120, interval=1.0)
        report.killed_state = op.get(f"tasks/{task_id}/").json().get("state", "")

        def finished() -> dict[str, Any] | None:
            task = op.get(f"tasks/{rerun_id}/").json()
            return task if task.get("state") in ("succeeded", "failed", "unchanged") else None

        final = wait_until("the re-run to finish", finished, timeout=240, interval=1.0)
        report.rerun_state = str(final.get("state"))
        report.rerun_counts = final.get("result") or {}
        report.seconds_to_active = round(time.monotonic() - started, 1)
    return report


def controller(stack: Stack, vendor: FakeVendor, load: Load, duration: float, reports: dict[str, Any]) -> None:
    """Runs the phases at fixed fractions of the duration, then stops the load."""
    start = time.monotonic()

    def at(fraction: float) -> None:
        load.stop.wait(max(0.0, start + duration * fraction - time.monotonic()))

    try:
        at(0.15)
        log("phase redis_down: redis-server SIGKILLed")
        load.phase = "redis_down"
        stack.stop_redis()
        at(0.28)
        log("phase redis_back: redis-server restarted (empty)")
        stack.start_redis()
        load.phase = "redis_back"
        at(0.40)
        log("phase provider_hang: every generation call hangs past the provider timeout")
        vendor.mode = "hang"
        load.phase = "provider_hang"
        at(0.58)
        vendor.mode = "ok"
        load.phase = "provider_back"
        log("phase provider_back")
        at(0.64)
        log("phase worker_kill: upload, SIGKILL the worker mid-build, restart, re-run")
        load.phase = "worker_kill"
        reports["build"] = worker_kill_phase(stack, load, start + duration)
        log(f"build after the kill: {reports['build']}")
        load.phase = "normal_end"
        at(1.0)
    except Exception as exc:  # a phase that could not run is reported, and fails the run
        reports["controller_error"] = f"{type(exc).__name__}: {exc}"
        log(f"controller error: {reports['controller_error']}")
    finally:
        load.stop.set()


# --- checking -----------------------------------------------------------------------------------------


def check_database(db_path: Path, records: list[Record]) -> dict[str, Any]:
    db = sqlite3.connect(db_path, timeout=30)
    rows = db.execute(
        "SELECT c.id, c.status, c.route, c.top_k, c.generation_provider, COUNT(s.id) FROM triple_chat c "
        "LEFT JOIN triple_search_log s ON s.chat_id = c.id GROUP BY c.id"
    ).fetchall()
    db.close()
    chats = {uuid.UUID(str(r[0])).hex: r for r in rows}
    missing, mismatched = [], []
    for record in records:
        if record.outcome != "answered":
            continue
        row = chats.get(uuid.UUID(record.chat_id).hex)
        if row is None:
            missing.append(record.chat_id)
        elif row[5] != record.sources:
            mismatched.append((record.chat_id, row[5], record.sources))
    # Small talk retrieves nothing by design; every other answered question logs its top_k retrieved chunks.
    incomplete = [r[0] for r in rows if r[1] == "ok" and r[2] != "smalltalk" and r[5] != r[3]]
    refused_with_row = sum(1 for r in records if r.outcome == "refused" and r.chat_id
                           and uuid.UUID(r.chat_id).hex in chats)
    return {
        "chat_rows": len(rows),
        "chat_rows_by_status": dict(Counter(f"{r[1]}/{r[2]}" for r in rows)),
        "answered_without_chat_row": missing,
        "answered_with_other_searchlog_count": mismatched,
        "ok_rows_without_all_searchlogs": incomplete,
        "refusals_that_name_a_recorded_chat": refused_with_row,
        "lost": len(missing) + len(mismatched) + len(incomplete),
    }


def summarize(records: list[Record]) -> dict[str, Any]:
    phases: dict[str, dict[str, Any]] = defaultdict(lambda: {"made": 0, "answered": 0, "refused": 0,
                                                               "unclear": 0, "codes": Counter()})
    for r in records:
        p = phases[r.phase]
        p["made"] += 1
        p[r.outcome] += 1
        if r.outcome != "answered":
            p["codes"][f"{r.status} {r.code}"] += 1
    for name, p in phases.items():
        answered = [r for r in records if r.phase == name and r.outcome == "answered"]
        p["codes"] = dict(p["codes"])
        p["answered_by"] = dict(Counter(r.provider + (" (cached)" if r.cached else "") for r in answered))
        seconds = sorted(r.seconds for r in answered)
        p["p50_s"] = round(statistics.median(seconds), 2) if seconds else None
        p["p95_s"] = round(seconds[int(len(seconds) * 0.95) - 1], 2) if len(seconds) >= 20 else None
    totals = Counter(r.outcome for r in records)
    # Sessions live 30 minutes: none may end during the run, Redis restart included.
    ended = sum(1 for r in records if r.code in ("session_expired", "unknown_user"))
    # A 5xx other than 503 (a dependency is away, said clearly) is a crash, even in the error shape.
    crashes = sum(1 for r in records if r.status >= 500 and r.status != 503)
    return {"made": len(records), "answered": totals["answered"], "refused": totals["refused"],
            "unclear": totals["unclear"], "streamed": sum(r.stream for r in records),
            "cached": sum(r.cached for r in records), "sessions_ended": ended, "crashes": crashes,
            "phases": dict(phases)}


def questions() -> list[str]:
    out = []
    for name in ("en.jsonl", "ko.jsonl"):
        for line in (REPO / "data" / "eval" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["question"])
    return out


def _interrupt(*args: Any) -> None:
    raise KeyboardInterrupt


def warm_up(stack: Stack, questions: list[str]) -> list[int]:
    """Load the models in both API processes before the clock starts (not counted with the load; their
    Chat rows are in the database). Returns the status of each warm-up question (0: no answer)."""
    statuses = [0] * 6

    def one(number: int, question: str) -> None:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError), \
                httpx.Client(base_url=stack.url, timeout=120) as client:
            user_id = client.post("user/", json={}).json()["user_id"]
            statuses[number] = client.post("chat/", json={"user_id": user_id, "question": question}).status_code

    threads = [threading.Thread(target=one, args=(n, q)) for n, q in enumerate(questions[:6])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=180, help="seconds of load (default 180)")
    parser.add_argument("--sessions", type=int, default=16, help="concurrent sessions (default 16)")
    parser.add_argument("--corpus", choices=["small", "full"], default="full",
                        help="full: the shipped corpus; small: 8 text documents (faster setup, for CI)")
    parser.add_argument("--answer-cache", action="store_true",
                        help="keep the answer cache on (default off: every question runs retrieval and generation)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    args = parser.parse_args()
    if args.duration < 30 or args.duration > 1800 or not 1 <= args.sessions <= 64:
        parser.error("--duration must be 30..1800 s and --sessions 1..64")

    tmp = Path(tempfile.mkdtemp(prefix="triple-faults-"))
    vendor = FakeVendor()
    vendor.start()
    stack = Stack(tmp, args.corpus, vendor)
    stack.env["ANSWER_CACHE_TTL"] = "600" if args.answer_cache else "0"
    signal.signal(signal.SIGTERM, _interrupt)
    report: dict[str, Any] = {"duration_s": args.duration, "sessions": args.sessions, "corpus": args.corpus,
                              "answer_cache": args.answer_cache}
    try:
        log(f"stack in {tmp}: redis :{stack.redis_port}, api :{stack.api_port}, vendor {vendor.base_url}")
        stack.start_redis()
        setup = time.monotonic()
        # The worker boots while the first index is built in-process.
        stack.start_worker(wait=False)
        stack.migrate_and_build()
        report["initial_build_s"] = round(time.monotonic() - setup, 1)
        stack.start_api()
        stack.wait_worker()
        report["warm_up_statuses"] = warm_up(stack, questions())
        report["setup_s"] = round(time.monotonic() - setup, 1)
        log(f"stack ready; {args.sessions} sessions for {args.duration:.0f} s")

        load = Load(stack, args.sessions, questions())
        threads = [threading.Thread(target=load.run_session, args=(i,), daemon=True) for i in range(args.sessions)]
        reports: dict[str, Any] = {}
        control = threading.Thread(target=controller, args=(stack, vendor, load, args.duration, reports))
        began = time.monotonic()
        for thread in threads:
            thread.start()
        control.start()
        control.join(timeout=args.duration + 420)
        load.stop.set()
        for thread in threads:
            thread.join(timeout=CLIENT_TIMEOUT + 10)
        report["load_s"] = round(time.monotonic() - began, 1)
        report["vendor_calls"] = dict(vendor.calls)
        report.update(summarize(load.records))
        report["session_create_failures"] = dict(load.session_errors)
        build = reports.get("build")
        report["build"] = build.__dict__ if isinstance(build, BuildReport) else None
        report["controller_error"] = reports.get("controller_error", "")
        report["database"] = check_database(stack.db_path, load.records)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        stack.stop_all()
        vendor.stop()
        report["secrets_in_logs"] = stack.secrets_in_logs()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    ok = (report["database"]["lost"] == 0 and report["unclear"] == 0 and report["sessions_ended"] == 0
          and report["crashes"] == 0 and set(report["warm_up_statuses"]) == {200}
          and not report["controller_error"] and not report["secrets_in_logs"])
    return 0 if ok else 1


def print_report(report: dict[str, Any]) -> None:
    db = report["database"]
    print()
    print(f"requests made: {report['made']}  answered: {report['answered']}  "
          f"refused with a clear error: {report['refused']}  unclear: {report['unclear']}  lost: {db['lost']}")
    print(f"sessions ended by the faults (401 session_expired / 404 unknown_user): {report['sessions_ended']}; "
          f"crashes (5xx other than 503): {report['crashes']}; warm-up statuses: {report['warm_up_statuses']}")
    print(f"({report['streamed']} read as SSE; {report['cached']} answered from the answer cache; setup "
          f"{report.get('setup_s')} s, load {report.get('load_s')} s)")
    print(f"{'phase':<15} {'made':>5} {'answered':>8} {'refused':>7} {'unclear':>7}  {'p50 s':>6} {'p95 s':>6}  "
          "answered by / refusals")
    for name, p in report["phases"].items():
        p95 = "-" if p["p95_s"] is None else p["p95_s"]
        p50 = "-" if p["p50_s"] is None else p["p50_s"]
        print(f"{name:<15} {p['made']:>5} {p['answered']:>8} {p['refused']:>7} {p['unclear']:>7}  {p50:>6} {p95:>6}  "
              f"{p['answered_by']} {p['codes']}")
    print(f"chat rows: {db['chat_rows']} {db['chat_rows_by_status']} (incl. {report['warm_up_statuses'].count(200)} "
          f"warm-up answers); refusals naming a recorded chat: {db['refusals_that_name_a_recorded_chat']}")
    print(f"lost: answered without a Chat row {len(db['answered_without_chat_row'])}, with another SearchLog count "
          f"{len(db['answered_with_other_searchlog_count'])}, ok rows (not small talk) missing SearchLogs "
          f"{len(db['ok_rows_without_all_searchlogs'])}")
    print(f"build: {report['build']}")
    print(f"vendor calls: {report['vendor_calls']}; session create failures: {report['session_create_failures']}")
    print(f"logs holding the operator token or SECRET_KEY: {report['secrets_in_logs'] or 'none'}")
    if report["controller_error"]:
        print(f"controller error: {report['controller_error']}")


if __name__ == "__main__":
    sys.exit(main())
