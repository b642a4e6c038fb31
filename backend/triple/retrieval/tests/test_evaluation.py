"""Retrieval metrics against numbers worked out by hand."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from triple.core.errors import InvalidInput
from triple.knowledge.models import Chunk
from triple.retrieval.evaluation import (
    EvalItem,
    dataset_load,
    evaluation_run,
    first_relevant_rank,
    hit_at_k,
    ndcg_at_k,
    reciprocal_rank_at_k,
    summarize,
)
from triple.retrieval.hybrid import Hit


def test_single_question_metrics() -> None:
    assert first_relevant_rank([False, False, True, True]) == 3
    assert first_relevant_rank([False, False]) is None
    assert (hit_at_k(3, 1), hit_at_k(3, 5), hit_at_k(None, 5)) == (0.0, 1.0, 0.0)
    assert reciprocal_rank_at_k(4, 10) == 0.25 and reciprocal_rank_at_k(12, 10) == 0.0
    # Relevant at ranks 2 and 4, two relevant items exist:
    # DCG = 1/log2(3) + 1/log2(5) = 0.63093 + 0.43068 = 1.06161; IDCG = 1 + 0.63093 = 1.63093.
    assert ndcg_at_k([False, True, False, True], 10, ideal_relevant=2) == pytest.approx(0.65092, abs=1e-5)
    assert ndcg_at_k([False, True], 1) == 0.0


def test_means_over_questions() -> None:
    # First relevant ranks 1, 3, none, 12 (outside the top 10) and 2:
    # hit@1 = 1/5; hit@5 = 3/5; MRR@10 = (1 + 1/3 + 1/2) / 5 = 0.36667;
    # nDCG@10 = (1 + 1/log2(4) + 1/log2(3)) / 5 = (1 + 0.5 + 0.63093) / 5 = 0.42619.
    assert summarize([1, 3, None, 12, 2], 10) == {"hit@1": 0.2, "hit@5": 0.6, "mrr@10": 0.3667, "ndcg@10": 0.4262}


class ScriptedRetriever:
    """Returns a fixed ranking per (question, mode), so every number below can be checked by hand."""

    def __init__(self, rankings: dict[tuple[str, str], list[str]]) -> None:
        self.rankings = rankings

    def search(self, query: str, *, top_k: int, filters: Any = None, mode: str = "hybrid") -> list[Hit]:
        ids = self.rankings.get((query, mode), [])[:top_k]
        return [Hit(chunk_id, rank, 1.0 / rank, mode) for rank, chunk_id in enumerate(ids, start=1)]


@pytest.mark.django_db
def test_evaluation_run_on_a_tiny_set() -> None:
    for chunk_id, source, locator, text in [("a", "docs/a.md", "", "alpha"), ("d", "docs/a.md", "", "delta"),
                                            ("b", "catalog/t.csv", "row=2", "bravo 980g"),
                                            ("c", "catalog/t.csv", "row=5", "charlie")]:
        Chunk.objects.create(id=chunk_id, source=source, locator=locator, text=text)
    items = [EvalItem("q1", expected_source="catalog/t.csv#row=5"),  # chunk c
             EvalItem("q2", expected_source="docs/a.md"),  # chunks a and d, one relevant item
             EvalItem("q3", expected_answer_substring="980G")]  # chunk b (case-insensitive)
    retriever = ScriptedRetriever({
        ("q1", "dense"): ["a", "b", "c"], ("q2", "dense"): ["b", "d", "a"], ("q3", "dense"): ["b"],
        ("q1", "bm25"): ["c"], ("q3", "bm25"): ["a", "c"],
        ("q1", "hybrid"): ["c", "a"], ("q2", "hybrid"): ["a", "d"], ("q3", "hybrid"): ["c", "d", "a", "b"],
    })
    report = evaluation_run(items=items, retriever=retriever, k=10, answers=False)  # type: ignore[arg-type]
    assert [item["ranks"] for item in report["items"]] == [
        {"dense": 3, "bm25": 1, "hybrid": 1}, {"dense": 2, "bm25": None, "hybrid": 1},
        {"dense": 1, "bm25": None, "hybrid": 4},
    ]
    third, half, log3, log5 = 1 / 3, 0.5, 1 / math.log2(3), 1 / math.log2(5)
    # dense ranks 3, 2, 1: MRR = (1/3 + 1/2 + 1)/3 = 0.6111; nDCG = (1/log2(4) + 1/log2(3) + 1)/3 = 0.7103
    assert report["retrieval"]["dense"] == {"hit@1": 0.3333, "hit@5": 1.0, "mrr@10": round((third + half + 1) / 3, 4),
                                            "ndcg@10": round((0.5 + log3 + 1) / 3, 4)}
    assert report["retrieval"]["dense"]["mrr@10"] == 0.6111 and report["retrieval"]["dense"]["ndcg@10"] == 0.7103
    # bm25 ranks 1, none, none
    assert report["retrieval"]["bm25"] == {"hit@1": 0.3333, "hit@5": 0.3333, "mrr@10": 0.3333, "ndcg@10": 0.3333}
    # hybrid ranks 1, 1, 4: MRR = (1 + 1 + 1/4)/3 = 0.75; nDCG = (1 + 1 + 1/log2(5))/3 = 0.8102
    assert report["retrieval"]["hybrid"] == {"hit@1": 0.6667, "hit@5": 1.0, "mrr@10": 0.75,
                                             "ndcg@10": round((2 + log5) / 3, 4)}
    assert report["retrieval"]["hybrid"]["ndcg@10"] == 0.8102


def test_dataset_lines_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"question": "텐트?", "expected_source": "catalog/products.csv#row=5"}) + "\n\n"
                    + json.dumps({"question": "Gift card?", "expected_answer_substring": "5 years"}) + "\n")
    assert dataset_load(good) == [EvalItem("텐트?", "catalog/products.csv#row=5", ""),
                                  EvalItem("Gift card?", "", "5 years")]
    talk = tmp_path / "talk.jsonl"
    talk.write_text(json.dumps({"turns": ["텐트 종류?", "그럼 가장 싼 건?"], "expected_source": "a.csv#row=5"}))
    assert dataset_load(talk) == [EvalItem("그럼 가장 싼 건?", "a.csv#row=5", "", ("텐트 종류?",))]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "no expectation"}) + "\n")
    with pytest.raises(InvalidInput):
        dataset_load(bad)


def test_shipped_sets_are_valid() -> None:
    from django.conf import settings

    for name in ("ko", "en", "followups"):
        items = dataset_load(settings.REPO_DIR / "data" / "eval" / f"{name}.jsonl")
        assert len(items) >= (3 if name == "followups" else 20)
        for item in items:
            path = item.expected_source.partition("#")[0]
            assert path and (settings.REPO_DIR / "data" / path).exists(), item


def test_a_follow_up_is_searched_as_the_condensed_query() -> None:
    from triple.retrieval.evaluation import search_query

    follow_up = EvalItem("그럼 가장 싼 건?", "catalog/products.csv#row=5", "", ("텐트는 어떤 종류가 있어요?",))
    assert "텐트" in search_query(follow_up) and "싼" in search_query(follow_up)  # carried the earlier topic
    assert search_query(EvalItem("텐트 가격", "x.md")) == "텐트 가격"
