"""Session lifecycle. Every change of a deadline goes through `_set_deadline`, which writes the database
row and the Redis key's absolute expiry together, so the two never disagree."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from triple.core import events
from triple.core import redis as triple_redis
from triple.core.errors import NotFound, Unauthorized
from triple.sessions.models import User


def session_key(user_id: str) -> str:
    return triple_redis.key("session", user_id)


def _set_deadline(user: User, deadline: datetime) -> None:
    """Write the deadline to the database and Redis in one step; if Redis fails, the row is rolled back."""
    now = timezone.now()
    try:
        with transaction.atomic():
            User.objects.filter(user_id=user.user_id).update(expires_at=deadline, last_activity=now, expired=False)
            triple_redis.client().set(session_key(user.user_id), "1", pxat=int(deadline.timestamp() * 1000))
    except redis.RedisError as exc:
        raise triple_redis.unavailable(exc) from None
    user.expires_at, user.last_activity, user.expired = deadline, now, False


def user_create() -> User:
    """A new user with an unguessable id and a fresh session."""
    now = timezone.now()
    deadline = now + timedelta(seconds=settings.SESSION_TTL_SECONDS)
    user_id = secrets.token_urlsafe(24)
    try:
        with transaction.atomic():
            user = User.objects.create(user_id=user_id, last_activity=now, expires_at=deadline)
            triple_redis.client().set(session_key(user_id), "1", pxat=int(deadline.timestamp() * 1000))
    except redis.RedisError as exc:
        raise triple_redis.unavailable(exc) from None
    return user


def session_validate(*, user_id: str) -> User:
    """The live session's user. Unknown ids get 404; expired sessions 401 and are never revived."""
    user = User.objects.filter(user_id=user_id).first()
    if user is None:
        raise NotFound("No session with this user_id; create one with POST user/.", code="unknown_user")
    if user.expired or user.expires_at <= timezone.now():
        session_expire(user=user)
        raise Unauthorized("The session has expired; start a new one with POST user/.", code="session_expired")
    try:
        alive = triple_redis.client().exists(session_key(user_id))
    except redis.RedisError as exc:
        raise triple_redis.unavailable(exc) from None
    if not alive:
        session_expire(user=user)
        raise Unauthorized("The session has expired; start a new one with POST user/.", code="session_expired")
    return user


def session_touch(*, user: User) -> User:
    """Extend only this user's session by the configured TTL."""
    _set_deadline(user, timezone.now() + timedelta(seconds=settings.SESSION_TTL_SECONDS))
    return user


def session_resume(*, user_id: str) -> User:
    return session_touch(user=session_validate(user_id=user_id))


def session_expire(*, user: User) -> None:
    """End a session in the database and Redis. Audit rows (chats) are untouched."""
    now = timezone.now()
    User.objects.filter(user_id=user.user_id).update(expired=True, expires_at=min(user.expires_at, now))
    user.expired = True
    try:
        client = triple_redis.client()
        client.delete(session_key(user.user_id), triple_redis.key("history", user.user_id))
    except redis.RedisError:
        pass  # the key expires on its own; the database already says expired
    events.publish("session_expired", {"user_id": user.user_id})


def session_sweep() -> int:
    """Mark users whose Redis key is gone (or whose deadline passed) as expired. Run by Celery beat."""
    count = 0
    client = triple_redis.client()
    for user in User.objects.filter(expired=False).iterator():
        if user.expires_at <= timezone.now() or not client.exists(session_key(user.user_id)):
            session_expire(user=user)
            count += 1
    return count
