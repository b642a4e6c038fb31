from __future__ import annotations

from django.db import models


class User(models.Model):
    """A person asking questions. `user_id` is an unguessable token; the deadline mirrors the Redis TTL."""

    user_id = models.CharField(primary_key=True, max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    expired = models.BooleanField(default=False, db_index=True)

    class Meta:
        db_table = "triple_user"

    def __str__(self) -> str:
        return self.user_id
