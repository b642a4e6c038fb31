#!/usr/bin/env python3
"""Where one answer's time goes outside the language-model providers, Triple vs the LangChain baseline.

In one process, on a prepared corpus (bench/corpus.py), over the 50 eval questions: every part of Triple's
question path that is not a language-model call, timed on its own through the product's functions, and the
baseline's whole retrieval (embed_query + langchain_chroma similarity_search_by_vector, which is what its
similarity_search does). The parts are measured in interleaved rounds so the machine's load hits both alike.
The last rows are `answer_question` end to end minus its LLM provider time (generation + condensation), as
the API serves it but without HTTP, against the baseline's retrieval.

This shows the floor of the API-overhead ratio (bench/api_latency.py): the baseline's non-LLM work is a
query embedding plus one vector search, and Triple's includes both of those.

Usage: .venv/bin/python bench/overhead.py [--size 10000] [--rounds 4]
Writes bench/results/overhead.json and prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import corpus, harness
from bench.harness import percentile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", default="overhead")
    args = parser.parse_args()
    root, info = corpus.prepare(args.size)
    os.environ.update({**corpus.env_for(root), "ANSWER_CACHE_TTL": "0", "RATE_LIMIT_USER": "", "RATE_LIMIT_IP": ""})
    import django

    django.setup()
    from django.conf import settings
    from triple.conversations.services import answer_question
    from triple.knowledge import selectors as knowledge
    from triple.providers import registry
    from triple.retrieval import bm25
    from triple.retrieval.hybrid import HybridRetriever, fuse
    from triple.retrieval.tokenize import query_tokens
    from triple.retrieval.vector_store import vector_store
    from triple.sessions import selectors as history
    from triple.sessions import services as sessions

    from bench.baseline.pipeline import LocalLangChainEmbeddings, open_store

    qs = harness.eval_questions()
    build = knowledge.active_build()
    assert build is not None, "the prepared corpus has no active build"
    embedder, store = registry.embedding_provider(), vector_store()
    retriever = HybridRetriever(build_id=build.id, collection=build.collection, embedder=embedder, store=store)
    index = bm25.index_for_build(build.id)
    base = open_store(persist_directory=str(root / "baseline_chroma"), collection=corpus.baseline_collection(),
                      embeddings=LocalLangChainEmbeddings(settings.LOCAL_EMBEDDING_MODEL))
    users = [sessions.user_create().user_id for _ in range(16)]
    n_candidates = max(settings.RETRIEVAL_TOP_K, settings.RETRIEVAL_CANDIDATES)
    vectors = {q: embedder.embed_query(q) for q in qs}
    dense = {q: store.query(build.collection, vectors[q], n_candidates) for q in qs}
    sparse = {q: index.search(query_tokens(q), n_candidates) for q in qs}
    hits = {q: retriever.search(q, top_k=settings.RETRIEVAL_TOP_K) for q in qs}

    def base_retrieval(i: int) -> None:
        q = qs[i % len(qs)]
        base.similarity_search_by_vector(base.embeddings.embed_query(q), k=settings.RETRIEVAL_TOP_K)

    base_label = f"baseline: embed_query + similarity_search_by_vector (k={settings.RETRIEVAL_TOP_K})"
    parts: dict[str, tuple[str, Callable[[int], Any]]] = {
        "session check + touch (DB row, Redis key)": ("ours", lambda i: sessions.session_resume(
            user_id=users[i % len(users)])),
        "history read (Redis list)": ("ours", lambda i: history.recent_turns(user_id=users[i % len(users)])),
        "active index build (DB)": ("ours", lambda i: knowledge.active_build()),
        "query embedding (embed_query)": ("both", lambda i: embedder.embed_query(qs[i % len(qs)])),
        f"vector search, {n_candidates} candidates (Chroma ids + distances)": ("ours", lambda i: store.query(
            build.collection, vectors[qs[i % len(qs)]], n_candidates)),
        "BM25: kiwi query tokens + sparse scoring": ("ours", lambda i: index.search(
            query_tokens(qs[i % len(qs)]), n_candidates)),
        "RRF fusion + superlative rule": ("ours", lambda i: retriever._promote_superlative(qs[i % len(qs)], fuse(
            dense[qs[i % len(qs)]], sparse[qs[i % len(qs)]], top_k=n_candidates, k=settings.RRF_K))),
        "chunk rows of the hits (DB)": ("ours", lambda i: knowledge.chunks_by_ids(
            ids=[h.chunk_id for h in hits[qs[i % len(qs)]]])),
        base_label: ("baseline", base_retrieval),
    }
    samples: dict[str, list[float]] = {name: [] for name in parts}
    answers: list[dict[str, float]] = []
    for _side, fn in parts.values():  # warm-up: models, indexes, connections
        fn(0)
    for _ in range(args.rounds):
        for i in range(len(qs)):
            for name, (_, fn) in parts.items():
                started = time.perf_counter()
                fn(i)
                samples[name].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            timings = answer_question(user_id=users[i % len(users)], question=qs[i % len(qs)])["timings_ms"]
            total = (time.perf_counter() - started) * 1000
            answers.append({**timings, "wall_ms": total,
                            "non_llm_ms": total - timings.get("generate_ms", 0.0) - timings.get("condense_ms", 0.0)})
    rows: list[list[Any]] = []
    result: dict[str, Any] = {"size": args.size, "corpus": info, "rounds": args.rounds, "parts": {}}
    for name, (side, _) in parts.items():
        p50, p95 = percentile(samples[name], 50), percentile(samples[name], 95)
        result["parts"][name] = {"side": side, "p50_ms": p50, "p95_ms": p95}
        rows.append([name, side, round(p50, 2), round(p95, 2)])
    for key, label in (("store_ms", "audit write: Chat + SearchLog rows (one transaction), Redis history"),
                       ("non_llm_ms", "answer_question minus LLM provider time (no HTTP)")):
        values = [a[key] for a in answers if key in a]
        p50, p95 = percentile(values, 50), percentile(values, 95)
        result["parts"][label] = {"side": "ours", "p50_ms": p50, "p95_ms": p95}
        rows.append([label, "ours", round(p50, 2), round(p95, 2)])
    base_p50 = result["parts"][base_label]["p50_ms"]
    ours_p50 = result["parts"]["answer_question minus LLM provider time (no HTTP)"]["p50_ms"]
    result["ratio_p50"] = ours_p50 / base_p50
    result["tables_markdown"] = harness.table(
        ["part", "whose", "p50 ms", "p95 ms"], rows,
        f"Non-LLM work of one answer, {info['ours']['counts']['chunks']} chunks (ours/baseline p50 = "
        f"{ours_p50 / base_p50:.2f})")
    harness.cleanup_redis()
    harness.log(f"wrote {harness.write_results(args.out, result)}")


if __name__ == "__main__":
    main()
