"""The question path: session → history → condense → retrieve → generate → record.

No stage is skipped silently: a failing stage is recorded on the Chat row (with the failed provider
attempts) and surfaces as a clear error, or is answered by the configured fallback provider.
"""
from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from triple.audit.models import SearchLog
from triple.conversations import cache, routing
from triple.conversations.models import Chat
from triple.core import metrics
from triple.core.errors import ApplicationError, Conflict, InvalidInput, ServiceUnavailable
from triple.core.language import detect_language
from triple.core.pii import mask_pii
from triple.knowledge import selectors as knowledge
from triple.knowledge.models import Chunk, IndexBuild
from triple.providers import chain, registry, selection
from triple.providers.chain import Attempt
from triple.providers.errors import ProviderError
from triple.providers.prompts import PROMPT_VERSION
from triple.providers.types import GenerationRequest, GenerationResult, Passage, StreamChunk, Turn, Usage
from triple.retrieval.hybrid import Hit, HybridRetriever
from triple.retrieval.vector_store import vector_store
from triple.sessions import selectors as history
from triple.sessions import services as sessions

MAX_TOP_K = 20
_CITATION = re.compile(r"\[(\d{1,2})\]")


@dataclass
class Prepared:
    """Everything known about a question before the answer is generated."""

    chat_id: uuid.UUID
    user_id: str
    question: str
    language: str
    top_k: int
    filters: dict[str, Any]
    providers: dict[str, str]
    history: tuple[Turn, ...] = ()
    standalone_query: str = ""
    reasoning_model: str = ""
    reasoning_provider: str = ""
    build: IndexBuild | None = None
    embedding_model: str = ""
    hits: list[Hit] = field(default_factory=list)
    chunks: dict[str, Chunk] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    started: float = field(default_factory=time.perf_counter)
    route: str = routing.RAG
    canned: str | None = None  # an answer the router gives itself (small talk, out of corpus)
    cached: cache.CachedAnswer | None = None
    cache_key: str = ""
    use_cache: bool = True
    replay: bool = False  # a replay is recorded with route "replay" and stays out of the session's history

    def passages(self) -> tuple[Passage, ...]:
        return tuple(
            Passage(number=hit.rank, text=self.chunks[hit.chunk_id].text, source=self.chunks[hit.chunk_id].source,
                    locator=self.chunks[hit.chunk_id].locator,
                    metadata={**self.chunks[hit.chunk_id].metadata, **({"_note": hit.note} if hit.note else {})})
            for hit in self.hits
        )

    def request(self) -> GenerationRequest:
        return GenerationRequest(question=self.question, passages=self.passages(), history=self.history,
                                 language=self.language)


class _Timer:
    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] = round((time.perf_counter() - self.start) * 1000, 2)


def validate_question(question: object) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput("The question is empty.", code="empty_question")
    question = question.strip()
    if len(question) > settings.MAX_QUESTION_CHARS:
        raise InvalidInput(
            f"The question has {len(question)} characters; the limit is {settings.MAX_QUESTION_CHARS}.",
            code="question_too_long",
        )
    if any(ord(ch) < 32 and ch not in "\n\t\r" for ch in question):
        raise InvalidInput("The question contains control characters.", code="invalid_characters")
    return question


_FILTER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_SCALARS = (str, int, float, bool)


