"""Health: database, Redis, Chroma, worker, providers and the active index."""
from __future__ import annotations

import streamlit as st

from frontend import state
from frontend.client import ApiError
from frontend.components.errors import show_error
from frontend.connection import client, health_snapshot

CHECKS = ("database", "redis", "chroma", "worker", "index")


def _detail(check: dict[str, object]) -> str:
    if not check.get("ok"):
        return str(check.get("message") or check.get("error") or "")
    shown = {k: v for k, v in check.items() if k not in ("ok", "error", "message")}
    return " · ".join(f"{k}: {v}" for k, v in shown.items())


def render() -> None:
    st.title(state.t("health_title"))
    if st.button(state.t("refresh"), key="health_refresh", icon="🔄"):
        health_snapshot.clear()
    try:
        health = client().health()
    except ApiError as exc:
        show_error(exc, what="GET health/")
        return
    overall = health.get("status", "degraded")
    word = state.t("ok") if overall == "ok" else state.t("health_degraded")
    (st.success if overall == "ok" else st.warning)(state.t("overall", status=word))
    checks = health.get("checks") or {}
    for name in CHECKS:
        check = checks.get(name)
        if check is None:
            continue
        dot = ":green[●]" if check.get("ok") else ":red[●]"
        status = state.t("ok") if check.get("ok") else state.t("failing")
        st.markdown(f"{dot} **{state.t('check_' + name)}** — {status}")
        detail = _detail(check)
        if detail:
            st.caption(detail)
    st.subheader(state.t("provider_status"))
    for provider in health.get("providers") or []:
        dot = ":green[●]" if provider.get("ready") else ":red[●]"
        roles = ", ".join(provider.get("roles") or [])
        st.markdown(f"{dot} **{provider.get('label') or provider.get('name')}** ({roles}) — "
                    f"{state.t('ready') if provider.get('ready') else state.t('not_ready')}")
        if not provider.get("ready") and provider.get("reason"):
            st.caption(str(provider.get("reason")))
    st.subheader(state.t("active_index"))
    index = checks.get("index") or {}
    if index.get("ok"):
        st.markdown(state.t("index_line", id=index.get("build_id"), model=index.get("embedding_model"),
                            chunks=index.get("chunks", "?")))
    else:
        st.warning(state.t("no_active_index"))

render()
