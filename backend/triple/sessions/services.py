"""Session lifecycle. The deadline lives twice: `User.expires_at` in the database and the absolute expiry
(PXAT) of the Redis key `<prefix>:session:<user_id>`. Every write of a deadline goes through this module and
writes both inside one database transaction, so the two hold the same millisecond:

- Redis fails → the transaction rolls back and the caller gets 503 `redis_unavailable`;
- a key that vanished (TTL ran out) is never re-created by a touch (`SET … XX`): the session is expired;
- every function works on the caller's own row and key only.

Natural expiry needs no write: Redis drops the key at the deadline the row already holds. `session_sweep`
(Celery beat) later flags such rows `expired` and publishes `session_expired`.

A key that is missing means the session ended, with one exception: Redis losing its data (FLUSHDB, a
restart without persistence). The marker key `<prefix>:sessions_epoch` tells the two apart: when it is gone
too, every live session's key is rewritten from the database (same deadline) before a missing key is read
as an expiry, so a flush neither ends conversations nor revives ended ones.
"""
from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from triple.core import events
from triple.core import redis as triple_redis
from triple.core.errors import NotFound, Unauthorized
from triple.sessions.models import User

SWEEP_BATCH = 500


class _SessionGone(Exception):
    """The Redis key vanished between validation and touch; raised inside the transaction to roll it back."""


def session_key(user_id: str) -> str:
    return triple_redis.key("session", user_id)


def epoch_key() -> str:
    return triple_redis.key("sessions_epoch")


def _ensure_epoch(client: redis.Redis) -> bool:
    """Rewrite the keys of all live sessions if Redis lost its data; True when it had to."""
    if client.exists(epoch_key()):
        return False
    live = User.objects.filter(expired=False, expires_at__gt=timezone.now()).values_list("user_id", "expires_at")
    pipe = client.pipeline(transaction=False)
    for n, (user_id, deadline) in enumerate(live.iterator(chunk_size=SWEEP_BATCH), start=1):
        pipe.set(session_key(user_id), "1", pxat=_pxat(deadline), nx=True)
        if n % SWEEP_BATCH == 0:
            pipe.execute()
    pipe.set(epoch_key(), "1", nx=True)
    pipe.execute()
    return True


def _after_flush(client: redis.Redis, check: Callable[[], bool]) -> bool:
    """`check()`, and once more after `_ensure_epoch` if it failed. The second check runs even when another
    request restored the keys first (`_ensure_epoch` False): skipping it expired live sessions in that race
    right after a Redis restart (bench/faults.py saw 5 of 16)."""
    if check():
        return True
    _ensure_epoch(client)
    return check()


