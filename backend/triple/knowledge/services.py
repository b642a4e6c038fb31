"""Index builds: request → scan → parse → embed (only what is new) → activate atomically.

A build writes a fresh Chroma collection and flips `active` in one transaction, so queries never see
a half-built index and a failed build leaves the previous one serving.

Queueing: at most one build runs and at most one more waits behind it (two partial unique constraints).
An explicit rebuild (`index_build_queue`, the CLI's `index_build_create`) is refused with 409 while
either exists. An upload or a delete (`index_build_request`) never is: it joins the waiting build, which
has not scanned the data directory yet, or queues one behind the running build, so nothing requested
during a build is lost. The waiting build's task retries until the running one has finished.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from triple.core import events
from triple.core.errors import Conflict, ServiceUnavailable
from triple.knowledge import corpus, selectors
from triple.knowledge.loaders import LoadError
from triple.knowledge.models import BuildChunk, Chunk, Document, IndexBuild
from triple.providers import registry
from triple.retrieval.tokenize import tokenizer_id
from triple.retrieval.vector_store import vector_store

log = logging.getLogger(__name__)
ProgressCallback = Callable[[IndexBuild], None]
IN_PROGRESS = (IndexBuild.Status.QUEUED, IndexBuild.Status.RUNNING)
PROGRESS_WRITE_SECONDS = 0.5  # progress rows are written at most this often (the callback sees every step)
KEEP_UNCHANGED_ROWS = 20  # "nothing changed" build rows kept for the operator's history
COPY_BATCH = 1000  # vectors copied per Chroma call from an earlier build


class BuildBusy(Conflict):
    """Another build is running; this one waits (its task retries)."""

    code = "build_busy"


def collection_name(build_id: int, embedding_model: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", embedding_model).strip("-")[:48] or "model"
    return f"triple_b{build_id}_{slug}"


# --- requesting builds ------------------------------------------------------------------------------


def _new_build(*, reason: str, task_id: str = "") -> IndexBuild:
    embedder = registry.embedding_provider()
    with transaction.atomic():
        return IndexBuild.objects.create(
            embedding_provider=embedder.name, embedding_model=embedder.model, reason=reason,
            task_id=task_id or uuid.uuid4().hex,
        )


def _in_progress_conflict() -> Conflict:
    busy = IndexBuild.objects.filter(status__in=IN_PROGRESS).order_by("id").first()
    what = f"Index build {busy.id} is already {busy.status}" if busy else "An index build is already in progress"
    return Conflict(f"{what}; wait for it to finish.", code="build_in_progress",
                    extra={"build_id": busy.id, "task_id": busy.task_id} if busy else {})


def index_build_create(*, reason: str = "cli", task_id: str = "") -> IndexBuild:
    """Record a queued build (the caller runs it). Refuses with 409 while another build is queued or running."""
    index_build_reap_stale()
    if IndexBuild.objects.filter(status__in=IN_PROGRESS).exists():
        raise _in_progress_conflict()
    try:
        return _new_build(reason=reason, task_id=task_id)
    except IntegrityError:  # another request won the race for the slot
        raise _in_progress_conflict() from None


def index_build_queue(*, reason: str = "api") -> IndexBuild:
    """An explicit rebuild, handed to the Celery indexing queue. Refuses with 409 while another build is
    queued or running."""
    build = index_build_create(reason=reason)
    _dispatch(build)
    return build


def index_build_request(*, reason: str) -> IndexBuild:
    """Make sure a build that has not scanned the data directory yet will run, and return it: the waiting
    build if there is one, else a new one (queued behind a running build if need be). Never refuses."""
    index_build_reap_stale()
    for _ in range(5):
        waiting = IndexBuild.objects.filter(status=IndexBuild.Status.QUEUED).first()
        if waiting is not None:
            return waiting
        try:
            build = _new_build(reason=reason)
        except IntegrityError:  # a concurrent request created the waiting build; join it
            continue
        _dispatch(build)
        return build
    raise _in_progress_conflict()


def _dispatch(build: IndexBuild) -> None:
    """Send the build's task once the row is committed (the worker must be able to read it)."""
    from triple.knowledge import tasks  # tasks import this module

    def send() -> None:
        try:
            tasks.index_build_task.apply_async(
                kwargs={"build_id": build.id}, task_id=build.task_id, queue=settings.INDEX_QUEUE
            )
        except Exception as exc:  # broker down: the row must not block every later build
            log.exception("could not queue index build %s", build.id)
            IndexBuild.objects.filter(id=build.id, status=IndexBuild.Status.QUEUED).update(
                status=IndexBuild.Status.FAILED, error=f"could not queue the task: {type(exc).__name__}",
                finished_at=timezone.now(),
            )
            raise ServiceUnavailable("The task queue (Redis) is not reachable; try again shortly.",
                                     code="queue_unavailable") from None

    transaction.on_commit(send, robust=False)


