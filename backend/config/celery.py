"""Celery application: broker, queues and routes come from Django settings (CELERY_*).

Beat runs the session-expiry sweep, the reaper of index builds whose worker died, and, when INDEX_SCHEDULE
is set, a re-index of the data directory.
Every worker writes a heartbeat to Redis (read by GET health/).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from typing import Any

from celery import Celery, bootsteps
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

log = logging.getLogger(__name__)
HEARTBEAT_TTL_SECONDS = 60

app = Celery("triple")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def parse_schedule(value: str) -> timedelta | crontab | None:
    """INDEX_SCHEDULE: "" (off), a number of seconds ("3600"), or five cron fields ("0 3 * * *")."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return timedelta(seconds=int(value)) if int(value) > 0 else None
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"INDEX_SCHEDULE={value!r}: give seconds or five cron fields")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
                   day_of_week=day_of_week)


def beat_schedule() -> dict[str, dict[str, Any]]:
    from django.conf import settings

    schedule: dict[str, dict[str, Any]] = {
        "session-sweep": {
            "task": "triple.sessions.tasks.session_sweep_task",
            "schedule": timedelta(seconds=max(5, settings.SESSION_SWEEP_SECONDS)),
            "options": {"queue": settings.DEFAULT_QUEUE, "expires": settings.SESSION_SWEEP_SECONDS},
        },
        "index-reap-stale": {
            "task": "triple.knowledge.tasks.index_reap_stale_task",
            "schedule": timedelta(seconds=max(10, settings.INDEX_STALE_SECONDS // 2)),
            "options": {"queue": settings.DEFAULT_QUEUE, "expires": max(10, settings.INDEX_STALE_SECONDS // 2)},
        },
    }
    index_every = parse_schedule(settings.INDEX_SCHEDULE)
    if index_every is not None:
        # The request itself is quick, so it goes to the default queue; the build it queues runs on INDEX_QUEUE.
        schedule["index-data-dir"] = {
            "task": "triple.knowledge.tasks.index_scheduled_task",
            "schedule": index_every,
            "options": {"queue": settings.DEFAULT_QUEUE},
        }
    return schedule


@app.on_after_configure.connect
def _install_beat_schedule(sender: Celery, **kwargs: Any) -> None:
    sender.conf.beat_schedule = beat_schedule()


def write_worker_heartbeat(hostname: str) -> None:
    """Tell GET health/ that a worker is alive: one key, refreshed every WORKER_HEARTBEAT_SECONDS, 60 s TTL."""
    from django.utils import timezone
    from triple.core import redis as triple_redis

    triple_redis.client().set(triple_redis.key("worker_heartbeat"), f"{timezone.now().isoformat()} {hostname}",
                              ex=HEARTBEAT_TTL_SECONDS)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A daemon thread in the worker's main process, so a long build in a pool process never delays it."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, worker: Any) -> None:
        from django.conf import settings

        hostname = getattr(worker, "hostname", None) or socket.gethostname()

        def beat() -> None:
            while not self._stop.is_set():
                try:
                    write_worker_heartbeat(hostname)
                except Exception as exc:  # Redis away: health shows it; the worker carries on
                    log.warning("worker heartbeat not written: %s", exc)
                self._stop.wait(settings.WORKER_HEARTBEAT_SECONDS)

        self._thread = threading.Thread(target=beat, name="triple-worker-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, worker: Any) -> None:
        self._stop.set()


app.steps["worker"].add(WorkerHeartbeat)
