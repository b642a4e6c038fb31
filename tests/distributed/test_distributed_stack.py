"""Triple in scale-out mode, on loopback: PostgreSQL, a Chroma server, Redis, two gunicorn backends and two
Celery workers, configured by environment variables only (see stack.py and docs/scaling.md).

The tests run in file order on one stack and build on each other: index → questions → provider override →
a second build whose worker is killed mid-way → the audit rows in PostgreSQL.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.distributed.stack import API, REPO, Stack, StackError

TOP_K = 5
EMBED_BATCH = 16  # texts per embedding call in the workers
EMBED_DELAY = 0.5  # seconds each embedding batch sleeps (INDEX_TEST_EMBED_DELAY): the kill lands mid-build
NEW_DOC = "docs/zz_distributed_field_notes_en.txt"
NEW_PARAGRAPHS = 96  # one chunk each: six embedding batches of new text in the second build
FINISHED = {"succeeded", "unchanged", "failed"}
FAKE_QWEN_ANSWER = "The answer written by the fake OpenAI-compatible server [1]."


# --- a fake OpenAI-compatible endpoint, so a non-default provider can be chosen offline --------------


class _FakeQwen(BaseHTTPRequestHandler):
    calls: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._json({"object": "list", "data": [{"id": "fake-qwen", "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        type(self).calls.append({"path": self.path, "body": body})
        self._json({
            "id": "chatcmpl-dist", "object": "chat.completion", "created": int(time.time()), "model": "fake-qwen",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": FAKE_QWEN_ANSWER}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        })


@pytest.fixture(scope="module")
def fake_qwen() -> Iterator[str]:
    _FakeQwen.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeQwen)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


# --- the stack -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, fake_qwen: str) -> Iterator[Stack]:
    if os.environ.get("SKIP_POSTGRES") == "1":
        pytest.skip("SKIP_POSTGRES=1: the distributed-mode test needs PostgreSQL")
    stack = Stack(extra_env={
        "EMBED_BATCH_SIZE": str(EMBED_BATCH),
        "INDEX_TEST_EMBED_DELAY": str(EMBED_DELAY),
        "RETRIEVAL_TOP_K": str(TOP_K),
        "EMBEDDING_PROVIDER": "local", "REASONING_PROVIDER": "local", "GENERATION_PROVIDER": "local",
        "GENERATION_FALLBACKS": "", "REASONING_FALLBACKS": "",
        "QWEN_API_BASE": fake_qwen, "QWEN_API_KEY": "", "QWEN_CHAT_MODEL": "fake-qwen",
    })
    failed_before = request.session.testsfailed
    try:
        stack.start()
    except StackError as exc:
        stack.stop()
        pytest.fail(f"the distributed stack did not start: {exc}", pytrace=False)
    yield stack
    if request.session.testsfailed > failed_before:
        _print_log_tails(stack)
    stack.stop()


def _print_log_tails(stack: Stack) -> None:
    for log in sorted(stack.logs.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-30:]
        print(f"\n--- {log.name} (last {len(lines)} lines) ---\n" + "\n".join(lines))


def call(method: str, url: str, *, expect: int | tuple[int, ...] = 200, **kwargs: Any) -> Any:
    response = requests.request(method, url, timeout=120, **kwargs)
    expected = (expect,) if isinstance(expect, int) else expect
    assert response.status_code in expected, f"{method} {url}: {response.status_code} {response.text[:500]}"
    return response.json() if response.content else None


def wait_task(stack: Stack, base: str, task_id: str, *, timeout: float = 240,
              until: Any = None) -> dict[str, Any]:
    """Poll GET tasks/<id>/ on `base` until the build finished (or `until(payload)` holds)."""
    deadline = time.monotonic() + timeout
    payload: dict[str, Any] = {}
    while time.monotonic() < deadline:
        payload = call("GET", f"{base}{API}/tasks/{task_id}/", headers=stack.operator_headers())
        if until is not None and until(payload):
            return payload
        if payload["state"] in FINISHED:
            return payload
        time.sleep(0.2)
    pytest.fail(f"task {task_id} not finished after {timeout:.0f} s; last seen {payload}")


def rebuild(stack: Stack, base: str) -> dict[str, Any]:
    queued = call("POST", f"{base}{API}/index/rebuild/", expect=202, headers=stack.operator_headers())
    assert queued["task_id"] and queued["build_id"]
    stack.task_ids.add(queued["task_id"])
    return queued


def ask(base: str, user_id: str, question: str) -> dict[str, Any]:
    return call("POST", f"{base}{API}/chat/", json={"user_id": user_id, "question": question, "top_k": TOP_K})


def eval_questions(name: str, count: int) -> list[str]:
    lines = (REPO / "data" / "eval" / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][:count]


@pytest.fixture(scope="module")
def first_build(stack: Stack) -> dict[str, Any]:
    """The first index, built through backend A and followed through backend B."""
    a, b = stack.backend_urls
    queued = rebuild(stack, a)
    final = wait_task(stack, b, queued["task_id"])
    return {**queued, "final": final}


@pytest.fixture(scope="module")
def chats(stack: Stack, first_build: dict[str, Any]) -> dict[str, Any]:
    """One session, questions asked alternately through A and B. Later tests append the chats they make."""
    a, b = stack.backend_urls
    user = call("POST", f"{a}{API}/user/", expect=201, json={})
    ko, en = eval_questions("ko.jsonl", 2), eval_questions("en.jsonl", 2)
    plan = [(a, ko[0]), (b, en[0]), (b, ko[1]), (a, en[1])]
    made: list[dict[str, Any]] = [{"backend": base, "question": q} for base, q in plan]

    def run(item: dict[str, Any]) -> None:
        item["answer"] = ask(item["backend"], user["user_id"], item["question"])

    # The first question on each backend loads its models: ask those two at once, the others after.
    first = [threading.Thread(target=run, args=(item,)) for item in made[:2]]
    for thread in first:
        thread.start()
    for thread in first:
        thread.join()
    for item in made:
        if "answer" not in item:
            run(item)
    return {"user_id": user["user_id"], "made": made}


# --- the scenario ----------------------------------------------------------------------------------


def test_both_backends_run_on_postgres_redis_and_the_chroma_server(stack: Stack) -> None:
    for base in stack.backend_urls:
        health = requests.get(f"{base}{API}/health/", timeout=30).json()
        assert health["checks"]["database"]["ok"] and health["checks"]["database"]["engine"] == "postgresql"
        assert health["checks"]["redis"]["ok"], health["checks"]["redis"]
        assert health["checks"]["chroma"]["ok"], health["checks"]["chroma"]
    assert len(set(stack.backend_urls)) == 2 and len(stack.worker_names) == 2


def test_index_built_through_one_backend_is_followed_and_served_by_the_other(
        stack: Stack, first_build: dict[str, Any]) -> None:
    a, b = stack.backend_urls
    final = first_build["final"]
    assert final["state"] == "succeeded", final
    assert final["build_id"] == first_build["build_id"]
    assert final["progress"]["total"] > 0 and final["progress"]["done"] == final["progress"]["total"]
    assert final["result"]["chunks"] > 0 and final["result"]["embedded"] == final["result"]["chunks"]
    seen = [call("GET", f"{base}{API}/index/", headers=stack.operator_headers())["active"] for base in (a, b)]
    assert seen[0]["id"] == seen[1]["id"] == first_build["build_id"]
    assert seen[0]["collection"] == seen[1]["collection"]
    # The vectors live in the Chroma server, and nothing fell back to an embedded store on disk.
    assert seen[0]["collection"] in stack.chroma_collections()
    assert not (stack.root / "embedded_vector_store_unused").exists()
    rows = stack.sql("SELECT id, status, active FROM triple_index_build WHERE id = %s", [first_build["build_id"]])
    assert rows == [(first_build["build_id"], "succeeded", True)]


def test_questions_are_answered_through_both_backends_in_one_session(stack: Stack, chats: dict[str, Any]) -> None:
    a, b = stack.backend_urls
    assert {c["backend"] for c in chats["made"]} == {a, b}
    for chat in chats["made"]:
        answer = chat["answer"]
        assert answer["status"] == "ok", answer
        assert answer["response"].strip()
        assert len(answer["sources"]) == TOP_K
        assert answer["providers"]["generation"]["provider"] == "local"
    # The session's history is shared: B sees the turns asked through A (the first two were concurrent).
    history = call("GET", f"{b}{API}/history/", params={"user_id": chats["user_id"]})
    asked = [t["content"] for t in history["turns"] if t["role"] == "user"]
    made = [c["question"] for c in chats["made"]]
    assert sorted(asked[:2]) == sorted(made[:2]) and asked[2:] == made[2:]


def test_provider_override_set_through_one_backend_applies_on_the_other(
        stack: Stack, chats: dict[str, Any]) -> None:
    a, b = stack.backend_urls
    user_id = chats["user_id"]
    chosen = call("POST", f"{a}{API}/providers/", json={"user_id": user_id, "generation_provider": "qwen"})
    assert chosen["selection"] == {"reasoning": "local", "generation": "qwen"}
    assert call("GET", f"{b}{API}/providers/", params={"user_id": user_id})["selection"] == chosen["selection"]

    calls_before = len(_FakeQwen.calls)
    question = eval_questions("en.jsonl", 3)[2]
    answer = ask(b, user_id, question)
    chats["made"].append({"backend": b, "question": question, "answer": answer})
    assert answer["providers"]["generation"]["provider"] == "qwen", answer["providers"]
    assert answer["response"].startswith("The answer written by the fake")
    assert len(_FakeQwen.calls) == calls_before + 1 and _FakeQwen.calls[-1]["path"].endswith("/chat/completions")

    cleared = call("DELETE", f"{b}{API}/providers/", json={"user_id": user_id})
    assert cleared["selection"]["generation"] == "local"
    assert call("GET", f"{a}{API}/providers/", params={"user_id": user_id})["selection"]["generation"] == "local"


def _write_new_document(stack: Stack) -> None:
    lines = []
    for n in range(NEW_PARAGRAPHS):
        lines.append(
            f"Field note {n}: the Distributed Lantern model DL-{1000 + n} was tested at camp site {n % 17} "
            f"for {n % 9 + 2} nights. It ran {12 + n % 7} hours on one charge at medium brightness, and the "
            f"testers rated the handle grip {n % 5 + 1} out of five. Note {n} ends here."
        )
    lines[0] = ("Field note 0: the Distributed Lantern DL-1000 weighs exactly 437 grams with its battery, "
                "the heaviest lantern in the distributed field test.")
    (stack.data_dir / NEW_DOC).write_text("\n\n".join(lines) + "\n", encoding="utf-8")


def _task_holder(stack: Stack, task_id: str) -> tuple[str, int]:
    """The worker running `task_id` and its pool process, from Celery's own inspect."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        active = stack.control().inspect(destination=stack.worker_names, timeout=1.0).active() or {}
        for name, tasks in active.items():
            for task in tasks:
                if task["id"] == task_id and task.get("worker_pid"):
                    return name, int(task["worker_pid"])
        time.sleep(0.2)
    pytest.fail(f"no worker reported task {task_id} as active")