def index_build_reap_stale() -> int:
    """Mark builds that lost their worker as failed, so they block nothing; a rerun resumes from their
    vectors. Running: no heartbeat for INDEX_STALE_SECONDS. Queued: untouched for longer than a task can
    wait in the broker (visibility timeout) plus the longest build it may wait behind."""
    now = timezone.now()
    running_cutoff = now - timedelta(seconds=settings.INDEX_STALE_SECONDS)
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    queued_cutoff = now - timedelta(seconds=visibility + settings.INDEX_TASK_TIME_LIMIT)
    reaped = IndexBuild.objects.filter(status=IndexBuild.Status.RUNNING, heartbeat_at__lt=running_cutoff).update(
        status=IndexBuild.Status.FAILED, error="worker lost (no heartbeat); run the rebuild again", finished_at=now,
    )
    queued = IndexBuild.objects.filter(status=IndexBuild.Status.QUEUED, created_at__lt=queued_cutoff)
    reaped += queued.exclude(heartbeat_at__gte=queued_cutoff).update(
        status=IndexBuild.Status.FAILED, error="the build was never started (task lost); run the rebuild again",
        finished_at=now,
    )
    if reaped and not IndexBuild.objects.filter(status=IndexBuild.Status.RUNNING).exists():
        Document.objects.filter(status=Document.Status.INDEXING).update(status=Document.Status.QUEUED)
    return reaped


def index_build_give_up(*, build_id: int, error: str) -> None:
    """Mark a build that never started as failed (its task stopped waiting), so it blocks nothing."""
    IndexBuild.objects.filter(id=build_id, status=IndexBuild.Status.QUEUED).update(
        status=IndexBuild.Status.FAILED, error=error, finished_at=timezone.now()
    )


# --- running a build --------------------------------------------------------------------------------


def _touch(build: IndexBuild, *, stage: str | None = None, done: int | None = None, total: int | None = None,
           on_progress: ProgressCallback | None = None) -> None:
    changed_stage = stage is not None and stage != build.stage
    if stage is not None:
        build.stage = stage
    if done is not None:
        build.progress_done = done
    if total is not None:
        build.progress_total = total
    now = timezone.now()
    last = build.heartbeat_at
    if (changed_stage or total is not None or build.progress_done >= build.progress_total or last is None
            or (now - last).total_seconds() >= PROGRESS_WRITE_SECONDS):
        build.heartbeat_at = now
        IndexBuild.objects.filter(id=build.id).update(
            stage=build.stage, progress_done=build.progress_done, progress_total=build.progress_total,
            heartbeat_at=now,
        )
    if on_progress:
        on_progress(build)


def _sync_documents(build: IndexBuild, on_progress: ProgressCallback | None) -> tuple[list[str], list[dict[str, str]]]:
    """Scan the data directory, parse what changed, and return the build's chunk ids and the failures."""
    previous = selectors.active_build()
    scan_started = timezone.now()
    files = list(corpus.scan())
    on_disk = {f.source for f in files}
    # Rows of files that are gone (chunks keep their text for the audit trail). A row created after the
    # scan began is an upload whose file this scan may have missed; the next build sees it.
    Document.objects.exclude(source__in=on_disk).filter(created_at__lt=scan_started).delete()
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
        except FileNotFoundError:  # deleted after the scan; the build its delete requested runs next
            Document.objects.filter(id=document.id).delete()
            _touch(build, done=number, on_progress=on_progress)
            continue
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


