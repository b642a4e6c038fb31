"""Scanning the data directory and turning changed files into Chunk rows."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from triple.knowledge.loaders import SUPPORTED_EXTENSIONS, LoadError, ParsedChunk, kind_of, load_file
from triple.knowledge.models import Chunk, Document, IndexBuild
from triple.retrieval.tokenize import tokenize, tokenizer_id

QUERY_BATCH = 5000  # ids per IN (...) query: SQLite caps the number of bound parameters
# Top-level folders of DATA_DIR that hold no documents: evaluation sets and images.
SKIPPED_DIRS = {"eval"}
SKIPPED_NAMES = {"readme.md"}


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    source: str
    sha256: str
    size: int


def batched(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(data_dir: Path | None = None) -> Iterator[CorpusFile]:
    """Every indexable file under the data directory, in a stable order."""
    root = (data_dir or settings.DATA_DIR).resolve()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if rel.parts[0] in SKIPPED_DIRS or path.name.lower() in SKIPPED_NAMES:
            continue
        if kind_of(path) not in SUPPORTED_EXTENSIONS:
            continue
        try:
            yield CorpusFile(path, rel.as_posix(), file_sha256(path), path.stat().st_size)
        except FileNotFoundError:  # deleted while we scanned: the build requested by the delete drops it
            continue


def chunk_id(source: str, parsed: ParsedChunk) -> str:
    return hashlib.sha256(f"{source}\x00{parsed.locator}\x00{parsed.text}".encode()).hexdigest()[:40]


def parse_document(document: Document, path: Path) -> list[str]:
    """Parse one file into Chunk rows (existing ids are kept as they are) and return the chunk ids.

    Raises LoadError for a malformed file; nothing is written in that case.
    """
    parsed = load_file(path, source=document.source, data_dir=settings.DATA_DIR)
    ids = [chunk_id(document.source, p) for p in parsed]
    if len(set(ids)) != len(ids):  # identical rows: keep the first, ids must be unique
        seen: set[str] = set()
        parsed = [p for p, i in zip(parsed, ids, strict=True) if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]
        ids = list(dict.fromkeys(ids))
    existing: set[str] = set()
    for part in batched(ids, QUERY_BATCH):
        existing.update(Chunk.objects.filter(id__in=part).values_list("id", flat=True))
    new_rows = [
        Chunk(
            id=i,
            document=document,
            source=document.source,
            locator=p.locator,
            ordinal=p.ordinal,
            text=p.text,
            tokens=" ".join(tokenize(p.text)),
            metadata={**p.metadata, "kind": document.kind},
            image_urls=list(p.image_urls),
        )
        for p, i in zip(parsed, ids, strict=True)
        if i not in existing
    ]
    Chunk.objects.bulk_create(new_rows, batch_size=500, ignore_conflicts=True)
    for part in batched(sorted(existing), QUERY_BATCH):
        Chunk.objects.filter(id__in=part, document__isnull=True).update(document=document)
    return ids


def retokenize_if_needed(previous: IndexBuild | None, chunk_ids: list[str]) -> bool:
    """BM25 tokens are stored with the chunks; when the tokenizer changed since the active build, re-tokenize
    the build's chunks. Returns True when the stored tokens were already current."""
    if previous is None or previous.counts.get("tokenizer") == tokenizer_id():
        return True
    for start in range(0, len(chunk_ids), 1000):
        batch = list(Chunk.objects.filter(id__in=chunk_ids[start : start + 1000]).only("id", "text"))
        for chunk in batch:
            chunk.tokens = " ".join(tokenize(chunk.text))
        Chunk.objects.bulk_update(batch, ["tokens"], batch_size=500)
    return False


__all__ = ["CorpusFile", "LoadError", "chunk_id", "file_sha256", "parse_document", "scan"]
