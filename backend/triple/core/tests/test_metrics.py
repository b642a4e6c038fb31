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


def test_multiprocess_mode_sums_every_worker(tmp_path: Any, settings: Any) -> None:
    """Two worker processes count requests into PROMETHEUS_MULTIPROC_DIR; /metrics reports the sum."""
    import subprocess
    import sys

    from triple.core.metrics import metrics_text

    script = ("from triple.core import metrics\n"
              "metrics.REQUESTS.labels('GET', 'chat', '200').inc(3)\n"
              "metrics.STAGE_LATENCY.labels('retrieve').observe(0.2)\n")
    env = {"PATH": "/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
           "PYTHONPATH": str(settings.BASE_DIR), "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    text = metrics_text().decode()
    assert 'triple_http_requests_total{method="GET",status="200",view="chat"} 6.0' in text
    assert 'triple_stage_duration_seconds_count{stage="retrieve"} 2.0' in text
    assert "triple_queue_depth" in text  # scrape-time gauges come from the scraping process
