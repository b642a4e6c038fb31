from __future__ import annotations

from django.db import models


class SearchLog(models.Model):
    """One retrieved chunk of one answer: its final rank and fused score, and each retriever's view."""

    chat = models.ForeignKey("triple_conversations.Chat", on_delete=models.PROTECT, related_name="search_logs")
    chunk = models.ForeignKey("triple_knowledge.Chunk", on_delete=models.PROTECT, related_name="+")
    rank = models.IntegerField()
    score = models.FloatField()
    retriever = models.CharField(max_length=32)  # dense, bm25, or dense+bm25
    dense_rank = models.IntegerField(null=True)
    dense_score = models.FloatField(null=True)
    bm25_rank = models.IntegerField(null=True)
    bm25_score = models.FloatField(null=True)
    cited = models.BooleanField(default=False)

    class Meta:
        db_table = "triple_search_log"
        ordering = ["chat", "rank"]
        constraints = [models.UniqueConstraint(fields=["chat", "rank"], name="uniq_chat_rank")]
