#!/usr/bin/env python3
"""Scale: retrieval latency as the corpus grows, and memory of a process holding the indexes.

For each corpus size (bench/corpus.py, built once and reused), a fresh process measures:
- RSS after Django start-up, after loading the build's BM25 index, and after the first Chroma query (which
  loads the HNSW index): the difference is what the indexes cost a worker, scaled to 100k chunks;
- latency of HybridRetriever.search (the product's call) over the eval questions, and of its parts: query
  embedding (independent of corpus size), Chroma query for a given vector, BM25 search, fusion.

Usage: .venv/bin/python bench/scale.py [--sizes 1000,10000,100000] [--rounds 3] [--query-threads 0]
Writes bench/results/scale.json and prints markdown tables.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import corpus, harness


def probe(root: Path, rounds: int, query_threads: int) -> dict[str, Any]:
    """Runs inside the child process (Django set up on `root`)."""
    import django

    rss0 = harness.rss_mb()
    django.setup()
    from triple.knowledge import selectors
    from triple.providers import registry
    from triple.retrieval import bm25
    from triple.retrieval.hybrid import HybridRetriever, fuse
    from triple.retrieval.tokenize import tokenize
    from triple.retrieval.vector_store import vector_store

    build = selectors.active_build()
    assert build is not None
    embedder = registry.embedding_provider()
    if query_threads:
        embedder._engine._model.threads = query_threads  # A/B only: see bench/gunicorn_query_threads.py
    qs = harness.eval_questions()
    vectors = {q: embedder.embed_query(q) for q in qs}  # loads the model
    rss1 = harness.rss_mb()
    started = time.perf_counter()
    index = bm25.index_for_build(build.id)
    bm25_load_s = time.perf_counter() - started
    rss2 = harness.rss_mb()
    store = vector_store()
    started = time.perf_counter()
    store.query(build.collection, vectors[qs[0]], 30)
    chroma_first_s = time.perf_counter() - started
    rss3 = harness.rss_mb()
    retriever = HybridRetriever(build_id=build.id, collection=build.collection, embedder=embedder, store=store)
    for q in qs:  # warm-up
        retriever.search(q, top_k=5)
    parts: dict[str, list[float]] = {"search_ms": [], "embed_ms": [], "chroma_ms": [], "bm25_ms": [], "fuse_ms": []}
    for _ in range(rounds):
        for q in qs:
            t0 = time.perf_counter()
            retriever.search(q, top_k=5)
            t1 = time.perf_counter()
            embedder.embed_query(q)
            t2 = time.perf_counter()
            dense = store.query(build.collection, vectors[q], 30)
            t3 = time.perf_counter()
            sparse = index.search(tokenize(q), 30)
            t4 = time.perf_counter()
            fuse(dense, sparse, top_k=30, k=60)
            t5 = time.perf_counter()
            for key, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                parts[key].append(value * 1000)
    return {
        "chunks": len(index.ids), "build_id": build.id,
        "rss_mb": {"python": round(rss0, 1), "django_and_model": round(rss1, 1), "plus_bm25": round(rss2, 1),
                   "plus_chroma": round(rss3, 1)},
        "index_mb": round(rss3 - rss1, 1), "bm25_mb": round(rss2 - rss1, 1), "chroma_mb": round(rss3 - rss2, 1),
        "bm25_load_s": round(bm25_load_s, 2), "chroma_first_query_s": round(chroma_first_s, 2),
        "latency_ms": {k: {"p50": statistics.median(v), "p95": harness.percentile(v, 95), "mean": statistics.mean(v)}
                       for k, v in parts.items()},
        "queries": len(parts["search_ms"]), "loadavg": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--query-threads", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="scale")
    args = parser.parse_args()
    if args.child:
        root = Path(args.child)
        sys.path.insert(0, str(harness.BACKEND))
        print(json.dumps(probe(root, args.rounds, args.query_threads)))
        return
    results: dict[str, Any] = {"sizes": {}}
    for size in [int(s) for s in args.sizes.split(",") if s]:
        root, info = corpus.prepare(size)
        env = {**os.environ, **corpus.env_for(root)}
        done = subprocess.run([sys.executable, __file__, "--child", str(root), "--rounds", str(args.rounds),
                               "--query-threads", str(args.query_threads)],
                              env=env, capture_output=True, text=True, check=True)
        results["sizes"][str(size)] = {"corpus": info, **json.loads(done.stdout.strip().splitlines()[-1])}
        harness.log(f"{size}: {results['sizes'][str(size)]['latency_ms']['search_ms']}")
    sizes = list(results["sizes"])
    rows = []
    for size in sizes:
        r = results["sizes"][size]
        lat = r["latency_ms"]
        rows.append([r["chunks"], lat["search_ms"]["p50"], lat["search_ms"]["p95"], lat["embed_ms"]["p50"],
                     lat["chroma_ms"]["p50"], lat["chroma_ms"]["p95"], lat["bm25_ms"]["p50"], lat["bm25_ms"]["p95"],
                     lat["fuse_ms"]["p50"], r["bm25_mb"], r["chroma_mb"], r["index_mb"], r["bm25_load_s"]])
    text = harness.table(["chunks", "search p50", "search p95", "query embed p50", "Chroma p50", "Chroma p95",
                          "BM25 p50", "BM25 p95", "fuse p50", "BM25 MB", "Chroma MB", "indexes MB (RSS)",
                          "BM25 load s"], rows, "Retrieval latency (ms) and index memory by corpus size")
    if len(sizes) >= 2:
        small, large = results["sizes"][sizes[-2]], results["sizes"][sizes[-1]]
        growth = {k: large["latency_ms"][k]["p50"] / small["latency_ms"][k]["p50"]
                  for k in ("search_ms", "chroma_ms", "bm25_ms")}
        # Memory per 100k chunks: the marginal cost between the two largest corpora, so the fixed cost of
        # loading Chroma's bindings and the first BM25 structures is not counted as per-chunk memory.
        per_100k = (large["index_mb"] - small["index_mb"]) / max(1, large["chunks"] - small["chunks"]) * 100_000
        results["growth"] = {"from": small["chunks"], "to": large["chunks"], **growth, "mb_per_100k_chunks": per_100k}
        text += "\n" + harness.table(["from", "to", "search p50 growth", "Chroma p50 growth", "BM25 p50 growth",
                                      "index MB per 100k chunks (marginal)"],
                                     [[small["chunks"], large["chunks"], growth["search_ms"], growth["chroma_ms"],
                                       growth["bm25_ms"], per_100k]], "Latency growth and memory")
    results["tables_markdown"] = text
    harness.log(f"wrote {harness.write_results(args.out, results)}")


if __name__ == "__main__":
    main()