def _embed(build: IndexBuild, chunk_ids: list[str], on_progress: ProgressCallback | None) -> dict[str, float]:
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
    chunks = {c.id: c for part in corpus.batched(chunk_ids, corpus.QUERY_BATCH)
              for c in Chunk.objects.filter(id__in=part).only("id", "text", "source", "metadata")}
    todo = [i for i in chunk_ids if i not in already]
    _touch(build, stage="embed", done=len(chunk_ids) - len(todo), total=len(chunk_ids), on_progress=on_progress)
    # Vectors that exist already are copied first, in large batches (Chroma's per-call cost dominates).
    copy = [i for i in todo if i in known]
    fresh = [i for i in todo if i not in known]
    for start in range(0, len(copy), COPY_BATCH):
        ids = copy[start : start + COPY_BATCH]
        store.add(build.collection, ids, [known[i] for i in ids], [_vector_metadata(chunks[i]) for i in ids])
        _touch(build, done=build.progress_done + len(ids), on_progress=on_progress)
    batch = max(1, settings.EMBED_BATCH_SIZE)
    for start in range(0, len(fresh), batch):
        ids = fresh[start : start + batch]
        vectors = embedder.embed_documents([chunks[i].text for i in ids])
        if settings.INDEX_TEST_EMBED_DELAY:
            time.sleep(settings.INDEX_TEST_EMBED_DELAY)
        store.add(build.collection, ids, vectors, [_vector_metadata(chunks[i]) for i in ids])
        _touch(build, done=build.progress_done + len(ids), on_progress=on_progress)
    copied, embedded = len(copy), len(fresh)
    return {"embedded": embedded, "copied": copied, "resumed": len(already)}


def _vector_metadata(chunk: Chunk) -> dict[str, str | int | float | bool]:
    meta = {k: v for k, v in chunk.metadata.items() if isinstance(v, (str, int, float, bool))}
    meta["source"] = chunk.source
    return meta


def _activate(build: IndexBuild, chunk_ids: list[str], counts: dict[str, float | str]) -> None:
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


def _prune(keep: int) -> None:
    """Drop the collections of old builds (keeping `keep` successful ones for replay, and the newest failed
    one so a rerun can resume) and all but the last few "nothing changed" rows."""
    store = vector_store()
    survivors = set(IndexBuild.objects.filter(status=IndexBuild.Status.SUCCEEDED).order_by("-id")
                    .values_list("id", flat=True)[:keep])
    kept = set(IndexBuild.objects.filter(id__in=survivors).values_list("collection", flat=True))
    for old in IndexBuild.objects.exclude(id__in=survivors).exclude(collection="").filter(active=False):
        if old.status in IN_PROGRESS:
            continue
        if old.status == IndexBuild.Status.FAILED and old.id > max(survivors or {0}):
            continue  # the newest failed build keeps its vectors so a rerun can resume
        if old.collection not in kept:
            store.delete(old.collection)
        IndexBuild.objects.filter(id=old.id).update(collection="")
    unchanged = IndexBuild.objects.filter(status=IndexBuild.Status.UNCHANGED)
    recent = list(unchanged.order_by("-id").values_list("id", flat=True)[:KEEP_UNCHANGED_ROWS])
    unchanged.exclude(id__in=recent).filter(chats__isnull=True).delete()


