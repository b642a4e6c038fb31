"""The one cached API client, the operator view of it, and a process-wide memory of answers.

Answers are remembered by chat id so that a browser refresh (a new Streamlit session) can show the
sources and images of the turns that `GET history/` returns as plain text.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from frontend import state
from frontend.client import ChatResult, Health, OperatorClient, TripleClient
from frontend.config import load_config

_ANSWERS_KEPT = 1000


@st.cache_resource
def client() -> TripleClient:
    config = load_config()
    return TripleClient(config.api_url, timeout=config.timeout_seconds, stream_timeout=config.stream_timeout_seconds)


def operator_client() -> OperatorClient | None:
    """The operator client for this browser session's token (environment first), or None without one."""
    token = state.operator_token() or load_config().operator_token
    return client().operator(token) if token else None


@st.cache_data(ttl=10, show_spinner=False)
def health_snapshot() -> Health | None:
    """Health for the sidebar dot; cached briefly so a rerun does not hit every dependency again."""
    try:
        return client().health()
    except Exception:  # an unreachable backend is shown as a red dot, not an error
        return None


class AnswerMemory:
    """A small bounded map chat_id -> full answer, shared by every session of this process."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, ChatResult] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, chat_id: str, result: ChatResult) -> None:
        with self._lock:
            self._items[chat_id] = result
            self._items.move_to_end(chat_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, chat_id: str) -> ChatResult | None:
        with self._lock:
            return self._items.get(chat_id)


@st.cache_resource
def answer_memory() -> AnswerMemory:
    return AnswerMemory(_ANSWERS_KEPT)
