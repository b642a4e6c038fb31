"""Index builds: scan → parse → embed (only what is new) → activate atomically.

A build writes a fresh Chroma collection and flips `active` in one transaction, so queries never see
a half-built index and a failed build leaves the previous one serving.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from triple.core import events
from triple.core.errors import Conflict
from triple.knowledge import corpus, selectors
from triple.knowledge.loaders import LoadError
from triple.knowledge.models import BuildChunk, Chunk, Document, IndexBuild
from triple.providers import registry
from triple.retrieval.vector_store import vector_store

log = logging.getLogger(__name__)
ProgressCallback = Callable[[IndexBuild], None]
STALE_AFTER = timedelta(seconds=120)  # a running build whose heartbeat is older has lost its worker
IN_PROGRESS = (IndexBuild.Status.QUEUED, IndexBuild.Status.RUNNING)


def collection_name(build_id: int, embedding_model: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", embedding_model).strip("-")[:48] or "model"
    return f"triple_b{build_id}_{slug}"


def index_build_create(*, task_id: str = "") -> IndexBuild:
    """Record a queued build. Refuses with 409 while another build is queued or running."""
    index_build_reap_stale()
    embedder = registry.embedding_provider()
    try:
        with transaction.atomic():
            return IndexBuild.objects.create(
                embedding_provider=embedder.name, embedding_model=embedder.model, task_id=task_id
            )
    except IntegrityError:
        running = IndexBuild.objects.filter(status__in=IN_PROGRESS).first()
        raise Conflict(
            f"Index build {running.id if running else '?'} is already {running.status if running else 'running'}; "
            "wait for it to finish.",
            code="build_in_progress",
        ) from None


def index_build_reap_stale() -> int:
    """Mark in-progress builds whose worker stopped sending heartbeats as failed (resumable by rerun)."""
    cutoff = timezone.now() - STALE_AFTER
    stale = IndexBuild.objects.filter(status=IndexBuild.Status.RUNNING, heartbeat_at__lt=cutoff)
    return stale.update(status=IndexBuild.Status.FAILED, error="worker lost (no heartbeat); run the rebuild again",
                        finished_at=timezone.now())


def _touch(build: IndexBuild, *, stage: str | None = None, done: int | None = None, total: int | None = None,
           on_progress: ProgressCallback | None = None) -> None:
    if stage is not None:
        build.stage = stage
    if done is not None:
        build.progress_done = done
    if total is not None:
        build.progress_total = total
    build.heartbeat_at = timezone.now()
    IndexBuild.objects.filter(id=build.id).update(
        stage=build.stage, progress_done=build.progress_done, progress_total=build.progress_total,
        heartbeat_at=build.heartbeat_at,
    )
    if on_progress:
        on_progress(build)


def _sync_documents(build: IndexBuild, on_progress: ProgressCallback | None) -> tuple[list[str], list[dict[str, str]]]:
    """Scan the data directory, parse what changed, and return the build's chunk ids and the failures."""
    previous = selectors.active_build()
    files = list(corpus.scan())
    on_disk = {f.source for f in files}
    Document.objects.exclude(source__in=on_disk).delete()  # chunks keep their text for the audit trail
    chunk_ids: list[str] = []
    failures: list[dict[str, str]] = []
    _touch(build, stage="parse", done=0, total=len(files), on_progress=on_progress)
    for number, item in enumerate(files, start=1):
        document, _ = Document.objects.get_or_create(
            source=item.source, defaults={"sha256": item.sha256, "kind": corpus.kind_of(item.path)}
        )
        reused: list[str] = []
        if previous and document.sha256 == item.sha256 and document.status == Document.Status.INDEXED:
            reused = list(
                BuildChunk.objects.filter(build=previous, chunk__source=item.source)
                .order_by("chunk__ordinal").values_list("chunk_id", flat=True)
            )
        try:
            ids = reused or corpus.parse_document(document, item.path)
        except LoadError as exc:
            failures.append({"document": item.source, "stage": "parse", "error": str(exc)})
            Document.objects.filter(id=document.id).update(
                status=Document.Status.FAILED, error=str(exc), sha256=item.sha256, size_bytes=item.size
            )
        else:
            chunk_ids.extend(ids)
            Document.objects.filter(id=document.id).update(
                sha256=item.sha256, size_bytes=item.size, rows=len(ids), error="",
                status=Document.Status.INDEXED if reused else Document.Status.INDEXING,
            )
        _touch(build, done=number, on_progress=on_progress)
    return list(dict.fromkeys(chunk_ids)), failures


def _vector_sources(build: IndexBuild) -> list[str]:
    """Collections whose vectors this build may copy instead of re-embedding: same embedding model,
    the active build and the latest failed builds (so a rerun after a crash resumes where it stopped)."""
    same_model = IndexBuild.objects.filter(embedding_model=build.embedding_model).exclude(id=build.id)
    same_model = same_model.exclude(collection="")
    candidates = list(same_model.filter(active=True))
    candidates += list(same_model.filter(status=IndexBuild.Status.FAILED).order_by("-id")[:2])
    names = [build.collection]
    names += [other.collection for other in candidates if other.collection not in names]
    return names


