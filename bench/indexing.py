#!/usr/bin/env python3
"""Indexing: chunks per second of a full build, and an unchanged rebuild and a one-document change as
fractions of the full build, all through Triple's build service with the real embedding model.

The corpus is bench/corpus.py's (shipped data + synthetic JSONL records, 100 per file). "One changed
document" rewrites one record of one synthetic file (the file is re-parsed, one chunk re-embedded). The
baseline (plain LangChain, bench/baseline/pipeline.py) has no incremental path: any change is a full build.

Usage: .venv/bin/python bench/indexing.py [--chunks 1000] [--model usem3] [--no-baseline]
Writes bench/results/indexing.json and prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import corpus, harness


def cpu_seconds() -> float:
    return time.process_time()


def timed_build(threads: int) -> dict[str, Any]:
    if threads:  # A/B knob, as bench/retrieval_quality.py --embed-threads
        from triple.providers import registry

        registry.embedding_provider()._engine._model.threads = threads
    cpu = cpu_seconds()
    result = corpus.build()
    result["cpu_seconds"] = cpu_seconds() - cpu
    harness.log(f"build {result['build_id']}: {result['status']} {result['counts']} in {result['seconds']:.1f}s "
                f"(CPU {result['cpu_seconds']:.1f}s)")
    return result


def change_one_record(data: Path) -> str:
    files = sorted((data / "synthetic").glob("*.jsonl"))
    target = files[len(files) // 2] if files else data / "docs" / "faq_en.md"
    if target.suffix == ".jsonl":
        lines = target.read_text(encoding="utf-8").splitlines()
        record = json.loads(lines[0])
        record["text"] += " (수정됨: changed for the incremental benchmark)"
        lines[0] = json.dumps(record, ensure_ascii=False)
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        target.write_text(target.read_text(encoding="utf-8") + "\n\nChanged for the benchmark.\n", encoding="utf-8")
    return target.relative_to(data).as_posix()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--model", default="usem3")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--embed-threads", type=int, default=0, help="usem3 BLAS threads (0 = as shipped, 1)")
    parser.add_argument("--out", default="indexing")
    args = parser.parse_args()
    tmp = harness.make_tmp("triple-bench-index-")
    data = corpus.write_corpus(tmp / "data", args.chunks)
    harness.setup_django(tmp, data_dir=data, LOCAL_EMBEDDING_MODEL=args.model)
    out: dict[str, Any] = {"chunks_requested": args.chunks, "model": args.model,
                           "embed_threads": args.embed_threads or "as shipped (1)"}
    try:
        full = timed_build(args.embed_threads)
        unchanged = timed_build(args.embed_threads)
        changed_source = change_one_record(data)
        changed = timed_build(args.embed_threads)
        chunks = full["counts"]["chunks"]
        out.update(full=full, unchanged=unchanged, changed=changed, changed_source=changed_source,
                   chunks=chunks, chunks_per_s=chunks / full["seconds"],
                   unchanged_ratio=unchanged["seconds"] / full["seconds"],
                   changed_ratio=changed["seconds"] / full["seconds"])
        rows = [
            ["Triple full build", chunks, full["seconds"], chunks / full["seconds"], 1.0,
             full["counts"].get("embedded")],
            ["Triple unchanged rebuild", chunks, unchanged["seconds"], None, out["unchanged_ratio"],
             unchanged["counts"].get("embedded")],
            [f"Triple one changed document ({changed_source})", chunks, changed["seconds"], None,
             out["changed_ratio"], changed["counts"].get("embedded")],
        ]
        if not args.no_baseline:
            from bench.baseline import pipeline

            embeddings = pipeline.LocalLangChainEmbeddings(args.model)
            embeddings.embed_query("warm-up")
            if args.embed_threads and args.model == "usem3":
                embeddings.inner._engine._model.threads = args.embed_threads
            started = time.perf_counter()
            docs = pipeline.split(pipeline.load_documents(data))
            _, _ = pipeline.build(docs, persist_directory=str(tmp / "baseline_chroma"), collection="baseline",
                                  embeddings=embeddings)
            seconds = time.perf_counter() - started
            out["baseline"] = {"chunks": len(docs), "seconds": seconds, "chunks_per_s": len(docs) / seconds}
            rows.append(["LangChain baseline full build (any change = full build)", len(docs), seconds,
                         len(docs) / seconds, None, len(docs)])
        out["tables_markdown"] = harness.table(
            ["build", "chunks", "seconds", "chunks/s", "fraction of full build", "embedded"], rows,
            f"Indexing ({args.model}, {chunks} chunks, BLAS threads: {args.embed_threads or 'as shipped (1)'})")
    finally:
        harness.cleanup_redis()
        harness.remove_tmp(tmp)
    harness.log(f"wrote {harness.write_results(args.out, out)}")


if __name__ == "__main__":
    main()
