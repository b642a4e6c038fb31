"""The index pipeline end to end, through the API, with a real Celery worker on the real Redis.

Each test starts its own worker(s) on private queues, against this run's test database and vector store
and a private data directory (see conftest.py).
"""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from triple.knowledge import selectors, services
from triple.knowledge.tests.celery_worker import wait_for
from triple.knowledge.tests.conftest import API, wait_task
from triple.retrieval.vector_store import vector_store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

KAYAK_MD = """# Kayak rental

## Prices
Kayak rentals at the Triple river base cost 35,000 won per day and include a life jacket and a paddle.

## Hours
The river base lends kayaks from 9 a.m. to 5 p.m., April to October.
"""


def upload(client: Any, name: str, content: bytes) -> Any:
    return client.post(f"{API}/documents/", {"file": SimpleUploadedFile(name, content)}, format="multipart")


def rebuild(client: Any) -> dict[str, Any]:
    response = client.post(f"{API}/index/rebuild/")
    assert response.status_code == 202, response.content
    body: dict[str, Any] = response.json()
    return body


def ask(client: Any, question: str) -> dict[str, Any]:
    user = client.post(f"{API}/user/", {}, format="json").json()["user_id"]
    response = client.post(f"{API}/chat/", {"user_id": user, "question": question}, format="json")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def documents(client: Any) -> dict[str, dict[str, Any]]:
    return {d["source"]: d for d in client.get(f"{API}/documents/").json()["documents"]}


def notes(count: int) -> str:
    """A text document of `count` paragraphs, one chunk each."""
    return "\n\n".join(
        f"Field note {n}: lantern model FN-{1000 + n} ran {12 + n % 7} hours at camp site {n % 13}, "
        f"and the testers rated its handle {n % 5 + 1} out of five." for n in range(count)
    ) + "\n"


def test_upload_is_indexed_and_answerable_and_delete_removes_it(celery_workers: Any, operator_api: Any) -> None:
    worker = celery_workers()
    base = wait_task(operator_api, rebuild(operator_api)["task_id"])
    assert base["state"] == "succeeded" and base["result"]["embedded"] == base["result"]["chunks"] > 20

    response = upload(operator_api, "kayak rental (en).md", KAYAK_MD.encode())
    assert response.status_code == 202, response.content
    queued = response.json()
    document = queued["document"]
    assert document["source"] == "uploads/kayak rental (en).md" and document["status"] == "queued"
    assert set(document) == {"id", "source", "kind", "status", "error", "rows", "size_bytes", "sha256",
                             "created_at", "indexed_at"}
    final = wait_task(operator_api, queued["task_id"])
    assert final["state"] == "succeeded", final
    # Only the new document was embedded; everything else was copied from the active build.
    listed = documents(operator_api)["uploads/kayak rental (en).md"]
    assert listed["status"] == "indexed" and listed["indexed_at"] and listed["rows"] == 2
    assert final["result"]["embedded"] == 2 and final["result"]["copied"] == base["result"]["chunks"]

    answer = ask(operator_api, "How much does a kayak rental cost per day?")
    assert answer["index_build"] == final["build_id"]
    assert answer["sources"][0]["document"] == "uploads/kayak rental (en).md"
    assert "35,000" in answer["response"]

    # The worker announces itself to GET health/.
    health = operator_api.get(f"{API}/health/").json()
    assert health["checks"]["worker"]["ok"] and worker.name in health["checks"]["worker"]["last_seen"]

    deleted = operator_api.delete(f"{API}/documents/{document['id']}/")
    assert deleted.status_code == 202, deleted.content
    gone = wait_task(operator_api, deleted.json()["task_id"])
    assert gone["state"] == "succeeded" and gone["result"]["chunks"] == base["result"]["chunks"]
    assert gone["result"]["embedded"] == 0
    assert "uploads/kayak rental (en).md" not in documents(operator_api)
    assert not (Path(worker.data_dir) / "uploads" / "kayak rental (en).md").exists()
    active = selectors.active_build()
    assert active is not None and active.id == gone["build_id"]
    kayak_chunks = [s["chunk_id"] for s in answer["sources"] if s["document"].startswith("uploads/")]
    assert not set(kayak_chunks) & set(selectors.build_chunk_ids(build_id=active.id))  # BM25 entries
    assert vector_store().embeddings(active.collection, kayak_chunks) == {}  # vectors
    after = ask(operator_api, "How much does a kayak rental cost per day?")
    assert after["index_build"] == active.id
    assert all(not s["document"].startswith("uploads/") for s in after["sources"])


