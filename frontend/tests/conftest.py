"""A live backend (gunicorn on a free port, its own database, index, Redis prefix) shared by the frontend
tests of one run, started by the same launcher the end-to-end test and the screenshot script use."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from frontend.client import TripleClient
from tests.e2e.stack import Stack

APP = Path(__file__).resolve().parents[1] / "app.py"
RUN_TIMEOUT = 90


@pytest.fixture(scope="session")
def live_stack() -> Iterator[Stack]:
    stack = Stack(worker=False, ui=False).start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def api(live_stack: Stack) -> Iterator[TripleClient]:
    client = TripleClient(live_stack.api_url, timeout=60)
    yield client
    client.close()


@pytest.fixture
def frontend_env(live_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("TRIPLE_API_URL", live_stack.api_url)
    monkeypatch.setenv("TRIPLE_API_TIMEOUT", "60")
    monkeypatch.delenv("TRIPLE_OPERATOR_TOKEN", raising=False)
    # The cached client and health snapshot belong to the previous test's environment.
    st.cache_resource.clear()
    st.cache_data.clear()
    return live_stack


def new_app(*, session: str | None = None, lang: str | None = None) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    if session:
        app.query_params["session"] = session
    if lang:
        app.query_params["lang"] = lang
    return app


def texts(app: AppTest) -> str:
    """Everything the page shows as text (markdown, captions, alerts, titles), for assertions."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "title", "header", "subheader", "info", "warning", "error", "success",
                 "code", "toast"):
        parts += [str(element.value) for element in app.get(kind)]
    for expander in app.expander:
        parts.append(str(getattr(expander, "label", "")))
    return "\n".join(parts)


def assert_no_exception(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]
