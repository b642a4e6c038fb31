from __future__ import annotations

from django.db import models


class Document(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        INDEXING = "indexing"
        INDEXED = "indexed"
        FAILED = "failed"

    source = models.CharField(max_length=512, unique=True)  # path relative to DATA_DIR
    sha256 = models.CharField(max_length=64)
    kind = models.CharField(max_length=16)
    size_bytes = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True, default="")
    rows = models.IntegerField(default=0)  # chunks produced by the last successful parse
    uploaded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    indexed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "triple_document"
        ordering = ["source"]

    def __str__(self) -> str:
        return self.source


class Chunk(models.Model):
    """An immutable piece of a document. The id is a hash of source, locator and text, so an unchanged
    chunk keeps its id (and its embedding) across builds, and audit rows keep the text they saw."""

    id = models.CharField(primary_key=True, max_length=40)
    document = models.ForeignKey(Document, null=True, on_delete=models.SET_NULL, related_name="chunks")
    source = models.CharField(max_length=512)
    locator = models.CharField(max_length=255, blank=True, default="")
    ordinal = models.IntegerField(default=0)
    text = models.TextField()
    tokens = models.TextField(blank=True, default="")  # space-joined BM25 tokens
    metadata = models.JSONField(default=dict)
    image_urls = models.JSONField(default=list)  # paths relative to DATA_DIR
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "triple_chunk"
        indexes = [models.Index(fields=["source", "ordinal"])]


class IndexBuild(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        UNCHANGED = "unchanged"
        FAILED = "failed"

    collection = models.CharField(max_length=255, blank=True, default="")
    embedding_provider = models.CharField(max_length=64)
    embedding_model = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(max_length=32, blank=True, default="")
    progress_done = models.IntegerField(default=0)
    progress_total = models.IntegerField(default=0)
    counts = models.JSONField(default=dict)
    failures = models.JSONField(default=list)  # [{document, stage, error}]
    active = models.BooleanField(default=False, db_index=True)
    error = models.TextField(blank=True, default="")
    task_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    reason = models.CharField(max_length=16, blank=True, default="")  # api | upload | delete | schedule | cli
    lane = models.CharField(max_length=16, default="main")  # builds in one lane never overlap
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    chunks = models.ManyToManyField(Chunk, through="BuildChunk", related_name="builds")

    class Meta:
        db_table = "triple_index_build"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=models.Q(active=True), name="one_active_build"),
            # One build runs at a time, and at most one more waits behind it (it has not scanned the data
            # directory yet, so every upload or delete requested meanwhile is folded into it).
            models.UniqueConstraint(fields=["lane"], condition=models.Q(status="running"), name="one_running_build"),
            models.UniqueConstraint(fields=["lane"], condition=models.Q(status="queued"), name="one_queued_build"),
        ]


class BuildChunk(models.Model):
    build = models.ForeignKey(IndexBuild, on_delete=models.CASCADE)
    chunk = models.ForeignKey(Chunk, on_delete=models.PROTECT)

    class Meta:
        db_table = "triple_build_chunk"
        constraints = [models.UniqueConstraint(fields=["build", "chunk"], name="uniq_build_chunk")]