def test_unchanged_rebuild_embeds_nothing_and_a_changed_document_only_its_own_chunks(
        celery_workers: Any, operator_api: Any, pipeline_corpus: Path) -> None:
    celery_workers()
    first = wait_task(operator_api, rebuild(operator_api)["task_id"])
    assert first["state"] == "succeeded"

    again = wait_task(operator_api, rebuild(operator_api)["task_id"])
    assert again["state"] == "unchanged", again
    assert again["result"]["embedded"] == 0 and again["result"]["chunks"] == first["result"]["chunks"]
    assert selectors.active_build().id == first["build_id"]  # type: ignore[union-attr]
    assert again["result"]["seconds"] < first["result"]["seconds"]

    faq = pipeline_corpus / "docs" / "faq_en.md"
    faq.write_text(faq.read_text(encoding="utf-8") + "\n## Pets\nDogs on a leash are welcome in every store.\n",
                   encoding="utf-8")
    changed = wait_task(operator_api, rebuild(operator_api)["task_id"])
    assert changed["state"] == "succeeded", changed
    counts = changed["result"]
    assert counts["chunks"] == first["result"]["chunks"] + 1
    assert 1 <= counts["embedded"] <= 2 and counts["copied"] == counts["chunks"] - counts["embedded"]
    assert selectors.active_build().id == changed["build_id"]  # type: ignore[union-attr]


def test_concurrent_rebuild_requests_and_an_upload_during_a_build(
        celery_workers: Any, operator_api: Any, settings: Any) -> None:
    from rest_framework.test import APIClient

    celery_workers(EMBED_BATCH_SIZE="2", INDEX_TEST_EMBED_DELAY="0.3")
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def request_rebuild() -> None:
        from django.db import connection

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {settings.OPERATOR_TOKEN}")
        barrier.wait()
        answers.append(client.post(f"{API}/index/rebuild/"))
        connection.close()

    threads = [threading.Thread(target=request_rebuild) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in answers) == [202, 409]
    accepted = next(r.json() for r in answers if r.status_code == 202)
    refused = next(r.json() for r in answers if r.status_code == 409)
    assert refused["error"] == "build_in_progress" and refused["build_id"] == accepted["build_id"]

    # An upload while that build runs is not lost: it queues one build behind it (never a 409).
    wait_task(operator_api, accepted["task_id"], until=lambda p: p["state"] == "running")
    response = upload(operator_api, "kayak.md", KAYAK_MD.encode())
    assert response.status_code == 202, response.content
    follow_up = response.json()
    assert follow_up["task_id"] != accepted["task_id"]
    again = upload(operator_api, "notes.txt", notes(3).encode())
    assert again.status_code == 202 and again.json()["task_id"] == follow_up["task_id"]  # joins the waiting build
    assert operator_api.post(f"{API}/index/rebuild/").status_code == 409
    index = operator_api.get(f"{API}/index/").json()
    assert [b["status"] for b in index["in_progress"]] == ["running", "queued"]

    first = wait_task(operator_api, accepted["task_id"])
    second = wait_task(operator_api, follow_up["task_id"])
    assert first["state"] == second["state"] == "succeeded", (first, second)
    assert second["result"]["chunks"] == first["result"]["chunks"] + 2 + 3
    assert second["result"]["embedded"] == 5
    builds = {b["id"]: b for b in operator_api.get(f"{API}/index/").json()["builds"]}
    assert builds[second["build_id"]]["started_at"] >= builds[first["build_id"]]["finished_at"]
    listed = documents(operator_api)
    assert listed["uploads/kayak.md"]["status"] == listed["uploads/notes.txt"]["status"] == "indexed"
    assert selectors.active_build().id == second["build_id"]  # type: ignore[union-attr]


