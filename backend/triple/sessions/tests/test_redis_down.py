"""Redis stopped mid-test: session endpoints answer 503 quickly and leave no half-written rows."""
from __future__ import annotations

from typing import Any

import pytest

from triple.conversations.models import Chat
from triple.sessions.models import User

pytestmark = pytest.mark.django_db
USER, ACTIVITY, CHAT = "/api/v1/triple/user/", "/api/v1/triple/activity/", "/api/v1/triple/chat/"
SESSION, HISTORY = "/api/v1/triple/session/", "/api/v1/triple/history/"


def test_redis_stopped_gives_503_and_consistent_rows(own_redis: Any, api: Any, built_index: Any) -> None:
    user_id = api.post(USER, {}, format="json").json()["user_id"]
    assert api.post(CHAT, {"user_id": user_id, "question": "반품은 며칠 이내에 가능한가요?"},
                    format="json").status_code == 200
    before_user = User.objects.get(user_id=user_id)
    users, chats = User.objects.count(), Chat.objects.count()

    own_redis.stop()

    calls = [
        ("post", USER, {}),
        ("post", USER, {"user_id": user_id}),
        ("post", ACTIVITY, {"user_id": user_id}),
        ("post", CHAT, {"user_id": user_id, "question": "텐트 가격은 얼마예요?"}),
        ("delete", SESSION, {"user_id": user_id}),
    ]
    for method, path, body in calls:
        response = getattr(api, method)(path, body, format="json")
        assert response.status_code == 503, (path, response.content)
        assert response.json() == {"error": "redis_unavailable", "message": response.json()["message"]}
    assert api.get(HISTORY, {"user_id": user_id}).status_code == 503

    assert User.objects.count() == users and Chat.objects.count() == chats
    after_user = User.objects.get(user_id=user_id)
    assert (after_user.expires_at, after_user.last_activity, after_user.expired) == (
        before_user.expires_at, before_user.last_activity, False)


def test_a_hung_redis_gives_503_instead_of_hanging(own_redis: Any, api: Any, db: Any) -> None:
    """A paused server accepts connections but never answers: the socket timeout must end the wait."""
    import os
    import signal

    user_id = api.post(USER, {}, format="json").json()["user_id"]
    users = User.objects.count()
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        from triple.core import redis as triple_redis

        triple_redis.client().connection_pool.disconnect()  # new connections, so the pause is felt at once
        created = api.post(USER, {}, format="json")
        assert created.status_code == 503 and created.json()["error"] == "redis_unavailable"
        touched = api.post(ACTIVITY, {"user_id": user_id}, format="json")
        assert touched.status_code == 503 and touched.json()["error"] == "redis_unavailable"
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    assert User.objects.count() == users
