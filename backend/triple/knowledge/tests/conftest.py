"""Fixtures of the index pipeline tests: a private corpus and real Celery workers on private queues."""
from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from triple.knowledge.tests.celery_worker import CeleryWorker, wait_for
from triple.retrieval import bm25

API = "/api/v1/triple"
FINISHED = {"succeeded", "unchanged", "failed"}


# 27 chunks: enough to show what an incremental build skips, small enough to build in seconds.
PIPELINE_DOCS = ("faq_en.md", "shipping_rates_en.md", "stove_manual_en.md", "warranty_ko.txt")


@pytest.fixture
def pipeline_corpus(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """A private data directory (part of the shipped corpus) that both this process and the workers use."""
    root = tmp_path / "data"
    (root / "docs").mkdir(parents=True)
    for name in PIPELINE_DOCS:
        shutil.copy(settings.DATA_DIR / "docs" / name, root / "docs" / name)
    settings.DATA_DIR = root
    settings.UPLOAD_DIR = root / "uploads"
    bm25._cache.clear()
    yield root
    bm25._cache.clear()


def _forget_queues(queues: set[str]) -> None:
    """Remove this test's queues from Redis, and any of their messages left unacknowledged by a killed
    worker (kombu keeps those in one shared hash and would requeue them an hour later)."""
    from triple.core import redis as triple_redis

    client = triple_redis.client()
    for queue in queues:
        keys = list(client.scan_iter(f"{queue}*")) + list(client.scan_iter(f"_kombu.binding.{queue}"))
        if keys:
            client.delete(*keys)
    for tag, payload in client.hscan_iter("unacked"):
        try:
            routing_key = json.loads(payload)[2]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key in queues:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


@pytest.fixture
def private_queues(settings: Any) -> Iterator[tuple[str, str]]:
    """Queue names of this test alone, so no other worker (another test run's, `make run`'s) takes its
    tasks; removed from Redis afterwards."""
    run = f"{settings.REDIS_KEY_PREFIX}-{uuid.uuid4().hex[:6]}"
    settings.INDEX_QUEUE, settings.DEFAULT_QUEUE = f"{run}-indexing", f"{run}-default"
    yield settings.INDEX_QUEUE, settings.DEFAULT_QUEUE
    _forget_queues({settings.INDEX_QUEUE, settings.DEFAULT_QUEUE})


@pytest.fixture
def celery_workers(transactional_db: Any, private_queues: tuple[str, str], pipeline_corpus: Path,
                   tmp_path: Path) -> Iterator[Callable[..., CeleryWorker]]:
    """Start real workers on this test's own queues: `start(**env)`; all are stopped (by PID) at the end,
    before the test database is flushed."""
    started: list[CeleryWorker] = []
    index_queue, default_queue = private_queues

    def start(ready: bool = True, **env: str) -> CeleryWorker:
        worker = CeleryWorker(data_dir=pipeline_corpus, log_dir=tmp_path, index_queue=index_queue,
                              default_queue=default_queue, extra_env=env).start()
        started.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_task(client: Any, task_id: str, *, timeout: float = 90,
              until: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """Poll GET tasks/<id>/ until the build finished (or `until(payload)` holds)."""
    payload: dict[str, Any] = {}

    def done() -> bool:
        nonlocal payload
        response = client.get(f"{API}/tasks/{task_id}/")
        assert response.status_code == 200, response.content
        payload = response.json()
        return bool(until(payload)) if until is not None else payload["state"] in FINISHED

    try:
        wait_for(f"task {task_id}", done, timeout=timeout, interval=0.2)
    except AssertionError:
        raise AssertionError(f"task {task_id} not done after {timeout} s; last seen {payload}") from None
    return payload