def test_worker_killed_mid_build_leaves_the_old_index_serving_and_a_rerun_finishes(
        celery_workers: Any, operator_api: Any, pipeline_corpus: Path, settings: Any) -> None:
    built = services.index_build_run(build_id=services.index_build_create().id)  # in-process: quicker
    old = {"build_id": built.id, "result": built.counts}

    (pipeline_corpus / "docs" / "zz_field_notes_en.txt").write_text(notes(24), encoding="utf-8")
    slow = celery_workers(EMBED_BATCH_SIZE="2", INDEX_TEST_EMBED_DELAY="0.4")
    doomed = rebuild(operator_api)
    old_chunks = old["result"]["chunks"]
    # The new document's chunks come last: kill once a few of its batches are stored.
    progress = wait_task(operator_api, doomed["task_id"], until=lambda p: p["progress"]["stage"] == "embed"
                         and p["progress"]["done"] >= old_chunks + 6)
    assert progress["state"] == "running", progress
    slow.kill()  # SIGKILL the worker and its pool process at once

    # The old index is still active and answers; the killed build blocks a second one for now.
    assert selectors.active_build().id == old["build_id"]  # type: ignore[union-attr]
    answer = ask(operator_api, "Which gas canister does the compact stove use?")
    assert answer["index_build"] == old["build_id"] and answer["sources"]
    assert operator_api.post(f"{API}/index/rebuild/").json()["error"] == "build_in_progress"

    # Once its heartbeat is older than INDEX_STALE_SECONDS the killed build is marked failed (resumable),
    # and a rebuild request is accepted.
    settings.INDEX_STALE_SECONDS = 2

    def accepted_rebuild() -> dict[str, Any] | None:
        response = operator_api.post(f"{API}/index/rebuild/")
        return response.json() if response.status_code == 202 else None

    rerun_request = wait_for("the killed build to be reaped", accepted_rebuild, timeout=30, interval=0.5)
    killed = operator_api.get(f"{API}/tasks/{doomed['task_id']}/").json()
    assert killed["state"] == "failed" and "worker lost" in killed["error"]

    celery_workers()
    rerun = wait_task(operator_api, rerun_request["task_id"])
    assert rerun["state"] == "succeeded", rerun
    counts = rerun["result"]
    assert counts["chunks"] == old_chunks + 24
    # The vectors the killed build stored were reused: only the rest of the new document was embedded.
    assert counts["embedded"] <= 24 - 6 and counts["copied"] >= old_chunks + 6
    assert selectors.active_build().id == rerun["build_id"]  # type: ignore[union-attr]
    answer = ask(operator_api, "How many hours did lantern model FN-1003 run?")
    assert answer["index_build"] == rerun["build_id"]
    assert any(s["document"] == "docs/zz_field_notes_en.txt" for s in answer["sources"])


def test_a_killed_pool_process_gives_the_task_back_and_the_same_task_finishes(
        celery_workers: Any, operator_api: Any) -> None:
    worker = celery_workers(EMBED_BATCH_SIZE="2", INDEX_TEST_EMBED_DELAY="0.3")
    queued = rebuild(operator_api)
    wait_task(operator_api, queued["task_id"], until=lambda p: p["progress"]["stage"] == "embed"
              and p["progress"]["done"] >= 6)
    (pool_pid,) = worker.children()
    os.kill(pool_pid, signal.SIGKILL)  # acks_late + reject_on_worker_lost: the message goes back to the queue

    final = wait_task(operator_api, queued["task_id"])
    assert final["state"] == "succeeded", final
    assert final["result"]["resumed"] >= 6  # vectors written before the kill were kept
    assert final["result"]["embedded"] == final["result"]["chunks"] - final["result"]["resumed"]
    assert worker.alive() and pool_pid not in worker.children()
    assert "WorkerLostError" in worker.log_text()
