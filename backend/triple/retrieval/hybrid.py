"""Dense (Chroma) + BM25 (Korean-aware) retrieval fused with reciprocal-rank fusion."""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from django.conf import settings

from triple.providers.types import EmbeddingProvider
from triple.retrieval import bm25, superlative
from triple.retrieval.tokenize import query_tokens
from triple.retrieval.vector_store import ChromaVectorStore

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    rank: int
    score: float
    retriever: str
    dense_rank: int | None = None
    dense_score: float | None = None
    bm25_rank: int | None = None
    bm25_score: float | None = None
    note: str = ""  # why a rule moved this hit, e.g. "lowest price_krw"


class HybridRetriever:
    """Searches one index build. `mode` picks dense only, BM25 only, or both fused (the default)."""

    def __init__(self, *, build_id: int, collection: str, embedder: EmbeddingProvider,
                 store: ChromaVectorStore) -> None:
        self.build_id = build_id
        self.collection = collection
        self.embedder = embedder
        self.store = store
        self.timings: dict[str, float] = {}  # of the last search: embed_ms (the embedding provider's call)

    def dense(self, query: str, n: int, filters: Mapping[str, Any] | None = None) -> list[tuple[str, float]]:
        started = time.perf_counter()
        vector = self.embedder.embed_query(query)
        self.timings["embed_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return self.store.query(self.collection, vector, n, filters)

    def sparse(self, query: str, n: int, filters: Mapping[str, Any] | None = None) -> list[tuple[str, float]]:
        index = bm25.index_for_build(self.build_id)
        return index.search(query_tokens(query), n, index.mask(filters))

    def search(self, query: str, *, top_k: int, filters: Mapping[str, Any] | None = None,
               mode: Mode = "hybrid") -> list[Hit]:
        n = max(top_k, settings.RETRIEVAL_CANDIDATES)
        dense = self.dense(query, n, filters) if mode in {"hybrid", "dense"} else []
        sparse = self.sparse(query, n, filters) if mode in {"hybrid", "bm25"} else []
        hits = fuse(dense, sparse, top_k=n, k=settings.RRF_K)
        if mode == "hybrid":
            hits = self._promote_superlative(query, hits)
        return hits[:top_k]

    def _promote_superlative(self, query: str, hits: list[Hit]) -> list[Hit]:
        index = bm25.index_for_build(self.build_id)
        order, winner, note = superlative.promote(
            query, [h.chunk_id for h in hits], index.metadata_of, index.has_term
        )
        if winner is None:
            return hits
        by_id = {h.chunk_id: h for h in hits}
        by_id[winner] = replace(by_id[winner], retriever=by_id[winner].retriever + "+superlative", note=note)
        return [replace(by_id[cid], rank=rank) for rank, cid in enumerate(order, start=1)]


def fuse(dense: list[tuple[str, float]], sparse: list[tuple[str, float]], *, top_k: int, k: int) -> list[Hit]:
    """Reciprocal-rank fusion: score = sum over retrievers of 1 / (k + rank)."""
    table: dict[str, dict[str, Any]] = {}
    for name, results in (("dense", dense), ("bm25", sparse)):
        for rank, (chunk_id, score) in enumerate(results, start=1):
            entry = table.setdefault(chunk_id, {"rrf": 0.0})
            entry["rrf"] += 1.0 / (k + rank)
            entry[f"{name}_rank"] = rank
            entry[f"{name}_score"] = score
    ordered = sorted(table.items(), key=lambda item: (-item[1]["rrf"], item[1].get("dense_rank") or 10**9))
    hits = []
    for rank, (chunk_id, entry) in enumerate(ordered[:top_k], start=1):
        found = [name for name in ("dense", "bm25") if f"{name}_rank" in entry]
        hits.append(Hit(chunk_id, rank, round(entry["rrf"], 6), "+".join(found),
                        entry.get("dense_rank"), entry.get("dense_score"),
                        entry.get("bm25_rank"), entry.get("bm25_score")))
    return hits
