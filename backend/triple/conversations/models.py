from __future__ import annotations

import uuid

from django.db import models


class Chat(models.Model):
    """One question and its answer, with everything needed to explain it later.

    `user_id` is a plain column, not a foreign key: audit rows outlive users and sessions.
    """

    class Status(models.TextChoices):
        OK = "ok"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.CharField(max_length=64, db_index=True)
    question = models.TextField()
    standalone_query = models.TextField(blank=True, default="")
    language = models.CharField(max_length=8, default="ko")
    route = models.CharField(max_length=16, default="rag")
    response = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK, db_index=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error = models.TextField(blank=True, default="")
    reasoning_provider = models.CharField(max_length=64, blank=True, default="")
    reasoning_model = models.CharField(max_length=128, blank=True, default="")
    generation_provider = models.CharField(max_length=64, blank=True, default="", db_index=True)
    generation_model = models.CharField(max_length=128, blank=True, default="")
    embedding_model = models.CharField(max_length=128, blank=True, default="")
    index_build = models.ForeignKey(
        "triple_knowledge.IndexBuild", null=True, on_delete=models.PROTECT, related_name="chats"
    )
    prompt_version = models.CharField(max_length=32, blank=True, default="")
    top_k = models.IntegerField(default=5)
    filters = models.JSONField(default=dict)
    attempts = models.JSONField(default=list)
    timings_ms = models.JSONField(default=dict)
    usage = models.JSONField(default=dict)
    cached = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "triple_chat"
        ordering = ["created_at"]


class Feedback(models.Model):
    chat = models.ForeignKey(Chat, on_delete=models.PROTECT, related_name="feedback")
    rating = models.SmallIntegerField()  # +1 or -1
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "triple_feedback"
