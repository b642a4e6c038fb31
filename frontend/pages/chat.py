"""Chat: streamed answers with their sources, images, providers and timings; history survives a refresh."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import streamlit as st

from frontend import state
from frontend.client import ApiError, ChatResult, StreamEvent
from frontend.components.answer import as_markdown, render_details, render_feedback
from frontend.components.errors import error_message, show_error
from frontend.connection import answer_memory, client
from frontend.i18n import error_text
from frontend.sessions import start_new_session


def _load_history() -> None:
    """Fill the conversation from `GET history/` once per browser session (after a refresh too)."""
    if state.messages() is not None or not state.user_id() or state.session_expired():
        return
    try:
        turns = client().history(state.user_id())
    except ApiError as exc:
        if exc.code == "session_expired":
            state.mark_session_expired()
            return
        show_error(exc, what="history/")
        state.set_messages([])
        return
    memory = answer_memory()
    state.set_messages([
        state.ChatMessage(role=turn.get("role", "assistant"), content=turn.get("content", ""),
                          chat_id=turn.get("chat_id", ""),
                          result=memory.get(turn.get("chat_id", "")) if turn.get("role") == "assistant" else None)
        for turn in turns
    ])


def _expired_banner() -> None:
    st.warning(state.t("session_expired"), icon="⌛")
    if st.button(state.t("start_again"), type="primary", key="start_again"):
        _new_conversation()


def _new_conversation() -> None:
    error = start_new_session()
    if error is not None:
        show_error(error)
        return
    st.rerun()


def _render_message(message: state.ChatMessage) -> None:
    with st.chat_message(message.role):
        if message.error:
            st.error(message.error, icon="⚠️")
            return
        st.markdown(as_markdown(message.content) if message.role == "assistant" else message.content)
        if message.role == "assistant":
            if message.result:
                render_details(message.result)
            if message.chat_id:
                render_feedback(message.chat_id)


def _ask(question: str) -> None:
    """Stream one answer into the page, then keep it (with its evidence) in the conversation."""
    state.add_message(state.ChatMessage(role="user", content=question))
    with st.chat_message("user"):
        st.markdown(question)
    final: dict[str, Any] = {}

    def tokens(events: Iterator[StreamEvent]) -> Iterator[str]:
        for event in events:
            if event.event == "token":
                yield as_markdown(str(event.data.get("text", "")))
            elif event.event in ("meta", "done", "error"):
                final[event.event] = event.data

    with st.chat_message("assistant"):
        try:
            with st.spinner(state.t("thinking")):
                events = client().chat_stream(state.user_id(), question)
                first = next(events, None)  # errors before the stream starts surface here
            streamed = st.write_stream(tokens(_chain(first, events)))
        except ApiError as exc:
            if exc.code == "session_expired":
                state.mark_session_expired()
                st.rerun()
            state.add_message(state.ChatMessage(role="assistant", content="", error=error_message(exc)))
            st.rerun()
            return
    if "error" in final:
        data = final["error"]
        reason = error_text(state.language(), str(data.get("error", "")), str(data.get("message", "")))
        state.add_message(state.ChatMessage(role="assistant", content="", chat_id=str(data.get("chat_id") or ""),
                                            error=state.t("answer_failed", reason=reason)))
        st.rerun()
    done = cast(ChatResult, final.get("done") or {})
    text = done.get("response") or (streamed if isinstance(streamed, str) else "")
    chat_id = str(done.get("chat_id") or final.get("meta", {}).get("chat_id") or "")
    if chat_id and done:
        answer_memory().put(chat_id, done)
    state.add_message(state.ChatMessage(role="assistant", content=text, chat_id=chat_id, result=done or None))
    st.rerun()


def _chain(first: StreamEvent | None, rest: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
    if first is not None:
        yield first
    yield from rest


def render() -> None:
    head, action = st.columns([5, 1], vertical_alignment="bottom")
    head.title(state.t("chat_title"))
    head.caption(state.t("chat_caption"))
    if action.button(state.t("new_conversation"), key="new_conversation", icon="➕"):
        _new_conversation()
    if state.session_expired():
        _expired_banner()
        return
    _load_history()
    if state.session_expired():
        _expired_banner()
        return
    conversation = state.messages() or []
    if not conversation:
        st.info(state.t("empty_chat"), icon="💬")
    for message in conversation:
        _render_message(message)
    question = st.chat_input(state.t("chat_placeholder"), key="question")
    if question and question.strip():
        _ask(question.strip())


render()
