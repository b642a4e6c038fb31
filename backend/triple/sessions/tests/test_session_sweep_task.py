from __future__ import annotations

from typing import Any

import pytest

from triple.core import redis as triple_redis
from triple.sessions.models import User
from triple.sessions.services import session_key, user_create
from triple.sessions.tasks import session_sweep_task

pytestmark = pytest.mark.django_db


def test_the_beat_task_expires_sessions_whose_redis_key_is_gone(settings: Any) -> None:
    alive, lapsed = user_create(), user_create()
    triple_redis.client().delete(session_key(lapsed.user_id))
    assert session_sweep_task.apply().get() == 1
    assert User.objects.get(user_id=lapsed.user_id).expired
    assert not User.objects.get(user_id=alive.user_id).expired
