"""/metrics: Prometheus text, and counters that move when requests and answers happen."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from triple.providers import registry
from triple.providers.errors import ProviderTimeout
from triple.providers.registry import ProviderSpec
from triple.providers.types import Readiness

pytestmark = pytest.mark.django_db


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class TimingOut:
    name = model = "metrics-timeout"
    can_stream = True

    def generate(self, request: Any) -> Any:
        raise ProviderTimeout("no answer in time", provider=self.name)

    def stream(self, request: Any) -> Any:
        raise ProviderTimeout("no answer in time", provider=self.name)


@pytest.fixture
def timing_out() -> Iterator[str]:
    registry.specs()
    registry.register(ProviderSpec(name="metrics-timeout", label="Timeout", roles=frozenset({"generation"}),
                                   needs_key=False, key_env_var=None, readiness=lambda: Readiness(True),
                                   build=lambda role: TimingOut()))
    yield "metrics-timeout"
    registry._specs.pop("metrics-timeout", None)
    registry.reset()


def test_metrics_endpoint_speaks_prometheus(api: Any, built_index: Any) -> None:
    api.get("/api/v1/triple/health/")
    response = api.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in ("triple_http_requests_total", "triple_http_request_duration_seconds_bucket",
                 "triple_stage_duration_seconds", "triple_provider_errors_total", "triple_tokens_total",
                 "triple_queue_depth", "triple_index_chunks"):
        assert f"# TYPE {name.removesuffix('_total').removesuffix('_bucket')}" in text, name
    assert f'triple_index_chunks{{build="{built_index.id}"}} {float(built_index.counts["chunks"])}' in text


def test_counters_move_with_requests_answers_errors_and_tokens(api: Any, built_index: Any, session_user: Any,
                                                               settings: Any, timing_out: str) -> None:
    from triple.conversations.services import answer_question

    requests_before = value("triple_http_requests_total", method="GET", view="health", status="200")
    api.get("/api/v1/triple/health/")
    assert value("triple_http_requests_total", method="GET", view="health", status="200") == requests_before + 1

    answers = value("triple_answers_total", route="rag", status="ok", cached="false")
    retrieve = value("triple_stage_duration_seconds_count", stage="retrieve")
    errors = value("triple_provider_errors_total", provider=timing_out, error="provider_timeout")
    tokens = value("triple_tokens_total", provider="local", kind="output")
    settings.GENERATION_FALLBACKS = ["local"]
    answer_question(user_id=session_user.user_id, question="혼자 쓰는 초경량 텐트는 무게가 몇 그램이에요?",
                    providers={"generation": timing_out})
    assert value("triple_answers_total", route="rag", status="ok", cached="false") == answers + 1
    assert value("triple_stage_duration_seconds_count", stage="retrieve") == retrieve + 1
    assert value("triple_provider_errors_total", provider=timing_out, error="provider_timeout") == errors + 1
    assert value("triple_tokens_total", provider="local", kind="output") > tokens
