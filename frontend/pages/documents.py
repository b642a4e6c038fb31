"""Documents (operator): upload, see each document's status, delete, rebuild the index with a live progress bar."""
from __future__ import annotations

from typing import Any

import streamlit as st

from frontend import state
from frontend.client import ApiError, Document, OperatorClient
from frontend.components.errors import show_error
from frontend.components.operator import require_operator
from frontend.components.tasks import watch_task

UPLOAD_TYPES = ["csv", "xlsx", "md", "txt", "pdf", "json"]


def _size(size: Any) -> str:
    if not isinstance(size, int):
        return "—"
    return f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} B"


def _start_watch(task_id: str | None, label: str) -> None:
    if task_id:
        state.set_running_task(state.RunningTask(task_id=task_id, label=label))


def _upload(op: OperatorClient) -> None:
    st.subheader(state.t("upload"))
    with st.form("upload_form", clear_on_submit=True):
        files = st.file_uploader(state.t("upload_help"), type=UPLOAD_TYPES, accept_multiple_files=True,
                                 key="upload_files")
        submitted = st.form_submit_button(state.t("upload_button"), type="primary")
    if not submitted or not files:
        return
    for file in files:
        try:
            answer = op.document_upload(file.name, file.getvalue(), file.type or "application/octet-stream")
        except ApiError as exc:
            show_error(exc, what="POST documents/")
            return
        st.success(state.t("uploaded", name=file.name), icon="📄")
        _start_watch(answer.get("task_id"), state.t("uploaded", name=file.name))


def _rebuild(op: OperatorClient) -> None:
    if st.button(state.t("rebuild"), key="rebuild", icon="🔄", disabled=state.running_task() is not None):
        try:
            answer = op.index_rebuild()
        except ApiError as exc:
            show_error(exc, what="POST index/rebuild/")
            return
        _start_watch(answer.get("task_id"), state.t("rebuild_started"))


def _documents(op: OperatorClient) -> None:
    st.subheader(state.t("documents"))
    try:
        documents = op.documents_list()
    except ApiError as exc:
        show_error(exc, what="GET documents/")
        return
    if not documents:
        st.caption(state.t("no_documents"))
        return
    st.dataframe([_row(doc) for doc in documents], hide_index=True, width="stretch")
    names = {str(doc.get("id")): str(doc.get("source", doc.get("id"))) for doc in documents}
    pick, go = st.columns([4, 1], vertical_alignment="bottom")
    chosen = pick.selectbox(state.t("delete"), list(names), format_func=lambda i: names[i], key="delete_pick")
    if go.button(state.t("delete"), key="delete_go", icon="🗑️") and chosen:
        try:
            answer = op.document_delete(chosen)
        except ApiError as exc:
            show_error(exc, what="DELETE documents/")
            return
        state.set_notice(state.t("deleted", name=names[chosen]))
        _start_watch((answer or {}).get("task_id"), state.t("deleted", name=names[chosen]))
        st.rerun()


def _row(doc: Document) -> dict[str, Any]:
    return {
        state.t("col_source"): doc.get("source"), state.t("col_kind"): doc.get("kind"),
        state.t("col_status"): doc.get("status"), state.t("col_rows"): doc.get("rows"),
        state.t("col_size"): _size(doc.get("size_bytes")), state.t("col_indexed"): doc.get("indexed_at") or "—",
        state.t("col_error"): doc.get("error") or "",
    }


def _index(op: OperatorClient) -> None:
    st.subheader(state.t("active_index"))
    try:
        status = op.index_status()
    except ApiError as exc:
        show_error(exc, what="GET index/")
        return
    active = status.get("active")
    if active:
        st.markdown(state.t("index_line", id=active.get("id"), model=active.get("embedding_model"),
                            chunks=(active.get("counts") or {}).get("chunks", "?")))
    else:
        st.warning(state.t("no_active_index"))
    builds = status.get("builds") or []
    if builds:
        with st.expander(state.t("recent_builds")):
            st.dataframe([{"id": b.get("id"), "status": b.get("status"), "stage": b.get("stage"),
                           "active": b.get("active"), "chunks": (b.get("counts") or {}).get("chunks"),
                           "error": b.get("error") or ""} for b in builds], hide_index=True, width="stretch")


def render() -> None:
    st.title(state.t("documents_title"))
    notice = state.pop_notice()
    if notice:
        st.success(notice)
    op = require_operator()
    if op is None:
        return
    _upload(op)
    _rebuild(op)
    watch_task(op)
    _documents(op)
    _index(op)


render()
