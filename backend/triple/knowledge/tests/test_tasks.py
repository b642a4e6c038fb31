"""Celery wiring: routes, task options, beat schedule, the worker heartbeat, transient-error retries."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from celery.schedules import crontab
from config import celery as celery_config
from django.db import OperationalError

from triple.knowledge import tasks
from triple.providers.errors import ProviderBadRequest, ProviderRateLimited


def test_index_tasks_are_routed_to_the_index_queue_and_acknowledged_late() -> None:
    task = tasks.index_build_task
    assert task.acks_late and task.reject_on_worker_lost
    assert task.time_limit and task.soft_time_limit and task.soft_time_limit < task.time_limit
    from django.conf import settings

    assert celery_config.app.conf.task_routes["triple.knowledge.tasks.*"]["queue"] == settings.INDEX_QUEUE
    assert celery_config.app.conf.task_default_queue == settings.DEFAULT_QUEUE
    options = celery_config.app.conf.broker_transport_options
    assert options["visibility_timeout"] > task.time_limit  # never redelivered while still running


@pytest.mark.parametrize(("value", "expected"), [
    ("", None), ("0", None), ("3600", timedelta(hours=1)),
    ("0 3 * * *", crontab(minute="0", hour="3")), ("*/30 * * * 1-5", crontab(minute="*/30", day_of_week="1-5")),
])
def test_index_schedule_is_seconds_or_cron(value: str, expected: Any) -> None:
    assert celery_config.parse_schedule(value) == expected


def test_a_malformed_index_schedule_is_an_error() -> None:
    with pytest.raises(ValueError, match="INDEX_SCHEDULE"):
        celery_config.parse_schedule("every night")


def test_beat_sweeps_sessions_and_reindexes_only_when_asked(settings: Any) -> None:
    settings.INDEX_SCHEDULE = ""
    assert set(celery_config.beat_schedule()) == {"session-sweep", "index-reap-stale"}
    settings.INDEX_SCHEDULE = "900"
    schedule = celery_config.beat_schedule()
    assert schedule["index-data-dir"]["task"] == "triple.knowledge.tasks.index_scheduled_task"
    assert schedule["index-data-dir"]["schedule"] == timedelta(seconds=900)
    assert schedule["session-sweep"]["task"] == "triple.sessions.tasks.session_sweep_task"
    assert {e["options"]["queue"] for e in schedule.values()} == {settings.DEFAULT_QUEUE}
    celery_config.app.loader.import_default_modules()  # what a worker does at start: autodiscover tasks.py
    assert set(celery_config.app.tasks) >= {e["task"] for e in schedule.values()}


def test_the_worker_heartbeat_has_a_ttl() -> None:
    from triple.core import redis as triple_redis

    celery_config.write_worker_heartbeat("w1@test")
    key = triple_redis.key("worker_heartbeat")
    assert triple_redis.client().get(key).endswith(" w1@test")
    assert 0 < triple_redis.client().ttl(key) <= celery_config.HEARTBEAT_TTL_SECONDS


@pytest.mark.parametrize(("error", "transient"), [
    (redis.ConnectionError("down"), True), (OperationalError("database is locked"), True),
    (ProviderRateLimited("429"), True), (ProviderBadRequest("400"), False), (ValueError("bug"), False),
])
def test_only_transient_errors_are_retried(error: Exception, transient: bool) -> None:
    assert tasks._transient(error) is transient


@pytest.mark.django_db
def test_the_scheduled_task_joins_a_waiting_build(private_queues: tuple[str, str]) -> None:
    first = tasks.index_scheduled_task.apply().get()
    second = tasks.index_scheduled_task.apply().get()
    assert first == second and first["build_id"]


@pytest.mark.django_db
def test_a_build_that_waited_too_long_behind_another_is_marked_failed(private_queues: tuple[str, str]) -> None:
    from triple.knowledge import services
    from triple.knowledge.models import IndexBuild

    running = services.index_build_create()
    IndexBuild.objects.filter(id=running.id).update(status="running")
    waiting = services.index_build_request(reason="upload")
    tasks.index_build_task.push_request(retries=tasks.index_build_task.max_retries)
    try:
        with pytest.raises(services.BuildBusy):
            tasks.index_build_task.run(build_id=waiting.id)
    finally:
        tasks.index_build_task.pop_request()
    waiting.refresh_from_db()
    assert waiting.status == "failed" and waiting.error.startswith("gave up waiting")
