"""Audit (operator): questions with filters, one question's full trace, replay side by side, export."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import streamlit as st

from frontend import state
from frontend.client import ApiError, AuditRow, OperatorClient
from frontend.components.errors import show_error
from frontend.components.operator import require_operator
from frontend.connection import client

FEEDBACK_FILTERS = ["", "up", "down", "none"]
STATUS_FILTERS = ["", "ok", "failed", "interrupted"]
RATING_MARKS = {1: "👍", -1: "👎"}


def _rating(value: Any) -> str:
    return RATING_MARKS.get(value, "") if isinstance(value, int) else ""


def _date(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else None


def _provider_names() -> list[str]:
    try:
        return [p["name"] for p in client().providers_get().get("providers") or [] if "name" in p]
    except ApiError:
        return []


def _filters() -> dict[str, Any]:
    with st.expander(state.t("filters"), expanded=True):
        a, b, c = st.columns(3)
        user_id = a.text_input(state.t("filter_user"), key="audit_user")
        date_from = b.date_input(state.t("filter_from"), value=None, key="audit_from")
        date_to = c.date_input(state.t("filter_to"), value=None, key="audit_to")
        d, e, f = st.columns(3)
        provider = d.selectbox(state.t("filter_provider"), ["", *_provider_names()], key="audit_provider",
                               format_func=lambda v: v or state.t("any"))
        feedback_labels = {"": state.t("any"), "up": state.t("feedback_up"), "down": state.t("feedback_down"),
                           "none": state.t("feedback_none")}
        feedback = e.selectbox(state.t("filter_feedback"), FEEDBACK_FILTERS, key="audit_feedback",
                               format_func=lambda v: feedback_labels[v])
        status = f.selectbox(state.t("filter_status"), STATUS_FILTERS, key="audit_status",
                             format_func=lambda v: v or state.t("any"))
        page = st.number_input(state.t("page"), min_value=1, value=1, step=1, key="audit_page")
    return {"user_id": user_id.strip() or None, "date_from": _date(date_from), "date_to": _date(date_to),
            "provider": provider or None, "status": status or None, "feedback": feedback or None, "page": int(page)}


def _table(rows: list[AuditRow]) -> None:
    st.dataframe([{
        state.t("col_created"): row.get("created_at"), state.t("col_user"): row.get("user_id"),
        state.t("col_question"): row.get("question"), state.t("col_status"): row.get("status"),
        state.t("col_provider"): f"{row.get('generation_provider') or '—'} / {row.get('generation_model') or '—'}",
        state.t("col_feedback"): _rating(row.get("feedback")),
        "chat_id": row.get("chat_id"),
    } for row in rows], hide_index=True, width="stretch")


def _who(use: Any) -> str:
    if not isinstance(use, dict) or not use.get("provider"):
        return "—"
    return f"{use['provider']} ({use.get('model') or '?'})"


def _trace_view(trace: dict[str, Any]) -> None:
    retrieval = trace.get("retrieval") or {}
    build = retrieval.get("index_build") or {}
    providers = trace.get("providers") or {}
    timings = trace.get("timings_ms") or {}
    usage = trace.get("usage") or {}
    st.markdown(f"**{state.t('col_question')}:** {trace.get('question', '')}")
    st.markdown(f"**{state.t('standalone_query')}:** {trace.get('standalone_query', '')}")
    st.caption(f"{state.t('route')}: {trace.get('route', '—')} · {state.t('col_status')}: {trace.get('status', '—')}"
               f" · {state.t('prompt_version')}: {trace.get('prompt_version', '—')}"
               f" · build #{build.get('id', '—') if isinstance(build, dict) else build}"
               f" · top_k {retrieval.get('top_k', '—')}")
    st.caption("🤖 " + state.t("answered_by", generation=_who(providers.get("generation")),
                               reasoning=_who(providers.get("reasoning")))
               + " · ⏱️ " + " · ".join(f"{k.removesuffix('_ms')} {v:.0f} ms" for k, v in timings.items()
                                      if isinstance(v, int | float))
               + (" · " + state.t("tokens", input=usage.get("input_tokens", "—"),
                                  output=usage.get("output_tokens", "—"),
                                  estimated=state.t("estimated") if usage.get("estimated") else "") if usage else ""))
    chunks = trace.get("chunks") or []
    st.markdown(f"**{state.t('retrieved_chunks')}** ({len(chunks)})")
    if chunks:
        st.dataframe([{"rank": c.get("rank"), "score": c.get("score"), "retriever": c.get("retriever"),
                       "dense": c.get("dense_score"), "bm25": c.get("bm25_score"), "cited": c.get("cited"),
                       "source": c.get("source"), "locator": c.get("locator"), "text": str(c.get("text", ""))[:200]}
                      for c in chunks], hide_index=True, width="stretch")
    st.markdown(f"**{state.t('answer')}**")
    st.markdown(str(trace.get("response", "")))
    for item in trace.get("feedback") or []:
        if isinstance(item, dict):
            st.caption(f"{_rating(item.get('rating')) or '?'} {item.get('comment') or ''}")


def _replay(op: OperatorClient, chat_id: str) -> None:
    st.subheader(state.t("replay"))
    names = _provider_names()
    a, b, c = st.columns(3)
    reasoning = a.selectbox(state.t("role_reasoning"), ["", *names], key="replay_reasoning",
                            format_func=lambda v: v or state.t("any"))
    generation = b.selectbox(state.t("role_generation"), ["", *names], key="replay_generation",
                             format_func=lambda v: v or state.t("any"))
    original_index = c.checkbox(state.t("use_original_index"), key="replay_original_index")
    if not st.button(state.t("replay_button"), key="replay_go", icon="🔁"):
        return
    try:
        result = op.audit_replay(chat_id, reasoning=reasoning or None, generation=generation or None,
                                 use_original_index=original_index)
    except ApiError as exc:
        show_error(exc, what="POST audit/<chat_id>/replay/")
        return
    left, right = st.columns(2)
    with left:
        st.markdown(f"### {state.t('original')}")
        _trace_view(result.get("original") or {})
    with right:
        st.markdown(f"### {state.t('replayed')}")
        _trace_view(result.get("replay") or {})
    diff = result.get("diff") or {}
    st.markdown(f"**{state.t('sources_added')}:** {', '.join(map(str, diff.get('sources_added') or [])) or '—'}")
    st.markdown(f"**{state.t('sources_removed')}:** {', '.join(map(str, diff.get('sources_removed') or [])) or '—'}")
    if diff.get("answer_diff"):
        st.markdown(f"**{state.t('answer_diff')}**")
        st.code(str(diff["answer_diff"]), language="diff")


def _export(op: OperatorClient) -> None:
    st.subheader(state.t("export"))
    columns = st.columns(2)
    formats: tuple[Literal["jsonl", "csv"], ...] = ("jsonl", "csv")
    for column, fmt in zip(columns, formats, strict=True):
        with column:
            if st.button(state.t("export_prepare", fmt=fmt.upper()), key=f"export_{fmt}"):
                try:
                    st.session_state[f"export_data_{fmt}"] = op.audit_export(fmt)
                except ApiError as exc:
                    show_error(exc, what="GET audit/export/")
            data = st.session_state.get(f"export_data_{fmt}")
            if data is not None:
                st.download_button(state.t("export_download", fmt=fmt.upper()), data=data,
                                   file_name=f"triple-audit.{fmt}", key=f"download_{fmt}",
                                   mime="text/csv" if fmt == "csv" else "application/jsonl")


def render() -> None:
    st.title(state.t("audit_title"))
    op = require_operator()
    if op is None:
        return
    filters = _filters()
    try:
        page = op.audit_list(**filters)
    except ApiError as exc:
        show_error(exc, what="GET audit/")
        return
    rows = page.get("results") or []
    st.caption(state.t("audit_count", count=page.get("count", len(rows))))
    if not rows:
        st.info(state.t("no_questions"))
    else:
        _table(rows)
        labels = {str(r.get("chat_id")): f"{str(r.get('question', ''))[:70]} · {r.get('created_at', '')}" for r in rows}
        chat_id = st.selectbox(state.t("trace_pick"), list(labels), format_func=lambda c: labels[c], key="audit_pick")
        if chat_id:
            st.subheader(state.t("trace"))
            try:
                _trace_view(op.audit_trace(chat_id))
            except ApiError as exc:
                show_error(exc, what="GET audit/<chat_id>/")
            _replay(op, chat_id)
    _export(op)


render()