def _start(build: IndexBuild) -> None:
    """Take the running slot (or keep it, for a task redelivered after its worker died)."""
    resumed = build.status == IndexBuild.Status.RUNNING
    build.collection = build.collection or collection_name(build.id, build.embedding_model)
    now = timezone.now()
    try:
        with transaction.atomic():
            IndexBuild.objects.filter(id=build.id).update(
                status=IndexBuild.Status.RUNNING, started_at=build.started_at or now, heartbeat_at=now,
                collection=build.collection, error="", finished_at=None,
                stage=build.stage if resumed else "scan",
            )
    except IntegrityError:
        running = IndexBuild.objects.filter(status=IndexBuild.Status.RUNNING).first()
        IndexBuild.objects.filter(id=build.id).update(stage="waiting", heartbeat_at=now)
        raise BuildBusy(f"Build {running.id if running else '?'} is running; build {build.id} waits for it.") from None
    build.status, build.heartbeat_at = IndexBuild.Status.RUNNING, now
    if resumed:
        log.warning("resuming index build %s (its previous worker stopped mid-build)", build.id)


def _finish_unchanged(build: IndexBuild, chunk_ids: list[str], failures: list[dict[str, str]],
                      started: float) -> None:
    counts = {"chunks": len(chunk_ids), "embedded": 0, "copied": 0, "failed_documents": len(failures),
              "seconds": round(time.perf_counter() - started, 3), "tokenizer": tokenizer_id()}
    vector_store().delete(build.collection)  # only exists when a resumed build turned out unchanged
    now = timezone.now()
    with transaction.atomic():
        IndexBuild.objects.filter(id=build.id).update(
            status=IndexBuild.Status.UNCHANGED, stage="done", counts=counts, collection="",
            finished_at=now, progress_done=build.progress_total,
        )
        Document.objects.filter(status=Document.Status.INDEXING).update(
            status=Document.Status.INDEXED, indexed_at=now
        )


def index_build_run(*, build_id: int, on_progress: ProgressCallback | None = None) -> IndexBuild:
    """Run a queued, interrupted or transiently failed build to the end and activate it.

    Raises BuildBusy (nothing changed) while another build runs. Other failures are recorded on the
    build and re-raised; the previously active build stays active. A build that already finished, or a
    failed one that a newer build superseded, is returned as it is.
    """
    build = IndexBuild.objects.get(id=build_id)
    if build.status in (IndexBuild.Status.SUCCEEDED, IndexBuild.Status.UNCHANGED):
        return build
    if build.status == IndexBuild.Status.FAILED and IndexBuild.objects.filter(id__gt=build.id).exists():
        return build
    started = time.perf_counter()
    _start(build)
    try:
        embedder = registry.embedding_provider()
        if embedder.model != build.embedding_model:
            raise Conflict(f"Build {build.id} was queued for {build.embedding_model}, but the embedding provider "
                           f"is now {embedder.model}; queue a new build.", code="embedding_model_changed")
        chunk_ids, failures = _sync_documents(build, on_progress)
        IndexBuild.objects.filter(id=build.id).update(failures=failures)
        previous = selectors.active_build()
        # BM25 tokens live on the chunk rows: a new tokenizer version re-tokenizes them, and the build is
        # then activated even if no chunk changed (the new build's BM25 index is loaded from the new tokens).
        tokens_current = corpus.retokenize_if_needed(previous, chunk_ids)
        if (previous and tokens_current and previous.embedding_model == build.embedding_model
                and set(selectors.build_chunk_ids(build_id=previous.id)) == set(chunk_ids)):
            _finish_unchanged(build, chunk_ids, failures, started)
        else:
            if not chunk_ids:
                detail = f": {failures[0]['error']}" if failures else ""
                raise LoadError("data", "no document could be indexed" + detail)
            counts: dict[str, float | str] = {**_embed(build, chunk_ids, on_progress), "tokenizer": tokenizer_id()}
            counts.update(chunks=len(chunk_ids), failed_documents=len(failures),
                          seconds=round(time.perf_counter() - started, 3))
            _activate(build, chunk_ids, counts)
        _prune(settings.INDEX_KEEP_BUILDS)
    except Exception as exc:
        log.exception("index build %s failed", build.id)
        IndexBuild.objects.filter(id=build.id).update(
            status=IndexBuild.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        Document.objects.filter(status=Document.Status.INDEXING).update(status=Document.Status.QUEUED)
        raise
    build.refresh_from_db()
    return build
