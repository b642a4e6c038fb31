"""Session deadlines: Redis TTL and User.expires_at move together and only for the caller."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from triple.core import events
from triple.core import redis as triple_redis
from triple.sessions import services
from triple.sessions.models import User

pytestmark = pytest.mark.django_db
USER, ACTIVITY, SESSION = "/api/v1/triple/user/", "/api/v1/triple/activity/", "/api/v1/triple/session/"


def redis_deadline_ms(user_id: str) -> int | None:
    """The key's absolute expiry in ms (from PTTL), or None when the key is gone."""
    pttl = triple_redis.client().pttl(services.session_key(user_id))
    return None if pttl < 0 else round(time.time() * 1000) + pttl


def assert_in_sync(user_id: str) -> None:
    """The agreement the issue asks for: Redis and the database within one second of each other."""
    row = User.objects.get(user_id=user_id)
    redis_ms = redis_deadline_ms(user_id)
    if row.expired:
        assert redis_ms is None, "an ended session still has a Redis key"
        assert row.expires_at <= timezone.now()
    else:
        assert redis_ms is not None, "a live session has no Redis key"
        assert abs(redis_ms - row.expires_at.timestamp() * 1000) <= 1000


def wait_until_gone(user_id: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while triple_redis.client().exists(services.session_key(user_id)):
        assert time.monotonic() < deadline, "the Redis key did not expire"
        time.sleep(0.05)


def test_ttl_and_database_agree_after_create_touch_end_and_expiry(api: Any, settings: Any) -> None:
    settings.SESSION_TTL_SECONDS = 600
    created = api.post(USER, {}, format="json")
    assert created.status_code == 201
    user_id = created.json()["user_id"]
    assert_in_sync(user_id)
    row = User.objects.get(user_id=user_id)
    assert created.json()["expires_at"].replace("Z", "+00:00") == row.expires_at.isoformat()

    settings.SESSION_TTL_SECONDS = 1200  # a touch must move both sides to the new, later deadline
    touched = api.post(ACTIVITY, {"user_id": user_id}, format="json")
    assert touched.status_code == 200
    assert_in_sync(user_id)
    assert triple_redis.client().pttl(services.session_key(user_id)) > 600_000
    assert User.objects.get(user_id=user_id).expires_at > row.expires_at + timedelta(seconds=500)

    assert api.delete(SESSION, {"user_id": user_id}, format="json").status_code == 204
    assert_in_sync(user_id)
    assert User.objects.get(user_id=user_id).expired

    settings.SESSION_TTL_SECONDS = 1  # natural expiry: Redis drops the key at the deadline the row holds
    short = services.user_create()
    wait_until_gone(short.user_id)
    assert User.objects.get(user_id=short.user_id).expires_at <= timezone.now()
    assert services.session_sweep() >= 1
    row = User.objects.get(user_id=short.user_id)
    assert row.expired and row.expires_at == short.expires_at
    assert_in_sync(short.user_id)


def test_an_expired_session_is_refused_and_never_revived(api: Any, session_user: Any) -> None:
    triple_redis.client().delete(services.session_key(session_user.user_id))  # what the TTL does
    for method, path in (("post", ACTIVITY), ("post", "/api/v1/triple/chat/"), ("post", USER)):
        body = {"user_id": session_user.user_id, "question": "텐트 가격은?"}
        response = getattr(api, method)(path, body, format="json")
        assert response.status_code == 401, path
        assert response.json()["error"] == "session_expired"
    assert not triple_redis.client().exists(services.session_key(session_user.user_id))
    assert User.objects.get(user_id=session_user.user_id).expired
    assert_in_sync(session_user.user_id)


def test_two_users_one_ending_or_expiring_never_touches_the_other(api: Any, settings: Any) -> None:
    first = api.post(USER, {}, format="json").json()["user_id"]
    second = api.post(USER, {}, format="json").json()["user_id"]  # the most recent user
    second_deadline = User.objects.get(user_id=second).expires_at

    settings.SESSION_TTL_SECONDS += 300
    assert api.post(ACTIVITY, {"user_id": first}, format="json").status_code == 200
    assert User.objects.get(user_id=second).expires_at == second_deadline
    assert User.objects.get(user_id=first).expires_at > second_deadline + timedelta(seconds=200)
    assert_in_sync(first)
    assert_in_sync(second)

    assert api.delete(SESSION, {"user_id": first}, format="json").status_code == 204
    assert not User.objects.get(user_id=second).expired
    assert triple_redis.client().exists(services.session_key(second))
    assert api.post(ACTIVITY, {"user_id": second}, format="json").status_code == 200

    third = services.user_create()
    triple_redis.client().delete(services.session_key(third.user_id))  # its TTL ran out
    services.session_sweep()
    assert User.objects.get(user_id=third.user_id).expired
    assert not User.objects.get(user_id=second).expired
    assert_in_sync(second)
    assert_in_sync(third.user_id)


def test_concurrent_users_one_expiring_while_the_other_is_touched(settings: Any, transactional_db: Any) -> None:
    keeps, ends = services.user_create(), services.user_create()
    errors: list[BaseException] = []

    def keep_touching() -> None:
        try:
            for _ in range(5):
                services.session_resume(user_id=keeps.user_id)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def end_then_touch() -> None:
        services.session_expire(user=ends)
        try:
            services.session_resume(user_id=ends.user_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=keep_touching), threading.Thread(target=end_then_touch)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [getattr(e, "code", repr(e)) for e in errors] == ["session_expired"]
    assert not User.objects.get(user_id=keeps.user_id).expired
    assert User.objects.get(user_id=ends.user_id).expired
    assert_in_sync(keeps.user_id)
    assert_in_sync(ends.user_id)


def test_unknown_user_is_404_and_ids_are_unguessable(api: Any) -> None:
    response = api.post(ACTIVITY, {"user_id": "1"}, format="json")
    assert response.status_code == 404 and response.json()["error"] == "unknown_user"
    ids = {services.user_create().user_id for _ in range(5)}
    assert len(ids) == 5 and all(len(i) == 32 for i in ids)


def test_session_expiry_is_published_once_on_the_documented_channel(session_user: Any) -> None:
    pubsub = triple_redis.client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(events.channel("session_expired"))
    assert events.channel("session_expired") == triple_redis.key("events", "session_expired")
    try:
        services.session_expire(user=session_user)
        services.session_expire(user=session_user)  # already ended: nothing more is published
        received = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.2)
            if message:
                received.append(json.loads(message["data"]))
            elif received:
                break
        assert received == [{"user_id": session_user.user_id}]
    finally:
        pubsub.close()


def test_a_flush_restores_live_sessions_but_not_ended_ones(own_redis: Any, db: Any) -> None:
    live, ended = services.user_create(), services.user_create()
    services.session_expire(user=ended)
    own_redis.client().flushdb()
    assert services.session_validate(user_id=live.user_id).user_id == live.user_id
    assert_in_sync(live.user_id)
    with pytest.raises(Exception) as refused:
        services.session_validate(user_id=ended.user_id)
    assert getattr(refused.value, "code", "") == "session_expired"
    assert not own_redis.client().exists(services.session_key(ended.user_id))
    # After the restore, a single missing key is an expiry again.
    own_redis.client().delete(services.session_key(live.user_id))
    assert services.session_sweep() == 1
    assert User.objects.get(user_id=live.user_id).expired
