"""Celery tasks of the knowledge domain: thin, they take ids and call services.

Routed to the `INDEX_QUEUE` queue (settings.CELERY_TASK_ROUTES). Index builds are acknowledged late and
rejected back to the queue when their worker dies, so a build killed mid-way is delivered again and
resumes from the vectors it had already written.
"""
from __future__ import annotations

from typing import Any

import redis
from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from triple.knowledge import services
from triple.providers.errors import ProviderError

WAIT_SECONDS = 5  # how often a build waiting behind a running one checks again
TRANSIENT_RETRIES = 3


def _transient(exc: Exception) -> bool:
    """Errors worth retrying: the broker/cache or the database briefly away, a provider's 429/5xx/timeout."""
    if isinstance(exc, ProviderError):
        return exc.retryable
    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OperationalError, InterfaceError))


@shared_task(
    bind=True,
    name="triple.knowledge.tasks.index_build_task",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=settings.INDEX_TASK_TIME_LIMIT,
    soft_time_limit=max(60, settings.INDEX_TASK_TIME_LIMIT - 60),
    # Waiting behind a running build is bounded by the stale-build reaper; this only caps a runaway loop.
    max_retries=settings.INDEX_TASK_TIME_LIMIT // WAIT_SECONDS + 100,
)
def index_build_task(self: Any, build_id: int, transient_failures: int = 0) -> dict[str, Any]:
    """Run index build `build_id` (see services.index_build_run). Waits while another build runs; retries
    transient errors a few times (the rerun resumes from the vectors already written); fails otherwise."""
    try:
        build = services.index_build_run(build_id=build_id)
    except services.BuildBusy as exc:
        if self.request.retries >= self.max_retries:
            services.index_build_give_up(build_id=build_id, error=f"gave up waiting: {exc.message}")
            raise
        raise self.retry(exc=exc, countdown=WAIT_SECONDS) from None
    except Exception as exc:
        if _transient(exc) and transient_failures < TRANSIENT_RETRIES:
            raise self.retry(exc=exc, countdown=10 * 2**transient_failures,
                             kwargs={"build_id": build_id, "transient_failures": transient_failures + 1}) from None
        raise
    return {"build_id": build.id, "status": build.status, "counts": build.counts}


@shared_task(name="triple.knowledge.tasks.index_scheduled_task")
def index_scheduled_task() -> dict[str, Any]:
    """Celery beat's re-index of the data directory (INDEX_SCHEDULE): joins a waiting build or queues one."""
    build = services.index_build_request(reason="schedule")
    return {"build_id": build.id, "task_id": build.task_id}


@shared_task(name="triple.knowledge.tasks.index_reap_stale_task", ignore_result=True)
def index_reap_stale_task() -> int:
    """Celery beat: mark builds whose worker died as failed even when nobody requests a new build."""
    return services.index_build_reap_stale()
