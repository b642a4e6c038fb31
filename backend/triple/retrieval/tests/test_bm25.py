"""The in-memory BM25 index: built from lists or streamed from database rows, it ranks and filters alike."""
from __future__ import annotations

import pytest

from triple.retrieval.bm25 import BM25Index

ROWS = [
    ("a", "텐트 초경량 1인용 텐트", {"kind": "csv", "category": "텐트", "price": 189000}),
    ("b", "텐트 가족용 4인용", {"kind": "csv", "category": "텐트", "price": 329000}),
    ("c", "버너 캠핑 가스", {"kind": "csv", "category": "버너", "price": 45000}),
    ("d", "warranty stove valve igniter", {"kind": "jsonl", "source": "synthetic/part-00001.jsonl"}),
]


def test_streamed_rows_give_the_same_index_as_lists() -> None:
    listed = BM25Index([r[0] for r in ROWS], [r[1].split() for r in ROWS], [r[2] for r in ROWS])
    streamed = BM25Index.from_rows(iter(ROWS))
    for query in (["텐트"], ["텐트", "초경량"], ["stove"], ["없는말"]):
        assert streamed.search(query, 3) == listed.search(query, 3)
    assert streamed.search(["텐트", "초경량"], 3)[0][0] == "a"  # the row with both terms first
    assert streamed.metadata_of("c") == {"kind": "csv", "category": "버너", "price": 45000}
    assert streamed.has_term("d", "igniter") and not streamed.has_term("c", "텐트")


def test_filters_mask_rows_by_metadata() -> None:
    index = BM25Index.from_rows(iter(ROWS))
    assert [cid for cid, _ in index.search(["텐트"], 5, index.mask({"price": 329000}))] == ["b"]
    assert index.search(["텐트"], 5, index.mask({"category": "버너"})) == []
    assert [cid for cid, _ in index.search(["stove"], 5, index.mask({"kind": ["jsonl", "md"]}))] == ["d"]


def test_ids_and_token_lists_must_pair_up() -> None:
    with pytest.raises(ValueError, match="3 ids but 2 token lists"):
        BM25Index(["a", "b", "c"], [["x"], ["y"]])
