"""Celery tasks of the sessions domain: thin, they call one service."""
from __future__ import annotations

from celery import shared_task

from triple.sessions import services


@shared_task(name="triple.sessions.tasks.session_sweep_task", ignore_result=True)
def session_sweep_task() -> int:
    """Celery beat: mark sessions whose Redis key is gone (or whose deadline passed) as expired."""
    return services.session_sweep()
