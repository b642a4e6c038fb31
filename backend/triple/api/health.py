"""Health of every part the product depends on; 503 names the failing parts. Never shows keys."""
from __future__ import annotations

import time
from typing import Any

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triple.core import metrics
from triple.core import redis as triple_redis
from triple.knowledge import selectors as knowledge
from triple.providers import registry
from triple.retrieval.vector_store import vector_store

WORKER_HEARTBEAT_KEY = "worker_heartbeat"


def _check(fn: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = fn()
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **(detail or {})}
    except Exception as exc:  # every failure here is reported, not raised
        return {"ok": False, "error": type(exc).__name__, "message": str(exc)[:200]}


def _db() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"engine": connection.vendor}


def _redis() -> dict[str, Any]:
    triple_redis.client().ping()
    return {}


def _chroma() -> dict[str, Any]:
    vector_store().heartbeat()
    return {}


def _worker() -> dict[str, Any]:
    seen = triple_redis.client().get(triple_redis.key(WORKER_HEARTBEAT_KEY))
    if not seen:
        raise RuntimeError("no Celery worker heartbeat in the last 60 s")
    return {"last_seen": seen}


def _index() -> dict[str, Any]:
    build = knowledge.active_build()
    if build is None:
        raise RuntimeError("no active index build")
    return {"build_id": build.id, "embedding_model": build.embedding_model, "chunks": build.counts.get("chunks")}


def _providers() -> dict[str, Any]:
    """The providers configured for each role must be ready (a missing key is a failing part)."""
    roles = {role: registry.default_provider(role) for role in ("embedding", "reasoning", "generation")}
    states = {role: registry.readiness(name, role) for role, name in roles.items()}
    not_ready = [f"{role} ({roles[role]}): {state.reason}" for role, state in states.items() if not state.ready]
    if not_ready:
        raise RuntimeError("; ".join(not_ready))
    return {"configured": roles}


def _queues() -> dict[str, Any]:
    return {"depth": metrics.queue_depths()}


class HealthApi(APIView):
    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["ok", "degraded"])
        checks = serializers.DictField()
        providers = serializers.ListField(child=serializers.DictField())
        failing = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses={200: OutputSerializer, 503: OutputSerializer}, operation_id="health")
    def get(self, request: Request) -> Response:
        checks = {"database": _check(_db), "redis": _check(_redis), "chroma": _check(_chroma),
                  "worker": _check(_worker), "index": _check(_index), "providers": _check(_providers),
                  "queues": _check(_queues)}
        required = ("database", "redis", "chroma", "index", "providers")
        ok = all(checks[name]["ok"] for name in required)
        body = {"status": "ok" if ok else "degraded", "checks": checks, "providers": registry.statuses(),
                "failing": [name for name in required if not checks[name]["ok"]]}
        return Response(body, status=200 if ok else 503)