def _new_deadline() -> tuple[datetime, datetime]:
    """(now, deadline) with the deadline cut to whole milliseconds, the resolution Redis keeps."""
    now = timezone.now()
    deadline = now + timedelta(seconds=settings.SESSION_TTL_SECONDS)
    return now, deadline.replace(microsecond=deadline.microsecond // 1000 * 1000)


def _pxat(deadline: datetime) -> int:
    return round(deadline.timestamp() * 1000)


def _expired_error() -> Unauthorized:
    return Unauthorized("The session has expired; start a new one with POST user/.", code="session_expired")


def user_create() -> User:
    """A new user with an unguessable id (32 url-safe characters, 192 random bits) and a fresh session.

    The row and the Redis key are written in one transaction: if Redis is down nothing is left behind.
    """
    now, deadline = _new_deadline()
    user_id = secrets.token_urlsafe(24)
    try:
        client = triple_redis.client()
        _ensure_epoch(client)
        with transaction.atomic():
            user = User.objects.create(user_id=user_id, last_activity=now, expires_at=deadline)
            client.set(session_key(user_id), "1", pxat=_pxat(deadline))
    except redis.RedisError as exc:
        raise triple_redis.unavailable(exc) from None
    return user


def session_validate(*, user_id: str, check_key: bool = True) -> User:
    """The live session's user. Unknown ids get 404 `unknown_user`; ended or expired sessions get 401
    `session_expired` and are never revived. Redis unreachable → 503 `redis_unavailable`.

    `check_key=False` skips the Redis read, for callers that touch the session next: the touch's `SET XX`
    finds a vanished key itself (one round trip instead of two)."""
    user = User.objects.filter(user_id=user_id).first()
    if user is None:
        raise NotFound("No session with this user_id; create one with POST user/.", code="unknown_user")
    if user.expired:
        raise _expired_error()
    if user.expires_at <= timezone.now():
        session_expire(user=user)
        raise _expired_error()
    if not check_key:
        return user
    try:
        client = triple_redis.client()
        alive = _after_flush(client, lambda: bool(client.exists(session_key(user_id))))
    except redis.RedisError as exc:
        raise triple_redis.unavailable(exc) from None
    if not alive:
        session_expire(user=user)
        raise _expired_error()
    return user


def session_touch(*, user: User) -> User:
    """Extend only this user's session to now + SESSION_TTL_SECONDS, in the database and Redis together.

    Only a live key is extended (`SET XX`): a session whose key expired after validation is expired, not
    revived, and the caller gets 401 `session_expired`.
    """
    try:
        client = triple_redis.client()
        extended = _after_flush(client, lambda: _extend(client, user))
    except redis.RedisError as exc:
        raise triple_redis.unavailable(exc) from None
    if not extended:
        session_expire(user=user)
        raise _expired_error()
    return user


def _extend(client: redis.Redis, user: User) -> bool:
    now, deadline = _new_deadline()
    try:
        with transaction.atomic():
            rows = User.objects.filter(user_id=user.user_id, expired=False).update(
                expires_at=deadline, last_activity=now)
            if not rows or not client.set(session_key(user.user_id), "1", pxat=_pxat(deadline), xx=True):
                raise _SessionGone  # roll the row back: the deadline moves in both places or in neither
    except _SessionGone:
        return False
    user.expires_at, user.last_activity = deadline, now
    return True


def session_resume(*, user_id: str) -> User:
    """Validate and extend a session (each question, POST user/ with a user_id, POST activity/)."""
    return session_touch(user=session_validate(user_id=user_id, check_key=False))


def session_expire(*, user: User) -> bool:
    """End one session: the row is flagged `expired` with a deadline no later than now, the Redis session
    and history keys are deleted, and `session_expired` is published. Chats (audit rows) are untouched.

    Idempotent: returns False (and publishes nothing) when the row was already expired.
    """
    now = timezone.now()
    changed = User.objects.filter(user_id=user.user_id, expired=False).update(
        expired=True, expires_at=Least(F("expires_at"), Value(now)))
    user.expired = True
    user.expires_at = min(user.expires_at, now)
    # If Redis is away the key still expires on its own at the deadline; the row already says expired.
    with contextlib.suppress(redis.RedisError):
        triple_redis.client().delete(session_key(user.user_id), triple_redis.key("history", user.user_id))
    if changed:
        events.publish("session_expired", {"user_id": user.user_id})
    return bool(changed)


def session_sweep() -> int:
    """Flag every user whose Redis key is gone (or whose deadline passed) as expired; returns how many.

    Run periodically by Celery beat (`triple.sessions.tasks.session_sweep_task`). If Redis is unreachable
    it raises instead of expiring everybody.
    """
    client = triple_redis.client()
    _ensure_epoch(client)
    count = 0
    live = User.objects.filter(expired=False).order_by("user_id")
    batch: list[User] = []
    for user in live.iterator(chunk_size=SWEEP_BATCH):
        batch.append(user)
        if len(batch) == SWEEP_BATCH:
            count += _sweep_batch(client, batch)
            batch = []
    if batch:
        count += _sweep_batch(client, batch)
    return count


def _sweep_batch(client: redis.Redis, users: list[User]) -> int:
    pipe = client.pipeline(transaction=False)
    for user in users:
        pipe.exists(session_key(user.user_id))
    alive = pipe.execute()
    now = timezone.now()
    count = 0
    for user, exists in zip(users, alive, strict=True):
        if (not exists or user.expires_at <= now) and session_expire(user=user):
            count += 1
    return count
