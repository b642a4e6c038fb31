"""Streaming export: JSONL and CSV, same filters as the list, flat memory on 10,000 rows."""
from __future__ import annotations

import csv
import gc
import io
import json
import tracemalloc
from typing import Any

import pytest

from triple.conversations.models import Chat, Feedback

pytestmark = pytest.mark.django_db
EXPORT = "/api/v1/triple/audit/export/"
ROWS = 10_000


def _bulk_chats(n: int) -> None:
    answer = "캠핑 장비 대여 요금은 하룻밤 기준입니다. [1] " * 20  # ~600 characters, like a real answer
    Chat.objects.bulk_create(
        [Chat(user_id=f"user-{i % 50}", question=f"질문 {i}: 텐트 대여 요금은 얼마인가요?", response=answer,
              generation_provider="local", generation_model="extractive", timings_ms={"total_ms": i},
              usage={"input_tokens": i, "output_tokens": 3, "estimated": True}) for i in range(n)],
        batch_size=1000,
    )


def _peak_bytes(fn: Any) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_export_of_10000_rows_streams_without_memory_growth(operator_api: Any) -> None:
    _bulk_chats(ROWS)
    counted = {"rows": 0, "bytes": 0}

    def stream() -> None:
        response = operator_api.get(EXPORT, {"format": "jsonl"})
        assert response.status_code == 200 and response.streaming
        for piece in response.streaming_content:
            counted["rows"] += piece.count(b"\n")
            counted["bytes"] += len(piece)

    def load_everything() -> None:
        rows = list(Chat.objects.values())
        assert len(rows) == ROWS

    operator_api.get(EXPORT, {"format": "jsonl", "user_id": "nobody"})  # first-request imports are not growth
    streaming_peak = _peak_bytes(stream)
    loading_peak = _peak_bytes(load_everything)
    assert counted["rows"] == ROWS
    # Holding every row would take at least the export's own size; streaming must stay far below both.
    assert loading_peak > 8 * 1024 * 1024
    assert streaming_peak < loading_peak / 4 and streaming_peak < counted["bytes"] / 4


def test_jsonl_and_csv_rows_carry_the_audit_fields_and_honour_filters(operator_api: Any) -> None:
    mine = Chat.objects.create(user_id="alice", question="메일 a@b.kr", response="답", generation_provider="local",
                               attempts=[{"provider": "gemini", "error": "provider_timeout"}])
    Chat.objects.create(user_id="bob", question="other", response="x", status="failed")
    Feedback.objects.create(chat=mine, rating=-1)

    response = operator_api.get(EXPORT, {"format": "jsonl", "user_id": "alice"})
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"].startswith('attachment; filename="triple-audit-')
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert row["chat_id"] == str(mine.id) and row["feedback"] == -1 and row["question"] == "메일 a@b.kr"
    assert row["attempts"] == [{"provider": "gemini", "error": "provider_timeout"}]

    response = operator_api.get(EXPORT, {"format": "csv", "status": "failed"})
    assert response["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["user_id"], r["status"], r["feedback"]) for r in table] == [("bob", "failed", "")]
    assert json.loads(table[0]["usage"]) == {}


def test_export_refuses_unknown_formats_and_callers_without_the_token(api: Any, operator_api: Any, db: Any) -> None:
    response = operator_api.get(EXPORT, {"format": "xml"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_format"
    assert api.get(EXPORT, {"format": "csv"}).status_code == 401