def test_a_worker_killed_mid_build_leaves_the_build_to_the_other_worker(
        stack: Stack, first_build: dict[str, Any], chats: dict[str, Any]) -> None:
    a, b = stack.backend_urls
    old_chunks = first_build["final"]["result"]["chunks"]
    _write_new_document(stack)
    queued = rebuild(stack, b)
    task_id = queued["task_id"]

    holder, pool_pid = _task_holder(stack, task_id)
    other = next(name for name in stack.worker_names if name != holder)
    # The holder stops taking index tasks, so the task its dying pool process gives back (acks_late +
    # reject_on_worker_lost requeue it at once) can only go to the other worker.
    replies = stack.control().cancel_consumer(stack.index_queue, destination=[holder], reply=True, timeout=5.0)
    assert replies and "ok" in replies[0][holder], replies

    # Kill once at least one batch of the new document's vectors is stored, before the build ends.
    progress = wait_task(stack, a, task_id, until=lambda p: p["progress"]["stage"] == "embed"
                         and p["progress"]["done"] >= old_chunks + EMBED_BATCH)
    assert progress["state"] == "running", f"the build ended before it could be interrupted: {progress}"
    holder_proc = stack.worker_procs[holder]
    assert pool_pid in holder_proc.children(), "the task's process is not a pool process of its worker"
    os.kill(pool_pid, signal.SIGKILL)

    final = wait_task(stack, a, task_id)
    assert final["state"] == "succeeded", final
    counts = final["result"]
    # The other worker resumed: the vectors stored before the kill were kept, the rest embedded afresh.
    assert counts["chunks"] == old_chunks + NEW_PARAGRAPHS, counts
    assert counts["resumed"] >= old_chunks + EMBED_BATCH, counts
    assert 0 < counts["embedded"] < NEW_PARAGRAPHS, counts
    assert holder_proc.alive(), "only the pool process was killed; the worker itself stays up"
    # Celery's own log lines: the other worker received the task, the holder lost its pool process.
    assert f"[{task_id}] received" in stack.worker_procs[other].log.read_text(errors="replace"), other
    assert "WorkerLostError" in holder_proc.log.read_text(errors="replace")

    active = call("GET", f"{b}{API}/index/", headers=stack.operator_headers())["active"]
    assert active["id"] == queued["build_id"] and active["collection"] in stack.chroma_collections()
    question = "How much does the Distributed Lantern DL-1000 weigh?"
    answer = ask(a, chats["user_id"], question)
    chats["made"].append({"backend": a, "question": question, "answer": answer})
    assert answer["index_build"] == queued["build_id"]
    assert any(s["document"] == NEW_DOC for s in answer["sources"]), answer["sources"]
    assert "437" in answer["response"], answer["response"]