def _embed(build: IndexBuild, chunk_ids: list[str], on_progress: ProgressCallback | None) -> dict[str, int]:
    store = vector_store()
    embedder = registry.embedding_provider()
    known: dict[str, list[float]] = {}
    for name in _vector_sources(build):
        missing = [i for i in chunk_ids if i not in known]
        if not missing:
            break
        known.update(store.embeddings(name, missing))
    if not store.exists(build.collection):
        store.create(build.collection, embedding_model=build.embedding_model)
    already = set(store.embeddings(build.collection, chunk_ids))
    chunks = {c.id: c for c in Chunk.objects.filter(id__in=chunk_ids).only("id", "text", "source", "metadata")}
    todo = [i for i in chunk_ids if i not in already]
    _touch(build, stage="embed", done=len(chunk_ids) - len(todo), total=len(chunk_ids), on_progress=on_progress)
    copied = embedded = 0
    batch = max(1, settings.EMBED_BATCH_SIZE)
    for start in range(0, len(todo), batch):
        ids = todo[start : start + batch]
        fresh = [i for i in ids if i not in known]
        if fresh:
            vectors = embedder.embed_documents([chunks[i].text for i in fresh])
            known.update(zip(fresh, vectors, strict=True))
            embedded += len(fresh)
        copied += len(ids) - len(fresh)
        store.add(build.collection, ids, [known[i] for i in ids], [_vector_metadata(chunks[i]) for i in ids])
        _touch(build, done=build.progress_done + len(ids), on_progress=on_progress)
    return {"embedded": embedded, "copied": copied, "resumed": len(already)}


def _vector_metadata(chunk: Chunk) -> dict[str, str | int | float | bool]:
    meta = {k: v for k, v in chunk.metadata.items() if isinstance(v, (str, int, float, bool))}
    meta["source"] = chunk.source
    return meta


def _activate(build: IndexBuild, chunk_ids: list[str], counts: dict[str, int]) -> None:
    _touch(build, stage="activate")
    BuildChunk.objects.filter(build=build).delete()
    BuildChunk.objects.bulk_create([BuildChunk(build=build, chunk_id=i) for i in chunk_ids], batch_size=2000)
    with transaction.atomic():
        IndexBuild.objects.filter(active=True).exclude(id=build.id).update(active=False)
        now = timezone.now()
        IndexBuild.objects.filter(id=build.id).update(
            active=True, status=IndexBuild.Status.SUCCEEDED, stage="done", counts=counts,
            finished_at=now, activated_at=now, progress_done=build.progress_total,
        )
        Document.objects.filter(status=Document.Status.INDEXING).update(
            status=Document.Status.INDEXED, indexed_at=now
        )
    events.publish("index_activated", {"build_id": build.id, "collection": build.collection})


def _prune_collections(keep: int) -> None:
    store = vector_store()
    survivors = set(IndexBuild.objects.filter(status=IndexBuild.Status.SUCCEEDED).order_by("-id")
                    .values_list("id", flat=True)[:keep])
    for old in IndexBuild.objects.exclude(id__in=survivors).exclude(collection="").filter(active=False):
        if old.status in IN_PROGRESS:
            continue
        if old.status == IndexBuild.Status.FAILED and old.id > max(survivors or {0}):
            continue  # the newest failed build keeps its vectors so a rerun can resume
        if old.collection not in set(IndexBuild.objects.filter(id__in=survivors).values_list("collection", flat=True)):
            store.delete(old.collection)
        IndexBuild.objects.filter(id=old.id).update(collection="")


def index_build_run(*, build_id: int, on_progress: ProgressCallback | None = None) -> IndexBuild:
    """Run a queued (or interrupted) build to the end. Failures are recorded on the build and re-raised;
    the previously active build stays active."""
    build = IndexBuild.objects.get(id=build_id)
    if build.status in (IndexBuild.Status.SUCCEEDED, IndexBuild.Status.UNCHANGED):
        return build
    started = time.perf_counter()
    build.collection = build.collection or collection_name(build.id, build.embedding_model)
    IndexBuild.objects.filter(id=build.id).update(
        status=IndexBuild.Status.RUNNING, started_at=timezone.now(), collection=build.collection, error=""
    )
    try:
        embedder = registry.embedding_provider()
        if embedder.model != build.embedding_model:
            raise Conflict(f"Build {build.id} was queued for {build.embedding_model}, but the embedding provider "
                           f"is now {embedder.model}; queue a new build.", code="embedding_model_changed")
        chunk_ids, failures = _sync_documents(build, on_progress)
        IndexBuild.objects.filter(id=build.id).update(failures=failures)
        previous = selectors.active_build()
        if (previous and previous.embedding_model == build.embedding_model
                and set(selectors.build_chunk_ids(build_id=previous.id)) == set(chunk_ids)):
            counts = {"chunks": len(chunk_ids), "embedded": 0, "copied": 0, "failed_documents": len(failures),
                      "seconds": round(time.perf_counter() - started, 3)}
            IndexBuild.objects.filter(id=build.id).update(
                status=IndexBuild.Status.UNCHANGED, stage="done", counts=counts, collection="",
                finished_at=timezone.now(), progress_done=build.progress_total,
            )
            Document.objects.filter(status=Document.Status.INDEXING).update(status=Document.Status.INDEXED)
            build.refresh_from_db()
            return build
        if not chunk_ids:
            raise LoadError("data", "no document could be indexed" + (f": {failures[0]['error']}" if failures else ""))
        counts = _embed(build, chunk_ids, on_progress)
        counts.update(chunks=len(chunk_ids), failed_documents=len(failures),
                      seconds=round(time.perf_counter() - started, 3))
        _activate(build, chunk_ids, counts)
        _prune_collections(settings.INDEX_KEEP_BUILDS)
    except Exception as exc:
        log.exception("index build %s failed", build.id)
        IndexBuild.objects.filter(id=build.id).update(
            status=IndexBuild.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        Document.objects.filter(status=Document.Status.INDEXING).update(status=Document.Status.QUEUED)
        raise
    build.refresh_from_db()
    return build
