#!/usr/bin/env python3
"""Scale by replication, for when a real 100k-chunk build does not fit in the time at hand.

Takes a prepared corpus (bench/corpus.py, default 10k chunks), reads its chunks' BM25 tokens, metadata and
vectors, and builds, in one fresh process, the same retrieval structures Triple uses (BM25Index, a cosine
Chroma collection through ChromaVectorStore) over the corpus replicated x`--factor` (each copy's vectors
get small noise so HNSW sees distinct points; each copy's tokens get a serial token). It then measures
Chroma query, BM25 search and fusion latency, and RSS growth, at 1x and at factor x. The query embedding
is left out: it does not depend on corpus size. A real `scripts/bench.sh --full` run measures 100k
through the product's build instead (bench/scale.py).

Usage: .venv/bin/python bench/scale_replicated.py [--chunks 10000] [--factor 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import corpus, harness


def latency(fn: Any, queries: list[Any], rounds: int = 3) -> dict[str, float]:
    values = []
    for _ in range(rounds):
        for q in queries:
            started = time.perf_counter()
            fn(q)
            values.append((time.perf_counter() - started) * 1000)
    return {"p50": statistics.median(values), "p95": harness.percentile(values, 95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=10000)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--out", default="scale_replicated")
    args = parser.parse_args()
    root, _ = corpus.prepare(args.chunks)
    os.environ.update(corpus.env_for(root))
    import django

    django.setup()
    import numpy as np
    from triple.knowledge import selectors
    from triple.providers import registry
    from triple.retrieval.bm25 import BM25Index
    from triple.retrieval.hybrid import fuse
    from triple.retrieval.tokenize import tokenize
    from triple.retrieval.vector_store import vector_store

    build = selectors.active_build()
    assert build is not None
    ids, tokens, metas = selectors.build_chunk_rows(build_id=build.id)
    # Read the prepared vectors with a client of their own, and write the replicated collections to a
    # separate temporary store, so a server running on the prepared corpus is never written to.
    import chromadb
    from django.conf import settings

    source = chromadb.PersistentClient(path=str(settings.VECTOR_STORE_DIR)).get_collection(build.collection)
    vectors: dict[str, Any] = {}
    for start in range(0, len(ids), 2000):
        got = source.get(ids=ids[start : start + 2000], include=["embeddings"])
        vectors.update(zip(got["ids"], got["embeddings"], strict=True))
    matrix = np.asarray([vectors[i] for i in ids], dtype=np.float32)
    tmp = harness.make_tmp("triple-bench-replicated-")
    settings.VECTOR_STORE_DIR = tmp / "vector_store"
    store = vector_store()
    embedder = registry.embedding_provider()
    qs = harness.eval_questions()
    qvec = {q: embedder.embed_query(q) for q in qs}
    qtok = {q: tokenize(q) for q in qs}
    rng = np.random.default_rng(7)
    results: dict[str, Any] = {"source_chunks": len(ids), "factor": args.factor, "levels": {}}
    for factor in (1, args.factor):
        n = len(ids) * factor
        rss0 = harness.rss_mb()
        all_ids = [f"{cid}-{k}" for k in range(factor) for cid in ids]
        all_tokens = [[*toks.split(), f"copy{k}"] for k in range(factor) for toks in tokens]
        started = time.perf_counter()
        index = BM25Index(all_ids, all_tokens, [m for _ in range(factor) for m in metas])
        bm25_build_s = time.perf_counter() - started
        del all_tokens
        rss1 = harness.rss_mb()
        name = f"scale_x{factor}"
        store.create(name, embedding_model="replicated")
        started = time.perf_counter()
        for k in range(factor):
            noisy = matrix + rng.normal(0, 0.01, matrix.shape).astype(np.float32) if k else matrix
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            for start in range(0, len(ids), 2000):
                end = min(start + 2000, len(ids))  # the last batch of a copy must not run into the next copy
                store.add(name, all_ids[k * len(ids) + start : k * len(ids) + end],
                          noisy[start:end].tolist(), [{"copy": k}] * (end - start))
            harness.log(f"x{factor}: copy {k + 1}/{factor} added")
        chroma_build_s = time.perf_counter() - started
        store.query(name, qvec[qs[0]], 30)
        rss2 = harness.rss_mb()
        chroma = latency(lambda q, name=name: store.query(name, qvec[q], 30), qs)
        sparse = latency(lambda q, index=index: index.search(qtok[q], 30), qs)
        both = latency(lambda q, index=index, name=name: fuse(store.query(name, qvec[q], 30),
                                                              index.search(qtok[q], 30), top_k=5, k=60), qs)
        results["levels"][str(n)] = {"chunks": n, "chroma_ms": chroma, "bm25_ms": sparse,
                                     "dense+bm25+fuse_ms": both, "bm25_mb": round(rss1 - rss0, 1),
                                     "chroma_mb": round(rss2 - rss1, 1),
                                     "bm25_build_s": round(bm25_build_s, 1), "chroma_add_s": round(chroma_build_s, 1)}
        harness.log(f"{n}: {results['levels'][str(n)]}")
        store.delete(name)
        del index
    small, large = (results["levels"][k] for k in list(results["levels"]))
    growth = {k: large[k]["p50"] / small[k]["p50"] for k in ("chroma_ms", "bm25_ms", "dense+bm25+fuse_ms")}
    per_100k = (large["bm25_mb"] + large["chroma_mb"]) / large["chunks"] * 100_000
    results["growth_p50"] = growth
    results["mb_per_100k_chunks"] = per_100k
    rows = [[lv["chunks"], lv["chroma_ms"]["p50"], lv["chroma_ms"]["p95"], lv["bm25_ms"]["p50"],
             lv["bm25_ms"]["p95"], lv["dense+bm25+fuse_ms"]["p50"], lv["dense+bm25+fuse_ms"]["p95"],
             lv["bm25_mb"], lv["chroma_mb"]]
            for lv in results["levels"].values()]
    text = harness.table(["chunks", "Chroma p50", "Chroma p95", "BM25 p50", "BM25 p95",
                          "retrieval p50 (no embed)", "retrieval p95 (no embed)", "BM25 RSS MB", "Chroma RSS MB"], rows,
                         f"Retrieval latency (ms) and memory, corpus replicated x{args.factor}")
    text += "\n" + harness.table(["growth p50 Chroma", "growth p50 BM25", "growth p50 retrieval (no embed)",
                                  "MB per 100k chunks"],
                                 [[growth["chroma_ms"], growth["bm25_ms"], growth["dense+bm25+fuse_ms"], per_100k]])
    results["tables_markdown"] = text
    harness.remove_tmp(tmp)
    harness.log(f"wrote {harness.write_results(args.out, results)}")


if __name__ == "__main__":
    main()
