"""Prometheus metrics: requests, latency per stage, provider errors, tokens, queue depth, index size.

Counters and histograms are updated where things happen (a middleware for requests, `chat_observe`
for every recorded answer). Queue depth and index size are read at scrape time, so they are never
stale and need no background thread.

Several gunicorn workers: set `PROMETHEUS_MULTIPROC_DIR` to an empty, writable folder before the
workers start (prometheus_client reads it when the metrics are created); `/metrics` then sums every
worker's values. Without it each worker reports only its own requests, and a scrape sees whichever
worker answered. Scrape-time gauges are exact in both modes.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter("triple_http_requests", "HTTP requests answered", ["method", "view", "status"])
REQUEST_LATENCY = Histogram("triple_http_request_duration_seconds", "Time to first byte of a response",
                            ["view"], buckets=_LATENCY_BUCKETS)
ANSWERS = Counter("triple_answers", "Questions answered (or failed), by route", ["route", "status", "cached"])
STAGE_LATENCY = Histogram("triple_stage_duration_seconds", "Time per question stage (condense, retrieve, ...)",
                          ["stage"], buckets=_LATENCY_BUCKETS)
PROVIDER_ERRORS = Counter("triple_provider_errors", "Failed provider calls (each fallback attempt counts)",
                          ["provider", "error"])
TOKENS = Counter("triple_tokens", "Tokens spent (estimated for providers that report none)",
                 ["provider", "kind"])


def chat_observe(*, route: str, status: str, cached: bool, provider: str, timings_ms: Mapping[str, float],
                 attempts: Iterable[Mapping[str, Any]], usage: Mapping[str, Any]) -> None:
    """Count one recorded answer: its stages' latency, failed provider attempts and tokens."""
    try:
        ANSWERS.labels(route, status, str(cached).lower()).inc()
        for stage, ms in timings_ms.items():
            if isinstance(ms, (int, float)):
                STAGE_LATENCY.labels(stage.removesuffix("_ms")).observe(ms / 1000)
        for attempt in attempts:
            PROVIDER_ERRORS.labels(attempt.get("provider") or "unknown", attempt.get("error") or "unknown").inc()
        if provider and not cached:
            TOKENS.labels(provider, "input").inc(max(0, int(usage.get("input_tokens") or 0)))
            TOKENS.labels(provider, "output").inc(max(0, int(usage.get("output_tokens") or 0)))
    except Exception:  # metrics must never break an answer
        log.warning("could not update answer metrics", exc_info=True)


class MetricsMiddleware:
    """Counts requests by resolved view name (bounded label values, unlike raw paths)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match else "") or "unmatched"
        REQUESTS.labels(request.method or "", view, str(response.status_code)).inc()
        REQUEST_LATENCY.labels(view).observe(time.perf_counter() - started)
        return response


class StateCollector:
    """Gauges read at scrape time: Celery queue depth and the active index's size."""

    def collect(self) -> Iterable[Metric]:
        queues = GaugeMetricFamily("triple_queue_depth", "Tasks waiting in a Celery queue", labels=["queue"])
        try:
            for queue, depth in queue_depths().items():
                queues.add_metric([queue], float(depth))
        except Exception:  # an unreachable broker shows as a missing series, and in health/
            pass
        yield queues
        index = GaugeMetricFamily("triple_index_chunks", "Chunks in the active index build", labels=["build"])
        try:
            from triple.knowledge import selectors as knowledge

            build = knowledge.active_build()
            if build is not None:
                index.add_metric([str(build.id)], float(build.counts.get("chunks") or 0))
        except Exception:
            pass
        yield index


def queue_depths() -> dict[str, int]:
    """Tasks waiting per Celery queue (the Redis broker keeps each queue as a list named after it)."""
    import redis

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
                                  socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT)
    try:
        return {queue: int(broker.llen(queue)) for queue in queue_names()}
    finally:
        broker.close()


def queue_names() -> list[str]:
    names = [settings.CELERY_TASK_DEFAULT_QUEUE]
    for route in settings.CELERY_TASK_ROUTES.values():
        if route.get("queue") and route["queue"] not in names:
            names.append(route["queue"])
    return names


def metrics_text() -> bytes:
    """The exposition text of every metric (summed over processes in multiprocess mode)."""
    state = CollectorRegistry(auto_describe=True)
    state.register(StateCollector())  # type: ignore[arg-type]
    if settings.PROMETHEUS_MULTIPROC_DIR:
        shared = CollectorRegistry()
        MultiProcessCollector(shared, path=settings.PROMETHEUS_MULTIPROC_DIR)
        return generate_latest(shared) + generate_latest(state)
    return generate_latest(REGISTRY) + generate_latest(state)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`/metrics` in the Prometheus text format. Not under /api/, so scrapers need no token."""
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
