"""Session state behind typed accessors: pages never touch `st.session_state` keys directly.

The session id also lives in the URL (`?session=`), so a browser refresh returns to the same
conversation; the language lives in `?lang=` for the same reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import streamlit as st

from frontend.client import ChatResult
from frontend.i18n import LANGUAGES, Language
from frontend.i18n import text as _text

SESSION_PARAM = "session"
LANG_PARAM = "lang"


@dataclass
class ChatMessage:
    role: str  # "user" | "assistant"
    content: str
    chat_id: str = ""
    result: ChatResult | None = None  # the full answer (sources, images, providers, timings) when known
    error: str = ""  # plain-words error shown instead of an answer


@dataclass
class RunningTask:
    task_id: str
    label: str


@dataclass
class _State:
    user_id: str = ""
    session_checked: bool = False
    session_expired: bool = False
    messages: list[ChatMessage] | None = None  # None: not loaded from the API yet
    feedback_sent: set[str] = field(default_factory=set)
    operator_token: str = ""
    running_task: RunningTask | None = None
    notice: str = ""  # one-shot message shown after a rerun


_KEY = "_triple_state"


def _state() -> _State:
    if _KEY not in st.session_state:
        st.session_state[_KEY] = _State()
    return cast(_State, st.session_state[_KEY])


# --- language ---


def language() -> Language:
    chosen = st.session_state.get("lang_choice") or st.query_params.get(LANG_PARAM, "ko")
    return cast(Language, chosen if chosen in LANGUAGES else "ko")


def remember_language(lang: Language) -> None:
    if lang == "ko":
        st.query_params.pop(LANG_PARAM, None)
    else:
        st.query_params[LANG_PARAM] = lang


def t(key: str, **values: object) -> str:
    """A UI string in the current language."""
    return _text(language(), key, **values)


# --- session ---


def user_id() -> str:
    return _state().user_id


def url_session_id() -> str:
    return str(st.query_params.get(SESSION_PARAM, "") or "")


def set_user(user_id_: str) -> None:
    """Start using a session (new or resumed): the URL carries it, the conversation reloads."""
    state = _state()
    state.user_id = user_id_
    state.session_checked = True
    state.session_expired = False
    state.messages = None
    state.feedback_sent = set()
    st.query_params[SESSION_PARAM] = user_id_


def keep_session_in_url() -> None:
    """Page switches drop query parameters; put the session id back so a refresh finds it."""
    current = _state().user_id
    if current and st.query_params.get(SESSION_PARAM) != current:
        st.query_params[SESSION_PARAM] = current


def session_checked() -> bool:
    return _state().session_checked


def mark_session_checked() -> None:
    _state().session_checked = True


def session_expired() -> bool:
    return _state().session_expired


def mark_session_expired() -> None:
    _state().session_expired = True


# --- conversation ---


def messages() -> list[ChatMessage] | None:
    return _state().messages


def set_messages(items: list[ChatMessage]) -> None:
    _state().messages = items


def add_message(message: ChatMessage) -> None:
    state = _state()
    if state.messages is None:
        state.messages = []
    state.messages.append(message)


def feedback_sent(chat_id: str) -> bool:
    return chat_id in _state().feedback_sent


def mark_feedback_sent(chat_id: str) -> None:
    _state().feedback_sent.add(chat_id)


# --- operator ---


def operator_token() -> str:
    return _state().operator_token


def set_operator_token(token: str) -> None:
    _state().operator_token = token.strip()


def running_task() -> RunningTask | None:
    return _state().running_task


def set_running_task(task: RunningTask | None) -> None:
    _state().running_task = task


# --- one-shot notices ---


def set_notice(message: str) -> None:
    _state().notice = message


def pop_notice() -> str:
    state = _state()
    message, state.notice = state.notice, ""
    return message


def widget_value(key: str, default: Any = None) -> Any:
    """The current value of a widget by its key (for widgets whose callbacks need a sibling's value)."""
    return st.session_state.get(key, default)
