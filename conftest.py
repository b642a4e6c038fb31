"""Shared fixtures: a live session, an index built once per run from the shipped corpus, an API client."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings


@pytest.fixture(scope="session", autouse=True)
def _isolated_redis() -> Iterator[None]:
    """Each run writes under its own key prefix; its keys are removed at the end."""
    yield
    try:
        from triple.core import redis as triple_redis

        triple_redis.delete_prefixed_keys()
    except Exception:
        pass
    shutil.rmtree(settings.TEST_TMP_DIR, ignore_errors=True)


def _ensure_index() -> Any:
    from triple.knowledge import selectors, services

    build = selectors.active_build()
    if build is None or build.embedding_model != services.registry.embedding_provider().model:
        build = services.index_build_run(build_id=services.index_build_create().id)
    return build


@pytest.fixture(scope="session")
def _session_index(django_db_setup: Any, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        _ensure_index()


@pytest.fixture
def built_index(_session_index: None, django_db_blocker: Any) -> Any:
    """The shipped corpus, indexed and committed once per run. A transactional test flushes the
    database afterwards; the next user of this fixture then rebuilds (copying the stored vectors)."""
    from triple.retrieval import bm25

    with django_db_blocker.unblock():
        build = _ensure_index()
    if build.id not in bm25._cache:
        bm25._cache.clear()
    return build


@pytest.fixture
def session_user(db: Any) -> Any:
    from triple.sessions.services import user_create

    return user_create()


@pytest.fixture
def api() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def operator_api() -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {settings.OPERATOR_TOKEN}")
    return client
