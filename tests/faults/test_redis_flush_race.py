"""Right after Redis restarts empty, two requests race to restore the session keys. The one that loses the
race must still find its session alive (bench/faults.py once saw 5 of 16 sessions expired here)."""
from __future__ import annotations

from typing import Any

import pytest
from triple.core import redis as triple_redis
from triple.sessions import services

pytestmark = pytest.mark.django_db


class RestoredMeanwhile:
    """The Redis client as one request sees it: its first look at its session key happens before another
    request restores every key (which that request does right then, through the real code)."""

    def __init__(self, client: Any, key: str) -> None:
        self.client, self.key, self.raced = client, key, False

    def exists(self, *keys: str) -> int:
        if not self.raced and keys == (self.key,):
            self.raced = True
            found = int(self.client.exists(*keys))
            services._ensure_epoch(self.client)  # the other request wins the race
            return found
        return int(self.client.exists(*keys))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def _flush(*user_ids: str) -> None:
    """What a Redis restart without persistence does to this run's keys."""
    client = triple_redis.client()
    client.delete(services.epoch_key(), *[services.session_key(u) for u in user_ids])


@pytest.mark.parametrize("step", ["validate", "touch"])
def test_the_request_that_loses_the_restore_race_keeps_its_session(monkeypatch: pytest.MonkeyPatch,
                                                                     step: str) -> None:
    winner, loser = services.user_create(), services.user_create()
    _flush(winner.user_id, loser.user_id)
    racing = RestoredMeanwhile(triple_redis.client(), services.session_key(loser.user_id))
    monkeypatch.setattr(triple_redis, "client", lambda: racing)
    if step == "validate":
        assert services.session_validate(user_id=loser.user_id).user_id == loser.user_id
    else:
        original = services._extend
        calls = []

        def extend_racing(client: Any, user: Any) -> bool:
            calls.append(user.user_id)
            if len(calls) == 1:
                result = original(client, user)
                services._ensure_epoch(client)  # restored by the other request after our failed SET XX
                return result
            return original(client, user)

        monkeypatch.setattr(services, "_extend", extend_racing)
        services.session_touch(user=loser)
        assert len(calls) == 2
    assert racing.raced == (step == "validate")
    monkeypatch.undo()
    assert triple_redis.client().exists(services.session_key(loser.user_id))
    assert not type(loser).objects.get(user_id=loser.user_id).expired