def validate_filters(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metadata filters: field name -> a scalar, or a non-empty list of scalars of one type. Anything else
    (operators such as `$or`, nested objects, nulls, mixed lists) is refused here rather than by the vector
    store, which would raise deep inside retrieval."""
    if filters is None:
        return {}
    if not isinstance(filters, Mapping) or len(filters) > 10:
        raise InvalidInput("filters must be an object of at most 10 fields.", code="invalid_filters")
    for key, value in filters.items():
        if not isinstance(key, str) or not _FILTER_KEY.match(key):
            raise InvalidInput(f"filters: {str(key)[:40]!r} is not a field name.", code="invalid_filters")
        values = value if isinstance(value, list) else [value]
        if (not values or len(values) > 100 or not all(type(v) in _SCALARS for v in values)
                or len({type(v) for v in values}) > 1):
            raise InvalidInput(f"filters.{key} must be a string, number or boolean, or a non-empty list of "
                               "values of one of those types.", code="invalid_filters")
    return dict(filters)


def _prepare(*, user_id: str, question: str, top_k: int | None, filters: Mapping[str, Any] | None,
             providers: Mapping[str, str] | None) -> Prepared:
    question = validate_question(question)
    filters = validate_filters(filters)
    top_k = top_k or settings.RETRIEVAL_TOP_K
    if not 1 <= top_k <= MAX_TOP_K:
        raise InvalidInput(f"top_k must be between 1 and {MAX_TOP_K}.", code="invalid_top_k")
    timings: dict[str, float] = {}
    with _Timer(timings, "session_ms"):
        sessions.session_resume(user_id=user_id)
    chosen = selection.selection_get(user_id=user_id)
    for role, name in (providers or {}).items():
        selection.validate_choice(role, name)
        chosen[role] = name
    prep = Prepared(chat_id=uuid.uuid4(), user_id=user_id, question=question, language=detect_language(question),
                    top_k=top_k, filters=dict(filters or {}), providers=chosen, timings=timings)
    with _Timer(timings, "history_ms"):
        prep.history = history.recent_turns(user_id=user_id)
    return prep


def _condense_and_retrieve(prep: Prepared, build: IndexBuild | None = None) -> None:
    """Condense, then retrieve from `build` (default: the active one). Small talk skips both; a cached
    answer skips the retrieval (its hits come from the cache); weak evidence routes to "not found"."""
    talk = routing.smalltalk_detect(prep.question, prep.language) if settings.INTENT_ROUTING else None
    if talk is not None:
        prep.route, prep.canned, prep.standalone_query = routing.SMALLTALK, talk.reply, prep.question
        return
    with _Timer(prep.timings, "condense_ms"):
        if prep.history:
            result, failed = chain.condense(prep.question, prep.history, prep.language,
                                            prep.providers["reasoning"], settings.REASONING_FALLBACKS)
            prep.attempts += failed
            prep.standalone_query = result.query.strip() or prep.question
            prep.reasoning_provider, prep.reasoning_model = result.provider, result.model
            prep.usage = prep.usage + result.usage
        else:
            prep.standalone_query = prep.question
    with _Timer(prep.timings, "retrieve_ms"):
        build = build or knowledge.active_build()
        if build is None:
            raise ServiceUnavailable("No index is active yet; run the index build first.", code="index_not_ready")
        embedder = registry.embedding_provider()
        if build.embedding_model != embedder.model:
            raise Conflict(
                f"The active index was built with {build.embedding_model}, but the embedding provider is now "
                f"{embedder.model}. Rebuild the index before asking.", code="index_model_mismatch",
            )
        retriever = HybridRetriever(build_id=build.id, collection=build.collection, embedder=embedder,
                                    store=vector_store())
        prep.build, prep.embedding_model = build, embedder.model
        if prep.use_cache:
            prep.cache_key = cache.answer_cache_key(standalone_query=prep.standalone_query, build_id=build.id,
                                                    providers=prep.providers, top_k=prep.top_k, filters=prep.filters)
            prep.cached = cache.answer_cache_get(key=prep.cache_key)
        if prep.cached is not None:
            prep.hits, prep.route = list(prep.cached.hits), prep.cached.route
        else:
            prep.hits = retriever.search(prep.standalone_query, top_k=prep.top_k, filters=prep.filters)
            prep.timings.update(retriever.timings)
            if settings.INTENT_ROUTING and routing.out_of_corpus(prep.hits):
                prep.route, prep.canned = routing.OUT_OF_CORPUS, routing.not_found_reply(prep.language)
        prep.chunks = knowledge.chunks_by_ids(ids=[hit.chunk_id for hit in prep.hits])


def _shortcut(prep: Prepared) -> GenerationResult | None:
    """The answer when no generator needs to run: a cached one, or the router's own."""
    if prep.cached is not None:
        return GenerationResult(text=prep.cached.response, provider=prep.cached.provider, model=prep.cached.model,
                                usage=Usage())
    if prep.canned is not None:
        return GenerationResult(text=prep.canned, provider=routing.ROUTER_PROVIDER, model=f"{prep.route}-v1",
                                usage=Usage())
    return None


def _generation_stream(prep: Prepared) -> Iterator[tuple[str, str, StreamChunk]]:
    shortcut = _shortcut(prep)
    if shortcut is None:
        yield from chain.stream(prep.request(), prep.providers["generation"], settings.GENERATION_FALLBACKS,
                                prep.attempts)
        return
    for piece in re.findall(r"\S+\s*|\s+", shortcut.text):
        yield shortcut.provider, shortcut.model, StreamChunk(text=piece)
    yield shortcut.provider, shortcut.model, StreamChunk(usage=shortcut.usage)


def _cache_store(prep: Prepared, chat: Chat) -> None:
    """Cache answers that the requested providers wrote themselves (not fallbacks, not failures)."""
    if (prep.cache_key and prep.cached is None and chat.status == Chat.Status.OK and chat.response
            and not prep.attempts and prep.route in (routing.RAG, routing.OUT_OF_CORPUS)):
        cache.answer_cache_set(key=prep.cache_key, response=chat.response, provider=chat.generation_provider,
                               model=chat.generation_model, route=chat.route, hits=prep.hits, chat_id=str(chat.id))


def cited_numbers(text: str) -> set[int]:
    return {int(n) for n in _CITATION.findall(text)}


def _record(prep: Prepared, *, response: str, status: str, provider: str = "", model: str = "",
            usage: Usage | None = None, error: ApplicationError | ProviderError | None = None) -> Chat:
    """Write the Chat row and its SearchLog rows in one transaction."""
    cited = cited_numbers(response)
    prep.timings["total_ms"] = round((time.perf_counter() - prep.started) * 1000, 2)
    total_usage = prep.usage + (usage or Usage())
    if prep.route == routing.RAG and routing.is_not_found_reply(response):
        prep.route = routing.OUT_OF_CORPUS  # the generator itself found nothing to answer from
    usage_row: dict[str, Any] = total_usage.as_dict()
    if prep.cached is not None:
        usage_row["cached_from"] = prep.cached.chat_id  # the chat that spent the tokens
    question, standalone = prep.question, prep.standalone_query
    if settings.AUDIT_MASK_PII:
        question, standalone = mask_pii(question), mask_pii(standalone)
    with transaction.atomic():
        chat = Chat.objects.create(
            id=prep.chat_id, user_id=prep.user_id, question=question, standalone_query=standalone,
            route=routing.REPLAY if prep.replay else prep.route, cached=prep.cached is not None,
            language=prep.language, response=response, status=status,
            error_code=getattr(error, "code", "") if error else "",
            error=getattr(error, "message", "") if error else "",
            reasoning_provider=prep.reasoning_provider, reasoning_model=prep.reasoning_model,
            generation_provider=provider, generation_model=model, embedding_model=prep.embedding_model,
            index_build=prep.build, prompt_version=PROMPT_VERSION, top_k=prep.top_k, filters=prep.filters,
            attempts=[a.as_dict() for a in prep.attempts], timings_ms=prep.timings, usage=usage_row,
        )
        SearchLog.objects.bulk_create([
            SearchLog(chat=chat, chunk_id=hit.chunk_id, rank=hit.rank, score=hit.score, retriever=hit.retriever,
                      dense_rank=hit.dense_rank, dense_score=hit.dense_score, bm25_rank=hit.bm25_rank,
                      bm25_score=hit.bm25_score, cited=hit.rank in cited)
            for hit in prep.hits
        ])
    metrics.chat_observe(route=chat.route, status=chat.status, cached=chat.cached, provider=chat.generation_provider,
                         timings_ms=chat.timings_ms, attempts=chat.attempts, usage=chat.usage)
    if prep.replay:
        return chat
    history.history_append(user_id=prep.user_id, turns=[
        {"role": "user", "content": prep.question, "chat_id": str(chat.id), "created_at": chat.created_at.isoformat()},
        *([{"role": "assistant", "content": response, "chat_id": str(chat.id),
            "created_at": chat.created_at.isoformat()}] if response else []),
    ])
    return chat


def _sources(prep: Prepared, response: str) -> list[dict[str, Any]]:
    cited = cited_numbers(response)
    out = []
    for hit in prep.hits:
        chunk = prep.chunks[hit.chunk_id]
        out.append({
            "number": hit.rank, "chunk_id": chunk.id, "document": chunk.source, "locator": chunk.locator,
            "score": hit.score, "retriever": hit.retriever, "dense_score": hit.dense_score,
            "bm25_score": hit.bm25_score, "snippet": chunk.text[:300], "image_urls": list(chunk.image_urls),
            "cited": hit.rank in cited,
        })
    return out


def _images(sources: list[dict[str, Any]]) -> list[str]:
    images: list[str] = []
    for source in sources:
        if source["cited"]:
            images += [path for path in source["image_urls"] if path not in images]
    return images


def _payload(prep: Prepared, chat: Chat, sources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "chat_id": str(chat.id),
        "response": chat.response,
        "status": chat.status,
        "route": chat.route,
        "cached": chat.cached,
        "language": prep.language,
        "standalone_query": prep.standalone_query,
        "sources": sources,
        "images": _images(sources),
        "providers": {
            "reasoning": {"provider": prep.reasoning_provider or None, "model": prep.reasoning_model or None},
            "generation": {"provider": chat.generation_provider, "model": chat.generation_model},
            "embedding": {"model": prep.embedding_model},
        },
        "index_build": prep.build.id if prep.build else None,
        "attempts": chat.attempts,
        "timings_ms": chat.timings_ms,
        "usage": chat.usage,
    }


def _fail(prep: Prepared, exc: ProviderError, partial: str = "") -> ApplicationError:
    prep.attempts += getattr(exc, "attempts", [])
    _record(prep, response=partial, status=Chat.Status.FAILED, error=exc)
    return ServiceUnavailable(
        f"No provider could answer ({exc.code}). The attempt is recorded as chat {prep.chat_id}.",
        code="generation_failed", extra={"chat_id": str(prep.chat_id)},
    )


def answer_question(*, user_id: str, question: str, top_k: int | None = None,
                    filters: Mapping[str, Any] | None = None,
                    providers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Answer one question for a live session and record the full trace. Returns the API payload
    (image paths relative to the data directory)."""
    prep = _prepare(user_id=user_id, question=question, top_k=top_k, filters=filters, providers=providers)
    try:
        _condense_and_retrieve(prep)
        result = _generate(prep)
    except ProviderError as exc:
        raise _fail(prep, exc) from None
    with _Timer(prep.timings, "store_ms"):
        chat = _record(prep, response=result.text, status=Chat.Status.OK, provider=result.provider,
                       model=result.model, usage=result.usage)
    _cache_store(prep, chat)
    return _payload(prep, chat, _sources(prep, result.text))


def _generate(prep: Prepared) -> GenerationResult:
    shortcut = _shortcut(prep)
    if shortcut is not None:
        return shortcut
    with _Timer(prep.timings, "generate_ms"):
        result, failed = chain.generate(prep.request(), prep.providers["generation"], settings.GENERATION_FALLBACKS)
        prep.attempts += failed
    return result


def answer_replay(*, chat: Chat, providers: Mapping[str, str], build: IndexBuild | None) -> Chat:
    """Ask a recorded chat's question again, without its session: the history is the user's earlier
    chats, the answer cache is bypassed, and the new Chat row (route "replay", same user id) is returned
    whether the replay succeeded or failed. `build` None means the active index."""
    prep = Prepared(chat_id=uuid.uuid4(), user_id=chat.user_id, question=chat.question, language=chat.language,
                    top_k=chat.top_k, filters=dict(chat.filters), providers=dict(providers), use_cache=False,
                    replay=True)
    earlier = (Chat.objects.filter(user_id=chat.user_id, created_at__lt=chat.created_at, status=Chat.Status.OK)
               .exclude(route=routing.REPLAY).order_by("-created_at")[: settings.HISTORY_TURNS])
    for row in reversed(list(earlier.values("question", "response"))):
        prep.history += (Turn("user", row["question"]), Turn("assistant", row["response"]))
    try:
        _condense_and_retrieve(prep, build=build)
        result = _generate(prep)
    except ProviderError as exc:
        prep.attempts += getattr(exc, "attempts", [])
        return _record(prep, response="", status=Chat.Status.FAILED, error=exc)
    return _record(prep, response=result.text, status=Chat.Status.OK, provider=result.provider, model=result.model,
                   usage=result.usage)


def answer_question_stream(*, user_id: str, question: str, top_k: int | None = None,
                           filters: Mapping[str, Any] | None = None,
                           providers: Mapping[str, str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """The same path as `answer_question`, as (event, data) pairs: meta, token…, done — or error.

    Validation errors raise before the first event. If the reader goes away mid-stream, the Chat row is
    still written, with status `interrupted` and the partial answer.
    """
    prep = _prepare(user_id=user_id, question=question, top_k=top_k, filters=filters, providers=providers)
    try:
        _condense_and_retrieve(prep)
    except ProviderError as exc:
        raise _fail(prep, exc) from None
    return _stream_events(prep)


def _stream_events(prep: Prepared) -> Iterator[tuple[str, dict[str, Any]]]:
    sources = _sources(prep, "")
    parts: list[str] = []
    provider = model = ""
    usage = Usage()
    finished = False
    gen_started = time.perf_counter()
    try:
        # inside the try: a reader that leaves right after `meta` still gets its Chat row recorded
        yield "meta", {"chat_id": str(prep.chat_id), "standalone_query": prep.standalone_query, "sources": sources,
                       "index_build": prep.build.id if prep.build else None}
        # provider/model of the last chunk name who answered; they are read after the loop
        for provider, model, piece in _generation_stream(prep):  # noqa: B007
            if piece.text:
                parts.append(piece.text)
                yield "token", {"text": piece.text}
            if piece.usage:
                usage = piece.usage
        finished = True
    except ProviderError as exc:
        prep.timings["generate_ms"] = round((time.perf_counter() - gen_started) * 1000, 2)
        error = _fail(prep, exc, "".join(parts))
        yield "error", {"error": error.code, "message": error.message, "chat_id": str(prep.chat_id)}
        return
    finally:
        if not finished and "generate_ms" not in prep.timings:  # the reader disconnected
            prep.timings["generate_ms"] = round((time.perf_counter() - gen_started) * 1000, 2)
            _record(prep, response="".join(parts), status=Chat.Status.INTERRUPTED, provider=provider, model=model,
                    usage=usage)
    prep.timings["generate_ms"] = round((time.perf_counter() - gen_started) * 1000, 2)
    text = "".join(parts)
    chat = _record(prep, response=text, status=Chat.Status.OK, provider=provider, model=model, usage=usage)
    _cache_store(prep, chat)
    payload = _payload(prep, chat, _sources(prep, text))
    yield "done", {k: payload[k] for k in ("chat_id", "response", "images", "sources", "providers", "timings_ms",
                                           "usage", "attempts", "status", "route", "cached")}
