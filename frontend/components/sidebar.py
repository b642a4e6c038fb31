"""The sidebar: language, backend health dot, session id, and the provider choice that really applies."""
from __future__ import annotations

import contextlib
from typing import cast

import streamlit as st

from frontend import state
from frontend.client import ApiError, Providers, ProviderStatus
from frontend.components.errors import error_message, show_error
from frontend.connection import client, health_snapshot
from frontend.i18n import LANGUAGE_LABELS, LANGUAGES, Language

CUSTOM = "__custom__"
_PRESET_KEY = "preset_choice"
_ERROR_KEY = "providers_error"
_ROLES = ("reasoning", "generation")


def render_language() -> None:
    if "lang_choice" not in st.session_state:
        st.session_state["lang_choice"] = state.language()
    st.radio(state.t("language"), LANGUAGES, key="lang_choice", horizontal=True,
             format_func=lambda code: LANGUAGE_LABELS[cast(Language, code)],
             on_change=lambda: state.remember_language(st.session_state["lang_choice"]))


def render_health_dot() -> None:
    health = health_snapshot()
    if health is None:
        dot, word = ":red[●]", state.t("health_down")
    elif health.get("status") == "ok":
        dot, word = ":green[●]", state.t("health_ok")
    else:
        dot, word = ":orange[●]", state.t("health_degraded")
    st.markdown(f"{dot} **{state.t('backend')}** {word}")


def render_session_id() -> None:
    if state.user_id():
        st.caption(state.t("session_id"))
        st.code(state.user_id(), language=None)


def _preset_of(info: Providers) -> str:
    chosen = {role: info.get("selection", {}).get(role) for role in _ROLES}
    for name, preset in (info.get("presets") or {}).items():
        if all(preset.get(role) == chosen[role] for role in _ROLES):
            return name
    return CUSTOM


def _apply(*, preset: str | None = None, reasoning: str | None = None, generation: str | None = None) -> None:
    """POST providers/; on refusal the sidebar shows why (and a refused preset box goes back to the truth)."""
    st.session_state.pop(_ERROR_KEY, None)
    try:
        info = client().providers_set(state.user_id(), preset=preset, reasoning=reasoning, generation=generation)
    except ApiError as exc:
        st.session_state[_ERROR_KEY] = error_message(exc)
        if preset:
            with contextlib.suppress(ApiError):
                st.session_state[_PRESET_KEY] = _preset_of(client().providers_get(state.user_id()))
        return
    selection = info.get("selection", {})
    st.toast(state.t("providers_applied", reasoning=selection.get("reasoning"),
                     generation=selection.get("generation")), icon="✅")


def _on_preset_change() -> None:
    chosen = st.session_state[_PRESET_KEY]
    if chosen != CUSTOM:
        _apply(preset=chosen)


def _on_apply_custom() -> None:
    _apply(reasoning=st.session_state.get("custom_reasoning"), generation=st.session_state.get("custom_generation"))


def _on_reset() -> None:
    st.session_state.pop(_ERROR_KEY, None)
    try:
        info = client().providers_reset(state.user_id())
        st.session_state[_PRESET_KEY] = _preset_of(info)
    except ApiError as exc:
        st.session_state[_ERROR_KEY] = error_message(exc)


def _status_label(status: ProviderStatus | None, name: str) -> str:
    if status is None:
        return name
    mark = "✅" if status.get("ready") else "⛔"
    return f"{mark} {status.get('label') or name}"


def render_providers() -> None:
    st.subheader(state.t("providers"))
    if not state.user_id() or state.session_expired():
        return
    try:
        info = client().providers_get(state.user_id())
    except ApiError as exc:
        show_error(exc, what="providers/")
        return
    statuses = {p["name"]: p for p in info.get("providers") or [] if "name" in p}
    presets = info.get("presets") or {}
    if _PRESET_KEY not in st.session_state:
        st.session_state[_PRESET_KEY] = _preset_of(info)

    def preset_label(name: str) -> str:
        if name == CUSTOM:
            return state.t("preset_custom")
        ready = all(statuses.get(p, {}).get("ready") for p in presets.get(name, {}).values())
        return name if ready else f"{name} — {state.t('not_ready')}"

    st.selectbox(state.t("preset"), [*presets, CUSTOM], key=_PRESET_KEY, format_func=preset_label,
                 on_change=_on_preset_change)
    if st.session_state[_PRESET_KEY] == CUSTOM:
        for role in _ROLES:
            names = [name for name, s in statuses.items() if role in (s.get("roles") or [])]
            current = info.get("selection", {}).get(role)
            st.selectbox(state.t(f"role_{role}"), names, key=f"custom_{role}",
                         index=names.index(current) if current in names else 0,
                         format_func=lambda n: _status_label(statuses.get(n), n))
        st.button(state.t("apply"), key="apply_custom", on_click=_on_apply_custom)
    selection = info.get("selection", {})
    st.caption(state.t("current_selection", reasoning=selection.get("reasoning"),
                       generation=selection.get("generation")))
    if st.session_state.get(_ERROR_KEY):
        st.error(st.session_state[_ERROR_KEY], icon="⚠️")
    with st.expander(state.t("provider_status")):
        for name, status in statuses.items():
            if status.get("ready"):
                st.markdown(f":green[●] **{status.get('label') or name}** — {state.t('ready')}")
            else:
                st.markdown(f":red[●] **{status.get('label') or name}** — {state.t('not_ready')}")
                st.caption(str(status.get("reason") or ""))
    st.button(state.t("reset_providers"), key="reset_providers", on_click=_on_reset)


def render_sidebar() -> None:
    with st.sidebar:
        render_language()
        render_health_dot()
        render_session_id()
        st.divider()
        render_providers()
