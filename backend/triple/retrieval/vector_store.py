"""Chroma, reached as an embedded PersistentClient (default) or an HttpClient (`CHROMA_HOST`).

Collections are immutable once a build has filled them, so several processes can share one store.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from django.conf import settings

Filters = Mapping[str, str | int | float | bool | Sequence[str]]
_lock = threading.Lock()
# Collection handles by name. Looking a collection up costs a round trip to Chroma's SQLite catalogue (or to
# the server) on every query; a build's collection never changes once filled and build names are unique,
# so a handle stays valid until the collection is deleted (here, or by another process: see `query`).
_collections: dict[str, Any] = {}


_client_lock = threading.Lock()


def _client() -> Any:
    # lru_cache alone lets two threads build the client at once on a process's first queries, and chromadb's
    # shared-system setup is not thread-safe: both got 500s (KeyError / "Could not connect to tenant").
    with _client_lock:
        return _build_client()


@lru_cache(maxsize=1)
def _build_client() -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.CHROMA_HOST:
        return chromadb.HttpClient(host=settings.CHROMA_HOST, port=settings.CHROMA_PORT, settings=chroma_settings)
    settings.VECTOR_STORE_DIR.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.VECTOR_STORE_DIR), settings=chroma_settings)


def where_clause(filters: Filters | None) -> dict[str, Any] | None:
    if not filters:
        return None
    clauses: list[dict[str, Any]] = []
    for key, value in filters.items():
        if isinstance(value, (list, tuple)):
            clauses.append({key: {"$in": list(value)}})
        else:
            clauses.append({key: {"$eq": value}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaVectorStore:
    """The few operations Triple needs from a vector store."""

    def _collection(self, name: str) -> Any:
        handle = _collections.get(name)
        if handle is None:
            handle = _client().get_collection(name)
            with _lock:
                _collections[name] = handle
        return handle

    @staticmethod
    def _forget(name: str) -> None:
        with _lock:
            _collections.pop(name, None)

    def create(self, name: str, *, embedding_model: str) -> None:
        client = _client()
        self._forget(name)
        if name in {c.name if hasattr(c, "name") else c for c in client.list_collections()}:
            client.delete_collection(name)  # a leftover of a crashed build with the same id
        client.create_collection(
            name, metadata={"hnsw:space": "cosine", "embedding_model": embedding_model}, embedding_function=None
        )

    def add(self, name: str, ids: Sequence[str], embeddings: Sequence[Sequence[float]],
            metadatas: Sequence[Mapping[str, Any]]) -> None:
        if ids:
            self._collection(name).add(ids=list(ids), embeddings=[list(e) for e in embeddings],
                                       metadatas=[dict(m) for m in metadatas])

    def embeddings(self, name: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors for the ids that exist in `name` (missing ids are left out)."""
        if not ids or not self.exists(name):
            return {}
        out: dict[str, list[float]] = {}
        collection = self._collection(name)
        for start in range(0, len(ids), 2000):
            got = collection.get(ids=list(ids[start : start + 2000]), include=["embeddings"])
            for chunk_id, vector in zip(got["ids"], got["embeddings"], strict=True):
                out[chunk_id] = [float(x) for x in vector]
        return out

    def query(self, name: str, embedding: Sequence[float], n: int, filters: Filters | None = None
              ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) pairs, best first."""
        kwargs = {"query_embeddings": [list(embedding)], "n_results": n, "where": where_clause(filters),
                  "include": ["distances"]}
        try:
            result = self._collection(name).query(**kwargs)
        except Exception:  # a cached handle whose collection another process deleted: look it up afresh
            self._forget(name)
            result = self._collection(name).query(**kwargs)
        ids = result["ids"][0] if result["ids"] else []
        distances = result["distances"][0] if result.get("distances") else []
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=True)]

    def count(self, name: str) -> int:
        return int(self._collection(name).count())

    def exists(self, name: str) -> bool:
        try:
            _client().get_collection(name)
            return True
        except Exception:  # chromadb raises NotFoundError / ValueError depending on version
            return False

    def delete(self, name: str) -> None:
        self._forget(name)
        if self.exists(name):
            _client().delete_collection(name)

    def heartbeat(self) -> bool:
        return bool(_client().heartbeat())


def vector_store() -> ChromaVectorStore:
    return ChromaVectorStore()