def test_every_chat_and_its_search_logs_landed_in_postgres(stack: Stack, chats: dict[str, Any]) -> None:
    made = {c["answer"]["chat_id"]: c for c in chats["made"]}
    assert {c["backend"] for c in made.values()} == set(stack.backend_urls)
    rows = stack.sql("SELECT id::text, user_id, status, top_k, index_build_id, generation_provider FROM triple_chat")
    assert {r[0] for r in rows} == set(made), "every chat made through either backend, and nothing else"
    logs = dict(stack.sql("SELECT chat_id::text, count(*) FROM triple_search_log GROUP BY chat_id"))
    ranks = stack.sql("SELECT chat_id::text, array_agg(rank ORDER BY rank) FROM triple_search_log GROUP BY chat_id")
    for chat_id, user_id, status, top_k, build_id, provider in rows:
        answer = made[chat_id]["answer"]
        assert (user_id, status, top_k) == (chats["user_id"], "ok", TOP_K)
        assert build_id == answer["index_build"]
        assert provider == answer["providers"]["generation"]["provider"]
        assert logs.get(chat_id) == top_k, f"chat {chat_id}: {logs.get(chat_id)} search log rows, top_k {top_k}"
    assert all(r == list(range(1, TOP_K + 1)) for _, r in ranks)
    assert Path(stack.data_dir / NEW_DOC).exists()
