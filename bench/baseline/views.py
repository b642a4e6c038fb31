"""The baseline's one endpoint: LangChain similarity_search, then the same extractive generator as Triple's
local provider. No session, history, condensation, BM25, fusion or audit trail."""
from __future__ import annotations

import json
import time
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt


@lru_cache(maxsize=1)
def _store() -> Any:
    from bench.baseline.pipeline import LocalLangChainEmbeddings, open_store

    return open_store(persist_directory=settings.BASELINE_CHROMA_DIR, collection=settings.BASELINE_COLLECTION,
                      embeddings=LocalLangChainEmbeddings(settings.BASELINE_EMBEDDING_MODEL))


@lru_cache(maxsize=1)
def _generator() -> Any:
    from triple.providers.local import LocalExtractiveGenerator

    return LocalExtractiveGenerator()


@csrf_exempt
def chat(request: HttpRequest) -> JsonResponse:
    started = time.perf_counter()
    body = json.loads(request.body or b"{}")
    question = str(body.get("question", "")).strip()
    if not question:
        return JsonResponse({"error": "empty_question"}, status=400)
    from triple.core.language import detect_language
    from triple.providers.types import GenerationRequest, Passage

    # similarity_search(question) is embed_query + similarity_search_by_vector (langchain_chroma); split
    # here only to time the embedding provider's call, as Triple's embed_ms does.
    store = _store()
    embedding = time.perf_counter()
    vector = store.embeddings.embed_query(question)
    embedded = time.perf_counter()
    docs = store.similarity_search_by_vector(vector, k=int(body.get("top_k") or settings.BASELINE_TOP_K))
    retrieved = time.perf_counter()
    passages = tuple(Passage(number=i, text=d.page_content, source=d.metadata.get("source", ""),
                             locator=d.metadata.get("locator", ""), metadata={"kind": d.metadata.get("kind", "")})
                     for i, d in enumerate(docs, start=1))
    result = _generator().generate(GenerationRequest(question=question, passages=passages, history=(),
                                                     language=detect_language(question)))
    generated = time.perf_counter()
    return JsonResponse({
        "response": result.text,
        "sources": [{"number": p.number, "document": p.source, "locator": p.locator} for p in passages],
        "timings_ms": {"embed_ms": round((embedded - embedding) * 1000, 2),
                       "retrieve_ms": round((retrieved - started) * 1000, 2),
                       "generate_ms": round((generated - retrieved) * 1000, 2),
                       "total_ms": round((generated - started) * 1000, 2)},
    })
