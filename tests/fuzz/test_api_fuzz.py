"""Schemathesis against the generated OpenAPI schema, every operation, in-process through the WSGI app.

Bounded and deterministic (MAX_EXAMPLES per operation, derandomized, no example database), so it runs the
same in CI every time. Checks on every response:

- not_a_server_error: no 5xx, whatever the input (503 is allowed only as a clear, shaped error);
- response_schema_conformance / content_type_conformance: what the API returns is what the schema says;
- error_shape (ours): every 4xx/5xx body is exactly {"error": str, "message": str} plus documented extras.

Operator operations run twice per example: without a token (must be a shaped 401) and with the operator
token (the full checks). Uploads and deletes land in a private copy of the data directory, and the test's
transaction is rolled back, so no build task is ever dispatched.
"""
from __future__ import annotations

import json
import shutil
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from config.wsgi import application
from django.conf import settings as django_settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

MAX_EXAMPLES = 25
API = "/api/v1/triple/"
OPERATOR_PREFIXES = ("documents", "index", "tasks", "audit")
# Keys an error body may carry besides error/message (each documented where it is raised).
ALLOWED_ERROR_EXTRAS = {"chat_id", "retry_after", "document_id", "source", "build_id", "task_id", "request_id"}

CONFIG = schemathesis.Config.from_dict({
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
})
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=CONFIG)


def is_operator(path: str) -> bool:
    return path.startswith(API) and path[len(API):].split("/")[0] in OPERATOR_PREFIXES


def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error is {"error": "<code>", "message": "<text>"} (+ documented extras), served as JSON."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("Content-Type", response.headers.get("content-type", [""]))
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.startswith("application/json"), f"error served as {content_type!r}"
    body = json.loads(response.content)
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    assert isinstance(body.get("error"), str) and body["error"], f"no error code: {body!r}"
    assert isinstance(body.get("message"), str) and body["message"], f"no message: {body!r}"
    extras = set(body) - {"error", "message"}
    assert extras <= ALLOWED_ERROR_EXTRAS, f"undocumented keys in an error: {sorted(extras)}"
    assert "Traceback" not in body["message"]
    if response.status_code >= 500:
        assert response.status_code == 503, f"{response.status_code} {body!r}"
    return True


def shaped_503_is_not_a_crash(ctx: Any, response: Any, case: Any) -> bool | None:
    """not_a_server_error, except a 503 that says which dependency is away (it is a clear refusal)."""
    if response.status_code == 503:
        return error_shape(ctx, response, case)
    return not_a_server_error(ctx, response, case)


CHECKS = [shaped_503_is_not_a_crash, response_schema_conformance, content_type_conformance, error_shape]
# (operation, auth, status) -> count; printed at the end (pytest -s) to show how deep the fuzz reached.
SEEN: Counter[tuple[str, str, int]] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _print_status_counts() -> Iterator[None]:
    yield
    for (operation, auth, status), count in sorted(SEEN.items()):
        print(f"fuzz {operation:<45} {auth:<9} {status}: {count}")


@pytest.fixture
def private_data_dir(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """Uploads and deletes go to a copy of the corpus, never the repository's data/."""
    root = tmp_path / "data"
    shutil.copytree(django_settings.DATA_DIR, root, ignore=shutil.ignore_patterns("uploads", "eval"))
    settings.DATA_DIR = root
    settings.UPLOAD_DIR = root / "uploads"
    settings.MAX_UPLOAD_MB = 1
    yield root


@pytest.fixture
def connection_kept_open() -> Iterator[None]:
    """The raw WSGI handler closes the database connection after each request (request_finished); that
    would end the test's transaction. Django's own test client disconnects the same handler."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def live_user_id(db: Any) -> str:
    from triple.sessions.services import user_create

    return str(user_create().user_id)


QUESTIONS = ["반품은 며칠 이내에 가능한가요?", "Which gas canister does the compact stove use?"]


def _with_live_user(case: Any, user_id: str) -> None:
    """Half the generated bodies/queries that name a user get a live session's id, and a quarter of the chat
    bodies a real question, so fuzzing reaches the question path instead of stopping at 404 unknown_user or
    400 empty_question (the other fields stay as generated)."""
    for container in (case.body, case.query):
        if isinstance(container, dict) and "user_id" in container:
            digest = zlib.crc32(json.dumps(container, sort_keys=True, default=str).encode())  # not hash(): seeded
            if digest % 2 == 0:
                container["user_id"] = user_id
                if case.path.endswith("/chat/") and container is case.body and digest % 4 == 0:
                    container["question"] = QUESTIONS[digest % 8 // 4]


@pytest.mark.django_db
@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_fuzz(case: Any, built_index: Any, private_data_dir: Path, connection_kept_open: None,
                  live_user_id: str) -> None:
    if is_operator(case.path):
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        anonymous = case.call(headers={})
        SEEN[(f"{case.method} {case.path}", "anonymous", anonymous.status_code)] += 1
        error_shape(None, anonymous, case)
        operator = case.call_and_validate(headers={"Authorization": f"Bearer {django_settings.OPERATOR_TOKEN}"},
                                          checks=CHECKS)
        SEEN[(f"{case.method} {case.path}", "operator", operator.status_code)] += 1
        # A path value the URL converter rejects (e.g. a non-integer id) routes nowhere: 404 either way.
        # Every path that reaches an operator view must refuse the anonymous call with 401.
        unrouted = anonymous.status_code == operator.status_code == 404
        assert anonymous.status_code == 401 or unrouted, (anonymous.status_code, anonymous.content[:300])
    else:
        _with_live_user(case, live_user_id)
        response = case.call_and_validate(checks=CHECKS)
        SEEN[(f"{case.method} {case.path}", "-", response.status_code)] += 1
