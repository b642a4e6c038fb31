"""One answer's evidence: sources with scores, the images of cited rows, who answered and how long it took."""
from __future__ import annotations

from typing import Any

import streamlit as st

from frontend import state
from frontend.client import ApiError, ChatResult, Source
from frontend.components.errors import show_error
from frontend.connection import client

_SNIPPET_CHARS = 400


def as_markdown(text: str) -> str:
    """An answer's own line breaks kept on screen. Generators put one fact (one table row, one cited
    sentence) per line; Markdown would join single newlines into one paragraph, so each becomes a hard
    break (two trailing spaces). Blank lines still separate paragraphs, and in code blocks the added
    spaces are invisible."""
    return text.replace("\r\n", "\n").replace("\n", "  \n")


def _num(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "—"


def _duration(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return "—"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def _provider(use: Any) -> str:
    if not isinstance(use, dict) or not use.get("provider"):
        return state.t("none")
    model = use.get("model")
    return f"{use['provider']} ({model})" if model else str(use["provider"])


def answer_images(result: ChatResult) -> list[str]:
    """The images to show: the answer's own list, else those of the cited sources."""
    images = list(result.get("images") or [])
    if not images:
        for source in result.get("sources") or []:
            if source.get("cited"):
                images += [url for url in source.get("image_urls") or [] if url not in images]
    return images


def render_meta(result: ChatResult) -> None:
    providers = result.get("providers") or {}
    timings = result.get("timings_ms") or {}
    usage = result.get("usage") or {}
    parts = [
        "🤖 " + state.t("answered_by", generation=_provider(providers.get("generation")),
                       reasoning=_provider(providers.get("reasoning"))),
        "⏱️ " + state.t("timings", total=_duration(timings.get("total_ms")),
                       retrieve=_duration(timings.get("retrieve_ms")), generate=_duration(timings.get("generate_ms"))),
    ]
    if usage:
        parts.append(state.t("tokens", input=usage.get("input_tokens", "—"), output=usage.get("output_tokens", "—"),
                             estimated=state.t("estimated") if usage.get("estimated") else ""))
    if any(attempt.get("fallback") for attempt in result.get("attempts") or [] if isinstance(attempt, dict)):
        parts.append("↪️ " + state.t("fallback_used"))
    st.caption(" · ".join(parts))


def render_source(source: Source) -> None:
    line = state.t("source_line", number=source.get("number", "?"), document=source.get("document", "?"),
                   locator=source.get("locator", ""), score=_num(source.get("score"), 4))
    if source.get("cited"):
        line += " · ✅ " + state.t("cited")
    st.markdown(line)
    st.caption(state.t("retriever_scores", retriever=source.get("retriever", "—"),
                       dense=_num(source.get("dense_score")), bm25=_num(source.get("bm25_score"))))
    snippet = str(source.get("snippet") or "")
    if snippet:
        st.code(snippet[:_SNIPPET_CHARS] + ("…" if len(snippet) > _SNIPPET_CHARS else ""),
                language=None, wrap_lines=True)


def render_details(result: ChatResult) -> None:
    """Under an answer: the images of the cited rows, providers and timings, the sources (in an expander)."""
    images = answer_images(result)
    if images:
        st.image(images, width=160, caption=[url.rsplit("/", 1)[-1] for url in images])
    render_meta(result)
    sources = result.get("sources") or []
    if sources:
        with st.expander("📚 " + state.t("sources", count=len(sources))):
            for source in sources:
                render_source(source)


def render_feedback(chat_id: str) -> None:
    """Thumbs up/down with an optional comment, sent once per answer (`POST feedback/`)."""
    if state.feedback_sent(chat_id):
        st.caption("💬 " + state.t("feedback_thanks"))
        return
    rating = st.feedback("thumbs", key=f"rating_{chat_id}")
    if rating is None:
        return
    comment = st.text_input(state.t("feedback_comment"), key=f"comment_{chat_id}")
    if st.button(state.t("feedback_send"), key=f"send_{chat_id}"):
        try:
            client().feedback(chat_id, 1 if rating == 1 else -1, comment=comment, user_id=state.user_id() or None)
        except ApiError as exc:
            show_error(exc, what="feedback/")
            return
        state.mark_feedback_sent(chat_id)
        st.rerun()
