"""`manage.py evaluate` on the shipped index with a tiny set whose numbers are known by hand."""
from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from triple.conversations.models import Chat
from triple.knowledge.models import Chunk

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("evaluate", *args, stdout=out)
    return out.getvalue()


def test_evaluate_reports_hand_checkable_numbers(built_index: Any, tmp_path: Path) -> None:
    row3 = Chunk.objects.get(source="catalog/products.csv", locator="row=3")
    stove = Chunk.objects.filter(source="docs/stove_manual_en.md").order_by("ordinal").first()
    assert stove is not None
    phrase = stove.text.split("\n")[-1][:40]
    dataset = tmp_path / "tiny.jsonl"
    dataset.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in [
        # A chunk's own text finds that chunk first with every retriever.
        {"question": row3.text, "expected_source": "catalog/products.csv#row=3"},
        {"question": stove.text, "expected_answer_substring": phrase},
        # Nothing in the corpus has this source: a miss everywhere.
        {"question": row3.text, "expected_source": "docs/not_there.md"},
        {"question": "혼자 쓰는 초경량 텐트는 무게가 몇 그램이에요?", "expected_source": "catalog/products.csv#row=3"},
    ]))
    report = json.loads(run("--dataset", str(dataset), "--json", "--no-answers"))
    ranks = [item["ranks"] for item in report["items"]]
    assert ranks[:3] == [{"dense": 1, "bm25": 1, "hybrid": 1}] * 2 + [{"dense": None, "bm25": None, "hybrid": None}]
    assert ranks[3]["hybrid"] == 1  # a real eval question; the chat API test pins this ranking too
    # Hybrid ranks 1, 1, none, 1: hit@1 = hit@5 = 3/4, MRR@10 = (1 + 1 + 0 + 1)/4, nDCG@10 = (1 + 1 + 0 + 1)/4.
    assert report["retrieval"]["hybrid"] == {"hit@1": 0.75, "hit@5": 0.75, "mrr@10": 0.75, "ndcg@10": 0.75}
    assert report["index_build"] == built_index.id and report["questions"] == 4 and "answers" not in report


def test_evaluate_asks_the_questions_and_prints_a_table(built_index: Any, tmp_path: Path) -> None:
    dataset = tmp_path / "one.jsonl"
    dataset.write_text(json.dumps({"question": "혼자 쓰는 초경량 텐트는 무게가 몇 그램이에요?",
                                   "expected_source": "catalog/products.csv#row=3",
                                   "expected_answer_substring": "980g"}, ensure_ascii=False))
    before = Chat.objects.count()
    text = run("--dataset", str(dataset))
    lines = text.splitlines()
    assert lines[1].split() == ["retriever", "hit@1", "hit@5", "MRR@10", "nDCG@10"]
    assert lines[4].split()[:3] == ["hybrid", "1.000", "1.000"]
    assert "answers citing the expected source: 1.000 (1/1), generation: local" in text
    assert "containing the expected text: 1.000" in text
    assert Chat.objects.count() == before + 1


def test_evaluate_refuses_a_missing_dataset(built_index: Any) -> None:
    with pytest.raises(CommandError):
        run("--dataset", "no/such/file.jsonl")
