"""API errors in plain words (never a traceback)."""
from __future__ import annotations

import streamlit as st

from frontend import state
from frontend.client import ApiError
from frontend.i18n import error_text


def error_message(exc: ApiError) -> str:
    return error_text(state.language(), exc.code, exc.message)


def show_error(exc: ApiError, *, what: str = "") -> None:
    """One API failure, in the current language; a missing endpoint is an info box, not an error."""
    if exc.code == "endpoint_unavailable":
        st.info(state.t("endpoint_pending", what=what or exc.message), icon="🚧")
    else:
        st.error(error_message(exc), icon="⚠️")
