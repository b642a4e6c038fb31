"""An in-memory BM25 index over a build's chunks, as a sparse matrix so scoring is one column sum."""
from __future__ import annotations

import sys
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import sparse

K1 = 1.2
B = 0.75


def _compact(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """One chunk's metadata with its keys and short values interned: JSON decoding makes a new string for
    every key and every repeated value ("kind", "source", a category) of every chunk."""
    return {sys.intern(k): sys.intern(v) if isinstance(v, str) and len(v) <= 64 else v
            for k, v in metadata.items()}


class BM25Index:
    def __init__(self, ids: Sequence[str], tokens: Iterable[Sequence[str]],
                 metadatas: Sequence[Mapping[str, Any]] | None = None) -> None:
        """`tokens` is consumed once, before `ids` and `metadatas` are read, so `from_rows` can fill
        those while it streams the tokens."""
        vocabulary: dict[str, int] = {}
        # Typed arrays, not lists: one posting costs 12 bytes instead of ~100 (three boxed ints and three
        # pointers), which bounds the peak and the leftover RSS of building a 100k-chunk index.
        rows = array("i")
        cols = array("i")
        tfs = array("f")
        doc_lengths = array("f")
        for row, doc in enumerate(tokens):
            doc_lengths.append(len(doc))
            for term, count in Counter(doc).items():
                cols.append(vocabulary.setdefault(term, len(vocabulary)))
                rows.append(row)
                tfs.append(count)
        self.ids = list(ids)
        self.metadatas = [_compact(m) for m in metadatas] if metadatas is not None else [{} for _ in self.ids]
        if len(doc_lengths) != len(self.ids):
            raise ValueError(f"{len(self.ids)} ids but {len(doc_lengths)} token lists")
        lengths = np.frombuffer(doc_lengths, dtype=np.float32) if doc_lengths else np.zeros(0, np.float32)
        self.vocabulary = vocabulary
        self.position = {chunk_id: row for row, chunk_id in enumerate(self.ids)}
        n = max(1, len(self.ids))
        avgdl = float(lengths.mean()) if len(self.ids) else 1.0
        tf = np.frombuffer(tfs, dtype=np.float32)
        row_idx = np.frombuffer(rows, dtype=np.int32)
        col_idx = np.frombuffer(cols, dtype=np.int32)
        df = np.bincount(col_idx, minlength=len(vocabulary)).astype(np.float32)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        norm = K1 * (1 - B + B * lengths[row_idx] / max(avgdl, 1e-9))
        weights = idf[col_idx] * tf * (K1 + 1) / (tf + norm)
        self.matrix = sparse.csc_matrix((weights, (row_idx, col_idx)), shape=(len(self.ids), len(vocabulary)))

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, Mapping[str, Any]]]) -> BM25Index:
        """An index from (chunk id, space-joined tokens, metadata) rows, streamed: one chunk's tokens are
        alive at a time (at 100k chunks, holding them all cost ~360 MB that the allocator kept afterwards)."""
        ids: list[str] = []
        metadatas: list[Mapping[str, Any]] = []

        def tokens() -> Iterator[list[str]]:
            for chunk_id, joined, metadata in rows:
                ids.append(chunk_id)
                metadatas.append(metadata)
                yield joined.split()

        return cls(ids, tokens(), metadatas)

    def search(self, query_tokens: Sequence[str], n: int, mask: np.ndarray | None = None
               ) -> list[tuple[str, float]]:
        cols = [self.vocabulary[t] for t in query_tokens if t in self.vocabulary]
        if not cols or not self.ids:
            return []
        scores = np.asarray(self.matrix[:, cols].sum(axis=1)).ravel()
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        n = min(n, int(np.count_nonzero(scores)))
        if n <= 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top]

    def metadata_of(self, chunk_id: str) -> Mapping[str, Any]:
        row = self.position.get(chunk_id)
        return self.metadatas[row] if row is not None else {}

    def has_term(self, chunk_id: str, term: str) -> bool:
        """Whether a chunk contains a token (read from the sparse column, no per-chunk token sets kept)."""
        col, row = self.vocabulary.get(term), self.position.get(chunk_id)
        if col is None or row is None:
            return False
        rows = self.matrix.indices[self.matrix.indptr[col] : self.matrix.indptr[col + 1]]
        return bool(np.any(rows == row))

    def mask(self, filters: Mapping[str, Any] | None) -> np.ndarray | None:
        if not filters:
            return None
        keep = np.ones(len(self.ids), dtype=bool)
        for key, wanted in filters.items():
            allowed = {str(v) for v in wanted} if isinstance(wanted, (list, tuple)) else {str(wanted)}
            keep &= np.fromiter((str(m.get(key)) in allowed for m in self.metadatas), bool, len(self.ids))
        return keep


_cache: dict[int, BM25Index] = {}
_cache_lock = threading.Lock()


def index_for_build(build_id: int) -> BM25Index:
    """The BM25 index of a build, loaded from the database once per process."""
    cached = _cache.get(build_id)
    if cached is not None:
        return cached
    with _cache_lock:
        if build_id not in _cache:
            from triple.knowledge.selectors import iter_build_chunk_rows

            index = BM25Index.from_rows(iter_build_chunk_rows(build_id=build_id))
            while len(_cache) >= 2:
                _cache.pop(min(_cache))
            _cache[build_id] = index
        return _cache[build_id]

